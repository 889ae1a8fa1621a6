"""Sources: microphone, audio file, raw PCM on stdin -> float32 mono blocks at the model rate.

Every source yields ``(block, arrival)`` pairs: ``block`` is float32 mono at
``sample_rate``; ``arrival`` is the ``time.monotonic()`` at which the last sample
of the block became available (used for latency figures). Resampling (soxr) and
down-mixing happen here so that no later stage cares about the device or file.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from .errors import AudioError

Block = tuple[np.ndarray, float]


def _notice(message: str) -> None:
    print(f"listener: {message}", file=sys.stderr, flush=True)


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
        raise AudioError("no audio input device found (plug in a microphone; see 'listener devices')")
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


class Source:
    """Base class: ``name`` is the log's ``source`` field; iterate ``blocks(stop)``."""

    name: str = ""
    sample_rate: int = 16000
    overruns: int = 0
    duration: float | None = None  # seconds, when known (files)
    live: bool = False  # True when blocks arrive in real time (mic, stdin, paced file)
    started_at: float | None = None  # monotonic time of stream_s == 0 (paced/live sources)

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
    """

    live = True

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int = 16000,
        block_seconds: float = 0.03,
        queue_seconds: float = 10.0,
        stall_seconds: float = 2.0,
        retry_seconds: float = 2.0,
        notice: Callable[[str], None] = _notice,
    ) -> None:
        self._spec = device
        self.sample_rate = int(sample_rate)
        self.block_seconds = block_seconds
        self.stall_seconds = stall_seconds
        self.retry_seconds = retry_seconds
        self.overruns = 0
        self.reconnects = 0
        self._notice = notice
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
            mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
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
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int = 16000,
        realtime: bool = False,
        block_seconds: float | None = None,
    ) -> None:
        import soundfile as sf

        self.name = str(path)
        self.sample_rate = int(sample_rate)
        self.realtime = realtime
        self.live = realtime
        self.overruns = 0
        self.block_seconds = block_seconds or (0.03 if realtime else 8.0)
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
            raise AudioError(f"cannot read audio file '{path}': {reason}") from None
        self.input_rate = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        frames = self._file.frames
        self.duration = frames / self.input_rate if frames and frames > 0 else None

    def blocks(self, stop: threading.Event | None = None) -> Iterator[Block]:
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


class StdinSource(Source):
    """Raw signed 16-bit little-endian PCM on stdin (e.g. from ``arecord``), interleaved
    when ``channels`` > 1 (down-mixed to mono)."""

    live = True

    def __init__(
        self,
        sample_rate: int = 16000,
        input_rate: int = 16000,
        block_seconds: float = 0.03,
        stream=None,
        channels: int = 1,
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
    spec: str,
    sample_rate: int = 16000,
    realtime: bool = True,
    device: int | str | None = None,
    input_rate: int = 16000,
    input_channels: int = 1,
    fallback: str | os.PathLike | None = None,
    notice: Callable[[str], None] = _notice,
    block_seconds: float = 0.03,
) -> Source:
    """Build a source from ``mic`` / ``-`` / a path / ``auto`` (mic, else the ``fallback`` clip).

    ``block_seconds`` is how much audio a live source delivers at a time: shorter
    blocks reach the log sooner, longer ones wake the process less often (CPU).
    """
    paced = block_seconds if realtime else None
    if spec == "auto":
        if device is not None:
            return MicSource(device, sample_rate=sample_rate, block_seconds=block_seconds, notice=notice)
        try:
            has_input = bool(list_input_devices())
        except AudioError:
            has_input = False
        if has_input:
            return MicSource(None, sample_rate=sample_rate, block_seconds=block_seconds, notice=notice)
        if fallback is None:
            raise AudioError("no audio input device found and no sample clip to fall back on")
        notice(
            f"no microphone found; playing the bundled sample clip {fallback} instead (use --source "
            "mic to insist on a microphone)"
        )
        return FileSource(fallback, sample_rate=sample_rate, realtime=realtime, block_seconds=paced)
    if spec == "mic":
        return MicSource(device, sample_rate=sample_rate, block_seconds=block_seconds, notice=notice)
    if spec == "-":
        return StdinSource(
            sample_rate=sample_rate, input_rate=input_rate, channels=input_channels, block_seconds=block_seconds
        )
    return FileSource(spec, sample_rate=sample_rate, realtime=realtime, block_seconds=paced)
