"""bench.bench_sounds_cv: the recipe's CV on a generated ESC-10 tree, with the absolute-level copies and
each test fold scored at fixed levels; bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bench_sounds_cv import main
from tests.export.test_build_defaults import esc_tree


def test_cv_scores_each_fold_at_fixed_levels_with_absolute_level_copies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    data = esc_tree(tmp_path / "data")
    out = tmp_path / "cv.jsonl"
    args = ["--data", str(data), "--quick", "--folds", "1", "--epochs", "5", "--copy-levels", "-40", "-10"]
    args.append("--negative-levels")
    assert main([*args, "--levels", "-30", "-10", "--out", str(out)]) == 0
    rec = json.loads(out.read_text().splitlines()[-1])
    assert rec["copy_levels"] == [-40.0, -10.0] and rec["negative_levels"] is True
    assert list(rec["mean_accuracy_at_levels"]) == ["-30", "-10"]
    fold = rec["folds"]["fold1"]
    assert rec["mean_accuracy_at_levels"]["-30"] == fold["accuracy_at_-30dB"]
    assert all(0.0 <= v <= 1.0 for v in rec["mean_accuracy_at_levels"].values())


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--copy-levels", "-6", "-45"], "LOW <= HIGH <= 0"),
        (["--levels", "-20", "2"], "--levels are dBFS"),
        (["--negative-levels"], "--negative-levels needs --copy-levels"),
    ],
)
def test_bad_levels_are_one_line_and_exit_2(bad: list[str], message: str, tmp_path: Path, capsys) -> None:
    assert main(["--data", str(tmp_path), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
