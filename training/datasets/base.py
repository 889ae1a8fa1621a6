"""Shared records and audio helpers for every dataset loader.

A loader only lists clips (path, label, speaker, split or fold); it never holds
audio in memory. Training code reads each clip with `load_audio` and shapes it
to the model's window with `fit_length`, so every dataset goes through the same
resampling and the same padding rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

DIGITS: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)

SPLITS: tuple[str, ...] = ("train", "validation", "test")

# Extensions soundfile (libsndfile) reads; used when scanning user folders.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3", ".opus")


@dataclass(frozen=True)
class Clip:
    """One labelled piece of audio on disk (a whole file, or a slice of one)."""

    path: Path
    label: str
    speaker: str | None = None  # speaker / source-recording id, for disjoint splits
    split: str | None = None  # "train" | "validation" | "test"
    fold: int | None = None  # ESC / UrbanSound8K fold
    start_s: float = 0.0  # slice of a longer file (background-noise "silence" clips)
    duration_s: float | None = None


class DatasetError(ValueError):
    """A dataset is missing, malformed or unreadable; the message says what and where."""


def sort_clips(clips: list[Clip]) -> list[Clip]:
    """Deterministic order (path, then slice start) so runs are reproducible."""
    return sorted(clips, key=lambda c: (str(c.path), c.start_s, c.label))


def stable_fraction(key: str) -> float:
    """A number in [0, 1) fixed by `key` alone (not by Python's salted hash()).

    Used to split by speaker or file name the same way on every machine.
    """
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def require_dir(root: Path | str, what: str) -> Path:
    """Return `root` as a Path, or raise DatasetError if it is not a directory."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{what}: {path} is not a directory")
    return path


def load_audio(
    path: Path | str,
    sample_rate: int = 16000,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> np.ndarray:
    """Read a file (or a slice of it) as float32 mono in [-1, 1] at `sample_rate`.

    Stereo is averaged to mono; other rates are resampled with soxr (high
    quality), the same resampler the runtime uses, so training sees what the
    listener sees.
    """
    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            start = max(0, int(round(start_s * rate)))
            if start > f.frames:
                raise DatasetError(f"{path}: slice starts at {start_s:.3f} s, past the end ({f.frames / rate:.3f} s)")
            f.seek(start)
            frames = -1 if duration_s is None else max(0, int(round(duration_s * rate)))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except DatasetError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read audio ({exc})") from exc
    audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate and audio.size:
        audio = soxr.resample(audio, rate, sample_rate, quality="HQ")
    audio = np.clip(np.ascontiguousarray(audio, dtype=np.float32), -1.0, 1.0)
    return audio


def loudest_start(audio: np.ndarray, n: int) -> int:
    """Start of the ``n``-sample span of ``audio`` with the most energy (0 when it is not longer)."""
    if audio.shape[0] <= n:
        return 0
    power = np.concatenate(([0.0], np.cumsum(audio.astype(np.float64) ** 2)))
    return int(np.argmax(power[n:] - power[:-n]))


def fit_length(
    audio: np.ndarray,
    n: int,
    mode: str = "center",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Pad with zeros or crop `audio` to exactly `n` samples.

    mode "center": keep / place the middle; "random": random offset (training);
    "energy": keep the n-sample span with the most energy (finds the word in a
    long recording), pad centred when shorter.
    """
    if mode not in ("center", "random", "energy"):
        raise ValueError(f"fit_length: unknown mode {mode!r} (center, random or energy)")
    if n <= 0:
        raise ValueError(f"fit_length: n must be positive, got {n}")
    audio = np.asarray(audio, dtype=np.float32)
    size = audio.shape[0]
    if size == n:
        return audio.copy()
    if mode == "random":
        rng = rng or np.random.default_rng()
    if size > n:
        extra = size - n
        if mode == "center":
            offset = extra // 2
        elif mode == "random":
            offset = int(rng.integers(0, extra + 1))
        else:
            offset = loudest_start(audio, n)
        return audio[offset : offset + n].copy()
    out = np.zeros(n, dtype=np.float32)
    extra = n - size
    offset = int(rng.integers(0, extra + 1)) if mode == "random" else extra // 2
    out[offset : offset + size] = audio
    return out


def hash_split(key: str, val_fraction: float, test_fraction: float) -> str:
    """ "train" | "validation" | "test" from a stable hash of `key` (a speaker or file name)."""
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"split fractions must be >= 0 and leave some training data, got "
            f"validation={val_fraction} test={test_fraction}"
        )
    x = stable_fraction(key)
    if x < test_fraction:
        return "test"
    if x < test_fraction + val_fraction:
        return "validation"
    return "train"


def assign_splits(clips: list[Clip], val_fraction: float = 0.1, test_fraction: float = 0.1) -> list[Clip]:
    """Give every clip a split by a stable hash of its speaker (file name when none).

    All clips of one speaker land in the same split, e.g. whole synthetic voices
    held out. Clips that already have a split keep it, and so do clips with a fold
    (their folds decide: see ``fold_split``).
    """
    out: list[Clip] = []
    for clip in clips:
        if clip.split is not None or clip.fold is not None:
            out.append(clip)
            continue
        key = clip.speaker if clip.speaker is not None else clip.path.name
        out.append(replace(clip, split=hash_split(key, val_fraction, test_fraction)))
    return out


def fold_split(clips: list[Clip], test_fold: int, val_fold: int | None = None) -> list[Clip]:
    """Cross-validation round for fold datasets (ESC, UrbanSound8K).

    Clips of `test_fold` become "test", of `val_fold` "validation" (none when
    None), all others "train". Folds keep source recordings together, so the
    rounds never leak a recording across splits.
    """
    folds = {c.fold for c in clips}
    if None in folds:
        raise DatasetError("fold_split: some clips have no fold")
    for name, fold in (("test_fold", test_fold), ("val_fold", val_fold)):
        if fold is not None and fold not in folds:
            raise DatasetError(f"fold_split: {name}={fold} is not one of the folds {sorted(folds)}")
    if val_fold is not None and val_fold == test_fold:
        raise DatasetError(f"fold_split: validation and test fold are both {test_fold}")
    out = []
    for c in clips:
        split = "test" if c.fold == test_fold else "validation" if c.fold == val_fold else "train"
        out.append(replace(c, split=split))
    return out
