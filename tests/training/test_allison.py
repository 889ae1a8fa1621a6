"""The Allison prompts loader on a fake tree in the Debian package's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.datasets.allison import load_allison, prompt_label
from listener.training.datasets.base import DatasetError


def fake_voice(root: Path, stems: list[str]) -> Path:
    (root / "digits").mkdir(parents=True)
    for stem in stems:
        sf.write(root / "digits" / f"{stem}.wav", np.zeros(800, np.float32), 8000)
    return root


def test_digits_oh_and_other_prompts_are_labelled(tmp_path):
    root = fake_voice(tmp_path / "en_US_f_Allison", [str(d) for d in range(10)] + ["oh", "90", "15", "h-3"])
    clips = {c.path.stem: c for c in load_allison(root)}
    assert clips["0"].label == "zero" and clips["7"].label == "seven" and clips["oh"].label == "oh"
    assert clips["90"].label == "90" and clips["15"].label == "15" and clips["h-3"].label == "h-3"
    assert {c.speaker for c in clips.values()} == {"allison"}
    assert load_allison(root / "digits") == load_allison(root)  # the digits folder itself is accepted


def test_prompt_label():
    assert prompt_label("4") == "four" and prompt_label("40") == "40" and prompt_label("mon-1") == "mon-1"


def test_missing_folder_and_no_digits_are_errors(tmp_path):
    with pytest.raises(DatasetError, match="asterisk-core-sounds-en-wav"):
        load_allison(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"no 0\.wav"):
        load_allison(fake_voice(tmp_path / "v", ["90", "oh"]))
