"""The seed tutorials' approach vs `listener analyze`, on the same clips, one core.

    python -m bench.bench_tutorial [--clips 300] [--model digits]

Tutorial approach (the usual "spoken digit recognition" notebook): for each clip
``librosa.load`` (resampled to 16 kHz), 40 MFCCs averaged over time, then a
torch MLP (40-256-128-10) forward pass, one clip at a time. Its weights are
random: only the time is compared. Listener: ``listener analyze`` on the same
files (VAD, window, INT8 model with its front end inside). Both run under
``taskset -c 0`` with one thread. Times: the per-clip loop alone (imports and
model set-up excluded) for the tutorial; for the listener both the whole
command (start-up included) and the processing time it reports.
Writes bench/results/tutorial.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.corpus import digit_clips
from bench.machine import machine
from bench.record import write_record

RESULTS = Path(__file__).resolve().parent / "results"

TUTORIAL = r"""
import sys, time, json
import torch, librosa, numpy as np
torch.set_num_threads(1)
files = sys.argv[1:]
nn = torch.nn
mlp = nn.Sequential(nn.Linear(40, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
# warm up librosa's lazy imports and caches on the first file, outside the timing
y, sr = librosa.load(files[0], sr=16000); librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)
t0 = time.perf_counter()
labels = []
with torch.no_grad():
    for f in files:
        y, sr = librosa.load(f, sr=16000)
        feat = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).mean(axis=1)
        labels.append(int(mlp(torch.from_numpy(feat).float()[None]).argmax()))
print(json.dumps({"seconds": time.perf_counter() - t0, "clips": len(labels)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--model", default="digits")
    ap.add_argument("--core", default="0")
    args = ap.parse_args()
    clips = digit_clips()
    step = max(1, len(clips) // args.clips)
    files = [str(p) for _, p in clips[::step][: args.clips]]
    pin = ["taskset", "-c", args.core] if shutil.which("taskset") else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    t0 = time.perf_counter()
    res = subprocess.run([*pin, sys.executable, "-c", TUTORIAL, *files], capture_output=True, text=True, env=env)
    tut_wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    tut = json.loads(res.stdout.strip().splitlines()[-1])

    t0 = time.perf_counter()
    res = subprocess.run(
        [
            *pin,
            sys.executable,
            "-m",
            "listener",
            "analyze",
            *files,
            "--model",
            args.model,
            "--threads",
            "1",
            "--progress",
            "never",
            "--log",
            os.devnull,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    lis_wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    m = re.search(r"of audio in ([0-9.]+) s", res.stdout)
    lis_proc = float(m.group(1)) if m else None
    audio_s = float(re.search(r"([0-9.]+) s of audio", res.stdout).group(1))
    result = {
        "benchmark": "tutorial (librosa MFCC-mean + torch MLP, per clip) vs listener analyze",
        "machine": machine(),
        "clips": len(files),
        "audio_seconds": audio_s,
        "tutorial_loop_s": round(tut["seconds"], 3),
        "tutorial_command_s": round(tut_wall, 2),
        "listener_processing_s": lis_proc,
        "listener_command_s": round(lis_wall, 2),
        "ratio_loop_vs_processing": round(tut["seconds"] / lis_proc, 1) if lis_proc else None,
        "ratio_command_vs_command": round(tut_wall / lis_wall, 1),
    }
    write_record(RESULTS / "tutorial.json", result)
    print(
        "| clips | audio | tutorial loop | listener processing | ratio | tutorial command | listener command | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {len(files)} | {audio_s:.0f} s | {tut['seconds']:.2f} s | {lis_proc:.2f} s | "
        f"{result['ratio_loop_vs_processing']}x "
        f"| {tut_wall:.2f} s | {lis_wall:.2f} s | {result['ratio_command_vs_command']}x |"
    )


if __name__ == "__main__":
    main()
