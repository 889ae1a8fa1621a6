"""Your own recordings: one sub-folder per class, any audio file soundfile can read.

    my_sounds/
      doorbell/alice_001.wav  alice_002.flac  bob_001.ogg ...
      kettle/...

Label = the sub-folder name. When every file name has a `<speaker>_` prefix,
the split is by speaker (all clips of one speaker in one split, so the
validation score measures new voices / new rooms); otherwise it is per class by
file name. Both use a stable hash, so the split never changes between runs and
adding files does not move old ones. Folders starting with "." or "_" are
skipped (e.g. a `_background_noise_` folder you keep alongside).
"""

from __future__ import annotations

from pathlib import Path

from listener.training.datasets.base import (
    AUDIO_EXTENSIONS,
    Clip,
    DatasetError,
    require_dir,
    sort_clips,
    stable_fraction,
)


def _ranked_split(keys: list[str], val_fraction: float, test_fraction: float) -> dict[str, str]:
    """Order keys by a stable hash; the first go to test, the next to validation.

    Counts are rounded, with at least one key for a non-zero fraction when there
    are three keys or more, so small folders still get a validation set.
    """
    ordered = sorted(keys, key=lambda k: (stable_fraction(k), k))
    n = len(ordered)
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    if n >= 3:
        n_test = max(n_test, 1 if test_fraction > 0 else 0)
        n_val = max(n_val, 1 if val_fraction > 0 else 0)
    while n_test + n_val >= n and (n_test or n_val):  # always keep training data
        if n_test >= n_val and n_test:
            n_test -= 1
        else:
            n_val -= 1
    split = {}
    for i, key in enumerate(ordered):
        split[key] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return split


def load_folder(root: Path | str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> list[Clip]:
    """List the audio files under each class folder with label, speaker (if named) and split."""
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"folder: fractions must be >= 0 and sum below 1, got validation={val_fraction} test={test_fraction}"
        )
    path = require_dir(root, "folder dataset")
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not class_dirs:
        raise DatasetError(f"folder dataset: {path} has no class sub-folders (one folder per class)")
    files: list[tuple[Path, str]] = []
    for class_dir in class_dirs:
        found = [
            p
            for p in class_dir.rglob("*")
            if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
        ]
        if not found:
            raise DatasetError(
                f"folder dataset: class folder {class_dir} has no audio files ({', '.join(AUDIO_EXTENSIONS)})"
            )
        files.extend((p, class_dir.name) for p in found)

    by_speaker = all("_" in p.stem.strip("_") for p, _ in files)
    clips: list[Clip] = []
    if by_speaker:
        speakers = {p: p.stem.split("_", 1)[0] for p, _ in files}
        split = _ranked_split(sorted(set(speakers.values())), val_fraction, test_fraction)
        for p, label in files:
            spk = speakers[p]
            clips.append(Clip(path=p, label=label, speaker=spk, split=split[spk]))
    else:
        for class_dir in class_dirs:
            names = {str(p.relative_to(path)): p for p, label in files if label == class_dir.name}
            split = _ranked_split(sorted(names), val_fraction, test_fraction)
            for rel, p in names.items():
                clips.append(Clip(path=p, label=class_dir.name, split=split[rel]))
    return sort_clips(clips)
