"""Test audio for the runtime benchmarks, built from the shared data folder.

Kept out of the repository (written under bench/.cache/). Deterministic (seeded).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LISTENER_DATA", ROOT.parent / "shared" / "data"))
CACHE = Path(__file__).resolve().parent / ".cache"
RATE = 16000
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digit_clips() -> list[tuple[str, Path]]:
    """(label, path) for every FSDD recording and every Speech Commands digit clip in the sample."""
    clips = []
    for p in sorted((DATA / "fsdd" / "recordings").glob("*.wav")):
        clips.append((DIGITS[int(p.name.split("_")[0])], p))
    for folder in ("speech_commands_v0.01_sample", "sc09_sample"):
        for d in DIGITS:
            for p in sorted((DATA / folder / d).glob("*.wav")):
                clips.append((d, p))
    if not clips:
        raise SystemExit(f"no digit clips under {DATA} (set LISTENER_DATA)")
    return clips


def load16k(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return soxr.resample(x, sr, RATE).astype(np.float32) if sr != RATE else x


def trim(x: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > threshold * max(1e-6, float(np.abs(x).max())))
    return x[max(0, loud[0] - 800) : loud[-1] + 800] if len(loud) else x


def build_hour(seconds: int = 3600, seed: int = 0) -> tuple[Path, Path]:
    """A long 16 kHz mono WAV: quiet room noise, a kitchen/bike/tap noise bed for a quarter of
    the time, and a digit (FSDD or Speech Commands, at a random level) every 2-10 s.

    Returns the WAV and a JSON file with the ground truth (label, start, end).
    """
    CACHE.mkdir(exist_ok=True)
    wav, truth = CACHE / f"hour_{seconds}s_{seed}.wav", CACHE / f"hour_{seconds}s_{seed}.json"
    if wav.exists() and truth.exists():
        return wav, truth
    rng = np.random.default_rng(seed)
    clips = digit_clips()
    noise_dir = DATA / "speech_commands_v0.01_sample" / "_background_noise_"
    beds = [load16k(p) for p in sorted(noise_dir.glob("*.wav")) if "white" not in p.name and "pink" not in p.name]
    events = []
    minute = 60 * RATE
    with sf.SoundFile(str(wav), "w", RATE, 1, "PCM_16") as out:
        t = 1.0
        for m in range(seconds // 60):
            seg = (rng.standard_normal(minute) * 10 ** (-65 / 20)).astype(np.float32)  # -65 dBFS room noise
            if m % 4 == 3:  # a quarter of the minutes: a real noise bed at about -35 dBFS
                bed = beds[m % len(beds)]
                start = rng.integers(0, max(1, len(bed) - minute))
                piece = np.resize(bed[start : start + minute], minute)
                piece *= 10 ** (-35 / 20) / max(1e-6, float(np.sqrt(np.mean(piece**2))))
                seg += piece
            base = m * 60.0
            while t < base + 60.0 - 1.2:
                label, path = clips[rng.integers(len(clips))]
                x = trim(load16k(path))[:RATE]
                x *= 10 ** (rng.uniform(-26, -12) / 20) / max(1e-6, float(np.sqrt(np.mean(x**2))))
                i = int((t - base) * RATE)
                seg[i : i + len(x)] += x[: minute - i]
                events.append(
                    {"label": label, "start": round(t, 3), "end": round(t + len(x) / RATE, 3), "clip": path.name}
                )
                t += len(x) / RATE + rng.uniform(2.0, 10.0)
            t = max(t, base + 60.0)
            out.write(np.clip(seg, -1, 1))
    truth.write_text(json.dumps({"seconds": seconds, "events": events}))
    return wav, truth


def read_detections(path: Path) -> list[dict]:
    """The detection lines of a JSONL log (a sequence model's log also holds ``sequence`` lines)."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("type", "detection") == "detection"]


def match(detections: list[dict], events: list[dict], tolerance: float = 0.6) -> dict:
    """Each detection counts as correct when its window centre lies within a digit (± tolerance) of that label."""
    starts = np.array([e["start"] for e in events])
    correct = wrong = spurious = 0
    hit = set()
    for d in detections:
        i = int(np.searchsorted(starts, d["stream_s"] + tolerance)) - 1
        candidates = [
            j
            for j in (i, i - 1)
            if 0 <= j < len(events) and events[j]["start"] - tolerance <= d["stream_s"] <= events[j]["end"] + tolerance
        ]
        if not candidates:
            spurious += 1
        elif any(events[j]["label"] == d["label"] for j in candidates):
            correct += 1
            hit.update(j for j in candidates if events[j]["label"] == d["label"])
        else:
            wrong += 1
    return {
        "events": len(events),
        "detections": len(detections),
        "correct": correct,
        "wrong_label": wrong,
        "outside_any_digit": spurious,
        "recall": round(len(hit) / max(1, len(events)), 3),
    }
