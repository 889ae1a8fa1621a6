"""One command that rebuilds the shipped models from scratch into ``assets/``.

    python -m listener.export.build_defaults                  # digits + sounds (CV + final)
    python -m listener.export.build_defaults --only digits
    python -m listener.export.build_defaults --quick          # minutes; a smoke-test model
    python -m listener.export.build_defaults --evaluate-only  # re-score the files in assets/, rewrite the cards

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from listener.classifier import Classifier
from listener.export.build_digits import build_digits_from
from listener.training.corpus import (
    WaveSet,
    build_esc_set,
)
from listener.training.datasets.base import fit_length
from listener.training.evaluate import (
    EvalResult,
    predictions,
    run_clips,
    score,
)
from listener.training.frontend import SOUNDS_FRONTEND
from listener.training.models.kws import count_parameters
from listener.training.models.registry import ModelSpec, build_model
from listener.training.report import plot_confusion, write_report
from listener.training.train import TorchClassifier, TrainConfig, TrainResult, fit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CARDS = ROOT / "docs" / "models"

MODEL_VERSION = "1.1"  # the recipes below (docs/training.md tells how they were chosen)
OPERATING_POINTS = (0.5, 0.6, 0.7, 0.8, 0.9)  # thresholds the card tabulates for users choosing --threshold

# Sounds recipe.
SOUND_REPEATS = 3  # random 1 s crops of each 5 s clip per epoch
SOUND_EPOCHS = 40


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


# ----------------------------------------------------------------------------- digits
# The recipe, its stages and its knobs: listener/export/build_digits.py.


# ----------------------------------------------------------------------------- sounds


def evaluate_sounds(classifier: Classifier, ws: WaveSet) -> dict:
    """Accuracy on every ESC clip (5 s) through the runtime pipeline: sliding windows where the gate opens."""
    results = run_clips(classifier, ws.audio)
    entry = asdict(score(ws.labels, predictions(results, ws.label_names), ws.label_names))
    entry["no_window"] = sum(r.probs is None for r in results)
    return {"all_folds": entry}


def sounds_spec(labels: list[str]) -> ModelSpec:
    """The sounds model of the recipe, untrained."""
    return ModelSpec(
        name="sounds",
        version=MODEL_VERSION,
        kind="sound",
        labels=labels,
        reject_labels=[],
        arch="dscnn",
        arch_config={"channels": 64, "blocks": 5},
        frontend=asdict(SOUNDS_FRONTEND),
        threshold=0.5,
        training_data="ESC-10 (Piczak 2015), all 5 folds, 1 s crops of the loud part of each 5 s clip",
    )


def sounds_train_config(args: argparse.Namespace, epochs: int, progress: bool = True) -> TrainConfig:
    """No validation split inside a fold: a fixed epoch count, the last epoch is scored."""
    return TrainConfig(
        epochs=epochs,
        batch_size=32,
        lr=4e-3,
        seed=args.seed,
        patience=10**6,
        progress=progress,
        max_minutes=getattr(args, "max_minutes", None),
        threads=args.threads,
    )


def repeat(ws: WaveSet, times: int) -> WaveSet:
    """Each 5 s clip ``times`` per epoch (a different random crop each time)."""
    return WaveSet.concat([ws] * times)


def cross_validate_sounds(args: argparse.Namespace, esc: WaveSet, folds: list[int], epochs: int) -> dict:
    """ESC's official folds: train on the others, score the held-out fold through the runtime pipeline."""
    labels = list(esc.label_names)
    cv: dict[str, dict] = {}
    all_true, all_pred = [], []
    for k in folds:
        spec = sounds_spec(labels)
        model = build_model(spec, seed=args.seed)
        train, test = esc.subset(esc.folds != k), esc.subset(esc.folds == k)
        res = fit(
            model, repeat(train, SOUND_REPEATS), None, sounds_train_config(args, epochs, False), spec=spec, log=_log
        )
        pred = predictions(run_clips(TorchClassifier(model, spec), test.audio), labels)
        r = score(test.labels, pred, labels)
        cv[f"fold{k}"] = {"accuracy": r.accuracy, "macro_f1": r.macro_f1, "train_seconds": res.seconds}
        all_true.append(test.labels)
        all_pred.append(pred)
        _log(f"sounds fold {k}: accuracy {r.accuracy:.4f} ({res.seconds:.0f} s)")
    if not cv:
        return {}
    pooled = score(np.concatenate(all_true), np.concatenate(all_pred), labels)
    (args.runs / "sounds").mkdir(parents=True, exist_ok=True)
    plot_confusion(
        pooled.confusion,
        labels,
        f"ESC-10 5-fold CV, test folds pooled (acc {pooled.accuracy:.3f})",
        args.runs / "sounds" / "confusion_cv.png",
    )
    summary = {
        "protocol": "runtime pipeline",
        "folds": cv,
        "mean_accuracy": float(np.mean([v["accuracy"] for v in cv.values()])),
        "std_accuracy": float(np.std([v["accuracy"] for v in cv.values()])),
        "pooled": asdict(pooled),
    }
    _log(f"sounds CV mean accuracy {summary['mean_accuracy']:.4f}")
    return summary


def sounds_accuracy_summary(cv_mean: float) -> Callable[[dict, str], dict]:
    def summarise(ev: dict, variant: str) -> dict:
        return {
            "cv_mean_accuracy": round(cv_mean, 4),
            "train_accuracy_all_folds": round(ev["all_folds"]["accuracy"], 4),
            "variant": variant,
        }

    return summarise


def train_sounds(args: argparse.Namespace) -> Trained:
    """5-fold CV on ESC-10, then the shipped model on all folds with the same recipe."""
    esc = build_esc_set(args.data)
    labels = list(esc.label_names)
    _log(f"ESC-10: {len(esc)} clips, labels {labels}")
    folds = sorted(set(esc.folds.tolist()))
    epochs = args.sound_epochs or (3 if args.quick else SOUND_EPOCHS)
    cv = cross_validate_sounds(args, esc, [] if args.no_cv else (folds[:1] if args.quick else folds), epochs)
    spec = sounds_spec(labels)
    model = build_model(spec, seed=args.seed)
    cfg = sounds_train_config(args, epochs)
    result = fit(model, repeat(esc, SOUND_REPEATS), None, cfg, out_dir=args.runs / "sounds", spec=spec, log=_log)
    # no held-out data is left for the final model: its numbers on all clips (training data) are a sanity check
    float_eval = evaluate_sounds(TorchClassifier(model, spec), esc)
    return Trained(
        model=model,
        spec=spec,
        result=result,
        calibration_from=esc,
        parity_set=esc.subset(esc.folds == folds[0]),  # one fold is enough to compare INT8 with FP32
        val_eval=EvalResult(**{k: v for k, v in float_eval["all_folds"].items() if k != "no_window"}),
        float_eval=float_eval,
        evaluate=lambda clf: evaluate_sounds(clf, esc),
        summarise=sounds_accuracy_summary(cv.get("mean_accuracy", float("nan"))),
        extra={
            "cross_validation": cv,
            "epochs": epochs,
            "train_config": asdict(cfg),
            "crops_per_clip_per_epoch": SOUND_REPEATS,
        },
    )


# ----------------------------------------------------------------------------- export, cards


def _calibration(train: WaveSet, n: int, seed: int, window: int) -> np.ndarray:
    """``n`` training clips for INT8 calibration; long clips give their loudest second."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(train), size=min(n, len(train)), replace=False)
    return np.stack([fit_length(train.audio[i], window, mode="energy") for i in idx]).astype(np.float32)


def export_and_report(args: argparse.Namespace, t: Trained, t0: float) -> dict:
    """Export FP32 + INT8 (parity-checked), evaluate the INT8 file, write results, plots and the card."""
    from listener.export.bundle import export_bundle
    from listener.export.card import machine
    from listener.export.onnx_export import set_metadata
    from listener.export.parity import runtime_classifier

    spec = t.spec
    fp32_summary = t.summarise(t.float_eval, "fp32")
    calibration = _calibration(t.calibration_from, 256, args.seed, spec.window_samples)
    bundle = export_bundle(t.model, spec, args.out / spec.name, calibration, t.parity_set, {"fp32": fp32_summary})
    _log(f"exported {bundle.int8_path} ({bundle.parity.int8_bytes} B) and {bundle.fp32_path}; parity {bundle.parity}")
    int8_eval = t.evaluate(runtime_classifier(bundle.int8_path))
    both = {"int8": t.summarise(int8_eval, "int8"), "fp32": fp32_summary}
    set_metadata(bundle.int8_path, spec.model_info("int8", both))
    set_metadata(bundle.fp32_path, spec.model_info("fp32", both))
    summary = {
        "name": spec.name,
        "threshold": spec.threshold,
        "parameters": count_parameters(t.model),
        "files": {"int8": str(bundle.int8_path), "fp32": str(bundle.fp32_path)},
        "bytes": {"int8": bundle.parity.int8_bytes, "fp32": bundle.parity.fp32_bytes},
        "latency_ms_per_window_1_thread": {"int8": bundle.int8_latency_ms, "fp32": bundle.fp32_latency_ms},
        "parity": asdict(bundle.parity),
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
    publish(run_dir, args.cards, spec, summary, t.float_eval, int8_eval, t.result, t.extra)
    _log(f"{spec.name}: done in {summary['build_seconds']:.0f} s: {json.dumps(both)}")
    return summary


def publish(
    run_dir: Path, cards: Path, spec: ModelSpec, summary: dict, float_eval: dict, int8_eval: dict, result, extra
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
    write_card(cards / f"{spec.name}.md", spec, summary, float_eval, int8_eval, result, extra)


def reevaluate(args: argparse.Namespace, name: str) -> dict:
    """Score the shipped files in ``--out`` again through the runtime pipeline (no training) and rewrite
    ``docs/models/<name>/results.json``, its confusion plots and the card. The build's own figures that
    need the PyTorch model (parity, training history) and the sounds cross-validation (a retraining
    per fold) are kept as they were."""
    from listener.export.parity import runtime_classifier

    card_dir = args.cards / name
    data = json.loads((card_dir / "results.json").read_text())
    spec = ModelSpec.from_dict(data["spec"])
    esc = build_esc_set(args.data)
    evaluate = lambda clf: evaluate_sounds(clf, esc)  # noqa: E731
    summarise = sounds_accuracy_summary((data.get("cross_validation") or {}).get("mean_accuracy", float("nan")))
    float_eval = evaluate(runtime_classifier(args.out / f"{name}.fp32.onnx"))
    int8_eval = evaluate(runtime_classifier(args.out / f"{name}.onnx"))
    for variant, ev in (("fp32", float_eval), ("int8", int8_eval)):
        data["evaluation"].update({f"{k}_{variant}": v for k, v in ev.items()})
        data["summary"]["accuracy"][variant] = summarise(ev, variant)
    data["reevaluated"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": f"python -m listener.export.build_defaults --evaluate-only --only {name}",
        "fp32": f"assets/{name}.fp32.onnx",
    }
    (card_dir / "results.json").write_text(json.dumps(data, indent=2))
    for key, ev in int8_eval.items():
        title = f"{key}_int8 (acc {ev['accuracy']:.3f})"
        plot_confusion(ev["confusion"], ev["labels"], title, card_dir / f"confusion_{key}_int8.png")
    extra = {k: v for k, v in data.items() if k not in ("spec", "training", "evaluation", "summary")}
    from listener.export.card import write_card

    write_card(args.cards / f"{name}.md", spec, data["summary"], float_eval, int8_eval, data["training"], extra)
    _log(f"{name}: re-evaluated: {json.dumps(data['summary']['accuracy'])}")
    return data["summary"]


# ----------------------------------------------------------------------------- command line


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m listener.export.build_defaults", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "assets", help="where the .onnx files go")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="checkpoints, results.json and plots")
    parser.add_argument("--cards", type=Path, default=CARDS, help="model cards and their results (docs/models)")
    parser.add_argument("--only", choices=("digits", "sounds"), help="build one model")
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (smoke test)")
    parser.add_argument("--epochs", type=int, help="digits epochs (default 10; --quick: 1)")
    parser.add_argument("--sound-epochs", type=int, help=f"sounds epochs per fold and final (default {SOUND_EPOCHS})")
    parser.add_argument("--no-cv", action="store_true", help="skip the sounds cross-validation")
    parser.add_argument("--max-minutes", type=float, help="time budget per training run")
    parser.add_argument(
        "--cache", type=Path, help="digits embedding cache (default ~/.cache/listener/digits-ctc, or $LISTENER_CACHE)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads per training run (default 2)")
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="no training: score the files already in --out through the runtime pipeline and rewrite the cards",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.threads < 1:
        print("error: --threads must be >= 1", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"error: data folder {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    from listener.errors import ListenerError
    from listener.export.parity import ParityError
    from listener.training.datasets.base import DatasetError

    t0 = time.time()
    names = [n for n in ("digits", "sounds") if args.only in (None, n)]
    summaries = {}
    try:
        for name in names:
            if args.evaluate_only:
                if name == "digits":  # a CTC model: bench/ scores it as the runtime runs it
                    _log("digits: --evaluate-only re-scores window models only; skipped")
                    continue
                summaries[name] = reevaluate(args, name)
                continue
            start = time.time()
            if name == "digits":
                summaries[name] = build_digits_from(args, log=_log)
                if summaries[name].get("interrupted"):
                    print(f"interrupted: digits weights so far in {summaries[name]['checkpoint']}", file=sys.stderr)
                    return 130
                continue
            trained = train_sounds(args)
            summaries[name] = export_and_report(args, trained, start)
    except (DatasetError, ListenerError, ParityError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _log(f"all done in {(time.time() - t0) / 60:.1f} min")
    print(json.dumps({k: v["accuracy"] for k, v in summaries.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
