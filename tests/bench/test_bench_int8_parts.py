"""bench.bench_int8_parts: every INT8 variant of a checkpoint scored on its validation fold, and bad input."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from bench.bench_int8_parts import main, parts
from tests.fakes import make_esc50


def test_each_variant_is_scored_and_one_with_nothing_to_quantize_is_skipped(tmp_path: Path) -> None:
    from listener.training.datasets.load import load_data
    from listener.training.frontend import SOUNDS_FRONTEND
    from listener.training.models.registry import ModelSpec, build_model
    from listener.training.train import save_checkpoint

    data = f"esc50:{make_esc50(tmp_path / 'esc')}"
    labels = sorted({c.label for c in load_data(data)})
    spec = ModelSpec(
        name="t",
        kind="sound",
        labels=labels,
        frontend=asdict(SOUNDS_FRONTEND),
        arch_config={"channels": 8, "blocks": 1},
        data_split={"val_fraction": 0.15, "fold": 4},
    )
    save_checkpoint(build_model(spec), spec, tmp_path / "best.pt")
    got = parts(tmp_path / "best.pt", data, calibration_clips=8)
    assert got["validation_clips"] == len(labels)  # fold 4 validates: one clip of each class
    for name in ("export", "calibration_random", "calibration_all", "convolutions_only"):
        assert 0.0 <= got[name]["accuracy"] <= 1.0 and 0.0 <= got[name]["agreement"] <= 1.0
        assert got[name]["bytes"] > 0
    # a DS-CNN is all backbone: keeping it FP32 leaves nothing to quantize, which is said, not written
    assert "no node to quantize" in got["backbone_fp32"]["skipped"]


def test_a_missing_checkpoint_is_one_line_and_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "x.json"
    assert main([str(tmp_path / "none.pt"), "--data", f"esc10:{tmp_path}", "--out", str(out)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not out.exists()
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    assert main([str(tmp_path / "junk.pt"), "--data", f"esc10:{tmp_path}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
