"""``--data KIND:PATH`` -> clips: the one place the command lines (train, export) turn a data
argument into a clip list, with the kinds of dataset they accept."""

from __future__ import annotations

from dataclasses import dataclass

from listener.training.datasets.base import Clip, DatasetError, assign_splits

KINDS = ("folder", "fsdd", "speech_commands", "esc10", "esc50")
VAL_FRACTION = 0.15  # speakers held out for validation when the data has no split of its own


@dataclass(frozen=True)
class DataSplit:
    """Which clips of a ``--data`` set train and which validate, for every command that reads one
    (train, export, bench_custom): a dataset's own split where it has one (FSDD's speakers, Speech
    Commands' lists), else `val_fraction` of the speakers held out by a stable hash of their name, and
    for fold datasets (ESC) the official fold `fold` (None: fold 1), whose source recordings no other
    fold holds."""

    val_fraction: float = VAL_FRACTION
    fold: int | None = None

    def apply(self, clips: list[Clip]) -> tuple[list[Clip], list[Clip], list[Clip]]:
        """(training clips, validation clips, test clips: a dataset's own test split, which neither of the
        others holds). A `fold` the data does not have, or a `fold` for data without folds, is a
        DatasetError: a fold asked for and not held out would pass unnoticed."""
        clips = assign_splits(clips, self.val_fraction, test_fraction=0.0)
        folds = sorted({c.fold for c in clips if c.fold is not None})
        held = 1 if self.fold is None else self.fold
        if self.fold is not None and not folds:
            raise DatasetError(f"fold {self.fold}: this data has no official folds (esc10 and esc50 have)")
        if folds and held not in folds:
            raise DatasetError(f"fold {held} is not one of the data's folds {folds}")
        train = [c for c in clips if c.split == "train" or (c.split is None and c.fold != held)]
        val = [c for c in clips if c.split == "validation" or (c.split is None and c.fold == held)]
        return train, val, [c for c in clips if c.split == "test"]


def load_data(spec: str) -> list[Clip]:
    """``folder:PATH`` | ``fsdd:PATH`` | ``speech_commands:PATH`` | ``esc10:PATH`` | ``esc50:PATH`` -> clips."""
    if ":" not in spec:
        raise DatasetError(f"--data {spec!r}: expected KIND:PATH ({', '.join(KINDS)})")
    kind, path = spec.split(":", 1)
    if kind == "folder":
        from listener.training.datasets.folder import load_folder

        return load_folder(path)
    if kind == "fsdd":
        from listener.training.datasets.fsdd import load_fsdd

        return load_fsdd(path)
    if kind == "speech_commands":
        from listener.training.datasets.speech_commands import load_speech_commands

        return load_speech_commands(path)
    if kind in ("esc10", "esc50"):
        from listener.training.datasets.esc import load_esc

        return load_esc(path, subset=kind)
    raise DatasetError(f"--data {spec!r}: unknown kind {kind!r} ({', '.join(KINDS)})")
