"""What the model hears: its own features, scrolling, and those of the last window it classified.

Both views draw the model's ``features`` output (docs/architecture.md, "The model
contract"), never a front end of their own:

* :class:`SpectrogramView` scrolls the features of the whole stream, silence included:
  the worker computes them with the model itself (:mod:`listener.gui.features`).
* :class:`FeatureView` draws the features of the last window the pipeline classified,
  i.e. exactly what the network saw for the decision shown beside it.

Features come in any unit, so each view scales to the range of what it shows. Drawing is
cheap: each repaint maps the values through a colour table with numpy into an RGB32
``QImage`` (no per-pixel Python) that the painter scales to the widget. Repaints are
driven by the window's frame timer, never by incoming data.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from .features import FeatureLayout
from .frame import FrameWidget

# Evenly spaced anchor colours of a perceptually ordered dark-to-bright map (close to "magma").
_ANCHORS = [(0, 0, 4), (80, 18, 123), (183, 55, 121), (252, 137, 97), (252, 253, 191)]


def color_table() -> list[int]:
    """256 0xffRRGGBB values, interpolated from ``_ANCHORS``."""
    xs = np.linspace(0.0, 1.0, len(_ANCHORS))
    rgb = np.array(_ANCHORS, dtype=float)
    t = np.linspace(0.0, 1.0, 256)
    chans = [np.interp(t, xs, rgb[:, c]).round().astype(int) for c in range(3)]
    return [0xFF000000 | (int(r) << 16) | (int(g) << 8) | int(b) for r, g, b in zip(*chans)]


_COLORS = color_table()


def value_range(values: np.ndarray) -> tuple[float, float]:
    """The span a view maps onto its colours: the 2nd percentile (the background) to the maximum.

    Features come in any unit (natural-log mel, dB, MFCC...), so the views scale to what
    they show rather than to a fixed range.
    """
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(np.percentile(values, 2)), float(values.max())
    return lo, max(hi, lo + 1e-6)


def to_levels(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``values`` to colour indices 0..255 over ``lo``..``hi``."""
    x = (values - lo) * (255.0 / (hi - lo))
    return np.clip(x, 0, 255).astype(np.uint8)


def rgb_image(indices: np.ndarray, lut: np.ndarray) -> QImage:
    """Colour indices ``uint8 [rows, cols]`` (row 0 drawn at the top) -> an RGB32 QImage.

    The colours are looked up with numpy (``lut`` is ``uint32`` 0xffRRGGBB)
    rather than handing Qt an 8-bit indexed image: the painter scales RGB32
    about five times faster (0.3 ms instead of 1.5 ms a frame at ~730x330 px).
    """
    rows, cols = indices.shape
    data = np.ascontiguousarray(lut[indices]).tobytes()
    img = QImage(data, cols, rows, cols * 4, QImage.Format.Format_RGB32)
    return img.copy()  # own the pixels: ``data`` goes away with this frame


_LUT = np.array(_COLORS, dtype=np.uint32)


def _spectrogram_image(levels: np.ndarray) -> QImage:
    """Levels ``[n_mels, cols]`` (low bands first) as an image with low bands at the bottom."""
    return rgb_image(levels[::-1], _LUT)


class SpectrogramView(FrameWidget):
    """The model's features over the last ``seconds``, scrolling, newest audio on the right.

    Columns are placed by their frame index, so the view's time axis is the waveform's:
    the newest frames, which the model has not computed yet (:class:`FeatureColumns` runs
    it a few times a second), stay dark at the right edge until they arrive.
    """

    def __init__(self, seconds: float = 6.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Every pixel is painted each frame: Qt need not paint the parents behind it first.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.seconds = seconds
        self.setMinimumSize(240, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.configure(None)
        self.frames = 0  # paints done (the benchmark reads this)
        self._paint_times: deque[float] = deque(maxlen=120)

    def configure(self, layout: FeatureLayout | None, caption: str = "") -> None:
        """Reset for a model's features (called when a session starts); None: the model has none."""
        self.layout = layout
        rows, cols = (
            (layout.n_features, max(1, int(round(self.seconds * layout.frames_per_second)))) if layout else (1, 1)
        )
        self._ring = np.zeros((rows, cols), dtype=np.float32)
        self._have = np.zeros(cols, dtype=bool)  # columns that hold a frame
        self._end = 0  # absolute index of the frame just after the last column
        self._caption = caption if layout else "this model exports no features: nothing to show"
        self._dirty = True

    def append(self, columns: np.ndarray, first: int, heard_s: float) -> None:
        """Add frames ``first``... (``[n_features, n]``) and scroll to ``heard_s`` of audio; no drawing."""
        if self.layout is None:
            return
        n = columns.shape[1] if columns.ndim == 2 and columns.shape[0] == self._ring.shape[0] else 0
        self._scroll(max(int(heard_s * self.layout.frames_per_second), first + n))
        lo = self._end - self._ring.shape[1]  # absolute index of the first column
        skip = max(0, lo - first)
        if n > skip:
            at = first + skip - lo
            self._ring[:, at : at + n - skip] = columns[:, skip:]
            self._have[at : at + n - skip] = True
        self._dirty = True

    def _scroll(self, end: int) -> None:
        shift = end - self._end
        if shift <= 0:
            return
        shift = min(shift, self._ring.shape[1])
        self._ring = np.roll(self._ring, -shift, axis=1)
        self._have = np.roll(self._have, -shift)
        self._ring[:, -shift:] = 0.0
        self._have[-shift:] = False
        self._end = end

    def columns(self, first: int, n: int) -> np.ndarray | None:
        """Frames ``first`` to ``first + n`` as drawn (None unless all of them are held): what tests compare."""
        lo = self._end - self._ring.shape[1]
        at = first - lo
        if at < 0 or at + n > self._ring.shape[1] or not self._have[at : at + n].all():
            return None
        return self._ring[:, at : at + n].copy()

    def clear(self) -> None:
        self._ring[:] = 0.0
        self._have[:] = False
        self._dirty = True

    def fps(self) -> float:
        """Paints per second over the last ~120 frames."""
        t = self._paint_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(560, 160)

    def image(self) -> QImage:
        """The columns held, scaled to their own range; columns not (yet) computed are dark."""
        lo, hi = value_range(self._ring[:, self._have])
        levels = to_levels(self._ring, lo, hi)
        levels[:, ~self._have] = 0
        return _spectrogram_image(levels)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(QRectF(self.rect()), self.image())
        p.setPen(QColor(255, 255, 255, 170))
        p.drawText(
            self.rect().adjusted(6, 4, -6, -4),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            f"{self._caption}, last {self.seconds:g} s" if self.layout else self._caption,
        )
        p.end()
        self.frames += 1
        self._paint_times.append(time.perf_counter())


class FeatureView(QWidget):
    """The features of the last classified window, exactly as the network saw them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(120, 120)
        self._image: QImage | None = None
        self._caption = "model input: no window yet"

    def show_features(self, features: np.ndarray | None, caption: str) -> None:
        """Draw ``[n_features, frames]`` (any scale, e.g. log-mel); None clears."""
        if features is None or np.asarray(features).ndim < 2:
            self._image = None
            self._caption = "model input: this model exports no features"
        else:
            f = np.asarray(features, dtype=np.float32)
            f = f.reshape(f.shape[-2], f.shape[-1])
            self._image = _spectrogram_image(to_levels(f, *value_range(f)))
            self._caption = caption
        self.update()

    def clear(self) -> None:
        self._image = None
        self._caption = "model input: no window yet"
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(180, 160)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0, 0, 4))
        if self._image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawImage(QRectF(self.rect()), self._image)
        p.setPen(QColor(255, 255, 255, 190))
        p.drawText(
            self.rect().adjusted(6, 4, -6, -4),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            self._caption,
        )
        p.end()
