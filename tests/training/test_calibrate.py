"""Carrying per-class thresholds from a reference file (FP32) to a variant (INT8) at equal recall:
hand-made peak scores with ties, undetectable clips and the FLOOR/CEIL bounds."""

from __future__ import annotations

import numpy as np
import pytest

from listener.training.calibrate import CEIL, FLOOR, at_loudness, loudest_second_db, transfer

LABELS = ["a", "b", "other"]


def scores(col_a: list[float], col_b: list[float]) -> np.ndarray:
    """Peak scores of clips of a (first) then b: each clip scores only its own class."""
    m = np.full((len(col_a) + len(col_b), 3), -1.0)
    m[: len(col_a), 0] = col_a
    m[len(col_a) :, 1] = col_b
    return m


def truth(n_a: int, n_b: int) -> list[int]:
    return [0] * n_a + [1] * n_b


def count(m: np.ndarray, c: int, rows: np.ndarray, t: float) -> int:
    return int((m[rows, c] >= t).sum())


def step(t: float, n: int) -> float:
    return round(t + n * 1e-4, 4)


def test_a_variant_that_detects_less_moves_down_only_as_far_as_it_must() -> None:
    ref = scores([0.9, 0.8, 0.5, 0.4], [0.95, 0.9, 0.85, 0.2])
    var = scores([0.7, 0.6537, 0.62, 0.3], [0.5, 0.45, 0.41, 0.1])
    th = transfer(ref, var, LABELS, truth(4, 4), {"a": 0.7, "b": 0.6})
    # a: the reference detects 2 clips at 0.7, the variant 1; its 2nd highest score is 0.6537
    # b: the reference detects 3, the variant none; its 3rd highest is 0.41
    assert th == {"a": pytest.approx(0.6537), "b": pytest.approx(0.41)}
    assert count(var, 0, np.arange(4), th["a"]) == 2 and count(var, 0, np.arange(4), step(th["a"], 1)) == 1
    assert count(var, 1, np.arange(4, 8), th["b"]) == 3


def test_a_variant_with_the_same_recall_keeps_the_threshold_and_one_that_detects_more_moves_up() -> None:
    ref = scores([0.9, 0.8, 0.5, 0.4], [0.9, 0.5, 0.45])
    var = scores([0.95, 0.61, 0.3, 0.2], [0.8, 0.7, 0.6234])
    th = transfer(ref, var, LABELS, truth(4, 3), {"a": 0.6, "b": 0.6})
    assert th["a"] == 0.6  # 2 clips each: nothing to move
    # b: the reference detects 1, the variant 3: up to just above its 2nd highest score (0.7 -> 0.7001)
    assert th["b"] == pytest.approx(0.7001)
    assert count(var, 1, np.arange(4, 7), th["b"]) == 1 and count(var, 1, np.arange(4, 7), step(th["b"], -1)) == 2


def test_ties_take_the_highest_threshold_that_reaches_the_reference_count() -> None:
    ref = scores([0.9, 0.8, 0.5, 0.4], [0.9, 0.5, 0.4])
    var = scores([0.5, 0.45, 0.45, 0.3], [0.8, 0.8, 0.8])
    th = transfer(ref, var, LABELS, truth(4, 3), {"a": 0.6, "b": 0.6})
    assert th["a"] == pytest.approx(0.45)  # down: 3 clips reach it (the tie); above it only 1 does
    assert th["b"] == pytest.approx(0.8)  # up: no threshold detects exactly 1 of the three 0.8s; all 3 reach it


def test_bounds_and_classes_with_nothing_to_match() -> None:
    ref = scores([0.9, 0.8, 0.2], [0.9991, 0.998])
    # a: the variant can detect one clip only (-1: never detected): FLOOR, short of the reference's 2
    # b: the variant detects both clips at 0.9, the reference one: up, but not above CEIL
    var = scores([0.5, -1.0, -1.0], [0.9995, 0.9991])
    th = transfer(ref, var, LABELS, truth(3, 2), {"a": 0.7, "b": 0.999})
    assert th == {"a": FLOOR, "b": CEIL}
    # the reference detects none of b's clips: its threshold is kept
    assert transfer(ref, var, LABELS, truth(3, 2), {"b": 0.9999})["b"] == 0.9999
    with pytest.raises(ValueError, match="no clips of class 'b'"):
        transfer(ref[:3], var[:3], LABELS, truth(3, 0), {"a": 0.7, "b": 0.9})


def test_random_scores_give_the_reference_recall_at_the_nearest_threshold() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n_a, n_b = rng.integers(1, 12, 2)
        ref = scores(list(rng.uniform(0, 1, n_a)), list(rng.uniform(0, 1, n_b)))
        var = np.where(ref > 0, np.clip(ref + rng.normal(0, 0.1, ref.shape), 0, 1), -1.0).round(2)  # ties
        given = {"a": round(float(rng.uniform(0.3, 0.9)), 3), "b": round(float(rng.uniform(0.3, 0.9)), 3)}
        th = transfer(ref, var, LABELS, truth(n_a, n_b), given)
        for c, k, rows in ((0, "a", np.arange(n_a)), (1, "b", np.arange(n_a, n_a + n_b))):
            need, have = count(ref, c, rows, given[k]), count(var, c, rows, given[k])
            got = count(var, c, rows, th[k])
            assert FLOOR <= th[k] <= CEIL
            if need == 0 or have == need:
                assert th[k] == given[k]
            elif have < need:  # down, to the highest threshold that reaches need
                assert th[k] < given[k]
                assert got >= need or th[k] == FLOOR
                assert count(var, c, rows, step(th[k], 1)) < need
            else:  # up, to the lowest threshold that detects need, or (ties) the highest that reaches it
                assert th[k] >= given[k]
                assert got >= need
                assert got == need or count(var, c, rows, step(th[k], 1)) < need
                assert got > need or count(var, c, rows, step(th[k], -1)) > need


def test_at_loudness_sets_the_loudest_second_and_clips_at_full_scale() -> None:
    rng = np.random.default_rng(0)
    clip = np.concatenate([rng.standard_normal(16000) * 0.001, rng.standard_normal(16000) * 0.05]).astype(np.float32)
    quiet = at_loudness(clip, -40.0)
    assert quiet.dtype == np.float32 and loudest_second_db(quiet) == pytest.approx(-40.0, abs=0.01)
    assert np.allclose(quiet / quiet[16000:].std(), clip / clip[16000:].std(), rtol=1e-4)  # a gain, nothing else
    loud = at_loudness(clip, -3.0)
    assert np.abs(loud).max() == 1.0 and loudest_second_db(loud) < -3.0  # its peaks clipped, as a microphone would
