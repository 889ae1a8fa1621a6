"""CPU time of one model call per window (batch 1, one ONNX Runtime thread), models measured in turns.

    .venv/bin/python -m bench.bench_window_cpu assets/sounds.onnx assets/sounds.fp32.onnx [OLD.onnx ...]

Each run gets a different window of noise (a session fed one window again and again reports some
graphs several times faster than a live stream sees). CPU time (``time.process_time``) is what a
live ``listener run`` pays; wall time on a shared machine also counts the time other jobs held the
core. Rounds alternate the models so a change in the machine's load hits them all; the medians are
reported. Writes bench/results/window_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from listener.classifier import Classifier

RESULTS = Path(__file__).resolve().parent / "results"


def one_round(path: Path, runs: int) -> tuple[float, float]:
    """(CPU ms, wall median ms) per window over ``runs`` calls."""
    clf = Classifier(path, threads=1, providers=["CPUExecutionProvider"])
    n = clf.info.window_samples
    xs = (np.random.default_rng(0).standard_normal((64, 1, n)) * 0.05).astype(np.float32)
    for i in range(10):
        clf.predict(xs[i])
    wall = []
    c0 = time.process_time()
    for i in range(runs):
        t0 = time.perf_counter()
        clf.predict(xs[i % len(xs)])
        wall.append((time.perf_counter() - t0) * 1000)
    return (time.process_time() - c0) * 1000 / runs, float(np.median(wall))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="ONNX files")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=150, help="calls per model per round")
    parser.add_argument("--out", type=Path, default=RESULTS / "window_cpu.json")
    args = parser.parse_args(argv)
    missing = [str(m) for m in args.models if not m.is_file()]
    if missing:
        print(f"error: no such model file: {', '.join(missing)}", file=sys.stderr)
        return 2
    cpu: dict[str, list[float]] = {str(m): [] for m in args.models}
    wall: dict[str, list[float]] = {str(m): [] for m in args.models}
    for _ in range(args.rounds):
        for m in args.models:
            c, w = one_round(m, args.runs)
            cpu[str(m)].append(round(c, 3))
            wall[str(m)].append(round(w, 3))
    record = {
        "benchmark": "CPU ms per window, batch 1, 1 ONNX Runtime thread, a different window each call",
        "command": "python -m bench.bench_window_cpu " + " ".join(map(str, args.models)),
        "machine": f"{platform.machine()} {os.cpu_count()} cores {platform.system()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu_ms_per_window": {k: float(np.median(v)) for k, v in cpu.items()},
        "wall_median_ms": {k: float(np.median(v)) for k, v in wall.items()},
        "rounds_cpu_ms": cpu,
        "bytes": {str(m): m.stat().st_size for m in args.models},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["cpu_ms_per_window"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
