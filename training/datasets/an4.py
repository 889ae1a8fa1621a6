"""CMU AN4 ("census"): 84 speakers reading digit strings, names, letters and commands.

The dataset's own layout (``root`` = the folder holding ``etc/`` and ``wav/``)::

    etc/an4_train.fileids        an4_clstk/fash/an251-fash-b       (one per line)
    etc/an4_train.transcription  <s> ENTER NINE ONE SIX NINE </s> (an251-fash-b)
    etc/an4_test.fileids         an4test_clstk/fjlp/an416-fjlp-b
    etc/an4_test.transcription   ENTER NINE ONE SIX NINE (an417-fjlp-b)   (no <s> tags)
    wav/<fileid>.sph             16 kHz 16-bit NIST SPHERE (soundfile reads it)

The speaker is the fileid's folder (``fash``; the first letter is the gender). The official
split is train (74 speakers) / test (10 other speakers). Validation speakers are carved out of
train and fixed project-wide (``VAL_SPEAKERS``), so recipes are chosen on people who are in
neither the training data nor the test set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from listener.training.datasets.base import DatasetError, require_dir

# Ten training speakers (five f, five m) held out to choose recipes on.
VAL_SPEAKERS: tuple[str, ...] = ("fbbh", "fkai", "fmjc", "fmjd", "fsaf2", "mjbh", "mjjs2", "mmap", "mmdg", "mtos")

# AN4's spoken digit words and the digit each stands for ("oh" and "zero" are both 0).
DIGIT_WORDS: dict[str, str] = {
    "ZERO": "0",
    "OH": "0",
    "ONE": "1",
    "TWO": "2",
    "THREE": "3",
    "FOUR": "4",
    "FIVE": "5",
    "SIX": "6",
    "SEVEN": "7",
    "EIGHT": "8",
    "NINE": "9",
}

_LINE = re.compile(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()]+)\)\s*$")


@dataclass(frozen=True)
class Utterance:
    """One AN4 recording: id, speaker, the words as transcribed (upper case), audio path, split."""

    uttid: str
    speaker: str
    words: tuple[str, ...]
    path: Path
    split: str  # "train" | "validation" | "test"

    @property
    def digits(self) -> str:
        """The reference digit string: the digit words in order ("" when there are none)."""
        return "".join(DIGIT_WORDS[w] for w in self.words if w in DIGIT_WORDS)

    def audio(self) -> np.ndarray:
        """Samples as float32 in [-1, 1] at 16 kHz."""
        try:
            data, rate = sf.read(str(self.path), dtype="float32")
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise DatasetError(f"AN4: cannot read {self.path}: {exc}") from None
        if rate != 16000:
            raise DatasetError(f"AN4: {self.path} is {rate} Hz, expected 16000")
        return data if data.ndim == 1 else data.mean(axis=1)


def parse_transcription(path: Path) -> dict[str, tuple[str, ...]]:
    """``uttid -> words`` from an AN4 ``.transcription`` file (blank lines skipped)."""
    out: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise DatasetError(f"AN4: {path}:{number}: cannot read {line!r} (expected 'WORDS (uttid)')")
        out[m.group(2)] = tuple(w for w in m.group(1).split() if w not in ("<s>", "</s>"))
    return out


def _official(root: Path, part: str) -> list[tuple[str, str, tuple[str, ...], Path]]:
    etc = root / "etc"
    fileids, transcription = etc / f"an4_{part}.fileids", etc / f"an4_{part}.transcription"
    for path in (fileids, transcription):
        if not path.is_file():
            raise DatasetError(f"AN4: {path} is missing (point at the folder holding etc/ and wav/)")
    words = parse_transcription(transcription)
    rows = []
    for fileid in fileids.read_text().split():
        uttid = fileid.rsplit("/", 1)[-1]
        if uttid not in words:
            raise DatasetError(f"AN4: {fileid} has no line in {transcription.name}")
        parts = fileid.split("/")
        if len(parts) < 2:
            raise DatasetError(f"AN4: fileid {fileid!r} has no speaker folder")
        rows.append((uttid, parts[-2], words[uttid], root / "wav" / f"{fileid}.sph"))
    return rows


def load_an4(root: Path | str, val_speakers: tuple[str, ...] | list[str] = VAL_SPEAKERS) -> list[Utterance]:
    """Every AN4 utterance with its split: the official test set is ``test``; the official
    train set is ``train`` except `val_speakers`, which are ``validation``."""
    path = require_dir(root, "AN4")
    test = _official(path, "test")
    test_speakers = {r[1] for r in test}
    clash = test_speakers & set(val_speakers)
    if clash:
        raise DatasetError(f"AN4: validation speakers {sorted(clash)} are test speakers")
    utts = [
        Utterance(u, s, w, p, "validation" if s in val_speakers else "train") for u, s, w, p in _official(path, "train")
    ]
    utts += [Utterance(u, s, w, p, "test") for u, s, w, p in test]
    missing = [u.path for u in utts if not u.path.is_file()]
    if missing:
        raise DatasetError(f"AN4: {len(missing)} audio files are missing, e.g. {missing[0]}")
    return utts
