"""The model: an ONNX Runtime session plus everything its metadata says about it.

Nothing about a model is hard-coded here: labels, rate, window length, kind,
suggested gate/threshold/hop all come from ``metadata_props``, read by the
contract (:mod:`listener.contract`, docs/architecture.md "The model contract").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .contract import CONTEXT, EMBEDDINGS, FEATURES, INPUT, LOGITS, PROBS, ModelInfo, score_output
from .errors import ModelError

__all__ = [
    "Classifier",
    "ClassifierOptions",
    "ModelInfo",
    "resolve_model",
    "sample_clip",
    "assets_dir",
    "choose_provider",
    "fp32_variant",
]

BUILTIN_MODELS = ("digits", "sounds")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(kw_only=True)
class ClassifierOptions:
    """Which model runs and how (``--model``, ``--threads``, ``--batch``; the config file's names).

    Attributes:
        model: a built-in model (``BUILTIN_MODELS``) or a path to a ``.onnx`` file.
        threads: ONNX Runtime threads; None: ONNX Runtime's choice (1 is right for a Raspberry Pi).
        batch_size: windows per model call; None: one at a time (what listening wants; ``listener
            analyze`` takes its own default, ``ANALYZE_BATCH``).
        providers: ONNX Runtime execution providers; None: CUDA with the FP32 file when there is
            CUDA, else the CPU (``choose_provider``). Not a flag.
    """

    model: str = BUILTIN_MODELS[0]
    threads: int | None = None
    batch_size: int | None = None
    providers: list[str] | None = None


def assets_dir() -> Path:
    """Where the shipped models live (the package ``listener.assets``)."""
    return Path(str(resources.files("listener.assets")))


def sample_clip(model: ModelInfo | str) -> Path | None:
    """The bundled sample clip for a model name (digits.wav / sounds.wav), if any."""
    name = model.name if isinstance(model, ModelInfo) else str(model)
    kind = model.kind if isinstance(model, ModelInfo) else ""
    samples = assets_dir() / "samples"
    for candidate in (f"{name}.wav", "sounds.wav" if kind == "sound" else "digits.wav"):
        if (samples / candidate).is_file():
            return samples / candidate
    return None


def resolve_model(spec: str | os.PathLike) -> Path:
    """``digits`` / ``sounds`` -> the shipped INT8 file; anything else is a path to an .onnx file."""
    text = str(spec)
    if text in BUILTIN_MODELS:
        path = assets_dir() / f"{text}.onnx"
        if not path.is_file():
            raise ModelError(f"the built-in model '{text}' is not installed (expected {path})")
        return path
    path = Path(text)
    if not path.exists():
        hint = (
            f" (built-in models: {', '.join(BUILTIN_MODELS)})"
            if os.sep not in text and not text.endswith(".onnx")
            else ""
        )
        raise ModelError(f"model '{text}' not found{hint}")
    if not path.is_file():
        raise ModelError(f"model '{text}' is not a file")
    return path


def fp32_variant(path: Path) -> Path | None:
    """``x.onnx`` -> ``x.fp32.onnx`` when that file exists (the CUDA variant)."""
    if path.name.endswith(".fp32.onnx"):
        return path
    candidate = path.with_name(path.name[: -len(".onnx")] + ".fp32.onnx") if path.name.endswith(".onnx") else None
    return candidate if candidate is not None and candidate.is_file() else None


def choose_provider(available: Sequence[str], path: Path) -> tuple[list[str], Path]:
    """CUDA with the FP32 file when the CUDA provider is there, else CPU with the file as given."""
    if CUDA in available:
        return [CUDA, CPU], fp32_variant(path) or path
    return [CPU], path


class Classifier:
    """An ONNX Runtime session for a contract-conforming model."""

    def __init__(
        self,
        path: str | os.PathLike,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        spin: bool = False,
    ) -> None:
        """``spin``: let idle ONNX Runtime threads busy-wait for the next call (a little
        faster for back-to-back batches in ``analyze``; wasted CPU when listening)."""
        import onnxruntime as ort

        path = Path(path)
        if providers is None:
            providers, path = choose_provider(ort.get_available_providers(), path)
        self.path = path
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads is not None:
            if threads < 1:
                raise ModelError(f"--threads must be >= 1, not {threads}")
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=list(providers))
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load model '{path}': {first[:300]}") from None
        self.provider = self.session.get_providers()[0]
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.info = ModelInfo.from_metadata(meta, str(path))
        self._check_io()

    @classmethod
    def from_options(cls, options: ClassifierOptions, spin: bool = False) -> Classifier:
        """The model ``options`` name, with their threads and providers."""
        return cls(resolve_model(options.model), threads=options.threads, providers=options.providers, spin=spin)

    def _check_io(self) -> None:
        where = f"model '{self.path}'"
        info = self.info
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        self.context_rows = int(info.frame_context or 0)
        wanted = [INPUT, CONTEXT] if self.context_rows else [INPUT]
        if sorted(inputs) != sorted(wanted):
            if CONTEXT in inputs or self.context_rows:
                raise ModelError(
                    f"{where} must have inputs {' and '.join(repr(x) for x in wanted)} (its 'frame_context' is "
                    f"{self.context_rows}), not {', '.join(repr(x) for x in inputs)}"
                )
            if len(inputs) != 1:
                raise ModelError(f"{where} must have one input of shape [batch, samples]")
        self.input_name = INPUT if INPUT in inputs else next(iter(inputs))
        if len(inputs[self.input_name].shape) != 2:
            raise ModelError(f"{where} must have one input of shape [batch, samples]")
        samples = inputs[self.input_name].shape[1]
        if self.context_rows:
            width = inputs[CONTEXT].shape[-1] if len(inputs[CONTEXT].shape) == 3 else None
            if EMBEDDINGS not in outputs or not isinstance(width, int):
                raise ModelError(
                    f"{where} has 'frame_context' but no '{EMBEDDINGS}' output or no fixed '{CONTEXT}' width"
                )
            self._no_rows = np.zeros((1, 0, width), np.float32)
        if info.is_ctc and isinstance(samples, int):
            raise ModelError(
                f"{where} is a ctc model but takes a fixed {samples} samples (its samples axis must be dynamic)"
            )
        if isinstance(samples, int) and samples != info.window_samples:
            raise ModelError(f"{where} takes {samples} samples but its metadata says {info.window_samples}")
        scores = score_output(outputs)
        if scores is None:
            raise ModelError(f"{where} has no output named '{LOGITS}' or '{PROBS}'")
        self.output_name, self.softmax = scores
        self.has_features = FEATURES in outputs
        self._outputs = [self.output_name] + ([FEATURES] if self.has_features else [])
        # A ctc model gets two frames' worth: its frame count must follow from frame_hop_samples.
        test_samples = info.window_samples + (info.frame_hop_samples if info.is_ctc else 0)
        try:
            probs, _ = self.predict(np.zeros((1, test_samples), np.float32))
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{where} fails on a test input: {str(exc).splitlines()[0][:300]}") from None
        n = len(info.labels)
        if probs.shape[-1] != n:
            raise ModelError(f"{where} gives {probs.shape[-1]} scores but has {n} labels")
        expected = (1, 2, n) if info.is_ctc else (1, n)
        if probs.shape != expected:
            what = "[batch, frames, n_labels]" if info.is_ctc else "[batch, n_labels]"
            raise ModelError(
                f"{where} gives scores of shape {list(probs.shape)} for {test_samples} samples, not {list(expected)} "
                f"({what}" + (": check frame_hop_samples and frame_samples)" if info.is_ctc else ")")
            )
        if self.context_rows:  # the same two frames from carried rows and the audio after them
            skip, width = self.context_rows * info.frame_hop_samples, self._no_rows.shape[2]
            try:
                probs, rows = self.predict_frames(
                    np.zeros((1, test_samples - skip), np.float32), np.zeros((1, self.context_rows, width), np.float32)
                )
            except Exception as exc:
                first = str(exc).splitlines()[0][:300]
                raise ModelError(f"{where} fails on a call with '{CONTEXT}': {first}") from None
            if probs.shape != expected or rows.shape[:2] != (1, 2):
                raise ModelError(
                    f"{where} gives {list(probs.shape)} scores and {list(rows.shape)} '{EMBEDDINGS}' for "
                    f"{test_samples - skip} samples after {self.context_rows} carried rows, not {list(expected)} and "
                    f"[1, 2, {width}]: check frame_context"
                )

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``[B, samples]`` float32 -> (probabilities ``[B, n_labels]``, or ``[B, frames, n_labels]``
        for a ctc model; features or None)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None, :]
        feed = {self.input_name: batch}
        if self.context_rows:
            feed[CONTEXT] = np.zeros((len(batch), 0, self._no_rows.shape[2]), np.float32)
        outs = self.session.run(self._outputs, feed)
        return self._scores(outs[0]), (outs[1] if self.has_features else None)

    def predict_frames(self, samples: np.ndarray, context: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """A ``frame_context`` model's call on one chunk: ``samples`` [1, n] and the rows carried in
        (None: none) -> (probabilities ``[1, frames, n_labels]``, the ``embeddings`` rows it computed)."""
        feed = {
            self.input_name: np.ascontiguousarray(samples, dtype=np.float32),
            CONTEXT: self._no_rows if context is None else context,
        }
        scores, rows = self.session.run([self.output_name, EMBEDDINGS], feed)
        return self._scores(scores), rows

    def _scores(self, out: np.ndarray) -> np.ndarray:
        scores = np.asarray(out, dtype=np.float32)
        if self.softmax:
            scores = scores - scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
        return scores
