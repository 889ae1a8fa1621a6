"""`listener analyze` real-time factor on a one-hour file, on one core.

    python -m bench.bench_analyze [--model digits] [--seconds 3600] [--core 0] [--out bench/results/analyze.json]

Builds (once) a one-hour 16 kHz file from FSDD / Speech Commands digits, quiet
room noise and the Speech Commands noise beds (bench/corpus.py), then runs
``taskset -c CORE listener analyze FILE --threads 1`` and reports the real-time
factor (audio seconds / wall seconds) of the whole command, start-up included,
and the detections against the ground truth. Writes bench/results/analyze.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.corpus import CACHE, build_hour, match, read_detections
from bench.record import write_record

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digits")
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--core", default="0")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "analyze.json", help="where the JSON result goes")
    args = ap.parse_args()
    t = time.time()
    wav, truth_path = build_hour(args.seconds)
    print(f"test file: {wav} ({args.seconds} s; built/cached in {time.time() - t:.1f} s)")
    truth = json.loads(truth_path.read_text())
    log = CACHE / "analyze_detections.jsonl"
    pin = ["taskset", "-c", args.core] if shutil.which("taskset") else []
    runs = []
    for _ in range(args.repeat):
        log.unlink(missing_ok=True)
        cmd = [
            *pin,
            sys.executable,
            "-m",
            "listener",
            "analyze",
            str(wav),
            "--model",
            args.model,
            "--threads",
            "1",
            "--progress",
            "never",
            "--log",
            str(log),
        ]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(res.stderr)
        runs.append(wall)
        print(res.stdout.strip().splitlines()[-1], f"| command wall {wall:.2f} s")
    detections = read_detections(log)
    best = min(runs)
    result = {
        "benchmark": "listener analyze, one-hour file, one core",
        "machine": " ".join(
            x for x in (platform.machine(), platform.processor(), platform.system(), platform.release()) if x
        ),
        "cpu_pinned": " ".join(pin) or "not pinned (no taskset)",
        "model": args.model,
        "audio_seconds": args.seconds,
        "wall_seconds_runs": [round(r, 2) for r in runs],
        "realtime_factor": round(args.seconds / best, 1),
        "command": " ".join(cmd[:-2] + ["--log", "FILE"]),
        "accuracy_vs_truth": match(detections, truth["events"]),
    }
    write_record(args.out, result)
    print(
        f"\n| audio | wall (best of {len(runs)}) | real-time factor | digits in file | detections | correct | recall |"
    )
    print("|---|---|---|---|---|---|---|")
    a = result["accuracy_vs_truth"]
    print(
        f"| {args.seconds} s | {best:.2f} s | {result['realtime_factor']:.0f}x | {a['events']} | "
        f"{a['detections']} | {a['correct']} | {a['recall']} |"
    )


if __name__ == "__main__":
    main()
