"""bench.platform_set on a small tree laid out like ../shared/data: which recordings it picks, as 16-bit WAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.platform_set import main, write_set


def fake_data(root: Path) -> None:
    rng = np.random.default_rng(0)
    clip = (rng.standard_normal(1600) * 0.1).astype(np.float32)
    for spk in ("fbbh", "mmap", "fash"):  # fash: a training speaker, not picked
        d = root / "an4/wav/an4_clstk" / spk
        d.mkdir(parents=True)
        sf.write(d / f"an1-{spk}-b.sph", clip, 16000, format="NIST", subtype="PCM_16")
    fsdd = root / "fsdd/recordings"
    fsdd.mkdir(parents=True)
    for name in ("3_yweweler_0.wav", "3_yweweler_7.wav", "3_nicolas_0.wav"):  # only takes 0-4 of yweweler
        sf.write(fsdd / name, clip, 8000)
    sc = root / "speech_commands_v0.01_sample"
    (sc / "two").mkdir(parents=True)
    sf.write(sc / "two/abc_nohash_0.wav", clip, 16000)
    sf.write(sc / "two/def_nohash_0.wav", clip, 16000)  # not in the list
    (sc / "validation_list.txt").write_text("two/abc_nohash_0.wav\ntwo/missing_nohash_0.wav\n")
    for fold in ("4", "5"):
        d = root / "esc10/001 - Dog bark"
        d.mkdir(parents=True, exist_ok=True)
        sf.write(d / f"{fold}-1234-A.ogg", clip, 44100, format="OGG", subtype="VORBIS")


def test_the_validation_recordings_are_written_as_wav(tmp_path: Path) -> None:
    fake_data(tmp_path / "data")
    out = tmp_path / "set"
    assert write_set(tmp_path / "data", out) == (4, 1)
    assert sorted(p.name for p in (out / "digits").iterdir()) == [
        "an4-an1-fbbh-b.wav",
        "an4-an1-mmap-b.wav",
        "fsdd-3_yweweler_0.wav",
        "sc-two-abc_nohash_0.wav",
    ]
    assert [p.name for p in (out / "sounds").iterdir()] == ["Dog_bark-4-1234-A.wav"]
    info = sf.info(out / "sounds" / "Dog_bark-4-1234-A.wav")
    assert (info.format, info.subtype, info.samplerate) == ("WAV", "PCM_16", 44100)


def test_missing_data_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path / "set"), "--data", str(tmp_path)]) == 2
    assert "an4/wav/an4_clstk" in capsys.readouterr().err
