"""Per-class thresholds for a sound model, chosen on held-out data, and the rates they give.

Clips are played as the runtime would hear them (:func:`as_stream`: the clip's loudest
second at a level drawn in -32..-12 dBFS, 1 s of background before and after, faint pink
noise throughout) and run through the runtime's own pipeline
(``listener.pipeline.analyze_array``: the model's energy gate, sliding windows, hop).
:func:`peak_scores` then reads, for each clip and label, the highest smoothed confidence
at which the runtime's ``Decider`` would detect that label (best label, not a reject
label, margin over the runner-up, after the smoothing and minimum windows): a label is
detected at threshold ``t`` iff that value is >= ``t``, so false alarms and recall for
any thresholds follow from one pass of the model.

:func:`class_balanced` gives every class the same false-alarm budget on negatives and
takes the largest budget whose union stays within the target, so a rare class is not
drowned by a frequent one; the thresholds go into the model's ``thresholds`` metadata and
:func:`single` gives the one ``threshold`` for the same target. :func:`transfer` carries a
reference file's thresholds (FP32) to a variant (INT8) whose scores differ: per class, the
variant's threshold that detects as many of that class's clips as the reference does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from listener.classifier import Classifier
from listener.config import PipelineOptions
from listener.decider import SOUND_MIN_WINDOWS, DeciderOptions
from listener.pipeline import analyze_array
from listener.training.corpus import SAMPLE_RATE

LEVEL_DB = (-32.0, -12.0)  # RMS of the clip's loudest second, dBFS
BACKGROUND_DB = -62.0  # pink noise under everything: a microphone never gives digital silence
FLOOR = 0.3  # no threshold below this: a near-uniform window is never a detection
CEIL = 0.995
BUDGETS = tuple(np.concatenate([np.linspace(0.0, 0.002, 5), np.geomspace(0.0025, 0.2, 60)]))


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.arange(len(spec)) + 1.0)
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt((x**2).mean()) + 1e-12)).astype(np.float32)


def loudest_second_db(x: np.ndarray, window: int = SAMPLE_RATE) -> float:
    """RMS level (dBFS) of the loudest ``window`` samples."""
    e = x.astype(np.float64) ** 2
    if len(x) <= window:
        return float(10 * np.log10(e.mean() + 1e-12))
    c = np.concatenate([[0.0], np.cumsum(e)])
    return float(10 * np.log10(((c[window:] - c[:-window]) / window).max() + 1e-12))


def at_loudness(clip: np.ndarray, level_db: float) -> np.ndarray:
    """``clip`` scaled so that its loudest second is at ``level_db`` dBFS RMS, clipped at full scale
    (what a microphone gives for a sound that loud)."""
    gain = 10 ** ((level_db - loudest_second_db(clip)) / 20)
    return np.clip(clip.astype(np.float32) * np.float32(gain), -1.0, 1.0).astype(np.float32)


def as_stream(clip: np.ndarray, seed: int, level_db: tuple[float, float] = LEVEL_DB) -> np.ndarray:
    """The clip at a random level inside 1 s of background on each side, background noise added."""
    rng = np.random.default_rng(seed)
    x = clip.astype(np.float32) * 10 ** ((rng.uniform(*level_db) - loudest_second_db(clip)) / 20)
    pad = np.zeros(SAMPLE_RATE, np.float32)
    s = np.concatenate([pad, x, pad])
    s = s + _pink(rng, len(s)) * 10 ** (BACKGROUND_DB / 20)
    return np.clip(s, -1.0, 1.0).astype(np.float32)


def peak_scores(classifier: Classifier, clips: Sequence[np.ndarray], seed: int = 0) -> np.ndarray:
    """``[n_clips, n_labels]``: per clip (played by :func:`as_stream`, seeded ``seed`` and its index),
    the highest smoothed confidence at which the runtime would detect each label; -1 where it never
    could (reject labels always -1)."""
    info = classifier.info
    options = PipelineOptions(threshold=0.0)  # every window reaches the decider's other tests
    reject = {info.labels.index(x) for x in info.reject_labels}
    hop = info.hop_seconds
    out = np.full((len(clips), len(info.labels)), -1.0)
    for i, clip in enumerate(clips):
        result = analyze_array(as_stream(np.asarray(clip, np.float32), seed * 100003 + i), classifier, options)
        run, last = 0, None  # windows in a row (the decider's minimum before any decision)
        for w in result.windows:  # w.probs: already averaged over the last windows, as the decider saw them
            if last is not None and w.stream_s - last > 2 * hop:
                run = 0
            run, last = run + 1, w.stream_s
            if run < SOUND_MIN_WINDOWS:
                continue
            order = np.argsort(w.probs)[::-1]
            best = int(order[0])
            if best in reject or w.probs[best] - w.probs[order[1]] < DeciderOptions.min_margin:
                continue
            out[i, best] = max(out[i, best], float(w.probs[best]))
    return out


@dataclass
class Rates:
    """What thresholds give on scored clips."""

    false_alarm: float  # negatives with any detection
    recall: float  # positives with a detection of their own label
    confusion: float  # positives with a detection of another label
    by_source: dict[str, float]  # false alarms per negative source
    by_class: dict[str, float]  # recall per class


def _vector(labels: Sequence[str], thresholds: dict[str, float]) -> np.ndarray:
    return np.array([thresholds.get(k, 2.0) for k in labels])


def rates(
    m: np.ndarray, labels: Sequence[str], truth: Sequence[int], sources: Sequence[str], thresholds: dict[str, float]
) -> Rates:
    """``truth`` per clip: its label index, -1 for a negative; ``sources`` name each negative's source,
    in order (or are empty)."""
    det = m >= _vector(labels, thresholds)[None, :]
    truth = np.asarray(truth)
    neg = truth < 0
    fa = det[neg].any(1)
    pos = np.flatnonzero(~neg)
    hit = det[pos, truth[pos]]
    wrong = det[pos].copy()
    wrong[np.arange(len(pos)), truth[pos]] = False
    src = np.asarray(list(sources) if len(sources) else [""] * int(neg.sum()))
    if len(src) != neg.sum():
        raise ValueError(f"{len(src)} sources for {int(neg.sum())} negatives")
    return Rates(
        false_alarm=float(fa.mean()) if neg.any() else float("nan"),
        recall=float(hit.mean()) if len(pos) else float("nan"),
        confusion=float(wrong.any(1).mean()) if len(pos) else float("nan"),
        by_source={str(s): float(fa[src == s].mean()) for s in sorted(set(src.tolist())) if s},
        by_class={labels[c]: float(hit[truth[pos] == c].mean()) for c in sorted(set(truth[pos].tolist()))},
    )


def _for_budget(values: np.ndarray, budget: float) -> float:
    """Smallest t (>= FLOOR) such that at most ``budget`` of ``values`` are >= t."""
    allowed = int(np.floor(budget * len(values)))
    if allowed >= len(values):
        return FLOOR
    return float(np.clip(np.sort(values)[::-1][allowed] + 1e-6, FLOOR, CEIL))


def class_balanced(
    neg_m: np.ndarray, labels: Sequence[str], classes: Sequence[str], target: float
) -> tuple[dict[str, float], float]:
    """(thresholds of ``classes``, budget): the largest equal per-class budget on the negatives'
    scores ``neg_m`` whose union false-alarm rate stays <= ``target``."""
    cols = [list(labels).index(k) for k in classes]
    best: tuple[dict[str, float], float] = ({k: CEIL for k in classes}, 0.0)
    for budget in BUDGETS:
        th = {k: _for_budget(neg_m[:, c], float(budget)) for k, c in zip(classes, cols)}
        if (neg_m >= _vector(labels, th)[None, :]).any(1).mean() <= target + 1e-12:
            best = (th, float(budget))
    return best


def single(neg_m: np.ndarray, labels: Sequence[str], classes: Sequence[str], target: float) -> float:
    """One threshold for every class: the lowest whose false-alarm rate on ``neg_m`` is <= ``target``."""
    for t in np.linspace(FLOOR, CEIL, 140):
        if (neg_m >= _vector(labels, {k: float(t) for k in classes})[None, :]).any(1).mean() <= target:
            return float(t)
    return CEIL


DECIMALS = 4  # a transferred threshold is a multiple of GRID: near-ties between clips' scores stay apart
GRID = 10.0**-DECIMALS


def _grid_below(v: float) -> float:
    """The largest multiple of GRID that is <= ``v``."""
    t = round(float(np.floor(v / GRID + 1e-6)) * GRID, DECIMALS)  # 0.6537 / GRID is 6536.999999999999
    return t if t <= v else round(t - GRID, DECIMALS)


def _grid_above(v: float) -> float:
    """The smallest multiple of GRID that is > ``v``."""
    t = _grid_below(v)
    return round(t + GRID, DECIMALS)


def transfer(
    ref_m: np.ndarray, var_m: np.ndarray, labels: Sequence[str], truth: Sequence[int], thresholds: dict[str, float]
) -> dict[str, float]:
    """Thresholds for a variant of a model (its INT8 file) that give the reference's (its FP32 file's)
    recall: for each class ``c`` of ``thresholds``, the threshold nearest the reference's at which the
    variant detects as many of the clips of ``c`` (``truth == c``) as the reference does at its own,
    on the GRID, clipped to [FLOOR, CEIL].

    ``ref_m`` and ``var_m``: :func:`peak_scores` of the same clips played the same way (same seeds).
    Nearest, because the reference's thresholds were chosen for a false-alarm budget: a class on which
    the variant already has the reference's recall keeps its threshold, and one that it detects
    less (more) often moves down (up) only as far as it must. When no threshold gives exactly the
    reference's count (ties, or two scores inside one GRID step), the highest threshold that reaches
    it. A class the reference detects no clip of keeps the reference's threshold; at FLOOR the
    variant may still fall short of the reference (its scores are too low)."""
    truth = np.asarray(truth)
    out = {}
    for k, t in thresholds.items():
        c = list(labels).index(k)
        rows = truth == c
        if not rows.any():
            raise ValueError(f"no clips of class {k!r} to match the reference's recall on")
        need = int((ref_m[rows, c] >= t).sum())
        scores = np.sort(var_m[rows, c])[::-1]
        have = int((scores >= t).sum())
        if need == 0 or have == need:
            out[k] = float(t)
            continue
        reach = _grid_below(float(scores[need - 1]))  # the highest threshold the variant reaches need at
        if have > need:  # move up: the lowest threshold above the (need+1)-th score, if it still reaches need
            above = _grid_above(float(scores[need]))
            reach = above if above <= scores[need - 1] else max(reach, t)
        out[k] = float(np.clip(reach, FLOOR, CEIL))
    return out
