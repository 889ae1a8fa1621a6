"""INT8 variants of the shipped digits FP32 file, scored on the validation speakers by fidelity to FP32.

    python -m bench.bench_digits_int8 [--data ../shared/data (or LISTENER_DATA)] [--only NAME ...]
                                      [--out docs/models/digits/bench_digits_int8.json]

Each variant re-quantizes ``assets/digits.fp32.onnx``'s network (no retraining) as the build does
(``export.build_digits.quantize_digits``, the carried rows after it) with one :class:`Int8Setup` /
calibration set, gets the shipped INT8 file's metadata, and goes through ``listener analyze``'s pipeline on the
validation sets (``evaluate_strings.digit_sets(part="validation")``: AN4's ten validation
speakers, FSDD yweweler, the Speech Commands validation list, ESC-10 fold 4). Never the test
speakers: calibration clips come from the validation sets (the recipe's ``int8_calibration``)
or, for ``more_calibration``, also from training speakers and training noise.

The rule, fixed before any variant was scored:

1. *disagreements*: the recordings of all validation sets where the variant logs another digit
   string than the FP32 file (a digit missed, added or changed, either way, counts);
2. a variant replaces the shipped recipe only with fewer disagreements than the shipped
   recipe's file (``shipped``) and a largest |FP32 - INT8| digits right over AN4, FSDD and
   Speech Commands no larger than its; and only if its file stays >= 2x smaller than FP32 and
   ``python -m bench.bench_analyze`` runs it at >= 90% of the shipped file's real-time factor;
3. among those: fewest disagreements, then the smaller largest |difference|, then the fewer
   changes from the shipped recipe.

``--part test`` scores the same way on the test speakers (AN4 test, FSDD nicolas and theo, the
Speech Commands testing list, SC background noise, ESC-10 fold 5): a report on the chosen
variant, never a way to choose. Writes the files under bench/.cache/int8/ and the figures to
the JSON ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench.bench_digits import write_result
from bench.machine import machine
from listener.classifier import Classifier, ClassifierOptions
from listener.export.build_digits import DigitsRecipe, file_network, int8_calibration, quantize_digits
from listener.export.ctc_export import export_ctc_onnx
from listener.export.frame_context import give_context
from listener.export.onnx_export import set_metadata
from listener.export.quantize import Int8Setup
from listener.training.ctc_corpus import CtcDataConfig, noise_recordings, validation_items
from listener.training.evaluate_strings import PARTS, digit_sets, log_digits, summarize

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("LISTENER_DATA", ROOT.parent / "shared" / "data"))
FP32 = ROOT / "assets" / "digits.fp32.onnx"
SHIPPED = ROOT / "assets" / "digits.onnx"
CACHE = Path(__file__).resolve().parent / ".cache" / "int8"
SCORED = ("an4", "fsdd", "speech_commands")  # the sets with digits (|FP32 - INT8| digits right)


@dataclass(frozen=True)
class Variant:
    name: str
    setup: Int8Setup
    calibration: str = "validation"  # "validation": the recipe's 96 clips; "more": + training speakers and noise


V21 = Int8Setup(fp32_convs=())  # how digits 2.1's INT8 file was made (MinMax, everything quantized)
VARIANTS = (
    Variant("recipe_2.1", V21),
    Variant("percentile", replace(V21, method="percentile")),
    Variant("entropy", replace(V21, method="entropy")),
    Variant("symmetric", replace(V21, symmetric=True)),
    Variant("reduce_range", replace(V21, reduce_range=True)),
    Variant("first_conv_fp32", replace(V21, fp32_convs=(0,))),
    Variant("first_two_convs_fp32", replace(V21, fp32_convs=(0, 1))),
    Variant("more_calibration", V21, "more"),
    # added after the eight above were scored: the two best ideas together
    Variant("first_conv_fp32_more_calibration", replace(V21, fp32_convs=(0,)), "more"),
    Variant("first_two_convs_fp32_more_calibration", replace(V21, fp32_convs=(0, 1)), "more"),
)


def calibration_sets(data: Path, log=print) -> dict[str, np.ndarray]:
    """The calibration clips by name: "validation", the 2.1 recipe's (about 32 from each validation set),
    and "more", those and 96 each of training-speaker words, AN4 training utterances and training-noise
    pieces (``build_digits.int8_calibration``)."""
    cfg = CtcDataConfig(data_root=data)
    val, noise = validation_items(cfg, log), noise_recordings(cfg, log)
    return {
        "validation": int8_calibration(cfg, val, [], noise, 0, log),
        "more": int8_calibration(cfg, val, [], noise, 96, log),
    }


def disagreements(a: list, b: list) -> int:
    return sum(x.digits != y.digits for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--only", nargs="*", help="variant names (default: all)")
    ap.add_argument(
        "--part",
        choices=PARTS,
        default="validation",
        help="the speakers to score on; variants are chosen on validation, 'test' only reports on the chosen",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "models" / "digits" / "bench_digits_int8.json")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"bench_digits_int8: no data folder {args.data} (pass --data or set LISTENER_DATA)")
    variants = [v for v in VARIANTS if not args.only or v.name in args.only]
    unknown = set(args.only or ()) - {v.name for v in VARIANTS}
    if unknown:
        raise SystemExit(f"bench_digits_int8: no variant {', '.join(sorted(unknown))}")
    t0 = time.perf_counter()
    sets = digit_sets(args.data, args.part)
    calib = calibration_sets(args.data)
    print(f"sets: {', '.join(f'{k} {len(v)}' for k, v in sets.items())}; calibration clips: "
          f"{ {k: len(v) for k, v in calib.items()} } ({time.perf_counter() - t0:.1f} s)")  # fmt: skip

    def logged(path: Path) -> dict[str, list]:
        clf = Classifier.from_options(ClassifierOptions(model=str(path), threads=1))
        return {name: log_digits(clf, recs) for name, recs in sets.items()}

    fp32 = logged(FP32)
    fp32_sets = {k: summarize(v) for k, v in fp32.items()}
    info = Classifier(SHIPPED).info
    CACHE.mkdir(parents=True, exist_ok=True)
    # the shipped FP32 file carries rows (its `context` input, which calibration cannot feed): its network
    # exported again, quantized as the build quantizes it, then given the carried rows as the build does
    recipe = DigitsRecipe()
    net = file_network(FP32, recipe)
    plain = export_ctc_onnx(net, CACHE / "fp32.onnx")
    probe = np.concatenate([np.zeros(8000, np.float32), calib["validation"][0]])[None]
    rows = {}
    for v in variants:
        path = CACHE / f"{v.name}.onnx"
        t = time.perf_counter()
        quantize_digits(net, plain, path, calib[v.calibration], replace(recipe, int8=v.setup), probe)
        set_metadata(path, replace(info, frame_context=0))  # give_context reads the frame grid, then sets it
        give_context(path)
        q_s = time.perf_counter() - t
        got = logged(path)
        sums = {k: summarize(x) for k, x in got.items()}
        delta = {k: round(abs(fp32_sets[k]["digits_right"] - sums[k]["digits_right"]), 2) for k in SCORED}
        rows[v.name] = {
            "setup": asdict(v.setup),
            "calibration": v.calibration,
            "calibration_clips": len(calib[v.calibration]),
            "file": str(path.relative_to(ROOT)),
            "bytes": path.stat().st_size,
            "disagreements": {k: disagreements(fp32[k], got[k]) for k in sets},
            "disagreements_total": sum(disagreements(fp32[k], got[k]) for k in sets),
            "max_abs_delta_digits_right": max(delta.values()),
            "abs_delta_digits_right": delta,
            "sets": sums,
            "quantize_s": round(q_s, 1),
        }
        r = rows[v.name]
        print(
            f"{v.name}: {r['disagreements_total']} disagreements {r['disagreements']}, max |delta| "
            f"{r['max_abs_delta_digits_right']} {delta}, {r['bytes']:,} bytes ({time.perf_counter() - t:.0f} s)"
        )
    result = {
        "benchmark": f"INT8 variants of assets/digits.fp32.onnx on the {args.part} speakers, fidelity to FP32",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "python -m bench.bench_digits_int8 " + " ".join(argv if argv is not None else sys.argv[1:]),
        "fp32": {"bytes": FP32.stat().st_size, "sets": fp32_sets},
        "part": args.part,
        "recordings": {k: len(v) for k, v in sets.items()},
        "variants": rows,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
