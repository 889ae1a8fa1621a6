"""Exports an ExportableModel to ONNX with the model contract's names and metadata.

The legacy TorchScript exporter (``dynamo=False``) is used: the graph is plain
Conv/MatMul/Log/BatchNorm, it needs no extra package (the dynamo exporter
needs onnxscript), and its scope-based node names (``/frontend/...``,
``/net/...``) let quantization exclude the front end by name.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import onnx
import torch

from listener.training.models.exportable import ExportableModel
from listener.training.models.registry import ModelSpec

OPSET = 17
INPUT = "audio"
OUTPUTS = ("logits", "features")


def metadata(spec: ModelSpec, variant: str, accuracy: dict | None = None) -> dict[str, str]:
    """The contract's metadata_props (all strings; JSON where the contract says so)."""
    fe = dict(spec.frontend)
    return {
        "name": spec.name,
        "version": spec.version,
        "labels": json.dumps(list(spec.labels)),
        "reject_labels": json.dumps(list(spec.reject_labels)),
        "sample_rate": str(int(fe.get("sample_rate", 16000))),
        "window_seconds": str(spec.window_seconds),
        "kind": spec.kind,
        "gate": spec.gate,
        "threshold": f"{spec.threshold:.2f}",
        "hop_seconds": str(spec.hop_seconds),
        "variant": variant,
        "features": json.dumps(fe),
        "training_data": spec.training_data,
        "accuracy": json.dumps(accuracy or {}),
    }


def set_metadata(path: Path, props: dict[str, str]) -> None:
    """Replace the file's metadata_props with ``props`` (in place)."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))


def export_onnx(model: ExportableModel, spec: ModelSpec, path: Path, accuracy: dict | None = None) -> Path:
    """Write the FP32 graph (dynamic batch axis, opset 17) with its metadata; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    samples = int(round(spec.window_seconds * spec.frontend.get("sample_rate", 16000)))
    dummy = torch.zeros(2, samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes={INPUT: {0: "batch"}, OUTPUTS[0]: {0: "batch"}, OUTPUTS[1]: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))
    set_metadata(path, metadata(spec, "fp32", accuracy))
    return path


def frontend_nodes(path: Path) -> list[str]:
    """Names of every node that is not part of the network (front end + normalisation)."""
    graph = onnx.load(str(path)).graph
    return [n.name for n in graph.node if not n.name.startswith("/net/")]
