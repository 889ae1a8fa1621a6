"""A CTC sequence model as one ONNX file: export, the streaming check, INT8, the contract's metadata.

Graph: ``audio`` [batch, samples] -> front end -> speech embedding -> head -> ``logits``
[batch, frames, n_tokens]; frame f depends only on samples ``[f*H, f*H + R)`` (H = 1280,
R = ``ctc.receptive_field(K)``), which ``check_streaming`` verifies on the file itself.

INT8: ``quantize.quantize_int8`` with ``quantize.CTC_INT8`` (QDQ, per-channel int8 weights, uint8
activations, MinMax calibration on real clips shaped by :func:`calibration_clips`, on the
convolutions: most of the compute); the front end (STFT, mel, log) and the first backbone
convolution (``quantize.FP32_CONVS``) stay FP32.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import torch

from listener.contract import CTC, INPUT, LOGITS, ModelInfo
from listener.export.onnx_export import OPSET
from listener.export.parity import ParityError, session
from listener.training.ctc import AudioToLogits, receptive_field
from listener.training.speech_embedding import EMB_HOP, SAMPLE_RATE
from listener.training.tokens import BLANK_LABEL, SYMBOLS, TOKENS


class StreamingError(ParityError):
    """An exported graph's frames depend on audio outside their receptive field."""


def export_ctc_onnx(model: AudioToLogits, path: Path, one_pass: bool = True) -> Path:
    """The FP32 graph, dynamic batch and samples axes (any input of at least one receptive field).
    ``one_pass=False``: the embedder window by window (``speech_embedding.embed_call``), the graph INT8
    calibration reads (``quantize.quantize_int8``'s `reference`)."""
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


def calibration_clips(clips: list[np.ndarray], seconds: float = 3.0) -> np.ndarray:
    """Clips cut or zero-padded to one length, [N, samples] (the calibrator reads a batch at a time)."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros((len(clips), n), np.float32)
    for i, c in enumerate(clips):
        out[i, : min(n, len(c))] = c[:n]
    return out


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
    zero_fill_db: float | None = None,
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
        zero_fill_db=zero_fill_db,
        blank_label=BLANK_LABEL,
        symbols=dict(SYMBOLS),
        variant=variant,
        training_data=training_data,
        accuracy=accuracy or {},
    )
