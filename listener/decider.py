"""Decider: which classified windows become detections.

A window becomes a detection when its best label is not a reject label
(``unknown`` / ``silence``), its confidence reaches the threshold, it beats the
runner-up by ``min_margin``, and the same label was not detected less than
``refractory_s`` ago (so one spoken digit, or one dog bark seen by several
overlapping windows, is one detection). For sliding windows (sounds) the
probabilities are first averaged over the last ``smooth`` windows, and no
decision is taken before ``min_windows`` consecutive windows have been seen.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .contract import DEFAULT_THRESHOLD, ModelInfo
from .errors import UsageError


@dataclass(kw_only=True)
class DeciderOptions:
    """Which classified windows become detections (``--threshold``; the config file's names).

    Attributes:
        threshold: the confidence (0-1) a window's best label needs; None: the model's own
            (its ``threshold`` metadata). 1.0 logs nothing.
        min_margin: how far the best label must beat the runner-up. A tuning knob: the
            config file takes it, no flag does.
        refractory_s: the same label is not detected again within this many seconds; None:
            the kind's own (``SPEECH_REFRACTORY_S`` for speech, one window length for sounds).
            A tuning knob, as ``min_margin``.
    """

    threshold: float | None = None
    min_margin: float = 0.1
    refractory_s: float | None = None


# The decider's defaults per kind of model (the threshold and the reject labels are the model's own).
TOP_K = 3  # labels listed in a detection's ``top``
SPEECH_REFRACTORY_S = 0.3  # one word is one window (SpeechWindower); this only stops a word seen twice
SOUND_SMOOTH = 3  # sliding windows overlap: average the last three (0.75 s at the default hop)
SOUND_MIN_WINDOWS = 2  # a lone window after a gap is often half sound, half silence


@dataclass
class Decision:
    label: str
    confidence: float
    top: list[tuple[str, float]]


class Decider:
    def __init__(
        self,
        labels: list[str],
        threshold: float = DEFAULT_THRESHOLD,
        reject_labels: list[str] | tuple[str, ...] = (),
        min_margin: float = DeciderOptions.min_margin,
        refractory_s: float = SPEECH_REFRACTORY_S,
        smooth: int = 1,
        top_k: int = TOP_K,
        min_windows: int = 1,
    ) -> None:
        self.labels = list(labels)
        self.set_threshold(threshold)
        self.reject = set(reject_labels)
        self.min_margin = min_margin
        self.refractory_s = refractory_s
        self.smooth = max(1, int(smooth))
        self.min_windows = max(1, min(int(min_windows), self.smooth))
        self.top_k = top_k
        self._recent: deque[np.ndarray] = deque(maxlen=self.smooth)
        self._last_time: dict[str, float] = {}
        self._last_stream_s: float | None = None

    def set_threshold(self, threshold: float) -> None:
        """Thread-safe (a single attribute store)."""
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
        self.threshold = float(threshold)

    def smoothed(self, probs: np.ndarray, stream_s: float, gap_s: float | None = None) -> np.ndarray:
        """Average over recent windows; a gap longer than ``gap_s`` starts afresh."""
        if self.smooth == 1:
            return probs
        if gap_s is not None and self._last_stream_s is not None and stream_s - self._last_stream_s > gap_s:
            self._recent.clear()
        self._last_stream_s = stream_s
        self._recent.append(np.asarray(probs, dtype=np.float32))
        return np.mean(self._recent, axis=0)

    def top(self, probs: np.ndarray) -> list[tuple[str, float]]:
        order = np.argsort(probs)[::-1][: self.top_k]
        return [(self.labels[i], round(float(probs[i]), 4)) for i in order]

    def decide(self, probs: np.ndarray, stream_s: float) -> Decision | None:
        """``probs`` for one window (already smoothed) -> a Decision or None."""
        if self.smooth > 1 and len(self._recent) < self.min_windows:
            return None  # a lone window after a gap (often half sound, half silence) decides nothing
        if not np.isfinite(probs).all():
            return None  # a model that overflowed has no answer, however its scores sort
        order = np.argsort(probs)[::-1]
        best = int(order[0])
        label = self.labels[best]
        conf = float(probs[best])
        second = float(probs[order[1]]) if len(order) > 1 else 0.0
        # A threshold of 1.0 means "log nothing": float32 softmax can round a sure result to exactly 1.0.
        if label in self.reject or conf < self.threshold or self.threshold >= 1.0 or conf - second < self.min_margin:
            return None
        last = self._last_time.get(label)
        if last is not None and abs(stream_s - last) < self.refractory_s:
            return None
        self._last_time[label] = stream_s
        return Decision(label, conf, self.top(probs))


def decider_for(info: ModelInfo, options: DeciderOptions | None = None) -> Decider:
    """The decider a model gets: its labels, reject labels and threshold (unless ``options`` set
    one); speech models decide on each window alone, sound models average ``SOUND_SMOOTH``
    sliding windows, wait for ``SOUND_MIN_WINDOWS`` of them and hold a label back for one window."""
    options = options or DeciderOptions()
    threshold = info.threshold if options.threshold is None else options.threshold
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold must be between 0 and 1, not {threshold}")
    speech = info.kind == "speech"
    refractory = options.refractory_s
    if refractory is None:
        refractory = SPEECH_REFRACTORY_S if speech else info.window_seconds
    return Decider(
        info.labels,
        threshold=threshold,
        reject_labels=info.reject_labels or (),
        min_margin=options.min_margin,
        refractory_s=refractory,
        smooth=1 if speech else SOUND_SMOOTH,
        min_windows=1 if speech else SOUND_MIN_WINDOWS,
    )
