"""Sources: microphone, audio file, raw PCM on stdin -> float32 mono blocks at the model rate.

Every source yields ``(block, arrival)`` pairs: ``block`` is float32 mono at
``sample_rate``; ``arrival`` is the ``time.monotonic()`` at which the last sample
of the block became available (used for latency figures). Resampling (soxr) and
down-mixing happen here so that no later stage cares about the device or file.

Samples that are not finite (NaN, infinity: a broken float file or driver) are
replaced by silence before anything else sees them, counted in ``nonfinite``
and reported once: a NaN would otherwise give every window that holds it the
same, confident, wrong answer. A microphone that delivers nothing but digital
silence is reported once as well (:class:`SilenceWatch`).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from .errors import AudioError, UsageError

Block = tuple[np.ndarray, float]


# Digital silence: every sample below 1e-5 of full scale (-100 dBFS), a third of the
# smallest step of a 16-bit converter. A real microphone's own noise, even in a silent
# room, moves the last bits all the time (a 16-bit input toggles its lowest bit; a quiet
# 24-bit MEMS microphone's noise, about -100 dBFS RMS, peaks near -90 dBFS within a block),
# so only a muted or missing input, or the monitor of a silent output, stays below it.
SILENCE_LEVEL = 1e-5
SILENCE_SECONDS = 3.0
FALLBACK_HINT = (
    "see 'listener devices' and pick a microphone with --device NAME, "
    "or use --source mic to listen to the default input anyway"
)
SILENCE_HINT = (
    "list the inputs with 'listener devices' and pick one with --device NAME, or play a recording with --source FILE"
)


def _notice(message: str) -> None:
    print(f"listener: {message}", file=sys.stderr, flush=True)


def replace_nonfinite(data: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``data`` with NaN and infinite samples set to 0, how many there were, and the
    first row (frame) that held one (-1 when none did)."""
    bad = ~np.isfinite(data)
    n = int(np.count_nonzero(bad))
    if not n:
        return data, 0, -1
    rows = bad.reshape(len(bad), -1).any(axis=1) if bad.ndim > 1 else bad
    return np.where(bad, np.float32(0.0), data).astype(np.float32, copy=False), n, int(np.argmax(rows))


class SilenceWatch:
    """Notices an input that delivers only digital silence (see ``SILENCE_LEVEL``) for ``seconds``."""

    def __init__(self, seconds: float = SILENCE_SECONDS, level: float = SILENCE_LEVEL) -> None:
        self.seconds = seconds
        self.level = level
        self.silent_s = 0.0  # length of the current run of digital silence
        self.heard = False  # True once any block held more than digital silence
        self.told = False  # the owner has reported the silence (it does so once)

    def push(self, block: np.ndarray, rate: float) -> bool:
        """Account for one block; True exactly when the current run of silence reaches ``seconds``."""
        if not len(block):
            return False
        if float(np.max(np.abs(block))) >= self.level:
            self.silent_s = 0.0
            self.heard = True
            return False
        before = self.silent_s
        self.silent_s += len(block) / rate
        return before < self.seconds <= self.silent_s

    @property
    def silent_from_start(self) -> bool:
        """Nothing but digital silence since the first block, for at least ``seconds``."""
        return not self.heard and self.silent_s >= self.seconds


def _sounddevice():  # imported lazily: PortAudio may be missing on a headless box
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library not found
        raise AudioError(f"audio input unavailable: {exc} (install libportaudio2)") from None
    return sd


@dataclass
class InputDevice:
    """An input device as PortAudio reports it."""

    index: int
    name: str
    default_samplerate: float
    max_input_channels: int
    is_default: bool


def list_input_devices(rescan: bool = False) -> list[InputDevice]:
    """Input-capable devices; ``rescan`` re-initialises PortAudio to see hot-plugged ones."""
    sd = _sounddevice()
    if rescan:
        sd._terminate()
        sd._initialize()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list audio devices: {exc}") from None
    if default_in is None or default_in < 0:
        try:
            default_in = sd.query_devices(kind="input")["index"]
        except (sd.PortAudioError, ValueError, KeyError):
            default_in = -1
    return [
        InputDevice(
            index=i,
            name=str(d["name"]),
            default_samplerate=float(d["default_samplerate"]),
            max_input_channels=int(d["max_input_channels"]),
            is_default=(i == default_in),
        )
        for i, d in enumerate(devices)
        if int(d["max_input_channels"]) > 0
    ]


def find_input_device(spec: int | str | None = None, rescan: bool = False) -> InputDevice:
    """Pick an input device by index, by a case-insensitive name substring, or the default."""
    devices = list_input_devices(rescan=rescan)
    if not devices:
        asked = "" if spec is None or spec == "" else f"no input device matching '{spec}': "
        raise AudioError(f"{asked}no audio input device found (plug in a microphone; see 'listener devices')")
    if spec is None or spec == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        for d in devices:
            if d.index == index:
                return d
        raise AudioError(f"no input device with index {index} (see 'listener devices')")
    wanted = spec.lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    matches = exact or [d for d in devices if wanted in d.name.lower()]
    if not matches:
        names = ", ".join(repr(d.name) for d in devices)
        raise AudioError(f"no input device matching '{spec}' (available: {names})")
    return matches[0]


def pulse_default_source() -> str | None:
    """The PulseAudio/PipeWire source that the ALSA ``default``/``pulse`` devices record from.

    ``PULSE_SOURCE`` when set (libpulse honours it), else the server's default
    source as ``pactl info`` reports it; None when that cannot be known.
    """
    if os.environ.get("PULSE_SOURCE"):
        return os.environ["PULSE_SOURCE"]
    pactl = shutil.which("pactl")
    if pactl is None:
        return None
    try:
        out = subprocess.run(
            [pactl, "info"], capture_output=True, text=True, timeout=3, env={**os.environ, "LC_ALL": "C"}
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.startswith("Default Source:"):
            return line.split(":", 1)[1].strip() or None
    return None


def default_input_monitor(device: InputDevice) -> str | None:
    """The monitor source's name when ``device`` records what the computer plays, not a microphone.

    PortAudio's ``default``/``pulse``/``pipewire`` devices record from the sound
    server's default source, which is the monitor of an output when there is no
    microphone (a machine without a sound card, or with speakers only).
    """
    if device.name.lower() not in ("default", "pulse", "pipewire", "sysdefault"):
        return None
    source = pulse_default_source()
    return source if source and source.endswith(".monitor") else None


@dataclass(kw_only=True)
class SourceOptions:
    """Where the audio comes from and in what blocks (``listener run``'s flags; the app's input).

    Attributes:
        source: ``auto`` (the default microphone, else the model's sample clip), ``mic``, a
            file path, or ``-`` (raw S16_LE PCM on stdin).
        device: an input device, by index or part of its name; None: the system default.
        block_ms: audio per block from a live source (microphone, stdin, a paced file), 10-1000
            ms. Each block wakes the process once: longer blocks cost less CPU, shorter ones
            reach the log sooner (docs/benchmarks.md measures both).
        input_rate: the sample rate of the PCM on stdin.
        input_channels: interleaved channels of the PCM on stdin (down-mixed to mono).
    """

    source: str = "auto"
    device: str | int | None = None
    block_ms: int = 60
    input_rate: int = 16000
    input_channels: int = 1

    @property
    def block_seconds(self) -> float:
        """``block_ms`` in seconds; a UsageError outside 10-1000 ms."""
        if isinstance(self.block_ms, bool) or not 10 <= self.block_ms <= 1000:
            raise UsageError(f"--block-ms must be between 10 and 1000, not {self.block_ms}")
        return self.block_ms / 1000.0


BLOCK_SECONDS = SourceOptions.block_ms / 1000.0  # a live source's block unless told otherwise
READ_SECONDS = 8.0  # an unpaced file's block (``listener analyze``): few reads, no pacing


class Source:
    """Base class: ``name`` is the log's ``source`` field; iterate ``blocks(stop)``."""

    name: str = ""
    sample_rate: int  # the model's rate: every block is at this rate
    overruns: int = 0
    duration: float | None = None  # seconds, when known (files)
    live: bool = False  # True when blocks arrive in real time (mic, stdin, paced file)
    started_at: float | None = None  # monotonic time of stream_s == 0 (paced/live sources)
    nonfinite: int = 0  # NaN/infinite samples replaced by silence

    def blocks(self, stop: threading.Event | None = None) -> Iterator[Block]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MicSource(Source):
    """A live input device via PortAudio (sounddevice).

    Captures at the model rate when the device accepts it, else at its native rate
    and resamples with soxr. The PortAudio callback only copies into a bounded
    queue; a full queue or a driver overflow counts an overrun and is not fatal.
    When the device goes away (unplugged, taken by another program) the source
    says so on stderr and retries until it is back or the run is stopped.

    An input that delivers nothing but digital silence for ``silence_seconds``
    is reported once (``silence_hint`` says what to do). With ``end_if_silent``
    the source instead ends when that silence lasts from the first block on
    (``ended_silent``), so that ``--source auto`` can play the sample clip.
    """

    live = True

    def __init__(
        self,
        device: int | str | None,
        sample_rate: int,
        block_seconds: float = BLOCK_SECONDS,
        queue_seconds: float = 10.0,
        stall_seconds: float = 2.0,
        retry_seconds: float = 2.0,
        notice: Callable[[str], None] = _notice,
        silence_seconds: float = SILENCE_SECONDS,
        silence_hint: str = SILENCE_HINT,
        end_if_silent: bool = False,
    ) -> None:
        self._spec = device
        self.sample_rate = int(sample_rate)
        self.block_seconds = block_seconds
        self.stall_seconds = stall_seconds
        self.retry_seconds = retry_seconds
        self.overruns = 0
        self.reconnects = 0
        self.nonfinite = 0
        self._notice = notice
        self.silence_seconds = silence_seconds
        self._silence = SilenceWatch(silence_seconds)
        self.silence_hint = silence_hint
        self.end_if_silent = end_if_silent
        self.ended_silent = False
        self._queue: queue.Queue = queue.Queue(maxsize=max(4, int(queue_seconds / block_seconds)))
        self._stream = None
        self._resampler = None
        self.device = find_input_device(device)
        self.name = f"mic:{self.device.name}"
        self._open()

    def _open(self) -> None:
        sd = _sounddevice()
        dev = self.device
        channels = 1
        capture_rate = self.sample_rate
        try:
            sd.check_input_settings(device=dev.index, channels=1, samplerate=capture_rate, dtype="float32")
        except Exception:
            capture_rate = int(round(dev.default_samplerate))
            try:
                sd.check_input_settings(device=dev.index, channels=1, samplerate=capture_rate, dtype="float32")
            except Exception:
                channels = max(1, dev.max_input_channels)
        self.capture_rate = capture_rate
        self.channels = channels
        try:
            stream = sd.InputStream(
                device=dev.index,
                channels=channels,
                samplerate=capture_rate,
                blocksize=max(1, int(round(capture_rate * self.block_seconds))),
                dtype="float32",
                callback=self._callback,
            )
            stream.start()
        except Exception as exc:  # PortAudioError, busy device, bad settings
            raise AudioError(f"cannot open input device '{dev.name}': {exc}".replace("\n", " ")) from None
        self._stream = stream
        self._resampler = (
            soxr.ResampleStream(capture_rate, self.sample_rate, 1, dtype="float32", quality="HQ")
            if capture_rate != self.sample_rate
            else None
        )
        self._last_data = time.monotonic()
        self._flowing = False  # devices can take a second or two to start delivering

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio thread
        if status.input_overflow:
            self.overruns += 1
        try:
            self._queue.put_nowait((indata.copy(), time.monotonic()))
        except queue.Full:
            self.overruns += 1

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:
                pass

    def _reconnect(self, stop: threading.Event) -> bool:
        self._notice(
            f"input device '{self.device.name}' stopped delivering audio; retrying every {self.retry_seconds:g} s"
        )
        self._close_stream()
        while not stop.is_set():
            try:
                self.device = find_input_device(self._spec, rescan=True)
                self._open()
                self.reconnects += 1
                self._notice(f"input device '{self.device.name}' is back")
                return True
            except AudioError:
                stop.wait(self.retry_seconds)
        return False

    def blocks(self, stop: threading.Event | None = None) -> Iterator[Block]:
        stop = stop or threading.Event()
        if self.started_at is None:
            self.started_at = time.monotonic()
        while not stop.is_set():
            try:
                data, arrival = self._queue.get(timeout=0.2)
            except queue.Empty:
                limit = self.stall_seconds if self._flowing else max(self.stall_seconds, 5.0)
                if time.monotonic() - self._last_data > limit:
                    if not self._reconnect(stop):
                        return
                continue
            self._last_data = arrival
            self._flowing = True
            data, bad, _ = replace_nonfinite(data)
            if bad:
                if not self.nonfinite:
                    self._notice(
                        f"input device '{self.device.name}' delivered non-finite samples (NaN or infinity); "
                        "they are replaced by silence (the count is in the summary)"
                    )
                self.nonfinite += bad
            mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
            if self._silence.push(mono, self.capture_rate):
                if self.end_if_silent and self._silence.silent_from_start:
                    self.ended_silent = True
                    return
                if not self._silence.told:
                    self._silence.told = True
                    self._notice(
                        f"input device '{self.device.name}' has delivered only digital silence for "
                        f"{self.silence_seconds:g} s (a muted or unplugged microphone, or the monitor of a "
                        f"silent output?); {self.silence_hint}"
                    )
            if self._resampler is not None:
                mono = self._resampler.resample_chunk(mono)
            yield np.ascontiguousarray(mono, dtype=np.float32), arrival

    def close(self) -> None:
        self._close_stream()


class FileSource(Source):
    """Any file libsndfile reads (WAV, FLAC, OGG...), any rate, any channel count.

    ``realtime=True`` paces blocks at the speed of the audio (``listener run``);
    ``False`` reads as fast as possible in large blocks (``listener analyze``).
    ``name`` is the path exactly as given, for the log's ``source`` field.
    A file shorter than its header says (truncated) is read as far as it goes,
    with a one-line warning; non-finite samples are replaced by silence and
    reported when the file ends; a file holding nothing else is an error.
    Float samples beyond full scale are clipped to -1..1 (the model contract's
    range) and reported when the file ends.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int,
        realtime: bool = False,
        block_seconds: float | None = None,
        notice: Callable[[str], None] = _notice,
    ) -> None:
        import soundfile as sf

        self.name = str(path)
        self.sample_rate = int(sample_rate)
        self.realtime = realtime
        self.live = realtime
        self.overruns = 0
        self.nonfinite = 0
        self._first_nonfinite_s = 0.0
        self._all_nonfinite = False
        self.clipped = 0  # float samples beyond full scale (+-1.0), clipped
        self._peak = 0.0
        self._notice = notice
        self.block_seconds = block_seconds or (BLOCK_SECONDS if realtime else READ_SECONDS)
        if not Path(path).exists():
            raise AudioError(f"audio file '{path}' not found")
        if Path(path).is_dir():
            raise AudioError(f"cannot read audio file '{path}': it is a directory")
        try:
            self._file = sf.SoundFile(str(path))
        except FileNotFoundError:
            raise AudioError(f"audio file '{path}' not found") from None
        except Exception as exc:  # LibsndfileError, PermissionError...
            reason = str(exc).replace("\n", " ")
            if isinstance(exc, sf.LibsndfileError) and getattr(exc, "error_string", None):
                reason = exc.error_string
            if Path(path).suffix.lower().lstrip(".") in UNREAD_EXTENSIONS:
                reason += f" (libsndfile reads no AAC/AMR/WMA: convert it, e.g. ffmpeg -i '{path}' out.wav)"
            raise AudioError(f"cannot read audio file '{path}': {reason}") from None
        self.input_rate = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        frames = self._file.frames
        self.duration = frames / self.input_rate if frames and frames > 0 else None
        promised = _promised_frames(self._file)
        if promised is not None and frames is not None and promised > frames:
            notice(
                f"'{self.name}' is truncated: its header says {promised / self.input_rate:.2f} s, the file holds "
                f"{frames / self.input_rate:.2f} s; reading what is there"
            )

    def blocks(self, stop: threading.Event | None = None) -> Iterator[Block]:
        try:
            yield from self._blocks(stop)
        finally:
            if self.nonfinite and not self._all_nonfinite:
                s = "s" if self.nonfinite != 1 else ""
                self._notice(
                    f"'{self.name}': {self.nonfinite} non-finite sample{s} (NaN or infinity) replaced by silence, "
                    f"the first at {self._first_nonfinite_s:.2f} s"
                )
            if self.clipped:
                s = "s" if self.clipped != 1 else ""
                self._notice(
                    f"'{self.name}': {self.clipped} sample{s} beyond full scale (up to {self._peak:.3g}) "
                    "clipped to -1..1"
                )

    def _blocks(self, stop: threading.Event | None) -> Iterator[Block]:
        resampler = (
            soxr.ResampleStream(self.input_rate, self.sample_rate, 1, dtype="float32", quality="HQ")
            if self.input_rate != self.sample_rate
            else None
        )
        n = max(1, int(round(self.input_rate * self.block_seconds)))
        # Paced playback reads about a second at a time and hands it out in blocks:
        # a libsndfile read costs more than all our processing of a 30 ms block.
        read_n = n * max(1, int(round(1.0 / self.block_seconds))) if self.realtime else n
        out_n = max(1, int(round(self.sample_rate * self.block_seconds)))
        consumed = 0
        emitted = 0  # samples handed out, at the model rate (pacing)
        held = np.zeros(0, dtype=np.float32)
        t0 = time.monotonic()
        self.started_at = t0
        while stop is None or not stop.is_set():
            try:
                data = self._file.read(read_n, dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioError(
                    f"cannot read audio file '{self.name}': corrupt data after "
                    f"{consumed / self.input_rate:.2f} s ({exc})"
                ) from None
            last = len(data) < read_n
            data, bad, row = replace_nonfinite(data)
            if bad:
                if not self.nonfinite:
                    self._first_nonfinite_s = (consumed + row) / self.input_rate
                self.nonfinite += bad
            if last and self.nonfinite and self.nonfinite >= (consumed + len(data)) * self.channels:
                self._all_nonfinite = True
                raise AudioError(f"audio file '{self.name}' holds no audio: every sample is NaN or infinite")
            if len(data) and (peak := float(np.max(np.abs(data)))) > 1.0:  # float files only; the model takes -1..1
                self.clipped += int(np.count_nonzero(np.abs(data) > 1.0))
                self._peak = max(self._peak, peak)
                data = np.clip(data, -1.0, 1.0)
            if len(data) == 0 and resampler is None:
                return
            mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
            consumed += len(mono)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            mono = np.ascontiguousarray(mono, dtype=np.float32)
            if not self.realtime:
                if len(mono):
                    yield mono, time.monotonic()
            else:
                if len(held):  # the part of a block the previous chunk left
                    mono = np.concatenate([held, mono])
                whole = len(mono) if last else len(mono) - len(mono) % out_n
                held = mono[whole:]
                for i in range(0, whole, out_n):
                    piece = mono[i : i + out_n]
                    emitted += len(piece)
                    due = t0 + emitted / self.sample_rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        if stop is not None:
                            if stop.wait(delay):
                                return
                        else:
                            time.sleep(delay)
                    yield piece, max(due, time.monotonic()) if delay > 0 else time.monotonic()
                    if stop is not None and stop.is_set():
                        return
            if last:
                return

    def close(self) -> None:
        self._file.close()


# File name extensions of the formats libsndfile reads, by its format name; a folder given to
# ``analyze`` is searched for these (only those this libsndfile build supports).
AUDIO_EXTENSIONS = {
    "WAV": ("wav", "wave"),
    "WAVEX": ("wav",),
    "RF64": ("rf64",),
    "W64": ("w64",),
    "FLAC": ("flac",),
    "OGG": ("ogg", "oga", "opus"),
    "MP3": ("mp3",),
    "AIFF": ("aif", "aiff", "aifc"),
    "AU": ("au", "snd"),
    "CAF": ("caf",),
    "NIST": ("sph", "nist"),
    "VOC": ("voc",),
}


# Formats phones and other programs save that libsndfile does not read (AAC, AMR, WMA): a file
# named so gets a hint to convert it.
UNREAD_EXTENSIONS = ("m4a", "aac", "mp4", "3gp", "amr", "wma", "webm")


def audio_extensions() -> set[str]:
    """Lower-case extensions (no dot) of the audio formats this libsndfile reads."""
    import soundfile as sf

    formats = sf.available_formats()
    return {ext for name, exts in AUDIO_EXTENSIONS.items() if name in formats for ext in exts}


def audio_files(path: str | os.PathLike, notice: Callable[[str], None] = _notice) -> list[str]:
    """``path`` itself when it is not a folder; else the audio files under it, sorted.

    Files whose extension is not an audio format libsndfile reads are skipped, and
    so are hidden files and folders (a leading ``.``, e.g. macOS ``._x.wav``
    resource forks); symbolic links to folders are not followed. What was skipped
    is said in one line. A folder with no audio file is an :class:`AudioError`.
    """
    text = str(path)
    if not os.path.isdir(text):
        return [text]
    exts = audio_extensions()
    found: list[str] = []
    other = hidden = 0
    for root, dirs, files in os.walk(text):
        hidden += sum(d.startswith(".") for d in dirs)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                hidden += 1
            elif "." in name and name.rsplit(".", 1)[-1].lower() in exts:
                found.append(os.path.join(root, name))
            else:
                other += 1
    if not found:
        raise AudioError(f"no audio files in folder '{text}' ({other + hidden} other entries)")
    if other or hidden:
        notice(
            f"'{text}': {len(found)} audio file{'s' if len(found) != 1 else ''}; skipped {other} other "
            f"file{'s' if other != 1 else ''} and {hidden} hidden entr{'ies' if hidden != 1 else 'y'}"
        )
    return sorted(found)


def _promised_frames(f) -> int | None:
    """Frames the header of an open WAV file promises, when libsndfile found fewer in the file
    (libsndfile then reads what is there and logs ``data : N (should be M)``)."""
    info = getattr(f, "extra_info", "") or ""
    m = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", info, re.MULTILINE)
    if not m:
        return None
    frame_bytes = _frame_bytes(f)
    return int(m.group(1)) // frame_bytes if frame_bytes else None


def _frame_bytes(f) -> int | None:
    bits = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}
    return bits[f.subtype] // 8 * f.channels if f.subtype in bits else None


class StdinSource(Source):
    """Raw signed 16-bit little-endian PCM on stdin (e.g. from ``arecord``), interleaved
    when ``channels`` > 1 (down-mixed to mono)."""

    live = True

    def __init__(
        self,
        sample_rate: int,
        input_rate: int = SourceOptions.input_rate,
        block_seconds: float = BLOCK_SECONDS,
        stream=None,
        channels: int = SourceOptions.input_channels,
    ) -> None:
        self.name = "stdin"
        self.sample_rate = int(sample_rate)
        self.input_rate = int(input_rate)
        self.channels = max(1, int(channels))
        self.overruns = 0
        self._stream = stream if stream is not None else sys.stdin.buffer
        if stream is None and sys.stdin.isatty():
            raise AudioError(
                "stdin is a terminal; pipe raw S16_LE mono PCM into it, e.g. arecord -f S16_LE -r "
                "16000 -c 1 | listener run --source -"
            )
        self._frame_bytes = 2 * self.channels
        self._nbytes = self._frame_bytes * max(1, int(round(self.input_rate * block_seconds)))

    def blocks(self, stop: threading.Event | None = None) -> Iterator[Block]:
        resampler = (
            soxr.ResampleStream(self.input_rate, self.sample_rate, 1, dtype="float32", quality="HQ")
            if self.input_rate != self.sample_rate
            else None
        )
        self.started_at = time.monotonic()
        carry = b""
        read = getattr(self._stream, "read1", self._stream.read)
        while stop is None or not stop.is_set():
            chunk = read(self._nbytes)
            arrival = time.monotonic()
            if not chunk:
                if resampler is not None:
                    tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                    if len(tail):
                        yield tail.astype(np.float32), arrival
                return
            data = carry + chunk
            usable = len(data) - (len(data) % self._frame_bytes)
            carry = data[usable:]
            if not usable:
                continue
            mono = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
            if self.channels > 1:
                mono = mono.reshape(-1, self.channels).mean(axis=1)
            if resampler is not None:
                mono = resampler.resample_chunk(mono)
                if not len(mono):
                    continue
            yield mono, arrival


def open_source(
    options: SourceOptions,
    sample_rate: int,
    realtime: bool = True,
    fallback: str | os.PathLike | None = None,
    notice: Callable[[str], None] = _notice,
    silence_hint: str = SILENCE_HINT,
) -> Source:
    """The source ``options`` name (``mic`` / ``-`` / a path / ``auto``), delivering blocks of
    ``options.block_ms`` at ``sample_rate``; ``realtime`` paces a file at the speed of its audio.

    ``auto`` without a device: the default microphone, or the ``fallback`` clip
    when there is no input device or the default input is a monitor (what the
    computer plays). The microphone source then ends if it delivers only digital
    silence from the start (``ended_silent``); the caller plays the clip instead
    (:func:`silent_fallback`). ``silence_hint`` is what a microphone's silence notice
    tells the user to do.
    """
    block_seconds = options.block_seconds
    paced = block_seconds if realtime else None
    spec, device = options.source, options.device
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)

    def mic(device: int | str | None, end_if_silent: bool = False) -> MicSource:
        return MicSource(
            device,
            sample_rate=sample_rate,
            block_seconds=block_seconds,
            notice=notice,
            silence_hint=silence_hint,
            end_if_silent=end_if_silent,
        )

    if spec == "auto":
        if device is not None:
            return mic(device)
        try:
            default = find_input_device(None)
        except AudioError:
            default = None
        monitor = default_input_monitor(default) if default is not None and fallback is not None else None
        if default is not None and monitor is None:
            return mic(None, end_if_silent=fallback is not None)
        if fallback is None:
            raise AudioError("no audio input device found and no sample clip to fall back on")
        if monitor is not None:
            notice(
                f"the default input '{monitor}' is a monitor (what this computer plays), not a microphone; playing "
                f"the bundled sample clip {fallback} instead ({FALLBACK_HINT})"
            )
        else:
            notice(f"no microphone found; playing the bundled sample clip {fallback} instead ({FALLBACK_HINT})")
        return FileSource(fallback, sample_rate=sample_rate, realtime=realtime, block_seconds=paced)
    if spec == "mic":
        return mic(device)
    if spec == "-":
        return StdinSource(
            sample_rate=sample_rate,
            input_rate=options.input_rate,
            channels=options.input_channels,
            block_seconds=block_seconds,
        )
    return FileSource(spec, sample_rate=sample_rate, realtime=realtime, block_seconds=paced, notice=notice)


def silent_fallback(
    source: Source,
    fallback: str | os.PathLike | None,
    sample_rate: int,
    realtime: bool = True,
    block_seconds: float = BLOCK_SECONDS,
    notice: Callable[[str], None] = _notice,
) -> Source | None:
    """The sample clip to play after ``source`` (``auto``'s microphone) ended on digital silence, else None."""
    if not getattr(source, "ended_silent", False) or fallback is None:
        return None
    notice(
        f"input device '{source.device.name}' delivered only digital silence for {source.silence_seconds:g} s "
        f"(a muted or unplugged microphone?); playing the bundled sample clip {fallback} instead ({FALLBACK_HINT})"
    )
    return FileSource(
        fallback, sample_rate=sample_rate, realtime=realtime, block_seconds=block_seconds if realtime else None
    )
