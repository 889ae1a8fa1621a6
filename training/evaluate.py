"""Scores a model on labelled clips the way ``listener analyze`` runs it.

Every clip goes through the runtime's own pipeline (``listener.pipeline.analyze_array``):
the model's gate, its windower and the decider at its threshold, as ``listener
analyze`` treats a file holding that clip. So the numbers on a model card are what
a user gets, not what a model gets from a window cut for it:

- a clip's prediction is the top label of its windows' mean probabilities, over
  the windows whose own top label is not a reject label when there are any (the
  decider never reports those: a window at the edge of a sound, mostly silence,
  says "silence" and is not the clip's answer); when the gate let nothing
  through, the clip counts as the model's ``silence`` label if it has one
  (nothing was heard), else as wrong;
- a clip is *detected* when the pipeline logged its label;
- a negative clip is a *false accept* when the pipeline logged anything.

The classifier is anything with the runtime's classifier interface (``info``,
``predict``): ``listener.classifier.Classifier`` for an ONNX file,
``listener.training.train.TorchClassifier`` for a model in training, so float and
INT8 numbers come from the same code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from listener.classifier import Classifier
from listener.config import PipelineOptions
from listener.contract import ModelInfo, nothing_label
from listener.pipeline import analyze_array

BATCH = 256  # windows per model call within one clip (a 5 s clip at hop 0.25 s has 17)


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


@dataclass
class ClipResult:
    """What the pipeline made of one clip."""

    probs: np.ndarray | None  # mean probabilities of its windows (see above); None: the gate let nothing through
    detected: list[str]  # the labels it logged, in order


class CachedClassifier:
    """A classifier that remembers each window's scores: the pipeline can run again at another
    threshold (the gate and the windows are the same) without running the model again."""

    def __init__(self, classifier: Classifier) -> None:
        self.inner = classifier
        self.info: ModelInfo = classifier.info
        self._memo: dict[bytes, np.ndarray] = {}

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, None]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in batch]
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        if todo:
            probs, _ = self.inner.predict(batch[todo])
            self._memo.update((keys[i], p) for i, p in zip(todo, probs))
        return np.stack([self._memo[k] for k in keys]), None


def run_clips(classifier: Classifier, clips: Iterable[np.ndarray], threshold: float | None = None) -> list[ClipResult]:
    """Each clip (float32 mono at the model's rate, any length) through the runtime pipeline;
    ``threshold`` None is the model's own."""
    options = PipelineOptions(threshold=threshold, batch_size=BATCH)
    reject = [classifier.info.labels.index(x) for x in classifier.info.reject_labels]
    out = []
    for audio in clips:
        result = analyze_array(np.asarray(audio, dtype=np.float32), classifier, options)
        probs = [w.probs for w in result.windows]
        telling = [p for p in probs if int(np.argmax(p)) not in reject]
        out.append(
            ClipResult(np.mean(telling or probs, axis=0) if probs else None, [d.label for d in result.detections])
        )
    return out


def sweep(
    classifier: Classifier, clips: Sequence[np.ndarray], thresholds: Iterable[float]
) -> Iterator[tuple[float, list[ClipResult]]]:
    """``run_clips`` at each threshold in turn; the model runs once per distinct window."""
    cached = CachedClassifier(classifier)
    for t in thresholds:
        yield t, run_clips(cached, clips, t)


def predictions(results: Sequence[ClipResult], labels: Sequence[str]) -> np.ndarray:
    """Each clip's predicted label index; nothing heard = the ``silence`` label, or -1 (wrong) without one."""
    nothing = nothing_label(labels)
    fallback = list(labels).index(nothing) if nothing is not None else -1
    return np.array([fallback if r.probs is None else int(np.argmax(r.probs)) for r in results], dtype=np.int64)


def score(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> EvalResult:
    """Accuracy, macro-F1 (over classes present in truth or prediction), per-class accuracy.

    ``y_pred`` -1 means "no prediction": wrong, and in no cell of the confusion matrix.
    """
    k = len(labels)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    made = y_pred >= 0
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true[made], y_pred[made]), 1)
    support_all = np.bincount(y_true, minlength=k) if len(y_true) else np.zeros(k, np.int64)
    n = int(len(y_true))
    acc = float(np.trace(cm) / n) if n else 0.0
    f1s = []
    per_class: dict[str, float] = {}
    for i, name in enumerate(labels):
        tp = cm[i, i]
        support = support_all[i]
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


def detection_rate(results: Sequence[ClipResult], y_true: np.ndarray, labels: Sequence[str]) -> float:
    """Fraction of clips whose own label the pipeline logged."""
    if not len(results):
        return 0.0
    return float(np.mean([labels[y] in r.detected for r, y in zip(results, y_true)]))


def wrong_detection_rate(results: Sequence[ClipResult], y_true: np.ndarray, labels: Sequence[str]) -> float:
    """Fraction of clips for which the pipeline logged some other label."""
    if not len(results):
        return 0.0
    return float(np.mean([any(d != labels[y] for d in r.detected) for r, y in zip(results, y_true)]))


def false_accept_rate(results: Sequence[ClipResult]) -> float:
    """Fraction of (negative) clips for which the pipeline logged anything."""
    if not len(results):
        return 0.0
    return float(np.mean([bool(r.detected) for r in results]))


def choose_threshold(
    classifier: Classifier,
    negatives: Sequence[np.ndarray],
    max_false_accept: float = 0.01,
    candidates: Sequence[float] = tuple(np.round(np.arange(0.4, 0.96, 0.05), 2)),
) -> float:
    """Lowest threshold at which at most ``max_false_accept`` of the negative clips log anything.

    The lowest one keeps the most true detections; if none qualifies, the highest.
    """
    for t, results in sweep(classifier, negatives, candidates):
        if false_accept_rate(results) <= max_false_accept:
            return float(t)
    return float(candidates[-1])
