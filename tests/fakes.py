"""Fake dataset trees laid out exactly like each real dataset, for the loader and corpus tests.

Tiny real audio files (tones), written with soundfile; nothing is downloaded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.datasets.an4 import VAL_SPEAKERS
from listener.training.datasets.base import DIGITS


def write(
    path: Path, seconds: float = 0.5, rate: int = 16000, channels: int = 1, value: float = 0.1, fmt: str | None = None
) -> Path:
    """A tiny real audio file (a tone, so it is not silent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    mono = (value * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = mono if channels == 1 else np.stack([mono] * channels, axis=1)
    sf.write(path, data, rate, format=fmt)
    return path


def make_fsdd(root: Path) -> Path:
    rec = root / "recordings"
    for spk in ("george", "jackson", "nicolas", "theo", "yweweler"):
        for d in range(10):
            for take in range(2):
                write(rec / f"{d}_{spk}_{take}.wav", seconds=0.05, rate=8000)
    return root


def make_speech_commands(root: Path, version: str = "v0.01") -> Path:
    words = list(DIGITS) + ["bed", "tree", "yes"]
    if version == "v0.02":
        words += ["backward", "forward", "follow", "learn", "visual"]
    val, test = [], []
    for w in words:
        for spk in ("aaaa0001", "bbbb0002", "cccc0003", "dddd0004"):
            rel = f"{w}/{spk}_nohash_0.wav"
            write(root / rel, seconds=0.05)
            if spk == "cccc0003":
                val.append(rel)
            elif spk == "dddd0004":
                test.append(rel)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    write(root / "_background_noise_" / "white_noise.wav", seconds=20.0, value=0.3)
    write(root / "_background_noise_" / "running_tap.wav", seconds=30.0, value=0.3)
    (root / "README.md").write_text("not a word folder")
    return root


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def make_esc50(root: Path) -> Path:
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    spec = [
        ("dog", 0, True),
        ("rooster", 1, True),
        ("pig", 2, False),
        ("crying_baby", 20, True),
        ("church_bells", 46, False),
    ]
    for category, target, esc10 in spec:
        for fold in (1, 2, 3, 4, 5):
            src = 50000 + target * 10 + fold
            name = f"{fold}-{src}-A-{target}.wav"
            write(root / "audio" / name, seconds=0.1, rate=44100)
            rows.append(f"{name},{fold},{target},{category},{esc10},{src},A")
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return root


def make_us8k(root: Path) -> Path:
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    classes = [(3, "dog_bark"), (8, "siren"), (9, "street_music")]
    for class_id, name in classes:
        for fold in range(1, 11):
            fs_id = 100000 + class_id * 100 + fold
            for slice_n in range(2):
                file = f"{fs_id}-{class_id}-0-{slice_n}.wav"
                write(root / "audio" / f"fold{fold}" / file, seconds=0.05, rate=22050, channels=2)
                rows.append(f"{file},{fs_id},{slice_n * 4.0},{slice_n * 4.0 + 4.0},1,{fold},{class_id},{name}")
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(rows) + "\n")
    return root


def make_an4(root: Path, drop_audio: bool = False, test: dict[str, str] | None = None) -> Path:
    """AN4's layout: two train speakers (one of them a validation speaker), one test speaker
    (``test``: its own fileids and transcripts instead)."""
    etc = root / "etc"
    etc.mkdir(parents=True)
    train = {
        "an4_clstk/fash/an251-fash-b": "<s> ENTER NINE ONE SIX NINE </s>",
        "an4_clstk/fash/an253-fash-b": "<s> GO </s>",
        f"an4_clstk/{VAL_SPEAKERS[0]}/an300-{VAL_SPEAKERS[0]}-b": "<s> OH TWO ZERO </s>",
    }
    test = test or {"an4test_clstk/fjlp/an417-fjlp-b": "J P E G FOUR"}
    for part, rows in (("train", train), ("test", test)):
        (etc / f"an4_{part}.fileids").write_text("".join(f"{f}\n" for f in rows) + "\n")
        lines = [f"{words} ({f.rsplit('/', 1)[-1]})" for f, words in rows.items()]
        (etc / f"an4_{part}.transcription").write_text("\n" + "\n".join(lines) + "\n")
        for i, fileid in enumerate(rows):
            if drop_audio and part == "test":
                continue
            wav = root / "wav" / f"{fileid}.sph"
            wav.parent.mkdir(parents=True, exist_ok=True)
            tone = 0.1 * np.sin(2 * np.pi * (200 + 50 * i) * np.arange(8000) / 16000)
            sf.write(wav, tone, 16000, format="NIST", subtype="PCM_16")
    return root
