"""Live waveform and the gate / voice-activity indicator.

The waveform keeps the last few seconds of samples in a ring buffer and draws a
min/max envelope per pixel column (computed with numpy at paint time), so the
cost of a frame depends on the widget width, not on the sample rate. The
background of the stretch where the gate was open is tinted, so the user can see
what the VAD let through.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from .frame import FrameWidget

_BG = QColor(22, 24, 30)
_WAVE = QColor(120, 200, 255)
_ACTIVE_BG = QColor(32, 70, 48)
_LUT = np.array([_BG.rgb(), _ACTIVE_BG.rgb(), _WAVE.rgb()], dtype=np.uint32)


class WaveformView(FrameWidget):
    """Min/max envelope of the last ``seconds`` of audio, newest on the right.

    Blocks are reduced on arrival to 5 ms bins (min, max, gate open), so the
    buffer is ~1200 bins for 6 s whatever the sample rate, and neither adding a
    block nor painting touches every sample again.
    """

    BIN_SECONDS = 0.005

    def __init__(self, seconds: float = 6.0, sample_rate: int = 16000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Every pixel is painted each frame: Qt need not paint the parents behind it first.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMinimumSize(240, 70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.seconds = seconds
        self.configure(sample_rate)

    def configure(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self._bin = max(1, int(round(self.BIN_SECONDS * self.sample_rate)))
        n = int(round(self.seconds / self.BIN_SECONDS))
        self._lo = np.zeros(n, dtype=np.float32)
        self._hi = np.zeros(n, dtype=np.float32)
        self._active = np.zeros(n, dtype=bool)
        self._pending = np.zeros(0, dtype=np.float32)
        self._dirty = True

    def append(self, samples: np.ndarray, active: bool) -> None:
        """Add one block (a few small array writes, no drawing)."""
        x = np.asarray(samples, dtype=np.float32).ravel()
        if self._pending.size:
            x = np.concatenate([self._pending, x])
        k = x.size // self._bin
        self._pending = x[k * self._bin :].copy()
        if k == 0:
            return
        bins = x[: k * self._bin].reshape(k, self._bin)
        k = min(k, self._lo.size)
        bins = bins[-k:]
        for arr, new in ((self._lo, bins.min(axis=1)), (self._hi, bins.max(axis=1))):
            arr[:-k] = arr[k:].copy()
            arr[-k:] = new
        self._active[:-k] = self._active[k:].copy()
        self._active[-k:] = active
        self._dirty = True

    def clear(self) -> None:
        self._lo[:] = 0
        self._hi[:] = 0
        self._active[:] = False
        self._pending = np.zeros(0, dtype=np.float32)
        self._dirty = True

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(560, 90)

    def envelope(self, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-pixel-column (min, max, gate open) of the buffer, for ``columns`` pixels."""
        n = self._lo.size
        if columns >= n:  # fewer bins than pixels: stretch
            idx = np.linspace(0, n - 1, columns).round().astype(int)
            return self._lo[idx], self._hi[idx], self._active[idx]
        starts = np.linspace(0, n, columns, endpoint=False).astype(int)  # strictly increasing: columns < n
        return (
            np.minimum.reduceat(self._lo, starts),
            np.maximum.reduceat(self._hi, starts),
            np.logical_or.reduceat(self._active, starts),
        )

    def render(self, w: int, h: int) -> np.ndarray:
        """Colour indices ``uint8 [h, w]``: 0 background, 1 gate open, 2 waveform.

        Drawn with numpy (one comparison per pixel) rather than a QPolygonF of
        Python points, which cost ~2 ms a frame; this costs a few tenths.
        """
        lo, hi, act = self.envelope(w)
        mid = (h - 1) / 2.0
        peak = max(float(self._hi.max()), -float(self._lo.min()))
        scale = mid * 0.95 / max(0.05, peak)  # auto gain, capped
        top = np.floor(mid - hi * scale)
        bottom = np.ceil(mid - lo * scale)
        rows = np.arange(h, dtype=float)[:, None]
        img = np.where(act[None, :], np.uint8(1), np.uint8(0)).repeat(h, axis=0)
        img[(rows >= top[None, :]) & (rows <= bottom[None, :])] = 2
        return img

    def paintEvent(self, event) -> None:  # noqa: N802
        w, h = self.width(), self.height()
        data = _LUT[self.render(w, h)].tobytes()
        img = QImage(data, w, h, w * 4, QImage.Format.Format_RGB32)  # ``data`` outlives the paint
        p = QPainter(self)
        p.drawImage(0, 0, img)
        p.setPen(QColor(255, 255, 255, 150))
        p.drawText(
            self.rect().adjusted(6, 4, -6, -4),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            f"waveform, last {self.seconds:g} s (green: gate open)",
        )
        p.end()


class GateIndicator(FrameWidget):
    """A lamp (gate open / closed) and a level meter in dBFS."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.active = False
        self.level_db = -100.0
        self._dirty = True
        self.setMinimumSize(160, 26)
        self.setToolTip("Voice / sound activity gate: green while the gate is open; bar: input level")

    def set_state(self, active: bool, level_db: float) -> None:
        """Store the latest state; the frame timer repaints (``refresh``)."""
        if active != self.active or abs(level_db - self.level_db) > 0.5:
            self.active, self.level_db = active, level_db
            self._dirty = True

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(220, 26)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        h = self.height()
        d = h - 8
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(60, 200, 90) if self.active else QColor(90, 90, 90))
        p.drawEllipse(QRectF(4, 4, d, d))
        p.setPen(self.palette().windowText().color())
        p.drawText(QRectF(d + 10, 0, 70, h), Qt.AlignmentFlag.AlignVCenter, "active" if self.active else "quiet")
        x0, x1 = d + 70, self.width() - 4
        if x1 > x0 + 10:
            frac = float(np.clip((self.level_db + 80.0) / 80.0, 0.0, 1.0))
            p.setBrush(QColor(50, 50, 55))
            p.drawRect(QRectF(x0, h / 2 - 5, x1 - x0, 10))
            p.setBrush(QColor(120, 200, 255) if self.level_db < -6 else QColor(240, 90, 60))
            p.drawRect(QRectF(x0, h / 2 - 5, (x1 - x0) * frac, 10))
        p.end()
