"""Checks that the exported files compute what the trained model computes, and fails loudly.

- torch vs ONNX FP32: max absolute difference of logits and features, on the same windows;
- INT8 vs FP32: accuracy on the validation clips and top-1 agreement, each file run
  through the runtime's own pipeline (``training.evaluate``), as ``listener analyze`` runs it;
- the size of each file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from listener.classifier import CPU, Classifier
from listener.contract import FEATURES, INPUT, LOGITS
from listener.training.corpus import WaveSet
from listener.training.datasets.base import fit_length
from listener.training.evaluate import predictions, run_clips, score
from listener.training.models.exportable import ExportableModel

MAX_INT8_DROP = 0.02  # the parity check's bar: INT8 accuracy at most this far below FP32 (a fraction)


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
    """A CPU session (single-threaded by default: the Raspberry Pi case), errors only in the log: a
    torch export leaves constants the optimizer drops with one warning each, noise in a build's output."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=[CPU])


def runtime_classifier(path: Path, threads: int = 2) -> Classifier:
    """The runtime's classifier on this very file, on the CPU (never swapped for the FP32 variant)."""
    return Classifier(path, threads=threads, providers=[CPU])


def check_parity(
    model: ExportableModel,
    fp32_path: Path,
    int8_path: Path,
    val: WaveSet,
    logits_tol: float = 1e-3,
    features_tol: float = 1e-3,
    max_int8_drop: float = MAX_INT8_DROP,
) -> ParityReport:
    """Measure everything, then raise ParityError if any tolerance is exceeded."""
    fp32, int8 = runtime_classifier(fp32_path), runtime_classifier(int8_path)
    window = fp32.info.window_samples
    model = model.cpu().eval()
    probe = np.stack([fit_length(a, window, mode="energy") for a in val.audio[:64]])  # the loudest second
    with torch.no_grad():
        t_logits, t_feats = model(torch.from_numpy(probe))
    o_logits, o_feats = session(fp32_path, threads=2).run([LOGITS, FEATURES], {INPUT: probe})
    d_logits = float(np.abs(o_logits - t_logits.numpy()).max())
    d_feats = float(np.abs(o_feats - t_feats.numpy()).max())
    y32 = predictions(run_clips(fp32, val.audio), val.label_names)
    y8 = predictions(run_clips(int8, val.audio), val.label_names)
    acc32 = score(val.labels, y32, val.label_names).accuracy
    acc8 = score(val.labels, y8, val.label_names).accuracy
    report = ParityReport(
        max_abs_logits=d_logits,
        max_abs_features=d_feats,
        fp32_accuracy=acc32,
        int8_accuracy=acc8,
        int8_fp32_agreement=float((y32 == y8).mean()),
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
        sess.run(None, {INPUT: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {INPUT: x})
        times.append((time.perf_counter() - t) * 1000.0)
    return float(np.median(times))
