"""CPU use of the desktop app while listening, against ``listener run`` on the same input,
and frames per second of the spectrogram view.

Every process plays the same paced recording (the bundled spoken-digits clip,
repeated; real time) through
the same pipeline. CPU % is sampled with psutil between ``--warmup`` and
``--warmup + --measure`` seconds after launch, so start-up (imports, model
load) is left out; 100 % = one core. Under Xvfb the X server's own CPU is
reported too (it turns the app's drawing into pixels).

Spectrogram FPS: a window in this process plays the recording and counts paints
(the app repaints from a 30 fps timer, only when new audio arrived); the cost of
one paint is timed by forcing ``repaint()`` in a loop.

    python -m bench.bench_gui                       # digits model, the sample clip repeated to 30 s
    python -m bench.bench_gui --model sounds --repeats 3

Writes bench/results/gui.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf
import soxr

from bench.record import write_record

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def make_clip(path: Path, sample: Path, seconds: float) -> Path:
    """``sample`` (e.g. the bundled spoken-digits clip) repeated to ``seconds``, at 16 kHz."""
    x, sr = sf.read(sample, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE:
        x = soxr.resample(x, sr, RATE).astype(np.float32)
    reps = int(np.ceil(seconds * RATE / len(x)))
    sf.write(path, np.tile(x, reps)[: int(seconds * RATE)], RATE, subtype="PCM_16")
    return path


def cpu_of(cmd: list[str], env: dict, warmup: float, measure: float, extra: psutil.Process | None = None) -> dict:
    """Launch ``cmd``, return its CPU % (and ``extra``'s, e.g. Xvfb) over [warmup, warmup+measure]."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
    p = psutil.Process(proc.pid)
    try:
        time.sleep(warmup)
        if proc.poll() is not None:
            err.seek(0)
            raise RuntimeError(f"{cmd[:4]} exited early: {err.read().decode()[-800:]}")
        c0, w0 = p.cpu_times(), time.monotonic()
        x0 = extra.cpu_times() if extra else None
        time.sleep(measure)
        c1, w1 = p.cpu_times(), time.monotonic()
        x1 = extra.cpu_times() if extra else None
        rss = p.memory_info().rss
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} ended before the measurement did (clip too short?)")
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    wall = w1 - w0
    out = {
        "cpu_pct": round(100 * ((c1.user - c0.user) + (c1.system - c0.system)) / wall, 1),
        "rss_mb": round(rss / 2**20, 1),
    }
    if extra:
        out["xserver_cpu_pct"] = round(100 * ((x1.user - x0.user) + (x1.system - x0.system)) / wall, 1)
    return out


def start_xvfb(display: str) -> subprocess.Popen | None:
    if shutil.which("Xvfb") is None:
        return None
    x = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return x if x.poll() is None else None


def fps_in_process(model: str, clip: Path, seconds: float) -> dict:
    """Play ``clip`` in a window here; count spectrogram paints, then time forced repaints."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from listener.config import RunOptions
    from listener.gui.settings import GuiSettings
    from listener.gui.window import FPS, MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = tempfile.mkdtemp()
    w = MainWindow(
        store=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat),
        settings=GuiSettings(options=RunOptions(model=model)),
    )
    w.resize(1180, 720)
    w.show()
    w.use_file(str(clip))
    w.start()
    t_end = time.monotonic() + 60
    while w.session is None and w.worker.is_running() and time.monotonic() < t_end:
        app.processEvents()
        time.sleep(0.005)
    if w.session is None:
        raise RuntimeError(f"the app did not start: {w.banner.label.text()}")
    app.processEvents()
    f0, t0, c0 = w.spectrogram.frames, time.monotonic(), time.process_time()
    while time.monotonic() - t0 < seconds and w.worker.is_running():
        app.processEvents()
        time.sleep(0.002)
    f1, t1, c1 = w.spectrogram.frames, time.monotonic(), time.process_time()
    detections = len(w.history_model.detections())
    w.stop()
    w.worker.wait(5)
    # The cost of one spectrogram paint at this size (what 30 fps costs).
    n = 300
    p0 = time.perf_counter()
    for _ in range(n):
        w.spectrogram.repaint()
    paint_ms = (time.perf_counter() - p0) * 1000 / n
    q0 = time.perf_counter()
    for _ in range(n):
        w.waveform.repaint()
    wave_ms = (time.perf_counter() - q0) * 1000 / n
    size = (w.spectrogram.width(), w.spectrogram.height())
    w.close()
    return {
        "target_fps": FPS,
        "spectrogram_fps": round((f1 - f0) / (t1 - t0), 1),
        "spectrogram_paint_ms": round(paint_ms, 2),
        "spectrogram_max_fps": round(1000 / paint_ms, 0),
        "waveform_paint_ms": round(wave_ms, 2),
        "spectrogram_size_px": size,
        "in_process_cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 1),
        "detections": detections,
        "seconds": round(t1 - t0, 1),
    }


def machine() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime
    import PySide6

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "pyside6": PySide6.__version__,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="digits")
    ap.add_argument(
        "--input", help="recording to repeat (default: assets/samples/digits.wav, sounds.wav for --model sounds)"
    )
    ap.add_argument("--warmup", type=float, default=6.0, help="seconds after launch before measuring")
    ap.add_argument("--measure", type=float, default=20.0, help="seconds measured")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gui.json"))
    return ap.parse_args()


def measure_cpu(args: argparse.Namespace, clip: Path, tmp: Path) -> dict[str, list[dict]]:
    """``listener run``, the app offscreen and the app under Xvfb, each ``--repeats`` times, in turn."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "config"), "PYTHONUNBUFFERED": "1"}
    py = sys.executable
    run_cmd = [py, "-m", "listener", "run", "--source", str(clip), "--model", args.model]
    run_cmd += ["--log", str(tmp / "run.jsonl"), "--quiet"]
    gui_cmd = [py, "-m", "listener.gui", "--source", str(clip), "--model", args.model, "--log", str(tmp / "gui.jsonl")]
    results: dict[str, list[dict]] = {"listener run": [], "gui (offscreen)": [], "gui (Xvfb, xcb)": []}
    xvfb = start_xvfb(":97")
    try:
        for r in range(args.repeats):
            results["listener run"].append(cpu_of(run_cmd, env, args.warmup, args.measure))
            offscreen = {**env, "QT_QPA_PLATFORM": "offscreen"}
            results["gui (offscreen)"].append(cpu_of(gui_cmd, offscreen, args.warmup, args.measure))
            if xvfb is not None:
                xcb = {**env, "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":97"}
                server = psutil.Process(xvfb.pid)
                results["gui (Xvfb, xcb)"].append(cpu_of(gui_cmd, xcb, args.warmup, args.measure, extra=server))
            print(
                f"repeat {r + 1}/{args.repeats}: "
                + ", ".join(f"{k} {v[-1]['cpu_pct']} %" for k, v in results.items() if v),
                file=sys.stderr,
            )
    finally:
        if xvfb is not None:
            xvfb.terminate()
    return results


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Medians over the repeats of each process."""

    def median(rows: list[dict], key: str) -> float | None:
        vals = [r[key] for r in rows if key in r]
        return round(float(np.median(vals)), 1) if vals else None

    return {
        k: {
            "cpu_pct_median": median(v, "cpu_pct"),
            "xserver_cpu_pct_median": median(v, "xserver_cpu_pct"),
            "rss_mb": median(v, "rss_mb"),
            "runs": v,
        }
        for k, v in results.items()
        if v
    }


def print_tables(summary: dict[str, dict], fps: dict, repeats: int) -> None:
    base = summary["listener run"]["cpu_pct_median"]
    print(f"| process | CPU % (median of {repeats}) | vs `listener run` | X server CPU % | RSS MB |")
    print("|---|---|---|---|---|")
    for k, v in summary.items():
        delta = "" if k == "listener run" else f"+{v['cpu_pct_median'] - base:.1f} points"
        xs = "" if v["xserver_cpu_pct_median"] is None else f"{v['xserver_cpu_pct_median']}"
        print(f"| {k} | {v['cpu_pct_median']} | {delta} | {xs} | {v['rss_mb']} |")
    print()
    print(
        f"spectrogram: {fps['spectrogram_fps']} fps while listening (timer target {fps['target_fps']}); "
        f"one paint {fps['spectrogram_paint_ms']} ms at "
        f"{fps['spectrogram_size_px'][0]}x{fps['spectrogram_size_px'][1]} px "
        f"(up to {fps['spectrogram_max_fps']:.0f} fps); waveform paint {fps['waveform_paint_ms']} ms"
    )


def main() -> int:
    args = _arguments()
    host = machine()  # before the runs: the load average says how busy the box was
    tmp = Path(tempfile.mkdtemp(prefix="bench_gui_"))
    sample = (
        Path(args.input)
        if args.input
        else ROOT / "assets" / "samples" / ("sounds.wav" if args.model == "sounds" else "digits.wav")
    )
    clip = make_clip(tmp / "clip.wav", sample, args.warmup + args.measure + 4)
    summary = summarise(measure_cpu(args, clip, tmp))
    fps = fps_in_process(args.model, clip, min(args.measure, 15.0))
    report = {
        "what": "CPU % (100 = one core) while listening to a paced recording; spectrogram frames per second",
        "model": args.model,
        "input": str(sample.relative_to(ROOT) if sample.is_relative_to(ROOT) else sample),
        "clip_seconds": round(sf.info(str(clip)).duration, 1),
        "warmup_s": args.warmup,
        "measure_s": args.measure,
        "machine": host,
        "cpu": summary,
        "spectrogram": fps,
    }
    out = Path(args.out)
    print_tables(summary, fps, args.repeats)
    write_record(out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
