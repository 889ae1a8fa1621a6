"""Scores a model on a WaveSet the way the listener runs it.

One predictor interface (``np [B, samples] -> logits``) serves the PyTorch
model and an ONNX Runtime session alike, so float and INT8 numbers come from
the same code. Clips longer than the window (ESC's 5 s) are scored like the
runtime's sliding windower: 1 s windows every hop, the quiet ones dropped by
an energy gate, probabilities averaged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

Predictor = Callable[[np.ndarray], np.ndarray]

# An energy gate like the runtime's: windows more than this far below the
# loudest window of the clip are treated as silence and not scored.
GATE_DB_BELOW_MAX = 20.0


@dataclass
class EvalResult:
    """Accuracy, macro-F1, per-class accuracy and the confusion matrix (rows = truth)."""

    n: int
    accuracy: float
    macro_f1: float
    per_class_accuracy: dict[str, float]
    confusion: list[list[int]]
    labels: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def active_window_starts(
    audio: np.ndarray, window: int, hop: int, db_below_max: float = GATE_DB_BELOW_MAX
) -> list[int]:
    """Start offsets of the windows an energy gate would keep (always at least one)."""
    n = audio.shape[0]
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    power = np.concatenate(([0.0], np.cumsum(audio.astype(np.float64) ** 2)))
    energy = np.array([(power[s + window] - power[s]) / window for s in starts])
    db = 10.0 * np.log10(energy + 1e-12)
    keep = [s for s, d in zip(starts, db) if d >= db.max() - db_below_max]
    return keep or [starts[int(np.argmax(db))]]


def predict_probs(
    predict: Predictor,
    audio: np.ndarray,
    window: int = 16000,
    hop: int = 4000,
    batch_size: int = 256,
) -> np.ndarray:
    """Clip-level probabilities ``[N, C]``: one window, or the mean over the gated windows."""
    if audio.shape[1] <= window:
        if audio.shape[1] < window:
            audio = np.pad(audio, ((0, 0), (0, window - audio.shape[1])))
        outs = [softmax(predict(audio[i : i + batch_size])) for i in range(0, len(audio), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0, 0), dtype=np.float32)
    windows: list[np.ndarray] = []
    owner: list[int] = []
    for i, clip in enumerate(audio):
        for s in active_window_starts(clip, window, hop):
            windows.append(clip[s : s + window])
            owner.append(i)
    stacked = np.stack(windows).astype(np.float32)
    probs = np.concatenate([softmax(predict(stacked[i : i + batch_size])) for i in range(0, len(stacked), batch_size)])
    owner_arr = np.array(owner)
    out = np.zeros((audio.shape[0], probs.shape[1]), dtype=np.float64)
    np.add.at(out, owner_arr, probs)
    out /= np.bincount(owner_arr, minlength=audio.shape[0])[:, None]
    return out.astype(np.float32)


def score(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> EvalResult:
    """Accuracy, macro-F1 (over classes present in truth or prediction), per-class accuracy."""
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    n = int(cm.sum())
    acc = float(np.trace(cm) / n) if n else 0.0
    f1s = []
    per_class: dict[str, float] = {}
    for i, name in enumerate(labels):
        tp = cm[i, i]
        support = cm[i].sum()
        predicted = cm[:, i].sum()
        if support:
            per_class[name] = float(tp / support)
        if support or predicted:
            p = tp / predicted if predicted else 0.0
            r = tp / support if support else 0.0
            f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return EvalResult(
        n=n,
        accuracy=acc,
        macro_f1=float(np.mean(f1s)) if f1s else 0.0,
        per_class_accuracy=per_class,
        confusion=cm.tolist(),
        labels=list(labels),
    )


def false_accept_rate(probs: np.ndarray, labels: Sequence[str], reject: Sequence[str], threshold: float) -> float:
    """Fraction of (negative) clips whose top label is a non-reject label at >= ``threshold``."""
    if len(probs) == 0:
        return 0.0
    top = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    accept = np.array([labels[t] not in reject for t in top]) & (conf >= threshold)
    return float(accept.mean())


def detection_rate(probs: np.ndarray, y_true: np.ndarray, threshold: float) -> float:
    """Fraction of clips whose top label is right AND confident enough to be logged."""
    if len(probs) == 0:
        return 0.0
    return float(((probs.argmax(axis=1) == y_true) & (probs.max(axis=1) >= threshold)).mean())


def choose_threshold(
    pos_probs: np.ndarray,
    pos_true: np.ndarray,
    neg_probs: np.ndarray,
    labels: Sequence[str],
    reject: Sequence[str],
    max_false_accept: float = 0.01,
    candidates: Sequence[float] = tuple(np.round(np.arange(0.4, 0.96, 0.05), 2)),
) -> float:
    """Lowest threshold whose validation false-accept rate is at most ``max_false_accept``.

    The lowest one keeps the most true detections; if none qualifies, the highest.
    """
    for t in candidates:
        if false_accept_rate(neg_probs, labels, reject, t) <= max_false_accept:
            return float(t)
    return float(candidates[-1])
