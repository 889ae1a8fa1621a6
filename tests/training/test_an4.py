"""The AN4 loader on a small tree in AN4's own layout (NIST SPHERE files written here)."""

from __future__ import annotations

import numpy as np
import pytest

from listener.training.datasets.an4 import VAL_SPEAKERS, load_an4, parse_transcription
from listener.training.datasets.base import DatasetError
from tests.fakes import make_an4 as fake_an4


def test_splits_speakers_words_digits_and_audio(tmp_path):
    utts = {u.uttid: u for u in load_an4(fake_an4(tmp_path))}
    assert {u: x.split for u, x in utts.items()} == {
        "an251-fash-b": "train",
        "an253-fash-b": "train",
        f"an300-{VAL_SPEAKERS[0]}-b": "validation",
        "an417-fjlp-b": "test",
    }
    assert utts["an251-fash-b"].words == ("ENTER", "NINE", "ONE", "SIX", "NINE")
    assert utts["an251-fash-b"].digits == "9169"
    assert utts[f"an300-{VAL_SPEAKERS[0]}-b"].digits == "020"
    assert utts["an253-fash-b"].digits == ""
    assert utts["an417-fjlp-b"].speaker == "fjlp" and utts["an417-fjlp-b"].digits == "4"
    audio = utts["an417-fjlp-b"].audio()
    assert audio.dtype == np.float32 and len(audio) == 8000 and 0.09 < np.abs(audio).max() < 0.11


def test_missing_files_and_bad_lines_are_named(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        load_an4(tmp_path / "nowhere")
    tmp_path.joinpath("etc").mkdir()
    with pytest.raises(DatasetError, match="an4_test.fileids is missing"):
        load_an4(tmp_path)
    with pytest.raises(DatasetError, match="audio files are missing"):
        load_an4(fake_an4(tmp_path / "b", drop_audio=True))
    bad = tmp_path / "bad.transcription"
    bad.write_text("<s> HELLO </s> an1-x-b\n")
    with pytest.raises(DatasetError, match="bad.transcription:1"):
        parse_transcription(bad)


def test_validation_speakers_may_not_be_test_speakers(tmp_path):
    with pytest.raises(DatasetError, match="are test speakers"):
        load_an4(fake_an4(tmp_path), val_speakers=("fjlp",))


def test_the_real_an4_when_present():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "shared" / "data" / "an4"
    if not root.is_dir():
        pytest.skip("../shared/data/an4 is not here")
    utts = load_an4(root)
    speakers = {s: {u.speaker for u in utts if u.split == s} for s in ("train", "validation", "test")}
    assert len(speakers["validation"]) == 10 and len(speakers["train"]) >= 60 and len(speakers["test"]) >= 9
    assert not (speakers["train"] | speakers["validation"]) & speakers["test"]
