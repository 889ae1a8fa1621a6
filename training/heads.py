"""Training the sounds model's heads on a frozen backbone (``models/sounds.py``).

The backbone never changes, so each training window's head inputs are computed once
(:func:`window_inputs`) and the heads train on those arrays in seconds per epoch:

- class windows: every 1 s window (every ``step`` samples) of every ESC clip and of its
  augmented copies (:func:`augmented_copies`: negatives mixed under at 0-25 dB SNR,
  band-limiting, level -20..+6 dB) whose energy is within 20 dB of the clip's loudest
  second (what the runtime's energy gate lets through);
- ``other`` windows: the same from the training negatives and their mixtures
  (``datasets/negatives.py``), clips shorter than a window centred in faint noise.

Several heads (one reading the embeddings, one the embeddings + band statistics) are
averaged by the model; each trains alone with label smoothing, input noise and a
one-cycle schedule (:func:`fit_head`).

A model of your own words or sounds trains the same way (:func:`fit_on_windows`, behind
``python -m listener.training.train --arch embedding``): its clips' windows and augmented
copies of them through the frozen backbone once, then the heads.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from listener.training.augment import AugmentConfig, Augmenter
from listener.training.calibrate import at_loudness
from listener.training.corpus import SAMPLE_RATE, WINDOW
from listener.training.models.sounds import Head, SoundsModel

# ESC copies: negatives mixed under, band-limiting and level changes (no speed change, no shift)
SOUNDS_AUGMENT = AugmentConfig(
    speed_p=0.0,
    shift_p=0.0,
    noise_p=0.7,
    snr_db=(0.0, 25.0),
    band_p=0.3,
    gain_p=0.8,
    gain_db=(-20.0, 6.0),
    spec_p=0.0,
)
GATE_DB = 20.0  # a training window counts when within this many dB of its clip's loudest second
AUG_SEED = 1234
LEVEL_SEED_OFFSET = 777  # the absolute levels' draw (augmented_copies' level_db)


@dataclass
class HeadTraining:
    """How each head trains (the research recipe's settings)."""

    epochs: int = 30
    batch: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-3
    label_smoothing: float = 0.1
    input_noise: float = 0.1  # gaussian noise on standardised inputs
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def augmented_copies(
    audio: np.ndarray,
    noise: np.ndarray,
    copies: int,
    seed: int = AUG_SEED,
    level_db: tuple[float, float] | None = None,
    config: AugmentConfig = SOUNDS_AUGMENT,
) -> list[np.ndarray]:
    """``audio`` ``[N, S]`` and ``copies`` augmented versions of it (copy k seeded ``seed + k``, augmented
    by ``config``; ``noise`` None: nothing mixed under).
    ``level_db``: each augmented clip's loudest second then set to a random level in that range
    (dBFS; :func:`calibrate.at_loudness`), so that loudness stops telling the classes apart (ESC-10's
    recordings differ in level by class); None keeps the augmentation's relative gain only."""
    out = [audio]
    for k in range(1, copies + 1):
        aug = Augmenter(config, noise, sample_rate=SAMPLE_RATE, seed=seed + k)
        copy = np.empty_like(audio)
        for i in range(0, len(audio), 50):
            copy[i : i + 50] = aug(torch.from_numpy(np.ascontiguousarray(audio[i : i + 50]))).numpy()
        out.append(copy)
    if level_db is not None:
        rng = np.random.default_rng(seed + LEVEL_SEED_OFFSET)
        for copy in out[1:]:
            copy[:] = at_random_levels(copy, level_db, rng)
    return out


def at_random_levels(
    clips: Sequence[np.ndarray], level_db: tuple[float, float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Each clip with its loudest second at a random level in ``level_db`` (dBFS, one draw from ``rng``
    per clip, in order), so that loudness cannot tell the classes apart: the augmented ESC copies and,
    with ``--negative-levels``, the training negatives. Silent clips are kept as they are."""
    out = []
    for clip in clips:
        level = rng.uniform(*level_db)
        silent = not np.any(np.asarray(clip))
        out.append(np.asarray(clip, np.float32) if silent else at_loudness(clip, level))
    return out


def gated_starts(clip: np.ndarray, step: int, window: int = WINDOW, db_below_max: float = GATE_DB) -> np.ndarray:
    """Starts of the ``window``-sample windows every ``step`` samples within ``db_below_max`` of the loudest."""
    if len(clip) < window:
        return np.zeros(1, np.int64) if len(clip) else np.zeros(0, np.int64)
    starts = np.arange(0, len(clip) - window + 1, step)
    c = np.concatenate([[0.0], np.cumsum(clip.astype(np.float64) ** 2)])
    db = 10 * np.log10((c[starts + window] - c[starts]) / window + 1e-12)
    return starts[db >= db.max() - db_below_max]


def padded(clip: np.ndarray, seed: int, window: int = WINDOW) -> np.ndarray:
    """A clip shorter than a window centred in one window of faint noise (as a stream would hold it)."""
    if len(clip) >= window:
        return clip
    pad = window - len(clip)
    x = np.concatenate([np.zeros(pad // 2, np.float32), clip, np.zeros(pad - pad // 2, np.float32)])
    return x + np.random.default_rng(seed).standard_normal(window).astype(np.float32) * 1e-4


def cut_windows(clips: Sequence[np.ndarray], step: int, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Gated windows of every clip: (``[M, window]``, the clip index of each)."""
    wins, owner = [], []
    for i, clip in enumerate(clips):
        clip = padded(np.asarray(clip, np.float32), i, window)
        for s in gated_starts(clip, step, window):
            wins.append(clip[s : s + window])
            owner.append(i)
    if not wins:
        return np.zeros((0, window), np.float32), np.zeros(0, np.int64)
    return np.stack(wins).astype(np.float32), np.array(owner, np.int64)


def window_inputs(
    model: SoundsModel, windows: np.ndarray, batch: int = 128, progress: bool = False
) -> dict[str, np.ndarray]:
    """Every head kind's inputs for ``windows`` ``[M, window]`` (the frozen part of the model, run once)."""
    from tqdm import tqdm

    parts: dict[str, list[np.ndarray]] = {}
    model.eval()
    starts = range(0, len(windows), batch)
    for i in tqdm(starts, desc="embedding", unit="batch", disable=not progress, leave=False, file=sys.stderr):
        for kind, x in model.head_inputs(torch.from_numpy(windows[i : i + batch])).items():
            parts.setdefault(kind, []).append(x.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def fit_head(head: Head, x: np.ndarray, y: np.ndarray, cfg: HeadTraining) -> Head:
    """Train ``head`` in place on inputs ``x`` ``[N, D]`` and labels ``y`` ``[N]``; returns it in eval mode."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n_out = head.body[-1].out_features
    head.mean.copy_(torch.from_numpy(x.mean(0)))
    head.std.copy_(torch.from_numpy(x.std(0) + 1e-3))
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 8), pct_start=0.2)
    head.train()
    for _ in range(cfg.epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), cfg.batch):
            idx = order[i : i + cfg.batch]
            xb = xt[idx]
            if cfg.input_noise > 0:
                xb = xb + torch.randn_like(xb) * cfg.input_noise * head.std
            target = nn.functional.one_hot(yt[idx], n_out).float()
            target = target * (1 - cfg.label_smoothing) + cfg.label_smoothing / n_out
            loss = -(target * torch.log_softmax(head(xb), 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


def fit_heads(model: SoundsModel, inputs: dict[str, np.ndarray], y: np.ndarray, cfg: HeadTraining) -> SoundsModel:
    """Train every head of ``model`` on the inputs of its kind; returns the model in eval mode."""
    for head in model.net.heads:
        fit_head(head, inputs[head.kind], y, cfg)
    return model.eval()


def fit_on_windows(
    model: SoundsModel,
    windows: np.ndarray,
    y: np.ndarray,
    cfg: HeadTraining,
    copies: int,
    augment: AugmentConfig,
    noise: np.ndarray | None = None,
    progress: bool = False,
) -> SoundsModel:
    """Train `model`'s heads on `windows` ``[N, S]`` (labels `y`) and `copies` augmented copies of them,
    the frozen backbone run once over all: how a model of your own words or sounds trains on the speech
    embedding (``python -m listener.training.train --arch embedding``)."""
    audio = np.concatenate(augmented_copies(windows, noise, copies, seed=AUG_SEED + cfg.seed, config=augment))
    return fit_heads(model, window_inputs(model, audio, progress=progress), np.tile(y, copies + 1), cfg)
