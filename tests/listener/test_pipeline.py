import json
import threading
import time

import numpy as np
import pytest
from conftest import make_ctc_model, make_test_model, read_jsonl, tone

from listener.audio import FileSource
from listener.classifier import Classifier
from listener.config import PipelineOptions
from listener.errors import UsageError
from listener.pipeline import Pipeline, build_pipeline, run_stream

RATE = 16000


def silence(s):
    return np.zeros(int(s * RATE), np.float32)


def two_tones():
    return np.concatenate([silence(0.5), tone(300, 0.5), silence(1.0), tone(4000, 0.5), silence(1.0)])


def feed_all(pipeline: Pipeline, x: np.ndarray, block: int = 480, arrival: bool = False):
    out = []
    for i in range(0, len(x), block):
        out += pipeline.feed(x[i : i + block], time.monotonic() if arrival else None)
    return out + pipeline.finish()


def test_detections_callbacks_and_log(test_model, tmp_path):
    blocks, windows, dets = [], [], []
    log = tmp_path / "d.jsonl"
    p = build_pipeline(
        PipelineOptions(model=str(test_model), gate="energy", log=str(log)),
        "synthetic",
        on_block=blocks.append,
        on_window=windows.append,
        on_detection=dets.append,
    )
    out = feed_all(p, two_tones())
    p.close()
    assert [d.label for d in out] == ["low", "high"]
    assert [d.stream_s for d in out] == pytest.approx([0.75, 2.25], abs=0.05)
    assert dets == out and len(windows) == 2 and windows[0].detection is out[0]
    assert windows[0].features.shape == (1, 100) and windows[0].labels == ["low", "high", "silence"]
    assert any(b.active for b in blocks) and not blocks[0].active and blocks[0].level_db < -100
    rows = read_jsonl(log)
    assert [r["label"] for r in rows] == ["low", "high"] and rows[0]["source"] == "synthetic"
    assert rows[0]["model"] == "testmodel-0.1" and rows[0]["latency_ms"] is None


def test_live_arrival_times_give_latency(test_model):
    p = build_pipeline(PipelineOptions(model=str(test_model), gate="energy", hangover_ms=90), "live")
    out = feed_all(p, two_tones(), arrival=True)
    assert len(out) == 2
    # fed faster than real time, the gate's hangover (90 ms of audio) has not "happened" yet: small latency
    assert all(d.latency_ms is not None and -200 < d.latency_ms < 200 for d in out)


def test_threshold_and_vad_changes_from_another_thread(test_model):
    p = build_pipeline(PipelineOptions(model=str(test_model), gate="energy"), "x")
    t = threading.Thread(target=p.set_threshold, args=(1.0,))
    t.start()
    t.join()
    x = np.concatenate([silence(0.5), tone(300, 0.5, amp=0.001), silence(1.0)])  # a faint tone: not sure enough
    assert p.decider.threshold == 1.0
    assert feed_all(p, x) == []
    with pytest.raises(UsageError):
        p.set_vad(9)


def test_big_blocks_and_batching_give_the_same_windows(test_model):
    c = Classifier(test_model)
    x = np.concatenate([two_tones()] * 4)
    a, b = [], []
    one = feed_all(build_pipeline(PipelineOptions(gate="energy"), "x", classifier=c, on_window=a.append), x)
    many = feed_all(
        build_pipeline(PipelineOptions(gate="energy", batch_size=32), "x", classifier=c, on_window=b.append),
        x,
        block=8 * RATE,
    )
    assert [(d.label, d.stream_s) for d in one] == [(d.label, d.stream_s) for d in many] and len(one) == 8
    assert len(a) == len(b) == 8
    for wa, wb in zip(a, b):  # the very same audio went into the model
        assert np.allclose(wa.probs, wb.probs, atol=1e-6) and np.allclose(wa.features, wb.features, atol=1e-7)


def test_sound_model_sliding_windows_merge_into_one_event_and_hop_change(tmp_path):
    model = make_test_model(tmp_path, kind="sound", metadata={"hop_seconds": "0.25"})
    windows = []
    p = build_pipeline(PipelineOptions(model=str(model)), "x", on_window=windows.append)
    x = np.concatenate([silence(1.0), tone(300, 3.0), silence(1.0)])
    dets = feed_all(p, x)
    assert 10 <= len(windows) <= 16
    # one 3 s sound, one detection: from the centre of its first accepted window to that of its last
    (event,) = dets
    assert event.label == "low" and 0.5 <= event.stream_s <= 1.3 and 3.7 <= event.end_s <= 4.3
    p2 = build_pipeline(PipelineOptions(model=str(model)), "x", on_window=windows.append)
    windows.clear()
    p2.set_hop(0.5)
    feed_all(p2, x)
    assert 5 <= len(windows) <= 9


def test_run_stream_duration_and_stop(test_model, tmp_path):
    import soundfile as sf

    wav = tmp_path / "t.wav"
    sf.write(wav, np.concatenate([two_tones()] * 3), RATE)
    opts = PipelineOptions(model=str(test_model), gate="energy")
    stats = run_stream(FileSource(wav, RATE), build_pipeline(opts, str(wav)), realtime=False, duration=3.0)
    assert stats.seconds == pytest.approx(3.0) and stats.detections == 2 and stats.labels == {"low": 1, "high": 1}
    stop = threading.Event()
    stop.set()
    stats = run_stream(FileSource(wav, RATE, realtime=True), build_pipeline(opts, str(wav)), stop)
    assert stats.seconds == 0.0


def test_bad_options_are_usage_errors(test_model):
    with pytest.raises(UsageError):
        build_pipeline(PipelineOptions(model=str(test_model), threshold=2.0))
    with pytest.raises(UsageError):
        build_pipeline(PipelineOptions(model=str(test_model), gate="loud"))


def test_analyze_array_is_the_fed_pipeline(test_model):
    """analyze_array (what training and export score with) = feeding the same pipeline block by block."""
    from listener.pipeline import analyze_array, gated_windows

    c = Classifier(test_model)
    x = np.concatenate([two_tones()] * 2)
    windows = []
    fed = feed_all(build_pipeline(PipelineOptions(gate="energy"), "x", classifier=c, on_window=windows.append), x)
    result = analyze_array(x, c, PipelineOptions(gate="energy"))
    assert [(d.label, d.stream_s) for d in result.detections] == [(d.label, d.stream_s) for d in fed]
    assert len(result.windows) == len(windows) == 4
    assert all(np.array_equal(a.probs, b.probs) for a, b in zip(result.windows, windows))
    # the same windows without the model: where they are, and what they hold
    plain = gated_windows(x, c.info, PipelineOptions(gate="energy"))
    assert [round(w.centre_s, 3) for w in plain] == [round(w.stream_s, 3) for w in windows]
    assert all(np.array_equal(w.samples, x[max(0, w.start_sample) : w.start_sample + 16000]) for w in plain)


# ---------------------------------------------------------------- sequence (ctc) models


# "1 2 1 1" said in one breath (two equal digits with a short pause between them), a pause,
# then "2" at the very end of the stream: the ctc test model hears low -> "1", high -> "2".
def digit_string():
    return np.concatenate(
        [
            silence(0.6),
            tone(300, 0.4),
            silence(0.15),
            tone(3000, 0.4),
            silence(0.15),
            tone(300, 0.3),
            silence(0.35),  # longer than a frame's audio (0.3 s): a blank frame between the equal digits
            tone(300, 0.3),
            silence(2.0),
            tone(3000, 0.4),
        ]
    )


@pytest.mark.parametrize("context", [False, True], ids=["stateless", "carried-rows"])
def test_ctc_frames_streamed_in_any_blocks_are_the_frames_of_one_call_per_region(tmp_path, context):
    """Exactness: each output frame is computed once, from the same samples, live or not (with
    ``frame_context``, the live calls after a region's first get carried rows and less audio)."""
    from listener.pipeline import gated_chunks

    c = Classifier(make_ctc_model(tmp_path, context=context))
    assert c.context_rows == (2 if context else 0)
    calls = []
    if context:
        real = c.predict_frames
        c.predict_frames = lambda samples, rows: calls.append(rows is not None) or real(samples, rows)
    x = digit_string()
    whole = {}
    for chunk in gated_chunks(x, c.info):  # what listener analyze computes: one call per region
        if chunk.frames:
            probs, _ = c.predict(chunk.samples[None, :])
            assert probs.shape == (1, chunk.frames, 4)
            for i in range(chunk.frames):
                whole[min(chunk.frame_end(i), len(x))] = probs[0, i]
    assert len(whole) > 20
    for block, live, per_call in [(480, True, 1), (1000, True, 2), (7777, True, 3), (3 * RATE, False, None)]:
        frames = []
        p = build_pipeline(PipelineOptions(frames_per_call=per_call), "x", classifier=c, on_window=frames.append)
        feed_all(p, x, block=block, arrival=live)
        got = {int(round(w.stream_s * RATE)): w.probs for w in frames}
        assert got.keys() == whole.keys(), (block, live)
        assert all(np.allclose(got[k], whole[k], atol=1e-5) for k in whole)
    if context:  # carried rows were used, and not on every call (a region's first call has none)
        assert any(calls) and not all(calls)


def test_ctc_each_digit_is_its_own_detection_in_order_and_a_pause_ends_the_sequence(ctc_model, tmp_path):
    from listener.pipeline import analyze_array

    log = tmp_path / "d.jsonl"
    result = analyze_array(digit_string(), Classifier(ctc_model), PipelineOptions(log=str(log)))
    dets = result.detections
    assert [d.label for d in dets] == ["low", "high", "low", "low", "high"]
    # each at the end of the audio of the frame where it was decided: after its tone began, within
    # a frame (0.1 s) of the first frame that saw 0.1 s of it; the last one, never after the stream's end
    starts = [0.6, 1.15, 1.7, 2.35, 4.65]
    assert all(s < d.stream_s <= s + 0.35 for s, d in zip(starts, dets))
    assert dets[-1].stream_s <= len(digit_string()) / RATE
    assert [(s.digits, s.labels) for s in result.sequences] == [
        ("1211", ["low", "high", "low", "low"]),
        ("2", ["high"]),
    ]
    first = result.sequences[0]
    assert (first.stream_s, first.end_s) == (dets[0].stream_s, dets[3].stream_s)
    assert first.confidence == min(d.confidence for d in dets[:4])
    # the log: each digit as it came, the string once its pause has passed, before the next digit
    rows = read_jsonl(log)
    assert [r["type"] for r in rows] == ["detection"] * 4 + ["sequence", "detection", "sequence"]
    assert rows[4]["digits"] == "1211" and rows[4]["model"] == "ctcmodel-0.1" and rows[4]["source"] == "array"


def test_ctc_a_shorter_pause_option_splits_the_string(ctc_model):
    from listener.pipeline import analyze_array

    # the digits are decided at 0.7, 1.3, 1.8, 2.4 and 4.7 s
    result = analyze_array(digit_string(), Classifier(ctc_model), PipelineOptions(sequence_pause=0.55))
    assert [s.digits for s in result.sequences] == ["1", "21", "1", "2"]  # pauses of 0.6, 0.5, 0.6 s
    with pytest.raises(UsageError, match="--sequence-pause"):
        analyze_array(digit_string(), Classifier(ctc_model), PipelineOptions(sequence_pause=0.0))


def test_ctc_run_on_a_paced_file_logs_what_analyze_logs(ctc_model, tmp_path):
    import soundfile as sf

    from listener.pipeline import analyze_array

    wav = tmp_path / "s.wav"
    sf.write(wav, digit_string(), RATE, subtype="FLOAT")
    c = Classifier(ctc_model)
    seqs, written = [], []
    p = build_pipeline(PipelineOptions(), str(wav), classifier=c, on_sequence=seqs.append, on_detection=written.append)
    stats = run_stream(FileSource(wav, RATE, realtime=True, block_seconds=0.06), p, realtime=True)
    ref = analyze_array(digit_string(), c, source_name=str(wav))
    assert [(d.label, d.stream_s) for d in written] == [(d.label, d.stream_s) for d in ref.detections]
    assert [(s.digits, s.stream_s, s.end_s) for s in seqs] == [(s.digits, s.stream_s, s.end_s) for s in ref.sequences]
    assert stats.sequences == 2 and stats.detections == 5 and stats.windows == len(ref.windows)
    # live: each digit logged within a few frames of its decision; the string about its pause after its last digit
    assert all(d.latency_ms is not None and d.latency_ms < 300 for d in written)
    assert 1000 <= seqs[0].latency_ms < 1400


def test_ctc_threshold_from_the_metadata_per_label_and_from_the_user(tmp_path):
    from conftest import make_ctc_model

    from listener.pipeline import analyze_array

    strict = make_ctc_model(tmp_path, metadata={"thresholds": json.dumps({"high": 1.0})})
    c = Classifier(strict)
    assert [d.label for d in analyze_array(digit_string(), c).detections] == ["low", "low", "low"]
    given = analyze_array(digit_string(), c, PipelineOptions(threshold=0.5)).detections
    assert [d.label for d in given] == ["low", "high", "low", "low", "high"]


# ---------------------------------------------------------------- sound events and thresholds


def test_window_model_thresholds_come_from_the_metadata_per_label(tmp_path):
    from listener.pipeline import analyze_array

    model = make_test_model(tmp_path, metadata={"thresholds": json.dumps({"high": 1.0})})
    c = Classifier(model)
    assert [d.label for d in analyze_array(two_tones(), c, PipelineOptions(gate="energy")).detections] == ["low"]
    both = analyze_array(two_tones(), c, PipelineOptions(gate="energy", threshold=0.6)).detections
    assert [d.label for d in both] == ["low", "high"]


def test_sound_events_noise_and_other_sounds_log_nothing_while_a_sound_of_a_class_logs_one_event(tmp_path):
    """The runtime half of issue 14's end-to-end test, with a test model whose `other` label is a reject
    label: high tones and noise are `other`, a low tone is the class."""
    from listener.pipeline import analyze_array

    model = make_test_model(
        tmp_path, ["low", "other", "silence"], kind="sound", metadata={"reject_labels": '["other", "silence"]'}
    )
    c = Classifier(model)
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(3 * RATE) * 0.1).astype(np.float32)
    beeps = np.concatenate([silence(1.0), tone(3000, 0.8), silence(0.5), noise, silence(0.5), tone(3800, 2.0)])
    assert analyze_array(beeps, c).detections == []
    clip = np.concatenate([silence(1.0), tone(300, 2.2), silence(1.0)])  # a 2.2 s "bark"
    (event,) = analyze_array(clip, c).detections
    assert event.label == "low" and event.end_s - event.stream_s == pytest.approx(2.2, abs=0.5)
    # the same sound followed by an `other` one: the other ends the event, and logs nothing
    both = analyze_array(np.concatenate([silence(1.0), tone(300, 2.2), tone(3000, 2.0), silence(1.0)]), c)
    (event2,) = both.detections
    assert event2.label == "low" and event2.end_s < 3.6


def test_a_long_sound_is_written_in_parts_no_longer_than_max_event(tmp_path):
    from listener.pipeline import analyze_array

    model = make_test_model(tmp_path, kind="sound")
    x = np.concatenate([silence(1.0), tone(300, 6.0), silence(1.0)])
    parts = analyze_array(x, Classifier(model), PipelineOptions(max_event=2.0)).detections
    assert len(parts) == 3 and all(d.label == "low" and d.end_s - d.stream_s <= 2.0 for d in parts)
    assert all(b.stream_s > a.end_s for a, b in zip(parts, parts[1:]))
