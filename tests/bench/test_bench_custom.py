"""bench.bench_custom: the held-out speakers it scores, and bad input as one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.bench_custom import held_out, main
from tests.fakes import make_esc50


def test_only_validation_and_test_speakers_are_scored(tmp_path: Path) -> None:
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for speaker in ("george", "yweweler", "nicolas"):
        for digit in (1, 2):
            sf.write(rec / f"{digit}_{speaker}_0.wav", np.zeros(4000, np.float32), 8000)
    got = held_out(f"fsdd:{tmp_path / 'fsdd'}", ["one", "two"])
    assert {split: sorted(by) for split, by in got.items()} == {"validation": ["yweweler"], "test": ["nicolas"]}
    assert sorted(c.label for c in got["test"]["nicolas"]) == ["one", "two"]


def test_fold_data_scores_the_fold_that_validated(tmp_path: Path) -> None:
    data = f"esc50:{make_esc50(tmp_path / 'esc')}"
    got = held_out(data, ["dog bark", "rooster"], fold=4)
    assert list(got) == ["validation"] and list(got["validation"]) == ["fold 4"]
    assert sorted(c.label for c in got["validation"]["fold 4"]) == ["dog bark", "rooster"]
    assert {c.fold for c in got["validation"]["fold 4"]} == {4}


def test_missing_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", f"fsdd:{tmp_path / 'none'}", "--out", str(tmp_path / "x.json")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
