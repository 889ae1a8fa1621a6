"""The CTC head over the speech embedding and its training loop.

``WindowHead``: output frame f sees embeddings f..f+K-1 only (a valid Conv1d of kernel K,
then 1x1 convolutions), so it depends on audio samples ``[f*1280, f*1280 + receptive_field(K))``
and a streaming runtime computes each frame once. ``StackedModel`` puts the fine-tuned last
convolutions of the backbone (``UpperBackbone``) under it, fed from the embedding cache;
``AudioToLogits`` is the same network from audio, for export. Several trained members (the
same recipe, other seeds) become one network from audio with ``MembersEmbedder`` (the front
end and the frozen convolutions once, each member's fine-tuned ones) and ``MembersHead``
(the members' mean token probabilities): a recipe option (``DigitsRecipe.members``), tried
with two members and not adopted for the shipped model (docs/training.md).

Alignment windows (``alignment_mask``): when an item's word ends are known, each of its
tokens may only be emitted within a few frames of the first frame that has heard the word
end; that is what makes a digit fire right after it is said instead of wherever CTC likes.

Decoding is the runtime's (``listener.decider.CtcDecoder``): the build validates the exported
files through ``listener analyze``'s pipeline (``training.evaluate_strings``).
"""

from __future__ import annotations

import math
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from listener.training import interrupt
from listener.training.embedding_cache import CachedItem
from listener.training.speech_embedding import (
    EMB_DIM,
    EMB_HOP,
    EMB_SPAN,
    OWW_FRONTEND,
    LowerBackbone,
    OwwEmbedder,
    OwwFrontend,
    OwwFrontendConfig,
    SpeechEmbedding,
    UpperBackbone,
    embed_call,
)
from listener.training.tokens import BLANK, N_TOKENS


def receptive_field(k: int) -> int:
    """Audio samples one output frame of a K-window head depends on."""
    return EMB_SPAN + (k - 1) * EMB_HOP


class WindowHead(nn.Module):
    """Embeddings [B, E, 96] -> logits [B, E-K+1, n_tokens]; input normalised with the training statistics."""

    def __init__(
        self,
        k: int = 5,
        hidden: int = 256,
        depth: int = 2,
        dropout: float = 0.15,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        n_tokens: int = N_TOKENS,
    ) -> None:
        super().__init__()
        self.k = k
        self.register_buffer("mean", torch.as_tensor(np.zeros(EMB_DIM) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(EMB_DIM) if std is None else std, dtype=torch.float32))
        layers: list[nn.Module] = [nn.Conv1d(EMB_DIM, hidden, k)]
        for _ in range(depth - 1):
            layers += [nn.GELU(), nn.Dropout(dropout), nn.Conv1d(hidden, hidden, 1)]
        layers += [nn.GELU(), nn.Dropout(dropout), nn.Conv1d(hidden, n_tokens, 1)]
        self.net = nn.Sequential(*layers)
        self.in_drop = nn.Dropout(dropout)

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames for `lengths` input embeddings."""
        return torch.clamp(lengths - self.k + 1, min=0)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        """[B, E, 96] -> [B, E-K+1, n_tokens] logits."""
        x = self.in_drop((emb - self.mean) / self.std).transpose(1, 2)
        return self.net(x).transpose(1, 2)


class StackedModel(nn.Module):
    """Cached lower-backbone features [B, E, D] -> upper backbone (last convs, some trainable) -> head."""

    def __init__(self, upper: UpperBackbone, head: WindowHead, n_lower: int) -> None:
        super().__init__()
        self.upper, self.head, self.n_lower = upper, head, n_lower
        self.k = head.k

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.head.out_lengths(lengths)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """[B, E, D] -> [B, E-K+1, n_tokens]."""
        return self.head(self.upper(feats))


class AudioToLogits(nn.Module):
    """Audio [B, N] in [-1, 1] at 16 kHz -> logits [B, frames, n_tokens]: front end, backbone, head.

    ``embedder`` (audio -> embeddings) defaults to the pretrained front end (under ``frontend``, an
    ``OwwFrontendConfig``) and backbone; the export and the frame-context surgery find the two parts
    by these attribute names."""

    def __init__(
        self,
        head: nn.Module,
        backbone: SpeechEmbedding | None = None,
        embedder: nn.Module | None = None,
        frontend: OwwFrontendConfig = OWW_FRONTEND,
    ) -> None:
        super().__init__()
        self.embedder = embedder if embedder is not None else OwwEmbedder(frontend, backbone)
        self.head = head
        self.k = head.k

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedder(audio))


class MembersEmbedder(nn.Module):
    """Audio [B, N] -> every member's embeddings side by side [B, E, 96 * members]: the front end and
    the frozen first ``n_lower`` convolutions once, each member's fine-tuned upper convolutions on them."""

    def __init__(
        self,
        uppers: Sequence[UpperBackbone],
        n_lower: int,
        frontend: OwwFrontendConfig = OWW_FRONTEND,
    ) -> None:
        super().__init__()
        self.frontend = OwwFrontend(frontend)
        self.lower = LowerBackbone(SpeechEmbedding.from_onnx(), n_lower)
        self.uppers = nn.ModuleList(uppers)
        self.one_pass = True  # embed_call's; False: window by window

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, E, 96 * members]."""
        feats = embed_call(self.frontend, self.lower, audio, self.one_pass)  # [B, E, lower_dim]
        return torch.cat([upper(feats) for upper in self.uppers], dim=-1)


class MembersHead(nn.Module):
    """[B, E, 96 * members] -> the log of the members' mean token probabilities [B, E-K+1, n_tokens]
    (the runtime's softmax of it is that mean), each member's head on its own 96 numbers."""

    def __init__(self, heads: Sequence[WindowHead]) -> None:
        super().__init__()
        if len({h.k for h in heads}) != 1:
            raise ValueError("the members' heads must see the same number of embeddings (k)")
        self.heads = nn.ModuleList(heads)
        self.k = heads[0].k

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        parts = emb.split(EMB_DIM, dim=-1)
        logp = torch.stack([torch.log_softmax(head(x), dim=-1) for head, x in zip(self.heads, parts)])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.heads))


def stacked_model(
    n_lower: int,
    finetune: int,
    sample: Sequence[CachedItem],
    k: int = 5,
    hidden: int = 256,
    depth: int = 2,
    dropout: float = 0.15,
) -> StackedModel:
    """The pretrained upper backbone (its last `finetune` convolutions trainable) and a new head
    whose input statistics are measured on `sample`'s embeddings."""
    upper = UpperBackbone(SpeechEmbedding.from_onnx(), n_lower)
    for p in upper.parameters():
        p.requires_grad = False
    convs = [m for m in upper.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs[len(convs) - finetune :] if finetune else []:
        for p in conv.parameters():
            p.requires_grad = True
    with torch.no_grad():
        upper.eval()
        step = max(1, len(sample) // 2000)
        emb = torch.cat([upper(torch.from_numpy(s.features.astype(np.float32))) for s in sample[::step]])
    mean, std = emb.mean(0).numpy(), emb.std(0).numpy() + 1e-3
    return StackedModel(upper, WindowHead(k, hidden, depth, dropout, mean, std), n_lower)


def audio_model(
    model: StackedModel | Sequence[StackedModel], frontend: OwwFrontendConfig = OWW_FRONTEND
) -> AudioToLogits:
    """The trained network from audio: the front end (``OwwFrontend`` under `frontend`), the pretrained
    backbone with the tuned upper convolutions copied in; several members share its frozen part and
    average their token probabilities."""
    members = [model] if isinstance(model, StackedModel) else list(model)
    if not members:
        raise ValueError("no trained model")
    if len(members) > 1:
        if len({m.n_lower for m in members}) != 1:
            raise ValueError("the members must freeze the same backbone convolutions (n_lower)")
        embedder = MembersEmbedder([m.upper for m in members], members[0].n_lower, frontend)
        return AudioToLogits(MembersHead([m.head for m in members]), embedder=embedder).eval()
    model = members[0]
    backbone = SpeechEmbedding.from_onnx()
    tuned = [m for m in model.upper.modules() if isinstance(m, nn.Conv2d)]
    for dst, src in zip(backbone.convs()[model.n_lower :], tuned):
        dst.load_state_dict(src.state_dict())
    return AudioToLogits(model.head, backbone, frontend=frontend).eval()


# ----------------------------------------------------------------------------- alignment, loss


def first_frame_after(end_sample: float, k: int) -> int:
    """First output frame whose receptive field ends at or after `end_sample` (< 0: before frame 0)."""
    return math.ceil((end_sample - receptive_field(k)) / EMB_HOP)


def alignment_mask(items: Sequence[CachedItem], k: int, n_frames: int, window: tuple[int, int]) -> torch.Tensor:
    """Additive [B, T, n_tokens] mask: in items with known word ends, each token may only be emitted in
    frames ``first_frame_after(end) + window[0] .. + window[1]`` (the union over its occurrences).

    Free: the blank, items without word ends, and a token one of whose words ends before frame 0's
    field or after the last frame (no frame hears it end "just now")."""
    mask = torch.zeros(len(items), n_frames, N_TOKENS)
    for b, it in enumerate(items):
        if it.ends is None or len(it.ends) != len(it.tokens):
            continue
        last = len(it.features) - k
        allowed: dict[int, list[int]] = {}
        free: set[int] = set()
        for tok, end in zip(it.tokens.tolist(), it.ends):
            f = first_frame_after(float(end), k)
            if f < 0 or f > last:
                free.add(tok)
                continue
            allowed.setdefault(tok, []).extend(range(max(0, f + window[0]), min(last, f + window[1]) + 1))
        for tok, frames in allowed.items():
            if tok not in free:
                mask[b, :, tok] = -1e4
                mask[b, frames, tok] = 0.0
    return mask


def collate(items: Sequence[CachedItem]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded features [B, E, D], their lengths, the flat targets and the target lengths."""
    lens = torch.tensor([len(it.features) for it in items])
    feats = torch.zeros(len(items), int(lens.max()), items[0].features.shape[1])
    for i, it in enumerate(items):
        feats[i, : len(it.features)] = torch.from_numpy(it.features.astype(np.float32))
    targets = torch.from_numpy(np.concatenate([it.tokens for it in items]).astype(np.int64))
    return feats, lens, targets, torch.tensor([len(it.tokens) for it in items])


def ctc_loss(model: StackedModel, items: Sequence[CachedItem], window: tuple[int, int] | None) -> torch.Tensor:
    """Mean CTC loss (per target token) of a batch, with alignment windows when `window` is given."""
    feats, lens, targets, tlens = collate(items)
    logp = model(feats).log_softmax(-1)
    olens = model.out_lengths(lens)
    if window is not None:
        logp = logp + alignment_mask(items, model.k, logp.shape[1], window)
    return nn.functional.ctc_loss(
        logp.transpose(0, 1), targets, olens, tlens, blank=BLANK, reduction="mean", zero_infinity=True
    )


# ----------------------------------------------------------------------------- training


@dataclass
class CtcTrainConfig:
    """Optimisation of the head and the fine-tuned convolutions."""

    epochs: int = 10
    batch: int = 64
    lr: float = 2e-3  # head; AdamW with a one-cycle schedule
    weight_decay: float = 1e-2
    backbone_lr_scale: float = 0.3  # fine-tuned backbone convolutions: lr x this, no weight decay
    align_window: tuple[int, int] | None = (-3, 2)  # frames around a timed word's end frame its token may fire in
    seed: int = 0
    progress: bool = True


@dataclass
class CtcTrainResult:
    """What a training run did."""

    losses: list[float] = field(default_factory=list)  # mean loss per finished epoch
    seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C: the weights are those of the last finished step


def save_checkpoint(model: StackedModel, path: Path, cfg: CtcTrainConfig, result: CtcTrainResult) -> None:
    """Weights, the head's shape and the run so far, written atomically (a Ctrl-C never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = model.head
    shape = {"k": head.k, "n_lower": model.n_lower}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"state": model.state_dict(), "shape": shape, "config": asdict(cfg), "result": asdict(result)}, tmp)
    tmp.replace(path)


def train_ctc(
    model: StackedModel,
    items: Sequence[CachedItem],
    cfg: CtcTrainConfig,
    checkpoint: Path | None = None,
    log: Callable[[str], None] = print,
) -> CtcTrainResult:
    """Train on cached items, batches of similar lengths in random order; the checkpoint is written after
    every epoch and on Ctrl-C (which ends training with the weights it has, ``interrupted`` set)."""
    if not items:
        raise ValueError("no training items")
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    upper = [p for n, p in model.named_parameters() if n.startswith("upper.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("upper.") and p.requires_grad]
    groups = [{"params": rest, "lr": cfg.lr, "weight_decay": cfg.weight_decay}]
    if upper:
        groups.append({"params": upper, "lr": cfg.lr * cfg.backbone_lr_scale, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups)
    order = sorted(range(len(items)), key=lambda i: len(items[i].features))
    chunks = [order[i : i + cfg.batch] for i in range(0, len(order), cfg.batch)]
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, [g["lr"] for g in groups], total_steps=cfg.epochs * len(chunks), pct_start=0.15
    )
    result = CtcTrainResult()
    t0 = time.time()
    try:
        for epoch in range(cfg.epochs):
            rng.shuffle(chunks)
            model.train()
            batches = chunks
            if cfg.progress:
                from tqdm import tqdm

                batches = tqdm(chunks, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr)
            total, n = 0.0, 0
            for chunk in batches:
                interrupt.check()
                loss = ctc_loss(model, [items[i] for i in chunk], cfg.align_window)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                sched.step()
                total, n = total + loss.item() * len(chunk), n + len(chunk)
            result.losses.append(total / n)
            result.seconds = time.time() - t0
            log(f"epoch {epoch + 1}/{cfg.epochs}: loss {result.losses[-1]:.4f} ({result.seconds:.0f} s)")
            if checkpoint is not None:
                save_checkpoint(model, checkpoint, cfg, result)
    except KeyboardInterrupt:
        result.interrupted = True
        result.seconds = time.time() - t0
        log(f"interrupted after {len(result.losses)} epochs; keeping the weights trained so far")
        if checkpoint is not None:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the file
            try:
                save_checkpoint(model, checkpoint, cfg, result)
            finally:
                signal.signal(signal.SIGINT, previous)
    model.eval()
    return result
