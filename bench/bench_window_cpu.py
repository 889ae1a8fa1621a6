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
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.record import write_record
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


def op_times(path: Path, runs: int) -> dict[str, float]:
    """ONNX Runtime's own profile of ``runs`` calls (one thread, batch 1): ms per window by operator type,
    largest first. Only for graphs whose one input is the audio window."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "bench_window_cpu")
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    (audio,) = session.get_inputs()
    n = Classifier(path, threads=1, providers=["CPUExecutionProvider"]).info.window_samples
    xs = (np.random.default_rng(1).standard_normal((16, 1, n)) * 0.05).astype(np.float32)
    for i in range(runs):
        session.run(None, {audio.name: xs[i % len(xs)]})
    trace = Path(session.end_profiling())
    totals: dict[str, float] = {}
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"].get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + event["dur"] / 1000 / runs
    trace.unlink(missing_ok=True)
    return {op: round(ms, 3) for op, ms in sorted(totals.items(), key=lambda kv: -kv[1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="ONNX files")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=150, help="calls per model per round")
    parser.add_argument("--out", type=Path, default=RESULTS / "window_cpu.json")
    parser.add_argument("--ops", action="store_true", help="also ONNX Runtime's profile: ms per window by operator")
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
        "command": "python -m bench.bench_window_cpu " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()} {os.cpu_count()} cores {platform.system()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu_ms_per_window": {k: float(np.median(v)) for k, v in cpu.items()},
        "wall_median_ms": {k: float(np.median(v)) for k, v in wall.items()},
        "rounds_cpu_ms": cpu,
        "bytes": {str(m): m.stat().st_size for m in args.models},
    }
    if args.ops:
        record["ops_ms_per_window"] = {str(m): op_times(m, args.runs) for m in args.models}
    write_record(args.out, record)
    print(json.dumps(record["cpu_ms_per_window"], indent=2))
    for m, ops in record.get("ops_ms_per_window", {}).items():
        total = sum(ops.values()) or 1.0
        print(f"{m}: " + ", ".join(f"{op} {ms:.2f} ms ({100 * ms / total:.0f}%)" for op, ms in list(ops.items())[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
