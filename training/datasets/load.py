"""``--data KIND:PATH`` -> clips: the one place the command lines (train, export) turn a data
argument into a clip list, with the kinds of dataset they accept."""

from __future__ import annotations

from listener.training.datasets.base import Clip, DatasetError

KINDS = ("folder", "fsdd", "speech_commands", "esc10", "esc50")


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
