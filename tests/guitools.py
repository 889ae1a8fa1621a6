"""Helpers of the app's tests (tests/listener/gui/): a real window on Qt's offscreen platform.

Importing this skips the importing test module when the gui extra (PySide6) is missing.
Their fixtures (``store``, ``tones_wav``) are in tests/conftest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="the gui extra is not installed (pip install listener[gui])")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402

from listener.config import RunOptions  # noqa: E402
from listener.events import Sequence  # noqa: E402
from listener.gui.settings import GuiSettings  # noqa: E402
from listener.gui.window import MainWindow  # noqa: E402

RATE = 16000


def make_window(qtbot, store: QSettings, log_enabled: bool = False, log_path: str | None = None, **options):
    """A shown MainWindow whose options are ``RunOptions(**options)``."""
    settings = GuiSettings(options=RunOptions(**options), log_enabled=log_enabled)
    if log_path is not None:
        settings.log_path = log_path
    w = MainWindow(store=store, settings=settings)
    qtbot.addWidget(w)
    w.show()
    return w


def play(qtbot, w: MainWindow, path: Path, timeout_ms: int = 30000, paced: bool = False) -> None:
    """Play ``path`` through the window's pipeline and wait until the session has ended."""
    w.pace_files = paced
    w.use_file(str(path))
    with qtbot.waitSignal(w.worker.stopped, timeout=timeout_ms):
        w.start()
    qtbot.wait(50)  # let the queued signals that preceded ``stopped`` land


def history_labels(w: MainWindow) -> list[str]:
    """The history's label column, oldest first: a detection's label, a sequence's digits (a
    sequence model's history holds its strings)."""
    return [d.digits if isinstance(d, Sequence) else d.label for d in w.history_model.detections()]
