"""bench.bench_window_cpu: ONNX Runtime's per-operator profile of a window model (--ops)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_test_model

from bench.bench_window_cpu import main, op_times


def test_op_times_are_ms_per_window_by_operator_largest_first(tmp_path: Path) -> None:
    model = make_test_model(tmp_path)
    ops = op_times(model, runs=20)
    assert ops and all(ms >= 0 for ms in ops.values())
    assert list(ops.values()) == sorted(ops.values(), reverse=True)
    assert not list(tmp_path.glob("*.json"))  # the trace file is ONNX Runtime's, removed after reading


def test_a_missing_model_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path / "none.onnx")]) == 2
    assert "none.onnx" in capsys.readouterr().err
