"""A CTC sequence model as one ONNX file: export, the streaming check, INT8, the contract's metadata.

Graph: ``audio`` [batch, samples] -> front end -> speech embedding -> head -> ``logits``
[batch, frames, n_tokens]; frame f depends only on samples ``[f*H, f*H + R)`` (H = 1280,
R = ``ctc.receptive_field(K)``), which ``check_streaming`` verifies on the file itself.

INT8: onnxruntime static quantization, QDQ, per-channel int8 weights, uint8 activations,
MinMax calibration on real clips, on the backbone's convolutions (most of the compute); the
front end (STFT, mel, log) and the first backbone convolution (``quantize.FP32_CONVS``) stay
FP32, and so does the head unless asked.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from listener.contract import CTC, INPUT, LOGITS, ModelInfo
from listener.export.onnx_export import OPSET
from listener.export.parity import ParityError, session
from listener.export.quantize import FP32_CONVS, ClipReader, backbone_convs, fp32_conv_names, ranges_for
from listener.training.ctc import AudioToLogits, receptive_field
from listener.training.speech_embedding import EMB_HOP, SAMPLE_RATE
from listener.training.tokens import BLANK_LABEL, SYMBOLS, TOKENS


class StreamingError(ParityError):
    """An exported graph's frames depend on audio outside their receptive field."""


def export_ctc_onnx(model: AudioToLogits, path: Path, one_pass: bool = True) -> Path:
    """The FP32 graph, dynamic batch and samples axes (any input of at least one receptive field).
    ``one_pass=False``: the embedder window by window (``speech_embedding.embed_call``), the graph INT8
    calibration reads (:func:`quantize_ctc_int8`'s `reference`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, receptive_field(model.k) + 10 * EMB_HOP)
    with warnings.catch_warnings(), _passes(model, one_pass):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            input_names=[INPUT],
            output_names=[LOGITS],
            dynamic_axes={INPUT: {0: "batch", 1: "samples"}, LOGITS: {0: "batch", 1: "frames"}},
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))
    return path


@contextmanager
def _passes(model: AudioToLogits, one_pass: bool) -> Iterator[None]:
    """The embedder's ``one_pass`` set for the duration (an embedder without one is window by window)."""
    before = getattr(model.embedder, "one_pass", None)
    if before is not None:
        model.embedder.one_pass = one_pass
    try:
        yield
    finally:
        if before is not None:
            model.embedder.one_pass = before


def frames_for(samples: int, k: int) -> int:
    """Output frames for `samples` of audio: the contract's ``(samples - R) // H + 1``."""
    return max(0, (samples - receptive_field(k)) // EMB_HOP + 1)


def check_streaming(path: Path, k: int, seconds: float = 6.0, seed: int = 0, tolerance: float = 1e-3) -> float:
    """Max |logit difference| between frame f of a whole-clip run and a run on only
    ``[f*H, f*H + R)``, for frames across a noisy clip; also checks the frame count. Raises
    StreamingError when a frame hears more than its own samples."""
    sess = session(path)
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal((1, int(seconds * SAMPLE_RATE))) * 0.05).astype(np.float32)
    audio[:, audio.shape[1] // 3 :] *= 1e-4  # loud, then 80 dB quieter: a top-db clip over the whole input shows
    full = sess.run(None, {INPUT: audio})[0][0]
    if full.shape[0] != frames_for(audio.shape[1], k):
        raise StreamingError(
            f"{path}: {full.shape[0]} frames for {audio.shape[1]} samples, expected {frames_for(audio.shape[1], k)}"
        )
    span, worst = receptive_field(k), 0.0
    for f in sorted({*range(0, full.shape[0], max(1, full.shape[0] // 8)), full.shape[0] - 1}):
        part = sess.run(None, {INPUT: audio[:, f * EMB_HOP : f * EMB_HOP + span]})[0][0]
        worst = max(worst, float(np.abs(part[0] - full[f]).max()))
    if worst > tolerance:
        raise StreamingError(f"{path}: frame logits change by {worst:.3g} with audio outside their field")
    return worst


CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


# onnxruntime's entropy defaults (128 bins, 128 quantized bins) leave one candidate range, the full one,
# i.e. MinMax's; a 2048-bin histogram (TensorRT's) gives the KL search ranges to choose from
ENTROPY_BINS = {"num_bins": 2048, "num_quantized_bins": 255}


@dataclass(frozen=True)
class Int8Setup:
    """How a CTC graph's INT8 file is quantized. The defaults make the shipped digits file; the
    variants measured against it are in docs/models/digits.md ("INT8")."""

    head: bool = True  # the head's 3 convolutions too (digits: 2.4x smaller than FP32 instead of 1.6x)
    method: str = "minmax"  # activation ranges from: "minmax", "percentile" (99.999th), "entropy"
    symmetric: bool = False  # int8 activations symmetric around 0 instead of uint8 with a zero point
    reduce_range: bool = False  # 7-bit weights (for CPUs whose int8 dot products can overflow)
    fp32_convs: tuple[int, ...] = FP32_CONVS  # backbone convolutions left in FP32 (the first: it reads the log-mel)

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, not {self.method!r}")


def int8_nodes(path: Path, setup: Int8Setup) -> list[str]:
    """:func:`backbone_convs` less the backbone convolutions `setup` keeps in FP32."""
    keep = set(fp32_conv_names(path, setup.fp32_convs))
    return [n for n in backbone_convs(path, setup.head) if n not in keep]


def calibration_clips(clips: list[np.ndarray], seconds: float = 3.0) -> np.ndarray:
    """Clips cut or zero-padded to one length, [N, samples] (the calibrator reads a batch at a time)."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros((len(clips), n), np.float32)
    for i, c in enumerate(clips):
        out[i, : min(n, len(c))] = c[:n]
    return out


def quantize_ctc_int8(
    fp32: Path, int8: Path, calibration: np.ndarray, setup: Int8Setup | None = None, reference: Path | None = None
) -> Path:
    """QDQ static INT8 (per-channel int8 weights) of the convolutions :func:`int8_nodes` names, with
    activation ranges calibrated on `calibration` ([N, samples] real clips). `reference`: the same network
    exported window by window (``export_ctc_onnx(one_pass=False)``), whose ranges are calibrated instead
    and given to both of `fp32`'s passes (``quantize.pass_pairs``), so the two compute what the reference's
    INT8 file computes: without it, the one-pass convolutions would be calibrated on whole calls,
    digital silence unclipped."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorsData, create_calibrator, save_tensors_data
    from onnxruntime.quantization.shape_inference import quant_pre_process

    setup = setup or Int8Setup()
    if calibration.ndim != 2 or len(calibration) == 0:
        raise ValueError(f"calibration audio must be a non-empty [N, samples] array, got {calibration.shape}")
    method = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[setup.method]
    ops = ["Conv", "MaxPool"]
    int8 = Path(int8)
    with tempfile.TemporaryDirectory(prefix="listener-int8-") as tmp:
        pre, ranges = Path(tmp) / "pre.onnx", Path(tmp) / "ranges.json"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        calibrated = pre
        if reference is not None:
            calibrated = Path(tmp) / "reference.onnx"
            quant_pre_process(str(reference), str(calibrated), skip_symbolic_shape=True)
        # entropy's histogram size cannot be passed through quantize_static: every method calibrates here
        calibrator = create_calibrator(
            calibrated,
            ops,
            str(Path(tmp) / "augmented.onnx"),
            method,
            extra_options=ENTROPY_BINS if setup.method == "entropy" else {},
        )
        calibrator.collect_data(ClipReader(calibration, batch_size=1))
        data = calibrator.compute_data()
        if reference is not None:
            data = TensorsData(data.calibration_method, ranges_for(pre, dict(data.data), int8_nodes(pre, setup)))
        save_tensors_data(data, ranges)
        quantize_static(
            str(pre),
            str(int8),
            None,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8 if setup.symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=setup.reduce_range,
            nodes_to_quantize=int8_nodes(pre, setup),
            op_types_to_quantize=ops,
            calibrate_method=method,
            extra_options={"ActivationSymmetric": setup.symmetric},
            calibration_cache_path=ranges,
        )
    return int8


def ctc_model_info(
    name: str,
    version: str,
    k: int,
    variant: str,
    threshold: float,
    training_data: str = "",
    accuracy: dict | None = None,
    frame_tail_samples: int | None = None,
    frame_context: int = 0,
) -> ModelInfo:
    """The contract's metadata of a digits CTC model (``decoder`` ctc, its frame grid, blank, symbols; ``<other>``
    has no symbol, so it never becomes a detection)."""
    return ModelInfo(
        name=name,
        version=version,
        labels=list(TOKENS),
        sample_rate=SAMPLE_RATE,
        kind="speech",
        threshold=threshold,
        decoder=CTC,
        frame_hop_samples=EMB_HOP,
        frame_samples=receptive_field(k),
        frame_tail_samples=frame_tail_samples,
        frame_context=frame_context,
        blank_label=BLANK_LABEL,
        symbols=dict(SYMBOLS),
        variant=variant,
        training_data=training_data,
        accuracy=accuracy or {},
    )
