"""FSDD loader on a generated tree laid out like the dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.training.datasets.base import (
    DIGITS,
    DatasetError,
    load_audio,
)
from listener.training.datasets.fsdd import load_fsdd
from tests.fakes import make_fsdd, write


def test_fsdd_speaker_disjoint(tmp_path: Path) -> None:
    root = make_fsdd(tmp_path / "fsdd")
    clips = load_fsdd(root)
    assert len(clips) == 100
    assert load_fsdd(root / "recordings") == clips  # either folder works
    splits = {c.speaker: c.split for c in clips}
    assert splits == {
        "george": "train",
        "jackson": "train",
        "yweweler": "validation",
        "nicolas": "test",
        "theo": "test",
    }
    c = next(c for c in clips if c.path.name == "7_theo_1.wav")
    assert c.label == "seven" and c.speaker == "theo"
    assert {c.label for c in clips} == set(DIGITS)
    assert clips == sorted(clips, key=lambda c: str(c.path))
    assert load_audio(c.path).shape[0] == 800  # 8 kHz -> 16 kHz


def test_fsdd_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        load_fsdd(tmp_path / "nope")
    (tmp_path / "recordings").mkdir()
    with pytest.raises(DatasetError, match="no <digit>"):
        load_fsdd(tmp_path)
    write(tmp_path / "recordings" / "seven-george.wav", seconds=0.05)
    with pytest.raises(DatasetError, match="seven-george.wav"):
        load_fsdd(tmp_path)
    with pytest.raises(DatasetError, match="both"):
        load_fsdd(tmp_path, val_speakers=("theo",), test_speakers=("theo",))
