"""A model of your own words, trained the two ways `listener.training.train` offers, scored on speakers it never heard.

    python -m bench.bench_custom [--data fsdd:PATH] [--archs dscnn embedding] [--seed 0] [--out FILE]

Each `--arch` runs the user's three commands in-process: `python -m listener.training.train
--data KIND:PATH --arch A` (its defaults otherwise), `python -m listener.export best.pt --data
KIND:PATH`, then the INT8 file scores every clip of the dataset's held-out speakers through the
runtime's pipeline (`listener analyze`'s gate and windows; `training.evaluate.run_clips`): the
validation speakers (what the training command itself checks) and the test speakers (neither
trained nor checked on). On FSDD: george, jackson and lucas train, yweweler validates, nicolas
and theo test. Writes bench/results/custom.json (or `--out`).
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


def held_out(data: str, labels: list[str]) -> dict[str, dict[str, list]]:
    """Split -> speaker -> clips of that speaker (whole recordings), for the splits no training sees."""
    from listener.training.datasets.base import assign_splits
    from listener.training.datasets.load import load_data
    from listener.training.train import VAL_FRACTION

    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for clip in assign_splits(load_data(data), VAL_FRACTION, test_fraction=0.0):
        if clip.split in ("validation", "test") and clip.label in labels:
            out[clip.split][clip.speaker or "?"].append(clip)
    return out


def score_file(model: Path, data: str) -> dict:
    """Accuracy of the INT8 file per held-out speaker of `data` and per split, through the runtime's pipeline."""
    from listener.classifier import CPU, Classifier
    from listener.training.corpus import waveset
    from listener.training.evaluate import predictions, run_clips

    clf = Classifier(model, providers=[CPU], threads=1)
    labels = clf.info.labels
    result: dict = {}
    for split, speakers in sorted(held_out(data, labels).items()):
        right = total = 0
        per = {}
        for speaker, clips in sorted(speakers.items()):
            ws = waveset(clips, labels, None, None)
            pred = predictions(run_clips(clf, ws.audio), labels)
            hits = int((pred == np.asarray(ws.labels)).sum())
            per[speaker] = round(100 * hits / len(clips), 1)
            right, total = right + hits, total + len(clips)
        result[split] = {"accuracy_pct": round(100 * right / total, 1), "clips": total, "per_speaker_pct": per}
    return result


def run_arch(arch: str, data: str, seed: int, work: Path) -> dict:
    """The training and export commands for one `--arch`, then the scores of what they wrote."""
    from listener.export.__main__ import main as export_main
    from listener.training.train import main as train_main

    run, base = work / arch, work / f"custom_{arch}"
    t0 = time.time()
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        rc = train_main(
            ["--data", data, "--name", f"custom_{arch}", "--arch", arch, "--seed", str(seed), "--out", str(run)]
        )
    train_s = time.time() - t0
    if rc != 0:
        raise SystemExit(f"error: training --arch {arch} exited {rc}")
    exported = io.StringIO()
    with contextlib.redirect_stdout(exported):
        rc = export_main([str(run / "best.pt"), "--out", str(base), "--data", data])
    if rc != 0:
        raise SystemExit(f"error: exporting --arch {arch} exited {rc}")
    bundle = json.loads(exported.getvalue()[exported.getvalue().index("{") :])
    scores = score_file(base.with_suffix(".onnx"), data)
    return {
        "train_seconds": round(train_s, 1),
        "int8_bytes": base.with_suffix(".onnx").stat().st_size,
        "int8_ms_per_window": bundle["int8_latency_ms"],  # the export's own timing: one window, one thread
        "export_parity": bundle["parity"],
        **scores,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=f"fsdd:{DATA / 'fsdd'}", help="KIND:PATH, as the training command takes it")
    ap.add_argument("--archs", nargs="+", default=["dscnn", "embedding"], choices=["dscnn", "embedding"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "custom.json", help="where the JSON record goes")
    args = ap.parse_args(argv)
    path = args.data.partition(":")[2]
    if not path or not Path(path).exists():
        print(f"error: --data {args.data!r}: no such folder (KIND:PATH; set LISTENER_DATA)", file=sys.stderr)
        return 2
    result = {
        "benchmark": "custom model of words: --arch dscnn vs embedding, held-out speakers",
        "command": "python -m bench.bench_custom " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "data": args.data,
        "seed": args.seed,
        "archs": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-custom-") as tmp:
        for arch in args.archs:
            print(f"{arch}: training, exporting, scoring ...", flush=True)
            result["archs"][arch] = got = run_arch(arch, args.data, args.seed, Path(tmp))
            splits = ", ".join(
                f"{s} {got[s]['accuracy_pct']}% {got[s]['per_speaker_pct']}" for s in ("validation", "test") if s in got
            )
            print(f"{arch}: trained in {got['train_seconds']} s; {splits}", flush=True)
    write_record(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
