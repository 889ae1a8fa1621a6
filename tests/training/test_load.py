"""``--data KIND:PATH``: every kind the command lines accept, and clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.training.datasets.base import DatasetError
from listener.training.datasets.load import DataSplit, load_data
from tests.fakes import make_esc50, make_fsdd, make_speech_commands, write


def test_each_kind_loads_its_dataset(tmp_path: Path) -> None:
    assert len(load_data(f"fsdd:{make_fsdd(tmp_path / 'fsdd')}")) == 100
    assert {c.label for c in load_data(f"esc50:{make_esc50(tmp_path / 'esc')}")} >= {"dog bark", "pig"}
    sc = load_data(f"speech_commands:{make_speech_commands(tmp_path / 'sc')}")
    assert {"one", "unknown", "silence"} <= {c.label for c in sc}
    for label in ("on", "off"):
        write(tmp_path / "mine" / label / f"{label}.wav", seconds=0.1)
    assert sorted(c.label for c in load_data(f"folder:{tmp_path / 'mine'}")) == ["off", "on"]


@pytest.mark.parametrize("spec, message", [("nonsense", "KIND:PATH"), ("mp3:/x", "unknown kind 'mp3'")])
def test_bad_data_arguments_say_what_is_expected(spec: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_data(spec)


def test_data_split_holds_out_speakers_or_the_fold_asked_for(tmp_path: Path) -> None:
    esc = load_data(f"esc50:{make_esc50(tmp_path / 'esc')}")
    for fold in (None, 3):
        train, val, test = DataSplit(fold=fold).apply(esc)
        held = fold or 1
        assert {c.fold for c in val} == {held} and held not in {c.fold for c in train}
        assert len(train) + len(val) == len(esc) and test == []
    fsdd = load_data(f"fsdd:{make_fsdd(tmp_path / 'fsdd')}")
    train, val, test = DataSplit().apply(fsdd)
    speakers = [{c.speaker for c in part} for part in (train, val, test)]
    assert all(speakers) and not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])


@pytest.mark.parametrize("fold, data, message", [(9, "esc", r"fold 9 is not one of the data's folds \[1, 2, 3, 4, 5\]"),
                                                 (2, "fsdd", "fold 2: this data has no official folds")])  # fmt: skip
def test_a_fold_that_cannot_be_held_out_is_an_error(tmp_path: Path, fold: int, data: str, message: str) -> None:
    clips = load_data(f"esc50:{make_esc50(tmp_path)}" if data == "esc" else f"fsdd:{make_fsdd(tmp_path)}")
    with pytest.raises(DatasetError, match=message):
        DataSplit(fold=fold).apply(clips)
