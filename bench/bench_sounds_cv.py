"""ESC-10 5-fold cross-validation of the sounds recipe, without the final model or export.

    .venv/bin/python -m bench.bench_sounds_cv --epochs 30 [--folds 1,2,3,4,5] [--threads 1]

Same recipe and loop as ``python -m listener.export.build_defaults --only sounds`` (official
folds, a fixed epoch count, the last epoch scored on the held-out fold, each clip through the
runtime's pipeline), so recipes can be compared in a third of the time.
Appends one JSON line per run to ``bench/results/sounds_cv.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from listener.export.build_defaults import DEFAULT_DATA, SOUND_REPEATS, repeat, sounds_spec, sounds_train_config
from listener.training.corpus import build_esc_set
from listener.training.models.registry import build_model
from listener.training.train import evaluate_model, fit

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per fold")
    parser.add_argument("--folds", default="1,2,3,4,5", help="comma-separated test folds")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sounds_cv.jsonl")
    args = parser.parse_args(argv)
    try:
        folds = [int(f) for f in args.folds.split(",")]
    except ValueError:
        print(f"error: --folds {args.folds!r}: expected numbers like 1,2,3", file=sys.stderr)
        return 2
    if args.epochs < 1 or args.threads < 1 or not (args.data / "esc10").is_dir():
        print("error: --epochs and --threads must be >= 1 and DATA/esc10 must exist", file=sys.stderr)
        return 2
    t0 = time.time()
    esc = build_esc_set(args.data)
    labels = list(esc.label_names)
    accs: dict[str, float] = {}
    for k in folds:
        spec = sounds_spec(labels)
        model = build_model(spec, seed=args.seed)
        train, test = esc.subset(esc.folds != k), esc.subset(esc.folds == k)
        cfg = sounds_train_config(args, args.epochs, progress=False)
        tf = time.time()
        fit(model, repeat(train, SOUND_REPEATS), None, cfg, spec=spec, log=lambda m: None)
        accs[str(k)] = evaluate_model(model, spec, test).accuracy
        print(f"fold {k}: {accs[str(k)]:.4f} ({time.time() - tf:.0f} s)", flush=True)
    rec = {
        "protocol": "runtime pipeline",
        "epochs": args.epochs,
        "threads": args.threads,
        "seed": args.seed,
        "folds": accs,
        "mean": float(np.mean(list(accs.values()))),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(rec))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
