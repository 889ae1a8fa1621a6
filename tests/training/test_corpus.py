"""Decoded clip sets: cached once, safe when two builds decode the same set, clips at their own length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from listener.training.datasets.base import DIGITS
from tests.fakes import make_fsdd


def test_decode_cache_survives_a_concurrent_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two builds sharing the cache decode the same set at once (digits and sounds run in parallel).

    The second build's whole decode is replayed between the first one's save and rename:
    both must return the audio and leave exactly one cache file, no temporary behind.
    """
    from listener.training import corpus
    from listener.training.datasets.fsdd import load_fsdd

    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    clips = load_fsdd(make_fsdd(tmp_path / "fsdd"))[:6]
    real_save = np.save
    inner: list[np.ndarray] = []
    replayed = []

    def save_then_other_build(file, arr, *a, **kw) -> None:
        real_save(file, arr, *a, **kw)
        if not replayed:  # the other build runs to completion right here, once
            replayed.append(True)
            inner.append(corpus.decode_clips(clips))

    monkeypatch.setattr(corpus.np, "save", save_then_other_build)
    outer = corpus.decode_clips(clips)
    assert inner and np.array_equal(inner[0], outer) and outer.shape == (6, corpus.WINDOW)
    files = sorted(p.name for p in (tmp_path / "cache" / "decoded").iterdir())
    assert len(files) == 1 and files[0].endswith(".npy") and ".tmp" not in files[0]
    monkeypatch.setattr(corpus.np, "save", real_save)
    assert np.array_equal(corpus.decode_clips(clips), outer)  # read back from the cache


def test_clips_at_their_own_length_are_cached_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from listener.training import corpus
    from listener.training.datasets.base import load_audio
    from listener.training.datasets.fsdd import load_fsdd
    from tests.fakes import write

    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    clips = load_fsdd(make_fsdd(tmp_path / "fsdd"))[:3]
    write(clips[1].path, seconds=0.3, rate=8000)  # one longer clip
    first = corpus.decode_clips(clips, length=None)
    assert [len(a) for a in first] == [800, 4800, 800]
    assert all(np.array_equal(a, load_audio(c.path)) for a, c in zip(first, clips))
    files = list((tmp_path / "cache" / "decoded").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    again = corpus.decode_clips(clips, length=None)  # from the cache
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    ws = corpus.waveset(clips, DIGITS, "fsdd", length=None)
    both = corpus.WaveSet.concat([ws, corpus.waveset(clips[:1], DIGITS, "fsdd")])
    assert isinstance(both.audio, list) and [len(a) for a in both.audio] == [800, 4800, 800, 16000]
    assert [len(a) for a in both.subset(np.array([False, True, False, True])).audio] == [4800, 16000]
