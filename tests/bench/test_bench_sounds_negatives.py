"""bench.bench_sounds_negatives's command line: bad input is one line and exit 2, before any scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_sounds_negatives import main


def test_levels_above_full_scale_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", str(tmp_path), "--levels", "-20", "3"]) == 2
    assert "--levels are dBFS, at most 0" in capsys.readouterr().err


def test_a_missing_model_or_data_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", str(tmp_path), "--model", str(tmp_path / "none.onnx")]) == 2
    assert "none.onnx" in capsys.readouterr().err
