"""What the app listens with, and what it remembers between runs (QSettings).

The app listens with the same :class:`~listener.config.RunOptions` the command line
builds, so every default is the stage's own (``listener/config.py`` lists the owners)
and a setting is the same in both unless the user changes it. Of those options the
app remembers the ones a user picks in the window (``REMEMBERED``), under their
option names; the others last for one run (a flag, the config file). QSettings
returns strings on some platforms, so every value is converted back by the option's
own type and a corrupt value falls back to the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from PySide6.QtCore import QByteArray, QSettings

from listener.config import RunOptions, option_type
from listener.sinks import DEFAULT_LOG

ORGANIZATION = "listener"
APPLICATION = "listener-gui"
# The options the window lets a user pick, remembered between runs.
REMEMBERED = ("model", "device", "threshold", "vad", "hop")


def default_store() -> QSettings:
    """The per-user settings file (e.g. ``~/.config/listener/listener-gui.conf``)."""
    return QSettings(ORGANIZATION, APPLICATION)


@dataclass
class GuiSettings:
    """The app's options and its own choices, restored at start-up.

    ``options`` are the listening options (``threshold`` None: the model's own, ``device``
    None: the system default); ``log_enabled`` and ``log_path`` are the "Log to" box.
    """

    options: RunOptions = field(default_factory=RunOptions)
    log_enabled: bool = False
    log_path: str = DEFAULT_LOG
    recent_models: str = ""  # ";"-separated .onnx paths opened before
    geometry: QByteArray | None = None

    @classmethod
    def load(cls, store: QSettings) -> GuiSettings:
        s = cls()
        defaults = RunOptions()
        for name in REMEMBERED:
            if store.contains(name):
                try:
                    setattr(s.options, name, _option(name, store.value(name), getattr(defaults, name)))
                except (TypeError, ValueError):
                    pass  # keep the default for a corrupt entry
        for f in _own_fields():
            if store.contains(f.name):
                try:
                    setattr(s, f.name, _own(f.name, store.value(f.name), getattr(s, f.name)))
                except (TypeError, ValueError):
                    pass
        o = s.options
        o.vad = min(3, max(0, o.vad))
        if o.threshold is not None:
            o.threshold = min(1.0, max(0.0, o.threshold))
        return s

    def save(self, store: QSettings) -> None:
        values = {name: getattr(self.options, name) for name in REMEMBERED}
        values.update({f.name: getattr(self, f.name) for f in _own_fields()})
        for name, value in values.items():
            if value is None:
                store.remove(name)
            else:
                store.setValue(name, value)
        store.sync()


def _own_fields() -> list:
    return [f for f in fields(GuiSettings) if f.name != "options"]


def _option(name: str, raw: object, default: object) -> object:
    """A remembered option back from QSettings, by the option's type."""
    if raw is None or raw == "":
        return default
    kind = option_type(name)
    if kind is bool:
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    if kind in (int, float):
        return kind(raw)
    return str(raw)


def _own(name: str, raw: object, default: object) -> object:
    """One of the app's own choices back from QSettings."""
    if name == "geometry":
        return raw if isinstance(raw, QByteArray) else None
    if name == "log_enabled":
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    return default if raw is None or raw == "" else str(raw)
