"""Make docs/screenshot.png: the app after it heard the bundled spoken-digits clip.

Runs the real app in a real X window (Xvfb, the xcb platform), plays the clip
through the same pipeline as ``listener gui --source``, and captures the window
from the X server shortly after the last detection (while the decision is
still shown). Starts its own Xvfb when ``DISPLAY`` is not set.

    python -m bench.screenshot                     # digits model, assets/samples/digits.wav
    python -m bench.screenshot --model sounds --source assets/samples/sounds.wav --out /tmp/sounds.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _shown(record) -> str:
    """What the history shows for a record: a detection's label, a sequence's digits."""
    return record.digits if hasattr(record, "digits") else record.label


def capture(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from listener.gui.app import create_window

    app = QApplication([sys.argv[0]])
    store = QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QSettings.Format.IniFormat)
    window = create_window(
        Namespace(source=args.source, model=args.model, device=None, log=None, threshold=None),
        store=store,
        autostart=True,
    )
    window.resize(args.width, args.height)
    window.show()
    result = {"rc": 1}

    def grab() -> None:
        app.processEvents()
        shot = window.screen().grabWindow(window.winId())
        if shot.isNull() or shot.width() < 100:  # some X setups cannot read back; render the widget instead
            shot = window.grab()
        shot.save(args.out, "PNG")
        n = len(window.history_model.detections())
        print(
            f"saved {args.out} ({shot.width()}x{shot.height()}, {Path(args.out).stat().st_size // 1024} KB) "
            f"with {n} records: {[_shown(d) for d in window.history_model.detections()]}"
            + (f"; error: {window.banner.label.text()}" if window.banner.label.text() else "")
        )
        result["rc"] = 0 if n else 1
        window.close()
        app.quit()

    def on_stopped(_summary) -> None:
        QTimer.singleShot(int(args.settle * 1000), grab)

    window.worker.stopped.connect(on_stopped)
    QTimer.singleShot(120_000, grab)  # never hang
    app.exec()
    return result["rc"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="digits")
    ap.add_argument("--source", default=os.path.relpath(ROOT / "assets" / "samples" / "digits.wav"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    ap.add_argument("--width", type=int, default=1180)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--settle", type=float, default=0.3, help="seconds after the clip ends before the capture")
    args = ap.parse_args()
    if os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        return capture(args)
    if shutil.which("Xvfb") is None:
        sys.exit("screenshot: needs an X display or Xvfb (apt-get install xvfb)")
    display = ":99"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        return subprocess.call([sys.executable, "-m", "bench.screenshot", *sys.argv[1:]], env=env, cwd=ROOT)
    finally:
        xvfb.terminate()
        xvfb.wait()


if __name__ == "__main__":
    sys.exit(main())
