"""Widgets repainted by the window's frame timer, not by every audio block.

Blocks arrive ~30 times a second from the worker; repainting on each would tie
drawing cost to the audio rate. Widgets mark themselves dirty when data arrives
and the window's timer calls ``refresh`` at a fixed frame rate.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


class FrameWidget(QWidget):
    """A QWidget that repaints at most once per frame, and only after new data."""

    _dirty: bool = False

    def refresh(self) -> None:
        """Frame-timer slot: repaint if new data arrived since the last frame."""
        if self._dirty:
            self._dirty = False
            self.update()
