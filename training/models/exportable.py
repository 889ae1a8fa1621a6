"""The exported unit: front end + fixed normalisation + network, audio in, logits out.

Keeping the front end inside the module means the ONNX graph computes its own
features, so the runtime has no feature code that could drift from listener.training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from listener.training.frontend import FrontendConfig, LogMelFrontend


class ExportableModel(nn.Module):
    """audio ``[B, samples]`` -> ``(logits [B, n_labels], features [B, F, frames])``.

    ``features`` is the raw log-mel (what the GUI draws); the network sees it
    after a normalisation that is part of the exported graph: "global" subtracts
    a fixed mean, "cmn" subtracts each mel band's mean over the window (cepstral
    mean normalisation: cancels the microphone's frequency response and the
    level); both divide by a fixed std measured on the training set
    (``set_normalisation``, stored as buffers).
    """

    def __init__(
        self, frontend_cfg: FrontendConfig, net: nn.Module, labels: list[str], normalisation: str = "global"
    ) -> None:
        super().__init__()
        if normalisation not in ("global", "cmn"):
            raise ValueError(f"unknown normalisation {normalisation!r} (global or cmn)")
        self.normalisation = normalisation
        self.frontend_cfg = frontend_cfg
        self.frontend = LogMelFrontend(frontend_cfg)
        self.net = net
        self.labels = list(labels)
        self.register_buffer("norm_mean", torch.zeros(()))
        self.register_buffer("norm_std", torch.ones(()))

    def set_normalisation(self, mean: float, std: float) -> None:
        self.norm_mean.fill_(float(mean))
        self.norm_std.fill_(max(float(std), 1e-3))

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        return self.frontend(audio)

    def classify(
        self,
        feats: torch.Tensor,
        feature_hook: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Normalise and run the network; ``feature_hook`` (e.g. SpecAugment) is training-only."""
        if self.normalisation == "cmn":
            # per-window mean of each mel band removed: cancels microphone response and level
            x = (feats - feats.mean(dim=2, keepdim=True)) / self.norm_std
        else:
            x = (feats - self.norm_mean) / self.norm_std
        if feature_hook is not None:
            x = feature_hook(x)
        return self.net(x)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(audio)
        return self.classify(feats), feats
