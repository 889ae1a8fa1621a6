"""The digits card's accuracy: the shipped files on held-out speakers, through ``listener analyze``'s pipeline.

    python -m bench.bench_digits [--data ../shared/data (or LISTENER_DATA)] [--part test]
                                 [--models assets/digits.fp32.onnx assets/digits.onnx]
                                 [--sweep 0.5 0.6 0.7 0.8 0.9] [--out docs/models/digits/results.json]

Each recording goes through the runtime's own pipeline (gate, frames, CTC decoder at the
model's own threshold and tail), as ``listener analyze`` treats a file holding it; the
scoring is ``listener.training.evaluate_strings`` (AN4 connected strings: digits right =
1 - edit distance / reference digits and exact strings; FSDD nicolas/theo and the Speech
Commands testing list: isolated digits; false digits per 100 words on AN4 test utterances
without digits and SC's other words; false digits per minute on the SC background noise
test region and ESC-10 fold 5). ``--sweep``: the INT8 file again at other thresholds (the
trade between digits and false digits). ``--part validation`` scores the validation
speakers instead (what the settings were chosen on).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from listener.classifier import Classifier, ClassifierOptions
from listener.training.evaluate import CachedClassifier
from listener.training.evaluate_strings import PARTS, digit_sets, log_digits, score_sets, summarize, with_settings

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("LISTENER_DATA", ROOT.parent / "shared" / "data"))
MODELS = (ROOT / "assets" / "digits.fp32.onnx", ROOT / "assets" / "digits.onnx")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--part", choices=PARTS, default="test")
    ap.add_argument("--models", type=Path, nargs="+", default=list(MODELS))
    ap.add_argument("--sweep", type=float, nargs="*", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "models" / "digits" / "results.json")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"bench_digits: no data folder {args.data} (pass --data or set LISTENER_DATA)")
    t0 = time.perf_counter()
    sets = digit_sets(args.data, args.part)
    print(f"{args.part} sets: {', '.join(f'{k} {len(v)}' for k, v in sets.items())} ({time.perf_counter() - t0:.1f} s)")
    result: dict = {
        "benchmark": "digits card accuracy through listener analyze's pipeline (listener.training.evaluate_strings)",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores {platform.system()} {platform.release()}",
        "command": "python -m bench.bench_digits " + " ".join(argv if argv is not None else sys.argv[1:]),
        "part": args.part,
        "audio_minutes": {k: round(sum(len(r.audio) for r in v) / 16000 / 60, 2) for k, v in sets.items()},
        "models": {},
    }
    last = None
    for path in args.models:
        clf = Classifier.from_options(ClassifierOptions(model=str(path), threads=args.threads))
        info = clf.info
        cached = CachedClassifier(clf)
        cached.info = info
        entry = {
            "file": str(Path(path).resolve().relative_to(ROOT))
            if Path(path).resolve().is_relative_to(ROOT)
            else str(path),
            "bytes": Path(path).stat().st_size,
            "variant": info.variant,
            "threshold": info.threshold,
            "thresholds": info.thresholds,
            "frame_tail_samples": info.frame_tail_samples,
            "sets": score_sets(cached, sets),
        }
        result["models"][info.variant] = entry
        last = (cached, info)
    if args.sweep and last is not None:
        cached, info = last
        sweep = {}
        for t in args.sweep:
            tuned = with_settings(cached, threshold=t)
            sweep[str(t)] = {name: summarize(log_digits(tuned, recs)) for name, recs in sets.items()}
        result["threshold_sweep"] = {"variant": info.variant, "by_threshold": sweep}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
