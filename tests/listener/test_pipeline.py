import threading
import time

import numpy as np
import pytest
from conftest import make_test_model, read_jsonl, tone

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
