"""Checks that the exported files compute what the trained model computes, and fails loudly.

- torch vs ONNX FP32: max absolute difference of logits and features;
- INT8 vs FP32: accuracy on the validation split and top-1 agreement;
- the size of each file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from listener.training.corpus import WaveSet
from listener.training.evaluate import predict_probs, score
from listener.training.models.exportable import ExportableModel


class ParityError(RuntimeError):
    """An exported file disagrees with the model beyond the tolerance."""


@dataclass
class ParityReport:
    """The numbers the parity check measured (also written to the model card)."""

    max_abs_logits: float
    max_abs_features: float
    fp32_accuracy: float
    int8_accuracy: float
    int8_fp32_agreement: float
    fp32_bytes: int
    int8_bytes: int
    n_clips: int


def session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """A CPU session (single-threaded by default: the Raspberry Pi case)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_predictor(path: Path, threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """``np [B, samples] -> logits`` from an ONNX file, for evaluate.predict_probs."""
    sess = session(path, threads)

    def predict(x: np.ndarray) -> np.ndarray:
        return sess.run(["logits"], {"audio": np.ascontiguousarray(x, dtype=np.float32)})[0]

    return predict


def check_parity(
    model: ExportableModel,
    fp32_path: Path,
    int8_path: Path,
    val: WaveSet,
    logits_tol: float = 1e-3,
    features_tol: float = 1e-3,
    max_int8_drop: float = 0.02,
    window: int = 16000,
    hop: int = 4000,
) -> ParityReport:
    """Measure everything, then raise ParityError if any tolerance is exceeded."""
    model = model.cpu().eval()
    probe = val.audio[: min(64, len(val))]
    if probe.shape[1] > window:
        probe = probe[:, :window]
    probe = np.ascontiguousarray(probe, dtype=np.float32)
    with torch.no_grad():
        t_logits, t_feats = model(torch.from_numpy(probe))
    sess = session(fp32_path, threads=2)
    o_logits, o_feats = sess.run(["logits", "features"], {"audio": probe})
    # features are log-mel: compare where the signal is above the log floor
    d_logits = float(np.abs(o_logits - t_logits.numpy()).max())
    d_feats = float(np.abs(o_feats - t_feats.numpy()).max())
    p32 = predict_probs(ort_predictor(fp32_path, 2), val.audio, window, hop)
    p8 = predict_probs(ort_predictor(int8_path, 2), val.audio, window, hop)
    acc32 = score(val.labels, p32.argmax(1), val.label_names).accuracy
    acc8 = score(val.labels, p8.argmax(1), val.label_names).accuracy
    report = ParityReport(
        max_abs_logits=d_logits,
        max_abs_features=d_feats,
        fp32_accuracy=acc32,
        int8_accuracy=acc8,
        int8_fp32_agreement=float((p32.argmax(1) == p8.argmax(1)).mean()),
        fp32_bytes=Path(fp32_path).stat().st_size,
        int8_bytes=Path(int8_path).stat().st_size,
        n_clips=len(val),
    )
    problems = []
    if d_logits > logits_tol:
        problems.append(f"torch vs ONNX FP32 logits differ by {d_logits:.2e} (> {logits_tol:.0e})")
    if d_feats > features_tol:
        problems.append(f"torch vs ONNX FP32 features differ by {d_feats:.2e} (> {features_tol:.0e})")
    if acc8 < acc32 - max_int8_drop:
        problems.append(f"INT8 accuracy {acc8:.4f} is more than {max_int8_drop:.2f} below FP32 {acc32:.4f}")
    if problems:
        raise ParityError("parity check failed: " + "; ".join(problems))
    return report


def measure_latency(path: Path, samples: int = 16000, runs: int = 100, threads: int = 1) -> float:
    """Median milliseconds for one window (batch 1) on this CPU."""
    sess = session(path, threads)
    x = (np.random.default_rng(0).standard_normal((1, samples)) * 0.05).astype(np.float32)
    for _ in range(5):
        sess.run(None, {"audio": x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"audio": x})
        times.append((time.perf_counter() - t) * 1000.0)
    return float(np.median(times))
