"""Evaluation runs the runtime's own pipeline: its numbers are what `listener analyze` gives."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import make_test_model, read_jsonl, run_cli, tone

from listener.classifier import Classifier
from listener.pipeline import gated_windows
from listener.training.evaluate import (
    CachedClassifier,
    ClipResult,
    choose_threshold,
    detection_rate,
    false_accept_rate,
    predictions,
    run_clips,
    score,
    sweep,
    wrong_detection_rate,
)

RATE = 16000


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def test_score_counts_and_macro_f1() -> None:
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    r = score(y, p, ["a", "b", "c"])
    assert r.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert r.accuracy == pytest.approx(0.6)
    f1_a = 2 * 0.5 * 0.5 / 1.0
    f1_b = 2 * (2 / 3) * 1.0 / (2 / 3 + 1.0)
    assert r.macro_f1 == pytest.approx((f1_a + f1_b + 0.0) / 3)
    assert r.per_class_accuracy == {"a": 0.5, "b": 1.0, "c": 0.0}


def test_no_prediction_is_wrong_and_outside_the_confusion_matrix() -> None:
    r = score(np.array([0, 1, 1]), np.array([0, -1, 1]), ["a", "b"])
    assert r.accuracy == pytest.approx(2 / 3) and r.confusion == [[1, 0], [0, 1]]
    assert r.per_class_accuracy == {"a": 1.0, "b": 0.5}


def test_clip_rates_and_predictions() -> None:
    labels = ["one", "two", "silence"]
    results = [
        ClipResult(np.array([0.9, 0.05, 0.05]), ["one"]),
        ClipResult(np.array([0.2, 0.7, 0.1]), ["two", "one"]),
        ClipResult(None, []),  # the gate heard nothing: counts as silence
    ]
    truth = np.array([0, 0, 2])
    assert predictions(results, labels).tolist() == [0, 1, 2]
    assert predictions(results, ["one", "two", "three"]).tolist() == [0, 1, -1]  # no silence label: wrong
    assert detection_rate(results, truth, labels) == pytest.approx(2 / 3)
    assert wrong_detection_rate(results, truth, labels) == pytest.approx(1 / 3)
    assert false_accept_rate(results) == pytest.approx(2 / 3)
    assert false_accept_rate([]) == 0.0


def test_evaluation_sees_the_runtime_gate_and_windows(tmp_path) -> None:
    """A sound model over a 5 s clip: windows only where the runtime's energy gate opened, scored as such."""
    clf = Classifier(make_test_model(tmp_path, kind="sound"))
    clip = np.concatenate([silence(2.0), tone(4000, 1.0), silence(2.0)])
    windows = gated_windows(clip, clf.info)
    assert 3 <= len(windows) <= 8
    assert all(1.0 < w.centre_s < 4.5 for w in windows)  # none in the silence before the tone
    (result,) = run_clips(clf, [clip])
    assert clf.info.labels[int(np.argmax(result.probs))] == "high" and set(result.detected) == {"high"}
    quiet = run_clips(clf, [silence(3.0)])[0]
    assert quiet.probs is None and quiet.detected == []  # nothing passed the gate: nothing classified


def test_run_clips_logs_what_listener_analyze_logs(tmp_path) -> None:
    """The same files through `listener analyze` (a real subprocess) and through run_clips."""
    model = make_test_model(tmp_path, kind="sound")
    rng = np.random.default_rng(3)
    clips, paths = [], []
    for i in range(6):
        parts = [silence(rng.uniform(0.2, 1.0))]
        for _ in range(2):
            freq = 300 if rng.random() < 0.5 else 4000
            parts += [tone(freq, rng.uniform(0.6, 1.5), amp=rng.uniform(0.005, 0.3)), silence(rng.uniform(0.4, 1.2))]
        clip = np.concatenate(parts).astype(np.float32)
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, clip, RATE, subtype="FLOAT")
        clips.append(clip)
        paths.append(path)
    log = tmp_path / "d.jsonl"
    r = run_cli("analyze", *paths, "--model", model, "--log", log, "--threshold", "0.6")
    assert r.returncode == 0, r.stderr.decode()[-1000:]
    by_file = {str(p): [] for p in paths}
    for d in read_jsonl(log):
        by_file[d["source"]].append(d["label"])
    ours = run_clips(Classifier(model), clips, threshold=0.6)
    assert [res.detected for res in ours] == [by_file[str(p)] for p in paths]
    assert sum(len(v) for v in by_file.values()) >= 6


def test_sweep_runs_the_model_once_and_threshold_choice_keeps_its_promise(tmp_path) -> None:
    clf = Classifier(make_test_model(tmp_path, kind="sound"))
    rng = np.random.default_rng(5)
    # faint to loud low tones: the model is less and less unsure about them
    negatives = [
        np.concatenate([silence(0.5), tone(300, 1.0, amp=a), silence(0.5)]) for a in rng.uniform(0.0035, 0.008, 12)
    ]
    calls = []

    class Counting:
        info = clf.info

        def predict(self, batch):
            calls.append(len(batch))
            return clf.predict(batch)

    cached = CachedClassifier(Counting())
    first = run_clips(cached, negatives, 0.5)
    once = sum(calls)
    assert [r.detected for r in run_clips(cached, negatives, 0.5)] == [r.detected for r in first]
    assert sum(calls) == once  # the second pass did not run the model
    candidates = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
    rates = {t: false_accept_rate(res) for t, res in sweep(clf, negatives, candidates)}
    assert rates[0.4] > 0.5 >= rates[0.99]  # some thresholds qualify, not all
    t = choose_threshold(clf, negatives, max_false_accept=0.5, candidates=candidates)
    assert rates[t] <= 0.5 and rates[candidates[candidates.index(t) - 1]] > 0.5  # the lowest that qualifies
