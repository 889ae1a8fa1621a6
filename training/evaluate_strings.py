"""Scores a sequence (ctc) digits model the way ``listener analyze`` runs it.

Every recording goes through the runtime's own pipeline (``listener.pipeline.analyze_array``:
the model's gate, its frame windower, the CTC decoder at its thresholds), and what the
pipeline logged is read back as a digit string: the symbols of its detections, in order
(``oh`` and ``zero`` are both ``0``; ``<other>`` and the blank are never logged). The
figures on the digits card are what a user gets from ``listener analyze`` on a file.

Metrics (:func:`summarize`):

- *digits right* (connected strings and isolated digits alike) = 1 - sum(edit distance(logged,
  reference)) / sum(reference digits), over the recordings that hold digits; *exact* = those
  logged exactly (an isolated digit is right only when exactly its digit is logged);
- *false digits per 100 words*: digits logged on recordings of words that hold no digit
  (AN4 names, letters and commands; Speech Commands' other words), per 100 such words;
- *false digits per minute*: digits logged on noise (no words at all);
- *teens and tens* (AN4 recordings that say one, such as "six thirty five" or "nineteen
  sixty"): digits right on them, and *extra digits*, digits logged beyond as many as were
  said (a lower bound of the false ones), per 100 teens and tens said.

Data (:func:`digit_sets`; ``part`` "validation" chooses settings, "test" is reported only):

| source | validation | test |
|---|---|---|
| AN4 | the ten fixed validation speakers (``VAL_SPEAKERS``) | the official test speakers |
| FSDD | yweweler | nicolas, theo |
| Speech Commands v0.01 sample | ``validation_list.txt`` | ``testing_list.txt`` |
| SC background noise | - | the last 30% of each file (the digits build trains on the first 70%) |
| ESC-10 | fold 4 | fold 5 |
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from listener.config import PipelineOptions
from listener.contract import ModelInfo
from listener.pipeline import analyze_array
from listener.training.datasets.an4 import load_an4
from listener.training.datasets.base import DIGITS, load_audio
from listener.training.datasets.esc import load_esc
from listener.training.datasets.fsdd import load_fsdd
from listener.training.datasets.speech_commands import background_noise_files, load_speech_commands
from listener.training.strings import CONFUSABLE_WORDS, codec_round_trip, eight_bit

PARTS = ("validation", "test")
NOISE_TEST_FROM = 0.7  # SC background noise: the digits build trains on each file's first 70%
ESC_FOLD = {"validation": 4, "test": 5}


@dataclass
class Recording:
    """One recording to score: its audio and what a perfect listener would log."""

    name: str  # where it comes from (file or utterance id)
    audio: np.ndarray  # float32 mono at 16 kHz
    reference: str  # the digits said, in order ("" for none)
    words: int  # words said (0: noise)
    group: str = ""  # a sub-group to report on its own (the speaker of an isolated digit)
    confusable: int = 0  # teens and tens among the words ("nineteen", "sixty": strings.CONFUSABLE_WORDS)


@dataclass
class Logged:
    """What the pipeline logged for one recording."""

    reference: str
    digits: str
    words: int
    seconds: float
    group: str = ""
    frames: int = 0  # output frames the pipeline computed (what the CPU did)
    confusable: int = 0  # teens and tens said (Recording.confusable)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def with_settings(classifier, threshold: float | None = None, tail: int | None = None):
    """``classifier`` whose metadata says ``threshold`` (one for all labels) and
    ``frame_tail_samples`` ``tail`` (None: keep the model's); the runtime reads both from there."""
    info: ModelInfo = classifier.info
    changes: dict = {}
    if threshold is not None:
        changes.update(threshold=float(threshold), thresholds={})
    if tail is not None:
        changes["frame_tail_samples"] = int(tail)
    if not changes:
        return classifier
    return _Retuned(classifier, dataclasses.replace(info, **changes))


class _Retuned:
    """A classifier with other metadata settings (same session)."""

    def __init__(self, inner, info: ModelInfo) -> None:
        self.inner, self.info = inner, info

    def predict(self, batch: np.ndarray):
        return self.inner.predict(batch)


def log_digits(classifier, recordings: Iterable[Recording], options: PipelineOptions | None = None) -> list[Logged]:
    """Each recording through ``listener analyze``'s pipeline; the digits it logged."""
    info: ModelInfo = classifier.info
    if not info.is_ctc or not info.symbols:
        raise ValueError(f"{info.model_id} is not a sequence model with symbols")
    options = options or PipelineOptions()
    out = []
    for rec in recordings:
        result = analyze_array(np.asarray(rec.audio, dtype=np.float32), classifier, options, source_name=rec.name)
        digits = "".join(info.symbols[d.label] for d in result.detections)
        seconds = len(rec.audio) / info.sample_rate
        out.append(Logged(rec.reference, digits, rec.words, seconds, rec.group, len(result.windows), rec.confusable))
    return out


def _digits_right(said: Sequence[Logged]) -> float:
    errors = sum(edit_distance(x.digits, x.reference) for x in said)
    return round(100.0 * (1 - errors / sum(len(x.reference) for x in said)), 2)


def summarize(logged: Sequence[Logged]) -> dict:
    """Digits right, exact strings and false digits of one set (keys only for what it holds)."""
    out: dict = {"recordings": len(logged), "frames": sum(x.frames for x in logged)}
    said = [x for x in logged if x.reference]
    if said:
        out.update(
            with_digits=len(said),
            reference_digits=sum(len(x.reference) for x in said),
            digits_right=_digits_right(said),
            exact=sum(x.digits == x.reference for x in said),
        )
        groups = sorted({x.group for x in said if x.group})
        if len(groups) > 1:
            out["digits_right_by_group"] = {g: _digits_right([x for x in said if x.group == g]) for g in groups}
    confusable = [x for x in logged if x.confusable]
    if confusable:  # real speakers saying teens and tens: digits beyond those said are false ones
        n = sum(x.confusable for x in confusable)
        extra = sum(max(0, len(x.digits) - len(x.reference)) for x in confusable)
        out.update(
            confusable_recordings=len(confusable),
            confusable_words=n,
            confusable_extra_digits=extra,
            confusable_extra_per_100=round(100.0 * extra / n, 2),
        )
        if any(x.reference for x in confusable):
            out["confusable_digits_right"] = _digits_right([x for x in confusable if x.reference])
    words = [x for x in logged if not x.reference and x.words]
    if words:
        n_words = sum(x.words for x in words)
        false = sum(len(x.digits) for x in words)
        out.update(
            without_digits=len(words),
            words=n_words,
            false_digits=false,
            false_per_100_words=round(100.0 * false / n_words, 2),
        )
    noise = [x for x in logged if not x.words]
    if noise:
        minutes = sum(x.seconds for x in noise) / 60.0
        false = sum(len(x.digits) for x in noise)
        out.update(
            noise_minutes=round(minutes, 2), noise_false_digits=false, false_per_minute=round(false / minutes, 3)
        )
    return out


# ---------------------------------------------------------------------------- data


def _an4(data: Path, part: str) -> list[Recording]:
    utts = [u for u in load_an4(data / "an4") if u.split == part]
    return [
        Recording(
            u.uttid, u.audio(), u.digits, len(u.words), u.speaker, sum(w.lower() in CONFUSABLE_WORDS for w in u.words)
        )
        for u in utts
    ]


def _fsdd(data: Path, part: str) -> list[Recording]:
    clips = [c for c in load_fsdd(data / "fsdd") if c.split == part]
    return [Recording(c.path.name, load_audio(c.path), str(DIGITS.index(c.label)), 1, c.speaker or "") for c in clips]


def _speech_commands(data: Path, part: str) -> list[Recording]:
    clips = load_speech_commands(data / "speech_commands_v0.01_sample", silence=False)
    out = []
    for c in clips:
        if c.split == part:
            digit = str(DIGITS.index(c.label)) if c.label in DIGITS else ""
            out.append(Recording(f"{c.path.parent.name}/{c.path.name}", load_audio(c.path), digit, 1))
    return out


def _noise(data: Path, part: str) -> list[Recording]:
    if part != "test":
        return []
    out = []
    for path in background_noise_files(data / "speech_commands_v0.01_sample"):
        audio = load_audio(path)
        out.append(Recording(path.name, audio[int(len(audio) * NOISE_TEST_FROM) :], "", 0))
    return out


def _esc(data: Path, part: str) -> list[Recording]:
    clips = [c for c in load_esc(data / "esc10") if c.fold == ESC_FOLD[part]]
    return [Recording(c.path.name, load_audio(c.path), "", 0) for c in clips]


def non_speech_recordings(
    data: Path, system_root: Path = Path("/"), log: Callable[[str], None] = print
) -> list[Recording]:
    """Music, sound effects and synthetic sounds that neither model trains on: the sounds model's held-out
    pool, its speech and noise files left out (``negatives.non_speech``); false digits a minute in
    sounds beyond one ESC-10 fold. Each recording's group is its source."""
    from listener.training.datasets.negatives import Roots, build_pool, non_speech

    pool = build_pool("heldout", Roots(Path(data), system_root), log=log)
    return [Recording(f"{pool.source[i]}:{i}", pool.clips[i], "", 0, pool.source[i]) for i in non_speech(pool)]


SETS: dict[str, Callable[[Path, str], list[Recording]]] = {
    "an4": _an4,
    "fsdd": _fsdd,
    "speech_commands": _speech_commands,
    "noise": _noise,
    "esc10": _esc,
}


def digit_sets(data: Path | str, part: str, only: Iterable[str] | None = None) -> dict[str, list[Recording]]:
    """The recordings of each set for ``part`` ("validation" or "test"; table above)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    data = Path(data)
    names = list(only) if only is not None else list(SETS)
    sets = {name: SETS[name](data, part) for name in names}
    return {name: recs for name, recs in sets.items() if recs}


def score_sets(
    classifier,
    sets: dict[str, list[Recording]],
    options: PipelineOptions | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict]:
    """:func:`summarize` of every set, through the pipeline (with the wall time each took)."""
    out = {}
    for name, recs in sets.items():
        t0 = time.perf_counter()
        res = summarize(log_digits(classifier, recs, options))
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        out[name] = res
        log(f"  {classifier.info.variant} {name}: {json.dumps(res)}")
    return out


EIGHT_BIT_SETS = ("an4", "fsdd")  # the sets scored again as 8-bit recordings (connected and isolated digits)
EIGHT_BIT_PEAK_DB = -13.0  # the level of an 8-bit FSDD speaker's loudest samples (nicolas: about -13 dBFS)
LEVEL_SETS = EIGHT_BIT_SETS  # the sets scored again at other recording levels


def at_peak(audio: np.ndarray, peak_db: float) -> np.ndarray:
    """``audio`` scaled so that its loudest sample is at ``peak_db`` dBFS."""
    return audio * np.float32(10 ** (peak_db / 20) / (np.abs(audio).max() + 1e-9))


def eight_bit_versions(recordings: Sequence[Recording]) -> dict[str, list[Recording]]:
    """The recordings as 8-bit recorders and phone lines keep them: 256 linear levels at their own
    level (a quiet recording keeps few levels), at a peak of ``EIGHT_BIT_PEAK_DB``, and mu-law."""

    change = {
        "linear": lambda a: eight_bit(a),
        f"linear_peak_{EIGHT_BIT_PEAK_DB:g}dB": lambda a: eight_bit(at_peak(a, EIGHT_BIT_PEAK_DB)),
        "mu_law": lambda a: eight_bit(a, mu_law=True),
    }
    return {k: [dataclasses.replace(r, audio=f(r.audio)) for r in recordings] for k, f in change.items()}


def score_eight_bit(classifier, sets: dict[str, list[Recording]], options: PipelineOptions | None = None) -> dict:
    """Digits right on the 8-bit versions of ``EIGHT_BIT_SETS`` (``set/version`` keys) and their mean."""
    out: dict = {}
    for name in EIGHT_BIT_SETS:
        for version, recs in eight_bit_versions(sets.get(name, [])).items():
            if recs:
                out[f"{name}/{version}"] = summarize(log_digits(classifier, recs, options))["digits_right"]
    return {"digits_right": out, "mean": round(float(np.mean(list(out.values()))), 2) if out else None}


VOICE_SHIFT_SETS = EIGHT_BIT_SETS  # the sets scored again with other voices and speaking rates


def sox_effect(audio: np.ndarray, *effect: str, rate: int = 16000) -> np.ndarray:
    """``audio`` through one sox effect (``"pitch", "-100"``; float32 in and out). Needs the ``sox`` program."""
    sox = shutil.which("sox")
    if sox is None:
        raise RuntimeError(f"the {effect[0]} change needs the sox program (apt install sox)")
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(rate)]
    done = subprocess.run(
        [sox, "-V1", *raw, "-", *raw, "-", *effect],
        input=np.ascontiguousarray(audio, dtype="<f4").tobytes(),
        capture_output=True,
        check=True,
    )
    return np.frombuffer(done.stdout, dtype="<f4").astype(np.float32)


def shift_voice(audio: np.ndarray, factor: float, rate: int = 16000) -> np.ndarray:
    """``audio`` said by a deeper (``factor`` < 1) or higher (> 1) voice: pitch and formants scaled by
    ``factor``, the tempo kept (sox's ``pitch`` effect; a stranger with another vocal tract, not the
    training's speed change, which moves the tempo too)."""
    return sox_effect(audio, "pitch", f"{1200 * np.log2(factor):.0f}", rate=rate)


def change_tempo(audio: np.ndarray, factor: float, rate: int = 16000) -> np.ndarray:
    """``audio`` said ``factor`` times as fast (> 1: a fast talker), the voice kept (sox's ``tempo -s``,
    tuned for speech)."""
    return sox_effect(audio, "tempo", "-s", f"{factor:g}", rate=rate)


def _score_changed(classifier, sets, changes: dict[str, Callable], options: PipelineOptions | None) -> dict:
    """Digits right on ``VOICE_SHIFT_SETS`` under each named change, by set and by AN4 speaker sex
    (AN4 speaker ids begin with f or m), and the mean over sets and changes."""
    out: dict = {}
    for key, change in changes.items():
        row = out[key] = {}
        for name in VOICE_SHIFT_SETS:
            recs = [dataclasses.replace(r, audio=change(r.audio)) for r in sets.get(name, [])]
            if not recs:
                continue
            logged = log_digits(classifier, recs, options)
            row[name] = summarize(logged)["digits_right"]
            if name == "an4":
                for sex in ("f", "m"):
                    theirs = [x for x in logged if x.group.startswith(sex)]
                    if theirs:
                        row[f"an4/{sex}"] = summarize(theirs)["digits_right"]
    whole = [v for row in out.values() for k, v in row.items() if "/" not in k]
    return {"digits_right": out, "mean": round(float(np.mean(whole)), 2) if whole else None}


def score_voice_shifts(
    classifier,
    sets: dict[str, list[Recording]],
    factors: Sequence[float],
    options: PipelineOptions | None = None,
    there_and_back: bool = False,
) -> dict:
    """Digits right on ``VOICE_SHIFT_SETS`` with every voice shifted by each of ``factors``
    (:func:`shift_voice`), by set and by AN4 speaker sex, and the mean over sets and factors:
    ``{"digits_right": {"0.85": {"an4": .., "an4/f": .., ...}}, "mean": ..}``.
    ``there_and_back``: the control, each voice shifted by the factor and back by its inverse (the
    voice unchanged, the pitch effect's own artifacts twice)."""

    def change(factor: float) -> Callable[[np.ndarray], np.ndarray]:
        if there_and_back:
            return lambda a: shift_voice(shift_voice(a, factor), 1.0 / factor)
        return lambda a: shift_voice(a, factor)

    return _score_changed(classifier, sets, {f"{f:g}": change(f) for f in factors}, options)


def score_tempos(
    classifier, sets: dict[str, list[Recording]], factors: Sequence[float], options: PipelineOptions | None = None
) -> dict:
    """:func:`score_voice_shifts`' figures with every recording said ``factor`` times as fast
    (:func:`change_tempo`) instead."""
    return _score_changed(classifier, sets, {f"{f:g}": (lambda a, f=f: change_tempo(a, f)) for f in factors}, options)


def score_codecs(
    classifier, sets: dict[str, list[Recording]], codecs: Sequence[str], options: PipelineOptions | None = None
) -> dict:
    """:func:`score_voice_shifts`' figures with every recording coded and decoded by each of ``codecs`` (a voice
    note, a call, a compressed upload), plus each codec's bitrate (``kbps``) on the first two minutes of
    those recordings joined into one stream (a short clip's size is mostly its container's headers; much
    longer streams crash libsndfile's Vorbis encoder in memory)."""
    result = _score_changed(classifier, sets, {c: (lambda a, c=c: codec_round_trip(a, c)[0]) for c in codecs}, options)
    joined = np.concatenate([r.audio for name in VOICE_SHIFT_SETS for r in sets.get(name, [])] or [np.zeros(16000)])
    joined = joined[: 120 * 16000]
    result["kbps"] = {c: round(8 * codec_round_trip(joined, c)[1] / (len(joined) / 16000) / 1000, 1) for c in codecs}
    return result


def score_levels(
    classifier, sets: dict[str, list[Recording]], levels: Sequence[float], options: PipelineOptions | None = None
) -> dict:
    """:func:`summarize` of ``LEVEL_SETS`` with every recording's peak at each of ``levels`` dBFS (a quiet
    microphone, a talker far from it): ``{"-40": {"an4": {...}, "fsdd": {...}}, ...}``."""
    out: dict = {}
    for db in levels:
        out[f"{db:g}"] = {}
        for name in LEVEL_SETS:
            quieter = [dataclasses.replace(r, audio=at_peak(r.audio, db)) for r in sets.get(name, [])]
            if quieter:
                out[f"{db:g}"][name] = summarize(log_digits(classifier, quieter, options))
    return out
