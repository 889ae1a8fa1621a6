import threading

import numpy as np
import pytest
import soundfile as sf
from conftest import tone

from listener.config import PipelineOptions, load_config
from listener.contract import ModelInfo
from listener.errors import UsageError
from listener.gate import VAD_TARGET_DB, EnergyGate, RecentPeak, VadGate, gate_for, level_db

RATE = 16000


def test_level_db_of_full_scale_sine_is_minus_3():
    sine = np.sin(2 * np.pi * 1000 * np.arange(1600) / RATE).astype(np.float32)
    assert level_db(sine[None, :])[0] == pytest.approx(-3.01, abs=0.05)
    assert level_db(0.1 * sine[None, :])[0] == pytest.approx(-23.01, abs=0.05)


def test_vad_marks_speech_and_not_silence(speech_dir):
    word, _ = sf.read(speech_dir / "seven.wav", dtype="float32")
    x = np.concatenate([np.zeros(RATE, np.float32), word, np.zeros(RATE, np.float32)])
    g = VadGate(RATE, aggressiveness=2, frame_ms=30, hangover_ms=0).process(x)
    times = np.arange(len(g.voiced)) * 0.03
    speech = (times >= 1.0) & (times + 0.03 <= 1.0 + len(word) / RATE)
    assert g.voiced[speech].mean() > 0.6
    assert not g.voiced[times + 0.03 < 0.9].any()
    assert not g.voiced[times > 1.0 + len(word) / RATE + 0.3].any()


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_hangover_keeps_gate_open_exactly_that_long(speech_dir, frame_ms):
    word, _ = sf.read(speech_dir / "two.wav", dtype="float32")
    x = np.concatenate([np.zeros(RATE // 2, np.float32), word, np.zeros(RATE, np.float32)])
    g = VadGate(RATE, frame_ms=frame_ms, hangover_ms=150).process(x)
    last_voiced = np.flatnonzero(g.voiced)[-1]
    last_active = np.flatnonzero(g.active)[-1]
    assert last_active - last_voiced == round(150 / frame_ms)
    assert g.active[g.voiced].all()


def test_block_boundaries_do_not_change_decisions(speech_dir):
    x, _ = sf.read(speech_dir / "phrase.wav", dtype="float32")
    whole = VadGate(RATE).process(x)
    gate = VadGate(RATE)
    parts = [gate.process(x[i : i + 777]) for i in range(0, len(x), 777)]
    active = np.concatenate([p.active for p in parts])
    assert np.array_equal(active, whole.active[: len(active)])
    assert parts[1].start_sample == parts[0].start_sample + parts[0].frames.size


def test_vad_rejects_bad_settings():
    with pytest.raises(UsageError):
        VadGate(RATE, aggressiveness=4)
    with pytest.raises(UsageError):
        VadGate(RATE, frame_ms=25)
    with pytest.raises(UsageError):
        VadGate(22050)


def test_vad_level_change_from_another_thread_is_applied():
    gate = VadGate(RATE, aggressiveness=0)
    t = threading.Thread(target=gate.set_aggressiveness, args=(3,))
    t.start()
    t.join()
    gate.process(np.zeros(480, np.float32))
    assert gate.aggressiveness == 3
    with pytest.raises(UsageError):
        gate.set_aggressiveness(7)


def test_energy_gate_opens_on_a_sound_and_adapts_to_steady_noise():
    rng = np.random.default_rng(0)
    gate = EnergyGate(RATE, hangover_ms=0)
    quiet = gate.process(np.zeros(RATE, np.float32))
    assert not quiet.active.any()
    noise = (rng.standard_normal(12 * RATE) * 0.03).astype(np.float32)  # about -30 dBFS
    g = gate.process(noise)
    assert g.active[:10].all(), "a new noise opens the gate"
    assert not g.active[-30:].any(), "steady noise closes it again within 12 s"
    louder = noise[:RATE] + tone(1000, 1.0, amp=0.5)
    assert gate.process(louder).active[2:-2].all(), "a sound well above the noise opens it"


def test_vad_does_not_take_room_noise_for_speech(speech_dir):
    word, _ = sf.read(speech_dir / "four.wav", dtype="float32")
    rng = np.random.default_rng(1)
    x = np.concatenate([np.zeros(RATE, np.float32), word, np.zeros(2 * RATE, np.float32)])
    x += (rng.standard_normal(len(x)) * 10 ** (-60 / 20)).astype(np.float32)  # -60 dBFS room noise throughout
    g = VadGate(RATE, aggressiveness=2, hangover_ms=0).process(x)
    voiced_s = np.flatnonzero(g.voiced) * 0.03
    word_end = 1.0 + len(word) / RATE
    assert voiced_s.min() >= 0.9 and voiced_s.max() <= word_end + 0.06
    assert g.voiced.sum() * 0.03 >= 0.5 * len(word) / RATE


def at_peak(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x / np.abs(x).max() * 10 ** (dbfs / 20)).astype(np.float32)


@pytest.mark.parametrize("word", ["four", "six", "three"])
@pytest.mark.parametrize("dbfs", [-40, -30, -20])
@pytest.mark.parametrize("pad_s", [0.0, 0.5])
def test_a_quiet_word_opens_the_gate_even_with_no_silence_around_it(speech_dir, word, dbfs, pad_s):
    """A clip cut tight around a word (FSDD-style) has no background to learn first: the
    floor starts at most at -65 dBFS and webrtcvad has been shown a quiet background."""
    x, _ = sf.read(speech_dir / f"{word}.wav", dtype="float32")  # trimmed to the word
    pad = np.zeros(int(pad_s * RATE), np.float32)
    g = VadGate(RATE).process(np.concatenate([pad, at_peak(x, dbfs), pad]))
    assert g.voiced.sum() * 30 >= 120, f"{word} at {dbfs} dBFS: {g.voiced.astype(int)}"


def test_the_gate_start_does_not_take_steady_noise_for_speech():
    """The other side of starting low: a stream that begins in steady noise at -45 dBFS
    (a loud fan) is let through for a moment at most, then the floor has caught up."""
    rng = np.random.default_rng(3)
    noise = (rng.normal(0, 1, 6 * RATE) * 10 ** (-45 / 20)).astype(np.float32)
    g = VadGate(RATE).process(noise)
    late = np.arange(len(g.voiced)) * 0.03 > 3.0
    assert not g.voiced[late].any()


def test_vad_priming_gives_the_same_decisions_every_time(speech_dir):
    x, _ = sf.read(speech_dir / "four.wav", dtype="float32")
    runs = [VadGate(RATE).process(at_peak(x, -40)).voiced for _ in range(3)]
    assert all((r == runs[0]).all() for r in runs)


def test_recent_peak_lifts_quiet_frames_to_the_target_and_leaves_loud_ones():
    peak = RecentPeak(frame_ms=30, decay_db_per_s=3.0)
    gains = peak.gains(np.array([-80.0, -50.0, -20.0, -25.0], np.float32), target_db=-35.0, max_gain_db=30.0)
    assert gains.tolist() == [30.0, 15.0, 0.0, 0.0]  # capped; a quiet talker lifted; a loud one left as it is
    silence = peak.gains(np.full(600, -90.0, np.float32), target_db=-35.0, max_gain_db=30.0)  # 18 s of silence
    # the peak (-20.09 after the -25 dB frame) falls 0.09 dB a frame: no gain for 5 s, then up to the cap
    assert silence[0] == 0.0 and silence[150] == 0.0 and silence[-1] == 30.0
    assert silence[300] == pytest.approx(-35.0 - (-20.09 - 0.09 * 301), abs=1e-3)


def test_a_quiet_talker_is_heard_as_a_normal_one(speech_dir):
    """A string said 25 dB quieter than usual (a microphone with its gain turned down): webrtcvad
    hears it lifted, the frames the model gets are the audio as it was."""
    x, _ = sf.read(speech_dir / "phrase.wav", dtype="float32")
    rng = np.random.default_rng(4)
    noise = (rng.standard_normal(len(x)) * 10 ** (-80 / 20)).astype(np.float32)
    normal = VadGate(RATE).process(at_peak(x, -20) + noise).voiced.sum()
    quiet_audio = at_peak(x, -45) + noise
    heard = VadGate(RATE).process(quiet_audio)
    unlifted = VadGate(RATE, target_db=None).process(quiet_audio).voiced.sum()
    assert heard.voiced.sum() >= 0.6 * normal > unlifted, (normal, heard.voiced.sum(), unlifted)
    assert np.array_equal(heard.frames.ravel(), quiet_audio[: heard.frames.size])


def test_the_vad_gain_is_a_config_knob_the_gate_follows(tmp_path):
    (tmp_path / "c.toml").write_text("vad_gain = false\n")
    off = PipelineOptions(**load_config(tmp_path / "c.toml"))
    info = ModelInfo(labels=["a", "b"], sample_rate=RATE, window_seconds=1.0, kind="speech", gate="vad")
    assert gate_for(info, off).target_db is None
    assert gate_for(info, PipelineOptions()).target_db == VAD_TARGET_DB  # on unless a file turns it off
    assert gate_for(info, PipelineOptions(gate="energy")).__class__ is EnergyGate  # sounds: no webrtcvad
