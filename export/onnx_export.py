"""Exports an ExportableModel to ONNX with the model contract's names and metadata.

The legacy TorchScript exporter (``dynamo=False``) is used: the graph is plain
Conv/MatMul/Log/BatchNorm, it needs no extra package (the dynamo exporter
needs onnxscript), and its scope-based node names (``/frontend/...``,
``/net/...``) let quantization exclude the front end by name.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx
import torch

from listener.contract import FEATURES, INPUT, LOGITS, ModelInfo
from listener.training.models.exportable import ExportableModel
from listener.training.models.registry import ModelSpec

OPSET = 17
OUTPUTS = (LOGITS, FEATURES)  # what ExportableModel.forward returns, in that order


def save_in_place(model: onnx.ModelProto, path: Path) -> None:
    """Write ``model`` over the file at ``path`` through a temporary file beside it, so a Ctrl-C, a full
    disk or a crash part way leaves the old file whole (these commands rewrite shipped models in place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def set_metadata(path: Path, info: ModelInfo) -> None:
    """Replace the file's metadata_props with the contract's spelling of ``info`` (in place)."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in info.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    save_in_place(model, path)


def export_onnx(model: ExportableModel, spec: ModelSpec, path: Path, accuracy: dict | None = None) -> Path:
    """Write the FP32 graph (dynamic batch axis, opset 17) with its metadata; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    dummy = torch.zeros(2, spec.window_samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes={name: {0: "batch"} for name in (INPUT, *OUTPUTS)},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))
    set_metadata(path, spec.model_info("fp32", accuracy))
    return path


NETWORK_SCOPE = "/net/"  # the quantized part's node names start with it (the front end's do not)


def frontend_nodes(path: Path) -> list[str]:
    """Names of every node that is not part of the network (front end + normalisation)."""
    graph = onnx.load(str(path)).graph
    return [n.name for n in graph.node if not n.name.startswith(NETWORK_SCOPE)]


def network_nodes(path: Path) -> list[str]:
    """Names of the network's nodes (``NETWORK_SCOPE``), the ones INT8 quantization may quantize."""
    graph = onnx.load(str(path)).graph
    return [n.name for n in graph.node if n.name.startswith(NETWORK_SCOPE)]


def load_onnx_weights(module: torch.nn.Module, path: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Copy each entry of `module`'s state (but those whose name starts with one of `skip`) from the
    initializer of the same name in the ONNX file `path` (the legacy exporter keeps state names); returns
    what did not fit ("NAME is missing", "NAME has another shape"), nothing loaded then. ValueError for a
    file that is not ONNX."""
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # noqa: BLE001  (onnx raises several kinds on a file that is not ONNX)
        raise ValueError(f"{path}: not an ONNX file ({exc})") from exc
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = module.state_dict()
    problems = []
    for name, tensor in state.items():
        if skip and name.startswith(skip):
            continue
        if name not in weights:
            problems.append(f"{name} is missing")
        elif tuple(weights[name].shape) != tuple(tensor.shape):
            problems.append(f"{name} has another shape")
        else:
            state[name] = torch.from_numpy(weights[name].copy())
    if not problems:
        module.load_state_dict(state)
    return problems
