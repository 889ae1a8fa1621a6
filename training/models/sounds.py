"""The sounds model: a frozen speech embedding and log-mel band statistics under small heads.

``SoundsModel``: audio ``[B, 16000]`` -> (``logits`` ``[B, n_labels]``, ``features``
``[B, 64, 97]``), the model contract's two outputs.

- ``frontend`` (kept FP32 by the INT8 quantizer, which quantizes only ``/net/`` nodes):
  openWakeWord's log-mel (:class:`~listener.training.speech_embedding.OwwFrontend`, 3
  embedding windows of 76 x 32 in one second) and the project's sounds log-mel
  (``SOUNDS_FRONTEND``: 64 bands, 50-8000 Hz), which is also the ``features`` output the
  GUI draws; its band means and standard deviations over the window are what the speech
  embedding (60-3800 Hz) cannot hear (rain, fire, ticks).
- ``net`` (quantized): Google's speech_embedding (frozen, 3 x 96 per window) and the heads. It
  runs window by window; ``SoundsModel.one_pass = True`` runs its convolutions once over the window's
  92 frames instead (``speech_embedding.embed_call``: the same numbers, 1.3x faster per INT8 window, not
  shipped: docs/models/sounds/rules/one_pass.md).
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
from listener.training.speech_embedding import (
    EMB_DIM,
    OwwFrontend,
    SpeechEmbedding,
    call_inputs,
    embed_inputs,
    n_embeddings,
)

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


class _Embedding(nn.Module):
    """:func:`~listener.training.speech_embedding.call_inputs` -> ``[B, E, 96]`` through `backbone` (held,
    not owned: its weights stay ``net.backbone.*``). A scope of its own in the exported graph, so the
    heads' node names are the same whether the backbone runs once over the frames or window by window,
    which is how INT8 ranges pass from one graph to the other (``export.quantize.ranges_for``)."""

    def __init__(self, backbone: SpeechEmbedding) -> None:
        super().__init__()
        self._backbone = (backbone,)

    def forward(
        self, frames: torch.Tensor | None, rows: torch.Tensor | None, windows: torch.Tensor | None
    ) -> torch.Tensor:
        return embed_inputs(self._backbone[0], frames, rows, windows)


class _Net(nn.Module):
    """The quantized part: the backbone and the heads (their inputs come from the front end)."""

    def __init__(self, heads: list[Head]) -> None:
        super().__init__()
        self.backbone = SpeechEmbedding.from_onnx()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.heads = nn.ModuleList(heads)
        self.embed = _Embedding(self.backbone)

    def forward(
        self, stats: torch.Tensor, frames: torch.Tensor | None, rows: torch.Tensor | None, windows: torch.Tensor | None
    ) -> torch.Tensor:
        emb = self.embed(frames, rows, windows)
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
        self.frontend.speech = OwwFrontend()
        self.frontend.logmel = LogMelFrontend(SOUNDS_FRONTEND)
        self.net = _Net([Head(len(labels), head_input_size(h.kind, self.per_window), h) for h in heads])
        self.one_pass = False  # True: the embedding once over the window's frames (an option: see the module docstring)

    def _stats(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.cat([feats.mean(2), feats.std(2, unbiased=False)], 1)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        return self.frontend.logmel(audio)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(audio)
        stats = self._stats(feats)  # before the speech front end: its node names then do not move with one_pass
        return self.net(stats, *call_inputs(self.frontend.speech, audio, self.one_pass)), feats

    @torch.no_grad()
    def head_inputs(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """What each kind of head reads for these windows (frozen: computed once, then cached by training)."""
        stats = self._stats(self.features(audio))
        emb = self.net.embed(*call_inputs(self.frontend.speech, audio, self.one_pass)).flatten(1)
        return {"speech": emb, "hybrid": torch.cat([emb, stats], 1)}
