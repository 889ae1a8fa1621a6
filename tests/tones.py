"""Generated tone 'datasets' for the training and export tests (no downloads, seconds to train)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from listener.training.corpus import WaveSet
from listener.training.models.registry import ModelSpec, build_model
from listener.training.models.sounds import SoundsModel

TONE_LABELS = ("high", "low", "silence")
SOUND_LABELS = ("low", "high", "other")  # a sounds model: two classes and the reject class


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


def sound_clips(kind: str, n: int, rng: np.random.Generator, seconds: float = 2.0) -> list[np.ndarray]:
    """Tone bursts (low 300-500 Hz, high 1.8-2.6 kHz) or noise, in faint noise, at random levels."""
    out = []
    for _ in range(n):
        x = rng.standard_normal(int(seconds * 16000)) * 1e-3
        t = np.arange(int(1.2 * 16000)) / 16000
        if kind == "other":
            burst = rng.standard_normal(len(t)) * rng.uniform(0.05, 0.2)
        else:
            f = rng.uniform(300, 500) if kind == "low" else rng.uniform(1800, 2600)
            burst = np.sin(2 * np.pi * f * t) * rng.uniform(0.1, 0.5)
        s = int(rng.integers(0, len(x) - len(t)))
        x[s : s + len(t)] += burst * np.hanning(len(t))
        out.append(x.astype(np.float32))
    return out


def sound_model(thresholds: dict[str, float] | None = None) -> SoundsModel:
    """A sounds model (speech embedding + two small heads) for SOUND_LABELS, untrained."""
    return build_model(sound_spec(thresholds)).eval()


def sound_spec(thresholds: dict[str, float] | None = None) -> ModelSpec:
    return ModelSpec(
        name="tones",
        kind="sound",
        labels=list(SOUND_LABELS),
        reject_labels=["other"],
        arch="speech_heads",
        arch_config={"heads": [{"kind": "speech", "hidden": 32}, {"kind": "hybrid", "hidden": 32}]},
        gate="energy",
        hop_seconds=0.5,
        thresholds=dict(thresholds or {}),
    )


def sound_bundle(base: Path) -> tuple:
    """A trained tones sounds model exported as ``base.fp32.onnx`` + ``base.onnx`` (INT8), with per-class
    thresholds at a 10% false-alarm budget on negatives its heads never saw: (model, spec, the
    negatives' peak scores, the export bundle). About the recipe of ``build_defaults --only sounds``."""
    from listener.export.bundle import export_bundle
    from listener.training.calibrate import class_balanced, peak_scores, single
    from listener.training.heads import HeadTraining, cut_windows, fit_heads, window_inputs
    from listener.training.train import TorchClassifier

    classes = [x for x in SOUND_LABELS if x != "other"]
    rng = np.random.default_rng(5)
    model = sound_model()
    wins, y = [], []
    for i, kind in enumerate(SOUND_LABELS):
        w, _ = cut_windows(sound_clips(kind, 10, rng), 16000 // 4)
        wins.append(w)
        y.append(np.full(len(w), i))
    fit_heads(model, window_inputs(model, np.concatenate(wins)), np.concatenate(y), HeadTraining(epochs=25, batch=32))
    spec = sound_spec()
    negatives = sound_clips("other", 20, rng)
    neg_m = peak_scores(TorchClassifier(model, spec), negatives, seed=2)
    spec.thresholds, _ = class_balanced(neg_m, spec.labels, classes, 0.1)
    spec.threshold = single(neg_m, spec.labels, classes, 0.1)
    audio = sound_clips("low", 4, rng) + sound_clips("high", 4, rng)
    val = WaveSet([a for a in audio], np.array([0] * 4 + [1] * 4), tuple(SOUND_LABELS))
    calibration = np.concatenate(wins)[::4]
    bundle = export_bundle(model, spec, base, calibration, val)
    return model, spec, neg_m, bundle
