"""Carried rows for a digits CTC file: the graph surgery, its check, the runtime reading it, the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from conftest import make_ctc_model  # noqa: E402

from listener.classifier import Classifier  # noqa: E402
from listener.config import PipelineOptions  # noqa: E402
from listener.contract import CONTEXT, EMBEDDINGS  # noqa: E402
from listener.errors import ModelError  # noqa: E402
from listener.export.ctc_export import (  # noqa: E402
    calibration_clips,
    ctc_model_info,
    export_ctc_onnx,
)
from listener.export.frame_context import add_frame_context, check_frame_context, give_context  # noqa: E402
from listener.export.onnx_export import set_metadata  # noqa: E402
from listener.export.quantize import CTC_INT8, quantize_int8  # noqa: E402
from listener.pipeline import build_pipeline  # noqa: E402
from listener.training.ctc import AudioToLogits, WindowHead  # noqa: E402

RATE = 16000
K = 5


def noisy(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * RATE)) * np.repeat(rng.uniform(0.001, 0.3, int(seconds * 4)), RATE // 4)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> tuple[Path, Path]:
    """An FP32 and an INT8 file of an untrained digits graph, with the contract's metadata, no rows carried."""
    torch.manual_seed(0)
    head = WindowHead(k=K, hidden=32, depth=2, dropout=0.0)
    with torch.no_grad():
        for p in head.net.parameters():
            p.mul_(3.0)
    folder = tmp_path_factory.mktemp("context")
    fp32 = export_ctc_onnx(AudioToLogits(head).eval(), folder / "digits.fp32.onnx")
    int8 = quantize_int8(fp32, folder / "digits.onnx", calibration_clips([noisy(3, s) for s in range(4)]), CTC_INT8)
    for path, variant in ((fp32, "fp32"), (int8, "int8")):
        set_metadata(path, ctc_model_info("digits", "0", K, variant, 0.5))
    return fp32, int8


@pytest.mark.parametrize("variant", [0, 1], ids=["fp32", "int8"])
def test_carried_rows_give_the_frames_of_one_whole_call(plain, tmp_path, variant):
    path = Path(shutil.copy(plain[variant], tmp_path / "digits.onnx"))
    rows, worst = give_context(path)
    assert rows == K - 1 and worst < 1e-4
    graph = onnx.load(str(path)).graph
    assert CONTEXT in [i.name for i in graph.input] and EMBEDDINGS in [o.name for o in graph.output]
    c, before = Classifier(path), Classifier(plain[variant])
    assert c.info.frame_context == K - 1 and c.context_rows == K - 1 and before.context_rows == 0
    x = noisy(4, 7)
    assert np.allclose(c.predict(x[None])[0], before.predict(x[None])[0], atol=1e-6)  # no rows: as before

    # a live stream through the runtime: the same frames as the file without carried rows
    def frames(clf: Classifier) -> dict[float, np.ndarray]:
        out = []
        p = build_pipeline(PipelineOptions(gate="energy"), "x", classifier=clf, on_window=out.append)
        for i in range(0, len(x), 960):
            p.feed(x[i : i + 960], None)
        p.finish()
        return {w.stream_s: w.probs for w in out}

    got, want = frames(c), frames(before)
    assert got.keys() == want.keys() and len(got) > 10
    assert max(float(np.abs(got[k] - want[k]).max()) for k in got) < 1e-4


def test_a_file_is_given_context_once_and_only_a_digits_export_is_cut(plain, tmp_path):
    path = Path(shutil.copy(plain[0], tmp_path / "digits.fp32.onnx"))
    give_context(path)
    with pytest.raises(ModelError, match="already has a 'context' input"):
        add_frame_context(path)
    assert check_frame_context(path) < 1e-4
    other = make_ctc_model(tmp_path)  # a ctc model, but not embedder + head
    with pytest.raises(ModelError, match="expected one tensor from the /embedder/ nodes to the /head/ nodes"):
        add_frame_context(other)


def test_the_command_line_names_the_file_and_exits_non_zero(plain, tmp_path):
    good = Path(shutil.copy(plain[1], tmp_path / "digits.onnx"))
    cmd = [sys.executable, "-m", "listener.export.frame_context"]
    done = subprocess.run([*cmd, str(good)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "frame_context 4" in done.stdout, done.stderr
    again = subprocess.run([*cmd, str(good)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "already has a 'context' input" in again.stderr
    assert "Traceback" not in again.stderr
    missing = subprocess.run([*cmd, str(tmp_path / "nope.onnx")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "nope.onnx: no such file" in missing.stderr
