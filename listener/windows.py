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

Sequence models (``FrameWindower``, ``decoder`` ``ctc``): the model gives one output frame
per ``frame_hop_samples`` (H), frame ``f`` computed from samples ``[f*H, f*H + R)`` (R =
``frame_samples``) on one grid for the whole stream. A frame is computed when the end of an
active gate frame lies in ``(f*H + R - H - T, f*H + R]``, T = ``frame_tail_samples``: from
the first frame whose audio ends in a voiced region (its audio reaches up to R back: a
pre-roll) to the frames whose audio ends T past the gate's close (a model may emit a word a
few frames after its end). With T = R - H (the default), every frame whose audio holds gated
audio. Consecutive computed frames form a *region*; the model is called on a chunk of them,
``[f0*H, f1*H + R)``, covering only frames not computed before. ``take`` says how many
frames a call waits for: while listening, a few (``frames_per_call``; a model without
``frame_context`` recomputes R - H samples of context each call, one with it gets the rows
``FrameCarry`` kept); ``listener analyze`` one call per region (up to ``MAX_CALL_FRAMES``).
Either way each frame is computed from the same samples, so streamed and whole-region
frames are the same.

A model whose metadata has ``zero_fill_db`` gets faint white noise in place of the exact zeros of
its input (``fill_zeros``): the padding before and after the stream and digital silence. The noise
is read from a fixed table at the sample's position in the stream, so every window and frame holds
the same numbers however the stream was cut into blocks or calls.
"""

from __future__ import annotations

from collections import deque
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
        frames_per_call: sequence (ctc) models while listening: the output frames one model
            call computes (each frame is one ``frame_hop_samples`` of audio). More frames per
            call cost less CPU (a call has a cost of its own, and without ``frame_context``
            recomputes ``frame_samples - frame_hop_samples`` of context) and add up to
            ``frames_per_call - 1`` hops of latency. None:
            ``FRAMES_PER_CALL``. ``listener analyze`` computes each voiced region in one call.
            A tuning knob: the config file takes it, no flag does.
    """

    hop: float | None = None
    frames_per_call: int | None = None


ZERO_FILL_SEED = 20261203  # the fill's noise table: PCG64's raw stream, stable across numpy versions
ZERO_FILL_PERIOD = 1 << 16  # samples in the table (4.1 s at 16 kHz) before it repeats
_fill_table: np.ndarray | None = None


def _noise_table() -> np.ndarray:
    """The fill's unit-RMS white noise (uniform), made once."""
    global _fill_table
    if _fill_table is None:
        raw = np.random.PCG64(ZERO_FILL_SEED).random_raw(ZERO_FILL_PERIOD)
        uniform = (raw >> np.uint64(11)).astype(np.float64) / float(1 << 53)  # [0, 1), 53 bits
        _fill_table = ((uniform * 2.0 - 1.0) * np.sqrt(3.0)).astype(np.float32)
    return _fill_table


def fill_zeros(samples: np.ndarray, start: int, level_db: float | None) -> np.ndarray:
    """``samples`` (stream samples from ``start`` on) with each exact 0 replaced, in place, by the fill
    noise at ``level_db`` dBFS RMS (the ``zero_fill_db`` metadata); None: unchanged."""
    if level_db is None or not len(samples):
        return samples
    at = np.flatnonzero(samples == 0.0)
    if len(at):
        samples[at] = _noise_table()[(start + at) % ZERO_FILL_PERIOD] * np.float32(10.0 ** (level_db / 20.0))
    return samples


FRAMES_PER_CALL = 2  # live ctc calls: at most one hop of added latency (see WindowOptions.frames_per_call)
MAX_CALL_FRAMES = 256  # the most frames one call computes (20 s at an 80 ms hop): bounded memory


def windower_for(info: ModelInfo, options: WindowOptions) -> SpeechWindower | SlidingWindower | FrameWindower:
    """Output frames for sequence (ctc) models, one window per utterance for speech models,
    sliding windows every hop for sound models."""
    if info.is_ctc:
        n = options.frames_per_call if options.frames_per_call is not None else FRAMES_PER_CALL
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UsageError(f"frames_per_call must be a whole number >= 1, not {n!r}")
        return FrameWindower(
            info.sample_rate,
            info.frame_hop_samples,
            info.frame_samples,
            info.frame_tail_samples,
            frames_per_call=n,
            zero_fill_db=info.zero_fill_db,
        )
    if info.kind == "speech":
        return SpeechWindower(info.sample_rate, info.window_seconds, zero_fill_db=info.zero_fill_db)
    hop = options.hop if options.hop is not None else info.hop_seconds
    if not hop > 0:
        raise UsageError(f"--hop must be > 0 seconds, not {hop}")
    return SlidingWindower(info.sample_rate, info.window_seconds, hop, zero_fill_db=info.zero_fill_db)


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
        zero_fill_db: float | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.zero_fill_db = zero_fill_db
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

    @property
    def decided_sample(self) -> int:
        """A window still to come is centred after this sample: the start of the utterance in
        progress, else the end of what was heard."""
        return self._start if self._in else self._ring.end

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
        samples = fill_zeros(self._ring.get(ws, L), ws, self.zero_fill_db)
        middle = (max(ws, start) + min(ws + L, end)) / 2
        return [Window(samples, ws, middle / self.sample_rate, end)]


class SlidingWindower:
    """A window every ``hop_seconds`` while the gate is open."""

    def __init__(
        self, sample_rate: int, window_seconds: float, hop_seconds: float, zero_fill_db: float | None = None
    ) -> None:
        self.sample_rate = sample_rate
        self.length = int(round(window_seconds * sample_rate))
        self.zero_fill_db = zero_fill_db
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
                    samples = fill_zeros(self._ring.get(ws, self.length), ws, self.zero_fill_db)
                    out.append(Window(samples, ws, middle / self.sample_rate, end))
                self._since -= self.hop  # keep the remainder: the hop is exact on average despite 30 ms frames
                self._seen_active = False
        return out

    def flush(self) -> list[Window]:
        return []


@dataclass
class FrameChunk:
    """One model call of a sequence model: the audio of ``frames`` consecutive output frames."""

    samples: np.ndarray  # float32 [frame_samples + (frames - 1) * hop]; zeros before the stream
    first_frame: int  # index of its first frame on the stream's grid (may be negative: the stream's start)
    frames: int
    hop: int
    span: int  # frame_samples
    region_ends: bool  # its last frame is the last of its region: the decoder starts afresh after it

    def frame_end(self, i: int) -> int:
        """The sample where the audio of its ``i``-th frame ends."""
        return (self.first_frame + i) * self.hop + self.span


class FrameCarry:
    """The rows a ``frame_context`` model carries from one call to the next (``frame_context`` in
    the contract): a chunk whose first frame follows the previous call's last gets those rows and
    only the audio of its new rows, so a live stream computes each row once instead of
    recomputing ``span - hop`` samples per call. Every frame comes out as a whole call would give it.
    """

    def __init__(self, rows: int, hop: int) -> None:
        self.rows, self.hop = int(rows), int(hop)
        self._next: int | None = None  # the frame the carried rows lead into
        self._carried: np.ndarray | None = None  # [1, rows, width]

    def inputs(self, chunk: FrameChunk) -> tuple[np.ndarray, np.ndarray | None]:
        """The audio to compute ``chunk`` from, and the rows to pass with it (None: no rows)."""
        if self._carried is not None and chunk.first_frame == self._next:
            return chunk.samples[self.rows * self.hop :], self._carried
        return chunk.samples, None

    def keep(self, chunk: FrameChunk, context: np.ndarray | None, embeddings: np.ndarray) -> None:
        """After the call on ``chunk``: keep its last rows for the chunk that follows it."""
        rows = embeddings if context is None else np.concatenate([context, embeddings], axis=1)
        self._next, self._carried = chunk.first_frame + chunk.frames, rows[:, -self.rows :]

    def reset(self) -> None:
        """A region ended: the next chunk starts afresh."""
        self._next, self._carried = None, None


class FrameWindower:
    """Which output frames of a sequence model to compute, and their audio (module docstring)."""

    def __init__(
        self,
        sample_rate: int,
        hop: int,
        span: int,
        tail: int | None = None,
        frames_per_call: int = FRAMES_PER_CALL,
        max_frames: int = MAX_CALL_FRAMES,
        zero_fill_db: float | None = None,
    ) -> None:
        """``tail``: frames are computed up to this many samples past the gated audio (None: span - hop)."""
        if not 0 < hop <= span:
            raise ValueError(f"need 0 < hop <= span, not hop {hop}, span {span}")
        self.sample_rate = sample_rate
        self.hop, self.span = int(hop), int(span)
        self.tail = self.span - self.hop if tail is None else max(0, int(tail))
        self.frames_per_call = max(1, int(frames_per_call))
        self.max_frames = max(self.frames_per_call, int(max_frames))
        self.zero_fill_db = zero_fill_db
        self._audio = np.zeros(0, np.float32)
        self._audio_start = 0  # absolute index of _audio[0]
        self._heard = 0  # samples the gate has framed (the end of _audio)
        self._active_ends: deque[int] = deque()  # end samples of active gate frames not yet assigned
        self._next = -((self.span - 1) // self.hop)  # next frame to decide: the first whose audio ends in the stream
        self._runs: list[list[int]] = []  # [first frame not taken, end (exclusive), closed 0/1]
        self.frames_decided = 0

    @property
    def decided_sample(self) -> int:
        """Every frame whose audio ends before this sample has been decided and handed out
        (its detection, if any, is known): the stream time up to which records are final."""
        first = self._runs[0][0] if self._runs else self._next
        return first * self.hop + self.span

    def push(self, g: GateResult) -> None:
        """Take the gate's frames: decide every frame whose last hop they complete."""
        if len(g.frames) == 0:
            return
        samples = g.samples
        self._audio = np.concatenate([self._audio, samples]) if len(self._audio) else samples.astype(np.float32)
        self._heard = g.start_sample + len(samples)
        self._audio_start = self._heard - len(self._audio)
        fl = g.frames.shape[1]
        for i in np.flatnonzero(g.active):
            self._active_ends.append(g.start_sample + (int(i) + 1) * fl)
        self._decide()
        self._trim()

    def _decide(self) -> None:
        """Frames whose audio has all been heard: needed iff an active frame ends in their last hop
        (or in the tail before it)."""
        hop, span, ends, reach = self.hop, self.span, self._active_ends, self.hop + self.tail
        last = (self._heard - span) // hop  # the last frame whose audio has been heard
        f = self._next
        if not ends and not (self._runs and not self._runs[-1][2]):
            self._next = max(f, last + 1)  # nothing active, no region open: skip the quiet frames at once
            return
        while f <= last:
            end = f * hop + span
            while ends and ends[0] <= end - reach:
                ends.popleft()
            needed = bool(ends) and ends[0] <= end
            run = self._runs[-1] if self._runs and not self._runs[-1][2] else None
            if needed:
                if run is None:
                    self._runs.append([f, f + 1, 0])
                else:
                    run[1] = f + 1
                self.frames_decided += 1
            elif run is not None:
                run[2] = 1  # the region ended
            f += 1
            if not ends and not (self._runs and not self._runs[-1][2]):
                f = max(f, last + 1)
                break
        self._next = f

    def take(self, live: bool = True) -> list[FrameChunk]:
        """The chunks to compute now: every region that has ended; of the open one, ``frames_per_call``
        frames at a time (``live``) or ``max_frames`` at a time (not live: one call per region)."""
        out: list[FrameChunk] = []
        wait = self.frames_per_call if live else self.max_frames
        while self._runs:
            first, end, closed = self._runs[0]
            n = end - first
            if not closed and n < wait:
                break
            k = min(n, self.max_frames)
            last = bool(closed) and k == n
            out.append(self._chunk(first, k, last))  # k may be 0: a region that ended after its last call
            if last:
                self._runs.pop(0)
            else:
                self._runs[0][0] = first + k
        return out

    def flush(self) -> list[FrameChunk]:
        """The end of the stream: the open region ends; every frame decided is handed out."""
        if self._runs:
            self._runs[-1][2] = 1
        return self.take(live=False)

    def _chunk(self, first: int, n: int, region_ends: bool) -> FrameChunk:
        start = first * self.hop
        length = self.span + (n - 1) * self.hop if n else 0
        out = np.zeros(length, np.float32)
        lo, hi = max(start, self._audio_start), min(start + length, self._heard)
        if max(start, 0) < self._audio_start and n:
            raise AssertionError(f"audio from sample {start} was dropped (kept from {self._audio_start})")
        if hi > lo:
            out[lo - start : hi - start] = self._audio[lo - self._audio_start : hi - self._audio_start]
        return FrameChunk(fill_zeros(out, start, self.zero_fill_db), first, n, self.hop, self.span, region_ends)

    def _trim(self) -> None:
        """Keep the audio the frames not yet handed out (or not yet decided) need, and no more."""
        first = self._runs[0][0] if self._runs else self._next
        keep_from = max(first * self.hop, 0)
        drop = keep_from - self._audio_start
        if drop > 0:
            self._audio = self._audio[drop:]
            self._audio_start += drop
