"""The one-folder-per-class loader for your own recordings."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.training.datasets.base import (
    DatasetError,
)
from listener.training.datasets.folder import load_folder
from tests.fakes import write


def test_folder_by_speaker(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    speakers = [f"spk{i}" for i in range(10)]
    for label, fmt in (("doorbell", "WAV"), ("kettle", "FLAC")):
        for spk in speakers:
            for take in range(2):
                ext = fmt.lower()
                write(root / label / f"{spk}_{take}.{ext}", seconds=0.05, fmt=fmt)
    (root / "kettle" / "notes.txt").write_text("ignored")
    (root / "_background_noise_").mkdir()
    clips = load_folder(root, val_fraction=0.2, test_fraction=0.2)
    assert len(clips) == 40 and {c.label for c in clips} == {"doorbell", "kettle"}
    split_of: dict[str, set[str]] = {}
    for c in clips:
        split_of.setdefault(c.speaker or "", set()).add(c.split or "")
    assert set(split_of) == set(speakers) and all(len(s) == 1 for s in split_of.values())
    counts = [sum(next(iter(s)) == x for s in split_of.values()) for x in ("train", "validation", "test")]
    assert counts == [6, 2, 2]
    assert load_folder(root, 0.2, 0.2) == clips


def test_folder_without_speakers_splits_each_class(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for label in ("clap", "snap"):
        for i in range(20):
            write(root / label / f"take{i}.wav", seconds=0.05)
    clips = load_folder(root)
    for label in ("clap", "snap"):
        splits = [c.split for c in clips if c.label == label]
        assert splits.count("test") == 2 and splits.count("validation") == 2
    assert all(c.speaker is None for c in clips)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty.*no audio"):
        load_folder(tmp_path)
    with pytest.raises(DatasetError, match="fractions"):
        load_folder(tmp_path, 0.5, 0.5)
