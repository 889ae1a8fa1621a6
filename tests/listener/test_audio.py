import io
import os
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import wait_for

from listener.audio import (
    FileSource,
    MicSource,
    SourceOptions,
    StdinSource,
    find_input_device,
    list_input_devices,
    open_source,
)
from listener.errors import AudioError, UsageError

RATE = 16000


def sine(freq, seconds, rate, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def collect(source, stop=None):
    return np.concatenate([b for b, _ in source.blocks(stop)])


def peak_hz(x, rate=RATE):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * rate / len(x)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_file_source_resamples_and_downmixes(tmp_path, rate, channels, ext):
    x = sine(1000, 2.0, rate)
    data = x if channels == 1 else np.stack([x, np.zeros_like(x)], axis=1)  # right silent: downmix halves
    path = tmp_path / f"t.{ext}"
    sf.write(path, data, rate)
    src = FileSource(path, RATE)
    y = collect(src)
    assert src.name == str(path) and src.duration == pytest.approx(2.0, abs=1e-3)
    assert abs(len(y) - 2 * RATE) <= 2
    assert peak_hz(y) == pytest.approx(1000, abs=2)
    rms = float(np.sqrt(np.mean(y[RATE // 4 : -RATE // 4] ** 2)))
    expected = 0.5 / np.sqrt(2) / channels
    assert rms == pytest.approx(expected, rel=0.01)


def test_ogg_and_block_sizes_agree(tmp_path):
    x = sine(440, 1.5, 44100, amp=0.3)
    sf.write(tmp_path / "t.ogg", x, 44100)
    big = collect(FileSource(tmp_path / "t.ogg", RATE, block_seconds=8.0))
    small = collect(FileSource(tmp_path / "t.ogg", RATE, block_seconds=0.03))
    assert abs(len(big) - len(small)) <= 1
    n = min(len(big), len(small))
    assert np.allclose(big[:n], small[:n], atol=1e-4)
    assert peak_hz(big) == pytest.approx(440, abs=2)


def test_realtime_file_is_paced(tmp_path):
    sf.write(tmp_path / "t.wav", sine(500, 0.6, RATE), RATE)
    src = FileSource(tmp_path / "t.wav", RATE, realtime=True)
    t0 = time.monotonic()
    arrivals = [a for _, a in src.blocks()]
    assert time.monotonic() - t0 >= 0.55
    assert arrivals[-1] - arrivals[0] >= 0.5


def test_open_source_passes_the_block_size_to_file_and_mic(tmp_path, pulse_sink, monkeypatch):
    # `listener run --block-ms` reaches every live source; an unpaced file keeps its big reads.
    sf.write(tmp_path / "t.wav", sine(500, 0.5, RATE), RATE)
    wav = SourceOptions(source=str(tmp_path / "t.wav"), block_ms=40)
    paced = [len(b) for b, _ in open_source(wav, RATE, realtime=True).blocks()]
    assert set(paced[:-1]) == {640}
    unpaced = [len(b) for b, _ in open_source(wav, RATE, realtime=False).blocks()]
    assert unpaced == [RATE // 2]
    monkeypatch.setenv("PULSE_SOURCE", f"{pulse_sink}.monitor")
    mic = open_source(SourceOptions(source="mic", device="pulse", block_ms=40), RATE)
    sizes = []
    for block, _ in mic.blocks(threading.Event()):
        sizes.append(len(block))
        if len(sizes) == 5:
            break
    mic.close()
    assert sizes == [640] * 5
    # Without --block-ms, every live source takes the options' default block.
    default = [len(b) for b, _ in open_source(SourceOptions(source=str(tmp_path / "t.wav")), RATE).blocks()]
    assert default[0] == round(RATE * SourceOptions.block_ms / 1000)


def test_block_ms_outside_10_to_1000_is_a_usage_error(tmp_path):
    for bad in (5, 5000):
        with pytest.raises(UsageError, match="--block-ms must be between 10 and 1000"):
            open_source(SourceOptions(source=str(tmp_path / "t.wav"), block_ms=bad), RATE)


@pytest.mark.parametrize("rate", [RATE, 44100])
def test_realtime_file_hands_out_live_sized_blocks_of_the_same_audio(tmp_path, rate):
    # Paced playback reads a second at a time but must still deliver live-sized blocks,
    # one every block_ms, with exactly the samples an unpaced read gives.
    sf.write(tmp_path / "t.wav", sine(500, 1.3, rate), rate)
    got = list(FileSource(tmp_path / "t.wav", RATE, realtime=True, block_seconds=0.03).blocks())
    sizes = [len(b) for b, _ in got]
    assert set(sizes[:-1]) == {480} and 0 < sizes[-1] <= 480
    steps = np.diff([a for _, a in got])
    assert np.median(steps) == pytest.approx(0.03, abs=0.005)
    paced = np.concatenate([b for b, _ in got])
    unpaced = collect(FileSource(tmp_path / "t.wav", RATE))
    assert abs(len(paced) - len(unpaced)) <= 1
    n = min(len(paced), len(unpaced))
    assert np.allclose(paced[:n], unpaced[:n], atol=1e-4)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "cannot read"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 7, "cannot read"),
        (b"hello" * 100, "cannot read"),
    ],
)
def test_bad_files_raise_audio_error(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=message):
        collect(FileSource(path, RATE))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        FileSource(tmp_path / "nope.wav", RATE)
    with pytest.raises(AudioError, match="directory"):
        FileSource(tmp_path, RATE)


class OddPipe(io.RawIOBase):
    """A pipe that hands out odd-sized chunks, as real pipes may."""

    def __init__(self, data: bytes):
        self.data, self.pos, self.sizes = data, 0, [1, 333, 7, 1000]

    def read(self, n=-1):
        size = min(n, self.sizes[self.pos % 4])
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk

    def readable(self):
        return True


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_stdin_pcm_at_any_rate(rate, channels):
    x = sine(1000, 1.0, rate)
    frames = x[:, None] if channels == 1 else np.stack([x, x], axis=1)  # interleaved stereo
    pcm = (frames * 32767).astype("<i2").tobytes()
    src = StdinSource(RATE, input_rate=rate, stream=OddPipe(pcm), channels=channels)
    y = collect(src)
    assert src.name == "stdin"
    assert abs(len(y) - RATE) <= 2
    assert peak_hz(y) == pytest.approx(1000, abs=2)
    assert float(np.sqrt(np.mean(y[2000:-2000] ** 2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_open_source_specs(tmp_path):
    sf.write(tmp_path / "t.wav", sine(500, 0.2, RATE), RATE)
    assert isinstance(open_source(SourceOptions(source=str(tmp_path / "t.wav")), RATE), FileSource)
    assert isinstance(
        open_source(SourceOptions(source="-"), RATE) if not os.isatty(0) else StdinSource(RATE, stream=io.BytesIO()),
        StdinSource,
    )


# ------------------------------------------------------------ real PortAudio via PulseAudio


def test_devices_by_name_and_index(pulse_sink):
    devices = list_input_devices()
    pulse = [d for d in devices if d.name == "pulse"]
    assert pulse and pulse[0].default_samplerate > 0 and pulse[0].max_input_channels >= 1
    assert find_input_device("PUL").name == "pulse"
    assert find_input_device(str(pulse[0].index)).index == pulse[0].index
    with pytest.raises(AudioError, match="no input device matching 'usb-mic-x'"):
        find_input_device("usb-mic-x")
    with pytest.raises(AudioError, match="index 999"):
        find_input_device(999)


def capture_while_playing(src: MicSource, sink: str, wav, seconds: float) -> np.ndarray:
    """Read the mic for ``seconds`` while paplay plays ``wav`` into the sink it listens to."""
    got, player, t0 = [], None, 0.0
    for block, _ in src.blocks(threading.Event()):
        got.append(block)
        if player is None:  # audio flows: start playing
            player = subprocess.Popen(["paplay", f"--device={sink}", str(wav)])
            t0 = time.monotonic()
        if time.monotonic() - t0 > seconds:
            break
    player.wait(10)
    src.close()
    return np.concatenate(got)


@pytest.mark.slow
def test_mic_captures_what_is_played(pulse_sink, tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_SOURCE", f"{pulse_sink}.monitor")
    sf.write(tmp_path / "tone.wav", sine(1000, 1.5, RATE, amp=0.5), RATE)
    src = MicSource("pulse", RATE)
    y = capture_while_playing(src, pulse_sink, tmp_path / "tone.wav", 2.5)
    assert src.name == "mic:pulse"
    assert 1.8 * RATE < len(y) < 3.2 * RATE  # real time, at the model rate
    loud = y[np.abs(y) > 0.1]
    assert len(loud) > 0.5 * RATE
    assert peak_hz(y) == pytest.approx(1000, abs=3)


def test_mic_overruns_are_counted_not_fatal(pulse_sink, monkeypatch):
    monkeypatch.setenv("PULSE_SOURCE", f"{pulse_sink}.monitor")
    src = MicSource("pulse", RATE, block_seconds=0.01, queue_seconds=0.05)
    # Nobody reads, so the bounded queue (5 blocks) fills once audio flows. A device
    # can take a second or more to start delivering on a loaded machine (CI once saw
    # no overrun within a fixed 0.6 s), so wait for the first one.
    assert wait_for(lambda: src.overruns > 0, 10.0)
    stop = threading.Event()
    n = 0
    for _block, _ in src.blocks(stop):
        n += 1
        if n > 20:
            break
    src.close()
    assert n > 20


@pytest.mark.slow
def test_mic_that_stops_delivering_is_retried(pulse_sink, monkeypatch):
    monkeypatch.setenv("PULSE_SOURCE", f"{pulse_sink}.monitor")
    notices = []
    src = MicSource("pulse", RATE, stall_seconds=0.5, retry_seconds=0.2, notice=notices.append)
    stop = threading.Event()
    n = 0
    for _block, _ in src.blocks(stop):
        n += 1
        if n == 5:
            src._stream.stop()  # the device goes silent, as an unplugged USB mic does
        if src.reconnects and n > 30:
            break
    src.close()
    assert src.reconnects == 1
    assert "stopped delivering audio; retrying" in notices[0] and "is back" in notices[1]


def test_no_device_is_an_audio_error(monkeypatch):
    monkeypatch.setattr("listener.audio.list_input_devices", lambda rescan=False: [])
    with pytest.raises(AudioError, match="no audio input device"):
        find_input_device(None)


@pytest.mark.slow
def test_mic_that_refuses_16k_is_opened_at_its_native_rate_and_resampled(pulse_sink, tmp_path, monkeypatch):
    import sounddevice as sd

    monkeypatch.setenv("PULSE_SOURCE", f"{pulse_sink}.monitor")
    real_check = sd.check_input_settings

    def only_native(device=None, channels=None, dtype=None, extra_settings=None, samplerate=None):
        if samplerate is not None and int(samplerate) == RATE:  # like a USB mic that only does 44.1/48 kHz
            raise sd.PortAudioError("Invalid sample rate")
        return real_check(device=device, channels=channels, dtype=dtype, samplerate=samplerate)

    monkeypatch.setattr(sd, "check_input_settings", only_native)
    sf.write(tmp_path / "tone.wav", sine(1500, 1.5, 44100, amp=0.5), 44100)
    src = MicSource("pulse", RATE)
    assert src.capture_rate != RATE and src.capture_rate == int(src.device.default_samplerate)
    y = capture_while_playing(src, pulse_sink, tmp_path / "tone.wav", 2.0)
    assert 1.5 * RATE < len(y) < 2.8 * RATE  # delivered at the model rate
    assert peak_hz(y) == pytest.approx(1500, abs=3)


def feed_watch(watch, x, rate=RATE, block=960):
    return [i for i in range(0, len(x), block) if watch.push(x[i : i + block], rate)]


def test_silence_watch_tells_digital_silence_once_per_stretch():
    from listener.audio import SilenceWatch

    w = SilenceWatch(seconds=3.0)
    fired = feed_watch(w, np.zeros(7 * RATE, np.float32))
    assert [i / RATE for i in fired] == [pytest.approx(2.94, abs=0.061)]  # once, at 3 s, not again at 6 s
    assert w.silent_from_start
    w = SilenceWatch(seconds=3.0)
    x = np.concatenate([sine(440, 0.5, RATE, 0.01), np.zeros(4 * RATE, np.float32)])
    assert len(feed_watch(w, x)) == 1 and not w.silent_from_start  # heard something first


@pytest.mark.parametrize(
    "what, make",
    [
        # a 16-bit input in a silent room: noise under one step, quantised: mostly zeros, some +-1 LSB
        ("16-bit, -96 dBFS RMS", lambda rng: np.round(rng.normal(0, 10 ** (-96 / 20) * 32767, 10 * RATE)) / 32768),
        # a quiet 24-bit MEMS microphone (SNR 65 dB at -38 dBFS sensitivity: noise near -103 dBFS RMS)
        ("24-bit, -103 dBFS RMS", lambda rng: np.round(rng.normal(0, 10 ** (-103 / 20) * 2**23, 10 * RATE)) / 2**23),
    ],
)
def test_silence_watch_does_not_take_a_quiet_real_microphone_for_silence(what, make):
    from listener.audio import SilenceWatch

    x = make(np.random.default_rng(7)).astype(np.float32)
    w = SilenceWatch(seconds=3.0)
    assert feed_watch(w, x) == [] and w.heard, what


def test_replace_nonfinite_counts_and_finds_the_first():
    from listener.audio import replace_nonfinite

    x = np.zeros((10, 2), np.float32)
    x[3, 1], x[7, 0], x[7, 1] = np.nan, np.inf, -np.inf
    y, n, first = replace_nonfinite(x)
    assert n == 3 and first == 3 and np.isfinite(y).all() and y.dtype == np.float32
    z, n, first = replace_nonfinite(np.ones(5, np.float32))
    assert n == 0 and first == -1 and (z == 1).all()
