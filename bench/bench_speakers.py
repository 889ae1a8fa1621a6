"""Digits accuracy per FSDD speaker, with each speaker's commonest confusions.

    .venv/bin/python -m bench.bench_speakers [--model assets/digits.onnx ...] [--speakers nicolas,theo]

The model card gives one number for the unseen speakers; this splits it, because
the two test speakers are not alike (with 1.1, one of them is most of the error)
and a recipe change can help one and hurt the other. Each clip goes through the
runtime's pipeline as the card's figures do (``listener.training.evaluate``: the
file as ``listener analyze`` reads it, the model's gate and windows); accuracy is
top-1 over all of the model's labels (nothing heard counts as ``silence``).
Writes ``bench/results/speakers.json`` (one entry per model).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from listener.classifier import CPU, Classifier
from listener.errors import ListenerError
from listener.training.corpus import decode_clips
from listener.training.datasets.base import DatasetError
from listener.training.datasets.fsdd import TEST_SPEAKERS, load_fsdd
from listener.training.evaluate import predictions, run_clips

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def per_speaker(model: Path, audio: list[np.ndarray], labels: list[str], speakers: list[str], top: int) -> dict:
    """Accuracy and the `top` commonest (said, heard) confusions of each speaker."""
    clf = Classifier(model, threads=1, providers=[CPU])
    names = list(clf.info.labels)
    missing = sorted(set(labels) - set(names))
    if missing:
        raise ListenerError(f"model '{model}' has no label {missing}")
    heard = [names[i] if i >= 0 else "nothing" for i in predictions(run_clips(clf, audio), names)]
    out: dict[str, dict] = {}
    for spk in sorted(set(speakers)):
        idx = [i for i, s in enumerate(speakers) if s == spk]
        right = sum(heard[i] == labels[i] for i in idx)
        errors = Counter(f"{labels[i]} -> {heard[i]}" for i in idx if heard[i] != labels[i])
        out[spk] = {
            "clips": len(idx),
            "accuracy": round(right / len(idx), 4),
            "confusions": dict(errors.most_common(top)),
        }
    right = sum(h == y for h, y in zip(heard, labels))
    out["all"] = {"clips": len(labels), "accuracy": round(right / len(labels), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", type=Path, action="append", help="digits ONNX model (repeatable; default assets/digits.onnx)"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (holds fsdd/)")
    parser.add_argument(
        "--speakers",
        default=",".join(TEST_SPEAKERS),
        help="comma-separated FSDD speakers (default: the held-out test speakers)",
    )
    parser.add_argument("--top", type=int, default=5, help="confusions listed per speaker")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "speakers.json")
    args = parser.parse_args(argv)
    models = args.model or [ROOT / "assets" / "digits.onnx"]
    wanted = [s for s in args.speakers.split(",") if s]
    try:
        clips = [c for c in load_fsdd(args.data / "fsdd", val_speakers=()) if c.speaker in wanted]
        if not clips:
            raise DatasetError(f"no FSDD clips of speakers {wanted} under {args.data / 'fsdd'}")
        audio = decode_clips(clips, length=None)  # each file at its own length
        labels = [c.label for c in clips]
        speakers = [c.speaker or "" for c in clips]
        results = {str(m): per_speaker(m, audio, labels, speakers, args.top) for m in models}
    except (DatasetError, ListenerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for model, res in results.items():
        print(model)
        for spk, r in res.items():
            conf = ", ".join(f"{k} x{v}" for k, v in r.get("confusions", {}).items())
            print(f"  {spk:10s} {r['clips']:5d} clips  {100 * r['accuracy']:6.2f}%  {conf}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
