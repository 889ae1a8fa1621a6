"""Shared dataset records and audio helpers: reading, shaping, splitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from listener.training.datasets.base import (
    Clip,
    DatasetError,
    assign_splits,
    fit_length,
    load_audio,
    loudest_start,
)
from tests.fakes import write


def test_load_audio_resamples_and_downmixes(tmp_path: Path) -> None:
    stereo = write(tmp_path / "s.wav", seconds=1.0, rate=44100, channels=2, value=0.5)
    audio = load_audio(stereo, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.shape[0] - 16000) <= 1
    assert 0.45 < np.abs(audio).max() <= 0.51
    part = load_audio(stereo, 8000, start_s=0.25, duration_s=0.5)
    assert abs(part.shape[0] - 4000) <= 1


def test_load_audio_reads_ogg_and_flac(tmp_path: Path) -> None:
    ogg = write(tmp_path / "a.ogg", seconds=0.5, rate=44100, fmt="OGG")
    flac = write(tmp_path / "a.flac", seconds=0.5, rate=22050, fmt="FLAC")
    assert abs(load_audio(ogg).shape[0] - 8000) <= 2
    assert abs(load_audio(flac).shape[0] - 8000) <= 2


def test_load_audio_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(DatasetError, match="bad.wav"):
        load_audio(bad)
    with pytest.raises(DatasetError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")
    short = write(tmp_path / "short.wav", seconds=1.0)
    with pytest.raises(DatasetError, match="past the end"):
        load_audio(short, start_s=5.0)


def test_fit_length_modes() -> None:
    a = np.arange(10, dtype=np.float32)
    assert fit_length(a, 4).tolist() == [3, 4, 5, 6]
    padded = fit_length(a[:2] + 1, 6)
    assert padded.tolist() == [0, 0, 1, 2, 0, 0]
    burst = np.zeros(100, np.float32)
    burst[70:80] = 1.0
    assert fit_length(burst, 20, "energy").sum() == 10
    rng = np.random.default_rng(0)
    starts = {float(fit_length(a, 4, "random", rng)[0]) for _ in range(50)}
    assert len(starts) > 3 and min(starts) >= 0 and max(starts) <= 6
    with pytest.raises(ValueError, match="mode"):
        fit_length(a, 4, "middle")


def test_assign_splits_keeps_speakers_together(tmp_path: Path) -> None:
    clips = [Clip(tmp_path / f"{s}_{i}.wav", "x", speaker=f"spk{s}") for s in range(40) for i in range(3)]
    out = assign_splits(clips, 0.2, 0.2)
    by_speaker: dict[str, set[str]] = {}
    for c in out:
        by_speaker.setdefault(c.speaker or "", set()).add(c.split or "")
    assert all(len(s) == 1 for s in by_speaker.values())
    assert {next(iter(s)) for s in by_speaker.values()} == {"train", "validation", "test"}
    assert assign_splits(clips, 0.2, 0.2) == out  # stable
    with pytest.raises(DatasetError, match="fractions"):
        assign_splits(clips, 0.6, 0.5)


def test_loudest_start_finds_the_loud_second() -> None:
    x = np.zeros(48000, np.float32)
    x[30000:34000] = 0.5
    s = loudest_start(x, 16000)
    assert s <= 30000 and s + 16000 >= 34000
    assert loudest_start(x[:8000], 16000) == 0
    assert np.array_equal(fit_length(x, 16000, mode="energy"), x[s : s + 16000])


def test_assign_splits_leaves_fold_datasets_to_their_folds(tmp_path: Path) -> None:
    clips = [Clip(tmp_path / f"{i}.wav", "dog", speaker=f"s{i}", fold=1 + i % 5) for i in range(10)]
    assert assign_splits(clips, 0.5, 0.0) == clips
    free = [Clip(tmp_path / f"{i}.wav", "dog", speaker=f"s{i}") for i in range(40)]
    splits = {c.split for c in assign_splits(free, 0.3, 0.0)}
    assert splits == {"train", "validation"}  # no test split when test_fraction is 0
