"""Windowers: turn gated frames into the fixed-length windows the model takes.

Speech (``SpeechWindower``): one window per utterance, centred on it.

* An utterance runs from its first voiced frame to its last one; it is closed
  when the gate's hangover runs out (``hangover`` of silence after the last voiced
  frame). The window is centred on the utterance when the audio after it is
  already there; otherwise it is shifted back to end at the current sample, so
  a decision never waits for more audio than the hangover.
* An utterance longer than the window (slow speech, two digits without a pause,
  a cough glued to a word) gives the window-long stretch with the most energy:
  one window, so at most one detection (the loudest word, when the model is
  sure of it; a window holding parts of two words often comes out ``unknown``).
* Digits spoken quickly in a row give separate windows only when the pause
  between them is at least the gate's hangover (``VAD_HANGOVER_MS``); shorter pauses
  merge them into one utterance (see above).
* An utterance that goes on for more than ``max_utterance_s`` (continuous
  talking or noise the VAD takes for speech) is cut there: its best window is
  classified and a new utterance starts, so a decision is never held back long.
* Utterances with less than ``min_voiced_ms`` of voiced frames (clicks) are dropped.

Sounds (``SlidingWindower``): a window every ``hop`` while the gate is open
(ending at the current sample, so latency is at most one hop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .contract import ModelInfo
from .errors import UsageError
from .gate import GateResult


@dataclass(kw_only=True)
class WindowOptions:
    """How audio becomes model windows (``--hop``; the config file's names).

    Attributes:
        hop: seconds between sliding windows while the gate is open (sound models); None:
            the model's own (its ``hop_seconds`` metadata). Speech models take one window
            per utterance and have no hop.
    """

    hop: float | None = None


def windower_for(info: ModelInfo, options: WindowOptions) -> SpeechWindower | SlidingWindower:
    """One window per utterance for speech models, sliding windows every hop for sound models."""
    if info.kind == "speech":
        return SpeechWindower(info.sample_rate, info.window_seconds)
    hop = options.hop if options.hop is not None else info.hop_seconds
    if not hop > 0:
        raise UsageError(f"--hop must be > 0 seconds, not {hop}")
    return SlidingWindower(info.sample_rate, info.window_seconds, hop)


@dataclass
class Window:
    """One model input and where it sits in the stream."""

    samples: np.ndarray  # float32 [window_samples]
    start_sample: int  # absolute index of samples[0] (may be negative: zero-padded)
    # The detection's stream_s: the middle of what the window holds, never before the start of
    # the stream nor after what was heard: speech, the middle of the utterance's part inside the
    # window; sounds, the middle of the window's part after the start of the stream.
    centre_s: float
    speech_end_sample: int  # end of the audio that triggered it (for latency)


class _Ring:
    """The most recent samples with their absolute position: ``keep`` samples before the newest "
    "block, and that block."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.data = np.zeros(0, dtype=np.float32)
        self.start = 0  # absolute index of data[0]

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def append(self, samples: np.ndarray, position: int) -> None:
        if len(self.data) == 0:
            self.start = position
        self.data = np.concatenate([self.data, samples]) if len(self.data) else samples.astype(np.float32, copy=True)
        extra = len(self.data) - (self.keep + len(samples))  # a long block is kept whole
        if extra > 0:
            self.data = self.data[extra:]
            self.start += extra

    def get(self, start: int, length: int) -> np.ndarray:
        """Samples [start, start+length), zero-padded where they are not held."""
        out = np.zeros(length, dtype=np.float32)
        lo = max(start, self.start)
        hi = min(start + length, self.end)
        if hi > lo:
            out[lo - start : hi - start] = self.data[lo - self.start : hi - self.start]
        return out


class SpeechWindower:
    """One window centred on each voiced utterance (see the module docstring)."""

    def __init__(
        self,
        sample_rate: int,
        window_seconds: float,
        max_utterance_s: float = 2.0,
        min_voiced_ms: float = 60.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.length = int(round(window_seconds * sample_rate))
        self.max_utterance = int(round(max_utterance_s * sample_rate))
        self.min_voiced_ms = min_voiced_ms
        self._ring = _Ring(self.length + self.max_utterance + sample_rate)
        self._frame_len = 1
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._in = False
        self._start = 0
        self._last_voiced_end = 0
        self._voiced_frames = 0
        self._powers: list[float] = []

    def push(self, g: GateResult) -> list[Window]:
        if not len(g.frames):
            return []
        self._ring.append(g.samples, g.start_sample)
        out: list[Window] = []
        if not self._in and not g.voiced.any():
            return out
        fl = g.frames.shape[1]
        self._frame_len = fl
        powers = np.power(10.0, g.level_db / 10.0)
        for i in range(len(g.frames)):
            frame_start = g.start_sample + i * fl
            frame_end = frame_start + fl
            if self._in:
                if g.active[i]:
                    self._powers.append(float(powers[i]))
                    if g.voiced[i]:
                        self._last_voiced_end = frame_end
                        self._voiced_frames += 1
                    if frame_end - self._start >= self.max_utterance:
                        out.extend(self._emit(frame_end))
                else:
                    out.extend(self._emit(frame_end))
            elif g.voiced[i]:
                self._in = True
                self._start = frame_start
                self._last_voiced_end = frame_end
                self._voiced_frames = 1
                self._powers = [float(powers[i])]
        return out

    def flush(self) -> list[Window]:
        """End of stream: close an open utterance."""
        if self._in:
            return self._emit(self._ring.end)
        return []

    def _emit(self, now: int) -> list[Window]:
        start, end = self._start, self._last_voiced_end
        voiced_ms = self._voiced_frames * self._frame_len * 1000.0 / self.sample_rate
        powers = self._powers
        self._reset_utterance()
        if voiced_ms < self.min_voiced_ms or end <= start:
            return []
        L = self.length
        if end - start <= L:
            ws = (start + end) // 2 - L // 2
            if ws + L > now:
                ws = now - L
        else:  # longest-than-window: the window-long stretch with the most energy
            fl = self._frame_len
            per_window = max(1, L // fl)
            p = np.asarray(powers[: (end - start) // fl], dtype=np.float64)
            if len(p) > per_window:
                sums = np.convolve(p, np.ones(per_window), mode="valid")
                ws = start + int(np.argmax(sums)) * fl
            else:
                ws = start
        samples = self._ring.get(ws, L)
        middle = (max(ws, start) + min(ws + L, end)) / 2
        return [Window(samples, ws, middle / self.sample_rate, end)]


class SlidingWindower:
    """A window every ``hop_seconds`` while the gate is open."""

    def __init__(self, sample_rate: int, window_seconds: float, hop_seconds: float) -> None:
        self.sample_rate = sample_rate
        self.length = int(round(window_seconds * sample_rate))
        self._ring = _Ring(self.length + sample_rate)
        self.set_hop(hop_seconds)
        self._since = 0
        self._seen_active = False

    def set_hop(self, hop_seconds: float) -> None:
        if not hop_seconds > 0:
            raise ValueError("hop must be > 0 seconds")
        self.hop = max(1, int(round(hop_seconds * self.sample_rate)))

    def push(self, g: GateResult) -> list[Window]:
        if not len(g.frames):
            return []
        self._ring.append(g.samples, g.start_sample)
        out: list[Window] = []
        fl = g.frames.shape[1]
        if not self._seen_active and not g.active.any():
            self._since = (self._since + len(g.frames) * fl) % self.hop  # nothing to emit while closed
            return out
        for i in range(len(g.frames)):
            self._since += fl
            self._seen_active |= bool(g.active[i])
            if self._since >= self.hop:
                if self._seen_active:
                    end = g.start_sample + (i + 1) * fl
                    ws = end - self.length
                    middle = (max(ws, 0) + end) / 2
                    out.append(Window(self._ring.get(ws, self.length), ws, middle / self.sample_rate, end))
                self._since -= self.hop  # keep the remainder: the hop is exact on average despite 30 ms frames
                self._seen_active = False
        return out

    def flush(self) -> list[Window]:
        return []
