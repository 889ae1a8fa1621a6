"""Latency from the end of a spoken digit to its log line, p50 and p95, for each digit.

    python -m bench.bench_latency [--model digits] [--digits 40] [--block-ms 30]
    python -m bench.bench_latency --strings 20 [--model PATH]   # digits said in one breath

Builds a file of N digits (FSDD + Speech Commands clips, 1.5-3 s apart, over
-65 dBFS room noise) whose speech end times are known (last sample above 2 % of
the clip's peak), plays it in real time through the same Pipeline the CLI uses
(FileSource paced at real time -> gate -> windows or frames -> model -> JSONL sink), and
measures, for each detection, the monotonic time right after its line was
written minus the moment the digit's last sample was spoken (stream time, so the
wait for the end of its block counts, as with a microphone). Not included: any
buffering inside the audio driver beyond the block itself.

With ``--strings N``: N strings of 2-4 digits each, the digits joined with 0-0.12 s
between them (one breath: the gate stays open), 1.5-3 s between strings. Each
detection is matched to the first digit of its string with its label not matched yet
(in order), and the latency is that digit's own end -> its line: the figure a sequence
(ctc) model's goal is about (p50 <= 250 ms for each digit of a string). Also reported:
digits found, strings read exactly, and the sequence records (their latency includes
the pause that ends them, ``--sequence-pause``).

Writes bench/results/latency.json (latency_block<MS>.json for a non-default --block-ms;
latency_strings.json with --strings), or ``--out FILE`` (to measure another machine or
model without replacing the records the docs cite).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.corpus import CACHE, RATE, digit_clips, load16k, trim
from bench.machine import machine
from bench.record import write_record
from listener.audio import FileSource
from listener.config import PipelineOptions, RunOptions
from listener.pipeline import build_pipeline, run_stream
from listener.windows import FRAMES_PER_CALL

RESULTS = Path(__file__).resolve().parent / "results"


def word(path: Path) -> tuple[np.ndarray, int]:
    """A digit clip at -18 dBFS RMS, trimmed, and the index after its last sample above 2 % of its peak."""
    x = trim(load16k(path))[:RATE]
    x *= 10 ** (-18 / 20) / max(1e-6, float(np.sqrt(np.mean(x**2))))
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    return x, int(loud[-1]) + 1


def write(parts: list[np.ndarray], seed: int, name: str) -> Path:
    """The parts over -65 dBFS room noise, as a 16-bit WAV in the cache."""
    y = np.concatenate(parts)
    y += (np.random.default_rng(seed).standard_normal(len(y)) * 10 ** (-65 / 20)).astype(np.float32)
    CACHE.mkdir(exist_ok=True)
    path = CACHE / name
    sf.write(str(path), y, RATE, subtype="PCM_16")
    return path


def build(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    clips = digit_clips()
    parts, events, pos = [np.zeros(RATE // 2, np.float32)], [], RATE // 2
    for _ in range(n):
        label, path = clips[rng.integers(len(clips))]
        x, end = word(path)
        gap = np.zeros(int(rng.uniform(1.5, 3.0) * RATE), np.float32)
        events.append({"label": label, "start": pos / RATE, "speech_end": (pos + end) / RATE})
        parts += [x, gap]
        pos += len(x) + len(gap)
    return write(parts, seed, f"latency_{n}.wav"), events


def build_strings(n: int, seed: int = 2):
    """N strings of 2-4 digits said in one breath; returns the WAV and, per string, its digits
    (label, speech end in stream seconds)."""
    rng = np.random.default_rng(seed)
    clips = digit_clips()
    parts, strings, pos = [np.zeros(RATE // 2, np.float32)], [], RATE // 2
    for _ in range(n):
        digits = []
        for k in range(int(rng.integers(2, 5))):
            label, path = clips[rng.integers(len(clips))]
            x, end = word(path)
            x = x[: end + RATE // 50]  # trimmed to the word: the next one follows at once
            if k:
                gap = np.zeros(int(rng.uniform(0.0, 0.12) * RATE), np.float32)
                parts.append(gap)
                pos += len(gap)
            digits.append({"label": label, "start": pos / RATE, "speech_end": (pos + end) / RATE})
            parts.append(x)
            pos += len(x)
        pause = np.zeros(int(rng.uniform(1.5, 3.0) * RATE), np.float32)
        parts.append(pause)
        pos += len(pause)
        strings.append(digits)
    return write(parts, seed, f"latency_strings_{n}.wav"), strings


def match_strings(written: list, strings: list[list[dict]], started_at: float) -> dict:
    """Each detection to the first not yet matched digit of its string with its label, in order."""
    taken: set[tuple[int, int]] = set()
    lat, internal, frame_delay, extra = [], [], [], 0
    found = [[None] * len(s) for s in strings]
    for t_written, d in written:
        for si, digits in enumerate(strings):
            if not digits[0]["start"] - 0.3 <= d.stream_s <= digits[-1]["speech_end"] + 1.5:
                continue
            j = next((j for j, g in enumerate(digits) if (si, j) not in taken and g["label"] == d.label), None)
            if j is None:
                extra += 1
            else:
                taken.add((si, j))
                found[si][j] = d.label
                lat.append(1000.0 * (t_written - (started_at + digits[j]["speech_end"])))
                frame_delay.append(1000.0 * (d.stream_s - digits[j]["speech_end"]))
                if d.latency_ms is not None:
                    internal.append(d.latency_ms)
            break
        else:
            extra += 1
    said = sum(len(s) for s in strings)
    exact = sum(all(f is not None for f in fs) for fs in found)
    return {
        "lat": lat,
        "internal": internal,
        "frame_delay": frame_delay,
        "digits_said": said,
        "digits_found": len(taken),
        "extra": extra,
        "strings": len(strings),
        "strings_with_every_digit": exact,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digits")
    ap.add_argument("--digits", type=int, default=40)
    ap.add_argument("--strings", type=int, help="measure each digit of N strings said in one breath instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames-per-call", type=int, help="sequence models: frames per model call (the config knob)")
    ap.add_argument(
        "--block-ms",
        type=int,
        default=RunOptions.block_ms,
        help=f"audio per block, as `listener run --block-ms` (default: {RunOptions.block_ms}, listener run's)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="where the JSON record goes (default: bench/results/latency[_strings][_blockMS][_fpcN].json, "
        "the records the docs cite)",
    )
    args = ap.parse_args()
    if args.strings:
        return strings_main(args)
    path, events = build(args.digits)
    written, source, stats, _ = play(path, args)
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
        "machine": machine(),
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
    write_record(result_path(args), result)
    print("| digits played | detections on a digit | p50 | p95 | max | log's latency_ms p50 / p95 |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(events)} | {matched} | {result['latency_ms_p50']} ms | {result['latency_ms_p95']} ms "
        f"| {result['latency_ms_max']} ms | {result['latency_field_ms_p50']} / {result['latency_field_ms_p95']} ms |"
    )


def result_path(args: argparse.Namespace) -> Path:
    """``--out``, else the record named for the flags that change what is measured."""
    if args.out is not None:
        return args.out
    if args.strings:
        return RESULTS / ("latency_strings" + (f"_fpc{args.frames_per_call}" if args.frames_per_call else "") + ".json")
    return RESULTS / ("latency.json" if args.block_ms == RunOptions.block_ms else f"latency_block{args.block_ms}.json")


def play(path: Path, args: argparse.Namespace):
    """Play ``path`` in real time through the CLI's pipeline; (detections with the time their line was
    written, the source, the stats, sequences with theirs)."""
    log = CACHE / "latency_detections.jsonl"
    log.unlink(missing_ok=True)
    written: list[tuple[float, object]] = []
    sequences: list[tuple[float, object]] = []
    source = FileSource(path, RATE, realtime=True, block_seconds=args.block_ms / 1000.0)
    pipeline = build_pipeline(
        PipelineOptions(model=args.model, threads=args.threads, log=str(log), frames_per_call=args.frames_per_call),
        str(path),
        on_detection=lambda d: written.append((time.monotonic(), d)),
        on_sequence=lambda s: sequences.append((time.monotonic(), s)),
    )
    stats = run_stream(source, pipeline, threading.Event(), realtime=True)
    pipeline.close()
    return written, source, stats, sequences


def strings_main(args: argparse.Namespace) -> None:
    path, strings = build_strings(args.strings)
    written, source, stats, sequences = play(path, args)
    m = match_strings(written, strings, source.started_at)
    lat, internal, frame_delay = m.pop("lat"), m.pop("internal"), m.pop("frame_delay")
    p = lambda a, q: round(float(np.percentile(a, q)), 1) if a else None  # noqa: E731
    seq_lat = [s.latency_ms for _, s in sequences if s.latency_ms is not None]
    result = {
        "benchmark": "end of each spoken digit of a string said in one breath -> its log line",
        "machine": machine(),
        "model": args.model,
        "threads": args.threads,
        "block_ms": args.block_ms,
        "frames_per_call": args.frames_per_call or FRAMES_PER_CALL,
        **m,
        "latency_ms_p50": p(lat, 50),
        "latency_ms_p95": p(lat, 95),
        "latency_ms_max": round(max(lat), 1) if lat else None,
        "latency_field_ms_p50": p(internal, 50),
        "latency_field_ms_p95": p(internal, 95),
        # stream_s (the end of the decision frame's audio) - the digit's end: how late the model decides,
        # in stream time; the rest of the latency is the runtime's (blocks, frames per call, the model call)
        "decision_frame_after_word_end_ms_p50": p(frame_delay, 50),
        "decision_frame_after_word_end_ms_p95": p(frame_delay, 95),
        "sequences": len(sequences),
        "sequence_digits": [s.digits for _, s in sequences],
        "sequence_latency_ms_p50": p(seq_lat, 50),
        "audio_seconds": round(stats.seconds, 1),
    }
    write_record(result_path(args), result)
    print("| strings (digits) | digits found | strings with every digit | extra | p50 | p95 | max | sequence records |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {m['strings']} ({m['digits_said']}) | {m['digits_found']} | {m['strings_with_every_digit']} | "
        f"{m['extra']} | {result['latency_ms_p50']} ms | {result['latency_ms_p95']} ms | {result['latency_ms_max']} ms "
        f"| {len(sequences)} (p50 {result['sequence_latency_ms_p50']} ms after the last digit's frame) |"
    )
    print(
        f"The model decides each digit p50 {result['decision_frame_after_word_end_ms_p50']} ms "
        f"(p95 {result['decision_frame_after_word_end_ms_p95']} ms) of stream time after its end; "
        "the rest is the runtime's."
    )


if __name__ == "__main__":
    main()
