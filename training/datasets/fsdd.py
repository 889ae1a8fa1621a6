"""Free Spoken Digit Dataset (Jakobovski): `recordings/<digit>_<speaker>_<take>.wav`, 8 kHz.

Six speakers say each digit 50 times, so a random split of clips would put the
same voice in train and test. Whole speakers are held out instead; the held-out
speakers are fixed project-wide (nicolas and theo are the test speakers, and the
bundled demo clip is nicolas, so it is never trained on).
"""

from __future__ import annotations

import re
from pathlib import Path

from listener.training.datasets.base import DIGITS, Clip, DatasetError, require_dir, sort_clips

VAL_SPEAKERS: tuple[str, ...] = ("yweweler",)
TEST_SPEAKERS: tuple[str, ...] = ("nicolas", "theo")

_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")


def recordings_dir(root: Path | str) -> Path:
    """Accept either the dataset folder (holding `recordings/`) or `recordings/` itself."""
    path = require_dir(root, "FSDD")
    if (path / "recordings").is_dir():
        return path / "recordings"
    return path


def load_fsdd(
    root: Path | str,
    val_speakers: tuple[str, ...] | list[str] = VAL_SPEAKERS,
    test_speakers: tuple[str, ...] | list[str] = TEST_SPEAKERS,
) -> list[Clip]:
    """List every FSDD recording with its digit word, speaker and split.

    Speakers in `val_speakers` go to "validation", those in `test_speakers` to
    "test", everyone else to "train".
    """
    overlap = set(val_speakers) & set(test_speakers)
    if overlap:
        raise DatasetError(f"FSDD: speakers {sorted(overlap)} are in both validation and test")
    rec = recordings_dir(root)
    clips: list[Clip] = []
    for path in rec.glob("*.wav"):
        match = _NAME.match(path.stem)
        if not match:
            raise DatasetError(f"FSDD: {path} does not follow <digit>_<speaker>_<take>.wav")
        digit, speaker, _take = match.groups()
        if speaker in test_speakers:
            split = "test"
        elif speaker in val_speakers:
            split = "validation"
        else:
            split = "train"
        clips.append(Clip(path=path, label=DIGITS[int(digit)], speaker=speaker, split=split))
    if not clips:
        raise DatasetError(f"FSDD: no <digit>_<speaker>_<take>.wav files in {rec}")
    return sort_clips(clips)
