"""ESC-10 / ESC-50 environmental sounds (Piczak 2015): 5 s clips in 5 official folds.

Two layouts are read:

- the ESC-10 repository (and the copy in shared/data): `NNN - Class name/<fold>-<freesound id>-<take>.ogg`;
  label = the class name after "NNN - ", lower-case ("dog bark", "sea waves").
- the official ESC-50 repository: `audio/*.wav` + `meta/esc50.csv`
  (filename,fold,target,category,esc10,src_file,take); `subset="esc10"` keeps the
  rows with esc10 == True. Labels are the category with "_" -> " ", and the ten
  ESC-10 categories are renamed to the ESC-10 folder names, so a model trained
  on one layout reads the other with the same labels.

Clips cut from one source recording share a fold; speaker = that freesound id,
and evaluation is 5-fold cross-validation over the official folds
(`base.fold_split`), never a random split.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from listener.training.datasets.base import Clip, DatasetError, require_dir, sort_clips

# ESC-50 category -> ESC-10 folder label.
ESC10_LABELS: dict[str, str] = {
    "dog": "dog bark",
    "rain": "rain",
    "sea_waves": "sea waves",
    "crying_baby": "baby cry",
    "clock_tick": "clock tick",
    "sneezing": "person sneeze",
    "helicopter": "helicopter",
    "chainsaw": "chainsaw",
    "rooster": "rooster",
    "crackling_fire": "fire crackling",
}

_CLASS_DIR = re.compile(r"^\d+\s*-\s*(.+)$")
_FILE = re.compile(r"^(\d+)-([^-]+)-([^-.]+)")


def _label_from_category(category: str) -> str:
    return ESC10_LABELS.get(category, category.replace("_", " ").strip().lower())


def _load_folder_layout(root: Path) -> list[Clip]:
    clips: list[Clip] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        match = _CLASS_DIR.match(class_dir.name)
        if not match:
            continue
        label = match.group(1).strip().lower()
        for path in class_dir.iterdir():
            if path.suffix.lower() not in (".ogg", ".wav"):
                continue
            m = _FILE.match(path.name)
            if not m:
                raise DatasetError(f"ESC: {path} does not follow <fold>-<freesound id>-<take>.ogg")
            clips.append(Clip(path=path, label=label, speaker=m.group(2), fold=int(m.group(1))))
    return clips


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


def _load_csv_layout(root: Path, csv_path: Path, subset: str) -> list[Clip]:
    audio = root / "audio"
    clips: list[Clip] = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"filename", "fold", "category", "esc10", "src_file"}
        missing = need - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"ESC-50: {csv_path} lacks columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            if subset == "esc10" and not _truthy(row["esc10"]):
                continue
            try:
                fold = int(row["fold"])
            except ValueError:
                raise DatasetError(f"ESC-50: {csv_path}:{line}: fold {row['fold']!r} is not a number") from None
            path = audio / row["filename"]
            if not path.is_file():
                raise DatasetError(f"ESC-50: {csv_path}:{line}: audio file {path} is missing")
            clips.append(
                Clip(path=path, label=_label_from_category(row["category"]), speaker=row["src_file"], fold=fold)
            )
    return clips


def load_esc(root: Path | str, subset: str = "esc10") -> list[Clip]:
    """List ESC clips with label, fold (1-5) and source recording (speaker)."""
    if subset not in ("esc10", "esc50"):
        raise DatasetError(f"ESC: subset must be 'esc10' or 'esc50', got {subset!r}")
    path = require_dir(root, "ESC")
    csv_path = path / "meta" / "esc50.csv"
    if csv_path.is_file():
        clips = _load_csv_layout(path, csv_path, subset)
    else:
        clips = _load_folder_layout(path)
    if not clips:
        raise DatasetError(
            f"ESC: no clips in {path} (expected 'NNN - Class/<fold>-<id>-<take>.ogg' folders "
            "or audio/ + meta/esc50.csv)"
        )
    return sort_clips(clips)
