"""The sounds model's `other` data: sources from a generated tree (tones, noise, espeak-ng speech), no real datasets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.datasets.negatives import (
    MAX_CLIP_S,
    MIN_CLIP_S,
    SOURCES,
    SPLITS,
    Pool,
    Roots,
    build_pool,
    credits_table,
    fold_mixtures,
    mixtures,
    source_folds,
)

RATE = 16000


def _write(path: Path, audio: np.ndarray, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.astype(np.float32), rate)


def _tone(freq: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * freq * t)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Roots:
    """A data folder and a system root holding only some sources: generated audio in their layouts."""
    root = tmp_path_factory.mktemp("negatives")
    data, system = root / "data", root / "system"
    rng = np.random.default_rng(0)
    noise = data / "speech_commands_v0.01_sample" / "_background_noise_"
    for name in ("white_noise.wav", "pink_noise.wav", "doing_the_dishes.wav", "exercise_bike.wav"):
        _write(noise / name, rng.standard_normal(20 * RATE) * 0.1)  # long: cut into pieces
    for name in ("running_tap.wav", "dude_miaowing.wav"):
        _write(noise / name, rng.standard_normal(6 * RATE) * 0.1)
    fsdd = data / "fsdd" / "recordings"
    for k, word in enumerate(("hello", "kitchen", "window")):
        wav = fsdd / f"{k}_espeak_0.wav"
        fsdd.mkdir(parents=True, exist_ok=True)
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), word], check=True, capture_output=True)
    _write(fsdd / "3_espeak_0.wav", _tone(440, 0.1))  # too short: dropped
    tux = system / "usr" / "share" / "tuxpaint" / "sounds"
    _write(tux / "click.wav", _tone(1000, 0.5, 44100), 44100)
    _write(tux / "eraser.ogg", _tone(2000, 1.2))
    _write(tux / "dog_bark.wav", _tone(500, 1.0))  # names one of the ten classes: never `other`
    _write(tux / "rain" / "soft.wav", _tone(600, 1.0))
    return Roots(data, system)


def test_the_training_pool_holds_what_is_there_and_skips_the_rest_with_a_message(tree: Roots) -> None:
    said: list[str] = []
    pool = build_pool("train", tree, cache=False, log=said.append)
    counts = pool.by_source()
    assert set(counts) == {"sc_noise_train", "fsdd", "tuxpaint_sfx", "synthetic_train"}
    assert counts["fsdd"] == 3 and counts["tuxpaint_sfx"] == 2  # the short clip and the class names are out
    assert counts["sc_noise_train"] == 4 * 5  # four 20 s files, each cut into five 4 s pieces
    skipped = [m for m in said if "skipping" in m]
    for name in ("an4_train", "minetest_sfx", "lincity_sfx", "freedoom_sfx", "fluidr3_random_midi"):
        assert any(name in m and "not found" in m for m in skipped), (name, skipped)
    assert all(MIN_CLIP_S * RATE <= len(c) <= MAX_CLIP_S * RATE for c in pool.clips)
    assert all(c.dtype == np.float32 and np.isfinite(c).all() and np.abs(c).max() > 1e-4 for c in pool.clips)
    # the synthetic source has no files to miss and is seeded: the same clips again
    again = build_pool("train", tree, cache=False, log=lambda m: None)
    assert all(np.array_equal(a, b) for a, b in zip(pool.clips, again.clips))


def test_a_sound_installed_under_several_names_is_one_clip(tmp_path: Path) -> None:
    """The freedesktop theme links four names to one warning sound: the pool holds it once, whether
    the other names are links, copies, or the same audio in another container."""
    theme = tmp_path / "system" / "usr" / "share" / "sounds" / "freedesktop" / "stereo"
    theme.mkdir(parents=True)
    sf.write(theme / "dialog-warning.oga", _tone(700, 0.6).astype(np.float32), RATE, format="OGG")
    sf.write(theme / "bell.oga", _tone(1200, 0.8).astype(np.float32), RATE, format="OGG")
    for name in ("dialog-error.oga", "window-attention.oga"):
        (theme / name).symlink_to("dialog-warning.oga")
    (theme / "window-question.oga").write_bytes((theme / "dialog-warning.oga").read_bytes())
    decoded, _ = sf.read(theme / "bell.oga", dtype="float32")  # as a float WAV: other bytes, the same clip
    sf.write(theme / "bell-decoded.oga", decoded, RATE, format="WAV", subtype="FLOAT")
    roots = Roots(tmp_path / "data", tmp_path / "system")
    held = build_pool("heldout", roots, cache=False, log=lambda m: None)
    clips = [c for c, s in zip(held.clips, held.source) if s == "desktop_sounds"]
    assert len(clips) == 2 and sorted(len(c) for c in clips) == [int(0.6 * RATE), int(0.8 * RATE)]


def test_held_out_sources_never_feed_training_and_scale_limits_each_source(tree: Roots) -> None:
    held = build_pool("heldout", tree, cache=False, scale=0.2, log=lambda m: None)
    assert set(held.by_source()) >= {"sc_noise_heldout", "synthetic_heldout"}
    assert held.by_source()["synthetic_heldout"] == 12  # 60 x 0.2
    train_names = {s.name for s in SOURCES if s.split == "train"}
    assert not train_names & set(held.source)
    assert {s.split for s in SOURCES} == set(SPLITS)
    with pytest.raises(ValueError, match="split"):
        build_pool("test", tree, cache=False)


def test_the_pool_is_cached_with_its_sources(tree: Roots, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path))
    first = build_pool("train", tree, scale=0.1, log=lambda m: None)
    assert list((tmp_path / "negatives").glob("train-*.npz"))
    said: list[str] = []
    cached = build_pool("train", tree, scale=0.1, log=said.append)
    assert cached.source == first.source and all(np.array_equal(a, b) for a, b in zip(first.clips, cached.clips))
    assert not [m for m in said if ": clips" in m or "clips" in m.split(":")[-1]]  # nothing decoded again


def test_mixtures_sum_two_sources_and_stay_in_range() -> None:
    rng = np.random.default_rng(1)
    pool = Pool([_tone(300, 1.0).astype(np.float32), (rng.standard_normal(RATE) * 0.2).astype(np.float32)], ["a", "b"])
    mixed = mixtures(pool, 50, np.random.default_rng(2))
    assert len(mixed) == 50  # as many as asked, though half the draws pair a source with itself
    assert all(np.abs(m).max() == pytest.approx(0.7, abs=1e-3) for m in mixed)
    assert all(len(m) == RATE for m in mixed)
    assert mixtures(Pool(pool.clips, ["a", "a"]), 5, rng) == []  # one source: nothing to mix, no endless loop


def test_source_folds_keep_each_sources_neighbours_together() -> None:
    source = ["a"] * 10 + ["b"] * 7 + ["c"] * 3
    folds = source_folds(source)
    assert folds[:10].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # consecutive pieces share a fold
    assert (np.diff(folds[10:17]) >= 0).all() and set(folds[10:17].tolist()) == {1, 2, 3, 4, 5}
    assert folds[17:].tolist() == [1, 2, 4]  # a source with fewer clips than folds: some folds lack it


def test_fold_mixtures_never_mix_two_folds() -> None:
    source = ["a"] * 10 + ["b"] * 10
    folds = source_folds(source)
    clips = []  # clip i is one click at sample 100 * (i + 1), so a mixture shows which two clips it holds
    for i in range(len(source)):
        x = np.zeros(RATE, np.float32)
        x[100 * (i + 1)] = 0.5
        clips.append(x)
    mixed, of = fold_mixtures(Pool(clips, source), folds, 23, np.random.default_rng(3))
    assert len(mixed) == len(of) == 23 and np.bincount(of)[1:].tolist() == [5, 5, 5, 4, 4]
    for m, k in zip(mixed, of):
        held = np.flatnonzero(np.abs(m) > 1e-6) // 100 - 1
        assert len(held) == 2 and {source[i] for i in held} == {"a", "b"}
        assert folds[held].tolist() == [k, k]


def test_credits_list_every_source_with_its_licence() -> None:
    table = credits_table()
    for s in SOURCES:
        assert f"| {s.name} | {s.kind} |" in table and s.licence in table
    assert "CC BY-NC" not in table  # ESC-50's other classes and UrbanSound8K never feed the model


def test_the_sounds_model_card_credits_every_source_as_the_registry_says() -> None:
    card = (Path(__file__).resolve().parents[2] / "docs" / "models" / "sounds.md").read_text()
    assert credits_table() in card, "docs/models/sounds.md: paste credits_table() again"


def test_the_pool_cache_is_one_file_however_the_data_folder_is_spelt(tmp_path, monkeypatch):
    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    (tmp_path / "a" / "data").mkdir(parents=True)
    first = build_pool("heldout", Roots(tmp_path / "a" / "data", tmp_path), log=lambda m: None)
    again = build_pool("heldout", Roots(tmp_path / "a" / ".." / "a" / "data", tmp_path), log=lambda m: None)
    assert len(list((tmp_path / "cache" / "negatives").glob("*.npz"))) == 1 and len(first) == len(again) > 0
