"""The Allison voice's number prompts from Debian's ``asterisk-core-sounds-en-wav``.

One professional speaker (8 kHz telephone recordings), the prompts a phone system reads
numbers with: ``digits/0.wav`` .. ``9.wav`` and ``oh.wav`` (digit words), and 83 others -
teens and tens (``13.wav``, ``90.wav``), ordinals (``h-3.wav``), months, weekdays,
"hundred", "minus"... - the non-digit number words a digits model must not log.

Layout: ``<root>/digits/<prompt>.wav`` (``root`` = the voice folder,
``/usr/share/asterisk/sounds/en_US_f_Allison`` on Debian; the ``digits`` folder itself is
accepted too). Labels: the digit word (``zero``..``nine``), ``oh``, or the prompt's own name
for every other prompt (``90``, ``h-3``, ``mon-1``).
"""

from __future__ import annotations

import re
from pathlib import Path

from listener.training.datasets.base import DIGITS, Clip, DatasetError, require_dir, sort_clips

DEFAULT_ROOT = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
SPEAKER = "allison"


def prompt_label(stem: str) -> str:
    """``0``..``9`` -> the digit word, ``oh`` -> ``oh``, any other prompt -> its own name."""
    if re.fullmatch(r"\d", stem):
        return DIGITS[int(stem)]
    return stem


def load_allison(root: Path | str = DEFAULT_ROOT) -> list[Clip]:
    """Every prompt of the voice's ``digits`` folder, labelled (see ``prompt_label``)."""
    path = require_dir(root, "Allison prompts (apt install asterisk-core-sounds-en-wav)")
    folder = path / "digits" if (path / "digits").is_dir() else path
    clips = [
        Clip(path=wav, label=prompt_label(wav.stem), speaker=SPEAKER, split="train") for wav in folder.glob("*.wav")
    ]
    if not any(c.label in DIGITS for c in clips):
        raise DatasetError(f"Allison prompts: no 0.wav .. 9.wav in {folder}")
    return sort_clips(clips)
