"""Entry point of ``listener gui``: build the QApplication and the window from CLI arguments.

The app takes ``listener run``'s options (flags and the ``--config`` TOML file, the
same names and defaults): those given override what the app remembered (QSettings)
for this run, and the ones the window lets a user pick are then remembered like any
other choice. ``--mqtt URL`` (and its options) publishes detections to a broker for
this run only: a password is never stored. The window starts listening at once, so
``listener gui --source clip.wav`` shows the app working without a microphone.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from listener.audio import find_input_device
from listener.config import RunOptions, given_options
from listener.errors import ListenerError
from listener.gui.controls import SourceChoice
from listener.gui.settings import GuiSettings, default_store
from listener.gui.window import MainWindow
from listener.mqtt import mqtt_options


def apply_args(settings: GuiSettings, given: dict) -> GuiSettings:
    """Fold the options given for this run (:func:`~listener.config.given_options`: the config
    file, then the flags) into the remembered settings."""
    given = dict(given)
    if "model" in given and "hop" not in given:
        given["hop"] = None  # hops belong to a model
    log = given.pop("log", None)
    if log:
        settings.log_enabled, settings.log_path = True, str(log)
    settings.options = replace(settings.options, **given)
    return settings


def create_window(args: argparse.Namespace, store: QSettings | None = None, autostart: bool = True) -> MainWindow:
    """The window for ``args`` (an ``listener gui`` Namespace); a QApplication must exist."""
    given = given_options(args, RunOptions)
    store = store if store is not None else default_store()
    settings = apply_args(GuiSettings.load(store), given)
    mqtt = mqtt_options(settings.options)  # a malformed --mqtt URL is a usage error, before any window opens
    window = MainWindow(store=store, settings=settings, mqtt=mqtt)
    device_ok = True
    if given.get("device") is not None:
        try:  # an index or a name substring, as on the command line
            name = find_input_device(given["device"]).name
        except ListenerError as exc:
            window.show_error(exc.message)  # shown; the user picks another device
            device_ok = False
        else:
            window.settings.options.device = name
            window.source_picker.select(SourceChoice("mic", name))
    source = given.get("source", "mic")
    if source == "-":
        window.show_error("the app cannot read audio from stdin; use 'listener run --source -'")
    elif source not in ("auto", "mic"):
        window.use_file(str(Path(source)))
    if autostart and source != "-" and (device_ok or source not in ("auto", "mic")):
        QTimer.singleShot(0, window.start)
    return window


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    """Run the app until its window closes; returns the exit status.

    ``args`` is an argparse Namespace, or the raw arguments after ``gui``
    (``listener gui --source x.wav`` passes ``["--source", "x.wav"]``).
    """
    if args is None:
        args = parse_args(sys.argv[1:])
    elif isinstance(args, (list, tuple)):
        args = parse_args(list(args))
    mqtt_options(RunOptions(**given_options(args, RunOptions)))  # a bad option fails here, before Qt needs a display
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("listener")
    app.setOrganizationName("listener")
    window = create_window(args)
    window.show()

    # Ctrl-C in the terminal or SIGTERM close the window properly (settings saved,
    # log closed). Python only sees signals when it runs, hence the idle timer; and it may
    # run the handler in the middle of a widget's paintEvent, so the handler only posts the
    # close to the event loop (closing mid-paint destroys the native window under the
    # painter: "QBackingStore::flush() called for ... which does not have a handle").
    def close_soon(*_: object) -> None:
        QTimer.singleShot(0, window.close)

    previous = {sig: signal.signal(sig, close_soon) for sig in (signal.SIGINT, signal.SIGTERM)}
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    status = int(app.exec())
    # Tear the window down while the QApplication and its platform windows still exist:
    # left to interpreter shutdown, widgets can be painted and flushed after their native
    # window is gone ("QBackingStore::flush() called for ... which does not have a handle").
    wake.stop()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    window.hide()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
    return status


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Arguments for ``python -m listener.gui`` (the same as ``listener gui``)."""
    from listener.cli import GUI_DESCRIPTION, gui_options

    p = argparse.ArgumentParser(prog="listener gui", description=GUI_DESCRIPTION)
    gui_options(p)
    return p.parse_args(argv)
