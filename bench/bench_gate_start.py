"""How the speech gate starts a stream: short clips with no silence before them, and noise.

    python -m bench.bench_gate_start [--model digits] [--data ../shared/data (or LISTENER_DATA)]

A stream can begin in speech (FSDD's clips are cut tight around the word) or in
background noise (a microphone in a noisy room). The gate's adaptive noise floor
and webrtcvad's own noise model both learn the background from what they hear
first. This runs both cases through the listener's own pipeline (the file source,
the gate, the windows, the model, the decider: what ``listener analyze`` does),
once with the gate as it starts now and once as it started before (floor starting
at the first frame's level, at most -50 dBFS; webrtcvad not primed):

* every FSDD clip, per speaker: clips that gave no window at all, windows,
  detections, and detections of the right digit;
* the six Speech Commands background-noise files (dishes, bike, tap, miaowing,
  white, pink), each cut into five 4 s streams and scaled to -65/-55/-45/-35 dBFS
  RMS: windows and detections (every detection is a false one).

Writes ``bench/results/gate_start.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.record import write_record
from listener.audio import FileSource
from listener.classifier import Classifier, resolve_model
from listener.config import PipelineOptions
from listener.gate import VadGate
from listener.pipeline import build_pipeline, run_stream

ROOT = Path(__file__).resolve().parent.parent


DEFAULT_DATA = Path(os.environ.get("LISTENER_DATA", ROOT.parent / "shared" / "data"))
DIGITS = "zero one two three four five six seven eight nine".split()
GATES = {
    "now": {},  # VadGate's defaults
    "before": {"start_floor_db": -50.0, "prime_db": None},
}


def pipeline(clf: Classifier, gate: dict, name: str):
    p = build_pipeline(PipelineOptions(batch_size=32), name, classifier=clf)
    p.gate = VadGate(clf.info.sample_rate, **gate)
    return p


def fsdd(clf: Classifier, gate: dict, files: list[Path]) -> dict:
    per: dict[str, dict[str, int]] = defaultdict(lambda: dict(clips=0, no_window=0, windows=0, detections=0, right=0))
    for f in files:
        digit, speaker, _ = f.stem.split("_")
        p = pipeline(clf, gate, str(f))
        dets = []
        p.on_detection = dets.append
        st = run_stream(FileSource(f, clf.info.sample_rate), p, realtime=False)
        row = per[speaker]
        row["clips"] += 1
        row["no_window"] += st.windows == 0
        row["windows"] += st.windows
        row["detections"] += len(dets)
        row["right"] += sum(d.label == DIGITS[int(digit)] for d in dets)
    total = {k: sum(r[k] for r in per.values()) for k in ("clips", "no_window", "windows", "detections", "right")}
    return {"speakers": dict(sorted(per.items())), "all": total}


def noise(clf: Classifier, gate: dict, files: list[Path]) -> dict:
    out = {}
    rate = clf.info.sample_rate
    for rms_db in (-65, -55, -45, -35):
        windows = detections = streams = 0
        labels: list[str] = []
        for f in files:
            x, sr = sf.read(f, dtype="float32")
            assert sr == rate, f
            for start in range(0, 50, 10):
                seg = x[start * sr : (start + 4) * sr].astype(np.float64)
                seg = (seg / (np.sqrt(np.mean(seg**2)) + 1e-12) * 10 ** (rms_db / 20)).astype(np.float32)
                p = pipeline(clf, gate, str(f))
                dets = []
                p.on_detection = dets.append
                for i in range(0, len(seg), 960):  # 60 ms blocks, as from a microphone
                    p.feed(seg[i : i + 960])
                p.finish()
                streams += 1
                windows += p.windows
                detections += len(dets)
                labels += [d.label for d in dets]
        out[str(rms_db)] = {"streams": streams, "seconds": 4 * streams, "windows": windows, "detections": labels}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="digits")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gate_start.json")
    args = ap.parse_args()
    clf = Classifier(resolve_model(args.model), threads=1)
    clips = sorted((args.data / "fsdd" / "recordings").glob("*.wav"))
    noises = sorted((args.data / "speech_commands_v0.01_sample" / "_background_noise_").glob("*.wav"))
    if not clips or not noises:
        sys.exit(f"bench_gate_start: FSDD or the Speech Commands noise files are missing under {args.data}")
    result = {
        "model": clf.info.model_id,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "gates": GATES,
    }
    for name, gate in GATES.items():
        result[name] = {"fsdd": fsdd(clf, gate, clips), "noise": noise(clf, gate, noises)}
        a = result[name]["fsdd"]["all"]
        print(
            f"{name:>6}: FSDD {a['clips']} clips, {a['no_window']} with no window, {a['windows']} windows, "
            f"{a['detections']} detections, {a['right']} right"
        )
        for sp, r in result[name]["fsdd"]["speakers"].items():
            print(f"        {sp:<8} {r['no_window']:4d} of {r['clips']} with no window, {r['right']} right")
        for rms, r in result[name]["noise"].items():
            print(
                f"        noise {rms} dBFS: {r['streams']} streams of 4 s, {r['windows']} windows, "
                f"{len(r['detections'])} detections {r['detections']}"
            )
    write_record(args.out, result)


if __name__ == "__main__":
    main()
