"""Records passed between stages (and to the GUI): plain dataclasses, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI imports this module for --help, without numpy's start-up time
    import numpy as np


@dataclass
class Detection:
    """One confident, accepted decision; one line in the log."""

    time: str  # ISO 8601 wall clock with UTC offset, ms precision
    stream_s: float  # seconds from the start of the stream / file (window centre)
    label: str
    confidence: float
    top: list[tuple[str, float]]
    model: str  # "digits-1.0"
    source: str  # "mic:<device name>" | the path as given | "stdin"
    latency_ms: float | None  # end of the audio that produced it -> decision (live sources)


@dataclass
class WindowResult:
    """Every classified window, accepted or not (the GUI draws these)."""

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
