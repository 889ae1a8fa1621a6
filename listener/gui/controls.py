"""The input widgets: source and model pickers, live controls, the log toggle.

Each widget only reports what the user chose (signals with plain values); the
window decides what that means for the running session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from listener.classifier import BUILTIN_MODELS, ClassifierOptions
from listener.errors import ListenerError
from listener.sinks import DEFAULT_LOG

# What the model list says about the built-in models (BUILTIN_MODELS).
BUILTIN_DESCRIPTIONS = {"digits": "spoken 0–9", "sounds": "everyday sounds"}


@dataclass(frozen=True)
class SourceChoice:
    """A microphone (``device`` = its name, None = system default) or a file."""

    kind: str  # "mic" | "file"
    device: str | None = None
    path: str | None = None

    def describe(self) -> str:
        return f"file {self.path}" if self.kind == "file" else f"microphone {self.device or '(default)'}"


class SourcePicker(QWidget):
    """Input device list (with each device's rate), recordings, a rescan button."""

    changed = Signal(object)  # SourceChoice
    _OPEN = "open"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setMinimumWidth(260)
        self.combo.setToolTip("Where the audio comes from: an input device (its native rate) or a recording")
        self.rescan = QToolButton()
        self.rescan.setText("↻")
        self.rescan.setToolTip(
            "Look for input devices again (F5), e.g. after plugging one in"
        )  # the window connects it
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Input"))
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.rescan)
        self._files: list[str] = []
        self.device_error: str | None = None
        self._last = 0
        self.combo.activated.connect(self._activated)

    def populate(self, rescan: bool = False, select: SourceChoice | None = None) -> None:
        """Fill the list from PortAudio; a failure is kept in ``device_error``, not raised."""
        from listener.audio import list_input_devices

        keep = select or self.current()
        self.combo.blockSignals(True)
        self.combo.clear()
        try:
            devices = list_input_devices(rescan=rescan)
            self.device_error = None if devices else "no audio input device found"
        except ListenerError as exc:
            devices, self.device_error = [], exc.message
        for d in devices:
            star = " (default)" if d.is_default else ""
            self.combo.addItem(f"{d.name} — {d.default_samplerate / 1000:g} kHz{star}", SourceChoice("mic", d.name))
        if not devices:
            self.combo.addItem("(no input device found)", None)
        for path in self._files:
            self.combo.addItem(f"File: {Path(path).name}", SourceChoice("file", path=path))
        self.combo.addItem("Open audio file…", self._OPEN)
        self.combo.blockSignals(False)
        self.select(keep)

    def add_file(self, path: str) -> SourceChoice:
        if path not in self._files:
            self._files.append(path)
            self.populate()
        choice = SourceChoice("file", path=path)
        self.select(choice)
        return choice

    def select(self, choice: SourceChoice | None) -> None:
        """Select ``choice`` if listed (a device by name), else the default device."""
        index = 0
        if choice is not None:
            for i in range(self.combo.count()):
                data = self.combo.itemData(i)
                if isinstance(data, SourceChoice) and (
                    data == choice
                    or (choice.kind == "mic" and data.kind == "mic" and choice.device and data.device == choice.device)
                ):
                    index = i
                    break
            else:
                if choice.kind == "mic" and choice.device:
                    for i in range(self.combo.count()):
                        if "(default)" in self.combo.itemText(i):
                            index = i
        self.combo.setCurrentIndex(index)
        self._last = index

    def current(self) -> SourceChoice | None:
        data = self.combo.currentData()
        return data if isinstance(data, SourceChoice) else None

    def _activated(self, index: int) -> None:
        if self.combo.itemData(index) == self._OPEN:
            path, _ = QFileDialog.getOpenFileName(
                self, "Play a recording", "", "Audio (*.wav *.flac *.ogg *.mp3);;All files (*)"
            )
            if not path:
                self.combo.setCurrentIndex(self._last)
                return
            self.add_file(path)
        self._last = self.combo.currentIndex()
        choice = self.current()
        if choice is not None:
            self.changed.emit(choice)


class ModelPicker(QWidget):
    """Built-in models plus .onnx files the user opened."""

    changed = Signal(str)  # "digits" | "sounds" | a path
    _OPEN = "open"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setMinimumWidth(150)
        self.combo.setToolTip(
            "The model: built-in spoken digits or everyday sounds, or any listener .onnx file (Ctrl+O)"
        )
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Model"))
        lay.addWidget(self.combo, 1)
        self._paths: list[str] = []
        self._last = 0
        self._fill()
        self.combo.activated.connect(self._activated)

    def _fill(self, keep: str | None = None) -> None:
        keep = keep or self.current()
        self.combo.blockSignals(True)
        self.combo.clear()
        for name in BUILTIN_MODELS:
            about = BUILTIN_DESCRIPTIONS.get(name)
            self.combo.addItem(f"{name} ({about})" if about else name, name)
        for p in self._paths:
            self.combo.addItem(Path(p).name, p)
        self.combo.addItem("Open .onnx file…", self._OPEN)
        self.combo.blockSignals(False)
        self.select(keep or ClassifierOptions.model)

    def recent(self) -> list[str]:
        return list(self._paths)

    def select(self, spec: str) -> None:
        if spec not in BUILTIN_MODELS and spec not in self._paths:
            self._paths.append(spec)
            self._fill(spec)
            return
        i = self.combo.findData(spec)
        self.combo.setCurrentIndex(max(0, i))
        self._last = self.combo.currentIndex()

    def current(self) -> str | None:
        data = self.combo.currentData() if self.combo.count() else None
        return data if data not in (None, self._OPEN) else None

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a listener model", "", "ONNX models (*.onnx)")
        if not path:
            self.combo.setCurrentIndex(self._last)
            return
        self.select(path)
        self.changed.emit(path)

    def _activated(self, index: int) -> None:
        if self.combo.itemData(index) == self._OPEN:
            self.open_file()
            return
        self._last = index
        self.changed.emit(self.current() or ClassifierOptions.model)


class LiveControls(QWidget):
    """Threshold, VAD aggressiveness and hop: applied to the running session at once."""

    threshold_changed = Signal(float)
    threshold_reset = Signal()
    vad_changed = Signal(int)
    hop_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setMinimumWidth(120)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setToolTip("Confidence a window needs to become a detection (1.0: nothing is logged)")
        self.reset = QToolButton()
        self.reset.setText("model default")
        self.reset.setToolTip("Use the threshold the model suggests")
        self.vad = QSpinBox()
        self.vad.setRange(0, 3)
        self.vad.setToolTip("Voice activity detector aggressiveness: 0 lets most through, 3 only clear speech")
        self.hop = QDoubleSpinBox()
        self.hop.setRange(0.0, 1.0)  # 0.0 is the "n/a" entry (speech models have no hop)
        self.hop.setSpecialValueText("n/a")
        self.hop.setSingleStep(0.05)
        self.hop.setDecimals(2)
        self.hop.setSuffix(" s")
        self.hop.setToolTip("For sound models: a new 1 s window every hop while sound goes on")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Threshold"))
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.threshold)
        lay.addWidget(self.reset)
        lay.addSpacing(12)
        lay.addWidget(QLabel("VAD"))
        lay.addWidget(self.vad)
        lay.addSpacing(12)
        self.hop_label = QLabel("Hop")
        lay.addWidget(self.hop_label)
        lay.addWidget(self.hop)
        self.slider.valueChanged.connect(lambda v: self.threshold.setValue(v / 100.0))
        self.threshold.valueChanged.connect(self._threshold)
        self.reset.clicked.connect(self.threshold_reset.emit)
        self.vad.valueChanged.connect(self.vad_changed.emit)
        self.hop.valueChanged.connect(self.hop_changed.emit)

    def _threshold(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(value * 100)))
        self.slider.blockSignals(False)
        self.threshold_changed.emit(float(value))

    def show_values(self, threshold: float, vad: int, hop: float | None, sound_model: bool) -> None:
        """Set the widgets without emitting (e.g. from a model's defaults)."""
        for w in (self.slider, self.threshold, self.vad, self.hop):
            w.blockSignals(True)
        self.threshold.setValue(threshold)
        self.slider.setValue(int(round(threshold * 100)))
        self.vad.setValue(vad)
        self.hop.setMinimum(0.05 if sound_model else 0.0)
        self.hop.setValue(hop if sound_model and hop else 0.0)
        for w in (self.slider, self.threshold, self.vad, self.hop):
            w.blockSignals(False)
        self.hop.setEnabled(sound_model)
        self.hop_label.setEnabled(sound_model)
        self.vad.setEnabled(not sound_model)


class LogControls(QWidget):
    """Log-to-file toggle and path: the same JSONL lines as ``listener run --log``."""

    changed = Signal(bool, str)  # enabled, path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled = QCheckBox("Log to")
        self.enabled.setToolTip("Append every detection to a JSONL file (Ctrl+L)")
        self.path = QLineEdit(DEFAULT_LOG)
        self.path.setMinimumWidth(200)
        self.browse = QToolButton()
        self.browse.setText("…")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.enabled)
        lay.addWidget(self.path, 1)
        lay.addWidget(self.browse)
        self.enabled.toggled.connect(lambda _: self._emit())
        self.path.editingFinished.connect(self._emit)
        self.browse.clicked.connect(self._browse)

    def set_values(self, enabled: bool, path: str) -> None:
        self.blockSignals(True)
        self.path.setText(path)
        self.enabled.setChecked(enabled)
        self.blockSignals(False)

    def value(self) -> str | None:
        """The log path when logging is on."""
        text = self.path.text().strip()
        return text if self.enabled.isChecked() and text else None

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Log detections to",
            self.path.text(),
            "JSON lines (*.jsonl);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )  # we append
        if path:
            self.path.setText(path)
            self.enabled.setChecked(True)
            self._emit()

    def _emit(self) -> None:
        self.changed.emit(self.enabled.isChecked(), self.path.text().strip())
