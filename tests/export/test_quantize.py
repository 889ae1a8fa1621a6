"""INT8 ranges carried from one file or graph to another (``export.quantize``), on the shipped sounds pair."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from listener.export.build_defaults import NotASoundsFile, file_sounds_model
from listener.export.onnx_export import export_onnx, frontend_nodes, load_onnx_weights
from listener.export.parity import ParityError
from listener.export.quantize import (
    CTC_INT8,
    WINDOW_INT8,
    Int8Setup,
    _logits,
    _range_of,
    backbone_convs,
    file_ranges,
    fp32_conv_names,
    int8_nodes,
    max_abs,
    quantize_model,
    same_int8,
)

ROOT = Path(__file__).resolve().parents[2]
SOUNDS_FP32, SOUNDS_INT8 = ROOT / "assets" / "sounds.fp32.onnx", ROOT / "assets" / "sounds.onnx"


def _windows(every: int = 1, hop: int = 8000) -> np.ndarray:
    """Every `every`-th 1 s window (`hop` samples apart) of the bundled sounds sample, the second one half
    digital silence (the per-window clip's case)."""
    audio, _ = sf.read(ROOT / "assets" / "samples" / "sounds.wav", dtype="float32")
    out = np.stack([audio[i : i + 16000] for i in range(0, len(audio) - 16000, hop)][::every])
    out[1, :8000] = 0.0
    return out


@pytest.fixture(scope="module")
def shipped() -> tuple:
    model, spec = file_sounds_model(SOUNDS_FP32)
    return model, spec


@pytest.mark.parametrize("one_pass", [False, True])
def test_reexport_with_the_shipped_int8_ranges_gives_the_shipped_numbers(tmp_path: Path, shipped, one_pass) -> None:
    """``build_defaults --reexport assets/sounds.fp32.onnx``'s export step: the shipped weights in the
    current graph (window by window, or the embedding once over the window's frames) and the shipped INT8
    file's own ranges compute what the shipped files compute, on windows neither saw."""
    model, spec = shipped
    model.one_pass = one_pass
    try:
        fp32, int8 = tmp_path / "s.fp32.onnx", tmp_path / "s.onnx"
        export_onnx(model, spec, fp32)
        calibration = _windows(3)
        _, passes = quantize_model(model, fp32, int8, calibration, spec, ranges_from=(SOUNDS_INT8, SOUNDS_FP32))
    finally:
        model.one_pass = False
    assert passes is not None and passes <= 1e-4
    fresh = _windows(1, hop=5000)
    assert max_abs(_logits(fp32, fresh), _logits(SOUNDS_FP32, fresh)) <= 1e-4
    assert max_abs(_logits(int8, fresh), _logits(SOUNDS_INT8, fresh)) <= 1e-4
    twice = len(backbone_convs(fp32)) == 2 * len(backbone_convs(SOUNDS_FP32))  # one pass: frames, then clipped windows
    assert twice == one_pass


def test_a_one_pass_model_calibrated_again_matches_its_window_by_window_int8(tmp_path: Path, shipped) -> None:
    model, spec = shipped
    model.one_pass = True
    try:
        fp32 = export_onnx(model, spec, tmp_path / "s.fp32.onnx")
        _, passes = quantize_model(model, fp32, tmp_path / "s.onnx", _windows(2), spec)
    finally:
        model.one_pass = False
    assert passes is not None and passes <= 1e-4 and model.one_pass is False


def test_range_of_gives_back_the_scale_and_zero_point_onnxruntime_computed() -> None:
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType

    qmin, qmax = get_qmin_qmax_for_qType(TensorProto.INT8)
    rng = np.random.default_rng(0)
    for _ in range(200):
        low, high = np.float32(-rng.uniform(0, 30)), np.float32(rng.uniform(1e-3, 50))
        zero, scale = compute_scale_zp(np.array(low), np.array(high), qmin, qmax)
        back_low, back_high = _range_of(scale, int(zero))
        back_zero, back_scale = compute_scale_zp(np.array(back_low), np.array(back_high), qmin, qmax)
        assert back_scale == scale and int(back_zero) == int(zero)


def test_file_ranges_refuses_a_graph_of_other_ops(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="their ops differ"):
        file_ranges(SOUNDS_INT8, SOUNDS_FP32, ROOT / "assets" / "digits.fp32.onnx")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, as export_onnx uses
def test_load_onnx_weights_says_what_does_not_fit_and_loads_nothing(tmp_path: Path) -> None:
    module = torch.nn.Linear(3, 2)
    x = torch.zeros(1, 3)
    torch.onnx.export(module, (x,), str(tmp_path / "lin.onnx"), dynamo=False)
    other = torch.nn.Linear(3, 2)
    assert load_onnx_weights(other, tmp_path / "lin.onnx") == []
    assert torch.equal(other.weight, module.weight)
    wide = torch.nn.Linear(4, 2)
    before = wide.weight.detach().clone()
    assert load_onnx_weights(wide, tmp_path / "lin.onnx") == ["weight has another shape"]
    assert torch.equal(wide.weight, before)
    assert load_onnx_weights(torch.nn.Bilinear(3, 3, 2), tmp_path / "lin.onnx")[0] == "weight has another shape"
    (tmp_path / "x.onnx").write_text("not a model")
    with pytest.raises(ValueError, match="not an ONNX file"):
        load_onnx_weights(other, tmp_path / "x.onnx")


def test_max_abs_counts_equal_infinities_as_equal() -> None:
    a = np.array([[-np.inf, 1.0, 2.0]], dtype=np.float32)
    assert max_abs(a, a.copy()) == 0.0
    assert max_abs(a, np.array([[-np.inf, 1.5, 2.0]], dtype=np.float32)) == 0.5
    assert max_abs(a, np.array([[0.0, 1.0, 2.0]], dtype=np.float32)) == np.inf


def _sqrt_model(path: Path) -> Path:
    """A graph whose logits are the square root of the audio: NaN for a negative sample."""
    import onnx
    from onnx import TensorProto, helper

    from listener.contract import INPUT, LOGITS

    graph = helper.make_graph(
        [helper.make_node("Sqrt", [INPUT], [LOGITS])],
        "sqrt",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", "samples"])],
        [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", "samples"])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_same_int8_passes_equal_files_and_stops_different_ones_and_nan(tmp_path: Path) -> None:
    windows = _windows(every=8)
    assert same_int8(SOUNDS_INT8, SOUNDS_INT8, windows) == 0.0
    with pytest.raises(ParityError, match="sounds.fp32.onnx"):
        same_int8(SOUNDS_INT8, SOUNDS_FP32, windows)  # FP32 is not INT8's numbers
    nan = _sqrt_model(tmp_path / "sqrt.onnx")
    audio = np.abs(windows[:2])
    assert same_int8(nan, nan, audio) == 0.0
    audio[0, 100] = -1.0  # one NaN logit, the same in both files: still an error
    with pytest.raises(ParityError):
        same_int8(nan, nan, audio)


def test_a_digits_file_is_not_a_sounds_file(tmp_path: Path) -> None:
    with pytest.raises(NotASoundsFile, match="is not a sounds file of this recipe"):
        file_sounds_model(ROOT / "assets" / "digits.fp32.onnx")
    cmd = [sys.executable, "-m", "listener.export.build_defaults", "--only", "sounds", "--data", str(tmp_path)]
    run = subprocess.run(
        [*cmd, "--reexport", str(ROOT / "assets" / "digits.fp32.onnx"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1 and "is not a sounds file of this recipe" in err[0], run.stderr


def test_one_record_says_what_each_model_quantizes(tmp_path: Path, shipped) -> None:
    """``WINDOW_INT8`` quantizes every node of a window classifier's network (its heads' Gemm too),
    ``CTC_INT8`` only the convolutions; neither touches the front end or the first backbone convolution."""
    import onnx
    from onnxruntime.quantization import QuantType

    model, spec = shipped
    fp32 = export_onnx(model, spec, tmp_path / "s.fp32.onnx")
    op = {n.name: n.op_type for n in onnx.load(str(fp32)).graph.node}
    window, convs = int8_nodes(fp32, WINDOW_INT8), int8_nodes(fp32, CTC_INT8)
    assert "Gemm" in {op[n] for n in window} and {op[n] for n in convs} == {"Conv"}
    assert set(convs) < set(window)
    assert not set(window) & (set(frontend_nodes(fp32)) | set(fp32_conv_names(fp32)))
    assert WINDOW_INT8.activation_type == QuantType.QInt8 and CTC_INT8.activation_type == QuantType.QUInt8
    assert replace(CTC_INT8, symmetric=True).activation_type == QuantType.QInt8  # symmetric means int8
    with pytest.raises(ValueError, match="activations must be"):
        Int8Setup(activations="int4")


def test_a_setup_that_leaves_nothing_to_quantize_is_an_error_not_a_whole_graph_in_int8(tmp_path: Path, shipped) -> None:
    """onnxruntime reads an empty node list as "every node", the front end included: refused instead."""
    from listener.export.quantize import quantize_int8

    model, spec = shipped
    fp32 = export_onnx(model, spec, tmp_path / "s.fp32.onnx")
    with pytest.raises(ValueError, match="no node to quantize"):
        quantize_int8(fp32, tmp_path / "s.onnx", _windows(3), replace(WINDOW_INT8, fp32_scopes=("/net/",)))
    assert not (tmp_path / "s.onnx").exists()
