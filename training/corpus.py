"""Turns loader clip lists into in-memory waveform sets for training and evaluation.

Loaders only list clips; decoding and resampling every file each epoch would
dominate training time on a small CPU, so a set is decoded once (soxr, 16 kHz),
shaped to its window and cached as ``.npy`` under ``~/.cache/listener/``.
The digits model's own items (strings, word times) come from ``ctc_corpus``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from listener.training.datasets.base import DIGITS, Clip, DatasetError, fit_length, load_audio

SAMPLE_RATE = 16000
WINDOW = 16000
SPEECH_COMMANDS = "speech_commands_v0.01_sample"  # the folder under the data root


def cache_root() -> Path:
    """Where decoded sets and synthetic speech are cached (``LISTENER_CACHE`` overrides)."""
    return Path(os.environ.get("LISTENER_CACHE", Path.home() / ".cache" / "listener"))


@dataclass
class WaveSet:
    """Decoded audio with integer labels; ``groups`` name each clip's source.

    ``audio`` is ``[N, samples]`` (every clip shaped to the window: training), or a
    list of N clips at their own length (evaluation: as ``listener analyze`` reads
    the files).
    """

    audio: np.ndarray | list[np.ndarray]
    labels: np.ndarray
    label_names: tuple[str, ...]
    groups: list[str] = field(default_factory=list)
    folds: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, mask: np.ndarray) -> WaveSet:
        idx = np.flatnonzero(mask)
        return WaveSet(
            audio=[self.audio[i] for i in idx] if isinstance(self.audio, list) else self.audio[idx],
            labels=self.labels[idx],
            label_names=self.label_names,
            groups=[self.groups[i] for i in idx] if self.groups else [],
            folds=None if self.folds is None else self.folds[idx],
        )

    @staticmethod
    def concat(sets: Sequence[WaveSet]) -> WaveSet:
        sets = [s for s in sets if len(s)]
        if not sets:
            raise DatasetError("no clips to concatenate")
        names = sets[0].label_names
        if any(s.label_names != names for s in sets):
            raise DatasetError("cannot concatenate sets with different label lists")
        folds = None
        if all(s.folds is not None for s in sets):
            folds = np.concatenate([s.folds for s in sets])  # type: ignore[misc]
        ragged = any(isinstance(s.audio, list) for s in sets)
        return WaveSet(
            audio=[a for s in sets for a in s.audio] if ragged else np.concatenate([s.audio for s in sets]),
            labels=np.concatenate([s.labels for s in sets]),
            label_names=names,
            groups=[g for s in sets for g in (s.groups or [""] * len(s))],
            folds=folds,
        )


def _clip_key(clips: Sequence[Clip], length: int | None, mode: str) -> str:
    h = hashlib.sha1()
    h.update(f"{length}:{mode}:{SAMPLE_RATE}".encode())
    for c in clips:
        st = c.path.stat()
        h.update(f"{c.path}|{c.start_s}|{c.duration_s}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def decode_clips(
    clips: Sequence[Clip],
    length: int | None = WINDOW,
    mode: str = "center",
    cache: bool = True,
) -> np.ndarray | list[np.ndarray]:
    """Decode ``clips`` at 16 kHz (cached by file list and stat): ``[N, length]`` float32 shaped by
    ``fit_length``, or with ``length=None`` a list of the clips at their own length."""
    if not clips:
        return np.zeros((0, length), dtype=np.float32) if length is not None else []
    path = cache_root() / "decoded" / f"{_clip_key(clips, length, mode)}.{'npy' if length else 'npz'}"
    if cache and path.is_file():
        return _load(path)

    def load(c: Clip) -> np.ndarray:
        return load_audio(c.path, SAMPLE_RATE, c.start_s, c.duration_s)

    if length is None:
        out: np.ndarray | list[np.ndarray] = [load(c) for c in clips]
    else:
        out = np.zeros((len(clips), length), dtype=np.float32)
        for i, c in enumerate(clips):
            out[i] = fit_length(load(c), length, mode=mode)
    if cache:
        _save(path, out)
    return out


def _load(path: Path) -> np.ndarray | list[np.ndarray]:
    if path.suffix == ".npz":  # clips at their own length
        with np.load(path) as data:
            return np.split(data["samples"], np.cumsum(data["sizes"])[:-1])
    return np.load(path)


def _save(path: Path, audio: np.ndarray | list[np.ndarray]) -> None:
    # a temporary name of its own: two builds sharing the cache (digits and sounds in
    # parallel) may decode the same set at once, and must not replace each other's file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".tmp" + path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(audio, list):
                np.savez(f, samples=np.concatenate(audio), sizes=np.array([len(a) for a in audio]))
            else:
                np.save(f, audio)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def waveset(
    clips: Sequence[Clip],
    label_names: Sequence[str],
    group: str | None = None,
    length: int | None = WINDOW,
    mode: str = "center",
) -> WaveSet:
    """Decode ``clips`` into a WaveSet (``length=None``: each clip at its own length);
    labels outside ``label_names`` are an error."""
    names = tuple(label_names)
    index = {n: i for i, n in enumerate(names)}
    bad = sorted({c.label for c in clips if c.label not in index})
    if bad:
        raise DatasetError(f"labels {bad} are not in the model's labels {list(names)}")
    labels = np.array([index[c.label] for c in clips], dtype=np.int64)
    groups = [group or (c.speaker or "") for c in clips]
    folds = None
    if clips and all(c.fold is not None for c in clips):
        folds = np.array([c.fold for c in clips], dtype=np.int64)
    return WaveSet(decode_clips(clips, length, mode), labels, names, groups, folds)


# ----------------------------------------------------------------------------- digits


def sc09_clips(root: Path, sc_root: Path) -> list[Clip]:
    """The ``sc09_sample/<digit>/`` clips, split by Speech Commands' own lists."""
    if not root.is_dir():
        return []
    val = (
        set((sc_root / "validation_list.txt").read_text().split())
        if (sc_root / "validation_list.txt").is_file()
        else set()
    )
    test = (
        set((sc_root / "testing_list.txt").read_text().split()) if (sc_root / "testing_list.txt").is_file() else set()
    )
    clips = []
    for wav in sorted(root.glob("*/*.wav")):
        word = wav.parent.name
        if word not in DIGITS:
            continue
        rel = f"{word}/{wav.name}"
        split = "validation" if rel in val else "test" if rel in test else "train"
        clips.append(Clip(path=wav, label=word, speaker=wav.stem.split("_nohash_")[0], split=split))
    return clips


# ----------------------------------------------------------------------------- sounds

SOUND_CLIP_SECONDS = 5.0


def build_esc_set(data_root: Path, subset: str = "esc10") -> WaveSet:
    """All ESC clips as 5 s waveforms at 16 kHz with their official folds."""
    from listener.training.datasets.esc import load_esc

    clips = load_esc(Path(data_root) / subset, subset=subset)
    labels = tuple(sorted({c.label for c in clips}))
    return waveset(clips, labels, None, length=int(SOUND_CLIP_SECONDS * SAMPLE_RATE), mode="center")
