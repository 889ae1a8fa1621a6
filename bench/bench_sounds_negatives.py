"""False alarms of the shipped sounds model on held-out negatives, and its curve against recall.

    .venv/bin/python -m bench.bench_sounds_negatives [--model assets/sounds.onnx] [--data ../shared/data]

The held-out pool is ``listener.training.datasets.negatives``' ``heldout`` sources (sources the
model never trained on: Debian game and desktop sounds, voice prompts, TTS, two Speech Commands
noises, synthetic sirens and buzzers; sources whose package is not installed are skipped and
listed) plus the ``seen-corpus`` AN4 test speakers, reported apart. Each clip is played as a
stream (``listener.training.calibrate.as_stream``: a level in -32..-12 dBFS, 1 s of background
on each side, faint pink noise) through the runtime's own pipeline
(``listener.pipeline.analyze_array``) with the model's own per-class thresholds and hop:

- ``false_alarm``: share of held-out clips that log any detection (by source, and which labels);
- the curve: every class threshold moved by the same offset, false alarms on the held-out pool
  against recall on ESC-10 clips played the same way. The shipped model trained on every ESC-10
  clip, so that recall is an upper bound (recall on unseen clips: the cross-validation);
- ``--variants``: the INT8 and FP32 files side by side;
- ``--draws N``: the held-out pool played N times, each time with other levels and noise (draw 0 is
  the headline's), so the spread a level draw alone makes is measured rather than guessed;
- ``--levels``: every held-out and ESC-10 clip again at each fixed level (RMS of its loudest second,
  dBFS) instead of a random one in -32..-12: held-out false alarms and ESC-10 recall (trained clips, an
  upper bound) by class at each level (a microphone with its gain up, a sound close to it or far away).

Writes bench/results/sounds_negatives.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from bench.record import write_record
from listener.classifier import CPU, Classifier
from listener.config import PipelineOptions
from listener.pipeline import analyze_array
from listener.training.calibrate import LEVEL_DB, as_stream, peak_scores, rates
from listener.training.corpus import build_esc_set
from listener.training.datasets.negatives import Roots, build_pool

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
OFFSETS = (-0.3, -0.2, -0.15, -0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
SEEDS = {"heldout": 3, "seen-corpus": 4, "esc": 1}  # one stream level per clip, the same every run
DRAW_STRIDE = 1000  # draw k of a pool plays it with seed SEEDS[name] + k * DRAW_STRIDE


def logged(
    classifier: Classifier, clips: list[np.ndarray], seed: int, level_db: tuple[float, float] = LEVEL_DB
) -> list[list[str]]:
    """The labels ``listener analyze`` logs for each clip played as a stream (the model's own thresholds)."""
    out = []
    for i, clip in enumerate(clips):
        result = analyze_array(as_stream(clip, seed * 100003 + i, level_db), classifier, PipelineOptions())
        out.append([d.label for d in result.detections])
    return out


def at_levels(classifier: Classifier, heldout, esc, levels: list[float]) -> dict:
    """Held-out false alarms and ESC-10 recall (by class) with every clip at each fixed level."""
    out = {}
    for level in levels:
        t0 = time.time()
        fired = [bool(d) for d in logged(classifier, heldout.clips, SEEDS["heldout"], (level, level))]
        said = [esc.label_names[y] for y in esc.labels]
        found = [name in d for name, d in zip(said, logged(classifier, list(esc.audio), SEEDS["esc"], (level, level)))]
        by_class = {c: float(np.mean([f for f, n in zip(found, said) if n == c])) for c in sorted(set(said))}
        out[f"{level:g}"] = {
            "false_alarm": float(np.mean(fired)),
            "recall_esc10_trained": float(np.mean(found)),
            "recall_by_class_esc10_trained": by_class,
            "seconds": round(time.time() - t0, 1),
        }
        print(
            f"  level {level:g} dBFS: false alarms {np.mean(fired):.4f}, ESC-10 recall {np.mean(found):.4f}", flush=True
        )
    return out


def draws(classifier: Classifier, pool, first: float, n: int) -> dict:
    """Held-out false alarms over ``n`` level draws: ``first`` is draw 0, the headline's own rate (not
    scored again), draws 1 .. n-1 play the pool at other levels. Each rate, and their mean, lowest and
    highest."""
    rates_ = [first] + [
        float(np.mean([bool(d) for d in logged(classifier, pool.clips, SEEDS["heldout"] + k * DRAW_STRIDE)]))
        for k in range(1, n)
    ]
    return {"n": n, "false_alarm": rates_, "mean": float(np.mean(rates_)), "min": min(rates_), "max": max(rates_)}


def measure(path: Path, pools: dict, esc, threads: int, levels: list[float] | None = None, n_draws: int = 1) -> dict:
    clf = Classifier(path, threads=threads, providers=[CPU])
    info = clf.info
    classes = info.detection_labels
    own = {k: info.threshold_for(k) for k in classes}
    out: dict = {"model": info.model_id, "file": str(path), "variant": info.variant, "thresholds": own}
    for name, pool in pools.items():
        t0 = time.time()
        det = logged(clf, pool.clips, SEEDS[name])
        fired = [bool(d) for d in det]
        src = np.array(pool.source)
        labels: dict[str, int] = {}
        for d in det:
            for x in d:
                labels[x] = labels.get(x, 0) + 1
        out[name] = {
            "n": len(det),
            "false_alarm": float(np.mean(fired)) if det else float("nan"),
            "by_source": {s: float(np.mean(np.array(fired)[src == s])) for s in sorted(set(pool.source))},
            "n_by_source": pool.by_source(),
            "labels_logged": labels,
            "seconds": round(time.time() - t0, 1),
        }
        print(f"{path.name} {name}: false alarms {out[name]['false_alarm']:.4f} of {len(det)}", flush=True)
    # the curve: peak scores once per clip, thresholds moved together
    neg = pools["heldout"]
    neg_m = peak_scores(clf, neg.clips, SEEDS["heldout"])
    pos_m = peak_scores(clf, list(esc.audio), SEEDS["esc"])
    labels = list(info.labels)
    idx = [labels.index(esc.label_names[y]) for y in esc.labels]
    m = np.concatenate([neg_m, pos_m])
    truth = [-1] * len(neg_m) + idx
    curve = []
    for off in OFFSETS:
        th = {k: float(np.clip(v + off, 0.05, 0.999)) for k, v in own.items()}
        r = rates(m, labels, truth, neg.source, th)
        curve.append({"offset": off, "false_alarm": r.false_alarm, "recall_esc10_trained": r.recall})
        if off == 0.0:
            out["at_own_thresholds"] = {
                "false_alarm_from_peak_scores": r.false_alarm,
                "recall_esc10_trained": r.recall,
                "wrong_label_esc10_trained": r.confusion,
                "recall_by_class_esc10_trained": r.by_class,
            }
    single = rates(m, labels, truth, neg.source, {k: info.threshold for k in classes})
    out["single_threshold"] = {"threshold": info.threshold, "false_alarm": single.false_alarm}
    out["curve"] = curve
    if levels:
        out["levels"] = at_levels(clf, neg, esc, levels)
    if n_draws > 1:
        out["draws"] = draws(clf, neg, out["heldout"]["false_alarm"], n_draws)
        d = out["draws"]
        print(f"{path.name} heldout over {n_draws} draws: {d['mean']:.4f} ({d['min']:.4f}-{d['max']:.4f})", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "assets" / "sounds.onnx", help="the INT8 file")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--variants", action="store_true", help="also the .fp32.onnx next to --model")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    parser.add_argument(
        "--levels", type=float, nargs="*", default=[], help="also play every clip at these levels (dBFS, e.g. -45 -6)"
    )
    parser.add_argument(
        "--draws", type=int, default=1, help="play the held-out pool this many times at other levels (default 1)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "sounds_negatives.json")
    args = parser.parse_args(argv)
    if args.draws < 1:
        print("error: --draws must be >= 1", file=sys.stderr)
        return 2
    if any(level > 0 for level in args.levels):
        print("error: --levels are dBFS, at most 0 (the RMS of a clip's loudest second)", file=sys.stderr)
        return 2
    if not args.model.is_file() or not (args.data / "esc10").is_dir():
        print(f"error: need --model {args.model} and --data with esc10/ ({args.data})", file=sys.stderr)
        return 2
    t0 = time.time()
    roots = Roots(args.data)
    skipped: list[str] = []
    pools = {
        s: build_pool(s, roots, log=lambda m: skipped.append(m) if "skipping" in m else None)
        for s in SEEDS
        if s != "esc"
    }
    esc = build_esc_set(args.data)
    paths = [args.model] + (
        [args.model.with_name(args.model.name.replace(".onnx", ".fp32.onnx"))] if args.variants else []
    )
    record = {
        "benchmark": "sounds: held-out false alarms and the false-alarm/recall curve through the runtime pipeline",
        "command": " ".join(["python -m bench.bench_sounds_negatives", *(sys.argv[1:] if argv is None else argv)]),
        "machine": f"{platform.machine()} {len(__import__('os').sched_getaffinity(0))} cores {platform.system()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "skipped_sources": skipped,
        "results": [measure(p, pools, esc, args.threads, args.levels, args.draws) for p in paths],
        "seconds": round(time.time() - t0, 1),
    }
    write_record(args.out, record)
    print(json.dumps({r["variant"]: r["heldout"]["false_alarm"] for r in record["results"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
