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


def test_draws_below_one_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", str(tmp_path), "--draws", "0"]) == 2
    assert "--draws must be >= 1" in capsys.readouterr().err


def test_draw_zero_is_the_headline_and_each_other_draw_plays_the_pool_at_its_own_seed() -> None:
    from types import SimpleNamespace

    import numpy as np

    from bench.bench_sounds_negatives import DRAW_STRIDE, SEEDS, draws, logged
    from listener.classifier import CPU, Classifier

    root = Path(__file__).resolve().parents[2]
    clf = Classifier(root / "assets" / "sounds.onnx", threads=1, providers=[CPU])
    rng = np.random.default_rng(0)
    t = np.arange(24000) / 16000
    clips = [(0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), (0.1 * rng.standard_normal(24000)).astype("f4")]
    got = draws(clf, SimpleNamespace(clips=clips), 0.25, 3)
    second = float(np.mean([bool(d) for d in logged(clf, clips, SEEDS["heldout"] + 2 * DRAW_STRIDE)]))
    assert got["n"] == 3 and got["false_alarm"][0] == 0.25 and got["false_alarm"][2] == second
    assert got["min"] <= got["mean"] <= got["max"] and got["mean"] == pytest.approx(np.mean(got["false_alarm"]))
