"""Where a model of your own loses accuracy in INT8: `listener.export`'s INT8 file against variants of it.

    python -m bench.bench_int8_parts CHECKPOINT [CHECKPOINT ...] --data KIND:PATH [--out FILE]

For each checkpoint (a ``best.pt`` of ``python -m listener.training.train``) and the split it trained
with (``listener.export.trained_split``): the FP32 export, then INT8 files made as ``listener.export``
makes them (``quantize.quantize_model``, ``WINDOW_INT8``, the first ``--calibration-clips`` training
clips) and with one change each: calibration clips drawn at random from the training split, or all of
them; only the convolutions quantized (the heads FP32); the backbone kept FP32 (only what follows it
INT8). Every file scores the validation clips through the runtime's pipeline, as the export's parity
check does: accuracy, and agreement with the FP32 file's label. Writes bench/results/int8_parts.json
(or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.machine import machine
from bench.record import write_record

RESULTS = Path(__file__).resolve().parent / "results"


def backbone_scope(path: Path) -> str:
    """The scope the backbone's convolutions share in graph `path` (their names' common prefix, to its last /)."""
    from listener.export.quantize import backbone_convs

    prefix = os.path.commonprefix(backbone_convs(path))
    return prefix[: prefix.rfind("/") + 1]


def parts(checkpoint: Path, data: str, calibration_clips: int = 256, seed: int = 0) -> dict:
    """Accuracy and FP32 agreement of each INT8 variant of `checkpoint` on its validation clips."""
    from listener.export.__main__ import trained_split
    from listener.export.onnx_export import export_onnx, set_metadata
    from listener.export.parity import runtime_classifier
    from listener.export.quantize import WINDOW_INT8, quantize_int8, quantize_model
    from listener.training.corpus import waveset
    from listener.training.datasets.load import load_data
    from listener.training.evaluate import predictions, run_clips, score
    from listener.training.train import load_checkpoint

    try:
        model, spec, _ = load_checkpoint(checkpoint)
    except Exception as exc:  # a truncated or foreign file: one line from main, as listener.export says it
        raise ValueError(f"cannot read checkpoint {checkpoint}: {exc}") from exc
    clips = [c for c in load_data(data) if c.label in spec.labels]
    train, val, _ = trained_split(spec).apply(clips)
    val_set = waveset(val, spec.labels, None, spec.window_samples, "energy")

    def windows(chosen: list) -> np.ndarray:
        return waveset(chosen, spec.labels, None, spec.window_samples, "energy").audio.astype(np.float32)

    rng = np.random.default_rng(seed)
    drawn = [train[i] for i in rng.choice(len(train), min(calibration_clips, len(train)), replace=False)]
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        fp32 = export_onnx(model, spec, Path(tmp) / "m.fp32.onnx")
        first = windows(train[:calibration_clips])
        export_file, _ = quantize_model(model, fp32, Path(tmp) / "export.onnx", first, spec)
        made = {"export": export_file}
        variants = {
            "calibration_random": (WINDOW_INT8, windows(drawn)),
            "calibration_all": (WINDOW_INT8, windows(train)),
            "convolutions_only": (replace(WINDOW_INT8, convs_only=True), first),
            "backbone_fp32": (replace(WINDOW_INT8, fp32_scopes=(backbone_scope(fp32),)), first),
        }
        skipped = {}
        for name, (setup, audio) in variants.items():
            try:
                made[name] = quantize_int8(fp32, Path(tmp) / f"{name}.onnx", audio, setup)
            except ValueError as exc:  # e.g. a network that is all backbone: nothing left to quantize
                skipped[name] = str(exc).split(": ", 1)[-1]
                continue
            set_metadata(made[name], spec.model_info("int8"))  # what the runtime reads, as the export writes it

        def labels(path: Path) -> np.ndarray:
            return predictions(run_clips(runtime_classifier(path), val_set.audio), val_set.label_names)

        y32 = labels(fp32)
        out = {
            "checkpoint": str(checkpoint),
            "validation_clips": len(val_set),
            "fp32_accuracy": round(float(score(val_set.labels, y32, val_set.label_names).accuracy), 4),
        }
        for name, path in made.items():
            y8 = labels(path)
            out[name] = {
                "accuracy": round(float(score(val_set.labels, y8, val_set.label_names).accuracy), 4),
                "agreement": round(float((y8 == y32).mean()), 4),
                "bytes": path.stat().st_size,
            }
            print(f"{checkpoint}: {name} {out[name]}", flush=True)
        out.update({name: {"skipped": why} for name, why in skipped.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_int8_parts", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="best.pt files of listener.training.train")
    parser.add_argument("--data", required=True, help="KIND:PATH, the data the checkpoints trained on")
    parser.add_argument("--calibration-clips", type=int, default=256, help="as listener.export's (default 256)")
    parser.add_argument("--out", type=Path, default=RESULTS / "int8_parts.json")
    args = parser.parse_args(argv)
    missing = [str(c) for c in args.checkpoints if not c.is_file()]
    if missing:
        print(f"error: checkpoint not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    from listener.training.datasets.base import DatasetError

    try:
        runs = [parts(c, args.data, args.calibration_clips) for c in args.checkpoints]
    except (DatasetError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    record = {
        "command": "python -m bench.bench_int8_parts " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data": args.data,
        "runs": runs,
    }
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
