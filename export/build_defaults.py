"""One command that rebuilds the shipped models from scratch into ``assets/``.

A pair already there that does better on the held-out figures stays (the new one goes to
``runs/<name>/rebuilt/``; ``--replace`` overrides): digits on the sets a final fit holds out
(``listener.export.build_digits``), sounds on its cross-validation and held-out false alarms
(:func:`compare_sounds`).

    python -m listener.export.build_defaults                  # digits + sounds (CV + final)
    python -m listener.export.build_defaults --only digits
    python -m listener.export.build_defaults --quick          # minutes; a smoke-test model
    python -m listener.export.build_defaults --evaluate-only  # re-score the files in assets/, rewrite the cards
    python -m listener.export.build_defaults --only sounds --requantize  # export again from the FP32 file, re-score

Digits: the CTC recipe of ``listener.export.build_digits`` (data, embedding cache,
training, export with the streaming check, validation). Sounds: build the corpus,
train, pick the threshold on validation, evaluate every test set with the PyTorch
model, export FP32 + INT8 with the parity check, evaluate the INT8 file on the same
test sets, write ``runs/<name>/results.json`` + plots, the metadata and the card.
Every evaluation runs the runtime's own pipeline (``listener.training.evaluate``).
It lives in ``listener.export`` because it uses training and export both; the
recipes' history (which runs chose these settings) is in docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from listener.errors import loading

with loading(__name__):  # torch loads here: Ctrl-C gives one line (listener/errors.py)
    import numpy as np
    import torch

    from listener.classifier import Classifier
    from listener.export.build_digits import OFF, QUICK, DigitsRecipe, NotADigitsFile, build_digits_from, floor_arg
    from listener.export.bundle import Comparison, open_previous, worse_figures
    from listener.export.onnx_export import set_metadata
    from listener.export.parity import MAX_INT8_DROP
    from listener.training import interrupt
    from listener.training.calibrate import single
    from listener.training.corpus import (
        WaveSet,
        build_esc_set,
    )
    from listener.training.datasets.base import fit_length
    from listener.training.evaluate import (
        EvalResult,
        predictions,
        run_clips,
    )
    from listener.training.frontend import SOUNDS_FRONTEND
    from listener.training.models.kws import count_parameters
    from listener.training.models.registry import ModelSpec, build_model
    from listener.training.report import write_report
    from listener.training.strings import StringAugment
    from listener.training.train import TorchClassifier, TrainResult, evaluate_model

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CARDS = ROOT / "docs" / "models"

MODEL_VERSION = "1.1"  # the recipes below (docs/training.md tells how they were chosen)
OPERATING_POINTS = (0.5, 0.6, 0.7, 0.8, 0.9)  # thresholds the card tabulates for users choosing --threshold

# Sounds recipe (docs/models/sounds.md): a frozen speech embedding + log-mel band statistics, two heads
# averaged, an ``other`` class of permissively licensed negatives, per-class thresholds.
SOUNDS_VERSION = "2.1"
SOUNDS_SEED = 0  # the sounds build's seed when --seed is not given (digits: DigitsRecipe.seed)
OTHER = "other"
SOUNDS_HEADS = ({"kind": "speech"}, {"kind": "hybrid"})
SOUNDS_EPOCHS = 30
SOUNDS_COPIES = 4  # augmented copies of each ESC clip besides the clean one
SOUNDS_MIXTURES = 600  # two-source mixtures added to the training negatives
SOUNDS_STEP = 1280  # samples between training windows (80 ms)
NEGATIVE_LEVEL_SEED = 5098  # --negative-levels draws from default_rng(seed + this) (build 2 in docs/models/sounds.md)
SOUNDS_HOP_S = 0.5  # the model's hop: half the windows of 0.25 s at the same recall per false alarm
SOUNDS_TARGET_FA = 0.02  # false alarms the thresholds allow on out-of-fold negatives
SOUNDS_SINGLE_DEFAULT = 0.7  # the single threshold before calibration
SOUNDS_TRAINING_DATA = (
    "ESC-10 (Piczak 2015, CC BY 3.0), all 5 folds, clean + 4 augmented copies; 'other': the training sources of "
    "listener.training.datasets.negatives (speech, noise, music rendered from MIDI, Debian sound effects, "
    "synthetic sounds; licences in docs/models/sounds.md) + 600 two-source mixtures"
)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class Trained:
    """A trained model, what the build measured on it, and how to measure an exported file."""

    model: object  # ExportableModel
    spec: ModelSpec
    result: TrainResult
    calibration_from: WaveSet  # training clips: INT8 calibration
    parity_set: WaveSet  # held-out clips (or, without any, training clips): INT8 vs FP32
    val_eval: EvalResult
    float_eval: dict
    evaluate: Callable[[Classifier], dict]  # a classifier -> the card's evaluation
    summarise: Callable[[dict, str], dict]  # an evaluation -> the metadata's accuracy summary
    extra: dict = field(default_factory=dict)
    card: bool = True  # render docs/models/<name>.md from the results (sounds: its card is written from bench/)
    max_int8_drop: float = MAX_INT8_DROP  # the parity check's bar


# ----------------------------------------------------------------------------- digits
# The recipe, its stages and its knobs: listener/export/build_digits.py.


# ----------------------------------------------------------------------------- sounds


def sounds_spec(
    classes: list[str], thresholds: dict[str, float] | None = None, threshold: float = SOUNDS_SINGLE_DEFAULT
) -> ModelSpec:
    """The sounds model of the recipe (untrained): ``classes`` + ``other``, calibrated thresholds when given."""
    return ModelSpec(
        name="sounds",
        version=SOUNDS_VERSION,
        kind="sound",
        labels=[*classes, OTHER],
        reject_labels=[OTHER],
        arch="speech_heads",
        arch_config={"heads": [dict(h) for h in SOUNDS_HEADS]},
        frontend=asdict(SOUNDS_FRONTEND),
        hop_seconds=SOUNDS_HOP_S,
        threshold=threshold,
        thresholds=dict(thresholds or {}),
        training_data=SOUNDS_TRAINING_DATA,
    )


@dataclass
class SoundsData:
    """ESC-10 with its folds, the training negatives with a fold each, and every head input, computed once."""

    esc: WaveSet
    negatives: list[np.ndarray]
    neg_source: list[str]
    neg_folds: np.ndarray  # 1..5 per negative clip: each source in 5 blocks, a mixture in its two clips' fold
    inputs: dict[str, np.ndarray]  # head kind -> [windows, D]: ESC copies' windows, then the negatives'
    y: np.ndarray  # label index per window (other for negatives)
    folds: np.ndarray  # fold of the clip each window came from
    is_neg: np.ndarray  # the window came from a negative clip


def sounds_data(args: argparse.Namespace) -> SoundsData:
    """Decode, augment and window everything the recipe trains on, and run the frozen backbone on it once."""
    from listener.training.datasets.negatives import MIXTURE, source_folds
    from listener.training.heads import at_random_levels, augmented_copies, cut_windows, window_inputs

    quick = args.quick
    esc = build_esc_set(args.data)
    classes = list(esc.label_names)
    pool, mixed, mixed_folds = sounds_negatives(args)
    negatives = pool.clips + mixed
    levels = copy_levels(args)
    if levels is not None and getattr(args, "negative_levels", False):
        negatives = at_random_levels(negatives, levels, np.random.default_rng(args.seed + NEGATIVE_LEVEL_SEED))
    neg_source = pool.source + [MIXTURE] * len(mixed)
    neg_folds = np.concatenate([source_folds(pool.source), mixed_folds])
    step = SOUNDS_STEP * (6 if quick else 1)
    bank = np.concatenate(pool.clips)
    n_copies = 1 if quick else SOUNDS_COPIES
    copies = augmented_copies(np.asarray(esc.audio), bank, n_copies, seed=args.seed + 1234, level_db=levels)
    model = build_model(sounds_spec(classes), seed=args.seed)
    parts, ys, folds, neg = [], [], [], []
    for k, audio in enumerate(copies):
        wins, owner = cut_windows(list(audio), step)
        parts.append(window_inputs(model, wins))
        ys.append(esc.labels[owner])
        folds.append(esc.folds[owner])
        neg.append(np.zeros(len(owner), bool))
        _log(f"sounds: ESC copy {k}: {len(wins)} windows")
    wins, owner = cut_windows(negatives, step)
    parts.append(window_inputs(model, wins))
    ys.append(np.full(len(owner), len(classes)))
    folds.append(neg_folds[owner])
    neg.append(np.ones(len(owner), bool))
    _log(f"sounds: {len(negatives)} negatives ({len(pool)} clips + {len(mixed)} mixtures): {len(wins)} windows")
    inputs = {kind: np.concatenate([p[kind] for p in parts]) for kind in parts[0]}
    return SoundsData(
        esc, negatives, neg_source, neg_folds, inputs, np.concatenate(ys), np.concatenate(folds), np.concatenate(neg)
    )


def copy_levels(args: argparse.Namespace) -> tuple[float, float] | None:
    """``--copy-levels`` as a checked (low, high) in dBFS, or None (off)."""
    levels = getattr(args, "copy_levels", None)
    if levels is None:
        if getattr(args, "negative_levels", False):
            raise ValueError("--negative-levels needs --copy-levels LOW HIGH (the range to draw from)")
        return None
    low, high = levels
    if not low <= high <= 0:
        raise ValueError(f"--copy-levels {low:g} {high:g}: need LOW <= HIGH <= 0 (dBFS)")
    return float(low), float(high)


def sounds_negatives(args: argparse.Namespace):
    """The training negatives: the pool of recorded clips, and the two-source mixtures with their CV
    folds (both clips of a mixture from one fold)."""
    from listener.training.datasets.negatives import build_pool, fold_mixtures, source_folds

    pool = build_pool("train", negative_roots(args), seed=args.seed, scale=negative_scale(args), log=_log)
    n = 20 if args.quick else SOUNDS_MIXTURES
    mixed, mixed_folds = fold_mixtures(pool, source_folds(pool.source), n, np.random.default_rng(99))
    return pool, mixed, mixed_folds


def sounds_calibration_set(esc: WaveSet, negatives: list[np.ndarray]) -> WaveSet:
    """What INT8 calibration draws from: both sides of the decision, ESC clips and negatives."""
    n = len(esc.label_names)
    labels = np.concatenate([esc.labels, np.full(len(negatives), n)])
    return WaveSet(list(esc.audio) + negatives, labels, (*esc.label_names, OTHER))


def negative_roots(args: argparse.Namespace):
    """Where the negatives' sources are: the data folder and the system root of the Debian sound packages."""
    from listener.training.datasets.negatives import Roots

    return Roots(args.data, getattr(args, "system_root", Path("/")))


def negative_scale(args: argparse.Namespace) -> float:
    """Each negative source's share of its clips: --quick takes 5%."""
    return 0.05 if args.quick else 1.0


def sounds_head_training(args: argparse.Namespace):
    from listener.training.heads import HeadTraining

    return HeadTraining(epochs=args.sound_epochs or (2 if args.quick else SOUNDS_EPOCHS), seed=args.seed)


def train_sounds_heads(args: argparse.Namespace, data: SoundsData, spec: ModelSpec, keep: np.ndarray):
    """A sounds model whose heads trained on the windows in ``keep``."""
    from listener.training.heads import fit_heads

    torch.set_num_threads(args.threads)
    model = build_model(spec, seed=args.seed)
    return fit_heads(model, {k: v[keep] for k, v in data.inputs.items()}, data.y[keep], sounds_head_training(args))


def cross_validate_sounds(
    args: argparse.Namespace, data: SoundsData, folds: list[int], levels: Sequence[float] = ()
) -> dict:
    """ESC's official folds: heads trained on the other folds (ESC and negatives), each test fold's clips
    through the runtime pipeline (clip accuracy), and the out-of-fold peak scores for the thresholds (ESC
    and the fold's recorded negatives; mixtures only train). ``levels``: each test fold's clips again with
    their loudest second at each level (dBFS, clipped at full scale), closed-set clip accuracy."""
    from listener.training.calibrate import at_loudness, class_balanced, peak_scores, rates
    from listener.training.datasets.negatives import MIXTURE

    esc = data.esc
    classes = list(esc.label_names)
    spec = sounds_spec(classes)
    labels = spec.labels
    cv: dict[str, dict] = {}
    oof_pos, oof_neg, pos_truth, neg_fold = [], [], [], []
    for k in folds:
        t0 = time.time()
        model = train_sounds_heads(args, data, spec, data.folds != k)
        clf = TorchClassifier(model, spec)
        test = esc.subset(esc.folds == k)
        results = run_clips(clf, test.audio)
        open_pred = predictions(results, labels)
        closed = np.array([-1 if r.probs is None else int(np.argmax(r.probs[: len(classes)])) for r in results])
        neg_idx = np.flatnonzero((data.neg_folds == k) & (np.asarray(data.neg_source) != MIXTURE))
        oof_pos.append(peak_scores(clf, list(test.audio), seed=1))
        oof_neg.append(peak_scores(clf, [data.negatives[i] for i in neg_idx], seed=2))
        pos_truth.append(test.labels)
        neg_fold.append(np.full(len(neg_idx), k))
        cv[f"fold{k}"] = {
            "accuracy": float((closed == test.labels).mean()),
            "open_set_accuracy": float((open_pred == test.labels).mean()),
        }
        for level in levels:
            louder = run_clips(clf, [at_loudness(np.asarray(c, np.float32), level) for c in test.audio])
            heard = np.array([-1 if r.probs is None else int(np.argmax(r.probs[: len(classes)])) for r in louder])
            cv[f"fold{k}"][f"accuracy_at_{level:g}dB"] = float((heard == test.labels).mean())
        cv[f"fold{k}"]["seconds"] = round(time.time() - t0, 1)
        _log(f"sounds fold {k}: {cv[f'fold{k}']}")
    if not cv:
        return {}
    pos_m, neg_m = np.concatenate(oof_pos), np.concatenate(oof_neg)
    pos_truth_all, neg_fold_all = np.concatenate(pos_truth), np.concatenate(neg_fold)
    pos_fold_all = np.concatenate([np.full(len(t), k) for t, k in zip(pos_truth, folds)])
    per_fold = {}
    for k in folds:  # thresholds for fold k from the other folds' negatives only
        other = neg_m[neg_fold_all != k] if len(folds) > 1 else neg_m
        th, _ = class_balanced(other, labels, classes, SOUNDS_TARGET_FA)
        mine = pos_fold_all == k
        r = rates(pos_m[mine], labels, pos_truth_all[mine], [], th)
        per_fold[f"fold{k}"] = {"recall": r.recall, "wrong_label": r.confusion}
    thresholds, budget = class_balanced(neg_m, labels, classes, SOUNDS_TARGET_FA)
    at_levels = {f"{x:g}": float(np.mean([v[f"accuracy_at_{x:g}dB"] for v in cv.values()])) for x in levels}
    return {
        "protocol": "runtime pipeline",
        **({"mean_accuracy_at_levels": at_levels} if levels else {}),
        "folds": cv,
        "mean_accuracy": float(np.mean([v["accuracy"] for v in cv.values()])),
        "mean_open_set_accuracy": float(np.mean([v["open_set_accuracy"] for v in cv.values()])),
        "recall_at_target": per_fold,
        "target_false_alarm": SOUNDS_TARGET_FA,
        "thresholds": {k: round(v, 3) for k, v in thresholds.items()},
        "budget": budget,
        "threshold": round(single(neg_m, labels, classes, SOUNDS_TARGET_FA), 2),
    }


def sounds_accuracy_summary(cv: dict) -> Callable[[dict, str], dict]:
    def summarise(ev: dict, variant: str) -> dict:
        out = {"variant": variant}
        for key, name in (("mean_accuracy", "cv_mean_accuracy"), ("mean_open_set_accuracy", "cv_open_set_accuracy")):
            if key in cv:
                out[name] = round(cv[key], 4)
        if "heldout" in ev:
            out["heldout_false_alarm_rate"] = round(ev["heldout"]["false_alarm"], 4)
        return out

    return summarise


def evaluate_sounds(classifier: Classifier, heldout: list[np.ndarray], sources: list[str]) -> dict:
    """Held-out negatives played as streams through the runtime pipeline at the model's own thresholds."""
    from listener.training.calibrate import as_stream

    fired = np.array(
        [bool(r.detected) for r in run_clips(classifier, [as_stream(c, 3 * 100003 + i) for i, c in enumerate(heldout)])]
    )
    src = np.array(sources)
    return {
        "heldout": {
            "false_alarm": float(fired.mean()) if len(fired) else float("nan"),
            "by_source": {s: float(fired[src == s].mean()) for s in sorted(set(sources))},
            "n": int(len(fired)),
        }
    }


def train_sounds(args: argparse.Namespace) -> Trained:
    """Negatives, ESC copies and their backbone outputs; 5-fold CV with out-of-fold thresholds; the
    shipped model on everything, with the thresholds calibrated on all folds' out-of-fold scores."""
    from listener.training.datasets.negatives import build_pool

    t0 = time.time()
    data = sounds_data(args)
    esc = data.esc
    classes = list(esc.label_names)
    _log(f"sounds data ready in {time.time() - t0:.0f} s: {len(data.y)} windows")
    folds = sorted(set(esc.folds.tolist()))
    cv = cross_validate_sounds(args, data, [] if args.no_cv else (folds[:1] if args.quick else folds))
    spec = sounds_spec(classes, cv.get("thresholds"), cv.get("threshold", SOUNDS_SINGLE_DEFAULT))
    t1 = time.time()
    model = train_sounds_heads(args, data, spec, np.ones(len(data.y), bool))
    result = TrainResult(seconds=time.time() - t1)
    held = build_pool("heldout", negative_roots(args), seed=args.seed, scale=negative_scale(args), log=_log)
    float_eval = evaluate_sounds(TorchClassifier(model, spec), held.clips, held.source)
    parity = esc.subset(esc.folds == folds[0])
    return Trained(
        model=model,
        spec=spec,
        result=result,
        calibration_from=sounds_calibration_set(esc, data.negatives),
        parity_set=parity,
        val_eval=evaluate_model(model, spec, parity),
        float_eval=float_eval,
        evaluate=lambda clf: evaluate_sounds(clf, held.clips, held.source),
        summarise=sounds_accuracy_summary(cv),
        extra={
            "cross_validation": cv,
            "head_training": sounds_head_training(args).to_dict(),
            "copy_levels_db": copy_levels(args),  # None: the augmentation's relative gain only
            "negative_levels": bool(copy_levels(args) and getattr(args, "negative_levels", False)),
            "negatives": held.by_source(),
        },
        card=False,
        # --quick's heads (2 epochs) sit near their decision boundaries, where INT8 flips more clips
        max_int8_drop=0.1 if args.quick else MAX_INT8_DROP,
    )


# ----------------------------------------------------------------------------- export, cards


def _calibration(train: WaveSet, n: int, seed: int, window: int) -> np.ndarray:
    """``n`` training clips for INT8 calibration; long clips give their loudest second."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(train), size=min(n, len(train)), replace=False)
    return np.stack([fit_length(train.audio[i], window, mode="energy") for i in idx]).astype(np.float32)


# The sounds figures a build and the pair it would replace are compared on: the recipe's cross-validation
# (from each file's metadata) and the held-out false alarms (both files scored alike by the build).
SOUNDS_COMPARED = ("cv_mean_accuracy", "cv_open_set_accuracy", "heldout_false_alarm_rate")


def compare_sounds(previous: Path, new: dict, t: Trained, threads: int = 2) -> Comparison:
    """The INT8 sounds file a build found at ``previous`` against the build's own figures (``new``, its
    ``accuracy`` summary): its held-out false alarms scored as the build scored its own (``t.evaluate``),
    its cross-validation read from its metadata. Another kind of model, other classes, a missing or an
    unreadable file are not compared (the build then writes its pair there)."""
    found, old = open_previous(
        previous, threads, lambda i: None if i.labels == t.spec.labels else f"other labels ({', '.join(i.labels)})"
    )
    if old is None:
        return found
    recorded = (old.info.accuracy or {}).get("int8", {})  # its build's cross-validation
    scored = t.summarise(t.evaluate(old), "int8")  # its held-out false alarms (and this build's CV: not used)
    previous_figures = {k: recorded[k] for k in SOUNDS_COMPARED if k.startswith("cv_") and k in recorded}
    previous_figures.update({k: scored[k] for k in SOUNDS_COMPARED if not k.startswith("cv_") and k in scored})
    found.scores = {"new": {k: new[k] for k in SOUNDS_COMPARED if k in new}, "previous": previous_figures}
    found.worse = worse_figures(found.scores["new"], found.scores["previous"], lambda k: k.startswith("cv_"))
    return found


def export_and_report(args: argparse.Namespace, t: Trained, t0: float) -> dict:
    """Export FP32 + INT8 (parity-checked), evaluate the INT8 file, write results, plots and the card."""
    from listener.export.bundle import comparison_line, export_bundle, move_pair, pair_paths, rebuilt_base
    from listener.export.card import machine
    from listener.export.parity import runtime_classifier

    spec = t.spec
    fp32_summary = t.summarise(t.float_eval, "fp32")
    calibration = _calibration(t.calibration_from, 256, args.seed, spec.window_samples)
    staged = rebuilt_base(args.runs, spec.name)  # in --out only once it is no worse than the pair there
    bundle = export_bundle(t.model, spec, staged, calibration, t.parity_set, {"fp32": fp32_summary}, t.max_int8_drop)
    _log(f"exported {bundle.int8_path} ({bundle.parity.int8_bytes} B) and {bundle.fp32_path}; parity {bundle.parity}")
    int8_eval = t.evaluate(runtime_classifier(bundle.int8_path))
    both = {"int8": t.summarise(int8_eval, "int8"), "fp32": fp32_summary}
    set_metadata(bundle.int8_path, spec.model_info("int8", both))
    set_metadata(bundle.fp32_path, spec.model_info("fp32", both))
    comparison = compare_sounds(pair_paths(args.out / spec.name)[1], both["int8"], t, args.threads)
    kept = comparison.keeps_previous and not args.replace
    if not kept:
        move_pair(staged, args.out / spec.name)
    _log(comparison_line(spec.name, comparison, args.out, staged, kept))
    fp32_path, int8_path = pair_paths(staged if kept else args.out / spec.name)
    summary = {
        "name": spec.name,
        "threshold": spec.threshold,
        "parameters": count_parameters(t.model),
        "files": {"int8": str(int8_path), "fp32": str(fp32_path)},
        "previous": asdict(comparison),  # the pair --out held, against this one
        "kept_previous": kept,
        "bytes": {"int8": bundle.parity.int8_bytes, "fp32": bundle.parity.fp32_bytes},
        "latency_ms_per_window_1_thread": {"int8": bundle.int8_latency_ms, "fp32": bundle.fp32_latency_ms},
        "parity": asdict(bundle.parity),
        "int8_passes_max_abs": bundle.int8_passes_max_abs,
        "accuracy": both,
        "build_seconds": time.time() - t0,
        "train_seconds": t.result.seconds,
        "built": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()},
    }
    evals = {"validation": t.val_eval}
    evals.update({f"{k}_fp32": v for k, v in t.float_eval.items()})
    evals.update({f"{k}_int8": v for k, v in int8_eval.items()})
    run_dir = args.runs / spec.name
    write_report(run_dir, spec, t.result, evals, extra={"summary": summary, **t.extra})
    if kept:  # the cards' record stays the one of the files in --out
        _log(f"{spec.name}: its record is {run_dir / 'results.json'}; {args.cards} unchanged")
    else:
        publish(run_dir, args.cards, spec, summary, t.float_eval, int8_eval, t.result, t.extra, t.card)
    _log(f"{spec.name}: done in {summary['build_seconds']:.0f} s: {json.dumps(both)}")
    return summary


def publish(
    run_dir: Path,
    cards: Path,
    spec: ModelSpec,
    summary: dict,
    float_eval: dict,
    int8_eval: dict,
    result,
    extra,
    card: bool = True,
) -> None:
    """Copy results.json and the plots (runs/ is not versioned) next to the model card, and write the card."""
    import shutil

    from listener.export.card import write_card

    dest = cards / spec.name
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(run_dir.glob("*.png")) + [run_dir / "results.json"]:
        if f.is_file() and (
            "int8" in f.name
            or not f.name.startswith("confusion_")
            or f.name in ("confusion_validation.png", "confusion_cv.png")
        ):
            shutil.copy2(f, dest / f.name)
    if card:
        write_card(cards / f"{spec.name}.md", spec, summary, float_eval, int8_eval, result, extra)


def _file_spec(path: Path) -> ModelSpec:
    """The recipe's sounds spec with a shipped file's own classes, thresholds and training data."""
    info = Classifier(path).info
    spec = sounds_spec([x for x in info.labels if x != OTHER], info.thresholds, info.threshold)
    spec.training_data = info.training_data
    return spec


def _sounds_record(path: Path) -> dict:
    """A results record for sounds files no build of this code wrote (the shipped 2.0: the research
    scripts built it; docs/models/sounds.md): the spec from the file's own metadata."""
    return {"spec": _file_spec(path).to_dict(), "training": None, "evaluation": {}, "summary": {"accuracy": {}}}


def _rescore_flag(args: argparse.Namespace) -> str:
    return "--requantize" if args.requantize else "--evaluate-only"


def reevaluate(args: argparse.Namespace, name: str) -> dict:
    """Score the shipped files in ``--out`` again through the runtime pipeline (no training) and rewrite
    ``docs/models/<name>/results.json`` (sounds; digits is scored by ``bench.bench_digits``). The
    build's own figures that need the PyTorch model (parity, training history) and the sounds
    cross-validation (a retraining per fold) are kept as they were."""
    from listener.export.parity import runtime_classifier

    card_dir = args.cards / name
    if name == "sounds" and not (card_dir / "results.json").is_file():
        data = _sounds_record(args.out / "sounds.onnx")  # files shipped without a build of this code
    else:
        data = json.loads((card_dir / "results.json").read_text())
    from listener.training.datasets.negatives import build_pool

    held = build_pool("heldout", negative_roots(args), seed=args.seed, scale=negative_scale(args), log=_log)
    evaluate = lambda clf: evaluate_sounds(clf, held.clips, held.source)  # noqa: E731
    summarise = sounds_accuracy_summary(data.get("cross_validation") or {})
    float_eval = evaluate(runtime_classifier(args.out / f"{name}.fp32.onnx"))
    int8_eval = evaluate(runtime_classifier(args.out / f"{name}.onnx"))
    for variant, ev in (("fp32", float_eval), ("int8", int8_eval)):
        data["evaluation"].update({f"{k}_{variant}": v for k, v in ev.items()})
        data["summary"]["accuracy"][variant] = summarise(ev, variant)
    data["reevaluated"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": f"python -m listener.export.build_defaults {_rescore_flag(args)} --only {name}",
        "fp32": f"assets/{name}.fp32.onnx",
    }
    for path in (args.out / f"{name}.fp32.onnx", args.out / f"{name}.onnx"):  # the files say what was measured
        set_metadata(path, replace(Classifier(path).info, accuracy=data["summary"]["accuracy"]))
    card_dir.mkdir(parents=True, exist_ok=True)
    (card_dir / "results.json").write_text(json.dumps(data, indent=2))
    # the sounds card is written from bench/ (docs/models/sounds.md says which commands)
    _log(f"{name}: re-evaluated: {json.dumps(data['summary']['accuracy'])}")
    return data["summary"]


class NotASoundsFile(ValueError):
    """A file ``--reexport`` / ``--requantize`` cannot read as a sounds model of the recipe."""


def file_sounds_model(path: Path) -> tuple[torch.nn.Module, ModelSpec]:
    """The network of FP32 sounds file `path` in torch (its heads, by their names in the file, under the
    recipe's front end and frozen backbone) and its spec (classes, thresholds from its metadata)."""
    from listener.errors import ModelError
    from listener.export.onnx_export import load_onnx_weights

    try:
        spec = _file_spec(path)
    except ModelError as exc:
        raise NotASoundsFile(str(exc)) from exc
    model = build_model(spec, seed=0)
    problems = load_onnx_weights(model, path, skip=("frontend.",))
    if problems:
        raise NotASoundsFile(f"{path} is not a sounds file of this recipe: {problems[0]}")
    return model.eval(), spec


def reexport(args: argparse.Namespace, name: str, source: Path | None = None) -> dict:
    """No training: the weights of the FP32 file `source` (``--reexport``; else ``--out``'s own,
    ``--requantize``) exported again into ``--out`` as a build's export step makes them (the current
    graph, the recipe's INT8 settings); then :func:`reevaluate` scores both files and writes their
    ``accuracy``. ``--reexport`` of ``X.fp32.onnx`` next to an INT8 ``X.onnx`` gives the new INT8 file
    that file's ranges (the same numbers, checked); otherwise, and always with ``--requantize``, they are
    calibrated on the build's calibration clips (a build with ``--seed S`` is matched by the same ``--seed``)."""
    from listener.export.bundle import pair_paths, staged_pair
    from listener.export.onnx_export import export_onnx
    from listener.export.quantize import quantize_model

    fp32 = pair_paths(args.out / name)[0]
    if source is None and not fp32.is_file():
        raise OSError(f"{fp32} not found: --requantize reads the FP32 file a build wrote (pass --out)")
    source = source or fp32
    if not source.is_file():
        raise OSError(f"{source} not found: --reexport reads an FP32 file a build wrote")
    model, spec = file_sounds_model(source)
    accuracy = Classifier(source).info.accuracy
    pool, mixed, _ = sounds_negatives(args)
    calibration = _calibration(
        sounds_calibration_set(build_esc_set(args.data), pool.clips + mixed), 256, args.seed, spec.window_samples
    )
    sibling = source.with_name(source.name.replace(".fp32.onnx", ".onnx"))
    ranges_from = (sibling, source) if source != fp32 and sibling != source and sibling.is_file() else None
    with staged_pair(args.out / name) as (tmp32, tmp8):  # --out keeps its pair until both are written
        export_onnx(model, spec, tmp32, accuracy)
        _, passes = quantize_model(model, tmp32, tmp8, calibration, spec, accuracy, ranges_from)
    fp32, int8 = pair_paths(args.out / name)
    how = f"{ranges_from[0]}'s INT8 ranges" if ranges_from else "INT8 calibrated"
    _log(f"{name}: {fp32} and {int8} exported from {source}'s weights, {how} (INT8 max |difference| {passes})")
    return reevaluate(args, name)


# ----------------------------------------------------------------------------- command line


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m listener.export.build_defaults", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)"
    )
    parser.add_argument(
        "--system-root",
        type=Path,
        default=Path("/"),
        help="sounds (and digits' --sound-negatives): where usr/share/... holds the Debian sound packages the "
        "negatives come from (default /)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "assets", help="where the .onnx files go")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="checkpoints, results.json and plots")
    parser.add_argument("--cards", type=Path, default=CARDS, help="model cards and their results (docs/models)")
    parser.add_argument("--only", choices=("digits", "sounds"), help="build one model")
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (smoke test)")
    parser.add_argument(
        "--epochs", type=int, help=f"digits epochs (default {DigitsRecipe.epochs}; --quick: {QUICK.epochs})"
    )
    parser.add_argument(
        "--members",
        type=int,
        help=f"digits networks trained with seeds SEED, SEED+1, ... and averaged in one file (default "
        f"{DigitsRecipe.members}; --quick: {QUICK.members})",
    )
    parser.add_argument(
        "--final-fit",
        action=argparse.BooleanOptionalAction,
        help="digits: AN4's and FSDD's validation speakers train too, so their validation figures are on trained "
        f"speakers (default {'on' if DigitsRecipe.final_fit else 'off'}; --quick: off; --no-final-fit holds them out "
        "to compare recipes: docs/training.md)",
    )
    parser.add_argument(
        "--sound-negatives",
        type=int,
        metavar="N",
        help="digits: N clips of the sounds model's non-speech training negatives (music, effects, synthetic) as "
        f"silence (default {DigitsRecipe.n_sound_negatives}; --quick: {QUICK.n_sound_negatives}; they need the Debian "
        "sound packages of docs/training.md, a missing one is skipped with a message)",
    )
    parser.add_argument(
        "--codec-p",
        type=float,
        metavar="P",
        help="digits: the share of augmented copies coded by a lossy codec, Opus 8-29 kbps or MP3, as voice notes "
        f"are (default {StringAugment.codec_p:g}: off; tried by a rule, docs/training.md)",
    )
    parser.add_argument(
        "--input-floor-db",
        type=floor_arg,
        metavar="DB",
        help="digits: the front end adds the mel power of white noise at DB dBFS to every frame, so digital silence "
        "(8-bit files, noise gates) reads as the faint noise training copies have; 'off' for none (default "
        f"{DigitsRecipe.frontend.floor_db if DigitsRecipe.frontend.floor_db is not None else OFF}; docs/training.md)",
    )
    parser.add_argument(
        "--clip-mode",
        choices=("window", "none"),
        help="digits: the front end's top-db clip, per embedding window as training saw it, or none (the embedding's "
        "convolutions then run once over a call, several times faster; pair it with --input-floor-db) (default "
        f"{DigitsRecipe.frontend.clip_mode}; tried by a rule and not adopted, docs/training.md)",
    )
    parser.add_argument(
        "--reexport",
        type=Path,
        metavar="FILE",
        help="no training (with --only): the weights of FILE (an FP32 file a build of this recipe wrote, e.g. "
        "assets/digits.fp32.onnx or assets/sounds.fp32.onnx) exported again with the current graph, the recipe's "
        "front end and INT8 settings into --out, then validated (digits) or scored (sounds) as a build does",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="put the new pair in --out even when the pair already there does better on the held-out figures "
        "(digits: the sets a final fit holds out; sounds: the cross-validation and the held-out false alarms). By "
        "default that pair stays and the new one goes to RUNS/<name>/rebuilt/; the log and the build's results.json "
        "say which figures decided",
    )
    parser.add_argument(
        "--sound-epochs", type=int, help=f"sounds head epochs per fold and final (default {SOUNDS_EPOCHS})"
    )
    parser.add_argument(
        "--copy-levels",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="sounds: every augmented ESC copy's loudest second at a random level in LOW..HIGH dBFS (e.g. -45 -6) "
        "instead of the relative gain only (default: off; tried in CV and two builds, not shipped: "
        "docs/models/sounds.md)",
    )
    parser.add_argument(
        "--negative-levels",
        action="store_true",
        help="sounds, with --copy-levels: every training negative also at a random level in LOW..HIGH dBFS",
    )
    parser.add_argument("--no-cv", action="store_true", help="skip the sounds cross-validation")
    parser.add_argument("--max-minutes", type=float, help="time budget per training run")
    parser.add_argument(
        "--cache", type=Path, help="digits embedding cache (default ~/.cache/listener/digits-ctc, or $LISTENER_CACHE)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        help=f"seed of every random draw (default: each model's own, digits {DigitsRecipe.seed}, sounds {SOUNDS_SEED})",
    )
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads per training run (default 2)")
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="no training: score the files already in --out through the runtime pipeline and rewrite the cards",
    )
    parser.add_argument(
        "--requantize",
        action="store_true",
        help="sounds, no training: --reexport of --out's own FP32 file (its weights exported again, INT8 "
        "with the recipe's settings), then both files scored as --evaluate-only does",
    )
    return parser.parse_args(argv)


def with_sounds_seed(args: argparse.Namespace) -> argparse.Namespace:
    """The sounds build's arguments: ``--seed`` if given, else ``SOUNDS_SEED`` (the digits build reads
    ``None`` as its recipe's own seed, ``DigitsRecipe.seed``)."""
    return args if args.seed is not None else argparse.Namespace(**{**vars(args), "seed": SOUNDS_SEED})


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    for flag in ("threads", "members", "epochs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            print(f"error: --{flag} must be >= 1", file=sys.stderr)
            return 2
    if args.sound_negatives is not None and args.sound_negatives < 0:
        print("error: --sound-negatives must be >= 0", file=sys.stderr)
        return 2
    if args.codec_p is not None and not 0.0 <= args.codec_p <= 1.0:
        print("error: --codec-p must be between 0 and 1", file=sys.stderr)
        return 2
    if args.reexport is not None:
        if args.only is None:
            print("error: --reexport reads one model's file (add --only digits or --only sounds)", file=sys.stderr)
            return 2
        if args.evaluate_only or args.requantize:
            print(f"error: --reexport exports and validates by itself; drop {_rescore_flag(args)}", file=sys.stderr)
            return 2
        if not args.reexport.is_file():
            print(f"error: --reexport: {args.reexport} not found", file=sys.stderr)
            return 2
    if not args.data.is_dir():
        print(f"error: data folder {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    try:
        copy_levels(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from listener.errors import ListenerError, interrupted
    from listener.export.parity import ParityError
    from listener.training.datasets.base import DatasetError

    t0 = time.time()
    names = [n for n in ("digits", "sounds") if args.only in (None, n)]
    summaries = {}
    sounds_args = with_sounds_seed(args)
    try:
        with interrupt.noting():
            for name in names:
                interrupt.check()  # a Ctrl-C the previous model's build lost (training/interrupt.py)
                if args.evaluate_only or args.requantize:
                    flag = _rescore_flag(args)
                    if name == "digits":  # a CTC model: bench/ scores it (and bench_digits_int8 re-quantizes it)
                        _log(f"digits: {flag} is for window models only; skipped")
                        continue
                    summaries[name] = (reexport if args.requantize else reevaluate)(sounds_args, name)
                    continue
                start = time.time()
                if name == "digits":
                    summaries[name] = build_digits_from(args, log=_log)
                    if summaries[name].get("interrupted"):
                        print(f"interrupted: digits weights so far in {summaries[name]['checkpoint']}", file=sys.stderr)
                        return interrupted()
                    continue
                if args.reexport is not None:
                    summaries[name] = reexport(sounds_args, name, args.reexport)
                    continue
                trained = train_sounds(sounds_args)
                summaries[name] = export_and_report(sounds_args, trained, start)
            interrupt.check()
    except (DatasetError, ListenerError, ParityError, NotADigitsFile, NotASoundsFile, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # train_ctc saves its checkpoint first; the sounds runs write theirs every epoch
        print(
            "interrupted: the build stopped; the cache copies and checkpoints it had finished are kept",
            file=sys.stderr,
        )
        return interrupted()
    _log(f"all done in {(time.time() - t0) / 60:.1f} min")
    print(json.dumps({k: v["accuracy"] for k, v in summaries.items()}, indent=2))
    for name, summary in summaries.items():  # the last thing said: which pairs did not go to --out
        if summary.get("kept_previous"):
            print(
                f"note: {name}: the pair in {args.out} did better and stays; the new one is {summary['files']['int8']} "
                "(--replace puts it there)",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
