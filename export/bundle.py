"""Produces the shipped pair for one model: ``<base>.fp32.onnx`` and ``<base>.onnx`` (INT8).

Export, quantize, then the parity check; nothing is left in place if parity fails or Ctrl-C
stops it (the files are written under temporary names and moved at the end: ``staged_pair``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from listener.classifier import Classifier
from listener.contract import ModelInfo
from listener.errors import ModelError
from listener.export.onnx_export import export_onnx
from listener.export.parity import MAX_INT8_DROP, ParityReport, check_parity, measure_latency, runtime_classifier
from listener.export.quantize import quantize_model
from listener.training.corpus import WaveSet
from listener.training.models.exportable import ExportableModel
from listener.training.models.registry import ModelSpec


@dataclass
class Bundle:
    """Paths of the written files and what the parity check measured."""

    int8_path: Path
    fp32_path: Path
    parity: ParityReport
    int8_latency_ms: float
    fp32_latency_ms: float
    int8_passes_max_abs: float | None = None  # quantize_model's check (None: nothing compared)


def pair_paths(out_base: Path) -> tuple[Path, Path]:
    """``<base>.fp32.onnx`` and ``<base>.onnx``: where a model's FP32 and INT8 files go."""
    out_base = Path(out_base)
    return out_base.with_name(out_base.name + ".fp32.onnx"), out_base.with_name(out_base.name + ".onnx")


@dataclass
class Staging:
    """The temporary pair a block writes (it unpacks as ``fp32, int8``) and the base it moves to at the
    end: ``dest``, which the block may point elsewhere (a rebuild that keeps the pair it found)."""

    fp32: Path
    int8: Path
    dest: Path

    def __iter__(self) -> Iterator[Path]:
        return iter((self.fp32, self.int8))


@contextmanager
def staged_pair(out_base: Path) -> Iterator[Staging]:
    """Temporary FP32 and INT8 paths beside ``out_base`` for the block to write and check; they become
    :func:`pair_paths` of ``dest`` (``out_base`` unless the block changed it) when it ends without an
    exception, and are removed in any case, so a failed check or a Ctrl-C leaves the pair that was there
    (a rebuild writes into assets/ by default)."""
    out_base = Path(out_base)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    tmp32 = out_base.with_name(f".{out_base.name}.{os.getpid()}.fp32.onnx")
    tmp8 = out_base.with_name(f".{out_base.name}.{os.getpid()}.int8.onnx")
    staging = Staging(tmp32, tmp8, out_base)
    try:
        yield staging
        _move(staging, staging.dest)
    finally:
        for p in (tmp32, tmp8):
            p.unlink(missing_ok=True)


def rebuilt_base(runs: Path, name: str) -> Path:
    """Where a build puts a new pair that it did not put in place of a better one: ``runs/<name>/rebuilt/<name>``."""
    return Path(runs) / name / "rebuilt" / name


@dataclass
class Comparison:
    """The pair a build found where its own would go, scored alike with the new one on figures that neither
    trained on: the build keeps the pair it found when the new one is worse on any of them (``worse``)."""

    previous: str  # the INT8 file that was there
    scores: dict[str, dict] = field(default_factory=dict)  # "new" / "previous" -> figure -> value
    worse: list[str] = field(default_factory=list)  # each figure where the new file is worse, in words
    note: str = ""  # why nothing was compared (no pair there, another kind of model, unreadable)

    @property
    def keeps_previous(self) -> bool:
        return bool(self.worse)


def open_previous(
    previous: Path, threads: int, mismatch: Callable[[ModelInfo], str | None]
) -> tuple[Comparison, Classifier | None]:
    """The comparison a build fills and the INT8 file it found at ``previous``, loaded as the runtime loads
    it; no file (with the note saying why) when there is none, it does not load, or ``mismatch`` says it
    is another kind of model."""
    found = Comparison(str(previous))
    if not previous.is_file():
        found.note = "no pair there"
        return found, None
    try:
        old = runtime_classifier(previous, threads)
    except ModelError as exc:
        found.note = f"unreadable ({exc})"
        return found, None
    found.note = mismatch(old.info) or ""
    return found, None if found.note else old


def worse_figures(
    new: Mapping[str, float], previous: Mapping[str, float], higher_is_better: Callable[[str], bool]
) -> list[str]:
    """Each figure both hold where ``new`` does worse, as ``"esc10_false_per_minute 1.05 against 0.6"``;
    a tie is not worse."""
    out = []
    for key, a in new.items():
        b = previous.get(key)
        if a is None or b is None:
            continue
        if (a < b) if higher_is_better(key) else (a > b):
            out.append(f"{key} {a:g} against {b:g}")
    return out


def comparison_line(name: str, c: Comparison, out: Path, rebuilt: Path, kept: bool) -> str:
    """The build's log line on what it did with the pair it found in ``out``."""
    if c.note:
        return f"{name}: nothing compared in {out} ({c.note}); the new pair is there"
    if not c.worse:
        n = len(c.scores.get("new", {}))
        return f"{name}: replaced the pair in {out}: the new one is no worse on its {n} held-out figure(s)"
    worse = "; ".join(c.worse)
    if kept:
        fp32, int8 = pair_paths(rebuilt)
        return (
            f"{name}: KEPT the pair in {out}: the new one does worse on the held-out figures: {worse}. "
            f"The new pair is {int8} (INT8) and {fp32}; --replace puts it in {out} anyway"
        )
    return f"{name}: replaced the pair in {out} (--replace), though the pair that was there did better: {worse}"


def _move(pair: Iterable[Path], dest: Path) -> None:
    """An FP32 and an INT8 file to :func:`pair_paths` of ``dest`` (a rename, or a copy to another file system)."""
    for src, to in zip(pair, pair_paths(dest)):
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, to)


def move_pair(base: Path, dest: Path) -> None:
    """The pair at ``base`` to ``dest``."""
    _move(pair_paths(base), dest)


def export_bundle(
    model: ExportableModel,
    spec: ModelSpec,
    out_base: Path,
    calibration: np.ndarray,
    val: WaveSet,
    accuracy: dict | None = None,
    max_int8_drop: float = MAX_INT8_DROP,
) -> Bundle:
    """Export FP32 + INT8 for ``model`` to ``out_base``.{fp32.onnx, onnx} and check parity."""
    with staged_pair(out_base) as (tmp32, tmp8):
        export_onnx(model, spec, tmp32, accuracy)
        _, passes = quantize_model(model, tmp32, tmp8, calibration, spec, accuracy)
        parity = check_parity(model, tmp32, tmp8, val, max_int8_drop=max_int8_drop)
        lat8 = measure_latency(tmp8, spec.window_samples)
        lat32 = measure_latency(tmp32, spec.window_samples)
    fp32, int8 = pair_paths(out_base)
    return Bundle(int8, fp32, parity, lat8, lat32, passes)
