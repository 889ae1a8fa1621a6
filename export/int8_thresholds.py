"""Per-class thresholds for a sound model's INT8 file, carried over from its FP32 file.

    python -m listener.export.int8_thresholds                    # assets/sounds.onnx from assets/sounds.fp32.onnx
    python -m listener.export.int8_thresholds --dry-run          # print what it would write

The thresholds in a sounds model's metadata were fitted on the FP32 file's scores; the INT8
file's scores differ enough that the same thresholds lose recall on some classes. For each
class this finds the INT8 threshold at which the INT8 file detects as many of that class's
ESC clips as the FP32 file does at its own threshold
(``listener.training.calibrate.transfer``: both files score the same clips, each played three
times as the runtime hears them, with fixed seeds, through ``peak_scores``) and writes it into the INT8
file's ``thresholds`` metadata through ``listener.export.onnx_export.set_metadata``: the
graph and every other key stay as they are. It never looks at held-out negatives (those are
the test: ``python -m bench.bench_sounds_negatives --variants``).

The shipped model trained on every ESC-10 clip, so these are training clips: the transfer
matches the two files' behaviour on them, it does not measure recall on unseen audio.
A record of the run (per-class thresholds and recalls before and after) goes to
``docs/models/<name>/int8_thresholds.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from listener.classifier import Classifier

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SEEDS = (5, 6, 7)  # each clip played three times (levels, noise); the bench plays ESC with seed 1: other streams


@dataclass
class Transfer:
    """What the transfer found: thresholds and the recalls they give on the clips it used."""

    classes: list[str]
    clips: int  # streams: clips x seeds
    reference_thresholds: dict[str, float]
    old_thresholds: dict[str, float]  # the variant's before
    new_thresholds: dict[str, float]
    reference_recall: dict[str, float]
    old_recall: dict[str, float]  # the variant at its old thresholds
    new_recall: dict[str, float]  # the variant at the new thresholds


def reference_path(model: Path) -> Path:
    """The FP32 file next to an INT8 ``NAME.onnx``: ``NAME.fp32.onnx``."""
    return model.with_name(model.name.removesuffix(".onnx") + ".fp32.onnx")


def find_thresholds(
    variant: Classifier, reference: Classifier, clips: list[np.ndarray], names: list[str], seeds: Sequence[int] = SEEDS
) -> Transfer:
    """Score ``clips`` (their class names ``names``), each played once per seed, with both classifiers and
    transfer the reference's thresholds to the variant; every class that can be detected must have clips."""
    from listener.errors import ModelError
    from listener.training.calibrate import peak_scores, rates, transfer

    info, ref = variant.info, reference.info
    for i in (info, ref):
        if i.kind != "sound" or i.is_ctc:
            raise ModelError(f"{i.path} is not a sound model: its thresholds are not per-window peak scores")
    if list(info.labels) != list(ref.labels):
        raise ModelError(f"{info.path} and {ref.path} have different labels: not two variants of one model")
    labels = list(info.labels)
    unknown = sorted(set(names) - set(labels))
    if unknown:
        raise ModelError(f"the data has classes the model does not: {unknown}")
    classes = ref.detection_labels
    missing = [k for k in classes if k not in names]
    if missing:
        raise ModelError(f"no clips of {missing} in the data: cannot match the reference's recall on them")
    truth = [labels.index(k) for k in names] * len(seeds)
    ref_m = np.concatenate([peak_scores(reference, clips, s) for s in seeds])
    var_m = np.concatenate([peak_scores(variant, clips, s) for s in seeds])
    reference_th = {k: ref.threshold_for(k) for k in classes}
    old = {k: info.threshold_for(k) for k in classes}
    new = transfer(ref_m, var_m, labels, truth, reference_th)

    def recall(m: np.ndarray, th: dict[str, float]) -> dict[str, float]:
        return rates(m, labels, truth, [], th).by_class

    return Transfer(
        classes, len(truth), reference_th, old, new, recall(ref_m, reference_th), recall(var_m, old), recall(var_m, new)
    )


def write_thresholds(path: Path, thresholds: dict[str, float]) -> None:
    """Replace the file's ``thresholds`` metadata (every other key and the graph as they are)."""
    from listener.classifier import CPU, Classifier
    from listener.export.onnx_export import set_metadata

    info = Classifier(path, threads=1, providers=[CPU]).info
    set_metadata(path, replace(info, thresholds={k: float(v) for k, v in thresholds.items()}))


def _table(t: Transfer) -> str:
    """Thresholds and recalls (on the streams the transfer used), reference / variant before / after."""
    rows = [f"{'class':16} {'ref t':>7} {'recall':>7} {'old t':>7} {'recall':>7} {'new t':>7} {'recall':>7}"]
    for k in t.classes:
        rows.append(
            f"{k:16} {t.reference_thresholds[k]:7.4f} {t.reference_recall[k]:7.3f} {t.old_thresholds[k]:7.4f} "
            f"{t.old_recall[k]:7.3f} {t.new_thresholds[k]:7.4f} {t.new_recall[k]:7.3f}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m listener.export.int8_thresholds",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exits 2 on a missing file, missing data or models that do not match.",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=ROOT / "assets" / "sounds.onnx",
        help="the INT8 file to write (default %(default)s)",
    )
    parser.add_argument(
        "--reference", type=Path, help="the file whose thresholds and recall to match (default: MODEL's .fp32.onnx)"
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the data folder holding esc10/ (default ../shared/data)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(SEEDS),
        help=f"play each clip once per seed (levels, noise; default {' '.join(map(str, SEEDS))})",
    )
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    parser.add_argument("--record", type=Path, help="where the JSON record goes (default docs/models/NAME/)")
    parser.add_argument("--dry-run", action="store_true", help="print the thresholds, write nothing")
    args = parser.parse_args(argv)
    reference = args.reference or reference_path(args.model)
    for what, path in (("--model", args.model), ("--reference", reference)):
        if not path.is_file():
            print(f"error: {what} {path} not found", file=sys.stderr)
            return 2
    if not (args.data / "esc10").is_dir():
        print(f"error: no esc10/ in the data folder {args.data} (pass --data)", file=sys.stderr)
        return 2
    if args.threads < 1:
        print("error: --threads must be >= 1", file=sys.stderr)
        return 2

    from listener.classifier import CPU, Classifier
    from listener.errors import ListenerError, interrupted
    from listener.training import interrupt
    from listener.training.corpus import build_esc_set
    from listener.training.datasets.base import DatasetError

    t0 = time.time()
    try:
        with interrupt.noting():
            variant = Classifier(args.model, threads=args.threads, providers=[CPU])
            ref = Classifier(reference, threads=args.threads, providers=[CPU])
            esc = build_esc_set(args.data)
            names = [esc.label_names[y] for y in esc.labels]
            print(
                f"scoring {len(names)} clips x {len(args.seeds)} seeds with {args.model.name} and {reference.name} ...",
                flush=True,
            )
            t = find_thresholds(variant, ref, list(esc.audio), names, args.seeds)
            interrupt.check()  # a press Python could only print (training/interrupt.py): stop before writing
    except (ListenerError, DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before anything is written: the file stays as it was
        print("interrupted: nothing written", file=sys.stderr)
        return interrupted()
    print(_table(t))
    if args.dry_run:
        return 0
    write_thresholds(args.model, t.new_thresholds)
    record = {
        "what": f"INT8 thresholds transferred from {reference.name} (listener.training.calibrate.transfer)",
        "command": " ".join(["python -m listener.export.int8_thresholds", *(sys.argv[1:] if argv is None else argv)]),
        "machine": f"{platform.machine()} {os.cpu_count()} cores {platform.system()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data": "ESC-10, all 5 folds (training clips of the shipped model)",
        "seeds": args.seeds,
        "seconds": round(time.time() - t0, 1),
        "transfer": asdict(t),
    }
    out = args.record or ROOT / "docs" / "models" / variant.info.name / "int8_thresholds.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote the thresholds into {args.model} and the record to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
