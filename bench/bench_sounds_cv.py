"""ESC-10 5-fold cross-validation of the sounds recipe, without the final model or export.

    .venv/bin/python -m bench.bench_sounds_cv [--folds 1,2,3,4,5] [--epochs 30] [--threads 1] [--quick]
                                              [--copy-levels -45 -6 [--negative-levels]]
                                              [--levels -45 -32 -22 -12 -6]

The recipe and loop of ``python -m listener.export.build_defaults --only sounds`` (official folds;
heads trained on the other folds' ESC windows and negatives, a fixed epoch count; each test clip
through the runtime's pipeline; per-class thresholds for each test fold chosen on the other folds'
out-of-fold negatives at the recipe's false-alarm target, and the recall they give on the test fold).
``--copy-levels``: the recipe variant whose augmented ESC copies sit at random absolute levels
(``build_defaults --copy-levels``), ``--negative-levels`` the training negatives too;
``--levels``: each test fold's clips again at these fixed levels
(loudest second, dBFS), closed-set accuracy per level (``mean_accuracy_at_levels``).
Appends one JSON line per run to ``bench/results/sounds_cv.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from listener.export.build_defaults import (
    DEFAULT_DATA,
    SOUNDS_SEED,
    SOUNDS_VERSION,
    copy_levels,
    cross_validate_sounds,
    sounds_data,
)

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--sound-epochs", "--epochs", type=int, dest="sound_epochs", help="head epochs per fold")
    parser.add_argument("--folds", default="1,2,3,4,5", help="comma-separated test folds")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads")
    parser.add_argument("--seed", type=int, default=SOUNDS_SEED)
    parser.add_argument("--quick", action="store_true", help="the recipe's small data (a smoke test)")
    parser.add_argument(
        "--copy-levels", type=float, nargs=2, metavar=("LOW", "HIGH"), help="augmented copies at absolute levels"
    )
    parser.add_argument(
        "--negative-levels", action="store_true", help="with --copy-levels: the training negatives at such levels too"
    )
    parser.add_argument("--levels", type=float, nargs="*", default=[], help="also score each test fold at these dBFS")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sounds_cv.jsonl")
    args = parser.parse_args(argv)
    try:
        folds = [int(f) for f in args.folds.split(",")]
    except ValueError:
        print(f"error: --folds {args.folds!r}: expected numbers like 1,2,3", file=sys.stderr)
        return 2
    try:
        copy_levels(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if any(level > 0 for level in args.levels):
        print("error: --levels are dBFS, at most 0", file=sys.stderr)
        return 2
    if args.threads < 1 or not (args.data / "esc10").is_dir():
        print("error: --threads must be >= 1 and DATA/esc10 must exist", file=sys.stderr)
        return 2
    t0 = time.time()
    cv = cross_validate_sounds(args, sounds_data(args), folds, args.levels)
    rec = {
        "recipe": f"sounds {SOUNDS_VERSION} (listener.export.build_defaults)",
        "quick": args.quick,
        "copy_levels": copy_levels(args),
        "negative_levels": args.negative_levels,
        "machine": f"{platform.machine()} {platform.system()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **cv,
        "seconds": round(time.time() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    keys = ("mean_accuracy", "mean_open_set_accuracy", "mean_accuracy_at_levels", "thresholds")
    print(json.dumps({k: rec[k] for k in keys if k in rec}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
