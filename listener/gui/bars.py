"""Top-k probability bars for the last window, and the current decision shown large.

The bars show every window the model classified (or a sequence model's every output
frame), accepted or not, with the threshold drawn as a line (a mark per bar when the
labels have thresholds of their own), so the user sees *why* something was (not) detected.
The decision label keeps the last detection for a few seconds, then fades to
grey, so a detection stays readable without pretending it is still happening.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from listener.contract import DEFAULT_THRESHOLD

_BAR = QColor(90, 150, 230)
_BAR_TOP = QColor(60, 190, 110)
_REJECT = QColor(150, 150, 150)


class ProbabilityBars(QWidget):
    """Horizontal bars of the ``k`` most probable labels of one window."""

    def __init__(self, k: int = 5, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k = k
        self.threshold = DEFAULT_THRESHOLD  # until a session says the model's
        self.thresholds: dict[str, float] = {}  # per label, when they differ
        self.reject: set[str] = set()
        self.top: list[tuple[str, float]] = []
        self.setMinimumSize(220, 24 * k + 8)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_probs(self, labels: list[str], probs: np.ndarray) -> None:
        """Take one window's probabilities (any order) and keep the top ``k``."""
        p = np.asarray(probs, dtype=float).ravel()
        order = np.argsort(-p)[: self.k]
        self.top = [(labels[i], float(p[i])) for i in order]
        self.update()

    def set_threshold(self, threshold: float) -> None:
        """One threshold for every label."""
        self.threshold = float(threshold)
        self.thresholds = {}
        self.update()

    def set_thresholds(self, thresholds: dict[str, float]) -> None:
        """Each label's threshold (one line when they are all the same)."""
        values = set(thresholds.values())
        if len(values) <= 1:
            self.set_threshold(values.pop() if values else DEFAULT_THRESHOLD)
            return
        self.thresholds = dict(thresholds)
        self.threshold = min(values)
        self.update()

    def threshold_for(self, label: str) -> float:
        return self.thresholds.get(label, self.threshold)

    def clear(self) -> None:
        self.top = []
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(300, 24 * self.k + 8)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        w, h = self.width(), self.height()
        row = (h - 8) / self.k
        label_w = min(110.0, w * 0.35)
        bar_w = w - label_w - 60
        fm = p.fontMetrics()
        for i in range(self.k):
            y = 4 + i * row
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(128, 128, 128, 40))
            p.drawRect(QRectF(label_w, y + 3, bar_w, row - 6))
            if i >= len(self.top):
                continue
            label, prob = self.top[i]
            passes = prob >= self.threshold_for(label)
            colour = _REJECT if label in self.reject else (_BAR_TOP if i == 0 and passes else _BAR)
            p.setBrush(colour)
            p.drawRect(QRectF(label_w, y + 3, bar_w * prob, row - 6))
            p.setPen(self.palette().windowText().color())
            text = fm.elidedText(label, Qt.TextElideMode.ElideRight, int(label_w) - 8)
            p.drawText(
                QRectF(0, y, label_w - 8, row), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text
            )
            p.drawText(
                QRectF(label_w + bar_w + 6, y, 54, row),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{prob:.2f}",
            )
            if self.thresholds and label not in self.reject:  # this label's own threshold
                x = label_w + bar_w * self.threshold_for(label)
                p.setPen(QPen(QColor(230, 80, 60), 2.0))
                p.drawLine(int(x), int(y + 1), int(x), int(y + row - 1))
        if not self.thresholds:  # the threshold: a bar must reach this line to become a detection
            x = label_w + bar_w * self.threshold
            p.setPen(QPen(QColor(230, 80, 60), 1.5, Qt.PenStyle.DashLine))
            p.drawLine(int(x), 2, int(x), h - 2)
        p.end()


class DecisionLabel(QLabel):
    """The last detection in large type; greys out after ``hold_s`` seconds."""

    def __init__(self, hold_s: float = 3.0, parent: QWidget | None = None) -> None:
        super().__init__("—", parent)
        self.hold_s = hold_s
        self._since = 0.0
        font = QFont(self.font())
        font.setPointSize(40)
        font.setBold(True)
        self.setFont(font)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(80)
        # A long label ("person sneeze") must not widen the panel: the text shrinks instead.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._label = ""
        self._confidence = 0.0
        self._fresh = False
        self._style(False)

    def show_decision(self, label: str, confidence: float) -> None:
        self._label, self._confidence = label, confidence
        self._fit()
        self._since = time.monotonic()
        self._style(True)

    def _fit(self) -> None:
        """Largest point size (40 down to 14) at which the label fits the current width."""
        if not self._label:
            return
        font = QFont(self.font())
        size = 40
        while size > 14:
            font.setPointSize(size)
            if QFontMetrics(font).horizontalAdvance(self._label) + 110 <= self.width():
                break
            size -= 2
        font.setPointSize(size)
        self.setFont(font)
        small = max(10, size * 18 // 40)
        self.setText(
            f"{self._label}  <span style='font-size:{small}pt; font-weight:normal'>{self._confidence:.0%}</span>"
        )

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def clear(self) -> None:
        self._label = ""
        self.setText("—")
        self._style(False)

    def tick(self) -> None:
        """Frame-timer slot: grey out a stale decision."""
        if self._fresh and time.monotonic() - self._since > self.hold_s:
            self._style(False)

    def _style(self, fresh: bool) -> None:
        self._fresh = fresh
        colour = "#2fae5f" if fresh else "#8a8a8a"
        self.setStyleSheet(f"QLabel {{ color: {colour}; }}")
