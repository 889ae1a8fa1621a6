"""Grouping: accepted windows become sound events, and digits become sequences.

Sound events (:class:`EventMerger`, sound models): the sliding windows of one sound are
one detection. An event opens at a window the decider accepts; it goes on while the next
windows' best label (of the averaged probabilities) is still its label, even below the
threshold; it ends at the first window whose best label is another one (another sound, a
reject label such as ``other`` or ``silence``), or when the gate closes (no window comes
where one was due). Its line is written when it ends, with ``stream_s`` the centre of its
first window and ``end_s`` the centre of its last. A sound that goes on for more than
``max_event`` seconds is written every ``max_event`` seconds and continued: a minute of
crying gives a line every ``max_event`` seconds (each part no longer than that, and
written once one of its windows was accepted) rather than one after a minute.

Sequences (:class:`SequenceTracker`, models with ``symbols``): the detections whose labels
have a symbol, in order, make one :class:`~listener.events.Sequence` (``"472"``) once
``sequence_pause`` seconds of stream have passed after the last of them (or the stream ends).

Both decide on stream time only, so ``listener analyze`` and ``listener run`` give the same
records; the pipeline tells them how far the stream has been decided (``tick``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .decider import Decision
from .errors import UsageError
from .events import Detection


@dataclass(kw_only=True)
class GroupingOptions:
    """How detections group into sound events and sequences (``--sequence-pause``, ``--max-event``).

    Attributes:
        sequence_pause: seconds without a new digit (a detection whose label has a symbol)
            that end a sequence and write its record. Longer pauses inside a number ("eight
            eight five, one one two") split it in two.
        max_event: the longest a sound event runs before it is written (and continued in a
            new line): the most a sound event's line waits.
    """

    sequence_pause: float = 1.0
    max_event: float = 5.0


def check_grouping(options: GroupingOptions) -> None:
    """UsageError for a pause or an event length that is not a positive number of seconds."""
    for name in ("sequence_pause", "max_event"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0 seconds, not {value!r}")


# ---------------------------------------------------------------- sound events


@dataclass
class EventSpan:
    """A sound event (or the part of a long one written so far), before it becomes a Detection."""

    label: str
    start_s: float  # centre of its first window
    end_s: float  # centre of its last window
    confidence: float  # the highest averaged confidence among its windows
    top: list[tuple[str, float]]  # the decider's top labels at that window
    end_sample: int  # end of the audio of its last window (for latency)


class EventMerger:
    """Merges consecutive windows of one label into events (see the module docstring)."""

    def __init__(self, labels: list[str], max_event_s: float = GroupingOptions.max_event) -> None:
        self.labels = list(labels)
        self.max_event_s = float(max_event_s)
        self._open: EventSpan | None = None
        self._last_end = 0  # end sample of the last window seen

    @property
    def open_label(self) -> str | None:
        """The label of the event in progress (None: none)."""
        return self._open.label if self._open is not None else None

    def window(
        self, centre_s: float, end_sample: int, probs: np.ndarray, decision: Decision | None, hop: int
    ) -> list[EventSpan]:
        """One window, in order: its averaged ``probs``, the decider's ``decision`` (None: not
        accepted) and the hop it was cut with. Returns the events (or parts) it ended."""
        out: list[EventSpan] = []
        if end_sample - self._last_end > hop + hop // 2:
            out += self._close()  # windows stopped in between: the gate closed
        self._last_end = end_sample
        best = self.labels[int(np.argmax(probs))] if np.isfinite(probs).all() else None
        e = self._open
        if e is not None and best == e.label:
            if centre_s - e.start_s > self.max_event_s:  # written at the cap; this window starts its next part
                out.append(e)
                e = self._open = EventSpan(e.label, centre_s, centre_s, 0.0, [], end_sample)
            e.end_s, e.end_sample = centre_s, end_sample
            if decision is not None and decision.label == e.label and decision.confidence > e.confidence:
                e.confidence, e.top = decision.confidence, decision.top
            return out
        out += self._close()
        if decision is not None:
            self._open = EventSpan(decision.label, centre_s, centre_s, decision.confidence, decision.top, end_sample)
        return out

    def tick(self, heard_sample: int, hop: int) -> list[EventSpan]:
        """Every window that ends by ``heard_sample`` has been seen: an event whose next window
        is overdue has ended (the gate closed)."""
        if self._open is not None and heard_sample - self._last_end > hop + hop // 2:
            return self._close()
        return []

    def flush(self) -> list[EventSpan]:
        """The end of the stream: an event in progress ends with it."""
        return self._close()

    def _close(self) -> list[EventSpan]:
        e, self._open = self._open, None
        # The part after a cap is written only if one of its windows was accepted.
        return [e] if e is not None and e.confidence > 0.0 else []


# ---------------------------------------------------------------- sequences


@dataclass
class OpenSequence:
    """The digits of a sequence so far."""

    detections: list[Detection] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)


class SequenceTracker:
    """Collects the detections whose labels have a symbol into sequences (see the module docstring)."""

    def __init__(self, symbols: dict[str, str], pause_s: float = GroupingOptions.sequence_pause) -> None:
        self.symbols = dict(symbols)
        self.pause_s = float(pause_s)
        self._open = OpenSequence()

    @property
    def current(self) -> str:
        """The symbols of the sequence in progress ("47" while "472" is being said)."""
        return "".join(self._open.symbols)

    def add(self, detection: Detection) -> list[OpenSequence]:
        """A new detection; returns the sequence it ends (when it comes after the pause)."""
        symbol = self.symbols.get(detection.label)
        if symbol is None:
            return []
        out = self.tick(detection.stream_s)
        self._open.detections.append(detection)
        self._open.symbols.append(symbol)
        return out

    def tick(self, decided_s: float) -> list[OpenSequence]:
        """Every detection up to stream time ``decided_s`` is known: a sequence whose last
        detection is ``pause_s`` or more before it has ended."""
        open_ = self._open
        if open_.detections and decided_s - open_.detections[-1].stream_s >= self.pause_s:
            return self.flush()
        return []

    def flush(self) -> list[OpenSequence]:
        """The end of the stream: the sequence in progress ends with it."""
        done, self._open = self._open, OpenSequence()
        return [done] if done.detections else []
