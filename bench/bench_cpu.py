"""CPU use of `listener run` on a live, real-time stream, as % of one core.

    python -m bench.bench_cpu [--model digits] [--seconds 60] [--mic] [--out FILE]

Default: the stream is a real-time paced file (digits every 2-10 s over room
noise and noise beds, bench/corpus.py) through `listener run --source FILE`.
With --mic: `listener run --source mic --device pulse` listening to a PulseAudio
null sink while paplay plays the same audio into it. CPU is the process's
user+system time (psutil) from the first audio block to the end, divided by
the wall time; start-up (imports, model load) is excluded. Writes
bench/results/cpu.json (or a name for the flags and model; ``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf

from bench.corpus import CACHE, RATE, build_hour, read_detections
from bench.machine import machine
from bench.record import write_record
from listener.config import RunOptions

RESULTS = Path(__file__).resolve().parent / "results"


FLOOR_LOOP = """
import sys, threading, time
period = float(sys.argv[1])
ev, t = threading.Event(), time.monotonic()
for _ in range(int(10.0 / period)):
    t += period
    ev.wait(max(0.0, t - time.monotonic()))
"""


def wakeup_floor(period: float) -> float:
    """CPU % of one core of a process that does nothing but wake every ``period`` s for 10 s.

    Every live stream wakes at its block rate, and on a VM each wake-up has a
    cost of its own; this says how much of the figure is that, on this machine.
    """
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_LOOP, str(period)])
    ps = psutil.Process(proc.pid)
    time.sleep(0.3)  # past interpreter start-up
    c0, t0 = ps.cpu_times(), time.monotonic()
    time.sleep(9.0)
    c1, t1 = ps.cpu_times(), time.monotonic()
    proc.wait()
    return round(100.0 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0), 2)


def pipeline_only(
    x: np.ndarray,
    model: str,
    threads: str,
    hop: str | None,
    block_s: float,
    frames_per_call: int | None = None,
    paced: bool = False,
) -> float:
    """CPU % of one core the pipeline itself (gate, windows, model, decider) needs for
    ``x``, fed in blocks of ``block_s`` as fast as it goes, with no pacing and no file reads:
    the part of the live figure that is our processing rather than streaming.

    ``paced``: the same blocks, each after a wait until its time as in a live stream (in this
    process, still no file reads). What that adds is the price of doing the work right after a
    wake-up (cold caches, a clock that idled), which some machines charge much more than others."""
    from listener.config import PipelineOptions
    from listener.pipeline import build_pipeline

    opts = PipelineOptions(
        model=model,
        threads=int(threads) if threads else None,
        hop=float(hop) if hop else None,
        frames_per_call=frames_per_call,
    )
    pipeline = build_pipeline(opts, "bench")
    block = int(block_s * RATE)
    wait = threading.Event()
    start = time.monotonic()
    t0 = time.process_time()
    for i in range(0, len(x), block):
        if paced and (delay := start + (i + block) / RATE - time.monotonic()) > 0:
            wait.wait(delay)
        pipeline.feed(x[i : i + block], time.monotonic())  # live: a sequence model computes its frames as they come
    pipeline.finish()
    return round(100.0 * (time.process_time() - t0) / (len(x) / RATE), 2)


SINK = "listener_bench_cpu"


def _arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digits")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--mic", action="store_true", help="through PulseAudio (a null sink) instead of a paced file")
    ap.add_argument("--threads", default="1", help='passed to listener run; "" for ONNX Runtime\'s default')
    ap.add_argument("--input", help="a clip to loop instead (e.g. assets/samples/digits.wav: a digit every 1.2 s)")
    ap.add_argument("--hop", help="passed to listener run (seconds between windows); default: the model's")
    ap.add_argument("--block-ms", type=int, help="passed to listener run (audio per block); default: listener run's")
    ap.add_argument(
        "--frames-per-call", type=int, help="sequence models: frames per model call (written to a --config file)"
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="where the JSON record goes (default: bench/results/, named for the stream, flags and the model "
        "file's stem, so a file called digits.onnx elsewhere would replace the shipped model's record)",
    )
    ap.add_argument(
        "--paced-pipeline",
        action="store_true",
        help="also time the pipeline's own work paced in this process (what wake-ups cost this machine; +SECONDS)",
    )
    return ap.parse_args()


def stream_audio(args: argparse.Namespace) -> tuple[np.ndarray, Path]:
    """The audio to stream (``--input`` looped, else the start of the noisy digits file) and its WAV."""
    n = int(args.seconds * RATE)
    if args.input:
        x, sr = sf.read(args.input, dtype="float32")
        assert sr == RATE and x.ndim == 1, "--input must be 16 kHz mono"
        x = np.resize(x, n)
    else:
        hour, _ = build_hour(600)
        x, _ = sf.read(str(hour), dtype="float32", frames=n)
    clip = CACHE / f"cpu_{int(args.seconds)}s{'_' + Path(args.input).stem if args.input else ''}.wav"
    CACHE.mkdir(exist_ok=True)
    sf.write(str(clip), x, RATE, subtype="PCM_16")
    return x, clip


def load_null_sink() -> str:
    """A PulseAudio null sink for ``--mic``; returns its module id (unload it when done)."""
    res = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={SINK}", "rate=16000", "channels=1"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise SystemExit(
            f"--mic needs a running PulseAudio server (start one with `pulseaudio -D "
            f"--exit-idle-time=-1`): pactl says {res.stderr.strip() or res.stdout.strip()}"
        )
    return res.stdout.strip()


def listener_command(args: argparse.Namespace, clip: Path, log: Path) -> list[str]:
    source = ["--source", "mic", "--device", "pulse", "--duration", str(args.seconds + 1)] if args.mic else []
    source = source or ["--source", str(clip)]
    threads = ["--threads", args.threads] if args.threads else []
    hop = ["--hop", args.hop] if args.hop else []
    block = ["--block-ms", str(args.block_ms)] if args.block_ms else []
    config = []
    if args.frames_per_call:
        path = CACHE / f"cpu_fpc{args.frames_per_call}.toml"
        path.write_text(f"frames_per_call = {args.frames_per_call}\n")
        config = ["--config", str(path)]
    return [sys.executable, "-m", "listener", "run", *source, "--model", args.model, *threads, *hop, *block, *config]


def measure_run(cmd: list[str], env: dict | None = None, on_listening=None) -> dict:
    """Run ``cmd`` (a ``listener run``) to its end; its CPU (user+system, psutil) from the moment it
    says it is listening (audio flows; start-up excluded) to its exit, as % of one core.

    ``on_listening`` is called at that moment (to start a player) and may return a Popen to wait for.
    Returns cpu_percent, seconds, per-second samples, and the rest of its stderr.
    """
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    ps = psutil.Process(proc.pid)
    said = []
    while not said or "listening" not in said[-1]:  # "listening to ..." when audio flows
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("".join(said) + proc.stderr.read())
        said.append(line)
    player = on_listening() if on_listening else None
    c0, t0 = ps.cpu_times(), time.monotonic()
    samples = []
    c_last, t_last = c0, t0
    while proc.poll() is None:
        time.sleep(1.0)
        try:
            c, t = ps.cpu_times(), time.monotonic()
        except psutil.NoSuchProcess:
            break
        samples.append(100.0 * ((c.user + c.system) - (c_last.user + c_last.system)) / (t - t_last))
        c_last, t_last = c, t
    rest = proc.stderr.read()
    proc.wait()
    if player:
        player.wait()
    cpu = 100.0 * ((c_last.user + c_last.system) - (c0.user + c0.system)) / (t_last - t0)
    return {"cpu_percent": cpu, "seconds": t_last - t0, "samples": samples, "stderr": "".join(said) + rest}


def result_name(args: argparse.Namespace) -> str:
    return (
        ("cpu_mic" if args.mic else "cpu")
        + ("" if args.threads else "_default_threads")
        + (f"_{Path(args.input).stem}" if args.input else "")
        + (f"_hop{args.hop}" if args.hop else "")
        + (f"_block{args.block_ms}" if args.block_ms else "")
        + (f"_fpc{args.frames_per_call}" if args.frames_per_call else "")
        + ("" if args.model in ("digits", "sounds") else f"_{Path(args.model).stem}")
        + ".json"
    )


def main() -> None:
    args = _arguments()
    x, clip = stream_audio(args)
    log = CACHE / "cpu_detections.jsonl"
    log.unlink(missing_ok=True)
    env = dict(os.environ)
    sink_module = None
    if args.mic:
        sink_module = load_null_sink()
        env["PULSE_SOURCE"] = f"{SINK}.monitor"
    block_s = (args.block_ms or RunOptions.block_ms) / 1000.0
    floor = wakeup_floor(block_s)
    own = pipeline_only(x, args.model, args.threads, args.hop, block_s, args.frames_per_call)
    own_paced = (
        pipeline_only(x, args.model, args.threads, args.hop, block_s, args.frames_per_call, paced=True)
        if args.paced_pipeline
        else None
    )
    try:
        cmd = listener_command(args, clip, log) + ["--log", str(log), "--quiet"]
        play = (lambda: subprocess.Popen(["paplay", f"--device={SINK}", str(clip)])) if args.mic else None
        run = measure_run(cmd, env, play)
        cpu, samples, seconds = run["cpu_percent"], run["samples"], run["seconds"]
    finally:
        if sink_module:
            subprocess.run(["pactl", "unload-module", sink_module], capture_output=True)
    dets = read_detections(log)
    result = {
        "benchmark": "listener run, CPU % of one core on a live stream",
        "machine": machine(),
        "stream": ("PulseAudio null sink -> PortAudio (mic path)" if args.mic else "real-time paced file")
        + (f", {Path(args.input).name} looped" if args.input else ", digits every 2-10 s over noise (bench/corpus.py)"),
        "model": args.model,
        "threads": args.threads or "onnxruntime default",
        "hop": args.hop or "model default",
        "frames_per_call": args.frames_per_call or "default",
        "seconds": round(seconds, 1),
        "cpu_percent_of_one_core": round(cpu, 2),
        "per_second_p50": round(float(np.percentile(samples, 50)), 2) if samples else None,
        "per_second_max": round(float(max(samples)), 2) if samples else None,
        "detections": len(dets),
        "block_ms": args.block_ms or RunOptions.block_ms,
        "wakeup_floor_percent": floor,
        "pipeline_only_percent": own,
    }
    if own_paced is not None:
        result["pipeline_paced_percent"] = own_paced
    out = args.out or RESULTS / result_name(args)
    write_record(out, result)
    print("| stream | seconds | CPU % of one core (mean) | per-second p50 | per-second max | detections |")
    print("|---|---|---|---|---|---|")
    print(
        f"A Python process that only wakes every {block_s * 1000:.0f} ms (as the stream does) uses {floor} % here; "
        f"the pipeline's own work on the same audio, unpaced, {own} %"
        + (f"; the same work paced in this process (no file reads), {own_paced} %." if own_paced is not None else ".")
    )
    print(
        f"| {result['stream']} | {result['seconds']} | {result['cpu_percent_of_one_core']} | "
        f"{result['per_second_p50']} | {result['per_second_max']} | {len(dets)} |"
    )


if __name__ == "__main__":
    main()
