"""Strings said in one breath: synthetic phrases, joined words, padding and augmentation."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest

from listener.training.strings import (
    CONFUSABLE_WORDS,
    OTHER_WORDS,
    RATE,
    Item,
    StringAugment,
    available_engines,
    codec_round_trip,
    concat_strings,
    join,
    lossy_codec,
    loud_bounds,
    phrase_tokens,
    phrase_words,
    prepare,
    quantize_8bit,
    synthesize_phrases,
    word_bank,
    word_item,
)
from listener.training.tokens import OTHER, words_to_tokens


def tone(seconds: float, freq: float = 440.0, quiet_s: float = 0.0) -> np.ndarray:
    """A tone with `quiet_s` of silence after it."""
    t = np.arange(int(seconds * RATE)) / RATE
    return np.concatenate([0.5 * np.sin(2 * np.pi * freq * t), np.zeros(int(quiet_s * RATE))]).astype(np.float32)


def test_word_end_is_the_end_of_the_loud_part():
    item = word_item(tone(0.3, quiet_s=0.2), "four", "fsdd", "x")
    assert item.tokens == [5] and item.ends == [pytest.approx(0.3 * RATE, abs=160)]


def test_join_with_a_gap_and_an_overlap_knows_each_word_end():
    a, b, c = tone(0.3), tone(0.2, 660), tone(0.25, 550)
    audio, ends = join([a, b, c], [0.1, -0.05])
    assert len(audio) == len(a) + int(0.1 * RATE) + len(b) - int(0.05 * RATE) + len(c)
    assert ends[0] == pytest.approx(len(a), abs=160)
    assert ends[1] == pytest.approx(len(a) + 0.1 * RATE + len(b), abs=160)
    assert ends[2] == pytest.approx(len(audio), abs=160)


def test_concat_strings_join_one_voice_with_ends_for_every_word():
    words = [word_item(tone(0.2, 300 + 50 * d), w, "fsdd", "spk") for d, w in enumerate(["one", "two", "three"])]
    words += [word_item(tone(0.2, 900), "bird", "speech_commands", "sc1")]
    items = concat_strings(word_bank(words), 20, seed=1)
    assert len(items) == 20
    for it in items:
        assert len(it.tokens) == len(it.words) == len(it.ends) and it.source == "concat"
        assert it.tokens == words_to_tokens(it.words)
        assert all(a < b for a, b in zip(it.ends, it.ends[1:])) and it.ends[-1] <= len(it.audio)
    assert concat_strings(word_bank(words), 20, seed=1)[3].words == items[3].words  # seeded


def test_prepare_moves_word_ends_with_padding_and_speed():
    item = Item(tone(0.5, quiet_s=0.1), ("five",), [6], "fsdd", "x", [0.5 * RATE])
    cfg = StringAugment(speed_p=1.0, reverb_p=0.0, band_p=0.0, noise_p=0.0, gain_p=0.0)
    audio, ends = prepare(item, seed=3, cfg=cfg)
    assert ends[0] == pytest.approx(loud_bounds(audio, -20)[1], abs=0.02 * RATE)
    again, _ = prepare(item, seed=3, cfg=cfg)
    assert np.array_equal(audio, again)
    clean, clean_ends = prepare(item, seed=3, cfg=cfg, clean=True)
    assert len(clean) >= 0.5 * RATE and clean_ends[0] > 0.5 * RATE  # room in front
    assert np.abs(audio).max() <= 1.0


def test_full_augmentation_keeps_audio_finite_and_bounded():
    noise = [np.random.default_rng(0).standard_normal(RATE).astype(np.float32)]
    item = Item(tone(0.6), ("six",), [7], "synth", "x")
    cfg = StringAugment(speed_p=1.0, reverb_p=1.0, band_p=1.0, noise_p=1.0, gain_p=1.0)
    audio, ends = prepare(item, 5, cfg, noise)
    assert ends is None and np.isfinite(audio).all() and np.abs(audio).max() <= 1.0


def test_quantize_8bit_keeps_256_levels_linear_or_mu_law():
    x = (0.3 * np.sin(np.linspace(0, 60, RATE)) * np.linspace(0, 1, RATE)).astype(np.float32)  # a fade in
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(8):
        y = quantize_8bit(x, rng)
        assert y.dtype == np.float32 and len(np.unique(y)) <= 256 and np.abs(y - x).max() < 0.05
        linear = np.allclose(y * 128, np.round(y * 128), atol=1e-4)
        kinds.add(linear)
        if linear:
            assert (y == 0).mean() > 0.005  # the quiet start becomes digital zeros, as in an 8-bit recording
        else:  # mu-law: fine steps near zero, coarse ones at the peaks
            steps = np.diff(np.unique(y))
            assert steps.min() < 1e-3 and steps.max() > 5e-3
    assert kinds == {True, False}  # half of each


@pytest.mark.parametrize("step", ["quantize_p", "codec_p"])
def test_a_last_step_at_zero_leaves_the_other_draws_unchanged(step):
    """8 bits and a lossy codec come last and draw nothing at 0: a recipe without them makes the same copies."""
    item = Item(tone(0.6), ("six",), [7], "synth", "x")
    noise = [np.random.default_rng(0).standard_normal(RATE).astype(np.float32)]
    base, ends = prepare(item, 9, StringAugment(), noise)
    assert np.array_equal(prepare(item, 9, StringAugment(**{step: 0.0}), noise)[0], base)
    changed, changed_ends = prepare(item, 9, StringAugment(**{step: 1.0}), noise)
    assert len(changed) == len(base) and changed_ends == ends and not np.array_equal(changed, base)
    if step == "quantize_p":
        assert len(np.unique(changed)) <= 256 and np.abs(changed - base).max() < 0.05
    else:
        assert np.corrcoef(changed, base)[0, 1] > 0.8  # the same sound, coded


def test_lossy_codec_draws_opus_or_mp3_at_a_level_in_range():
    x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(RATE) / RATE)).astype(np.float32)
    rng = np.random.default_rng(1)
    sizes = {lossy_codec(x, rng, StringAugment()).tobytes() for _ in range(6)}
    assert len(sizes) > 1  # not one fixed coding
    with pytest.raises(KeyError):
        codec_round_trip(x, "aac")


def _non_digit_words(confusable_p: float) -> list[str]:
    rng = random.Random(4)
    return [w for _ in range(400) for w in phrase_words(rng, confusable_p) if words_to_tokens([w]) == [OTHER]]


def test_confusable_p_draws_teens_and_tens_as_often_as_asked():
    assert "ninety" in CONFUSABLE_WORDS and "nineteen" in CONFUSABLE_WORDS and "nine" not in CONFUSABLE_WORDS
    every = _non_digit_words(1.0)
    assert every and set(every) <= set(CONFUSABLE_WORDS)
    plain = _non_digit_words(0.0)
    share = np.mean([w in CONFUSABLE_WORDS for w in plain])
    assert share == pytest.approx(len(CONFUSABLE_WORDS) / len(OTHER_WORDS), abs=0.06)
    half = np.mean([w in CONFUSABLE_WORDS for w in _non_digit_words(0.5)])
    assert 0.45 < half < 0.7


def test_espeak_phrases_come_with_their_words():
    items = synthesize_phrases(4, seed=2, engines=("espeak-ng",), workers=2, log=lambda m: None)
    assert len(items) == 4
    for it in items:
        assert it.source == "synth" and it.speaker.startswith("espeak:") and it.ends is None
        assert it.tokens == phrase_tokens(it.words) and len(it.audio) > 0.2 * RATE
        assert np.abs(it.audio).max() > 0.01
    again = synthesize_phrases(4, seed=2, engines=("espeak-ng",), workers=1, log=lambda m: None)
    assert [it.words for it in again] == [it.words for it in items]


@pytest.mark.parametrize("engine", ["flite", "festival"])
def test_flite_and_festival_phrases(engine):
    ok, skipped = available_engines((engine,))
    if not ok:
        pytest.skip(skipped[0])
    items = synthesize_phrases(2, seed=0, engines=(engine,), log=lambda m: None)
    assert len(items) == 2 and all(len(it.audio) > 0.2 * RATE and it.tokens == phrase_tokens(it.words) for it in items)


def test_an_engine_that_is_not_installed_is_skipped_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no program at all on this PATH
    assert shutil.which("espeak-ng") is None
    messages: list[str] = []
    assert synthesize_phrases(3, engines=("espeak-ng", "flite"), log=messages.append) == []
    assert len(messages) == 2 and "espeak-ng is not installed" in messages[0] and "flite" in messages[1]
    with pytest.raises(ValueError, match="unknown speech engine"):
        available_engines(("say",))


def test_festival_without_a_voice_is_skipped_with_a_message(monkeypatch, tmp_path):
    """Debian's festival without its recommended voice package: text2wave exits 0 and writes an empty file."""
    from listener.training import strings

    fake = tmp_path / "text2wave"
    fake.write_text('#!/bin/sh\necho "No default voice found" >&2\n: > "$2"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    strings._festival_speaks.cache_clear()
    try:
        ok, skipped = available_engines(("festival",))
        messages: list[str] = []
        assert synthesize_phrases(2, engines=("festival",), log=messages.append) == []
    finally:
        strings._festival_speaks.cache_clear()
    assert ok == [] and len(skipped) == 1 and "no voice" in skipped[0] and "festvox-kallpc16k" in skipped[0]
    assert messages == skipped  # said once, why, and not as failed renderings


def test_multi_word_entries_are_one_other_token():
    assert phrase_tokens(["double you", "four"]) == [OTHER, 5]
