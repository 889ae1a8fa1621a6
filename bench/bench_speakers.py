"""Digits accuracy per FSDD speaker, with each speaker's commonest confusions.

    .venv/bin/python -m bench.bench_speakers [--model assets/digits.onnx ...] [--speakers nicolas,theo]

The model card gives one number for the unseen speakers; this splits it, because
the two test speakers are not alike (with 1.1, one of them is most of the error)
and a recipe change can help one and hurt the other. Each clip goes through the
runtime's pipeline as the card's figures do (``listener.training.evaluate``: the
file as ``listener analyze`` reads it, the model's gate and windows); accuracy is
top-1 over all of the model's labels (nothing heard counts as ``silence``), detected
= the pipeline logged the right digit at the model's threshold.

FSDD files are cut tight around the word, which leaves the VAD gate little to start on;
``--pad 0.3`` puts 0.3 s of silence before and after each clip, as around a word said
into a microphone, to show how much of the figure is that.
Writes ``bench/results/speakers.json`` (``speakers_pad<S>.json`` with ``--pad``), one entry per model.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from bench.record import write_record
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
    results = run_clips(clf, audio)
    heard = [names[i] if i >= 0 else "nothing" for i in predictions(results, names)]
    logged = [y in r.detected for r, y in zip(results, labels)]
    out: dict[str, dict] = {}
    for spk in sorted(set(speakers)):
        idx = [i for i, s in enumerate(speakers) if s == spk]
        right = sum(heard[i] == labels[i] for i in idx)
        errors = Counter(f"{labels[i]} -> {heard[i]}" for i in idx if heard[i] != labels[i])
        out[spk] = {
            "clips": len(idx),
            "accuracy": round(right / len(idx), 4),
            "detected": round(sum(logged[i] for i in idx) / len(idx), 4),
            "gate_heard_nothing": sum(results[i].probs is None for i in idx),
            "confusions": dict(errors.most_common(top)),
        }
    right = sum(h == y for h, y in zip(heard, labels))
    out["all"] = {
        "clips": len(labels),
        "accuracy": round(right / len(labels), 4),
        "detected": round(sum(logged) / len(labels), 4),
        "gate_heard_nothing": sum(r.probs is None for r in results),
    }
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
    parser.add_argument("--pad", type=float, default=0.0, help="seconds of silence added before and after each clip")
    parser.add_argument("--out", type=Path, help="default bench/results/speakers.json (speakers_pad<S>.json)")
    args = parser.parse_args(argv)
    if args.pad < 0:
        print("error: --pad must be >= 0", file=sys.stderr)
        return 2
    out = args.out or ROOT / "bench" / "results" / (f"speakers_pad{args.pad:g}.json" if args.pad else "speakers.json")
    models = args.model or [ROOT / "assets" / "digits.onnx"]
    wanted = [s for s in args.speakers.split(",") if s]
    try:
        clips = [c for c in load_fsdd(args.data / "fsdd", val_speakers=()) if c.speaker in wanted]
        if not clips:
            raise DatasetError(f"no FSDD clips of speakers {wanted} under {args.data / 'fsdd'}")
        silence = np.zeros(int(round(args.pad * 16000)), np.float32)
        audio = [np.concatenate([silence, a, silence]) for a in decode_clips(clips, length=None)]
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
            print(
                f"  {spk:10s} {r['clips']:5d} clips  {100 * r['accuracy']:6.2f}%  detected {100 * r['detected']:6.2f}%"
                f"  gate heard nothing {r['gate_heard_nothing']:4d}  {conf}"
            )
    write_record(out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
