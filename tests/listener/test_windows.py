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


# ---------------------------------------------------------------- sequence (ctc) models

HOP, SPAN = 1600, 4800


def _frames(x, windower, block=480, live=True, hangover_ms=150):
    """Every chunk the windower hands out, fed ``block`` samples at a time, and the gate's active frames."""
    from listener.windows import FrameWindower

    assert isinstance(windower, FrameWindower)
    gate = EnergyGate(RATE, hangover_ms=hangover_ms)
    chunks, active = [], []
    for i in range(0, len(x), block):
        g = gate.process(x[i : i + block])
        active += [g.start_sample + (j + 1) * g.frames.shape[1] for j in np.flatnonzero(g.active)]
        windower.push(g)
        chunks += windower.take(live=live)
    return chunks + windower.flush(), active


def test_frames_are_those_whose_last_hop_and_tail_hold_gated_audio():
    from listener.windows import FrameWindower

    x = np.concatenate([silence(1.0), tone(500, 0.4), silence(1.5), tone(500, 0.3), silence(1.5)])
    for tail in (0, 1600, SPAN - HOP):
        chunks, active = _frames(x, FrameWindower(RATE, HOP, SPAN, tail))
        got = [c.first_frame + i for c in chunks for i in range(c.frames)]
        lo, hi = -(SPAN // HOP), len(x) // HOP
        want = [f for f in range(lo, hi) if any(f * HOP + SPAN - HOP - tail < e <= f * HOP + SPAN for e in active)]
        assert got == want
        # two voiced regions, each ended once (the decoder starts afresh after each)
        assert sum(c.region_ends for c in chunks) == 2
        # each chunk holds exactly the stream's samples of its frames
        for c in [c for c in chunks if c.frames]:
            start = c.first_frame * HOP
            assert len(c.samples) == SPAN + (c.frames - 1) * HOP
            assert np.array_equal(c.samples, x[start : start + len(c.samples)])


def test_live_takes_a_few_frames_per_call_and_analyze_one_call_per_region():
    from listener.windows import FrameWindower

    x = np.concatenate([silence(1.0), tone(500, 1.0), silence(1.5)])
    live, _ = _frames(x, FrameWindower(RATE, HOP, SPAN, 0, frames_per_call=2))
    whole, _ = _frames(x, FrameWindower(RATE, HOP, SPAN, 0), live=False)
    assert [c.frames for c in whole] == [sum(c.frames for c in live)] and whole[0].region_ends
    assert all(c.frames in (0, 1, 2) for c in live) and live[-1].region_ends
    # the same frames, from the same samples, whichever way they were cut
    assert np.array_equal(
        np.concatenate([c.samples[: c.frames * HOP] for c in live if c.frames]),
        whole[0].samples[: whole[0].frames * HOP],
    )
    # a long region is cut at max_frames frames per call
    cut, _ = _frames(x, FrameWindower(RATE, HOP, SPAN, 0, max_frames=4), live=False)
    assert [c.frames for c in cut][:-1] == [4] * (len(cut) - 1) and sum(c.frames for c in cut) == whole[0].frames


def test_a_region_at_the_start_of_the_stream_is_zero_padded_before_it():
    from listener.windows import FrameWindower

    x = np.concatenate([tone(500, 0.3), silence(1.0)])
    chunks, _ = _frames(x, FrameWindower(RATE, HOP, SPAN, 0), live=False)
    first = chunks[0]
    assert first.first_frame < 0 and first.frame_end(0) > 0
    pad = -first.first_frame * HOP
    assert not first.samples[:pad].any() and np.array_equal(first.samples[pad : pad + 1000], x[:1000])


def test_zero_fill_replaces_exact_zeros_only_with_the_same_noise_wherever_the_stream_is_cut():
    from listener.windows import fill_zeros

    x = np.concatenate([np.zeros(3000, np.float32), tone(500, 0.2), np.zeros(5000, np.float32)])
    x[4000] = 0.0  # one zero inside the tone, as a zero crossing or an 8-bit file gives
    whole = fill_zeros(x.copy(), 0, -65.0)
    assert np.array_equal(whole[x != 0], x[x != 0])  # every other sample as it came
    assert not (whole == 0).any()
    rms_db = 20 * np.log10(np.sqrt(np.mean(whole[:3000].astype(np.float64) ** 2)))
    assert abs(rms_db - -65.0) < 0.5
    # cut anywhere, started anywhere: a sample gets the noise of its place in the stream
    cuts = [0, 1, 777, 3000, 6199, 9000, len(x)]
    pieces = [fill_zeros(x[a:b].copy(), 1000 + a, -65.0) for a, b in zip(cuts, cuts[1:])]
    assert np.array_equal(np.concatenate(pieces), fill_zeros(x.copy(), 1000, -65.0))
    assert not np.array_equal(fill_zeros(x.copy(), 1000, -65.0), whole)  # another place, other noise
    before = [fill_zeros(x[a:b].copy(), -2000 + a, -65.0) for a, b in zip(cuts, cuts[1:])]  # the pre-roll too
    assert np.array_equal(np.concatenate(before), fill_zeros(x.copy(), -2000, -65.0))
    assert np.array_equal(fill_zeros(x.copy(), 0, None), x)  # a model without zero_fill_db hears the input as it is


def test_a_zero_fill_model_gets_no_digital_zero_and_the_same_frames_live_and_whole():
    from listener.windows import FrameWindower, fill_zeros

    x = np.concatenate([tone(500, 0.3), np.zeros(RATE, np.float32), tone(700, 0.4), np.zeros(RATE, np.float32)])
    live, _ = _frames(x, FrameWindower(RATE, HOP, SPAN, 0, frames_per_call=2, zero_fill_db=-70.0))
    whole, _ = _frames(x, FrameWindower(RATE, HOP, SPAN, 0, zero_fill_db=-70.0), live=False)
    plain, _ = _frames(x, FrameWindower(RATE, HOP, SPAN, 0), live=False)
    assert [c.first_frame for c in whole] == [c.first_frame for c in plain]  # which frames: the gate's, as before
    for c, p in zip(whole, plain):
        if c.frames:
            start = c.first_frame * HOP
            assert not (c.samples == 0).any() and (p.samples == 0).any()  # the pre-roll and the silences filled
            assert np.array_equal(c.samples, fill_zeros(p.samples.copy(), start, -70.0))
    by_frame = {c.first_frame + i: c.samples[i * HOP : i * HOP + SPAN] for c in whole for i in range(c.frames)}
    for c in live:
        for i in range(c.frames):
            assert np.array_equal(c.samples[i * HOP : i * HOP + SPAN], by_frame[c.first_frame + i])


def test_window_models_with_zero_fill_get_their_padding_filled():
    from listener.windows import fill_zeros

    x = np.concatenate([tone(500, 0.3), silence(1.0), tone(600, 2.0), silence(1.0)])
    (w,) = _run(SpeechWindower(RATE, 1.0, zero_fill_db=-70.0), x[: int(1.3 * RATE)])
    (plain,) = _run(SpeechWindower(RATE, 1.0), x[: int(1.3 * RATE)])
    assert w.start_sample < 0 and not (w.samples == 0).any()  # the stream's pre-roll is noise, not digital zeros
    assert np.array_equal(w.samples, fill_zeros(plain.samples.copy(), plain.start_sample, -70.0))
    sliding = _run(SlidingWindower(RATE, 1.0, 0.5, zero_fill_db=-70.0), x, hangover_ms=0)
    plain_sliding = _run(SlidingWindower(RATE, 1.0, 0.5), x, hangover_ms=0)
    assert len(sliding) == len(plain_sliding) > 2
    assert any((p.samples == 0).any() for p in plain_sliding)
    assert not any((s.samples == 0).any() for s in sliding)
