"""Give a digits CTC file the ``context`` input and ``embeddings`` output (the contract's ``frame_context``).

    python -m listener.export.frame_context assets/digits.onnx assets/digits.fp32.onnx

Each output frame of the digits graph comes from ``k`` consecutive speech embeddings (one per
80 ms hop, each from 12,512 samples). A live call for two new frames used to compute ``k + 1``
embeddings, ``k - 1`` of them again; with the rows carried over, it computes two. The change is
graph surgery, so it applies to an FP32 file and to its INT8 file alike (after quantization,
which then never sees the new input): the tensor that crosses from the ``/embedder/`` nodes to
the ``/head/`` nodes becomes the ``embeddings`` output, and the head reads
``Concat(context, embeddings)`` instead. The number of rows is measured on the file (embeddings
minus frames for one call), written to the metadata, and :func:`check_frame_context` checks on the
file, through the runtime's own :class:`~listener.windows.FrameCarry`, that frames computed with
carried rows are the frames of one whole call.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from listener.errors import ModelError, loading

with loading(__name__):  # torch loads here: Ctrl-C gives one line (listener/errors.py)
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from listener.contract import CONTEXT, EMBEDDINGS, INPUT, LOGITS, ModelInfo
    from listener.export.onnx_export import save_in_place, set_metadata
    from listener.export.parity import ParityError

EMBEDDER, HEAD = "/embedder/", "/head/"  # node-name prefixes of AudioToLogits' two parts in a torch export


class ContextError(ParityError):
    """Frames computed with carried rows differ from the frames of one whole call."""


def crossing_tensor(graph: onnx.GraphProto) -> str:
    """The one tensor an ``/embedder/`` node makes and a ``/head/`` node reads: the embeddings."""
    made_by = {out: node.name for node in graph.node for out in node.output}
    crossing = {
        name
        for node in graph.node
        if node.name.startswith(HEAD)
        for name in node.input
        if made_by.get(name, "").startswith(EMBEDDER)
    }
    if len(crossing) != 1:
        raise ModelError(
            f"expected one tensor from the {EMBEDDER} nodes to the {HEAD} nodes, found {sorted(crossing) or 'none'} "
            "(not a digits CTC export?)"
        )
    return crossing.pop()


def _sorted_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The nodes in an order where every input is made before it is read (ONNX needs it)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    waiting, order = list(graph.node), []
    while waiting:
        still = [n for n in waiting if not all(i in ready for i in n.input)]
        done = [n for n in waiting if all(i in ready for i in n.input)]
        if not done:
            raise ModelError("the graph has a cycle or reads a tensor nothing makes")
        for n in done:
            order.append(n)
            ready.update(n.output)
        waiting = still
    return order


def add_frame_context(path: Path) -> int:
    """Add ``context`` and ``embeddings`` to the graph in ``path`` (in place; metadata kept as it is);
    returns the rows a call must carry (embeddings minus frames of one call)."""
    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    if any(i.name == CONTEXT for i in graph.input):
        raise ModelError(f"{path} already has a '{CONTEXT}' input")
    rows = crossing_tensor(graph)
    width = _width(model, rows, path)
    joined = f"{rows}_with_{CONTEXT}"
    for node in graph.node:
        if node.name.startswith(HEAD):
            node.input[:] = [joined if name == rows else name for name in node.input]
    graph.node.extend(
        [
            helper.make_node("Concat", [CONTEXT, rows], [joined], name=f"/{CONTEXT}/Concat", axis=1),
            helper.make_node("Identity", [rows], [EMBEDDINGS], name=f"/{CONTEXT}/Identity"),
        ]
    )
    graph.input.append(helper.make_tensor_value_info(CONTEXT, TensorProto.FLOAT, ["batch", "carried", width]))
    graph.output.append(helper.make_tensor_value_info(EMBEDDINGS, TensorProto.FLOAT, ["batch", "rows", width]))
    order = _sorted_nodes(graph)
    del graph.node[:]
    graph.node.extend(order)
    onnx.checker.check_model(model)
    save_in_place(model, path)
    return _carried_rows(path, width)


def _info(meta: dict[str, str], path: Path) -> ModelInfo:
    return ModelInfo.from_metadata(meta, str(path))


def _width(model: onnx.ModelProto, tensor: str, path: Path) -> int:
    """The embeddings' last dimension, from a run of the graph with them as an output."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    info = _info({p.key: p.value for p in model.metadata_props}, path)
    out = session.run([tensor], {INPUT: np.zeros((1, info.frame_samples), np.float32)})[0]
    if out.ndim != 3:
        raise ModelError(f"{path}: the embeddings are {out.ndim}-D, expected [batch, rows, width]")
    return int(out.shape[2])


def _carried_rows(path: Path, width: int) -> int:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    info = _info(dict(session.get_modelmeta().custom_metadata_map), path)
    samples = np.zeros((1, info.frame_samples + 3 * info.frame_hop_samples), np.float32)
    feed = {INPUT: samples, CONTEXT: np.zeros((1, 0, width), np.float32)}
    logits, rows = session.run([LOGITS, EMBEDDINGS], feed)
    return int(rows.shape[1] - logits.shape[1])


def check_frame_context(path: Path, seconds: float = 6.0, seed: int = 0, tolerance: float = 1e-4) -> float:
    """Max |probability difference| between the frames of one whole call and the same frames computed
    1, 2 and 3 at a time with carried rows (the runtime's FrameCarry); raises ContextError above
    ``tolerance``."""
    from listener.classifier import Classifier
    from listener.windows import FrameCarry, FrameChunk

    clf = Classifier(path, threads=1)
    info = clf.info
    hop, span = info.frame_hop_samples, info.frame_samples
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal(int(seconds * info.sample_rate)) * 0.05).astype(np.float32)
    audio[len(audio) // 3 :] *= 1e-2
    whole, _ = clf.predict(audio[None])
    n, worst = whole.shape[1], 0.0
    for per_call in (1, 2, 3):
        carry, got = FrameCarry(info.frame_context, hop), []
        for first in range(0, n, per_call):
            k = min(per_call, n - first)
            chunk = FrameChunk(audio[first * hop : first * hop + span + (k - 1) * hop], first, k, hop, span, False)
            samples, context = carry.inputs(chunk)
            probs, rows = clf.predict_frames(samples[None], context)
            carry.keep(chunk, context, rows)
            got.append(probs[0])
        worst = max(worst, float(np.abs(np.concatenate(got) - whole[0]).max()))
    if worst > tolerance:
        raise ContextError(f"{path}: frames computed with carried rows differ from one whole call by {worst:.3g}")
    return worst


def give_context(path: Path) -> tuple[int, float]:
    """:func:`add_frame_context`, the metadata's ``frame_context``, then :func:`check_frame_context`:
    (rows carried, the check's max difference)."""
    path = Path(path)
    rows = add_frame_context(path)
    info = _info({p.key: p.value for p in onnx.load(str(path)).metadata_props}, path)
    set_metadata(path, replace(info, frame_context=rows))
    return rows, check_frame_context(path)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m listener.export.frame_context",
        description="Give digits CTC files the context input and embeddings output (metadata frame_context), "
        "in place, and check that carried rows give the frames of one whole call.",
    )
    ap.add_argument("files", nargs="+", type=Path, help="ONNX files of a digits CTC model (FP32 or INT8)")
    args = ap.parse_args(argv)
    for path in args.files:
        if not path.is_file():
            print(f"frame_context: {path}: no such file", file=sys.stderr)
            return 2
        try:
            rows, worst = give_context(path)
        except (ModelError, onnx.checker.ValidationError) as exc:
            print(f"frame_context: {path}: {exc}", file=sys.stderr)
            return 1
        print(f"{path}: frame_context {rows}; carried rows give the whole call's frames within {worst:.2g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
