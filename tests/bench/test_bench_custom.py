"""bench.bench_custom: the held-out speakers it scores, and bad input as one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.bench_custom import held_out, main


def test_only_validation_and_test_speakers_are_scored(tmp_path: Path) -> None:
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for speaker in ("george", "yweweler", "nicolas"):
        for digit in (1, 2):
            sf.write(rec / f"{digit}_{speaker}_0.wav", np.zeros(4000, np.float32), 8000)
    got = held_out(f"fsdd:{tmp_path / 'fsdd'}", ["one", "two"])
    assert {split: sorted(by) for split, by in got.items()} == {"validation": ["yweweler"], "test": ["nicolas"]}
    assert sorted(c.label for c in got["test"]["nicolas"]) == ["one", "two"]


def test_missing_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", f"fsdd:{tmp_path / 'none'}", "--out", str(tmp_path / "x.json")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
