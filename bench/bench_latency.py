"""Latency from the end of a spoken digit to its log line, p50 and p95.

    python -m bench.bench_latency [--model digits] [--digits 40] [--block-ms 30]

Builds a file of N digits (FSDD + Speech Commands clips, 1.5-3 s apart, over
-65 dBFS room noise) whose speech end times are known (last sample above 2 % of
the clip's peak), plays it in real time through the same Pipeline the CLI uses
(FileSource paced at real time -> VAD -> window -> INT8 model -> JSONL sink), and
measures, for each detection, the monotonic time right after its line was
written minus the moment the digit's last sample was spoken (stream time, so the
wait for the end of its block counts, as with a microphone). Not included: any
buffering inside the audio driver beyond the block itself.
Writes bench/results/latency.json (latency_block<MS>.json for a non-default --block-ms).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.corpus import CACHE, RATE, digit_clips, load16k, trim
from listener.audio import FileSource
from listener.config import PipelineOptions, RunOptions
from listener.pipeline import build_pipeline, run_stream

RESULTS = Path(__file__).resolve().parent / "results"


def build(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    clips = digit_clips()
    parts, events, pos = [np.zeros(RATE // 2, np.float32)], [], RATE // 2
    for _ in range(n):
        label, path = clips[rng.integers(len(clips))]
        x = trim(load16k(path))[:RATE]
        x *= 10 ** (-18 / 20) / max(1e-6, float(np.sqrt(np.mean(x**2))))
        loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
        gap = np.zeros(int(rng.uniform(1.5, 3.0) * RATE), np.float32)
        events.append({"label": label, "start": pos / RATE, "speech_end": (pos + loud[-1] + 1) / RATE})
        parts += [x, gap]
        pos += len(x) + len(gap)
    y = np.concatenate(parts)
    y += (np.random.default_rng(seed).standard_normal(len(y)) * 10 ** (-65 / 20)).astype(np.float32)
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"latency_{n}.wav"
    sf.write(str(path), y, RATE, subtype="PCM_16")
    return path, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digits")
    ap.add_argument("--digits", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--block-ms",
        type=int,
        default=RunOptions.block_ms,
        help=f"audio per block, as `listener run --block-ms` (default: {RunOptions.block_ms}, listener run's)",
    )
    args = ap.parse_args()
    path, events = build(args.digits)
    log = CACHE / "latency_detections.jsonl"
    RESULTS.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    written: list[tuple[float, object]] = []
    source = FileSource(path, RATE, realtime=True, block_seconds=args.block_ms / 1000.0)
    pipeline = build_pipeline(
        PipelineOptions(model=args.model, threads=args.threads, log=str(log)),
        str(path),
        on_detection=lambda d: written.append((time.monotonic(), d)),
    )
    stats = run_stream(source, pipeline, threading.Event(), realtime=True)
    pipeline.close()
    starts = np.array([e["start"] for e in events])
    lat, internal, matched = [], [], 0
    for t_written, d in written:
        i = int(np.searchsorted(starts, d.stream_s + 0.6)) - 1
        if i < 0 or not (events[i]["start"] - 0.6 <= d.stream_s <= events[i]["speech_end"] + 0.6):
            continue
        matched += 1
        lat.append(1000.0 * (t_written - (source.started_at + events[i]["speech_end"])))
        if d.latency_ms is not None:
            internal.append(d.latency_ms)
    p = lambda a, q: round(float(np.percentile(a, q)), 1) if a else None  # noqa: E731
    result = {
        "benchmark": "end of spoken digit -> log line written",
        "machine": f"{platform.machine()} {os.cpu_count()} cores {platform.system()} {platform.release()}",
        "model": args.model,
        "threads": args.threads,
        "block_ms": args.block_ms,
        "digits_played": len(events),
        "detections": len(written),
        "detections_on_a_digit": matched,
        "latency_ms_p50": p(lat, 50),
        "latency_ms_p95": p(lat, 95),
        "latency_ms_max": round(max(lat), 1) if lat else None,
        "latency_field_ms_p50": p(internal, 50),
        "latency_field_ms_p95": p(internal, 95),
        "audio_seconds": round(stats.seconds, 1),
    }
    (
        RESULTS / ("latency.json" if args.block_ms == RunOptions.block_ms else f"latency_block{args.block_ms}.json")
    ).write_text(json.dumps(result, indent=2) + "\n")
    print("| digits played | detections on a digit | p50 | p95 | max | log's latency_ms p50 / p95 |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(events)} | {matched} | {result['latency_ms_p50']} ms | {result['latency_ms_p95']} ms "
        f"| {result['latency_ms_max']} ms | {result['latency_field_ms_p50']} / {result['latency_field_ms_p95']} ms |"
    )


if __name__ == "__main__":
    main()
