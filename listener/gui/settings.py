"""What the app remembers between runs (QSettings), as one dataclass.

Everything goes through :class:`GuiSettings` so the keys and their types live in
one place; QSettings returns strings on some platforms, so every value is
converted back explicitly and a corrupt value falls back to the default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "listener"
APPLICATION = "listener-gui"


def default_store() -> QSettings:
    """The per-user settings file (e.g. ``~/.config/listener/listener-gui.conf``)."""
    return QSettings(ORGANIZATION, APPLICATION)


@dataclass
class GuiSettings:
    """User choices restored at start-up. ``threshold`` None means the model's own."""

    device: str = ""  # input device name ("" = the system default)
    model: str = "digits"  # "digits" | "sounds" | a path to an .onnx file
    threshold: float | None = None
    vad: int = 2  # webrtcvad aggressiveness 0..3
    hop: float | None = None  # seconds; None means the model's own (sound models)
    log_enabled: bool = False
    log_path: str = "detections.jsonl"
    recent_models: str = ""  # ";"-separated .onnx paths opened before
    geometry: QByteArray | None = None

    @classmethod
    def load(cls, store: QSettings) -> GuiSettings:
        s = cls()
        for f in fields(cls):
            if not store.contains(f.name):
                continue
            raw = store.value(f.name)
            default = getattr(s, f.name)
            try:
                setattr(s, f.name, _convert(f.name, raw, default))
            except (TypeError, ValueError):
                pass  # keep the default for a corrupt entry
        s.vad = min(3, max(0, s.vad))
        if s.threshold is not None:
            s.threshold = min(1.0, max(0.0, s.threshold))
        return s

    def save(self, store: QSettings) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                store.remove(f.name)
            else:
                store.setValue(f.name, value)
        store.sync()


def _convert(name: str, raw: object, default: object) -> object:
    if raw is None or raw == "":
        return None if name in ("threshold", "hop", "geometry") else default
    if name in ("threshold", "hop"):
        return float(raw)
    if name == "vad":
        return int(raw)
    if name == "log_enabled":
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    if name == "geometry":
        return raw if isinstance(raw, QByteArray) else None
    return str(raw)
