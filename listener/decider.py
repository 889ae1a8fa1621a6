"""Decider: which classified windows (or output frames) become detections.

Window models (:class:`Decider`): a window becomes a detection when its best label is not
a reject label (``unknown`` / ``silence``), its confidence reaches the label's threshold,
it beats the runner-up by ``min_margin``, and the same label was not detected less than
``refractory_s`` ago (so one spoken word seen twice is one detection). For sliding windows
(sounds) the probabilities are first averaged over the last ``smooth`` windows, and no
decision is taken before ``min_windows`` consecutive windows have been seen; the accepted
windows are then merged into events (:mod:`listener.grouping`).

Sequence models (:class:`CtcDecoder`): greedy CTC over the output frames of a voiced
region, one frame at a time, each word emitted as soon as it is certain.

Thresholds: the model's own per label (its ``thresholds`` metadata, else its ``threshold``),
or one for every label when the user gives one (``--threshold``, the app's slider).
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
        threshold: the confidence (0-1) a window's best label needs, for every label; None: the
            model's own (its ``thresholds`` metadata per label, else its ``threshold``). 1.0 logs
            nothing.
        min_margin: how far the best label must beat the runner-up. A tuning knob: the
            config file takes it, no flag does.
        refractory_s: the same label is not detected again within this many seconds; None:
            the kind's own (``SPEECH_REFRACTORY_S`` for speech words; 0 for sounds, whose
            windows merge into events). Not used by sequence (ctc) models. A tuning knob, as
            ``min_margin``.
        blank_penalty: sequence (ctc) models only: each frame's blank probability is divided
            by e to this power before the decoder picks the frame's best label. Above 0,
            digits the model heard but ranked just below the blank come back, and noise and
            other words give more false ones; docs/models/digits.md measures the trade.
            A tuning knob, as ``min_margin``.
    """

    threshold: float | None = None
    min_margin: float = 0.1
    refractory_s: float | None = None
    blank_penalty: float = 0.0


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


class _Thresholds:
    """The threshold of each label: the model's own (per label) unless one is set for all."""

    def __init__(self, labels: list[str], threshold: float, thresholds: dict[str, float] | None, top_k: int) -> None:
        self.labels = list(labels)
        self.top_k = top_k
        self._own = float(threshold)
        self._own_per_label = {k: float(v) for k, v in (thresholds or {}).items()}
        self._override: float | None = None
        self._check(threshold)
        for v in self._own_per_label.values():
            self._check(v)

    @staticmethod
    def _check(threshold: float) -> None:
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, not {threshold}")

    def set_threshold(self, threshold: float | None) -> None:
        """One threshold for every label; None: back to the model's own. Thread-safe (one attribute store)."""
        if threshold is not None:
            self._check(threshold)
        self._override = None if threshold is None else float(threshold)

    @property
    def threshold(self) -> float:
        """The threshold set for every label, else the model's single one (labels may have their own)."""
        return self._own if self._override is None else self._override

    @property
    def thresholds(self) -> dict[str, float]:
        """Each label's threshold as it applies now."""
        return {label: self.threshold_for(label) for label in self.labels}

    def threshold_for(self, label: str) -> float:
        override = self._override
        return override if override is not None else self._own_per_label.get(label, self._own)

    def passes(self, label: str, confidence: float) -> bool:
        """``confidence`` reaches ``label``'s threshold (a threshold of 1.0 logs nothing: float32
        softmax can round a sure result to exactly 1.0)."""
        t = self.threshold_for(label)
        return t < 1.0 and confidence >= t

    def top(self, probs: np.ndarray) -> list[tuple[str, float]]:
        order = np.argsort(probs)[::-1][: self.top_k]
        return [(self.labels[i], round(float(probs[i]), 4)) for i in order]


class Decider(_Thresholds):
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
        thresholds: dict[str, float] | None = None,
    ) -> None:
        """``threshold``/``thresholds``: the model's own (for every label / per label)."""
        super().__init__(labels, threshold, thresholds, top_k)
        self.reject = set(reject_labels)
        self.min_margin = min_margin
        self.refractory_s = refractory_s
        self.smooth = max(1, int(smooth))
        self.min_windows = max(1, min(int(min_windows), self.smooth))
        self._recent: deque[np.ndarray] = deque(maxlen=self.smooth)
        self._last_time: dict[str, float] = {}
        self._last_stream_s: float | None = None

    def smoothed(self, probs: np.ndarray, stream_s: float, gap_s: float | None = None) -> np.ndarray:
        """Average over recent windows; a gap longer than ``gap_s`` starts afresh."""
        if self.smooth == 1:
            return probs
        if gap_s is not None and self._last_stream_s is not None and stream_s - self._last_stream_s > gap_s:
            self._recent.clear()
        self._last_stream_s = stream_s
        self._recent.append(np.asarray(probs, dtype=np.float32))
        return np.mean(self._recent, axis=0)

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
        if label in self.reject or not self.passes(label, conf) or conf - second < self.min_margin:
            return None
        last = self._last_time.get(label)
        if last is not None and abs(stream_s - last) < self.refractory_s:
            return None
        self._last_time[label] = stream_s
        return Decision(label, conf, self.top(probs))


class CtcDecoder(_Thresholds):
    """Greedy CTC, frame by frame: each word is emitted once, at the first frame where it is certain.

    A *run* is consecutive frames whose best label is the same; blank frames (and
    :meth:`reset`, at the end of a voiced region) end a run, so two equal words need a blank
    between them ("eight eight" is eight, blank, eight: two detections). A run of a label
    that has a symbol (and is no reject label) is emitted at its first frame whose posterior
    reaches the label's threshold, with that posterior as its confidence; the rest of the run
    emits nothing (one spike, one detection). A run that never reaches it emits nothing (a
    low-confidence spike), nor does the blank or a label without a symbol (``<other>``).
    ``blank_penalty`` (:class:`DeciderOptions`) scales the blank down before all of this.
    """

    def __init__(
        self,
        labels: list[str],
        blank: str,
        emit: list[str] | tuple[str, ...],
        threshold: float = DEFAULT_THRESHOLD,
        top_k: int = TOP_K,
        thresholds: dict[str, float] | None = None,
        blank_penalty: float = DeciderOptions.blank_penalty,
    ) -> None:
        """``emit``: the labels that may become detections (``ModelInfo.detection_labels``: those
        with a symbol, no reject label, never the blank)."""
        super().__init__(labels, threshold, thresholds, top_k)
        self.blank = self.labels.index(blank)
        self.blank_scale = float(np.exp(-blank_penalty))
        allowed = set(emit) - {blank}
        self.emits = [label in allowed for label in self.labels]
        self._run = self.blank  # the best label of the previous frame
        self._emitted = False  # the current run has been emitted

    def reset(self) -> None:
        """The end of a voiced region: the next frame starts a new run whatever its label."""
        self._run, self._emitted = self.blank, False

    def step(self, probs: np.ndarray) -> Decision | None:
        """One output frame's probabilities -> the word it completes, if any."""
        if not np.isfinite(probs).all():
            self.reset()  # a model that overflowed has no answer
            return None
        if self.blank_scale != 1.0:
            probs = np.array(probs, dtype=np.float64)
            probs[self.blank] *= self.blank_scale
            probs /= probs.sum()
        best = int(np.argmax(probs))
        if best != self._run:
            self._run, self._emitted = best, False
        if best == self.blank or self._emitted or not self.emits[best]:
            return None
        label, conf = self.labels[best], float(probs[best])
        if not self.passes(label, conf):
            return None
        self._emitted = True
        return Decision(label, conf, self.top(probs))


def decider_for(info: ModelInfo, options: DeciderOptions | None = None) -> Decider | CtcDecoder:
    """The decider a model gets: its labels, reject labels and thresholds (one for all when
    ``options`` set one). Sequence (ctc) models get a :class:`CtcDecoder`; speech models decide
    on each window alone; sound models average ``SOUND_SMOOTH`` sliding windows and wait for
    ``SOUND_MIN_WINDOWS`` of them (their accepted windows then merge into events)."""
    options = options or DeciderOptions()
    if options.threshold is not None and not 0.0 <= options.threshold <= 1.0:
        raise UsageError(f"--threshold must be between 0 and 1, not {options.threshold}")
    if not options.blank_penalty >= 0.0:
        raise UsageError(f"blank_penalty must be 0 or more, not {options.blank_penalty}")
    if info.is_ctc:
        decoder = CtcDecoder(
            info.labels,
            info.blank_label,
            info.detection_labels,
            threshold=info.threshold,
            thresholds=info.thresholds,
            blank_penalty=options.blank_penalty,
        )
        decoder.set_threshold(options.threshold)
        return decoder
    speech = info.kind == "speech"
    refractory = options.refractory_s
    if refractory is None:
        refractory = SPEECH_REFRACTORY_S if speech else 0.0
    decider = Decider(
        info.labels,
        threshold=info.threshold,
        thresholds=info.thresholds,
        reject_labels=info.reject_labels or (),
        min_margin=options.min_margin,
        refractory_s=refractory,
        smooth=1 if speech else SOUND_SMOOTH,
        min_windows=1 if speech else SOUND_MIN_WINDOWS,
    )
    decider.set_threshold(options.threshold)
    return decider
