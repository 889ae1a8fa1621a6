"""bench.bench_digits's command line: bad input is one line and a non-zero exit, before any scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_digits import main


@pytest.mark.parametrize("factor", ["0", "-1.2"])
def test_voice_shifts_must_be_positive_factors(factor: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--voice-shifts takes factors above 0"):
        main(["--data", str(tmp_path), "--voice-shifts", "1.1", factor])


def test_tempos_must_be_positive_factors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--tempos takes factors above 0"):
        main(["--data", str(tmp_path), "--tempos", "0"])


def test_voice_shifts_say_they_need_sox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without sox on it
    with pytest.raises(SystemExit, match="need the sox program"):
        main(["--data", str(tmp_path), "--voice-shifts", "0.85"])
    with pytest.raises(SystemExit, match="need the sox program"):
        main(["--data", str(tmp_path), "--tempos", "1.3"])


def test_there_and_back_needs_the_factors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="give the factors too"):
        main(["--data", str(tmp_path), "--there-and-back"])


def test_a_missing_data_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no data folder"):
        main(["--data", str(tmp_path / "nowhere"), "--part", "validation"])


def test_stamp_needs_the_test_part(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="needs --part test"):
        main(["--data", str(tmp_path), "--part", "validation", "--stamp"])
