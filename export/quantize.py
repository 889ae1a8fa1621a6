"""INT8 static quantization (QDQ, per-channel) calibrated on real clips.

Only the network is quantized: the front end's DFT convolution, power, mel
matrix and log stay FP32 (``nodes_to_exclude``), because a log of INT8
power spectra loses the quiet bins that carry most of a word; and so does the
network's first convolution (``FP32_CONVS``), the one that reads the log-mel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from listener.contract import INPUT
from listener.export.onnx_export import frontend_nodes, set_metadata
from listener.training.models.registry import ModelSpec

FP32_CONVS: tuple[int, ...] = (0,)
"""Network convolutions (their order in :func:`backbone_convs`) that stay FP32 in every INT8 file:
the first reads the log-mel, and rounding that input to 8 bits cost digits 2.4 points on FSDD's
test speakers and sounds most of its rain (docs/models/digits.md, docs/models/sounds.md, "INT8")."""


def backbone_convs(path: Path, head: bool = False) -> list[str]:
    """The network's convolutions in graph order: those with 4-D weights (the backbone); with `head`,
    the Conv1d layers too (3-D weights with more than one input channel, which leaves out the front
    end's STFT)."""
    graph = onnx.load(str(path)).graph
    weights = {i.name: list(i.dims) for i in graph.initializer}
    names = []
    for node in graph.node:
        dims = weights.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if dims is not None and (len(dims) == 4 or (head and len(dims) == 3 and dims[1] > 1)):
            names.append(node.name)
    return names


def fp32_conv_names(path: Path, fp32_convs: tuple[int, ...] = FP32_CONVS) -> list[str]:
    """The names of the backbone convolutions `fp32_convs` keeps FP32 (a one-line error for an index
    the file does not have). Convolutions are counted by their weights: where a graph runs one twice
    (``speech_embedding.embed_call``: over a call's frames, then on the windows its clip changes), both
    nodes stay FP32."""
    graph = onnx.load(str(path)).graph
    names = set(backbone_convs(path))
    weight_of = {node.name: node.input[1] for node in graph.node if node.name in names}
    weights = list(dict.fromkeys(weight_of.values()))  # each convolution once, in graph order
    bad = [i for i in fp32_convs if not 0 <= i < len(weights)]
    if bad:
        raise ValueError(f"{path}: no backbone convolution {bad} (it has {len(weights)})")
    keep = {weights[i] for i in fp32_convs}
    return [name for name, weight in weight_of.items() if weight in keep]


class ClipReader(CalibrationDataReader):
    """Feeds calibration windows ``[batch, samples]`` to the calibrator."""

    def __init__(self, audio: np.ndarray, batch_size: int = 32) -> None:
        self.batches = [audio[i : i + batch_size].astype(np.float32) for i in range(0, len(audio), batch_size)]
        self.pos = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.pos >= len(self.batches):
            return None
        self.pos += 1
        return {INPUT: self.batches[self.pos - 1]}

    def rewind(self) -> None:
        self.pos = 0


def _not_advice(record: logging.LogRecord) -> bool:
    """False for onnxruntime's advice to pre-process, logged on every call (its wording varies by
    call site): a window model's graph is already what pre-processing would make."""
    message = record.getMessage()
    return not (message.startswith("Please consider") and "pre-processing" in message)


@contextmanager
def quiet_quantizer() -> Iterator[None]:
    """onnxruntime's calibration sessions without their warnings (initializers they drop, the
    pre-processing advice): a build's log keeps its own progress lines; errors still show."""
    root = logging.getLogger()
    root.addFilter(_not_advice)
    ort.set_default_logger_severity(3)
    try:
        yield
    finally:
        ort.set_default_logger_severity(2)
        root.removeFilter(_not_advice)


def quantize_int8(
    fp32_path: Path,
    int8_path: Path,
    calibration: np.ndarray,
    spec: ModelSpec,
    accuracy: dict | None = None,
    fp32_convs: tuple[int, ...] = FP32_CONVS,
) -> Path:
    """Write the INT8 QDQ model next to the FP32 one and give it the contract's metadata; the front end
    and the backbone convolutions `fp32_convs` stay FP32."""
    if calibration.ndim != 2 or len(calibration) == 0:
        raise ValueError(f"calibration audio must be a non-empty [N, samples] array, got {calibration.shape}")
    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    with quiet_quantizer():
        quantize_static(
            str(fp32_path),
            str(int8_path),
            ClipReader(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=frontend_nodes(Path(fp32_path)) + fp32_conv_names(Path(fp32_path), fp32_convs),
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    set_metadata(int8_path, spec.model_info("int8", accuracy))
    return int8_path
