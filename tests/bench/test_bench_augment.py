"""bench.bench_augment: the augmentation's CPU time is measured and written, and bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from bench.bench_augment import main  # noqa: E402


def test_writes_both_configurations(tmp_path: Path, capsys) -> None:
    out = tmp_path / "augment.json"
    assert main(["--rounds", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["ms"]) == {"every_step", "defaults"} and all(ms > 0 for ms in result["ms"].values())
    assert "every_step:" in capsys.readouterr().out


def test_zero_rounds_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--rounds", "0"])
    assert exit_.value.code == 2 and "--rounds must be >= 1" in capsys.readouterr().err
