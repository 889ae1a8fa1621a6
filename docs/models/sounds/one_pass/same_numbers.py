"""Check 1 of docs/models/sounds/rules/one_pass.md: do two pairs of sounds files give the same logits?

    python docs/models/sounds/one_pass/same_numbers.py OLD_DIR NEW_DIR --data /work/shared/data --out X.json

Every 1 s window at a 0.5 s hop (the model's own) of ESC-10's 400 clips and of the held-out negative
clips (the ones `build_defaults --evaluate-only` scores), through ONNX Runtime on one thread, for
`sounds.fp32.onnx` and `sounds.onnx` in each folder: the largest logit difference (equal infinities
count as equal) and how many windows change their top class.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from listener.export import build_defaults as bd
from listener.export.quantize import max_abs
from listener.training.corpus import build_esc_set
from listener.training.datasets.negatives import build_pool


def windows(clips: list[np.ndarray], n: int = 16000, hop: int = 8000) -> np.ndarray:
    out = []
    for c in clips:
        c = np.asarray(c, np.float32)
        if len(c) < n:
            c = np.pad(c, (0, n - len(c)))
        out += [c[i : i + n] for i in range(0, len(c) - n + 1, hop)]
    return np.stack(out)


def logits(path: Path, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(["logits"], {"audio": x[i : i + 64]})[0] for i in range(0, len(x), 64)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--data", type=Path, default=bd.DEFAULT_DATA)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    args = bd.with_sounds_seed(bd._arguments(["--only", "sounds", "--data", str(a.data)]))
    t0 = time.time()
    sets = {
        "esc10": windows(list(build_esc_set(a.data).audio)),
        "heldout_negatives": windows(build_pool("heldout", bd.negative_roots(args), seed=args.seed,
                                                scale=bd.negative_scale(args), log=lambda m: None).clips),
    }  # fmt: skip
    result = {"old": str(a.old), "new": str(a.new), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for name in ("sounds.fp32.onnx", "sounds.onnx"):
        for key, x in sets.items():
            old, new = logits(a.old / name, x), logits(a.new / name, x)
            result[f"{name} {key}"] = {
                "windows": len(x),
                "max_abs": max_abs(old, new),
                "top_class_changes": int((old.argmax(1) != new.argmax(1)).sum()),
            }
    result["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(result, indent=2))
    if a.out:
        a.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
