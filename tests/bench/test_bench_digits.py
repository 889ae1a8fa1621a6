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


def test_codecs_are_named_from_the_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--data", str(tmp_path), "--codecs", "opus_0.9", "aac"])
    assert stop.value.code == 2
    assert "invalid choice: 'aac'" in capsys.readouterr().err


def test_a_missing_data_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no data folder"):
        main(["--data", str(tmp_path / "nowhere"), "--part", "validation"])


def test_stamp_needs_the_test_part(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="needs --part test"):
        main(["--data", str(tmp_path), "--part", "validation", "--stamp"])


def test_the_card_says_when_the_validation_speakers_trained() -> None:
    """A final fit's AN4 and FSDD validation rows are on trained speakers: the card's caption says so
    from the files' ``training_data``, and only then."""
    import copy
    import json

    from bench.bench_digits import RESULTS, card_tables
    from listener.training.ctc_corpus import FINAL_FIT_NOTE

    test = json.loads((RESULTS / "bench_digits.json").read_text())
    validation = json.loads((RESULTS / "bench_digits_validation.json").read_text())
    held, fit = copy.deepcopy(validation), copy.deepcopy(validation)
    for m in held["models"].values():
        m["training_data"] = "CMU AN4 train speakers (minus 10 validation speakers); ..."
    for m in fit["models"].values():
        m["training_data"] = f"CMU AN4 train speakers ({FINAL_FIT_NOTE}); ..."
    assert "final fit" not in card_tables(test, held)
    assert "These files are a final fit" in card_tables(test, fit)
