"""INT8 static quantization (QDQ, per-channel int8 weights) calibrated on real clips, for every model.

Only the network is quantized: the front end's DFT convolution, power, mel
matrix and log stay FP32, because a log of INT8 power spectra loses the quiet
bins that carry most of a word; and so does the network's first convolution
(``FP32_CONVS``), the one that reads the log-mel. How the rest is quantized is
one record, :class:`Int8Setup`: ``CTC_INT8`` for the digits model (its
convolutions), ``WINDOW_INT8`` for window classifiers (every network node).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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

from listener.contract import INPUT, LOGITS
from listener.export.onnx_export import network_nodes, set_metadata
from listener.training.models.registry import ModelSpec

if TYPE_CHECKING:
    import torch

FP32_CONVS: tuple[int, ...] = (0,)
"""Network convolutions (their order in :func:`backbone_convs`) that stay FP32 in every INT8 file:
the first reads the log-mel, and rounding that input to 8 bits cost digits 2.4 points on FSDD's
test speakers and sounds most of its rain (docs/models/digits.md, docs/models/sounds.md, "INT8")."""

CALIBRATION_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,  # the 99.999th percentile of |x|
    "entropy": CalibrationMethod.Entropy,
}

# onnxruntime's entropy defaults (128 bins, 128 quantized bins) leave one candidate range, the full one,
# i.e. MinMax's; a 2048-bin histogram (TensorRT's) gives the KL search ranges to choose from
ENTROPY_BINS = {"num_bins": 2048, "num_quantized_bins": 255}


@dataclass(frozen=True)
class Int8Setup:
    """How a network is quantized (the front end always stays FP32). The defaults make the shipped digits
    file (``CTC_INT8``; the variants measured against it are in docs/models/digits.md, "INT8 variants");
    ``WINDOW_INT8`` makes the window classifiers' files (the sounds model, ``listener.export``)."""

    convs_only: bool = True  # only the network's convolutions; False: every node of it onnxruntime quantizes
    head: bool = True  # convs_only: the CTC head's 1-D convolutions too (digits: 2.4x smaller than FP32, not 1.6x)
    method: str = "minmax"  # activation ranges from: "minmax", "percentile", "entropy"
    symmetric: bool = False  # int8 activations symmetric around 0 (else `activations` with a zero point)
    activations: str = "uint8"  # the type of asymmetric activations: "uint8" or "int8"
    reduce_range: bool = False  # 7-bit weights (for CPUs whose int8 dot products can overflow)
    fp32_convs: tuple[int, ...] = FP32_CONVS  # backbone convolutions left in FP32 (the first: it reads the log-mel)
    fp32_scopes: tuple[str, ...] = ()  # nodes whose name starts with one of these stay FP32 (a part of the network)
    batch_size: int = 1  # calibration clips per run of the calibrator (a CTC clip is seconds long)
    preprocess: bool = True  # onnxruntime's pre-processing (shape inference) before quantizing

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration method must be one of {tuple(CALIBRATION_METHODS)}, not {self.method!r}")
        if self.activations not in ("uint8", "int8"):
            raise ValueError(f"activations must be uint8 or int8, not {self.activations!r}")

    @property
    def activation_type(self) -> QuantType:
        return QuantType.QInt8 if self.symmetric or self.activations == "int8" else QuantType.QUInt8

    @property
    def op_types(self) -> list[str] | None:
        """The op types calibrated and quantized (None: every one onnxruntime's QDQ quantizer knows)."""
        return ["Conv", "MaxPool"] if self.convs_only else None


CTC_INT8 = Int8Setup()
"""The digits model's INT8 (chosen on validation speakers, docs/models/digits.md "INT8 variants")."""

WINDOW_INT8 = Int8Setup(convs_only=False, activations="int8", batch_size=32, preprocess=False)
"""Window classifiers' INT8: the sounds model's (docs/models/sounds.md "Rain and INT8") and ``listener.export``'s."""


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


def int8_nodes(path: Path, setup: Int8Setup) -> list[str]:
    """The nodes `setup` quantizes in `path`: its convolutions (:func:`backbone_convs`) or every node of its
    network, less the backbone convolutions and the scopes `setup` keeps in FP32."""
    keep = set(fp32_conv_names(path, setup.fp32_convs))
    nodes = backbone_convs(path, setup.head) if setup.convs_only else network_nodes(path)
    return [n for n in nodes if n not in keep and not n.startswith(setup.fp32_scopes)]


# ops with one data input that the two passes of embed_call go through side by side
_ELEMENTWISE = ("LeakyRelu", "Clip", "Max", "Relu", "MaxPool")


def pass_pairs(graph: onnx.GraphProto) -> dict[str, str]:
    """Tensor -> its counterpart in the other pass of a graph that runs each convolution twice
    (``speech_embedding.embed_call``): two Conv nodes that read one weight pair their inputs and their
    outputs, and the pairing follows both passes through the same elementwise ops and pools."""
    made_by = {out: node for node in graph.node for out in node.output}
    read_by: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input[:1]:
            read_by.setdefault(name, []).append(node)
    by_weight: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        if node.op_type == "Conv" and len(node.input) > 1:
            by_weight.setdefault(node.input[1], []).append(node)
    pairs: dict[str, str] = {}
    todo = [(a.input[0], b.input[0]) for a, b in (n for n in by_weight.values() if len(n) == 2)]
    todo += [(a.output[0], b.output[0]) for a, b in (n for n in by_weight.values() if len(n) == 2)]
    while todo:
        x, y = todo.pop()
        if x == y or x in pairs:
            continue
        pairs[x], pairs[y] = y, x
        px, py = made_by.get(x), made_by.get(y)
        if px is not None and py is not None and px.op_type == py.op_type and px.op_type in _ELEMENTWISE:
            todo.append((px.input[0], py.input[0]))
        cx, cy = read_by.get(x, []), read_by.get(y, [])
        if len(cx) == len(cy) == 1 and cx[0].op_type == cy[0].op_type and cx[0].op_type in _ELEMENTWISE:
            todo.append((cx[0].output[0], cy[0].output[0]))
    return pairs


def ranges_for(pre: Path, reference: dict, quantized: list[str], strict: bool = True) -> dict:
    """Activation ranges for `pre` from `reference` (calibrated window by window): each tensor's own, else
    its counterpart's in the other pass (:func:`pass_pairs`), else, for a tensor one pass only has that
    moves values without changing them (a reshape, a scatter of the two passes' rows), its inputs' range.
    Every input and output of the `quantized` nodes must get one (else an error); front-end tensors named
    after another scope are left out. Not `strict` (ranges read from an INT8 file, which holds only those
    of the tensors it quantized): a tensor without one takes that of the one op reading it, the range its
    quantizer would have put on both (a LeakyRelu's output, quantized with the Clip after it)."""
    graph = onnx.load(str(pre)).graph
    pairs = pass_pairs(graph)
    out = {}
    for name in {t for node in graph.node for t in (*node.input, *node.output)}:
        source = name if name in reference else pairs.get(name)
        if source in reference:
            out[name] = reference[source]
    _moved_ranges(graph, out)
    quantized = set(quantized)
    needed = {t for node in graph.node if node.name in quantized for t in (node.input[0], node.output[0])}
    if not strict:
        _downstream_ranges(graph, out, needed)
    missing = sorted(needed - set(out))
    if missing and strict:
        raise ValueError(f"{pre}: no reference range for {len(missing)} tensor(s), e.g. {missing[:3]}")
    return out


def _downstream_ranges(graph: onnx.GraphProto, ranges: dict, needed: set[str]) -> None:
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input[:1]:
            readers.setdefault(name, []).append(node)
    for node in reversed(graph.node):
        for name in node.output[:1]:
            after = readers.get(name, [])
            if name in needed and name not in ranges and len(after) == 1 and after[0].output[0] in ranges:
                ranges[name] = ranges[after[0].output[0]]


def quantizable_nodes(path: Path, names: set[str]) -> list[str]:
    """Those of `names` that ``quantize_static`` (QDQ) can quantize: an op type it knows, reading a float
    tensor (not a shape computation)."""
    from onnxruntime.quantization.registry import QDQRegistry

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(path))).graph
    floats = {
        v.name
        for v in (*graph.input, *graph.value_info, *graph.output)
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    }
    floats |= {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    return [
        n.name for n in graph.node if n.name in names and n.op_type in QDQRegistry and n.input and n.input[0] in floats
    ]


# ops whose output holds only values of their data inputs (ScatterElements: its data and its updates)
_MOVES = {"Reshape": (0,), "Transpose": (0,), "Flatten": (0,), "Squeeze": (0,), "Unsqueeze": (0,),
          "ScatterElements": (0, 2)}  # fmt: skip


def _moved_ranges(graph: onnx.GraphProto, ranges: dict) -> None:
    """Ranges through :data:`_MOVES` ops (in place): an output without one gets the union of its data
    inputs' (in graph order, so a chain is followed); then, backwards, the one data input of such an op
    without one gets its output's (the second pass's windows reach the backbone through an Unsqueeze whose
    output the reference has, from a front-end tensor it does not)."""
    from onnxruntime.quantization.calibrate import TensorData

    def data_inputs(node: onnx.NodeProto) -> list[str]:
        return [node.input[i] for i in _MOVES.get(node.op_type, ()) if i < len(node.input)]

    for node in graph.node:
        inputs = data_inputs(node)
        if not inputs or node.output[0] in ranges or any(i not in ranges for i in inputs):
            continue
        lows = [ranges[i].range_value[0] for i in inputs]
        highs = [ranges[i].range_value[1] for i in inputs]
        ranges[node.output[0]] = TensorData(lowest=np.minimum.reduce(lows), highest=np.maximum.reduce(highs))
    for node in reversed(graph.node):
        inputs = data_inputs(node)
        if len(inputs) == 1 and inputs[0] not in ranges and node.output[0] in ranges:
            ranges[inputs[0]] = ranges[node.output[0]]


def _range_of(scale: np.ndarray, zero: int, q_low: int = -128, q_high: int = 127) -> tuple[np.float32, np.float32]:
    """Float32 (low, high) from which onnxruntime's ``compute_scale_zp`` gives back exactly float32 `scale`
    and `zero`: the float32 roundings of (q_low - zero) s and (q_high - zero) s, high then moved by an ulp
    at a time until the scale it gives (float64 (high - low) / 255, stored as float32) is `scale` again."""
    s = np.float32(scale)
    low = np.float32((q_low - zero) * np.float64(s))
    high = np.float32((q_high - zero) * np.float64(s))
    for _ in range(16):
        got = np.float32((np.float64(max(high, 0)) - np.float64(min(low, 0))) / (q_high - q_low))
        if got == s:
            break
        high = np.nextafter(high, np.float32(np.inf) if got < s else np.float32(-np.inf))
    return low, high


def file_ranges(int8: Path, fp32: Path, reference: Path) -> dict:
    """The activation ranges INT8 QDQ file `int8` (quantized from `fp32`) computes with, renamed onto the
    tensors of `reference`, a graph of the same ops in the same order (another export of the network, its
    scopes named otherwise): each QuantizeLinear's (scale, zero point) as the range that gives them back
    (int8 activations: [(-128 - z) s, (127 - z) s]). A graph of other ops is an error."""
    from onnx import numpy_helper
    from onnxruntime.quantization.calibrate import TensorData

    quantized = onnx.load(str(int8)).graph
    values = {i.name: numpy_helper.to_array(i) for i in quantized.initializer}
    ranges = {}
    for node in quantized.node:
        if node.op_type == "QuantizeLinear" and node.input[1] in values and node.input[2] in values:
            scale = values[node.input[1]].astype(np.float64)
            zero = values[node.input[2]].astype(np.float64)
            if scale.ndim == 0 and values[node.input[2]].dtype == np.int8:
                low, high = _range_of(values[node.input[1]], int(zero))
                ranges[node.input[0]] = TensorData(lowest=low, highest=high)
    old, new = onnx.load(str(fp32)).graph, onnx.load(str(reference)).graph
    if [n.op_type for n in old.node] != [n.op_type for n in new.node]:
        raise ValueError(f"{reference} is not {fp32}'s graph in other names: their ops differ")
    names = {a: b for x, y in zip(old.node, new.node) for a, b in zip((*x.input, *x.output), (*y.input, *y.output))}
    names.update({a.name: b.name for a, b in zip(old.input, new.input)})
    return {names[k]: v for k, v in ranges.items() if k in names}


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
    setup: Int8Setup,
    reference: Path | None = None,
    reference_ranges: dict | None = None,
) -> Path:
    """Write the INT8 QDQ file of `fp32_path` as `setup` says, activation ranges calibrated on `calibration`
    ([N, samples] real clips). `reference`: the same network exported window by window, whose ranges are
    calibrated instead, or are `reference_ranges` (its tensors' ranges: :func:`file_ranges`) when given;
    they are given to both passes of a graph that runs its backbone once over a call (:func:`ranges_for`),
    so the INT8 file computes what the reference's does: without it, the one-pass convolutions would be
    calibrated on whole calls, digital silence unclipped. Metadata is the caller's."""
    from onnxruntime.quantization.calibrate import TensorsData, create_calibrator, save_tensors_data
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration.ndim != 2 or len(calibration) == 0:
        raise ValueError(f"calibration audio must be a non-empty [N, samples] array, got {calibration.shape}")
    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    method = CALIBRATION_METHODS[setup.method]
    with quiet_quantizer(), tempfile.TemporaryDirectory(prefix="listener-int8-") as tmp:

        def prepared(path: Path, name: str) -> Path:
            if not setup.preprocess:
                return Path(path)
            quant_pre_process(str(path), str(Path(tmp) / name), skip_symbolic_shape=True)
            return Path(tmp) / name

        pre = prepared(fp32_path, "pre.onnx")
        nodes = int8_nodes(pre, setup)
        if not nodes:  # onnxruntime would take an empty list for "every node", the front end's too
            raise ValueError(f"{fp32_path}: {setup} leaves no node to quantize")
        if reference_ranges is None:
            calibrated = pre if reference is None else prepared(reference, "reference.onnx")
            op_types = setup.op_types or sorted(_qdq_op_types())
            # entropy's histogram size cannot be passed through quantize_static: every method calibrates here
            calibrator = create_calibrator(
                calibrated,
                op_types,
                str(Path(tmp) / "augmented.onnx"),
                method,
                extra_options=ENTROPY_BINS if setup.method == "entropy" else {},
            )
            calibrator.collect_data(ClipReader(calibration, batch_size=setup.batch_size))
            ranges = dict(calibrator.compute_data().data)
        else:
            ranges = dict(reference_ranges)
        if reference is not None:
            ranges = ranges_for(pre, ranges, quantizable_nodes(pre, set(nodes)), strict=reference_ranges is None)
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(TensorsData(method, ranges), cache)
        quantize_static(
            str(pre),
            str(int8_path),
            None,
            quant_format=QuantFormat.QDQ,
            activation_type=setup.activation_type,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=setup.reduce_range,
            nodes_to_quantize=nodes,
            op_types_to_quantize=setup.op_types,
            calibrate_method=method,
            extra_options={"ActivationSymmetric": setup.symmetric},
            calibration_cache_path=cache,
        )
    return int8_path


def _qdq_op_types() -> set[str]:
    """Every op type onnxruntime's quantizers know (``quantize_static``'s own default)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return set(QLinearOpsRegistry) | set(QDQRegistry)


def quantize_by_windows(
    fp32_path: Path,
    int8_path: Path,
    windows: Path,
    calibration: np.ndarray,
    setup: Int8Setup,
    probe: np.ndarray,
    ranges_from: tuple[Path, Path] | None = None,
) -> float:
    """:func:`quantize_int8` of `fp32_path` with the ranges of `windows`, the same network exported window by
    window: calibrated on `calibration`, or `ranges_from`'s (an INT8 file of the same network and the FP32
    file it was quantized from). The INT8 logits of `probe` must then equal those of `windows`' own INT8 file
    (or of `ranges_from`'s): their largest difference is returned, else a ParityError."""
    with tempfile.TemporaryDirectory(prefix="listener-int8-") as tmp:
        ranges = None if ranges_from is None else file_ranges(*ranges_from, windows)
        quantize_int8(fp32_path, int8_path, calibration, setup, reference=windows, reference_ranges=ranges)
        if ranges_from is None:
            same_as = quantize_int8(windows, Path(tmp) / "windows.int8.onnx", calibration, setup)
        else:
            same_as = Path(ranges_from[0])
        return same_int8(int8_path, same_as, probe)


def quantize_model(
    model: torch.nn.Module,
    fp32_path: Path,
    int8_path: Path,
    calibration: np.ndarray,
    spec: ModelSpec,
    accuracy: dict | None = None,
    ranges_from: tuple[Path, Path] | None = None,
    setup: Int8Setup = WINDOW_INT8,
) -> tuple[Path, float | None]:
    """The INT8 file of window classifier `model`'s FP32 export `fp32_path`, with the contract's metadata. A
    model whose backbone runs once over the window's frames (``one_pass``) is exported window by window too,
    whose ranges both its passes take (:func:`quantize_by_windows`, on `calibration`), or `ranges_from`'s; a
    model of one pass takes `ranges_from`'s ranges directly. Returns the largest difference of the check
    :func:`quantize_by_windows` makes; None when nothing was compared (one pass, calibrated)."""
    from listener.export.onnx_export import export_onnx

    one_pass = bool(getattr(model, "one_pass", False))
    passes = None
    if not one_pass and ranges_from is None:
        quantize_int8(fp32_path, int8_path, calibration, setup)
    elif not one_pass:
        fp32_path = Path(fp32_path)
        passes = quantize_by_windows(fp32_path, int8_path, fp32_path, calibration, setup, calibration, ranges_from)
    else:
        with tempfile.TemporaryDirectory(prefix="listener-int8-") as tmp:
            windows = Path(tmp) / "windows.onnx"
            model.one_pass = False
            try:
                export_onnx(model, spec, windows)
            finally:
                model.one_pass = True
            passes = quantize_by_windows(fp32_path, int8_path, windows, calibration, setup, calibration, ranges_from)
    set_metadata(int8_path, spec.model_info("int8", accuracy))
    return int8_path, passes


def same_int8(int8: Path, reference: Path, audio: np.ndarray, tolerance: float = 1e-4) -> float:
    """The largest difference between the logits of INT8 files `int8` and `reference` on `audio`
    ([N, samples]): a ParityError above `tolerance`, which a NaN is too (no INT8 file may compute one)."""
    from listener.export.parity import ParityError

    passes = max_abs(_logits(int8, audio), _logits(reference, audio))
    if not passes <= tolerance:  # NaN included
        raise ParityError(f"{int8}: INT8 logits differ from {Path(reference).name}'s by {passes:.3g}")
    return passes


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    """The largest |a - b|, equal infinities counting as equal (an INT8 graph's log of a probability its
    8 bits round to 0 is -inf)."""
    with np.errstate(invalid="ignore"):
        return float(np.where(a == b, 0.0, np.abs(a - b)).max())


def _logits(path: Path, audio: np.ndarray, batch: int = 64) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [
            session.run([LOGITS], {INPUT: audio[i : i + batch].astype(np.float32)})[0]
            for i in range(0, len(audio), batch)
        ]
    )
