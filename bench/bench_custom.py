"""A model of your own words, trained the two ways `listener.training.train` offers, scored on speakers it never heard.

    python -m bench.bench_custom [--data fsdd:PATH] [--kind speech] [--archs dscnn embedding] [--seed 0] [--out FILE]
    python -m bench.bench_custom --data esc10:PATH --kind sound --folds 1 2 3 4 5 --out bench/results/custom_sounds.json
    python -m bench.bench_custom --data esc10:PATH --kind sound --folds 1 2 3 4 5 --archs dscnn --keep last \
        --out bench/results/custom_sounds_keep_last.json

Each `--arch` runs the user's three commands in-process: `python -m listener.training.train
--data KIND:PATH --kind K --arch A` (its defaults otherwise), `python -m listener.export best.pt
--data KIND:PATH` (which reads the split, fold included, from best.pt), then the INT8 file scores
every clip of the dataset's held-out speakers through the runtime's pipeline (`listener analyze`'s
gate and windows; `training.evaluate.run_clips`): the validation speakers (what the training
command itself checks) and the test speakers (neither trained nor checked on). On FSDD: george,
jackson and lucas train, yweweler validates, nicolas and theo test. Data with official folds
(ESC) has no test speakers: `--folds` runs the three commands once per fold (`--fold N`: N
validates, the other four train), which is 5-fold cross-validation when all five are given.
Writes bench/results/custom.json (or `--out`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.machine import machine
from bench.record import write_record

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(os.environ.get("LISTENER_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def held_out(data: str, labels: list[str], fold: int | None = None) -> dict[str, dict[str, list]]:
    """Split -> group -> clips (whole recordings), for the splits no training sees: a group is a speaker, or
    for fold data the fold."""
    from listener.training.datasets.load import DataSplit, load_data

    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    _, validation, test = DataSplit(fold=fold).apply(load_data(data))
    for split, clips in (("validation", validation), ("test", test)):
        for clip in clips:
            if clip.label in labels:
                out[split][f"fold {fold}" if fold is not None else clip.speaker or "?"].append(clip)
    return out


def score_file(model: Path, data: str, fold: int | None = None) -> dict:
    """Accuracy of the INT8 file per held-out speaker (or fold) of `data` and per split, through the
    runtime's pipeline."""
    from listener.classifier import CPU, Classifier
    from listener.training.corpus import waveset
    from listener.training.evaluate import predictions, run_clips

    clf = Classifier(model, providers=[CPU], threads=1)
    labels = clf.info.labels
    result: dict = {}
    for split, speakers in sorted(held_out(data, labels, fold).items()):
        right = total = 0
        per = {}
        for speaker, clips in sorted(speakers.items()):
            ws = waveset(clips, labels, None, None)
            pred = predictions(run_clips(clf, ws.audio), labels)
            hits = int((pred == np.asarray(ws.labels)).sum())
            per[speaker] = round(100 * hits / len(clips), 1)
            right, total = right + hits, total + len(clips)
        result[split] = {
            "accuracy_pct": round(100 * right / total, 1),
            "right": right,
            "clips": total,
            "per_speaker_pct": per,
        }
    return result


def run_arch(
    arch: str, data: str, kind: str, seed: int, work: Path, fold: int | None = None, keep: str = "best"
) -> dict:
    """The training and export commands for one `--arch` (and `fold`; `keep`: the training command's
    ``--keep``), then the scores of what they wrote."""
    from listener.export.__main__ import main as export_main
    from listener.export.parity import MAX_INT8_DROP
    from listener.training.train import main as train_main

    tag = arch if fold is None else f"{arch}_fold{fold}"
    run, base = work / tag, work / f"custom_{tag}"
    split = [] if fold is None else ["--fold", str(fold)]
    t0 = time.time()
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        rc = train_main(
            ["--data", data, "--kind", kind, "--name", f"custom_{arch}", "--arch", arch, "--seed", str(seed)]
            + ["--out", str(run), "--keep", keep, *split]
        )
    train_s = time.time() - t0
    if rc != 0:
        raise SystemExit(f"error: training --arch {arch} exited {rc}")
    exported, failed = io.StringIO(), io.StringIO()
    # any INT8 loss is let through so that every file is scored; whether the export's default tolerance
    # would have refused it is recorded (`export_refuses_by_default`), since that is what the user meets
    with contextlib.redirect_stdout(exported), contextlib.redirect_stderr(failed):
        rc = export_main([str(run / "best.pt"), "--out", str(base), "--data", data, "--max-int8-drop", "1"])
    if rc != 0:
        raise SystemExit(f"error: exporting --arch {arch} exited {rc}: {failed.getvalue().strip()}")
    bundle = json.loads(exported.getvalue()[exported.getvalue().index("{") :])
    parity = bundle["parity"]
    scores = score_file(base.with_suffix(".onnx"), data, fold)
    return {
        "train_seconds": round(train_s, 1),
        "int8_bytes": base.with_suffix(".onnx").stat().st_size,
        "int8_ms_per_window": bundle["int8_latency_ms"],  # the export's own timing: one window, one thread
        "export_parity": parity,
        "export_refuses_by_default": parity["int8_accuracy"] < parity["fp32_accuracy"] - MAX_INT8_DROP,
        **scores,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=f"fsdd:{DATA / 'fsdd'}", help="KIND:PATH, as the training command takes it")
    ap.add_argument("--kind", choices=["speech", "sound"], default="speech", help="the training command's --kind")
    ap.add_argument("--archs", nargs="+", default=["dscnn", "embedding"], choices=["dscnn", "embedding"])
    ap.add_argument(
        "--folds", nargs="+", type=int, help="data with official folds (esc10): each of these folds validates in turn"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--keep",
        choices=["best", "last"],
        default="best",
        help="the training command's --keep (dscnn): last for cross-validation, where the validation fold is scored",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "custom.json", help="where the JSON record goes")
    args = ap.parse_args(argv)
    path = args.data.partition(":")[2]
    if not path or not Path(path).exists():
        print(f"error: --data {args.data!r}: no such folder (KIND:PATH; set LISTENER_DATA)", file=sys.stderr)
        return 2
    result = {
        "benchmark": f"custom model ({args.kind}): --arch dscnn vs embedding, held-out speakers or folds",
        "command": "python -m bench.bench_custom " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data": args.data,
        "kind": args.kind,
        "seed": args.seed,
        "keep": args.keep,
        "archs": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-custom-") as tmp:
        for arch in args.archs:
            if not args.folds:
                print(f"{arch}: training, exporting, scoring ...", flush=True)
                result["archs"][arch] = got = run_arch(arch, args.data, args.kind, args.seed, Path(tmp), keep=args.keep)
                splits = ", ".join(
                    f"{s} {got[s]['accuracy_pct']}% {got[s]['per_speaker_pct']}"
                    for s in ("validation", "test")
                    if s in got
                )
                print(f"{arch}: trained in {got['train_seconds']} s; {splits}", flush=True)
                continue
            folds = {}
            for fold in args.folds:
                print(f"{arch}, fold {fold}: training, exporting, scoring ...", flush=True)
                folds[fold] = got = run_arch(arch, args.data, args.kind, args.seed, Path(tmp), fold, args.keep)
                refused = " (the export's default INT8 bar refuses it)" if got["export_refuses_by_default"] else ""
                v = got["validation"]
                print(f"{arch}, fold {fold}: trained in {got['train_seconds']} s; {v['accuracy_pct']}%{refused}")
            right = sum(f["validation"]["right"] for f in folds.values())
            clips = sum(f["validation"]["clips"] for f in folds.values())
            result["archs"][arch] = entry = {
                "folds": folds,
                "cross_validation_pct": round(100 * right / clips, 2),
                "folds_refused_by_default": sum(f["export_refuses_by_default"] for f in folds.values()),
            }
            print(f"{arch}: {entry['cross_validation_pct']}% over folds {args.folds}", flush=True)
    write_record(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
