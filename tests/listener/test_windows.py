import numpy as np
from conftest import tone

from listener.gate import EnergyGate
from listener.windows import SlidingWindower, SpeechWindower

RATE = 16000


def _run(windower, x, block=480, hangover_ms=150):
    gate = EnergyGate(RATE, hangover_ms=hangover_ms)
    out = []
    for i in range(0, len(x), block):
        out += windower.push(gate.process(x[i : i + block]))
    return out + windower.flush()


def silence(s):
    return np.zeros(int(s * RATE), np.float32)


def test_short_utterance_gives_one_window_that_holds_all_of_it():
    x = np.concatenate([silence(1.0), tone(500, 0.4), silence(1.0)])
    (w,) = _run(SpeechWindower(RATE, 1.0), x)
    assert len(w.samples) == RATE
    assert np.sum(w.samples**2) > 0.99 * np.sum(tone(500, 0.4) ** 2)  # the whole tone is in it
    # utterance ends at 1.4 s; window ends no later than the gate closing (no waiting)
    # (one 30 ms frame of rounding on each side of the 150 ms hangover)
    assert 1.4 <= (w.start_sample + RATE) / RATE <= 1.4 + 0.15 + 0.06 + 1e-9
    assert abs(w.speech_end_sample / RATE - 1.4) <= 0.03


def test_window_is_centred_when_the_audio_after_it_is_there():
    x = np.concatenate([silence(1.0), tone(500, 0.9), silence(1.0)])
    (w,) = _run(SpeechWindower(RATE, 1.0), x, hangover_ms=300)
    assert abs(w.centre_s - 1.45) < 0.04


def test_long_utterance_takes_the_loudest_second():
    x = np.concatenate([silence(0.5), tone(500, 1.0, amp=0.05), tone(500, 1.0, amp=0.5), silence(1.0)])
    (w,) = _run(SpeechWindower(RATE, 1.0, max_utterance_s=3.0), x)
    assert abs(w.start_sample / RATE - 1.5) < 0.05


def test_pause_longer_than_hangover_splits_and_shorter_merges():
    two = np.concatenate([silence(0.5), tone(500, 0.3), silence(0.3), tone(500, 0.3), silence(1.0)])
    assert len(_run(SpeechWindower(RATE, 1.0), two, hangover_ms=150)) == 2
    assert len(_run(SpeechWindower(RATE, 1.0), two, hangover_ms=450)) == 1


def test_clicks_are_dropped_and_endless_sound_is_cut():
    click = np.concatenate([silence(0.5), tone(500, 0.03), silence(1.0)])
    assert _run(SpeechWindower(RATE, 1.0, min_voiced_ms=100), click) == []  # at most 2 frames of 30 ms
    endless = np.concatenate([silence(0.5), tone(500, 5.0), silence(0.5)])
    windows = _run(SpeechWindower(RATE, 1.0, max_utterance_s=2.0), endless)
    assert len(windows) >= 2


def test_utterance_at_stream_start_is_zero_padded():
    x = np.concatenate([tone(500, 0.3), silence(1.0)])
    (w,) = _run(SpeechWindower(RATE, 1.0), x)
    assert w.start_sample < 0 and np.all(w.samples[: -w.start_sample] == 0)


def test_sliding_windows_every_hop_while_open_only():
    x = np.concatenate([silence(2.0), tone(500, 2.0), silence(2.0)])
    win = SlidingWindower(RATE, 1.0, hop_seconds=0.25)
    ws = _run(win, x, hangover_ms=0)
    centres = np.array([w.centre_s for w in ws])
    assert 7 <= len(ws) <= 10
    assert np.allclose(np.diff(centres), 0.25, atol=0.031)
    assert centres.min() > 1.4 and centres.max() < 3.7
    win.set_hop(0.5)
    assert win.hop == RATE // 2
