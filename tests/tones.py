"""Generated tone 'datasets' for the training and export tests (no downloads, seconds to train)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from listener.training.corpus import WaveSet

TONE_LABELS = ("high", "low", "silence")


def tone(kind: str, rng: np.random.Generator, n: int = 16000, rate: int = 16000) -> np.ndarray:
    """A 0.4-0.7 s tone burst (low: 350-600 Hz, high: 1.5-2.5 kHz; inside every band-limit "
    "augmentation) at a random place, or faint noise."""
    out = (rng.standard_normal(n) * 10 ** (rng.uniform(-70, -50) / 20)).astype(np.float32)
    if kind == "silence":
        return out
    f = rng.uniform(350, 600) if kind == "low" else rng.uniform(1500, 2500)
    length = int(rng.uniform(0.4, 0.7) * rate)
    start = int(rng.integers(0, n - length))
    t = np.arange(length) / rate
    burst = np.sin(2 * np.pi * f * t) * np.hanning(length) * rng.uniform(0.1, 0.6)
    out[start : start + length] += burst.astype(np.float32)
    return out


def tone_set(per_class: int, seed: int) -> WaveSet:
    rng = np.random.default_rng(seed)
    audio, labels = [], []
    for i, name in enumerate(TONE_LABELS):
        for _ in range(per_class):
            audio.append(tone(name, rng))
            labels.append(i)
    return WaveSet(np.stack(audio), np.array(labels, dtype=np.int64), TONE_LABELS, ["tones"] * len(labels))


def write_tone_tree(root: Path, per_class: int = 30, seed: int = 0) -> Path:
    """``root/<label>/<n>.wav`` in the folder loader's layout."""
    rng = np.random.default_rng(seed)
    for name in TONE_LABELS:
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            sf.write(root / name / f"clip{k:03d}.wav", tone(name, rng), 16000)
    return root
