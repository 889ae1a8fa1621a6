"""espeak-ng synthetic speech: voices, caching, accents, bad parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.datasets.base import (
    DIGITS,
    DatasetError,
    load_audio,
)
from tests.fakes import needs_espeak


@needs_espeak
def test_espeak_voices_are_english_gmw() -> None:
    from listener.training.datasets.synthetic import espeak_variants, espeak_voices

    voices = espeak_voices()
    assert "en-us" in voices and "en-gb-scotland" in voices
    assert all(v.startswith("en") for v in voices)
    assert {"m3", "f2", "klatt"} <= set(espeak_variants())


@needs_espeak
def test_synthesize_caches_and_labels(tmp_path: Path) -> None:
    from listener.training.datasets.synthetic import synthesize

    kw = dict(voices=["en-us", "en-gb-scotland"], variants=["m3", "f2"], speeds=(150,), pitches=(40, 60))
    clips = synthesize(["seven", "tree"], tmp_path, progress=False, **kw)
    assert len(clips) == 2 * 2 * 2 * 2
    assert {c.label for c in clips} == {"seven", "tree"}
    assert {c.speaker for c in clips} == {"en-us+m3", "en-us+f2", "en-gb-scotland+m3", "en-gb-scotland+f2"}
    assert len({c.path for c in clips}) == 16 and all(c.path.is_file() for c in clips)
    info = sf.info(str(clips[0].path))
    assert info.samplerate == 16000 and info.channels == 1
    audio = load_audio(clips[0].path)
    assert 0.2 < audio.shape[0] / 16000 < 1.5 and np.abs(audio).max() > 0.05
    # different parameters -> different audio
    a, b = (load_audio(c.path) for c in clips[:2])
    assert a.shape != b.shape or not np.allclose(a, b)
    mtimes = {c.path: c.path.stat().st_mtime_ns for c in clips}
    again = synthesize(["seven", "tree"], tmp_path, progress=False, **kw)
    assert again == clips and all(c.path.stat().st_mtime_ns == mtimes[c.path] for c in again)
    limited = synthesize(["seven"], tmp_path, progress=False, limit=3, seed=1, **kw)
    assert len(limited) == 3 and limited == synthesize(["seven"], tmp_path, progress=False, limit=3, seed=1, **kw)


@needs_espeak
def test_synthesize_speaks_accented_renditions(tmp_path: Path) -> None:
    from listener.training.datasets.synthetic import phonemes, synthesize

    assert phonemes("six", "en-us") == "s'Iks"
    kw = dict(voices=["en-us"], variants=["m3", "f2"], speeds=(150,), pitches=(40, 60), progress=False)
    plain = synthesize(["six"], tmp_path, **kw)
    assert synthesize(["six"], tmp_path, accent_p=0.0, **kw) == plain  # off: the very same files
    accented = synthesize(["six"], tmp_path, accent_p=1.0, contrast=["sick"], **kw)
    assert {c.label for c in accented} == {"six"} and {c.speaker for c in accented} == {c.speaker for c in plain}
    assert not {c.path for c in accented} & {c.path for c in plain}
    for a, p in zip(accented, plain):  # same voice, variant and pitch; another pronunciation
        x, y = load_audio(a.path), load_audio(p.path)
        assert 0.1 < x.shape[0] / 16000 < 1.5 and np.abs(x).max() > 0.05
        assert x.shape != y.shape or not np.allclose(x, y)
    assert synthesize(["six"], tmp_path, accent_p=1.0, contrast=["sick"], **kw) == accented  # seeded, cached
    with pytest.raises(DatasetError, match="accent_p"):
        synthesize(["six"], tmp_path, accent_p=1.5, **kw)


@needs_espeak
def test_synthesize_rejects_bad_parameters(tmp_path: Path) -> None:
    from listener.training.datasets.synthetic import synthesize

    with pytest.raises(DatasetError, match="variant"):
        synthesize(["one"], tmp_path, voices=["en-us"], variants=["nosuchvariant"], progress=False)
    with pytest.raises(DatasetError, match="voice"):
        synthesize(["one"], tmp_path, voices=["fr-fr"], progress=False)
    with pytest.raises(DatasetError, match="speed"):
        synthesize(["one"], tmp_path, voices=["en-us"], speeds=(20,), progress=False)


def test_unknown_words_exclude_digits_and_homophones() -> None:
    from listener.training.datasets.synthetic import UNKNOWN_WORDS

    assert len(UNKNOWN_WORDS) >= 100 and len(set(UNKNOWN_WORDS)) == len(UNKNOWN_WORDS)
    banned = set(DIGITS) | {"for", "fore", "to", "too", "won", "ate", "oh"}
    assert not banned & set(UNKNOWN_WORDS)
    assert {"tree", "marvin", "sheila", "wow", "learn"} <= set(UNKNOWN_WORDS)
