"""ESC-10 / ESC-50 loader on generated trees and on the shared sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.training.datasets.base import (
    DatasetError,
    fold_split,
)
from listener.training.datasets.esc import load_esc
from tests.fakes import make_esc50, write


def test_esc10_folder_layout(tmp_path: Path) -> None:
    root = tmp_path / "esc10"
    for folder in ("001 - Dog bark", "003 - Sea waves", "009 - Rooster"):
        for fold in range(1, 6):
            for take in "AB":
                write(root / folder / f"{fold}-{1000 + fold}-{take}.ogg", seconds=0.1, rate=44100, fmt="OGG")
    (root / "README.md").write_text("x")
    clips = load_esc(root)
    assert len(clips) == 30
    assert {c.label for c in clips} == {"dog bark", "sea waves", "rooster"}
    assert {c.fold for c in clips} == {1, 2, 3, 4, 5}
    c = next(c for c in clips if c.path.name == "4-1004-B.ogg")
    assert c.fold == 4 and c.speaker == "1004" and c.split is None
    rounds = fold_split(clips, test_fold=2, val_fold=3)
    assert {c.split for c in rounds if c.fold == 2} == {"test"}
    assert {c.split for c in rounds if c.fold == 3} == {"validation"}
    assert sum(c.split == "train" for c in rounds) == 18
    with pytest.raises(DatasetError, match="test_fold=9"):
        fold_split(clips, test_fold=9)
    write(root / "001 - Dog bark" / "dog.ogg", seconds=0.1, fmt="OGG")
    with pytest.raises(DatasetError, match="dog.ogg"):
        load_esc(root)


def test_esc50_csv_layout(tmp_path: Path) -> None:
    root = make_esc50(tmp_path / "ESC-50-master")
    esc10 = load_esc(root)
    assert len(esc10) == 15
    assert {c.label for c in esc10} == {"dog bark", "rooster", "baby cry"}  # same names as ESC-10 folders
    everything = load_esc(root, subset="esc50")
    assert len(everything) == 25 and {"pig", "church bells"} <= {c.label for c in everything}
    c = next(c for c in everything if c.path.name == "3-50463-A-46.wav")
    assert c.fold == 3 and c.speaker == "50463" and c.label == "church bells"
    (root / "audio" / "3-50463-A-46.wav").unlink()
    with pytest.raises(DatasetError, match="3-50463-A-46.wav"):
        load_esc(root, subset="esc50")
    with pytest.raises(DatasetError, match="subset"):
        load_esc(root, subset="esc20")


def test_esc_real_sample() -> None:
    root = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "esc10"
    if not root.is_dir():
        pytest.skip("shared data not present")
    clips = load_esc(root)
    assert len(clips) == 400 and len({c.label for c in clips}) == 10
    assert all(sum(c.fold == f for c in clips) == 80 for f in range(1, 6))
    folds_of_source: dict[str, set[int]] = {}
    for c in clips:
        folds_of_source.setdefault(c.speaker or "", set()).add(c.fold or 0)
    assert all(len(f) == 1 for f in folds_of_source.values())  # sources never straddle folds
