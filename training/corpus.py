"""Turns loader clip lists into in-memory waveform sets for training and evaluation.

Loaders only list clips; decoding and resampling every file each epoch would
dominate training time on a small CPU, so a set is decoded once (soxr, 16 kHz),
shaped to its window and cached as ``.npy`` under ``~/.cache/listener/``.
The digits corpus is assembled here with its speaker-disjoint splits and its
separate test sets (real held-out speakers, held-out synthetic voices,
non-digit words and noise).
"""

from __future__ import annotations

import hashlib
import json
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
DIGIT_LABELS: tuple[str, ...] = (*DIGITS, "unknown", "silence")
REJECT_LABELS: tuple[str, ...] = ("unknown", "silence")


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


@dataclass(frozen=True)
class DigitsPlan:
    """What goes into the digits corpus (sizes chosen to train in minutes on 2 CPU cores)."""

    data_root: Path
    synth_train_per_word: int = 240  # synthetic takes per digit in training
    synth_unknown_per_word: int = 14  # synthetic takes per non-digit word in training
    synth_test_per_word: int = 40  # held-out-voice takes per digit in the synthetic test
    synth_test_unknown_per_word: int = 3
    silence_per_split: tuple[int, int, int] = (400, 60, 80)
    quiet_silence: int = 100  # near-silent windows (room tone) added to training "silence"
    real_repeats: int = 2  # real recordings appear this many times per epoch (differently augmented)
    fsdd_val_speakers: tuple[str, ...] = ("yweweler",)  # () puts every non-test FSDD speaker in training
    # espeak-ng variants added to the synthetic TRAINING speakers only (the held-out test variants stay fixed)
    extra_train_variants: tuple[str, ...] = ()
    # espeak-ng variants spoken by the training voices for VALIDATION only (never trained on): enough
    # non-digit words to pick the threshold, which ~25 Speech Commands validation words cannot
    synth_val_variants: tuple[str, ...] = ()
    synth_val_per_word: int = 20
    synth_val_unknown_per_word: int = 2
    # fraction of the synthetic TRAINING digits spoken with a non-native pronunciation (accents.py);
    # non-digit words, validation and test speech keep espeak-ng's own
    synth_accent_p: float = 0.0
    # espeak-ng speaking rates (words per minute) of the synthetic TRAINING speech
    synth_train_speeds: tuple[int, ...] = (120, 150, 180)
    seed: int = 0


@dataclass
class DigitsCorpus:
    """Training, validation and the separate test sets of the digits model."""

    train: WaveSet
    validation: WaveSet
    tests: dict[str, WaveSet]
    noise: list[np.ndarray]  # training-region background noise for augmentation
    description: dict[str, object]


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


def quiet_silence(n: int, label_names: Sequence[str], seed: int) -> WaveSet:
    """Near-silent windows: white or pink-ish noise at -70..-40 dBFS, labelled silence."""
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal((n, WINDOW)).astype(np.float32)
    pink = np.cumsum(audio, axis=1)
    pink -= pink.mean(axis=1, keepdims=True)
    pink /= pink.std(axis=1, keepdims=True) + 1e-9
    use_pink = rng.random(n) < 0.5
    audio[use_pink] = pink[use_pink]
    level = 10.0 ** (rng.uniform(-70, -40, n) / 20.0)
    audio = (audio / (audio.std(axis=1, keepdims=True) + 1e-9)) * level[:, None]
    labels = np.full(n, tuple(label_names).index("silence"), dtype=np.int64)
    return WaveSet(audio.astype(np.float32), labels, tuple(label_names), ["quiet"] * n)


def noise_regions(sc_root: Path, split: str = "train") -> list[np.ndarray]:
    """The background-noise files cut to one split's time region (80/10/10, like the silence clips)."""
    from listener.training.datasets.speech_commands import background_noise_files

    lo, hi = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}[split]
    out = []
    for path in background_noise_files(sc_root):
        audio = load_audio(path, SAMPLE_RATE)
        n = audio.shape[0]
        out.append(audio[int(n * lo) : int(n * hi)].copy())
    return out


def split_synthetic_voices(
    voices: Sequence[str], variants: Sequence[str]
) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """Hold out whole synthetic voices AND variants: test speakers share neither with training."""
    voices = sorted(voices)
    variants = sorted(variants)
    test_voices = [v for v in voices if v in ("en-029", "en-gb-scotland")] or voices[-1:]
    train_voices = [v for v in voices if v not in test_voices] or voices
    test_variants = variants[::5]
    train_variants = [v for v in variants if v not in test_variants] or variants
    return (train_voices, train_variants), (test_voices, test_variants)


@dataclass(frozen=True)
class SyntheticSpeakers:
    """espeak-ng voices x variants per split: no test voice or variant is trained on or validated with."""

    train_voices: list[str]
    train_variants: list[str]
    validation_variants: list[str]  # spoken by the training voices
    test_voices: list[str]
    test_variants: list[str]


def synthetic_speakers(plan: DigitsPlan) -> SyntheticSpeakers:
    """Split espeak-ng's English voices and the default variants as ``plan`` asks."""
    from listener.training.datasets import synthetic

    (tr_voices, tr_variants), (te_voices, te_variants) = split_synthetic_voices(
        synthetic.espeak_voices(), list(synthetic.DEFAULT_VARIANTS)
    )
    val_variants = [v for v in plan.synth_val_variants if v not in te_variants]
    tr_variants = [v for v in tr_variants if v not in val_variants]
    tr_variants += [
        v for v in plan.extra_train_variants if v not in te_variants and v not in val_variants and v not in tr_variants
    ]
    return SyntheticSpeakers(tr_voices, tr_variants, val_variants, te_voices, te_variants)


def synthetic_clips(plan: DigitsPlan, speakers: SyntheticSpeakers, split: str) -> tuple[list[Clip], list[Clip]]:
    """One split's espeak-ng speech (cached WAVs): the digits, and non-digit words labelled ``unknown``.

    Each split and word list has a seed of its own, so a split is the same whichever others are made.
    """
    from listener.training.datasets import synthetic

    unknown_words = list(synthetic.UNKNOWN_WORDS)

    def synth(words: Sequence[str], voices: list[str], variants: list[str], limit: int, seed: int, **kw) -> list[Clip]:
        return synthetic.synthesize(
            list(words), cache_root() / "espeak", voices=voices, variants=variants, limit=limit, seed=seed, **kw
        )

    if split == "train":
        speeds = {"speeds": plan.synth_train_speeds}
        voices, variants = speakers.train_voices, speakers.train_variants
        digits = synth(
            DIGITS,
            voices,
            variants,
            plan.synth_train_per_word,
            plan.seed,
            **speeds,
            accent_p=plan.synth_accent_p,
            contrast=unknown_words,
        )
        words = synth(unknown_words, voices, variants, plan.synth_unknown_per_word, plan.seed + 1, **speeds)
    elif split == "validation":
        if not speakers.validation_variants:
            return [], []
        voices, variants = speakers.train_voices, speakers.validation_variants
        digits = synth(DIGITS, voices, variants, plan.synth_val_per_word, plan.seed + 4)
        words = synth(unknown_words, voices, variants, plan.synth_val_unknown_per_word, plan.seed + 5)
    elif split == "test":
        voices, variants = speakers.test_voices, speakers.test_variants
        digits = synth(DIGITS, voices, variants, plan.synth_test_per_word, plan.seed + 2)
        words = synth(unknown_words, voices, variants, plan.synth_test_unknown_per_word, plan.seed + 3)
    else:
        raise ValueError(f"unknown split {split!r}")
    return digits, [Clip(c.path, "unknown", c.speaker, split) for c in words]


@dataclass
class RealClips:
    """The recorded clips of the digits corpus, each with its split."""

    fsdd: list[Clip]
    words: list[Clip]  # Speech Commands digits and other words (``unknown``), sc09 digits
    noise: list[Clip]  # Speech Commands background-noise slices (``silence``)

    def part(self, source: str, split: str) -> list[Clip]:
        return [c for c in getattr(self, source) if c.split == split]


def real_clips(plan: DigitsPlan) -> RealClips:
    """FSDD, the Speech Commands sample and sc09, split as ``plan`` asks."""
    from listener.training.datasets.fsdd import load_fsdd
    from listener.training.datasets.speech_commands import load_speech_commands

    root = Path(plan.data_root)
    sc_root = root / SPEECH_COMMANDS
    sc = load_speech_commands(sc_root, silence_per_split=plan.silence_per_split)
    return RealClips(
        fsdd=load_fsdd(root / "fsdd", val_speakers=plan.fsdd_val_speakers),
        words=[c for c in sc + sc09_clips(root / "sc09_sample", sc_root) if c.label != "silence"],
        noise=[c for c in sc if c.label == "silence"],
    )


def _train_set(plan: DigitsPlan, real: RealClips, speakers: SyntheticSpeakers) -> WaveSet:
    labels = DIGIT_LABELS
    digits, words = synthetic_clips(plan, speakers, "train")
    recorded = [
        waveset(real.part("fsdd", "train"), labels, "fsdd"),
        waveset(real.part("words", "train"), labels, "speech_commands"),
    ]
    return WaveSet.concat(
        [
            quiet_silence(plan.quiet_silence, labels, plan.seed),
            *(recorded * max(1, plan.real_repeats)),
            waveset(real.part("noise", "train"), labels, "noise"),
            waveset(digits, labels, "synthetic"),
            waveset(words, labels, "synthetic"),
        ]
    )


def _validation_set(plan: DigitsPlan, real: RealClips, speakers: SyntheticSpeakers) -> WaveSet:
    labels = DIGIT_LABELS
    digits, words = synthetic_clips(plan, speakers, "validation")
    return WaveSet.concat(
        [
            waveset(real.part("fsdd", "validation"), labels, "fsdd"),
            waveset(real.part("words", "validation"), labels, "speech_commands"),
            waveset(real.part("noise", "validation"), labels, "noise"),
            waveset(digits + words, labels, "synthetic"),
        ]
    )


def digits_test_sets(
    plan: DigitsPlan, real: RealClips | None = None, speakers: SyntheticSpeakers | None = None
) -> dict[str, WaveSet]:
    """The digits test sets, each clip at its own length (as ``listener analyze`` reads the files):
    unseen FSDD speakers, the Speech Commands testing list, held-out synthetic voices, negatives."""
    real = real or real_clips(plan)
    digits, words = synthetic_clips(plan, speakers or synthetic_speakers(plan), "test")
    labels = DIGIT_LABELS
    sc_test = real.part("words", "test")

    def natural(clips: list[Clip], group: str) -> WaveSet:
        return waveset(clips, labels, group, length=None)

    return {
        "fsdd_unseen_speakers": natural(real.part("fsdd", "test"), "fsdd"),
        "speech_commands_test_digits": natural([c for c in sc_test if c.label in DIGITS], "speech_commands"),
        "synthetic_heldout_voices": natural(digits, "synthetic"),
        "negatives": WaveSet.concat(
            [
                natural([c for c in sc_test if c.label == "unknown"], "speech_commands_unknown"),
                natural(words, "synthetic_unknown"),
                natural(real.part("noise", "test"), "noise"),
            ]
        ),
    }


def build_digits_corpus(plan: DigitsPlan, log=print) -> DigitsCorpus:
    """Assemble the digits corpus (see docs/models/digits.md for the protocol)."""
    real = real_clips(plan)
    sp = synthetic_speakers(plan)
    log(
        f"synthetic: train voices {sp.train_voices} x {len(sp.train_variants)} variants; "
        f"test voices {sp.test_voices} x {sp.test_variants}"
    )
    train = _train_set(plan, real, sp)
    validation = _validation_set(plan, real, sp)
    tests = digits_test_sets(plan, real, sp)
    desc = {
        "train": _counts(train),
        "validation": _counts(validation),
        "tests": {k: len(v) for k, v in tests.items()},
        "fsdd_train_speakers": sorted({c.speaker for c in real.part("fsdd", "train") if c.speaker}),
        "synthetic_train_speakers": f"{len(sp.train_voices)} voices x {len(sp.train_variants)} variants",
        "real_repeats": f"train counts each real recording (fsdd, speech_commands) x{max(1, plan.real_repeats)}",
        "synthetic_test_speakers": f"{sp.test_voices} x {sp.test_variants}",
        "synthetic_validation_speakers": f"{sp.train_voices} x {sp.validation_variants}"
        if sp.validation_variants
        else "none",
    }
    log(json.dumps(desc))
    noise = noise_regions(Path(plan.data_root) / SPEECH_COMMANDS, "train")
    return DigitsCorpus(train, validation, tests, noise, desc)


def _counts(ws: WaveSet) -> dict[str, int]:
    out: dict[str, int] = {}
    for g in ws.groups:
        out[g] = out.get(g, 0) + 1
    out["total"] = len(ws)
    return out


# ----------------------------------------------------------------------------- sounds

SOUND_CLIP_SECONDS = 5.0


def build_esc_set(data_root: Path, subset: str = "esc10") -> WaveSet:
    """All ESC clips as 5 s waveforms at 16 kHz with their official folds."""
    from listener.training.datasets.esc import load_esc

    clips = load_esc(Path(data_root) / subset, subset=subset)
    labels = tuple(sorted({c.label for c in clips}))
    return waveset(clips, labels, None, length=int(SOUND_CLIP_SECONDS * SAMPLE_RATE), mode="center")
