"""Digit strings said in one breath: the training items of a CTC digits model.

- ``Item``: one clip with its words, tokens and (when known) each word's end sample.
- ``synthesize_phrases``: digit strings ("four seven two", "oh" or "zero" for 0), some
  wrapped in non-digit words, some with no digit at all, said by espeak-ng voice variants,
  flite voices and festival. An engine that is not installed is skipped with a message.
- ``concat_strings``: isolated words of one voice (FSDD, Speech Commands, Allison) joined
  with short gaps or cross-faded overlaps; each word's end is known, so training can ask
  the model to fire right after it (``ctc.alignment_mask``).
- ``pad_clip`` / ``augment_clip``: room before and after, a faint noise floor, speed,
  reverberation, band limits, background noise at a random SNR, gain with clipping. Per clip
  and in numpy (lengths vary, and a speed change moves the word ends), unlike the fixed-window
  batch augmentation of ``training.augment``.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.signal as ss
import soundfile as sf
import soxr

from listener.training.datasets.base import DIGITS, load_audio
from listener.training.datasets.synthetic import DEFAULT_VARIANTS, EXTRA_VARIANTS
from listener.training.speech_embedding import EMB_HOP, EMB_SPAN
from listener.training.tokens import OTHER, is_negative_word, word_token

RATE = 16000


@dataclass
class Item:
    """One training clip: audio (16 kHz, [-1, 1]), its words and CTC tokens, where it came from,
    and each word's end sample when known (``None``: the model places the words itself)."""

    audio: np.ndarray
    words: tuple[str, ...]
    tokens: list[int]
    source: str
    speaker: str
    ends: list[float] | None = None


def loud_bounds(audio: np.ndarray, rel_db: float = -35.0) -> tuple[int, int]:
    """(first, last + 1) sample of the 10 ms frames within `rel_db` of the loudest one."""
    hop = RATE // 100
    n = len(audio) // hop
    if n < 2:
        return 0, len(audio)
    energy = (audio[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(1) + 1e-12
    db = 10 * np.log10(energy)
    loud = np.nonzero(db > db.max() + rel_db)[0]
    return int(loud[0] * hop), int(min(len(audio), (loud[-1] + 1) * hop))


def trim(audio: np.ndarray, rel_db: float = -35.0, pad_s: float = 0.02) -> np.ndarray:
    """Cut what is quieter than `rel_db` below the loudest 10 ms frame at both ends."""
    start, end = loud_bounds(audio, rel_db)
    pad = int(pad_s * RATE)
    return audio[max(0, start - pad) : min(len(audio), end + pad)]


def word_item(audio: np.ndarray, word: str, source: str, speaker: str) -> Item:
    """A recording of one word; its end is the end of its loud part."""
    return Item(audio, (word,), [word_token(word)], source, speaker, [float(loud_bounds(audio)[1])])


# ----------------------------------------------------------------------------- texts

# Non-digit words of the synthetic phrases (all pass ``is_negative_word``).
LETTERS = (
    "ay",
    "bee",
    "see",
    "dee",
    "ee",
    "ef",
    "gee",
    "aitch",
    "eye",
    "jay",
    "kay",
    "el",
    "em",
    "en",
    "pee",
    "cue",
    "are",
    "ess",
    "tee",
    "you",
    "vee",
    "double you",
    "ex",
    "why",
    "zee",
    "zed",
)
NUMBER_WORDS = (
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "first",
    "second",
    "third",
    "fifth",
    "ninth",
    "twentieth",
)
NAMES = (
    "jennifer",
    "smith",
    "robert",
    "johnson",
    "maria",
    "garcia",
    "michael",
    "brown",
    "linda",
    "davis",
    "james",
    "wilson",
    "patricia",
    "taylor",
    "david",
    "anderson",
    "susan",
    "thomas",
    "richard",
    "moore",
    "karen",
    "martin",
    "steven",
    "jackson",
    "lisa",
    "white",
    "kevin",
    "harris",
    "nancy",
    "clark",
    "pittsburgh",
    "boston",
    "oakland",
)
COMMANDS = (
    "enter",
    "rubout",
    "erase",
    "repeat",
    "stop",
    "help",
    "start",
    "go",
    "yes",
    "no",
    "left",
    "right",
    "up",
    "down",
    "on",
    "off",
    "hello",
    "number",
    "phone",
    "call",
    "code",
    "area",
    "zip",
    "dollars",
    "minus",
    "point",
    "and",
    "the",
    "is",
    "my",
    "please",
    "thanks",
    "okay",
    "house",
    "bird",
    "happy",
    "january",
    "march",
    "july",
    "august",
    "october",
    "december",
    "monday",
    "friday",
    "tree",
    "free",
    "sticks",
    "heaven",
    "fine",
    "line",
)
OTHER_WORDS: tuple[str, ...] = LETTERS + NUMBER_WORDS + NAMES + COMMANDS
# Teens and tens begin like a digit ("nine" in "nineteen", "ninety"): a model that fires as soon as
# it has heard "nine" logs them; drawing them more often teaches it to wait for the rest of the word.
CONFUSABLE_WORDS: tuple[str, ...] = NUMBER_WORDS[:18]


def digit_words(rng: random.Random, n: int) -> list[str]:
    """`n` random digit words; 0 is "zero" or "oh" at random."""
    words = []
    for _ in range(n):
        d = rng.randrange(10)
        words.append(("oh" if rng.random() < 0.5 else "zero") if d == 0 else DIGITS[d])
    return words


def phrase_words(rng: random.Random, confusable_p: float = 0.0) -> list[str]:
    """One phrase: 15% non-digit words only; else 1-7 digits, 30% of them with 1-3 non-digit words mixed in.
    Each non-digit word is a teen or a ten (``CONFUSABLE_WORDS``) with probability `confusable_p`, else
    any of ``OTHER_WORDS``."""

    def other() -> str:
        return rng.choice(CONFUSABLE_WORDS if rng.random() < confusable_p else OTHER_WORDS)

    r = rng.random()
    if r < 0.15:
        return [other() for _ in range(rng.randint(1, 4))]
    words = digit_words(rng, rng.randint(1, 7))
    if r < 0.45:
        for _ in range(rng.randint(1, 3)):
            words.insert(rng.randint(0, len(words)), other())
    return words


def phrase_tokens(words: Sequence[str]) -> list[int]:
    """One token per entry; a multi-word entry ("double you") is one ``<other>``."""
    return [word_token(w) if " " not in w else OTHER for w in words]


# ----------------------------------------------------------------------------- speech synthesis

ESPEAK_VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# espeak-ng variants of the phrases: the default human-sounding ones and more (never the novelty voices).
# The novelty and near-duplicate variants of synthetic.EXTRA_VARIANTS the phrases leave out.
LEFT_OUT_VARIANTS = frozenset(
    {
        "AnxiousAndy",
        "Gene2",
        "Mr",
        "RicishayMax",
        "RicishayMax2",
        "RicishayMax3",
        "Storm",
        "Tweaky",
        "announcer",
        "boris",
        "croak",
        "edward2",
        "fast",
        "gustave",
        "iven2",
        "iven3",
        "iven4",
        "kaukovalta",
        "klatt5",
        "klatt6",
        "marcelo",
        "michel",
        "miguel",
        "steph2",
        "steph3",
        "whisper",
        "whisperf",
    }
)
ESPEAK_VARIANTS = ("", *DEFAULT_VARIANTS, *(v for v in EXTRA_VARIANTS if v not in LEFT_OUT_VARIANTS))
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# Share of the phrases each engine says (renormalised over the engines that are installed).
ENGINE_SHARE: dict[str, float] = {"espeak-ng": 0.75, "flite": 0.20, "festival": 0.05}
ENGINE_PROGRAM = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}


@lru_cache(maxsize=1)
def _espeak_choices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from listener.training.datasets.synthetic import espeak_variants, espeak_voices

    voices = tuple(v for v in ESPEAK_VOICES if v in set(espeak_voices())) or ("en-us",)
    installed = set(espeak_variants())
    return voices, tuple(v for v in ESPEAK_VARIANTS if v == "" or v in installed)


@lru_cache(maxsize=1)
def _flite_voices() -> tuple[str, ...]:
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout
    listed = set(out.replace("Voices available:", "").split())
    return tuple(v for v in FLITE_VOICES if v in listed)


def available_engines(engines: Sequence[str] = tuple(ENGINE_SHARE)) -> tuple[list[str], list[str]]:
    """(engines that can run here, one message per engine that cannot and why)."""
    ok, skipped = [], []
    for name in engines:
        if name not in ENGINE_PROGRAM:
            raise ValueError(f"unknown speech engine {name!r} (one of {', '.join(ENGINE_PROGRAM)})")
        program = ENGINE_PROGRAM[name]
        if shutil.which(program) is None:
            skipped.append(f"{name}: {program} is not installed (apt install {name}); its phrases are skipped")
        elif name == "flite" and not _flite_voices():
            skipped.append(f"flite: none of the voices {', '.join(FLITE_VOICES)} is installed; skipped")
        elif name == "festival" and not _festival_speaks():
            skipped.append("festival: text2wave has no voice (apt install festvox-kallpc16k); its phrases are skipped")
        else:
            ok.append(name)
    return ok, skipped


@lru_cache(maxsize=1)
def _festival_speaks() -> bool:
    """Whether text2wave can say a word: festival without a voice package exits 0 with an empty file."""
    try:
        return len(say("festival", "one", random.Random(0))[0]) > 0
    except (subprocess.SubprocessError, OSError, ValueError):
        return False


def _run_tts(cmd: list[str], text: str | None = None) -> np.ndarray:
    """Run a command that writes a wav to ``{out}``; the audio at 16 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "x.wav")
        subprocess.run(
            [c.replace("{out}", out) for c in cmd], input=text, capture_output=True, text=True, check=True, timeout=60
        )
        return load_audio(out, RATE)


def say(engine: str, text: str, rng: random.Random) -> tuple[np.ndarray, str]:
    """`text` said by a random voice of `engine`: (audio, speaker id)."""
    if engine == "espeak-ng":
        voices, variants = _espeak_choices()
        voice, variant = rng.choice(voices), rng.choice(variants)
        spec = f"{voice}+{variant}" if variant else voice
        speed, pitch, gap = rng.randint(110, 230), rng.randint(20, 80), rng.choice([0, 0, 1, 3])
        cmd = ["espeak-ng", "-v", spec, "-s", str(speed), "-p", str(pitch), "-g", str(gap), "-w", "{out}", text]
        return _run_tts(cmd), f"espeak:{spec}"
    if engine == "flite":
        voice = rng.choice(_flite_voices())
        stretch, f0 = rng.uniform(0.75, 1.3), rng.uniform(85, 220)
        cmd = [
            "flite",
            "-voice",
            voice,
            "--setf",
            f"duration_stretch={stretch:.2f}",
            "--setf",
            f"int_f0_target_mean={f0:.0f}",
            "-t",
            text,
            "-o",
            "{out}",
        ]
        return _run_tts(cmd), f"flite:{voice}"
    return _run_tts(["text2wave", "-o", "{out}"], text=text), "festival"


def _phrase(i: int, seed: int, engines: Sequence[str], confusable_p: float) -> Item | None:
    rng = random.Random(seed * 1_000_003 + i)
    words = phrase_words(rng, confusable_p)
    shares = [ENGINE_SHARE[e] for e in engines]
    engine = rng.choices(list(engines), shares)[0]
    try:
        audio, speaker = say(engine, " ".join(words), rng)
    except (subprocess.SubprocessError, OSError, ValueError):
        return None  # a rendering that fails is skipped (counted by the caller)
    return Item(trim(audio), tuple(words), phrase_tokens(words), "synth", speaker)


def synthesize_phrases(
    n: int,
    seed: int = 0,
    engines: Sequence[str] = tuple(ENGINE_SHARE),
    workers: int = 2,
    log: Callable[[str], None] = print,
    confusable_p: float = 0.0,
) -> list[Item]:
    """`n` phrases said in one breath (phrase `i` is the same on every run with the same engines and
    `confusable_p`, see ``phrase_words``).

    Engines not installed are skipped with a message; with none at all, no phrases."""
    ok, skipped = available_engines(engines)
    for message in skipped:
        log(message)
    if not ok or n <= 0:
        return []
    with ThreadPoolExecutor(max(1, workers)) as pool:  # the work is in subprocesses
        items = list(pool.map(lambda i: _phrase(i, seed, ok, confusable_p), range(n)))
    done = [it for it in items if it is not None]
    if len(done) < n:
        log(f"synthetic phrases: {n - len(done)} of {n} renderings failed and were skipped")
    return done


# ----------------------------------------------------------------------------- joined strings


def word_bank(items: Sequence[Item]) -> dict[str, list[Item]]:
    """Single-word items, trimmed, by voice: one group per speaker, except Speech Commands
    (a few words per speaker) whose words share one group."""
    bank: dict[str, list[Item]] = {}
    for it in items:
        if len(it.tokens) == 1 and (it.tokens[0] != OTHER or is_negative_word(it.words[0])):
            key = "sc" if it.source == "speech_commands" else f"{it.source}:{it.speaker}"
            bank.setdefault(key, []).append(replace(it, audio=trim(it.audio), ends=None))
    return bank


def join(clips: Sequence[np.ndarray], gaps: Sequence[float]) -> tuple[np.ndarray, list[float]]:
    """Join clips with gaps (s); a negative gap overlaps two clips with a linear cross-fade.
    Returns the audio and the end sample of each clip's loud part in it."""
    out = clips[0].astype(np.float32)
    ends = [float(loud_bounds(clips[0])[1])]
    for clip, gap in zip(clips[1:], gaps):
        n = int(gap * RATE)
        if n >= 0:
            out = np.concatenate([out, np.zeros(n, np.float32), clip])
            start = len(out) - len(clip)
        else:
            n = min(-n, len(out) // 2, len(clip) // 2)
            fade = np.linspace(1.0, 0.0, n, dtype=np.float32)
            mixed = out[len(out) - n :] * fade + clip[:n] * (1 - fade)
            start = len(out) - n
            out = np.concatenate([out[: len(out) - n], mixed, clip[n:]])
        ends.append(float(start + loud_bounds(clip)[1]))
    return out.astype(np.float32), ends


def concat_strings(
    bank: dict[str, list[Item]], n: int, seed: int = 0, max_words: int = 6, digit_p: float = 0.85
) -> list[Item]:
    """`n` strings of 1..`max_words` words of one voice (each a digit with probability `digit_p`),
    gaps from -80 ms (overlap) to 350 ms."""
    rng = random.Random(seed)
    groups = [g for g, clips in bank.items() if any(c.tokens[0] != OTHER for c in clips)]
    if not groups or n <= 0:
        return []
    weights = [sum(c.tokens[0] != OTHER for c in bank[g]) for g in groups]
    others = [c for clips in bank.values() for c in clips if c.tokens[0] == OTHER]
    items = []
    for _ in range(n):
        g = rng.choices(groups, weights)[0]
        digits = [c for c in bank[g] if c.tokens[0] != OTHER]
        own_other = [c for c in bank[g] if c.tokens[0] == OTHER] or others or digits
        chosen = [
            rng.choice(digits) if rng.random() < digit_p else rng.choice(own_other)
            for _ in range(rng.randint(1, max_words))
        ]
        audio, ends = join([c.audio for c in chosen], [rng.uniform(-0.08, 0.35) for _ in chosen[1:]])
        words = tuple(c.words[0] for c in chosen)
        items.append(Item(audio, words, [c.tokens[0] for c in chosen], "concat", g, ends))
    return items


# ----------------------------------------------------------------------------- padding, augmentation


@dataclass
class StringAugment:
    """Per-copy probabilities and ranges of the waveform augmentations."""

    speed_p: float = 0.5
    speed: tuple[float, float] = (0.88, 1.12)
    reverb_p: float = 0.3
    rt60: tuple[float, float] = (0.15, 0.7)
    band_p: float = 0.3
    noise_p: float = 0.75
    snr_db: tuple[float, float] = (0.0, 25.0)
    gain_p: float = 0.8
    gain_db: tuple[float, float] = (-30.0, 0.0)  # peak level after the gain, dBFS
    lead_s: tuple[float, float] = (0.3, 1.4)  # room before the words (long enough for frame 0 to see them end)
    trail_s: tuple[float, float] = (0.3, 1.0)
    floor_db: tuple[float, float] = (-75.0, -50.0)  # white noise floor: no stretch is digital silence
    quantize_p: float = 0.0  # an 8-bit recording (linear or mu-law), the last step: see ``quantize_8bit``
    codec_p: float = 0.0  # a lossy codec (Opus or MP3, a voice note), after the 8 bits: see ``lossy_codec``
    opus_levels: tuple[float, float] = (0.9, 0.99)  # libsndfile compression levels drawn for Opus (~29-8 kbps)
    mp3_levels: tuple[float, float] = (0.5, 0.9)  # and for MP3 (~38-13 kbps)


def min_samples(embeddings: int) -> int:
    """Samples that give `embeddings` backbone vectors."""
    return EMB_SPAN + (embeddings - 1) * EMB_HOP


def pad_clip(
    audio: np.ndarray, rng: np.random.Generator, cfg: StringAugment, min_embeddings: int = 18
) -> tuple[np.ndarray, int]:
    """Random room before and after, at least `min_embeddings` long, plus the noise floor:
    (audio, samples put in front)."""
    a = int(rng.uniform(*cfg.lead_s) * RATE)
    b = int(rng.uniform(*cfg.trail_s) * RATE)
    short = min_samples(min_embeddings) - (len(audio) + a + b)
    if short > 0:
        extra = int(rng.uniform(0, short))
        a, b = a + extra, b + short - extra
    out = np.concatenate([np.zeros(a, np.float32), audio.astype(np.float32), np.zeros(b, np.float32)])
    level = 10 ** (rng.uniform(*cfg.floor_db) / 20)
    return (out + rng.standard_normal(len(out)).astype(np.float32) * level).astype(np.float32), a


def reverb(audio: np.ndarray, rng: np.random.Generator, rt60: tuple[float, float]) -> np.ndarray:
    """Convolve with a synthetic room response (exponentially decaying noise after a direct path)."""
    t60 = rng.uniform(*rt60)
    t = np.arange(int(t60 * RATE)) / RATE
    rir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / t60)
    rir[0] = rng.uniform(1.0, 4.0)
    wet = ss.fftconvolve(audio, rir)[: len(audio)]
    return (wet / (np.abs(rir).sum() ** 0.5 + 1e-9)).astype(np.float32)


def band_limit(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Telephone / cheap microphone: low-pass 2.8-4 kHz and/or high-pass 150-400 Hz."""
    r = rng.random()
    if r < 0.7:
        audio = ss.sosfilt(ss.butter(4, rng.uniform(2800, 4000), "lowpass", fs=RATE, output="sos"), audio)
    if r > 0.3:
        audio = ss.sosfilt(ss.butter(2, rng.uniform(150, 400), "highpass", fs=RATE, output="sos"), audio)
    return np.asarray(audio, dtype=np.float32)


def add_noise(
    audio: np.ndarray, rng: np.random.Generator, bank: Sequence[np.ndarray], snr_db: tuple[float, float]
) -> np.ndarray:
    """A random stretch of a random noise recording at a random SNR (speech power: the loud frames)."""
    noise = bank[rng.integers(len(bank))]
    if len(noise) < len(audio):
        noise = np.tile(noise, len(audio) // len(noise) + 1)
    start = rng.integers(0, len(noise) - len(audio) + 1)
    noise = noise[start : start + len(audio)]
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    power = (frames.astype(np.float64) ** 2).mean(1)
    speech = power[power > 0.1 * power.max()].mean() if power.size and power.max() > 0 else 1e-6
    gain = np.sqrt(speech / ((noise.astype(np.float64) ** 2).mean() + 1e-12) / 10 ** (rng.uniform(*snr_db) / 10))
    return (audio + gain * noise).astype(np.float32)


def eight_bit(audio: np.ndarray, mu_law: bool = False) -> np.ndarray:
    """The clip as an 8-bit recorder keeps it (256 linear levels: FSDD has a speaker recorded so)
    or as a phone line does (8-bit G.711 mu-law). Quiet stretches become steps or digital zeros,
    which a 16-bit microphone never gives."""
    x = np.clip(audio.astype(np.float64), -1.0, 1.0)
    if not mu_law:
        return (np.round(x * 128) / 128).astype(np.float32)
    mu = 255.0
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127.5) / 127.5
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


CODECS: dict[str, tuple[str, str, float]] = {
    # name: (libsndfile format, subtype, compression level); what each keeps of 16 kHz speech is in
    # ``evaluate_strings.score_codecs``' kbps (voice notes and calls are coded at about 10-30 kbps)
    "opus_0.9": ("OGG", "OPUS", 0.9),
    "opus_0.95": ("OGG", "OPUS", 0.95),
    "opus_0.99": ("OGG", "OPUS", 0.99),
    "vorbis_0.8": ("OGG", "VORBIS", 0.8),
    "mp3_0.5": ("MP3", "MPEG_LAYER_III", 0.5),
}


def lossy_round_trip(
    audio: np.ndarray, fmt: str, subtype: str, level: float, rate: int = RATE
) -> tuple[np.ndarray, int]:
    """``audio`` encoded by libsndfile (in memory; ``level`` its compression level, 0 best .. 1 smallest) and
    decoded again, the same length; and the coded size in bytes. What a voice note or an upload keeps."""
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype, compression_level=level)
    size = buf.tell()
    buf.seek(0)
    decoded, _ = sf.read(buf, dtype="float32")
    out = np.zeros(len(audio), np.float32)  # the decoder's length can differ by a frame
    out[: min(len(audio), len(decoded))] = decoded[: len(audio)]
    return out, size


def codec_round_trip(audio: np.ndarray, codec: str, rate: int = RATE) -> tuple[np.ndarray, int]:
    """:func:`lossy_round_trip` with one of ``CODECS``."""
    return lossy_round_trip(audio, *CODECS[codec], rate=rate)


def lossy_codec(audio: np.ndarray, rng: np.random.Generator, cfg: StringAugment) -> np.ndarray:
    """The augmentation's draw: Opus or MP3, half of the time each, at a compression level from
    ``cfg.opus_levels`` / ``cfg.mp3_levels``."""
    if rng.random() < 0.5:
        return lossy_round_trip(audio, "OGG", "OPUS", float(rng.uniform(*cfg.opus_levels)))[0]
    return lossy_round_trip(audio, "MP3", "MPEG_LAYER_III", float(rng.uniform(*cfg.mp3_levels)))[0]


def quantize_8bit(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`eight_bit`, linear or mu-law half of the time each (the augmentation's draw)."""
    return eight_bit(audio, mu_law=rng.random() >= 0.5)


def augment_clip(
    audio: np.ndarray, rng: np.random.Generator, cfg: StringAugment, noise: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """One random draw of speed, reverb, band limit, noise and gain (clipped to [-1, 1]), then 8 bits.
    A speed change changes the length: times scale by ``len(out) / len(audio)``."""
    if rng.random() < cfg.speed_p:
        audio = soxr.resample(audio, RATE, int(RATE / rng.uniform(*cfg.speed))).astype(np.float32)
    if rng.random() < cfg.reverb_p:
        audio = reverb(audio, rng, cfg.rt60)
    if rng.random() < cfg.band_p:
        audio = band_limit(audio, rng)
    if len(noise) and rng.random() < cfg.noise_p:
        audio = add_noise(audio, rng, noise, cfg.snr_db)
    if rng.random() < cfg.gain_p:
        audio = audio * (10 ** (rng.uniform(*cfg.gain_db) / 20) / (np.abs(audio).max() + 1e-9))
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    if cfg.quantize_p and rng.random() < cfg.quantize_p:  # no draw at 0: the other steps' draws stay as they were
        audio = quantize_8bit(audio, rng)
    if cfg.codec_p and rng.random() < cfg.codec_p:  # likewise
        audio = lossy_codec(audio, rng, cfg)
    return audio


def prepare(
    item: Item, seed: int, cfg: StringAugment, noise: Sequence[np.ndarray] = (), clean: bool = False
) -> tuple[np.ndarray, list[float] | None]:
    """One training copy of an item: padded, augmented unless `clean` (the same `seed`, the same
    copy); its word ends moved with the padding and the speed change."""
    rng = np.random.default_rng(seed)
    x, offset = pad_clip(item.audio, rng, cfg)
    n = len(x)
    if not clean:
        x = augment_clip(x, rng, cfg, noise)
    ends = None if item.ends is None else [(offset + e) * len(x) / n for e in item.ends]
    return x, ends
