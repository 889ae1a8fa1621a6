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
DIGIT_LABELS: tuple[str, ...] = (*DIGITS, "unknown", "silence")
REJECT_LABELS: tuple[str, ...] = ("unknown", "silence")


def cache_root() -> Path:
    """Where decoded sets and synthetic speech are cached (``LISTENER_CACHE`` overrides)."""
    return Path(os.environ.get("LISTENER_CACHE", Path.home() / ".cache" / "listener"))


@dataclass
class WaveSet:
    """Decoded audio ``[N, samples]`` with integer labels; ``groups`` name each clip's source."""

    audio: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    groups: list[str] = field(default_factory=list)
    folds: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, mask: np.ndarray) -> WaveSet:
        idx = np.flatnonzero(mask)
        return WaveSet(
            audio=self.audio[idx],
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
        return WaveSet(
            audio=np.concatenate([s.audio for s in sets]),
            labels=np.concatenate([s.labels for s in sets]),
            label_names=names,
            groups=[g for s in sets for g in (s.groups or [""] * len(s))],
            folds=folds,
        )


def _clip_key(clips: Sequence[Clip], length: int, mode: str) -> str:
    h = hashlib.sha1()
    h.update(f"{length}:{mode}:{SAMPLE_RATE}".encode())
    for c in clips:
        st = c.path.stat()
        h.update(f"{c.path}|{c.start_s}|{c.duration_s}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def decode_clips(
    clips: Sequence[Clip],
    length: int = WINDOW,
    mode: str = "center",
    cache: bool = True,
) -> np.ndarray:
    """Decode ``clips`` to ``[N, length]`` float32 at 16 kHz (cached by file list and stat)."""
    if not clips:
        return np.zeros((0, length), dtype=np.float32)
    path = cache_root() / "decoded" / f"{_clip_key(clips, length, mode)}.npy"
    if cache and path.is_file():
        return np.load(path)
    out = np.zeros((len(clips), length), dtype=np.float32)
    for i, c in enumerate(clips):
        audio = load_audio(c.path, SAMPLE_RATE, c.start_s, c.duration_s)
        out[i] = fit_length(audio, length, mode=mode)
    if cache:
        # a temporary name of its own: two builds sharing the cache (digits and sounds in
        # parallel) may decode the same set at once, and must not replace each other's file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".tmp.npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, out)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return out


def waveset(
    clips: Sequence[Clip],
    label_names: Sequence[str],
    group: str | None = None,
    length: int = WINDOW,
    mode: str = "center",
) -> WaveSet:
    """Decode ``clips`` into a WaveSet; labels outside ``label_names`` are an error."""
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


def _sc09_clips(root: Path, sc_root: Path) -> list[Clip]:
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


def build_digits_corpus(plan: DigitsPlan, log=print) -> DigitsCorpus:
    """Assemble the digits corpus (see docs/models/digits.md for the protocol)."""
    from listener.training.datasets import synthetic
    from listener.training.datasets.fsdd import load_fsdd
    from listener.training.datasets.speech_commands import load_speech_commands

    root = Path(plan.data_root)
    sc_root = root / "speech_commands_v0.01_sample"
    labels = DIGIT_LABELS
    fsdd = load_fsdd(root / "fsdd", val_speakers=plan.fsdd_val_speakers)
    sc = load_speech_commands(sc_root, silence_per_split=plan.silence_per_split)
    sc09 = _sc09_clips(root / "sc09_sample", sc_root)

    def part(clips: list[Clip], split: str) -> list[Clip]:
        return [c for c in clips if c.split == split]

    sc_words = [c for c in sc + sc09 if c.label != "silence"]
    sc_sil = [c for c in sc if c.label == "silence"]

    # synthetic speech (espeak-ng), cached WAVs
    voices = synthetic.espeak_voices()
    variants = list(synthetic.DEFAULT_VARIANTS)
    (tr_voices, tr_variants), (te_voices, te_variants) = split_synthetic_voices(voices, variants)
    val_variants = [v for v in plan.synth_val_variants if v not in te_variants]
    tr_variants = [v for v in tr_variants if v not in val_variants]
    tr_variants += [
        v for v in plan.extra_train_variants if v not in te_variants and v not in val_variants and v not in tr_variants
    ]
    synth_dir = cache_root() / "espeak"
    log(f"synthetic: train voices {tr_voices} x {len(tr_variants)} variants; test voices {te_voices} x {te_variants}")
    unknown_words = list(synthetic.UNKNOWN_WORDS)

    def synth(
        words: Sequence[str], voices_: list[str], variants_: list[str], limit: int, seed: int, **train_only
    ) -> list[Clip]:
        return synthetic.synthesize(
            list(words), synth_dir, voices=voices_, variants=variants_, limit=limit, seed=seed, **train_only
        )

    syn_train = synth(
        DIGITS,
        tr_voices,
        tr_variants,
        plan.synth_train_per_word,
        plan.seed,
        speeds=plan.synth_train_speeds,
        accent_p=plan.synth_accent_p,
        contrast=unknown_words,
    )
    syn_train_unk = synth(
        unknown_words,
        tr_voices,
        tr_variants,
        plan.synth_unknown_per_word,
        plan.seed + 1,
        speeds=plan.synth_train_speeds,
    )
    syn_test = synth(DIGITS, te_voices, te_variants, plan.synth_test_per_word, plan.seed + 2)
    syn_test_unk = synth(unknown_words, te_voices, te_variants, plan.synth_test_unknown_per_word, plan.seed + 3)
    syn_train_unk = [Clip(c.path, "unknown", c.speaker, "train") for c in syn_train_unk]
    syn_val: list[Clip] = []
    syn_val_unk: list[Clip] = []
    if val_variants:
        syn_val = synth(DIGITS, tr_voices, val_variants, plan.synth_val_per_word, plan.seed + 4)
        syn_val_unk = synth(unknown_words, tr_voices, val_variants, plan.synth_val_unknown_per_word, plan.seed + 5)
        syn_val_unk = [Clip(c.path, "unknown", c.speaker, "validation") for c in syn_val_unk]
    syn_test_unk = [Clip(c.path, "unknown", c.speaker, "test") for c in syn_test_unk]

    real = [waveset(part(fsdd, "train"), labels, "fsdd"), waveset(part(sc_words, "train"), labels, "speech_commands")]
    train = WaveSet.concat(
        [
            quiet_silence(plan.quiet_silence, labels, plan.seed),
            *(real * max(1, plan.real_repeats)),
            waveset(part(sc_sil, "train"), labels, "noise"),
            waveset(syn_train, labels, "synthetic"),
            waveset(syn_train_unk, labels, "synthetic"),
        ]
    )
    validation = WaveSet.concat(
        [
            waveset(part(fsdd, "validation"), labels, "fsdd"),
            waveset(part(sc_words, "validation"), labels, "speech_commands"),
            waveset(part(sc_sil, "validation"), labels, "noise"),
            waveset(syn_val + syn_val_unk, labels, "synthetic"),
        ]
    )
    sc_test = part(sc_words, "test")
    tests = {
        "fsdd_unseen_speakers": waveset(part(fsdd, "test"), labels, "fsdd"),
        "speech_commands_test_digits": waveset([c for c in sc_test if c.label in DIGITS], labels, "speech_commands"),
        "synthetic_heldout_voices": waveset(syn_test, labels, "synthetic"),
        "negatives": WaveSet.concat(
            [
                waveset([c for c in sc_test if c.label == "unknown"], labels, "speech_commands_unknown"),
                waveset(syn_test_unk, labels, "synthetic_unknown"),
                waveset(part(sc_sil, "test"), labels, "noise"),
            ]
        ),
    }
    desc = {
        "train": _counts(train),
        "validation": _counts(validation),
        "tests": {k: len(v) for k, v in tests.items()},
        "fsdd_train_speakers": sorted({c.speaker for c in part(fsdd, "train") if c.speaker}),
        "synthetic_train_speakers": f"{len(tr_voices)} voices x {len(tr_variants)} variants",
        "real_repeats": f"train counts each real recording (fsdd, speech_commands) x{max(1, plan.real_repeats)}",
        "synthetic_test_speakers": f"{te_voices} x {te_variants}",
        "synthetic_validation_speakers": f"{tr_voices} x {val_variants}" if val_variants else "none",
    }
    log(json.dumps(desc))
    return DigitsCorpus(train, validation, tests, noise_regions(sc_root, "train"), desc)


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
