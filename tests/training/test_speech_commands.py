"""Speech Commands loader on generated trees (v0.01 and v0.02 layouts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.datasets.base import (
    DIGITS,
    DatasetError,
    load_audio,
)
from listener.training.datasets.speech_commands import (
    background_noise_files,
    load_speech_commands,
    speech_commands_version,
)
from tests.fakes import make_speech_commands


@pytest.mark.parametrize("version", ["v0.01", "v0.02"])
def test_speech_commands_layout(tmp_path: Path, version: str) -> None:
    root = make_speech_commands(tmp_path / "sc", version)
    assert speech_commands_version(root) == version
    clips = load_speech_commands(root, silence_per_split=(10, 4, 4))
    words = [c for c in clips if c.label != "silence"]
    n_words = 13 + (5 if version == "v0.02" else 0)
    assert len(words) == n_words * 4
    assert {c.label for c in words} == set(DIGITS) | {"unknown"}
    assert sum(c.label == "unknown" for c in words) == (n_words - 10) * 4
    for c in words:
        expect = {"cccc0003": "validation", "dddd0004": "test"}.get(c.speaker or "", "train")
        assert c.split == expect
    c = next(c for c in words if c.path.name.startswith("bbbb0002") and c.path.parent.name == "seven")
    assert c.label == "seven" and c.speaker == "bbbb0002"
    assert clips == load_speech_commands(root, silence_per_split=(10, 4, 4))  # deterministic


def test_speech_commands_silence_does_not_overlap(tmp_path: Path) -> None:
    root = make_speech_commands(tmp_path / "sc")
    clips = load_speech_commands(root, silence_per_split=(40, 6, 6))
    sil = [c for c in clips if c.label == "silence"]
    assert [sum(c.split == s for c in sil) for s in ("train", "validation", "test")] == [40, 6, 6]
    for noise in background_noise_files(root):
        spans = {
            s: [(c.start_s, c.start_s + c.duration_s) for c in sil if c.path == noise and c.split == s]
            for s in ("train", "validation", "test")
        }
        dur = sf.info(str(noise)).duration
        assert all(0 <= a and b <= dur + 1e-6 for v in spans.values() for a, b in v)
        tr_end = max(b for _, b in spans["train"])
        va = spans["validation"]
        te_start = min(a for a, _ in spans["test"])
        assert tr_end <= min(a for a, _ in va) and max(b for _, b in va) <= te_start
    audio = load_audio(sil[0].path, 16000, sil[0].start_s, sil[0].duration_s)
    assert audio.shape[0] == 16000 and np.abs(audio).max() > 0.1


def test_speech_commands_options(tmp_path: Path) -> None:
    root = make_speech_commands(tmp_path / "sc")
    only = load_speech_commands(root, targets=("yes", "tree"), unknown=False, silence=False)
    assert {c.label for c in only} == {"yes", "tree"} and len(only) == 8
    auto = load_speech_commands(root)  # silence sized like one target word per split
    assert sum(c.label == "silence" and c.split == "train" for c in auto) == 2
    with pytest.raises(DatasetError, match="marvin"):
        load_speech_commands(root, targets=("marvin",))
    shutil.rmtree(root / "_background_noise_")
    with pytest.raises(DatasetError, match="_background_noise_"):
        load_speech_commands(root)
    assert load_speech_commands(root, silence=False)
    with pytest.raises(DatasetError, match="not a directory"):
        load_speech_commands(tmp_path / "missing")


def test_speech_commands_real_sample() -> None:
    """The shared v0.01 sample: official lists give speaker-disjoint splits."""
    root = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "speech_commands_v0.01_sample"
    if not root.is_dir():
        pytest.skip("shared data not present")
    clips = load_speech_commands(root, silence_per_split=(30, 5, 5))
    words = [c for c in clips if c.label != "silence"]
    assert len(words) == 300 and speech_commands_version(root) == "v0.01"
    speakers = {s: {c.speaker for c in words if c.split == s} for s in ("train", "validation", "test")}
    assert not (speakers["train"] & speakers["validation"]) and not (speakers["train"] & speakers["test"])
    assert all(speakers.values())
