"""CPU time of the training augmentation on one batch (64 x 1 s, one intra-op thread).

    .venv/bin/python -m bench.bench_augment [--rounds 5]

Two configurations: every wave step on every row (``speed_p``, ``shift_p``, ``noise_p``, ``band_p``,
``gain_p`` all 1) and ``AugmentConfig()``'s defaults. CPU time of the calling thread
(``time.thread_time``), the best of ``--rounds`` calls after one warm-up call: on a shared 2-core
machine wall time while a training job runs measures the scheduler, not the augmentation. Writes
bench/results/augment.json.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench.machine import machine
from bench.record import write_record
from listener.training.augment import AugmentConfig, Augmenter

RESULTS = Path(__file__).resolve().parent / "results"
SR = 16000
CONFIGS = {
    "every_step": AugmentConfig(speed_p=1, shift_p=1, noise_p=1, band_p=1, gain_p=1),
    "defaults": AugmentConfig(),
}


def best_cpu_ms(config: AugmentConfig, rounds: int, batch: int = 64) -> float:
    """The fewest CPU milliseconds one call on ``batch`` one-second rows took, over ``rounds`` calls."""
    bank = np.random.default_rng(0).standard_normal((50, SR)).astype(np.float32)
    aug = Augmenter(config, bank)
    x = torch.rand(batch, SR) - 0.5
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        aug(x)
        times = []
        for _ in range(rounds):
            t = time.thread_time()
            aug(x)
            times.append(time.thread_time() - t)
    finally:
        torch.set_num_threads(threads)
    return 1000 * min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed calls per configuration (the best is kept)")
    ap.add_argument("--out", type=Path, default=RESULTS / "augment.json")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    result = {
        "benchmark": "augmentation CPU time, 64 x 1 s, one thread (best of --rounds)",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "load_average": round(os.getloadavg()[0], 2),
        "ms": {name: round(best_cpu_ms(cfg, args.rounds), 1) for name, cfg in CONFIGS.items()},
    }
    for name, ms in result["ms"].items():
        print(f"{name}: {ms} ms CPU for 64 x 1 s")
    write_record(args.out, result, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
