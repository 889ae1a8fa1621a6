"""``python -m listener.export CHECKPOINT --out BASE --data KIND:PATH``: ONNX FP32 + INT8 with parity checks.

Writes ``BASE.fp32.onnx`` and ``BASE.onnx`` (INT8). Calibration uses real
training clips from ``--data``; the parity check (torch vs FP32, INT8 vs FP32
accuracy) uses its validation clips: the training run's split, which the checkpoint
keeps (``--val-fraction`` / ``--fold`` override it). Exits 1 when parity fails, 2 on bad input, 130 on
Ctrl-C (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from listener.errors import loading

with loading(__name__):  # torch loads here: Ctrl-C gives one line (listener/errors.py)
    from listener.export.parity import MAX_INT8_DROP
    from listener.training.datasets.load import VAL_FRACTION, DataSplit


def trained_split(spec, val_fraction: float | None = None, fold: int | None = None) -> DataSplit:
    """The split `spec`'s training run used (``ModelSpec.data_split``; the defaults for a checkpoint without
    it), with `val_fraction` / `fold` given on the command line in its place."""
    split = DataSplit(**spec.data_split)
    return DataSplit(split.val_fraction if val_fraction is None else val_fraction, split.fold if fold is None else fold)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m listener.export", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="best.pt written by python -m listener.training.train")
    parser.add_argument("--out", type=Path, required=True, help="output base path, e.g. assets/mywords")
    parser.add_argument("--data", required=True, help="KIND:PATH, the data the model was trained on")
    parser.add_argument("--threshold", type=float, help="suggested confidence threshold (metadata)")
    parser.add_argument(
        "--max-int8-drop",
        type=float,
        default=MAX_INT8_DROP,
        help="allowed INT8 accuracy loss on the validation clips, a fraction (default %(default)s)",
    )
    parser.add_argument("--calibration-clips", type=int, default=256)
    parser.add_argument(
        "--val-fraction",
        type=float,
        help="share of speakers held out when the data has no split (default: the training run's, kept in the "
        f"checkpoint; {VAL_FRACTION} for a checkpoint without it)",
    )
    parser.add_argument("--fold", type=int, help="esc10, esc50's validation fold (default: the training run's)")
    args = parser.parse_args(argv)

    from listener.errors import interrupted

    try:
        return _export(args)
    except KeyboardInterrupt:  # export_bundle writes through temporary files, removed on the way out
        print("interrupted: nothing written", file=sys.stderr)
        return interrupted()


def _export(args: argparse.Namespace) -> int:
    from listener.export.bundle import export_bundle
    from listener.export.parity import ParityError
    from listener.training.corpus import waveset
    from listener.training.datasets.base import DatasetError
    from listener.training.datasets.load import load_data
    from listener.training.train import load_checkpoint

    if not args.checkpoint.is_file():
        print(f"error: checkpoint {args.checkpoint} not found", file=sys.stderr)
        return 2
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        print("error: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    if args.val_fraction is not None and not 0.0 < args.val_fraction < 1.0:
        print("error: --val-fraction must be between 0 and 1", file=sys.stderr)
        return 2
    if not 0.0 <= args.max_int8_drop <= 1.0:
        print("error: --max-int8-drop must be between 0 and 1 (a fraction of the clips)", file=sys.stderr)
        return 2
    try:
        model, spec, _ = load_checkpoint(args.checkpoint)
    except Exception as exc:  # a truncated or foreign file: say so, no traceback
        print(f"error: cannot read checkpoint {args.checkpoint}: {exc}", file=sys.stderr)
        return 2
    if args.threshold is not None:
        spec.threshold = args.threshold
    try:
        clips = [c for c in load_data(args.data) if c.label in spec.labels]
        train, val, _ = trained_split(spec, args.val_fraction, args.fold).apply(clips)
        train, val = train or clips, val or clips
        calib = waveset(train[: args.calibration_clips], spec.labels, None, spec.window_samples, "energy")
        val_set = waveset(val, spec.labels, None, spec.window_samples, "energy")
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"exporting {args.checkpoint}: calibrating INT8 on {len(calib.audio)} windows, parity on "
        f"{len(val_set.audio)}; writes {args.out}.fp32.onnx and {args.out}.onnx",
        file=sys.stderr,
    )
    try:
        bundle = export_bundle(model, spec, args.out, calib.audio, val_set, max_int8_drop=args.max_int8_drop)
    except ParityError as exc:
        print(f"error: {exc}; nothing written (--max-int8-drop sets the INT8 loss accepted)", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "int8": str(bundle.int8_path),
                "fp32": str(bundle.fp32_path),
                "parity": asdict(bundle.parity),
                "int8_latency_ms": round(bundle.int8_latency_ms, 3),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
