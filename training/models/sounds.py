"""The sounds model: a frozen speech embedding and log-mel band statistics under small heads.

``SoundsModel``: audio ``[B, 16000]`` -> (``logits`` ``[B, n_labels]``, ``features``
``[B, 64, 97]``), the model contract's two outputs.

- ``frontend`` (kept FP32 by the INT8 quantizer, which quantizes only ``/net/`` nodes):
  openWakeWord's log-mel (:class:`~listener.training.speech_embedding.OwwFrontend`, 3
  embedding windows of 76 x 32 in one second) and the project's sounds log-mel
  (``SOUNDS_FRONTEND``: 64 bands, 50-8000 Hz), which is also the ``features`` output the
  GUI draws; its band means and standard deviations over the window are what the speech
  embedding (60-3800 Hz) cannot hear (rain, fire, ticks).
- ``net`` (quantized): Google's speech_embedding (frozen, 3 x 96 per window) and the heads.
  A head reads ``speech`` (the 3 embeddings) or ``hybrid`` (the embeddings + the 128 band
  statistics); several heads are averaged in probability and the graph returns the log of
  that mean, so the runtime's softmax gives the mean back.

Heads are trained on precomputed inputs (:meth:`SoundsModel.head_inputs`), the backbone
never changes: ``listener.training.heads`` trains them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from listener.training.frontend import SOUNDS_FRONTEND, LogMelFrontend
from listener.training.speech_embedding import EMB_DIM, OwwFrontend, SpeechEmbedding, n_embeddings

HEAD_KINDS = ("speech", "hybrid")
STATS_DIM = 2 * SOUNDS_FRONTEND.n_mels  # mean and std of each log-mel band over the window
PROB_FLOOR = 1e-9  # log(mean probability + this): finite logits for a class no head believes in


@dataclass
class HeadShape:
    """One head's layers: an MLP over the flattened input."""

    kind: str = "speech"  # what it reads: HEAD_KINDS
    hidden: int = 256
    dropout: float = 0.3


class Head(nn.Module):
    """Input ``[B, ...]`` -> logits ``[B, n_out]``; the input standardisation is part of the module."""

    def __init__(self, n_out: int, n_in: int, shape: HeadShape) -> None:
        super().__init__()
        self.kind = shape.kind
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        self.body = nn.Sequential(
            nn.Linear(n_in, shape.hidden),
            nn.ReLU(),
            nn.Dropout(shape.dropout),
            nn.Linear(shape.hidden, shape.hidden // 2),
            nn.ReLU(),
            nn.Dropout(shape.dropout),
            nn.Linear(shape.hidden // 2, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x.flatten(1) - self.mean) / self.std)


def head_input_size(kind: str, n_embeddings_per_window: int) -> int:
    if kind not in HEAD_KINDS:
        raise ValueError(f"unknown head kind {kind!r} ({' or '.join(HEAD_KINDS)})")
    speech = n_embeddings_per_window * EMB_DIM
    return speech if kind == "speech" else speech + STATS_DIM


class _Net(nn.Module):
    """The quantized part: the backbone and the heads (their inputs come from the front end)."""

    def __init__(self, heads: list[Head]) -> None:
        super().__init__()
        self.backbone = SpeechEmbedding.from_onnx()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.heads = nn.ModuleList(heads)

    def embed(self, windows: torch.Tensor) -> torch.Tensor:
        """``[B, E, 76, 32]`` embedding windows -> ``[B, E, 96]``."""
        b, e = windows.shape[:2]
        return self.backbone(windows.reshape(b * e, *windows.shape[2:])).reshape(b, e, -1)

    def forward(self, windows: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        emb = self.embed(windows)
        inputs = {"speech": emb.flatten(1), "hybrid": torch.cat([emb.flatten(1), stats], 1)}
        probs = torch.stack([torch.softmax(h(inputs[h.kind]), 1) for h in self.heads]).mean(0)
        return torch.log(probs + PROB_FLOOR)


class SoundsModel(nn.Module):
    """audio ``[B, samples]`` -> (logits ``[B, n_labels]``, features ``[B, 64, frames]``)."""

    def __init__(self, labels: list[str], heads: list[HeadShape], window_samples: int = 16000) -> None:
        super().__init__()
        self.labels = list(labels)
        self.per_window = n_embeddings(window_samples)
        self.frontend = nn.Module()
        self.frontend.speech = OwwFrontend("window")
        self.frontend.logmel = LogMelFrontend(SOUNDS_FRONTEND)
        self.net = _Net([Head(len(labels), head_input_size(h.kind, self.per_window), h) for h in heads])

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        return self.frontend.logmel(audio)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(audio)
        stats = torch.cat([feats.mean(2), feats.std(2, unbiased=False)], 1)
        return self.net(self.frontend.speech(audio), stats), feats

    @torch.no_grad()
    def head_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """What each kind of head reads for these windows (frozen: computed once, then cached by training)."""
        feats = self.features(audio)
        stats = torch.cat([feats.mean(2), feats.std(2, unbiased=False)], 1)
        emb = self.net.embed(self.frontend.speech(audio)).flatten(1)
        return {"speech": emb, "hybrid": torch.cat([emb, stats], 1)}
