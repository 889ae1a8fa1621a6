import numpy as np
import pytest

from listener.decider import CtcDecoder, Decider

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


# ---------------------------------------------------------------- per-label thresholds


def test_per_label_thresholds_apply_per_class_and_one_threshold_overrides_them():
    d = Decider(LABELS, threshold=0.5, thresholds={"yes": 0.9}, refractory_s=0.0, min_margin=0.0)
    assert d.decide(p(0.8, 0.1, 0.1), 0.0) is None  # yes needs 0.9
    assert d.decide(p(0.1, 0.8, 0.1), 1.0).label == "no"  # no takes the model's threshold, 0.5
    assert d.thresholds == {"yes": 0.9, "no": 0.5, "unknown": 0.5}
    d.set_threshold(0.6)  # --threshold / the app's slider: one for every label
    assert d.decide(p(0.8, 0.1, 0.1), 2.0).label == "yes" and d.thresholds["yes"] == 0.6
    assert d.decide(p(0.1, 0.55, 0.35), 3.0) is None
    d.set_threshold(None)  # back to the model's own
    assert d.threshold == 0.5 and d.decide(p(0.8, 0.1, 0.1), 4.0) is None


def test_decider_for_reads_the_thresholds_from_the_model_and_the_option_overrides():
    from listener.contract import ModelInfo
    from listener.decider import DeciderOptions, decider_for

    info = ModelInfo(
        labels=["bark", "rain", "other"],
        reject_labels=["other"],
        sample_rate=16000,
        window_seconds=1.0,
        kind="sound",
        threshold=0.4,
        thresholds={"rain": 0.95},
    )
    own = decider_for(info)
    assert own.threshold_for("rain") == 0.95 and own.threshold_for("bark") == 0.4
    given = decider_for(info, DeciderOptions(threshold=0.7))
    assert given.thresholds == {"bark": 0.7, "rain": 0.7, "other": 0.7}


def test_the_shipped_sounds_model_decides_with_its_calibrated_thresholds():
    """Issue 14: per-class thresholds calibrated on held-out folds live in the model file, and the
    runtime's decider applies them (a label just under its own threshold is not logged, just over is)."""
    from listener.classifier import Classifier, resolve_model
    from listener.decider import DeciderOptions, decider_for

    info = Classifier(resolve_model("sounds")).info
    classes = [x for x in info.labels if x != "other"]
    assert info.reject_labels == ["other"] and set(info.thresholds) == set(classes)
    assert len(set(info.thresholds.values())) > 1  # calibrated per class, not one value copied
    own = decider_for(info)
    for label in classes:
        t = info.thresholds[label]
        assert own.threshold_for(label) == t and 0.3 <= t < 1.0
        for q, logged in ((t - 0.02, False), (t + 0.02, True)):
            d = decider_for(info)
            v = np.full(len(info.labels), (1.0 - q) / (len(info.labels) - 1), np.float32)
            v[info.labels.index(label)] = q
            got = [d.decide(d.smoothed(v, s, 1.0), s) for s in (0.5, 1.0)][-1]  # two windows: a sound's minimum
            assert (got is not None and got.label == label) == logged, (label, q)
    assert decider_for(info, DeciderOptions(threshold=0.9)).thresholds[classes[0]] == 0.9


# ---------------------------------------------------------------- CTC decoding

CTC = ["<blank>", "one", "eight", "oh", "<other>"]
SYMBOLS = {"one": "1", "eight": "8", "oh": "0"}


def frames(*rows: str, sure: float = 0.9) -> np.ndarray:
    """One frame per row: a label name (its probability ``sure``, the rest spread evenly), or
    ``label:p`` for another probability."""
    out = []
    for row in rows:
        label, _, prob = row.partition(":")
        q = float(prob) if prob else sure
        v = np.full(len(CTC), (1.0 - q) / (len(CTC) - 1), np.float32)
        v[CTC.index(label)] = q
        out.append(v)
    return np.stack(out)


def decode(decoder: CtcDecoder, probs: np.ndarray, resets: tuple[int, ...] = ()) -> list[tuple[int, str, float]]:
    """(frame, label, confidence) of each detection; ``resets``: frames after which a region ends."""
    out = []
    for t, row in enumerate(probs):
        decision = decoder.step(row)
        if decision is not None:
            out.append((t, decision.label, round(decision.confidence, 3)))
        if t in resets:
            decoder.reset()
    return out


def ctc(reject_labels: tuple[str, ...] = (), **kwargs) -> CtcDecoder:
    """The decoder of a model with CTC's labels and SYMBOLS (what ModelInfo.detection_labels gives it)."""
    emit = [label for label in SYMBOLS if label not in reject_labels]
    return CtcDecoder(CTC, "<blank>", emit, threshold=kwargs.pop("threshold", 0.7), **kwargs)


def test_ctc_a_run_of_one_digit_is_one_detection_at_its_first_sure_frame():
    x = frames("<blank>", "one", "one", "one", "<blank>", "<blank>")
    assert decode(ctc(), x) == [(1, "one", 0.9)]


def test_ctc_a_blank_between_identical_digits_makes_two():
    x = frames("eight", "eight", "<blank>", "eight", "<blank>")  # "eight eight"
    assert decode(ctc(), x) == [(0, "eight", 0.9), (3, "eight", 0.9)]
    # without a blank they are one run: one digit (CTC cannot tell, the model must put a blank)
    assert decode(ctc(), frames("eight", "eight", "eight")) == [(0, "eight", 0.9)]


def test_ctc_a_digit_on_the_very_last_frame_is_emitted():
    x = frames("<blank>", "<blank>", "one", "<blank>", "oh")
    assert decode(ctc(), x) == [(2, "one", 0.9), (4, "oh", 0.9)]


def test_ctc_low_confidence_spikes_emit_nothing_and_a_rising_run_emits_once_when_sure():
    x = frames("one:0.6", "one:0.65", "<blank>", "eight:0.5", "eight:0.8", "eight:0.95", "<blank>")
    assert decode(ctc(), x) == [(4, "eight", 0.8)]
    assert decode(ctc(threshold=0.99), x) == []
    assert decode(ctc(thresholds={"one": 0.55}), x) == [(0, "one", 0.6), (4, "eight", 0.8)]


def test_ctc_blank_other_and_reject_labels_are_never_detections():
    x = frames("<other>", "<other>:0.99", "<blank>", "oh", "<blank>", "one")
    assert decode(ctc(), x) == [(3, "oh", 0.9), (5, "one", 0.9)]
    assert decode(ctc(reject_labels=("oh",)), x) == [(5, "one", 0.9)]
    # another word between two equal digits separates them, as a blank does
    assert decode(ctc(), frames("one", "<other>", "one")) == [(0, "one", 0.9), (2, "one", 0.9)]


def test_ctc_a_region_that_ends_mid_digit_starts_the_next_one_afresh():
    # the region ends on frame 1 while "one" is said, before it is sure: nothing; the next region
    # begins with the same label and that run counts on its own
    x = frames("one:0.5", "one:0.6", "one", "one")
    assert decode(ctc(), x, resets=(1,)) == [(2, "one", 0.9)]
    # a digit emitted just before a region ends is not emitted again by the next region's first frame...
    y = frames("one", "one", "one")
    assert decode(ctc(), y) == [(0, "one", 0.9)]
    # ...unless the region really ended in between (then it is a new word)
    assert decode(ctc(), y, resets=(0,)) == [(0, "one", 0.9), (1, "one", 0.9)]


def test_ctc_a_non_finite_frame_is_no_answer():
    x = frames("one", "one")
    x[0, :] = np.nan
    assert decode(ctc(), x) == [(1, "one", 0.9)]


def test_ctc_blank_penalty_lets_a_digit_under_the_blank_through():
    # "one" is heard but never beats the blank: nothing, until the blank is scaled down
    x = frames("<blank>", "<blank>", "<blank>")
    x[1] = [0.5, 0.35, 0.05, 0.05, 0.05]  # blank, one, eight, oh, <other>
    assert decode(ctc(), x) == []
    # e**-1 * 0.5 = 0.184 < 0.35; renormalised, "one" has 0.35 / 0.684 = 0.512 (below 0.7: still nothing)
    assert decode(ctc(blank_penalty=1.0), x) == []
    assert decode(ctc(blank_penalty=1.0, threshold=0.5), x) == [(1, "one", 0.512)]
    # a frame that is surely blank stays blank: the penalty moves close calls only
    assert decode(ctc(blank_penalty=1.0, threshold=0.0), frames("<blank>", "<blank>")) == []


def test_decider_for_gives_sequence_models_the_blank_penalty_and_refuses_a_negative_one():
    from listener.config import PipelineOptions
    from listener.contract import ModelInfo
    from listener.decider import DeciderOptions, decider_for
    from listener.errors import UsageError

    info = ModelInfo(
        labels=CTC,
        sample_rate=16000,
        kind="speech",
        decoder="ctc",
        frame_hop_samples=1280,
        frame_samples=17632,
        blank_label="<blank>",
        symbols=SYMBOLS,
    )
    assert decider_for(info).blank_scale == 1.0
    assert decider_for(info, PipelineOptions(blank_penalty=2.0)).blank_scale == pytest.approx(np.exp(-2.0))
    with pytest.raises(UsageError, match="blank_penalty must be 0 or more"):
        decider_for(info, DeciderOptions(blank_penalty=-0.5))
