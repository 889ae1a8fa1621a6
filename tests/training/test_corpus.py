"""The digits corpus keeps every test speaker out of training, whatever the plan adds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from listener.training.corpus import DIGIT_LABELS, DigitsPlan, build_digits_corpus
from listener.training.datasets import synthetic
from tests.fakes import make_fsdd, make_speech_commands, needs_espeak


def _plan(root: Path, **kw) -> DigitsPlan:
    return DigitsPlan(
        data_root=root,
        synth_train_per_word=2,
        synth_unknown_per_word=1,
        synth_test_per_word=1,
        synth_test_unknown_per_word=1,
        silence_per_split=(4, 2, 2),
        quiet_silence=3,
        real_repeats=1,
        **kw,
    )


@needs_espeak
def test_digits_corpus_is_speaker_disjoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    make_fsdd(root / "fsdd")
    make_speech_commands(root / "speech_commands_v0.01_sample")
    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(synthetic, "UNKNOWN_WORDS", ("tree", "bed"))  # a short list: seconds of espeak-ng
    quiet = lambda msg: None  # noqa: E731

    default = build_digits_corpus(_plan(root), log=quiet)
    assert set(default.description["fsdd_train_speakers"]) == {"george", "jackson"}
    val_groups = set(default.validation.groups)
    assert "fsdd" in val_groups  # yweweler validates
    assert len(default.tests["fsdd_unseen_speakers"]) == 40  # nicolas + theo, 10 digits x 2 takes
    # test clips keep their own length (0.05 s at 8 kHz -> 800 samples), as `listener analyze` reads files
    assert {len(a) for a in default.tests["fsdd_unseen_speakers"].audio} == {800}
    assert default.train.audio.shape[1] == 16000  # training clips are shaped to the window
    assert set(default.tests["speech_commands_test_digits"].labels.tolist()) <= set(range(10))

    # the validation speaker moved into training, extra variants added (one of them a held-out test variant)
    moved = build_digits_corpus(_plan(root, fsdd_val_speakers=(), extra_train_variants=("m3", "Alex", "f1")), log=quiet)
    assert set(moved.description["fsdd_train_speakers"]) == {"george", "jackson", "yweweler"}
    assert "fsdd" not in set(moved.validation.groups)
    assert len(moved.tests["fsdd_unseen_speakers"]) == 40  # the test speakers never move
    assert moved.description["synthetic_test_speakers"] == default.description["synthetic_test_speakers"]
    # m3 and f1 are held-out test variants: only Alex joins the 12 default training variants
    assert default.description["synthetic_train_speakers"].endswith("x 12 variants")
    assert moved.description["synthetic_train_speakers"].endswith("x 13 variants")
    assert len(moved.train) == len(default.train) + 20  # yweweler's 10 digits x 2 takes
    assert moved.train.audio.shape[1] == 16000 and np.isfinite(moved.train.audio).all()
    assert moved.train.label_names == DIGIT_LABELS

    # synthetic validation speakers: taken out of training (m2), never a test variant (f1)
    held = build_digits_corpus(
        _plan(root, synth_val_variants=("m2", "f1"), synth_val_per_word=1, synth_val_unknown_per_word=1), log=quiet
    )
    assert held.description["synthetic_train_speakers"].endswith("x 11 variants")
    assert held.description["synthetic_validation_speakers"].endswith("x ['m2']")
    synth_val = held.validation.subset(np.array([g == "synthetic" for g in held.validation.groups]))
    assert sorted(synth_val.labels.tolist()) == [*range(10), 10, 10]  # each digit once, two non-digit words
    assert len(held.validation) == len(default.validation) + 12

    # accents and speaking rates change the synthetic TRAINING speech only
    accented = build_digits_corpus(_plan(root, synth_accent_p=1.0, synth_train_speeds=(220,)), log=quiet)
    for name, test in default.tests.items():
        assert len(accented.tests[name].audio) == len(test.audio), name
        assert all(np.array_equal(a, b) for a, b in zip(accented.tests[name].audio, test.audio)), name
    assert np.array_equal(accented.validation.audio, default.validation.audio)

    def synthetic_train(corpus) -> np.ndarray:
        return corpus.train.subset(np.array([g == "synthetic" for g in corpus.train.groups])).audio

    assert synthetic_train(accented).shape == synthetic_train(default).shape
    assert not np.array_equal(synthetic_train(accented), synthetic_train(default))


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
    ws = corpus.waveset(clips, corpus.DIGIT_LABELS, "fsdd", length=None)
    both = corpus.WaveSet.concat([ws, corpus.waveset(clips[:1], corpus.DIGIT_LABELS, "fsdd")])
    assert isinstance(both.audio, list) and [len(a) for a in both.audio] == [800, 4800, 800, 16000]
    assert [len(a) for a in both.subset(np.array([False, True, False, True])).audio] == [4800, 16000]
