"""Synthetic speech with espeak-ng: many voices saying any list of words, cached on disk.

Real digit data has few speakers (FSDD: 6) and the `unknown` class needs many
words nobody recorded for us. espeak-ng's English voices (accents) times its
voice variants (m1..m7, f1..f5, klatt..) times speed and pitch give hundreds of
distinct renditions per word. They are robotic, so they complement real
recordings rather than replace them.

Each rendition is written once to `<cache>/<word>/<key>.wav` (16 kHz mono
PCM-16), key = hash of every parameter, and reused on later calls. The speaker
id of a clip is `voice+variant`, so callers can hold out whole synthetic voices
(see `base.assign_splits`).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from listener.training.datasets.accents import accent, bare
from listener.training.datasets.base import Clip, DatasetError, sort_clips

DEFAULT_CACHE = Path("~/.cache/listener/espeak")
SAMPLE_RATE = 16000

# Human-sounding variants (the novelty ones - robots, croak, whisper - are left out;
# pass them explicitly if you want them).
DEFAULT_VARIANTS: tuple[str, ...] = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
)

# More espeak-ng variants for training speakers: every variant that still sounds like a
# person (the robotic/demonic ones are left out). The corpus keeps the held-out test
# variants out of training, whatever this list holds.
EXTRA_VARIANTS: tuple[str, ...] = (
    "Alex",
    "Alicia",
    "Andrea",
    "Andy",
    "Annie",
    "AnxiousAndy",
    "Denis",
    "Diogo",
    "Gene",
    "Gene2",
    "Henrique",
    "Hugo",
    "Jacky",
    "Lee",
    "Marco",
    "Mario",
    "Michael",
    "Mike",
    "Mr",
    "Nguyen",
    "RicishayMax",
    "RicishayMax2",
    "RicishayMax3",
    "Storm",
    "Tweaky",
    "adam",
    "anika",
    "announcer",
    "antonio",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "croak",
    "david",
    "ed",
    "edward",
    "edward2",
    "fast",
    "grandma",
    "grandpa",
    "gustave",
    "iven",
    "iven2",
    "iven3",
    "iven4",
    "john",
    "kaukovalta",
    "klatt4",
    "klatt5",
    "klatt6",
    "linda",
    "m8",
    "marcelo",
    "max",
    "michel",
    "miguel",
    "norbert",
    "pablo",
    "paul",
    "pedro",
    "quincy",
    "rob",
    "robert",
    "sandro",
    "shelby",
    "steph",
    "steph2",
    "steph3",
    "travis",
    "victor",
    "whisper",
    "whisperf",
    "zac",
)

SPEECH_COMMANDS_OTHER_WORDS: tuple[str, ...] = (
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
    # v0.02 additions
    "backward",
    "forward",
    "follow",
    "learn",
    "visual",
)

# Common English words that are not digits, with deliberate near-misses (tree,
# free, heaven, fix, wine, hive, gate, none, hero...). Homophones of digits
# ("for", "fore", "to", "too", "won", "ate", "oh") are excluded: a model cannot
# and should not tell them apart from the digit.
UNKNOWN_WORDS: tuple[str, ...] = SPEECH_COMMANDS_OTHER_WORDS + (
    "free",
    "heaven",
    "eleven",
    "ten",
    "twenty",
    "hundred",
    "fix",
    "sticks",
    "sick",
    "sin",
    "seen",
    "wine",
    "line",
    "fine",
    "mine",
    "hive",
    "dive",
    "drive",
    "gate",
    "late",
    "great",
    "weight",
    "none",
    "done",
    "sun",
    "run",
    "when",
    "hero",
    "zebra",
    "shoe",
    "through",
    "true",
    "tool",
    "tooth",
    "door",
    "floor",
    "more",
    "sore",
    "your",
    "night",
    "light",
    "kite",
    "white",
    "bite",
    "fight",
    "even",
    "oven",
    "given",
    "kevin",
    "hello",
    "okay",
    "please",
    "thanks",
    "sorry",
    "help",
    "water",
    "music",
    "open",
    "close",
    "start",
    "pause",
    "play",
    "next",
    "back",
    "today",
    "tomorrow",
    "morning",
    "evening",
    "money",
    "coffee",
    "table",
    "window",
    "phone",
    "computer",
    "garden",
    "yellow",
    "green",
    "blue",
    "red",
    "black",
    "apple",
    "banana",
    "orange",
    "lemon",
    "bread",
    "cheese",
    "milk",
    "tea",
    "city",
    "street",
    "river",
    "mountain",
    "winter",
    "summer",
    "ready",
    "maybe",
)


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DatasetError("espeak-ng not found on PATH; install it (apt install espeak-ng)")
    return exe


@lru_cache(maxsize=1)
def espeak_version() -> str:
    """The espeak-ng version line (part of the cache key: another version sounds different)."""
    out = subprocess.run([_espeak(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _voice_table(arg: str) -> list[list[str]]:
    out = subprocess.run([_espeak(), f"--voices={arg}"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise DatasetError(f"espeak-ng --voices={arg} failed: {out.stderr.strip()}")
    return [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]


@lru_cache(maxsize=1)
def espeak_voices() -> list[str]:
    """English voices of espeak-ng's own (gmw/) set, by language name: en-us, en-gb-scotland...

    mbrola (mb/) voices are skipped: they need separately installed voice data.
    """
    voices: list[str] = []
    for cols in _voice_table("en"):
        if len(cols) >= 5 and cols[4].startswith("gmw/") and cols[1].startswith("en"):
            voices.append(cols[1])
    return sorted(dict.fromkeys(voices))


@lru_cache(maxsize=1)
def espeak_variants() -> list[str]:
    """Every installed voice variant name (m3, f2, klatt...)."""
    names: list[str] = []
    for cols in _voice_table("variant"):
        for col in cols:
            if col.startswith("!v/"):
                names.append(col[3:])
    return sorted(dict.fromkeys(names))


def _slug(word: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", word.lower()).strip("_")
    return slug or "word"


def _trim(audio: np.ndarray, rate: int, pad_s: float = 0.05, threshold: float = 0.01) -> np.ndarray:
    """Cut espeak's leading/trailing silence, keeping `pad_s` around the voice."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio
    pad = int(pad_s * rate)
    return audio[max(0, loud[0] - pad) : loud[-1] + pad + 1]


@lru_cache(maxsize=4096)
def phonemes(word: str, voice: str) -> str:
    """How `voice` pronounces `word`, in espeak-ng's phoneme mnemonics (``-x``): six -> s'Iks."""
    out = subprocess.run([_espeak(), "-q", "-x", "-v", voice, word], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise DatasetError(f"espeak-ng -x failed for {word!r} with {voice}: {out.stderr.strip()}")
    return " ".join(out.stdout.split())


def _render(word: str, voice: str, variant: str, speed: int, pitch: int, path: Path) -> None:
    """Run espeak-ng once and store the result as 16 kHz PCM-16 at `path` (atomically).

    `word` is the text spoken: a word, or ``[[phonemes]]`` for an accented rendition.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, raw_name = tempfile.mkstemp(suffix=".raw.wav", dir=path.parent)
    os.close(fd)
    tmp_name = raw_name.replace(".raw.wav", ".tmp.wav")
    try:
        spec = f"{voice}+{variant}" if variant else voice
        out = subprocess.run(
            [_espeak(), "-v", spec, "-s", str(speed), "-p", str(pitch), "-w", raw_name, word],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise DatasetError(f"espeak-ng failed for {word!r} with {spec} -s {speed} -p {pitch}: {out.stderr.strip()}")
        audio, rate = sf.read(raw_name, dtype="float32", always_2d=False)
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        if rate != SAMPLE_RATE:
            audio = soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ")
        audio = _trim(np.clip(audio, -1.0, 1.0), SAMPLE_RATE)
        sf.write(tmp_name, audio, SAMPLE_RATE, subtype="PCM_16")
        os.replace(tmp_name, path)
    finally:
        for name in (raw_name, tmp_name):
            if os.path.exists(name):
                os.remove(name)


def cache_key(word: str, voice: str, variant: str, speed: int, pitch: int) -> str:
    """Hash of everything that changes the audio (espeak version included)."""
    text = "|".join([espeak_version(), word, voice, variant, str(speed), str(pitch), str(SAMPLE_RATE)])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def synthesize(
    words: list[str] | tuple[str, ...],
    out_dir: Path | str | None = None,
    voices: list[str] | tuple[str, ...] | None = None,
    variants: list[str] | tuple[str, ...] | None = None,
    speeds: tuple[int, ...] | list[int] = (120, 150, 180),
    pitches: tuple[int, ...] | list[int] = (35, 50, 70),
    limit: int | None = None,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
    accent_p: float = 0.0,
    contrast: list[str] | tuple[str, ...] = (),
) -> list[Clip]:
    """Speak every word with every voice x variant x speed x pitch; return the clips.

    `out_dir` is the cache (default `~/.cache/listener/espeak`); files already
    there are reused. `limit` caps the renditions per word: a seeded random
    sample of the combinations, so classes stay balanced and reruns hit the
    cache. Clip label = the word, speaker = "voice+variant".

    `accent_p` is the fraction of renditions spoken with a non-native
    pronunciation (`accents.accent`); an accented rendition never sounds like
    another of `words` or of `contrast` as the same voice says it (the words the
    model must tell apart), and a word no rule changes stays as it is.
    """
    cache = Path(out_dir if out_dir is not None else DEFAULT_CACHE).expanduser()
    voices, variants = _check_request(words, voices, variants, speeds, pitches, limit, accent_p)
    jobs = _renditions(words, cache, voices, variants, speeds, pitches, limit, seed, accent_p, contrast)
    _render_missing([j[1:] for j in jobs if not j[-1].is_file()], workers, progress)
    clips = [
        Clip(path=path, label=word, speaker=f"{voice}+{variant}" if variant else voice)
        for word, _text, voice, variant, _speed, _pitch, path in jobs
    ]
    return sort_clips(clips)


def _check_request(words, voices, variants, speeds, pitches, limit, accent_p) -> tuple[list[str], list[str]]:
    """The voices and variants to use; a DatasetError for anything espeak-ng cannot do."""
    if not words:
        raise DatasetError("synthesize: no words given")
    available_voices = espeak_voices()
    voices = list(voices) if voices is not None else available_voices
    unknown_voices = [v for v in voices if v not in available_voices]
    if unknown_voices:
        raise DatasetError(
            f"synthesize: espeak-ng has no English voice {unknown_voices}; available: {available_voices}"
        )
    available_variants = espeak_variants()
    variants = list(variants) if variants is not None else list(DEFAULT_VARIANTS)
    unknown_variants = [v for v in variants if v and v not in available_variants]
    if unknown_variants:
        raise DatasetError(f"synthesize: espeak-ng has no voice variant {unknown_variants}")
    if not voices or not variants or not speeds or not pitches:
        raise DatasetError("synthesize: voices, variants, speeds and pitches must not be empty")
    if limit is not None and limit < 1:
        raise DatasetError(f"synthesize: limit must be >= 1, got {limit}")
    if not 0.0 <= accent_p <= 1.0:
        raise DatasetError(f"synthesize: accent_p must be in [0, 1], got {accent_p}")
    for s in speeds:
        if not 80 <= s <= 450:
            raise DatasetError(f"synthesize: speed {s} words/min is outside espeak-ng's 80..450")
    for p in pitches:
        if not 0 <= p <= 99:
            raise DatasetError(f"synthesize: pitch {p} is outside espeak-ng's 0..99")
    return voices, variants


def _renditions(
    words, cache: Path, voices, variants, speeds, pitches, limit, seed: int, accent_p: float, contrast
) -> list[tuple[str, str, str, str, int, int, Path]]:
    """(label, text spoken, voice, variant, speed, pitch, cached file) for every rendition asked for."""
    combos = list(itertools.product(voices, variants, speeds, pitches))
    rng = np.random.default_rng(seed)
    accent_rng = np.random.default_rng([seed, 1])  # its own stream: accent_p=0 leaves the plain draws as they were
    words = list(dict.fromkeys(words))
    others = list(dict.fromkeys([*words, *contrast]))
    jobs = []
    for word in words:
        chosen = combos
        if limit is not None and limit < len(combos):
            idx = np.sort(rng.choice(len(combos), size=limit, replace=False))
            chosen = [combos[i] for i in idx]
        for voice, variant, speed, pitch in chosen:
            text = word
            if accent_p > 0 and accent_rng.random() < accent_p:
                forbidden = {bare(phonemes(w, voice)) for w in others if w != word}
                accented = accent(phonemes(word, voice), accent_rng, forbidden=forbidden)
                text = f"[[{accented}]]" if accented else word
            path = cache / _slug(word) / f"{cache_key(text, voice, variant, speed, pitch)}.wav"
            jobs.append((word, text, voice, variant, speed, pitch, path))
    return jobs


def _render_missing(todo: list[tuple], workers: int, progress: bool) -> None:
    """Run espeak-ng for the renditions not in the cache yet, ``workers`` at a time."""
    if not todo:
        return
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="espeak-ng", unit="clip")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_render, *j) for j in todo]
        try:
            for fut in futures:
                fut.result()
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
