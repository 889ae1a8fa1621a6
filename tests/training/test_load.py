"""``--data KIND:PATH``: every kind the command lines accept, and clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.training.datasets.base import DatasetError
from listener.training.datasets.load import load_data
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
