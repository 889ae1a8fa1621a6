"""UrbanSound8K (Salamon et al. 2014): 8732 clips (<= 4 s) of 10 urban classes, 10 official folds.

Layout: `metadata/UrbanSound8K.csv` (slice_file_name,fsID,start,end,salience,
fold,classID,class) and `audio/fold<N>/<slice_file_name>`. Slices of one
freesound recording (fsID) share a fold, so results are only comparable with
the official 10-fold cross-validation (`base.fold_split`). Label = class with
"_" -> " " ("dog bark", "street music"), speaker = fsID.
"""

from __future__ import annotations

import csv
from pathlib import Path

from listener.training.datasets.base import Clip, DatasetError, require_dir, sort_clips

COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")


def load_urbansound8k(root: Path | str) -> list[Clip]:
    """List every slice with label, fold (1-10) and source recording id."""
    path = require_dir(root, "UrbanSound8K")
    csv_path = path / "metadata" / "UrbanSound8K.csv"
    if not csv_path.is_file():
        raise DatasetError(f"UrbanSound8K: {csv_path} not found (expected metadata/UrbanSound8K.csv)")
    clips: list[Clip] = []
    missing: list[Path] = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        lacking = set(COLUMNS) - set(reader.fieldnames or [])
        if lacking:
            raise DatasetError(f"UrbanSound8K: {csv_path} lacks columns {sorted(lacking)}")
        for line, row in enumerate(reader, start=2):
            try:
                fold = int(row["fold"])
            except ValueError:
                raise DatasetError(f"UrbanSound8K: {csv_path}:{line}: fold {row['fold']!r} is not a number") from None
            audio = path / "audio" / f"fold{fold}" / row["slice_file_name"]
            if not audio.is_file():
                missing.append(audio)
                continue
            label = row["class"].strip().replace("_", " ").lower()
            clips.append(Clip(path=audio, label=label, speaker=row["fsID"].strip(), fold=fold))
    if missing:
        raise DatasetError(f"UrbanSound8K: {len(missing)} files listed in {csv_path} are missing, e.g. {missing[0]}")
    if not clips:
        raise DatasetError(f"UrbanSound8K: {csv_path} lists no clips")
    return sort_clips(clips)
