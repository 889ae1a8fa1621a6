"""The sounds recipe end to end on generated tones: heads on the frozen speech embedding, per-class
thresholds calibrated on out-of-fold negatives, the composed graph exported FP32 + INT8 with the
parity check, and the runtime reading it all back (what ``build_defaults --only sounds`` does on ESC-10)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from listener.classifier import Classifier
from listener.config import PipelineOptions
from listener.contract import FEATURES, LOGITS
from listener.pipeline import analyze_array
from listener.training.calibrate import as_stream, peak_scores, rates
from listener.training.train import TorchClassifier
from tests.tones import SOUND_LABELS, sound_bundle, sound_clips

CLASSES = [x for x in SOUND_LABELS if x != "other"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple:
    return sound_bundle(tmp_path_factory.mktemp("sounds") / "tones")


def test_thresholds_keep_the_negatives_within_the_budget(built) -> None:
    _, spec, neg_m, _ = built
    assert set(spec.thresholds) == set(CLASSES) and all(0.3 <= t < 1 for t in spec.thresholds.values())
    r = rates(neg_m, spec.labels, [-1] * len(neg_m), [], spec.thresholds)
    assert r.false_alarm <= 0.1
    lower = {k: max(0.0, v - 0.3) for k, v in spec.thresholds.items()}
    assert rates(neg_m, spec.labels, [-1] * len(neg_m), [], lower).false_alarm >= r.false_alarm


def test_the_exported_pair_carries_the_contract_and_its_thresholds(built) -> None:
    _, spec, _, bundle = built
    for path, variant in ((bundle.int8_path, "int8"), (bundle.fp32_path, "fp32")):
        graph = onnx.load(str(path))
        assert [o.name for o in graph.graph.output] == [LOGITS, FEATURES]
        info = Classifier(path).info
        assert info.variant == variant and info.reject_labels == ["other"] and info.hop_seconds == 0.5
        assert info.thresholds == pytest.approx(spec.thresholds) and info.threshold == pytest.approx(spec.threshold)
    assert bundle.parity.max_abs_logits < 1e-3 and bundle.parity.int8_fp32_agreement >= 0.75
    int8 = onnx.load(str(bundle.int8_path)).graph
    quantized = {n.name for n in int8.node if n.op_type == "DequantizeLinear"}
    assert quantized and not any(n.startswith("/frontend/") for n in quantized)  # the front ends stay FP32


def test_the_runtime_logs_one_event_per_tone_and_nothing_for_noise(built) -> None:
    _, _, _, bundle = built
    clf = Classifier(bundle.int8_path)
    rng = np.random.default_rng(9)
    got = [d.label for d in analyze_array(as_stream(sound_clips("low", 1, rng)[0], 1), clf).detections]
    assert got == ["low"]
    noise = np.concatenate(sound_clips("other", 3, rng))
    assert analyze_array(as_stream(noise, 2), clf, PipelineOptions()).detections == []


def test_peak_scores_say_what_the_runtime_logs(built) -> None:
    """A label is logged at threshold t exactly when its peak score reaches t (what calibration relies on)."""
    model, spec, _, _ = built
    clf = TorchClassifier(model, spec)
    rng = np.random.default_rng(3)
    clips = sound_clips("low", 3, rng) + sound_clips("high", 3, rng) + sound_clips("other", 3, rng)
    m = peak_scores(clf, clips, seed=7)
    for t in (0.4, 0.6, 0.8):
        for i, clip in enumerate(clips):
            logged = {
                d.label
                for d in analyze_array(as_stream(clip, 7 * 100003 + i), clf, PipelineOptions(threshold=t)).detections
            }
            assert logged == {spec.labels[c] for c in np.flatnonzero(m[i] >= t)}, (i, t)
