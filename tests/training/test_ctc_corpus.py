"""Which clips the digits recipe trains and validates on: fixed speaker splits, missing sources skipped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.ctc_corpus import CtcDataConfig, noise_recordings, train_items, validation_items
from listener.training.datasets.base import DatasetError
from listener.training.tokens import OH, OTHER

RATE = 16000


def beep(seconds: float = 0.3) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 300 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def tree(root: Path) -> Path:
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for speaker in ("jackson", "yweweler", "nicolas"):  # train, validation, test
        for d in (1, 2):
            sf.write(rec / f"{d}_{speaker}_0.wav", beep(), 8000)
    etc = root / "an4" / "etc"
    etc.mkdir(parents=True)
    for part, folder, rows in (
        ("train", "an4_clstk", [("fash", "OH TWO ENTER"), ("fbbh", "NINE")]),  # fbbh: a validation speaker
        ("test", "an4test_clstk", [("fjlp", "SIX")]),
    ):
        ids, lines = [], []
        for i, (speaker, words) in enumerate(rows):
            path = root / "an4" / "wav" / folder / speaker / f"an{i}-{speaker}-b.sph"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, beep(1.0), RATE, format="NIST", subtype="PCM_16")
            ids.append(f"{folder}/{speaker}/an{i}-{speaker}-b")
            lines.append(f"{words} (an{i}-{speaker}-b)")
        (etc / f"an4_{part}.fileids").write_text("\n".join(ids))
        (etc / f"an4_{part}.transcription").write_text("\n".join(lines))
    (root / "allison" / "digits").mkdir(parents=True)
    for stem in ("3", "oh", "90"):
        sf.write(root / "allison" / "digits" / f"{stem}.wav", beep(), 8000)
    return root


def test_speakers_stay_in_their_split_and_missing_sources_are_said(tmp_path):
    cfg = CtcDataConfig(tree(tmp_path / "data"), sources=("an4", "fsdd", "speech_commands", "sc09", "allison", "noise"))
    logs: list[str] = []
    train = train_items(cfg, logs.append)
    speakers = {it.speaker for it in train}
    assert {"jackson", "fash", "allison"} <= speakers and not {"yweweler", "nicolas", "fbbh", "fjlp"} & speakers
    an4 = next(it for it in train if it.source == "an4")
    assert an4.words == ("oh", "two", "enter") and an4.tokens == [OH, 3, OTHER] and an4.ends is None
    allison = {it.words[0]: it.tokens for it in train if it.source == "allison"}
    assert allison == {"three": [4], "oh": [OH], "90": [OTHER]}
    fsdd = next(it for it in train if it.source == "fsdd")
    assert fsdd.ends == [pytest.approx(0.6 * RATE, abs=200)]  # the word (4,800 samples at 8 kHz) ends there
    assert any("Speech Commands" in m and "skipped" in m for m in logs)
    assert any("ESC-10" in m and "skipped" in m for m in logs)
    val = validation_items(cfg, logs.append)
    assert {it.speaker for it in val["an4"]} == {"fbbh"} and {it.speaker for it in val["words"]} == {"yweweler"}
    assert noise_recordings(cfg, logs.append) == []


def test_no_speech_at_all_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = CtcDataConfig(tmp_path / "empty", sources=("an4", "fsdd"), allison_root=tmp_path / "none")
    with pytest.raises(DatasetError, match="no speech to train on"):
        train_items(cfg, lambda m: None)
    with pytest.raises(ValueError, match="an4_homophones"):
        CtcDataConfig(tmp_path, an4_homophones="drop")


def test_a_final_fit_trains_on_the_validation_speakers_but_never_the_test_speakers(tmp_path):
    cfg = CtcDataConfig(tree(tmp_path / "data"), sources=("an4", "fsdd", "allison"), train_validation_speakers=True)
    speakers = {it.speaker for it in train_items(cfg, lambda m: None)}
    assert {"jackson", "yweweler", "fash", "fbbh"} <= speakers and not {"nicolas", "fjlp"} & speakers
    val = validation_items(cfg, lambda m: None)  # still scored (INT8 calibration, the record), now trained on
    assert {it.speaker for it in val["an4"]} == {"fbbh"} and {it.speaker for it in val["words"]} == {"yweweler"}


def test_left_out_speakers_neither_train_nor_validate_and_the_log_names_them(tmp_path):
    logs: list[str] = []
    cfg = CtcDataConfig(
        tree(tmp_path / "data"), sources=("an4", "fsdd", "allison"), leave_out_speakers=("fash", "jackson")
    )
    speakers = {it.speaker for it in train_items(cfg, logs.append)}
    assert "allison" in speakers and not {"fash", "jackson", "fbbh", "yweweler"} & speakers
    assert "AN4: left out of training: fash" in logs and "FSDD: left out of training: jackson" in logs
    val = validation_items(cfg, logs.append)
    assert {it.speaker for it in val["an4"]} == {"fbbh"} and {it.speaker for it in val["words"]} == {"yweweler"}


def test_sound_negatives_are_blank_items_of_non_speech_sources_only(tmp_path, monkeypatch):
    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    data = tree(tmp_path / "data")  # AN4 and FSDD are there: speech sources of the pool, never drawn here
    cfg = CtcDataConfig(data, system_root=tmp_path / "system", n_sound_negatives=40, sources=("an4", "noise"))
    logs: list[str] = []
    items = [it for it in train_items(cfg, logs.append) if it.source == "sounds"]
    assert len(items) == 40 and {it.speaker for it in items} == {"synthetic_train"}  # the one source a bare tree has
    assert all(not it.tokens and not it.words and len(it.audio) >= 0.3 * RATE for it in items)
    assert any("skipping freedoom_sfx" in m for m in logs)  # a missing Debian package is said
    again = [it for it in train_items(cfg, lambda m: None) if it.source == "sounds"]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(items, again))  # the recipe's seed decides the draw
    assert not [it for it in train_items(replace(cfg, n_sound_negatives=0), lambda m: None) if it.source == "sounds"]
