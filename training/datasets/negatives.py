"""The ``other`` class of the sounds model: audio that is none of its classes, from sources
whose licences allow it, split by *source* into a training pool and a held-out pool.

Every source is a :class:`Source` with its kind, licence and origin (the model card's
credits table is :func:`credits_table`). A source is ``train`` (feeds ``other``),
``heldout`` (only ever measures false alarms: recordings, microphones and sound designers
the model never heard) or ``seen-corpus`` (other speakers of a training corpus, reported
apart), never two of them.

Sources: corpora in the data folder (AN4, Speech Commands words and background noises,
FSDD), Debian packages of sounds (game and desktop sound effects, voice prompts, music
rendered from MIDI with the FluidR3 General MIDI soundfont), text to speech (flite,
espeak-ng), and generated noises, tones, clicks, hum and their mixtures. A source whose
files are not there (a Debian package not installed, a corpus not downloaded) is skipped
with a message; the pool is built from the rest. ESC-50's other classes and UrbanSound8K
are CC BY-NC: never a source here.

File names that could hold one of the ten ESC-10 classes (fire, saw, rain, waves, clock,
dog, chicken, baby, sneeze, helicopter...) are dropped from every source (``EXCLUDE``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr

from listener.training.corpus import SAMPLE_RATE, SPEECH_COMMANDS, cache_root
from listener.training.datasets.base import DatasetError, load_audio

MAX_CLIP_S = 4.0  # long files are cut into pieces of at most this length
MIN_CLIP_S = 0.3
SPLITS = ("train", "heldout", "seen-corpus")
POOL_FORMAT = 2  # in the pool cache's key: raised whenever the same files give other clips

# Anything that might be one of the ten classes (or close enough to poison "other").
EXCLUDE = re.compile(
    r"dog|bark|woof|howl|rain|storm|thunder|sea|wave|ocean|surf|beach|shore|baby|infant|cry|"
    r"clock|tick|sneez|achoo|heli|chopper|rotor|chainsaw|saw|rooster|chicken|cock|hen\b|farm|"
    r"fire|flame|burn|crackl|lava|furnace|smoke|fir(sht|xpl)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Roots:
    """Where the sources live: the data folder (corpora) and the root of the system's files
    (``/``: Debian packages under ``usr/share``; a test points both at a temporary tree)."""

    data: Path
    system: Path = Path("/")

    def share(self, *parts: str) -> Path:
        return self.system.joinpath("usr", "share", *parts)


Loader = Callable[[Roots, np.random.Generator], Iterator[np.ndarray]]


@dataclass(frozen=True)
class Source:
    """One source of ``other`` audio: what it is, its licence, and how to read it."""

    name: str
    kind: str  # speech | music | sfx | noise | synthetic
    split: str  # SPLITS
    licence: str
    origin: str  # where it comes from (package, dataset, generator)
    load: Loader
    limit: int = 400  # clips kept at most
    needs: Callable[[Roots], list[Path]] = field(default=lambda roots: [])  # paths that must exist


# ----------------------------------------------------------------------------- audio helpers


def pieces(x: np.ndarray, rng: np.random.Generator, max_pieces: int = 3) -> Iterator[np.ndarray]:
    """A long recording -> up to ``max_pieces`` random non-overlapping pieces of <= MAX_CLIP_S."""
    n = int(MAX_CLIP_S * SAMPLE_RATE)
    if len(x) < MIN_CLIP_S * SAMPLE_RATE:
        return
    if len(x) <= n:
        yield x
        return
    starts = np.arange(0, len(x) - n + 1, n)
    for s in rng.permutation(starts)[:max_pieces]:
        yield x[s : s + n]


def files(root: Path, patterns: tuple[str, ...] = ("*.wav", "*.ogg", "*.oga", "*.flac", "*.sph")) -> list[Path]:
    """Audio files under ``root`` whose path names none of the classes (none when it is missing)."""
    if not root.is_dir():
        return []
    out: list[Path] = []
    for p in patterns:
        out.extend(root.rglob(p))
    return sorted(f for f in out if not EXCLUDE.search(str(f.relative_to(root))))


def distinct(paths: list[Path]) -> list[Path]:
    """``paths`` with each file's content once (the first name in the list keeps it): packages
    install one sound under several names (the freedesktop theme links four names to one warning
    sound; games copy a sound into several folders), and a pool that held it four times would
    train, and count false alarms, four times over. An unreadable file is kept (the loader skips it)."""
    seen: set[str] = set()
    out: list[Path] = []
    for path in paths:
        try:
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
        except OSError:
            out.append(path)
            continue
        if digest not in seen:
            seen.add(digest)
            out.append(path)
    return out


def from_files(find: Callable[[Roots], list[Path]], max_pieces: int = 1) -> Loader:
    """A loader of files (in random order, each content once), each cut into pieces; unreadable
    files are skipped."""

    def load(roots: Roots, rng: np.random.Generator) -> Iterator[np.ndarray]:
        paths = distinct(find(roots))
        for i in rng.permutation(len(paths)):
            try:
                x = load_audio(paths[i], SAMPLE_RATE)
            except DatasetError:
                continue
            yield from pieces(x, rng, max_pieces)

    return load


def _folder(*parts: str) -> Callable[[Roots], list[Path]]:
    return lambda roots: [roots.share(*parts)]


# ----------------------------------------------------------------------------- corpora in the data folder

SC_NOISE_TRAIN = ("white_noise.wav", "pink_noise.wav", "doing_the_dishes.wav", "exercise_bike.wav")
SC_NOISE_HELDOUT = ("running_tap.wav", "dude_miaowing.wav")


def _sc_noise_dir(roots: Roots) -> Path:
    return roots.data / SPEECH_COMMANDS / "_background_noise_"


def _sc_noise(names: tuple[str, ...], per_file: int) -> Loader:
    def load(roots: Roots, rng: np.random.Generator) -> Iterator[np.ndarray]:
        for name in names:
            path = _sc_noise_dir(roots) / name
            if path.is_file():
                yield from pieces(load_audio(path, SAMPLE_RATE), rng, per_file)

    return load


def _speech_commands_words(roots: Roots) -> list[Path]:
    root = roots.data / SPEECH_COMMANDS
    held: set[str] = set()
    for name in ("validation_list.txt", "testing_list.txt"):
        if (root / name).is_file():
            held |= set((root / name).read_text().split())
    paths = [p for p in sorted(root.glob("*/*.wav")) if not p.parent.name.startswith("_")]
    return [p for p in paths if f"{p.parent.name}/{p.name}" not in held]


# ----------------------------------------------------------------------------- Debian packages

FREEDOOM_WADS = ("freedoom1.wad", "freedoom2.wad")
SOUNDFONT = ("sounds", "sf2", "FluidR3_GM.sf2")


def _wads(roots: Roots) -> list[Path]:
    return [roots.share("games", "doom", w) for w in FREEDOOM_WADS if roots.share("games", "doom", w).is_file()]


def wad_lumps(path: Path, prefix: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every lump of a Doom WAD whose name starts with ``prefix``."""
    data = path.read_bytes()
    _, n, ofs = struct.unpack("<4sii", data[:12])
    for i in range(n):
        pos, size, raw = struct.unpack("<ii8s", data[ofs + 16 * i : ofs + 16 * i + 16])
        name = raw.rstrip(b"\0").decode("ascii", "replace")
        if name.startswith(prefix):
            yield name, data[pos : pos + size]


def dmx_sound(lump: bytes) -> np.ndarray | None:
    """A Doom DMX sound lump (8-bit unsigned PCM) -> float32 at SAMPLE_RATE."""
    if len(lump) < 8:
        return None
    fmt, rate, count = struct.unpack("<HHI", lump[:8])
    if fmt != 3 or count <= 32:
        return None
    pcm = np.frombuffer(lump[8 + 16 : 8 + count - 16], dtype=np.uint8).astype(np.float32)
    x = (pcm - 128.0) / 128.0
    return soxr.resample(x, rate, SAMPLE_RATE).astype(np.float32)


def _freedoom_sfx(roots: Roots, rng: np.random.Generator) -> Iterator[np.ndarray]:
    seen = set()
    for wad in _wads(roots):
        for name, lump in wad_lumps(wad, "DS"):
            if name in seen or EXCLUDE.search(name[2:]) or name.startswith("DSSAW"):
                continue
            seen.add(name)
            x = dmx_sound(lump)
            if x is not None:
                yield from pieces(x, rng, 1)


def render_midi(midi: bytes, seconds: float, soundfont: Path, gain: float = 0.6) -> np.ndarray:
    """fluidsynth renders a MIDI file with a General MIDI soundfont -> mono float32 at SAMPLE_RATE."""
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "m.mid", Path(tmp) / "m.wav"
        mid.write_bytes(midi)
        cmd = ["fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(SAMPLE_RATE), "-F", str(wav), str(soundfont)]
        subprocess.run([*cmd, str(mid)], check=True, capture_output=True, timeout=120)
        x = load_audio(wav, SAMPLE_RATE)
    return x[: int(seconds * SAMPLE_RATE)]


def _freedoom_music(roots: Roots, rng: np.random.Generator) -> Iterator[np.ndarray]:
    songs = [lump for wad in _wads(roots) for _, lump in wad_lumps(wad, "D_") if lump[:4] == b"MThd"]
    for i in rng.permutation(len(songs)):
        try:
            x = render_midi(songs[i], 40.0, roots.share(*SOUNDFONT))
        except (subprocess.SubprocessError, DatasetError):
            continue
        yield from pieces(x[SAMPLE_RATE * 2 :], rng, 3)


# General MIDI programs used for random tunes: pianos, organs, guitars, strings, brass, reeds, synths.
GM_PROGRAMS = (
    list(range(0, 8))
    + list(range(16, 24))
    + list(range(24, 32))
    + list(range(40, 52))
    + list(range(56, 72))
    + list(range(72, 80))
    + list(range(80, 96))
)


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def random_midi(rng: np.random.Generator, seconds: float = 12.0) -> bytes:
    """A type-0 MIDI file: a random melody + chords (+ drums half the time) in a random key and tempo."""
    tpq = 480
    bpm = int(rng.integers(70, 160))
    beat_s = 60.0 / bpm
    key = int(rng.integers(48, 60))
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    events: list[tuple[int, bytes]] = [(0, b"\xff\x51\x03" + int(beat_s * 1e6).to_bytes(3, "big"))]
    lead, pad = int(rng.choice(GM_PROGRAMS)), int(rng.choice(GM_PROGRAMS))
    events += [(0, bytes([0xC0, lead])), (0, bytes([0xC1, pad]))]
    n_beats = int(seconds / beat_s)
    t = 0
    degree = 0
    while t < n_beats * tpq:
        dur = int(rng.choice([tpq // 2, tpq, tpq, 2 * tpq]))
        degree = int(np.clip(degree + rng.integers(-2, 3), -3, 10))
        note = key + 12 + 12 * (degree // 7) + scale[degree % 7]
        vel = int(rng.integers(60, 110))
        events += [(t, bytes([0x90, note, vel])), (t + dur - 10, bytes([0x80, note, 0]))]
        t += dur
    for bar in range(0, n_beats, 4):  # a chord per bar on channel 2
        root = int(rng.choice([0, 3, 4, 5]))
        for d in (0, 2, 4):
            note = key + scale[(root + d) % 7]
            events += [(bar * tpq, bytes([0x91, note, 70])), ((bar + 4) * tpq - 10, bytes([0x81, note, 0]))]
    if rng.random() < 0.5:  # drums on channel 10
        for b in range(n_beats * 2):
            tt = b * tpq // 2
            for inst, on in ((36, b % 4 == 0), (38, b % 4 == 2), (42, True)):
                if on:
                    events += [(tt, bytes([0x99, inst, 90])), (tt + 60, bytes([0x89, inst, 0]))]
    events.sort(key=lambda e: e[0])
    track, last = b"", 0
    for tt, ev in events:
        track += _vlq(tt - last) + ev
        last = tt
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(track)) + track


def _random_music(n: int) -> Loader:
    def load(roots: Roots, rng: np.random.Generator) -> Iterator[np.ndarray]:
        for _ in range(n):
            yield from pieces(render_midi(random_midi(rng), 12.0, roots.share(*SOUNDFONT)), rng, 2)

    return load


# ----------------------------------------------------------------------------- synthetic sounds


def _colored_noise(rng, n: int, exponent: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec)) + 1.0
    x = np.fft.irfft(spec / f ** (exponent / 2.0), n)
    return (x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def synth_clip(rng: np.random.Generator, kinds: tuple[str, ...]) -> np.ndarray:
    """One synthetic clip of a random kind: noise colours, tones, chirps, beeps, clicks, hum, DTMF."""
    sr = SAMPLE_RATE
    dur = float(rng.uniform(1.0, MAX_CLIP_S))
    n = int(dur * sr)
    t = np.arange(n) / sr
    kind = str(rng.choice(kinds))
    if kind == "noise":
        x = _colored_noise(rng, n, float(rng.choice([0.0, 1.0, 2.0])))
    elif kind == "tone":
        f0 = rng.uniform(80, 4000)
        x = sum(
            rng.uniform(0.2, 1) / (k + 1) * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(int(rng.integers(1, 5)))
        )
    elif kind == "chirp":
        f0, f1 = rng.uniform(100, 6000, 2)
        x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * dur)))
    elif kind == "beeps":
        f0 = rng.uniform(400, 3500)
        period, on = rng.uniform(0.15, 1.0), rng.uniform(0.05, 0.5)
        x = np.sin(2 * np.pi * f0 * t) * ((t % period) < on * period)
    elif kind == "clicks":
        x = np.zeros(n)
        rate = rng.uniform(2, 40)
        for s in np.cumsum(rng.exponential(sr / rate, int(dur * rate * 2) + 2)).astype(int):
            if s < n - 64:
                x[s : s + 64] += rng.uniform(0.3, 1) * np.exp(-np.arange(64) / rng.uniform(2, 15)) * rng.choice([-1, 1])
    elif kind == "hum":
        f0 = float(rng.choice([50.0, 60.0]))
        x = sum(rng.uniform(0.1, 1) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in range(1, 8))
        x = x + 0.05 * _colored_noise(rng, n, 1.0)
    elif kind == "dtmf":
        lows, highs = (697, 770, 852, 941), (1209, 1336, 1477)
        x = np.zeros(n)
        for s in range(0, n - sr // 5, int(sr * rng.uniform(0.2, 0.4))):
            seg = np.arange(sr // 8) / sr
            x[s : s + len(seg)] += np.sin(2 * np.pi * rng.choice(lows) * seg) + np.sin(
                2 * np.pi * rng.choice(highs) * seg
            )
    elif kind == "siren":  # held out: an up/down sweep
        f = 700 + 500 * np.sin(2 * np.pi * rng.uniform(0.2, 1.5) * t)
        x = np.sin(2 * np.pi * np.cumsum(f) / sr)
    elif kind == "am_noise":  # held out: amplitude-modulated noise (engines, fans)
        x = _colored_noise(rng, n, 1.0) * (1 + 0.8 * np.sin(2 * np.pi * rng.uniform(5, 40) * t))
    elif kind == "square":  # held out: buzzer
        x = np.sign(np.sin(2 * np.pi * rng.uniform(150, 1500) * t))
    else:
        raise ValueError(kind)
    x = np.asarray(x, dtype=np.float32)
    return x / (np.abs(x).max() + 1e-9) * 0.7


TRAIN_SYNTH = ("noise", "tone", "chirp", "beeps", "clicks", "hum", "dtmf")
HELDOUT_SYNTH = ("siren", "am_noise", "square")


def _synthetic(kinds: tuple[str, ...], n: int) -> Loader:
    def load(roots: Roots, rng: np.random.Generator) -> Iterator[np.ndarray]:
        for _ in range(n):
            yield synth_clip(rng, kinds)

    return load


# ----------------------------------------------------------------------------- text to speech (held out)

SENTENCES = (
    "the meeting has been moved to three o'clock this afternoon",
    "could you pass me the salt please",
    "your package will arrive tomorrow between nine and five",
    "turn left at the next intersection",
    "I think we should leave before the traffic gets bad",
    "the kettle is boiling would you like some tea",
    "please remember to lock the back door",
    "the weather will be sunny with a light breeze",
    "hello is anybody home",
    "we are out of milk and bread again",
    "the train to the city centre leaves from platform four",
    "can you hear me now",
)


def _tts(roots: Roots, rng: np.random.Generator) -> Iterator[np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        for text in SENTENCES:
            for engine in ("flite", "espeak-ng"):
                if shutil.which(engine) is None:
                    continue
                if engine == "flite":
                    voice = str(rng.choice(["slt", "rms", "awb", "kal16"]))
                    cmd = ["flite", "-voice", voice, "-t", text, "-o", str(wav)]
                else:
                    voice = str(rng.choice(["en-us", "en", "en-gb-x-rp", "en+f3", "en+m4"]))
                    cmd = ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(130, 190))), "-w", str(wav), text]
                subprocess.run(cmd, check=True, capture_output=True, timeout=60)
                yield from pieces(load_audio(wav, SAMPLE_RATE), rng, 1)


def _tools(*names: str) -> Callable[[Roots], list[Path]]:
    """A generator that needs programs: found on PATH, or reported missing."""

    def needs(roots: Roots) -> list[Path]:
        found = [shutil.which(n) for n in names]
        return [Path(p) if p else Path(n) for p, n in zip(found, names)]

    return needs


# ----------------------------------------------------------------------------- registry

HEDGEWARS = ("games", "hedgewars", "Data")
SOURCES: tuple[Source, ...] = (
    # --- training pool
    Source(
        "an4_train",
        "speech",
        "train",
        "CMU AN4 licence (free use with attribution)",
        "data folder: an4 (train speakers)",
        from_files(lambda r: files(r.data / "an4" / "wav" / "an4_clstk")),
        300,
        lambda r: [r.data / "an4" / "wav" / "an4_clstk"],
    ),
    Source(
        "speech_commands",
        "speech",
        "train",
        "CC BY 4.0",
        "data folder: Speech Commands v0.01 sample (training list)",
        from_files(_speech_commands_words),
        200,
        lambda r: [r.data / SPEECH_COMMANDS],
    ),
    Source(
        "fsdd",
        "speech",
        "train",
        "CC BY-SA 4.0",
        "data folder: FSDD",
        from_files(lambda r: files(r.data / "fsdd" / "recordings")),
        150,
        lambda r: [r.data / "fsdd" / "recordings"],
    ),
    Source(
        "sc_noise_train",
        "noise",
        "train",
        "CC BY 4.0",
        "Speech Commands _background_noise_: " + ", ".join(SC_NOISE_TRAIN),
        _sc_noise(SC_NOISE_TRAIN, 40),
        160,
        lambda r: [_sc_noise_dir(r) / n for n in SC_NOISE_TRAIN],
    ),
    Source(
        "fluidr3_random_midi",
        "music",
        "train",
        "FluidR3_GM soundfont: MIT (Debian fluid-soundfont-gm); tunes generated here",
        "fluidsynth + fluid-soundfont-gm, random MIDI",
        _random_music(120),
        240,
        lambda r: [r.share(*SOUNDFONT), *_tools("fluidsynth")(r)],
    ),
    Source(
        "freedoom_music",
        "music",
        "train",
        "Freedoom: BSD-3-Clause (Debian freedoom); FluidR3_GM: MIT",
        "freedoom WAD D_* MIDI lumps rendered with FluidR3_GM",
        _freedoom_music,
        120,
        lambda r: [r.share("games", "doom"), r.share(*SOUNDFONT), *_tools("fluidsynth")(r)],
    ),
    Source(
        "freedoom_sfx",
        "sfx",
        "train",
        "BSD-3-Clause (Debian freedoom, 'freedoom-license')",
        "freedoom WAD DS* sound lumps",
        _freedoom_sfx,
        200,
        lambda r: [r.share("games", "doom")],
    ),
    Source(
        "minetest_sfx",
        "sfx",
        "train",
        "CC BY-SA 3.0 / CC BY 3.0 per file (Debian minetest-data copyright)",
        "minetest-data sounds (footsteps, digging, doors, glass, carts)",
        from_files(lambda r: files(r.share("games", "minetest"))),
        200,
        _folder("games", "minetest"),
    ),
    Source(
        "lincity_sfx",
        "sfx",
        "train",
        "GPL-2+ (Debian lincity-ng-data)",
        "lincity-ng-data sounds (industry, traffic, trains, construction, crowds)",
        from_files(lambda r: files(r.share("games", "lincity-ng"), ("*.wav",)), 2),
        200,
        _folder("games", "lincity-ng"),
    ),
    Source(
        "tuxpaint_sfx",
        "sfx",
        "train",
        "GPL-2+ (Debian tuxpaint-data)",
        "tuxpaint-data sounds (tool clicks, paint, eraser, keyclick)",
        from_files(lambda r: files(r.share("tuxpaint", "sounds"))),
        60,
        _folder("tuxpaint", "sounds"),
    ),
    Source(
        "synthetic_train",
        "synthetic",
        "train",
        "generated here (no licence needed)",
        "numpy: noise colours, tones, chirps, beeps, clicks, mains hum, DTMF",
        _synthetic(TRAIN_SYNTH, 350),
        350,
    ),
    # --- held-out pool (never trained on)
    Source(
        "asterisk_prompts",
        "speech",
        "heldout",
        "CC BY-SA 3.0 (Debian asterisk-core-sounds-en-wav)",
        "Asterisk en_US_f_Allison prompts (a professional voice, 8 kHz)",
        from_files(lambda r: files(r.share("asterisk", "sounds", "en_US_f_Allison"))),
        120,
        _folder("asterisk", "sounds", "en_US_f_Allison"),
    ),
    Source(
        "hedgewars_voices",
        "speech",
        "heldout",
        "GFDL-1.3 (Debian hedgewars-data)",
        "hedgewars-data voices (shouts, taunts, many accents)",
        from_files(lambda r: files(r.share(*HEDGEWARS, "Sounds", "voices"))),
        120,
        _folder(*HEDGEWARS),
    ),
    Source(
        "tts",
        "speech",
        "heldout",
        "generated here (flite, espeak-ng)",
        "flite + espeak-ng sentences",
        _tts,
        48,
        _tools("flite", "espeak-ng"),
    ),
    Source(
        "game_music",
        "music",
        "heldout",
        "GPL-2 (hedgewars-data, frozen-bubble-data), GPL-2+/CC (extremetuxracer-data)",
        "hedgewars, frozen-bubble, extremetuxracer music (ogg)",
        from_files(
            lambda r: (
                files(r.share(*HEDGEWARS, "Music"))
                + [f for f in files(r.share("games", "frozen-bubble"), ("*.ogg",)) if "zik" in f.name]
                + files(r.share("games", "etr", "music"))
            ),
            3,
        ),
        100,
        _folder(*HEDGEWARS),
    ),
    Source(
        "game_sfx",
        "sfx",
        "heldout",
        "GFDL-1.3 / GPL-2 / GPL-2+ / GPL-3 (hedgewars-data, frozen-bubble-data, extremetuxracer-data, pingus-data)",
        "hedgewars, frozen-bubble, extremetuxracer, pingus sound effects",
        from_files(
            lambda r: (
                [f for f in files(r.share(*HEDGEWARS, "Sounds")) if "voices" not in str(f)]
                + [f for f in files(r.share("games", "frozen-bubble"), ("*.ogg",)) if "zik" not in f.name]
                + files(r.share("games", "etr", "sounds"))
                + files(r.share("games", "pingus"), ("*.wav",))
            )
        ),
        150,
        _folder(*HEDGEWARS),
    ),
    Source(
        "desktop_sounds",
        "sfx",
        "heldout",
        "CC BY-SA 3.0 / CC BY 3.0 / GPL-2 per file (sound-theme-freedesktop)",
        "freedesktop sound theme (phone ringing, bell, alarm, camera shutter, notifications)",
        from_files(lambda r: files(r.share("sounds", "freedesktop", "stereo"), ("*.oga",))),
        40,
        _folder("sounds", "freedesktop", "stereo"),
    ),
    Source(
        "sc_noise_heldout",
        "noise",
        "heldout",
        "CC BY 4.0",
        "Speech Commands _background_noise_: " + ", ".join(SC_NOISE_HELDOUT),
        _sc_noise(SC_NOISE_HELDOUT, 12),
        24,
        lambda r: [_sc_noise_dir(r) / n for n in SC_NOISE_HELDOUT],
    ),
    Source(
        "synthetic_heldout",
        "synthetic",
        "heldout",
        "generated here",
        "numpy: sirens, amplitude-modulated noise, square-wave buzzers (generators not used in training)",
        _synthetic(HELDOUT_SYNTH, 60),
        60,
    ),
    Source(
        "an4_test",
        "speech",
        "seen-corpus",
        "CMU AN4 licence",
        "data folder: an4 (test speakers)",
        from_files(lambda r: files(r.data / "an4" / "wav" / "an4test_clstk")),
        80,
        lambda r: [r.data / "an4" / "wav" / "an4test_clstk"],
    ),
)


@dataclass
class Pool:
    """Clips of any length (at SAMPLE_RATE) and the source each came from."""

    clips: list[np.ndarray]
    source: list[str]

    def __len__(self) -> int:
        return len(self.clips)

    def by_source(self) -> dict[str, int]:
        return {s: self.source.count(s) for s in sorted(set(self.source))}


def missing(source: Source, roots: Roots) -> list[Path]:
    """What ``source`` needs and this machine lacks (a Debian package, a corpus, a program)."""
    return [p for p in source.needs(roots) if not p.exists()]


def build_pool(
    split: str,
    roots: Roots,
    seed: int = 0,
    scale: float = 1.0,
    cache: bool = True,
    log: Callable[[str], None] = print,
) -> Pool:
    """Every clip of the sources of ``split`` (each source's ``limit`` times ``scale``, at least 1),
    each clip once.

    A source with something missing is skipped with a message; the pool is cached under
    the listener cache, keyed by split, roots, seed, scale, the sources that were there and
    ``POOL_FORMAT``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    order = [s for s in SOURCES if s.split == split]  # a source's random stream: its place in the split
    chosen = []
    for src in order:
        lack = missing(src, roots)
        if lack:
            log(f"negatives: skipping {src.name} ({src.origin}): not found: {', '.join(map(str, lack))}")
        else:
            chosen.append(src)
    where = Roots(roots.data.resolve(), roots.system.resolve())  # one key however the folders are spelt
    named = f"{POOL_FORMAT}|{split}|{where}|{seed}|{scale}|{[s.name for s in chosen]}"
    key = hashlib.sha1(named.encode()).hexdigest()[:16]
    path = cache_root() / "negatives" / f"{split}-{key}.npz"
    if cache and path.is_file():
        with np.load(path) as z:
            return Pool(np.split(z["samples"], np.cumsum(z["sizes"])[:-1]), [str(x) for x in z["source"]])
    clips: list[np.ndarray] = []
    names: list[str] = []
    heard: set[str] = set()  # each clip once, whichever file (a WAD lump, a .wav and its .flac) gave it
    for src in chosen:
        rng = np.random.default_rng([seed, order.index(src), 7])
        limit, got = max(1, int(round(src.limit * scale))), 0
        for x in src.load(roots, rng):
            if len(x) < MIN_CLIP_S * SAMPLE_RATE or not np.isfinite(x).all() or np.abs(x).max() < 1e-4:
                continue
            x = np.asarray(x, np.float32)
            digest = hashlib.sha1(x.tobytes()).hexdigest()
            if digest in heard:
                continue
            heard.add(digest)
            clips.append(x)
            names.append(src.name)
            got += 1
            if got >= limit:
                break
        log(f"negatives: {split}: {src.name}: {got} clips")
    if cache and clips:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, samples=np.concatenate(clips), sizes=[len(c) for c in clips], source=np.array(names))
        os.replace(tmp, path)
    return Pool(clips, names)


NON_SPEECH_KINDS = ("music", "sfx", "synthetic")  # the kinds that say no word at all (and are not noise files)


def non_speech(pool: Pool) -> list[int]:
    """The clips of `pool` whose source says no word (music, sound effects, synthetic sounds): what a
    speech model may train or be checked on as silence. Speech and the Speech Commands noise files are
    left out (the digits recipe trains on part of those files and tests on the rest)."""
    kinds = {s.name: s.kind for s in SOURCES}
    return [i for i, name in enumerate(pool.source) if kinds.get(name) in NON_SPEECH_KINDS]


MIXTURE = "mixture"  # the source name of a mixture among the training negatives


def mixtures(pool: Pool, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` sums of two clips of different sources at -10..+10 dB (a room rarely holds one sound);
    fewer only when the pool holds a single source."""
    out: list[np.ndarray] = []
    if len(set(pool.source)) < 2:
        return out
    while len(out) < n:
        i, j = rng.integers(0, len(pool), 2)
        if pool.source[i] == pool.source[j]:
            continue
        a, b = pool.clips[i], pool.clips[j]
        m = min(len(a), len(b))
        a, b = a[:m], b[:m]
        g = 10 ** (rng.uniform(-10, 10) / 20) * np.sqrt((a**2).mean() / max((b**2).mean(), 1e-10))
        x = a + g * b
        out.append((x / (np.abs(x).max() + 1e-9) * 0.7).astype(np.float32))
    return out


def source_folds(source: list[str], n_folds: int = 5) -> np.ndarray:
    """A fold (1..``n_folds``) per clip: each source's clips in ``n_folds`` consecutive blocks.

    A source's clips come in load order, and neighbours are often pieces of one recording (a
    noise file cut in pieces, one game's sounds): split clip by clip, a held-out fold would hold
    near copies of what trained, and thresholds calibrated on it would allow too much.
    """
    names = np.asarray(source)
    fold = np.zeros(len(names), np.int64)
    for s in dict.fromkeys(source):
        idx = np.flatnonzero(names == s)
        fold[idx] = 1 + np.arange(len(idx)) * n_folds // len(idx)
    return fold


def fold_mixtures(
    pool: Pool, folds: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray]:
    """(mixtures, the fold of each): ``n`` mixtures in all, each of two clips of the same fold, so a
    mixture never mixes a held-out fold's clip into training."""
    clips: list[np.ndarray] = []
    of: list[int] = []
    ks = sorted(set(folds.tolist()))
    for i, k in enumerate(ks):
        idx = np.flatnonzero(folds == k)
        part = Pool([pool.clips[j] for j in idx], [pool.source[j] for j in idx])
        got = mixtures(part, n // len(ks) + (i < n % len(ks)), rng)
        clips += got
        of += [k] * len(got)
    return clips, np.asarray(of, np.int64)


def credits_table() -> str:
    """Markdown table of every source (the model card's credits)."""
    use = {"train": "training (`other`)", "heldout": "held-out false alarms only", "seen-corpus": "reported apart"}
    rows = ["| source | kind | used for | licence | origin |", "|---|---|---|---|---|"]
    rows += [f"| {s.name} | {s.kind} | {use[s.split]} | {s.licence} | {s.origin} |" for s in SOURCES]
    return "\n".join(rows)
