"""The input-floor rule's candidate files (docs/models/digits/rules/input_floor.md): an ONNX ``Add`` of
the mean mel power of white noise at L dBFS (measured on 20 s of it through the torch front end)
before the ``Clip`` that precedes the log, in an exported digits file; one file per level.

    python docs/models/digits/input_floor/surgery_probe.py DIGITS_2.1_INT8.onnx -80,-75,-70,-65,-60

Writes /tmp/p12/pf<L>.onnx. A probe, not package code: the package's own way is
``OwwFrontend(floor_db=L)`` and ``build_defaults --reexport`` (docs/training.md).
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from listener.training.speech_embedding import OwwFrontend


def main(src: str, levels: list[float]) -> None:
    fe = OwwFrontend()
    noise = np.random.default_rng(0).standard_normal(16000 * 20).astype(np.float32)
    for db in levels:
        with torch.no_grad():
            mel_db = fe.log_mel(torch.from_numpy(noise * 10 ** (db / 20))[None])[0].numpy()
        power = (10 ** (mel_db / 10)).mean(0).astype(np.float32)  # [32]
        model = onnx.load(src)
        nodes = list(model.graph.node)
        i = next(k for k, n in enumerate(nodes) if n.name == "/embedder/frontend/Clip")
        clip = nodes[i]
        model.graph.initializer.append(numpy_helper.from_array(power, "floor_power"))
        add = helper.make_node("Add", [clip.input[0], "floor_power"], ["floored_mel"], name="floor_add")
        clip.input[0] = "floored_mel"
        model.graph.node.insert(i, add)
        out = f"/tmp/p12/pf{int(-db)}.onnx"
        onnx.save(model, out)
        print(db, "band dB", np.round(10 * np.log10(power[[0, 8, 16, 24, 31]]), 1), out)


if __name__ == "__main__":
    main(sys.argv[1], [float(x) for x in sys.argv[2].split(",")])
