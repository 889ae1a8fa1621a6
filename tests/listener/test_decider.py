import numpy as np
import pytest

from listener.decider import Decider

LABELS = ["yes", "no", "unknown"]


def p(*values):
    return np.array(values, dtype=np.float32)


def test_threshold_margin_and_reject_labels():
    d = Decider(LABELS, threshold=0.7, reject_labels=["unknown"], min_margin=0.2, refractory_s=0.0)
    assert d.decide(p(0.69, 0.2, 0.11), 0.0) is None  # below threshold
    hit = d.decide(p(0.8, 0.1, 0.1), 1.0)
    assert hit.label == "yes" and hit.confidence == pytest.approx(0.8)
    assert hit.top[0] == ("yes", 0.8) and len(hit.top) == 3
    assert d.decide(p(0.05, 0.05, 0.9), 2.0) is None  # reject label
    d.min_margin = 0.5
    assert d.decide(p(0.72, 0.28, 0.0), 3.0) is None  # margin 0.44 < 0.5
    d.set_threshold(0.9)
    assert d.decide(p(0.85, 0.1, 0.05), 4.0) is None
    with pytest.raises(ValueError):
        d.set_threshold(1.5)


def test_refractory_period_is_per_label():
    d = Decider(LABELS, threshold=0.5, refractory_s=1.0)
    assert d.decide(p(0.9, 0.05, 0.05), 10.0) is not None
    assert d.decide(p(0.9, 0.05, 0.05), 10.5) is None
    assert d.decide(p(0.05, 0.9, 0.05), 10.6) is not None  # another label is not held back
    assert d.decide(p(0.9, 0.05, 0.05), 11.1) is not None


def test_smoothing_averages_recent_windows_and_resets_after_a_gap():
    d = Decider(LABELS, threshold=0.7, smooth=3)
    first = d.smoothed(p(1.0, 0.0, 0.0), 0.0, gap_s=0.5)
    assert first[0] == pytest.approx(1.0)
    second = d.smoothed(p(0.0, 1.0, 0.0), 0.25, gap_s=0.5)
    assert second[0] == pytest.approx(0.5) and second[1] == pytest.approx(0.5)
    after_gap = d.smoothed(p(0.0, 1.0, 0.0), 5.0, gap_s=0.5)
    assert after_gap[1] == pytest.approx(1.0)


def test_no_decision_before_min_windows_in_a_row():
    d = Decider(LABELS, threshold=0.5, smooth=3, min_windows=2)
    lone = d.smoothed(p(0.9, 0.05, 0.05), 1.0, gap_s=0.5)
    assert d.decide(lone, 1.0) is None
    second = d.smoothed(p(0.9, 0.05, 0.05), 1.25, gap_s=0.5)
    assert d.decide(second, 1.25).label == "yes"
    after_gap = d.smoothed(p(0.05, 0.9, 0.05), 5.0, gap_s=0.5)
    assert d.decide(after_gap, 5.0) is None


def test_threshold_one_logs_nothing_even_for_a_saturated_softmax():
    d = Decider(["a", "b"], threshold=1.0, refractory_s=0.0)
    assert d.decide(np.array([1.0, 0.0], dtype=np.float32), 1.0) is None
    d.set_threshold(0.99)
    assert d.decide(np.array([1.0, 0.0], dtype=np.float32), 2.0) is not None
