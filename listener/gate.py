"""Gates: decide, frame by frame, whether anything worth classifying is happening.

``VadGate`` (webrtcvad) is for speech models, ``EnergyGate`` (level above an
adaptive noise floor) for sound models. Both cut their input into fixed frames,
keep the remainder for the next call, and return a :class:`GateResult` with two
flags per frame: ``voiced`` (the raw decision) and ``active`` (``voiced`` held
open for a hangover, so that a word's soft ending or a short pause inside a
word is not cut off).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .contract import GATES, ModelInfo
from .errors import UsageError

VAD_RATES = (8000, 16000, 32000, 48000)
PRIME_DB = -80.0  # the background webrtcvad hears first (see VadGate)
FRAME_MS = 30  # both gates decide on 30 ms frames (webrtcvad takes 10, 20 or 30)
MARGIN_DB = 10.0  # a frame is active this far above the noise floor
VAD_HANGOVER_MS = 120.0  # the VAD gate stays open this long after the last voiced frame
VAD_TARGET_DB = -35.0  # webrtcvad hears each frame as if the loudest recent one were at least this loud
VAD_MAX_GAIN_DB = 30.0  # ... but lifted by at most this much
PEAK_DECAY_DB_PER_S = 3.0  # how fast the loudest recent frame is forgotten
ENERGY_HANGOVER_MS = 300.0  # the energy gate's: sounds fade out more slowly than words


@dataclass(kw_only=True)
class GateOptions:
    """Which gate a pipeline gets and how it decides (``--gate``, ``--vad``; the config file's names).

    Attributes:
        gate: ``"vad"`` (webrtcvad, for speech) or ``"energy"`` (level above an adaptive
            noise floor, for sounds); None: the model's own (its ``gate`` metadata).
        vad: webrtcvad aggressiveness 0-3: 0 lets most sounds through, 3 only clear speech.
            The live setting of the app and the ``--vad`` flag of the command line.
        hangover_ms: how long the gate stays open after the last active frame; None: the
            gate's own (``VAD_HANGOVER_MS``, ``ENERGY_HANGOVER_MS``). A tuning knob: the
            config file takes it, no flag does.
        vad_gain: webrtcvad hears a quiet talker lifted to a normal level (:class:`VadGate`,
            ``VAD_TARGET_DB``); false: it hears the audio as it is. A tuning knob, as above.
    """

    gate: str | None = None
    vad: int = 2
    hangover_ms: float | None = None
    vad_gain: bool = True


def gate_for(info: ModelInfo, options: GateOptions) -> VadGate | EnergyGate:
    """The gate ``options`` ask for, else the model's; at the model's rate."""
    kind = options.gate or info.gate
    hangover = {} if options.hangover_ms is None else {"hangover_ms": options.hangover_ms}
    if kind == "vad":
        target = VAD_TARGET_DB if options.vad_gain else None
        return VadGate(info.sample_rate, aggressiveness=options.vad, target_db=target, **hangover)
    if kind == "energy":
        return EnergyGate(info.sample_rate, **hangover)
    raise UsageError(f"--gate must be {' or '.join(repr(g) for g in GATES)}, not '{kind}'")


@dataclass
class GateResult:
    """The frames completed by one ``process`` call."""

    start_sample: int  # absolute index of the first sample of ``frames``
    frames: np.ndarray  # float32 [n_frames, frame_len]
    voiced: np.ndarray  # bool [n_frames]
    active: np.ndarray  # bool [n_frames] (voiced + hangover)
    level_db: np.ndarray  # float32 [n_frames], dBFS (RMS)

    @property
    def samples(self) -> np.ndarray:
        return self.frames.reshape(-1)


def level_db(frames: np.ndarray) -> np.ndarray:
    """RMS level of each row in dBFS (full scale = 1.0), floored at -120 dB."""
    power = np.mean(np.square(frames, dtype=np.float32), axis=-1, dtype=np.float32)
    return (10.0 * np.log10(np.maximum(power, 1e-12))).astype(np.float32)


class _FramedGate:
    """Shared framing and hangover logic."""

    def __init__(self, sample_rate: int, frame_ms: int, hangover_ms: float) -> None:
        self.sample_rate = int(sample_rate)
        self.frame_ms = int(frame_ms)
        self.frame_len = self.sample_rate * self.frame_ms // 1000
        self.hangover_frames = max(0, int(round(hangover_ms / self.frame_ms)))
        self._pending = np.zeros(0, dtype=np.float32)
        self._position = 0  # absolute sample index of the start of _pending
        self._since_voiced = 1 << 30  # frames since the last voiced frame

    def _voiced(self, frames: np.ndarray, levels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def process(self, block: np.ndarray) -> GateResult:
        """Classify every complete frame of the audio seen so far."""
        data = (
            np.concatenate([self._pending, np.asarray(block, dtype=np.float32)])
            if len(self._pending)
            else np.asarray(block, dtype=np.float32)
        )
        n = len(data) // self.frame_len
        used = n * self.frame_len
        frames = data[:used].reshape(n, self.frame_len)
        self._pending = data[used:].copy()
        start = self._position
        self._position += used
        levels = level_db(frames) if n else np.zeros(0, np.float32)
        voiced = self._voiced(frames, levels) if n else np.zeros(0, bool)
        active = np.empty(n, dtype=bool)
        since = self._since_voiced
        hang = self.hangover_frames
        # hangover: active while fewer than `hang` frames have passed since the last voiced one
        if n and not voiced.any():
            idx = np.arange(1, n + 1) + since
            active[:] = idx <= hang
            since += n
        else:
            for i in range(n):
                if voiced[i]:
                    since = 0
                    active[i] = True
                else:
                    since += 1
                    active[i] = since <= hang
        self._since_voiced = since
        return GateResult(start, frames, voiced, active, levels)

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._since_voiced = 1 << 30


class NoiseFloor:
    """A running estimate of the background level (dBFS), starting at the first
    frame's level (at most ``initial_db``): drops at once to a
    quieter frame, rises ``rise_db_per_s`` while frames are within ``margin_db``
    of it, creeps up ``creep_db_per_s`` under louder ones (so a steady new noise
    becomes the new floor in a few seconds while a word or a bark does not)."""

    def __init__(
        self,
        frame_ms: int,
        initial_db: float,
        lowest_db: float,
        rise_db_per_s: float = 6.0,
        creep_db_per_s: float = 4.0,
        margin_db: float = MARGIN_DB,
    ) -> None:
        self.db: float | None = None  # set from the first frame, at most ``initial_db``
        self.cap = initial_db
        self.lowest = lowest_db
        self.margin = margin_db
        self._rise = rise_db_per_s * frame_ms / 1000.0
        self._creep = creep_db_per_s * frame_ms / 1000.0

    def update(self, levels: np.ndarray, minimum: float) -> np.ndarray:
        """Per frame: is it ``margin`` dB above the floor (and above ``minimum``)? Updates the floor."""
        out = np.zeros(len(levels), dtype=bool)
        if self.db is None:
            if not len(levels):
                return out
            self.db = min(max(float(levels[0]), self.lowest), self.cap)
        floor, margin, rise, creep, lowest = self.db, self.margin, self._rise, self._creep, self.lowest
        for i, lv in enumerate(levels.tolist()):
            loud = lv > floor + margin and lv > minimum
            out[i] = loud
            if lv < floor:
                floor = max(lv, lowest)
            elif loud:
                floor += creep
            else:
                floor = min(floor + rise, lv)
        self.db = floor
        return out


class RecentPeak:
    """The level (dBFS) of the loudest recent frame: jumps up at once, falls ``decay_db_per_s``.

    ``gains`` says, per frame, how many dB lift that peak to ``target_db`` (0 when it is
    already there, at most ``max_gain_db``): a quiet talker's frames are heard at a normal
    level, while a normal one's are left as they are."""

    def __init__(self, frame_ms: int, decay_db_per_s: float = PEAK_DECAY_DB_PER_S) -> None:
        self.db: float | None = None
        self._decay = decay_db_per_s * frame_ms / 1000.0

    def gains(self, levels: np.ndarray, target_db: float, max_gain_db: float) -> np.ndarray:
        if not len(levels):
            return np.zeros(0, np.float32)
        # peak_i = max(previous peak - decay * (i + 1), max over j <= i of level_j - decay * (i - j))
        ramp = self._decay * np.arange(len(levels))
        best = np.maximum.accumulate(levels.astype(np.float64) + ramp)
        if self.db is not None:
            best = np.maximum(best, self.db - self._decay)
        peak = best - ramp
        self.db = float(peak[-1])
        return np.clip(target_db - peak, 0.0, max_gain_db).astype(np.float32)


class VadGate(_FramedGate):
    """webrtcvad speech detector (aggressiveness 0-3, 10/20/30 ms frames) with a hangover.

    A frame counts as voiced only when webrtcvad says so *and* it stands
    ``margin_db`` above the background (an adaptive noise floor) and above
    ``min_level_db``: webrtcvad alone takes quiet room noise for speech now and
    then, which would drag each utterance's end out by a few hundred ms.

    A stream may begin in speech (a short clip cut tight around a word): both
    the floor and webrtcvad must then already know a quiet background. The floor
    starts at the first frame's level but no higher than ``start_floor_db``
    (-65 dBFS: speech peaking at -40 dBFS has its loudest 30 ms frames near
    -51 dBFS, 10 dB above it), and webrtcvad, whose own noise model adapts
    to what it hears first, is first shown 0.3 s of background noise at
    ``prime_db`` (-80 dBFS, a quiet 16-bit input).

    webrtcvad's speech model expects speech at a normal level: a talker whose
    loudest frames sit near -50 dBFS (a quiet microphone) was voiced in a third
    of their frames. So webrtcvad hears each frame lifted by the gain that brings
    the loudest recent frame (:class:`RecentPeak`) to ``target_db`` (at most
    ``max_gain_db``; None: no gain); the level tests above, and the model, see
    the audio as it is. See docs/usage.md, "How a detection happens".
    """

    PRIME_FRAMES = 10

    def __init__(
        self,
        sample_rate: int,
        aggressiveness: int = GateOptions.vad,
        frame_ms: int = FRAME_MS,
        hangover_ms: float = VAD_HANGOVER_MS,
        min_level_db: float = -70.0,
        margin_db: float = MARGIN_DB,
        start_floor_db: float = -65.0,
        prime_db: float | None = PRIME_DB,
        target_db: float | None = VAD_TARGET_DB,
        max_gain_db: float = VAD_MAX_GAIN_DB,
    ) -> None:
        import webrtcvad

        if sample_rate not in VAD_RATES:
            raise UsageError(
                f"the VAD gate needs a model rate of {', '.join(map(str, VAD_RATES))} Hz, not "
                f"{sample_rate}; use --gate energy"
            )
        if frame_ms not in (10, 20, 30):
            raise UsageError(f"VAD frames must be 10, 20 or 30 ms, not {frame_ms}")
        check_vad_level(aggressiveness)
        super().__init__(sample_rate, frame_ms, hangover_ms)
        self._vad = webrtcvad.Vad(int(aggressiveness))
        self.aggressiveness = int(aggressiveness)
        self._wanted = self.aggressiveness
        self._lock = threading.Lock()
        self.min_level_db = min_level_db
        self.floor = NoiseFloor(frame_ms, initial_db=start_floor_db, lowest_db=min_level_db - 10.0, margin_db=margin_db)
        self.target_db, self.max_gain_db = target_db, max_gain_db
        self.peak = RecentPeak(frame_ms)
        if prime_db is not None:
            self._prime(prime_db)

    def _prime(self, level_db: float) -> None:
        """Show webrtcvad a quiet background first (fixed noise: the same decisions every run)."""
        rng = np.random.default_rng(0)
        scale = 32767.0 * 10.0 ** (level_db / 20.0)
        for _ in range(self.PRIME_FRAMES):
            noise = np.round(rng.normal(0.0, scale, self.frame_len)).astype("<i2")
            self._vad.is_speech(noise.tobytes(), self.sample_rate)

    def set_aggressiveness(self, level: int) -> None:
        """Thread-safe: applied before the next frame is processed."""
        check_vad_level(level)
        with self._lock:
            self._wanted = int(level)

    def _voiced(self, frames: np.ndarray, levels: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._wanted != self.aggressiveness:
                self._vad.set_mode(self._wanted)
                self.aggressiveness = self._wanted
        candidates = self.floor.update(levels, self.min_level_db)
        gains = None if self.target_db is None else self.peak.gains(levels, self.target_db, self.max_gain_db)
        out = np.zeros(len(frames), dtype=bool)
        if not candidates.any():
            return out
        if gains is not None and gains.any():
            frames = frames * (10.0 ** (gains / 20.0))[:, None]
        pcm = (np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2")
        is_speech = self._vad.is_speech
        rate = self.sample_rate
        for i in np.flatnonzero(candidates):
            out[i] = is_speech(pcm[i].tobytes(), rate)
        return out


class EnergyGate(_FramedGate):
    """Open when the level is ``margin_db`` above an adaptive noise floor (see :class:`NoiseFloor`).

    A steady new background noise closes the gate again after a few seconds
    (``(level - floor - margin) / creep``), while a sound a few seconds long keeps it open.
    """

    def __init__(
        self,
        sample_rate: int,
        frame_ms: int = FRAME_MS,
        margin_db: float = MARGIN_DB,
        hangover_ms: float = ENERGY_HANGOVER_MS,
        initial_floor_db: float = -50.0,
        min_level_db: float = -55.0,
    ) -> None:
        super().__init__(sample_rate, frame_ms, hangover_ms)
        self.min_level_db = min_level_db
        # digital silence must not drag the floor down to -120 dB
        self.floor = NoiseFloor(frame_ms, initial_floor_db, min_level_db - 15.0, margin_db=margin_db)

    def _voiced(self, frames: np.ndarray, levels: np.ndarray) -> np.ndarray:
        return self.floor.update(levels, self.min_level_db)


def check_vad_level(level: int) -> None:
    if not isinstance(level, (int, np.integer)) or not 0 <= int(level) <= 3:
        raise UsageError(f"VAD aggressiveness must be 0, 1, 2 or 3, not {level!r}")
