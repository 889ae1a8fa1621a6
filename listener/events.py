"""Records passed between stages (and to the GUI): plain dataclasses, no behaviour.

Two records become log lines, told apart by their ``TYPE`` (the log's ``type`` field):
a :class:`Detection` (a word, a digit, a sound event) and a :class:`Sequence` (the digits
of a string said without a pause, once the pause has come). docs/usage.md, "The log".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # annotations only: the CLI imports this module for --help, without numpy's start-up time
    import numpy as np


@dataclass
class Detection:
    """One confident, accepted decision; one line in the log.

    ``stream_s`` is, for a word model (``decoder`` ``window``, kind ``speech``), the middle of
    the utterance; for a sound event, the centre of its first window (``end_s``: of its last);
    for a sequence model (``ctc``), the end of the audio of the frame where the word was
    decided, about the end of the word (docs/usage.md, "What stream_s means").
    """

    TYPE: ClassVar[str] = "detection"

    time: str  # ISO 8601 wall clock with UTC offset, ms precision
    stream_s: float  # seconds from the start of the stream / file (see above)
    label: str
    confidence: float
    top: list[tuple[str, float]]
    model: str  # "digits-1.0"
    source: str  # "mic:<device name>" | the path as given | "stdin"
    latency_ms: float | None  # end of the audio that produced it -> decision (live sources)
    end_s: float | None = None  # sound events: the centre of the event's last window; None otherwise


@dataclass
class Sequence:
    """The detections of one string said without a pause (``"472"``), written once the pause has come.

    Made from the detections whose labels have a symbol (the ``symbols`` metadata); it ends
    when ``sequence_pause`` seconds of stream pass after its last one (or the stream ends).
    """

    TYPE: ClassVar[str] = "sequence"

    time: str  # wall clock when it was written
    stream_s: float  # the first detection's stream_s
    end_s: float  # the last detection's stream_s
    digits: str  # the detections' symbols, in order ("472")
    labels: list[str]  # the detections' labels ("four", "seven", "two")
    confidence: float  # the lowest of the detections' confidences
    model: str
    source: str
    latency_ms: float | None  # the last detection's audio end -> this record (live sources): the pause and more


Record = Detection | Sequence


@dataclass
class WindowResult:
    """Every classified window (or, for a sequence model, every output frame), accepted or not
    (the GUI draws these)."""

    stream_s: float
    labels: list[str]
    probs: np.ndarray
    features: np.ndarray | None
    latency_ms: float
    detection: Detection | None


@dataclass
class BlockInfo:
    """One block of audio as it passed the gate (for level meters and waveforms)."""

    stream_s: float
    samples: np.ndarray
    active: bool
    level_db: float
