"""The main window: pickers on top, live views on the left, decisions on the right.

The window owns a :class:`ListenerWorker` and only reacts to its signals. Data
signals (blocks) just fill ring buffers; a frame timer repaints at most
``FPS`` times a second, so the cost of drawing does not grow with the block
rate. Changing the device or model while listening restarts the session; the
threshold, VAD level, hop and log file change the running session in place.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from listener.classifier import BUILTIN_MODELS, ClassifierOptions
from listener.contract import DEFAULT_THRESHOLD
from listener.errors import ListenerError
from listener.events import Detection, Sequence, WindowResult
from listener.gui.bars import DecisionLabel, ProbabilityBars
from listener.gui.controls import LiveControls, LogControls, ModelPicker, SourceChoice, SourcePicker
from listener.gui.history import HistoryModel, HistoryView, export_csv
from listener.gui.settings import GuiSettings, default_store
from listener.gui.spectrogram import FeatureView, SpectrogramView
from listener.gui.status import CpuMeter, StatusPanel
from listener.gui.waveform import GateIndicator, WaveformView
from listener.gui.worker import BlockFrame, ListenerWorker, RunSummary, SessionInfo
from listener.mqtt import MqttOptions, MqttSink
from listener.sinks import plural

FPS = 30


class ErrorBanner(QWidget):
    """A dismissible red message at the top of the window (never a modal box, never a traceback)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet(
            "#errorBanner { background: #f8d7d3; border: 1px solid #d0452f; border-radius: 4px; }"
            "QLabel { color: #7a1d10; }"
        )
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class MainWindow(QMainWindow):
    """The listener app. ``store`` is the QSettings to remember choices in (tests pass a temp file);
    ``mqtt`` publishes every session's detections to a broker as well (``listener gui --mqtt URL``)."""

    def __init__(
        self, store: QSettings | None = None, settings: GuiSettings | None = None, mqtt: MqttOptions | None = None
    ) -> None:
        super().__init__()
        self.setWindowTitle("listener")
        self.store = store if store is not None else default_store()
        self.settings = settings if settings is not None else GuiSettings.load(self.store)
        self.worker = ListenerWorker(self)
        self.session: SessionInfo | None = None
        self.last_summary: RunSummary | None = None
        self.digits_so_far = ""  # the symbols of the sequence being said (models with symbols)
        self._restart = False
        self.pace_files = True  # play recordings at the speed of the audio (tests may turn this off)
        self._cpu = CpuMeter()
        self._build()
        self._connect()
        self._restore()
        if mqtt is not None:  # connects in the background; the status bar shows how it goes
            self.worker.mqtt = MqttSink(mqtt, notice=self.worker.mqtt_notice.emit)
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(int(1000 / FPS))
        self._frame_timer.timeout.connect(self._frame)
        self._frame_timer.start()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(1000)
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()

    # --- layout -----------------------------------------------------------------
    def _build(self) -> None:
        """The window, top to bottom: banner, pickers, views | decisions, controls, status bar."""
        self.banner = ErrorBanner()
        top = self._build_pickers()
        middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(self._build_views())
        middle.addWidget(self._build_decisions())
        middle.setStretchFactor(0, 3)
        middle.setStretchFactor(1, 2)
        middle.setSizes([720, 440])
        bottom = self._build_controls()
        central = QWidget()
        v = QVBoxLayout(central)
        v.addWidget(self.banner)
        v.addLayout(top)
        v.addWidget(middle, 1)
        v.addLayout(bottom)
        self.setCentralWidget(central)
        self.status = StatusPanel(self.statusBar())
        self.resize(1180, 720)

    def _build_pickers(self) -> QHBoxLayout:
        """The top row: input, model, start / stop."""
        self.source_picker = SourcePicker()
        self.model_picker = ModelPicker()
        self.start_button = QPushButton("Start")
        self.start_button.setMinimumWidth(110)
        self.start_button.setToolTip("Start / stop listening (Space)")
        top = QHBoxLayout()
        top.addWidget(self.source_picker, 3)
        top.addSpacing(10)
        top.addWidget(self.model_picker, 2)
        top.addSpacing(10)
        top.addWidget(self.start_button)
        return top

    def _build_views(self) -> QGroupBox:
        """Left: what the model hears (waveform, its features scrolling, the last window's, the gate)."""
        self.waveform = WaveformView()
        self.spectrogram = SpectrogramView()
        self.features = FeatureView()
        self.gate = GateIndicator()
        # Waveform and spectrogram share one column so their time axes line up;
        # the model's own input sits beside both.
        views = QWidget()
        vv = QVBoxLayout(views)
        vv.setContentsMargins(0, 0, 0, 0)
        vv.addWidget(self.waveform, 2)
        vv.addWidget(self.spectrogram, 3)
        view_row = QSplitter(Qt.Orientation.Horizontal)
        view_row.addWidget(views)
        view_row.addWidget(self.features)
        view_row.setStretchFactor(0, 4)
        view_row.setStretchFactor(1, 1)
        self.source_label = QLabel("")
        self.source_label.setStyleSheet("color: gray;")
        gate_row = QHBoxLayout()
        gate_row.addWidget(QLabel("Gate"))
        gate_row.addWidget(self.gate, 1)
        gate_row.addWidget(self.source_label, 2, Qt.AlignmentFlag.AlignRight)
        live = QGroupBox("What the model hears")
        lv = QVBoxLayout(live)
        lv.addWidget(view_row, 1)
        lv.addLayout(gate_row)
        return live

    def _build_decisions(self) -> QGroupBox:
        """Right: what it understood (the last detection, the last window's bars, the history)."""
        self.decision = DecisionLabel()
        # The two numbers on the right are different things: say which is which.
        self.decision_caption = QLabel("Last detection")
        self.decision_caption.setStyleSheet("color: gray;")
        self.decision_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bars = ProbabilityBars(k=5)
        self.bars_title = QLabel("Last window: probabilities")
        self.history_model = HistoryModel(parent=self)
        self.history = HistoryView(self.history_model)
        self.history_title = QLabel("History")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the history as CSV (Ctrl+E)")
        self.clear_button = QPushButton("Clear")
        right = QGroupBox("What it understood")
        rv = QVBoxLayout(right)
        for widget in (self.decision, self.decision_caption, self.bars_title, self.bars, self.history_title):
            rv.addWidget(widget)
        rv.addWidget(self.history, 1)
        hb = QHBoxLayout()
        hb.addStretch(1)
        hb.addWidget(self.clear_button)
        hb.addWidget(self.export_button)
        rv.addLayout(hb)
        return right

    def _build_controls(self) -> QHBoxLayout:
        """The bottom row: live controls and the log."""
        self.controls = LiveControls()
        self.log_controls = LogControls()
        bottom = QHBoxLayout()
        bottom.addWidget(self.controls, 3)
        bottom.addSpacing(16)
        bottom.addWidget(self.log_controls, 2)
        return bottom

    def _connect(self) -> None:
        w = self.worker
        w.started.connect(self._on_started)
        w.block.connect(self._on_block)
        w.window.connect(self._on_window)
        w.detection.connect(self._on_detection)
        w.sequence.connect(self._on_sequence)
        w.notice.connect(self._on_notice)
        w.error.connect(self.show_error)
        w.stopped.connect(self._on_stopped)
        w.log_failed.connect(self._on_log_failed)
        w.mqtt_notice.connect(lambda text: self.status.message(f"MQTT: {text}", 10000))
        self.start_button.clicked.connect(self.toggle)
        self.source_picker.changed.connect(self._source_changed)
        self.source_picker.rescan.clicked.connect(self.rescan_devices)
        self.model_picker.changed.connect(self._model_changed)
        self.controls.threshold_changed.connect(self._threshold_changed)
        self.controls.threshold_reset.connect(self._threshold_reset)
        self.controls.vad_changed.connect(self._vad_changed)
        self.controls.hop_changed.connect(self._hop_changed)
        self.log_controls.changed.connect(self._log_changed)
        self.export_button.clicked.connect(self.export_history)
        self.clear_button.clicked.connect(self.clear_history)
        shortcuts = [
            ("Space", self.toggle),
            ("Ctrl+O", self.model_picker.open_file),
            ("Ctrl+E", self.export_history),
            ("Ctrl+L", lambda: self.log_controls.enabled.toggle()),
            ("F5", self.rescan_devices),
            ("Ctrl+Q", self.close),
            ("Esc", self.banner.hide),
        ]
        for keys, slot in shortcuts:
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)

    def _restore(self) -> None:
        s, o = self.settings, self.settings.options
        self.worker.log.options = o  # the log's format and rotation
        self.source_picker.populate()
        if o.device is not None:
            self.source_picker.select(SourceChoice("mic", str(o.device)))
        for p in filter(None, s.recent_models.split(";")):
            if Path(p).is_file():
                self.model_picker.select(p)
        known = o.model in BUILTIN_MODELS or Path(o.model).is_file()
        self.model_picker.select(o.model if known else ClassifierOptions.model)
        # The model's own threshold is known once a session starts; until then, the contract's default.
        threshold = o.threshold if o.threshold is not None else DEFAULT_THRESHOLD
        self.controls.show_values(threshold, o.vad, o.hop, sound_model=False)
        self.log_controls.set_values(s.log_enabled, s.log_path)
        if s.log_enabled:
            self._log_changed(True, s.log_path)
        if s.geometry is not None:
            self.restoreGeometry(s.geometry)

    # --- public actions (also used by tests and app.main) ---------------------
    def use_file(self, path: str) -> None:
        """Play a recording instead of a microphone (``--source FILE``)."""
        self.source_picker.add_file(path)

    def start(self) -> None:
        """Start listening with the current choices (no-op while running)."""
        if self.worker.is_running():
            return
        choice = self.source_picker.current()
        if choice is None:
            self.show_error(self.source_picker.device_error or "pick an input device or open a recording")
            return
        self.banner.hide()
        opts = replace(
            self.settings.options,
            model=self.model_picker.current() or ClassifierOptions.model,
            source=choice.path if choice.kind == "file" else "mic",
            device=choice.device if choice.kind == "mic" else None,
            log=None,  # the app's log is the "Log to" box (worker.log)
        )
        self.waveform.clear()
        self.spectrogram.clear()
        self.features.clear()
        self.bars.clear()
        self.decision.clear()
        self.decision_caption.setText("Last detection")
        self.bars_title.setText("Last window: probabilities")
        self.worker.start(opts, paced=self.pace_files)
        self.start_button.setText("Stop")
        self.status.message(f"starting: {choice.describe()}, model {opts.model}…")

    def stop(self) -> None:
        self.worker.stop()
        self.start_button.setEnabled(False)  # until ``stopped`` arrives
        self.status.message("stopping…")

    def toggle(self) -> None:
        if self.worker.is_running():
            self.stop()
        else:
            self.start()

    def rescan_devices(self) -> None:
        """Look for input devices again (re-initialises PortAudio, so only while stopped)."""
        if self.worker.is_running():
            self.status.message("stop listening first to look for new devices (PortAudio restarts)", 6000)
            return
        self.source_picker.populate(rescan=True)
        if self.source_picker.device_error:
            self.show_error(self.source_picker.device_error)
        else:
            self.banner.hide()
            self.status.message(f"{self.source_picker.combo.count() - 1} inputs found", 4000)

    def show_error(self, message: str) -> None:
        self.banner.show_message(message)
        self.status.message(message, 10000)

    def export_history(self, path: str | None = None) -> str | None:
        """Save the history as CSV; asks for a file when ``path`` is None."""
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export detections", "detections.csv", "CSV (*.csv)")
            if not path:
                return None
        try:
            n = export_csv(self.history_model.detections(), path)
        except OSError as exc:
            self.show_error(f"cannot export to '{path}': {exc.strerror or exc}")
            return None
        except ListenerError as exc:
            self.show_error(exc.message)
            return None
        self.status.message(f"exported {n} detections to {path}", 8000)
        return path

    def clear_history(self) -> None:
        self.history_model.clear()
        self._update_history_title()

    # --- worker signals ---------------------------------------------------------
    def _on_started(self, info: SessionInfo) -> None:
        self.session = info
        self.status.show_session(info.provider, info.model_name)
        self.spectrogram.configure(info.features, info.features_caption)
        if info.features is None:  # say so now, not "no window yet" for the whole session
            self.features.show_features(None, "")
        self.waveform.configure(info.sample_rate)
        sound = info.kind == "sound"
        self.controls.show_values(
            info.threshold,
            self.settings.options.vad,
            info.hop if info.hop is not None else self.settings.options.hop,
            sound_model=sound,
        )
        self.bars.reject = set(info.reject_labels) | ({info.labels[0]} if info.decoder == "ctc" else set())
        self.bars.set_thresholds(info.thresholds)
        self.digits_so_far = ""
        if info.decoder == "ctc":
            self.bars_title.setText("Last frame: probabilities")
        self.source_label.setText(info.source_name)
        self.setWindowTitle(f"listener — {info.model_name} — {info.source_name}")
        self.model_picker.combo.setToolTip(
            f"{info.model_name}: {info.kind} model, {len(info.labels)} labels ({', '.join(info.labels)}); "
            f"suggested threshold {info.model_threshold:g}"
        )
        self.start_button.setEnabled(True)
        self.status.message(f"listening to {info.source_name} with {info.model_name}", 5000)

    def _on_block(self, b: BlockFrame) -> None:
        self.waveform.append(b.samples, b.active)
        rate = self.session.sample_rate if self.session is not None else 1
        self.spectrogram.append(b.columns, b.first_column, b.stream_s + len(b.samples) / rate)
        self.gate.set_state(b.active, b.level_db)

    def _averaged(self) -> str:
        n = self.session.smooth if self.session is not None else 1
        return f", mean of the last {n} windows" if n > 1 else ""

    def _on_window(self, w: WindowResult) -> None:
        self.bars.set_probs(w.labels, w.probs)
        unit = "frame" if self.session is not None and self.session.decoder == "ctc" else "window"
        self.bars_title.setText(f"Last {unit}, at {w.stream_s:.1f} s: probabilities{self._averaged()}")
        if w.features is not None:
            best = w.labels[int(w.probs.argmax())]
            self.features.show_features(w.features, f"model input at {w.stream_s:.1f} s → {best}")
        self.status.show_latency(w.latency_ms)

    def _on_detection(self, d: Detection) -> None:
        symbols = self.session.symbols if self.session is not None else {}
        if d.label in symbols:  # a digit of a string: shown as it arrives; the history gets the string
            self.digits_so_far += symbols[d.label]
            self.decision.show_decision(self.digits_so_far, d.confidence)
            self.decision_caption.setText(f"Digits so far, the last ({d.label}) at {d.stream_s:.1f} s: its confidence")
            return
        self.history_model.add(d)
        self.history.scrollToTop()
        self.decision.show_decision(d.label, d.confidence)
        if d.end_s is not None:
            self.decision_caption.setText(
                f"Last sound, {d.stream_s:.1f}–{d.end_s:.1f} s: its highest confidence{self._averaged()}"
            )
        else:
            self.decision_caption.setText(
                f"Last detection, at {d.stream_s:.1f} s: confidence when detected{self._averaged()}"
            )
        self._update_history_title()

    def _on_sequence(self, s: Sequence) -> None:
        self.history_model.add(s)
        self.history.scrollToTop()
        self.digits_so_far = ""
        self.decision.show_decision(s.digits, s.confidence)
        self.decision_caption.setText(
            f"Last string, {s.stream_s:.1f}–{s.end_s:.1f} s: {plural(len(s.labels), 'digit')}; "
            "the least sure one's confidence"
        )
        self._update_history_title()

    def _on_notice(self, text: str) -> None:
        self.show_error(text)

    def _on_stopped(self, summary: RunSummary) -> None:
        self.last_summary = summary
        self.start_button.setText("Start")
        self.start_button.setEnabled(True)
        self.gate.set_state(False, -100.0)
        if summary.error is None:
            n = summary.detections
            self.status.message(f"stopped after {summary.seconds:.1f} s: {n} detection{'' if n == 1 else 's'}", 8000)
        if self._restart:
            self._restart = False
            self.start()

    def _on_log_failed(self, message: str) -> None:
        self.log_controls.set_values(False, self.log_controls.path.text())
        self.settings.log_enabled = False
        self.show_error(f"logging switched off: {message}")

    # --- control changes ----------------------------------------------------------
    def _restart_if_running(self) -> None:
        if self.worker.is_running():
            self._restart = True
            self.stop()

    def _source_changed(self, choice: SourceChoice) -> None:
        if choice.kind == "mic":
            self.settings.options.device = choice.device
        self._restart_if_running()

    def _model_changed(self, spec: str) -> None:
        self.settings.options.model = spec
        self.settings.options.hop = None  # hops belong to a model
        self._restart_if_running()

    def _threshold_changed(self, value: float) -> None:
        self.settings.options.threshold = value
        self.bars.set_threshold(value)
        self.worker.set_threshold(value)

    def _threshold_reset(self) -> None:
        """Back to the model's own thresholds (per label where it has them)."""
        self.settings.options.threshold = None
        if self.session is not None:
            self.controls.show_values(
                self.session.model_threshold,
                self.settings.options.vad,
                self.controls.hop.value(),
                self.session.kind == "sound",
            )
            self.bars.set_thresholds(self.session.model_thresholds)
            self.worker.set_threshold(None)

    def _vad_changed(self, level: int) -> None:
        self.settings.options.vad = level
        self.worker.set_vad(level)

    def _hop_changed(self, seconds: float) -> None:
        if not seconds > 0:  # the "n/a" entry shown for speech models
            return
        self.settings.options.hop = seconds
        self.worker.set_hop(seconds)

    def _log_changed(self, enabled: bool, path: str) -> None:
        self.settings.log_enabled = enabled
        self.settings.log_path = path or self.settings.log_path
        try:
            self.worker.log.switch(path if enabled and path else None)
        except ListenerError as exc:
            self.log_controls.set_values(False, path)
            self.settings.log_enabled = False
            self.show_error(exc.message)
            return
        if enabled and path:
            self.status.message(f"logging detections to {path}", 5000)

    # --- timers -------------------------------------------------------------------
    def _frame(self) -> None:
        self.waveform.refresh()
        self.spectrogram.refresh()
        self.gate.refresh()
        self.decision.tick()

    def _update_status(self) -> None:
        self.status.show_load(
            self._cpu.sample(), self.worker.overruns(), self.spectrogram.fps() if self.worker.is_running() else 0.0
        )
        self.status.show_mqtt(self.worker.mqtt.status() if self.worker.mqtt is not None else None)

    def _update_history_title(self) -> None:
        n = self.history_model.rowCount()
        self.history_title.setText(f"History ({n})" if n else "History")

    # --- exit -----------------------------------------------------------------------
    def save_settings(self) -> None:
        s = self.settings
        s.options.model = self.model_picker.current() or s.options.model
        s.recent_models = ";".join(self.model_picker.recent())
        s.log_path = self.log_controls.path.text().strip() or s.log_path
        s.geometry = self.saveGeometry()
        s.save(self.store)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_settings()
        self.worker.stop()
        self.worker.wait(3.0)
        self.worker.log.switch(None)
        if self.worker.mqtt is not None:
            self.worker.mqtt.close()  # queued detections get a few seconds, then "offline"
        self._frame_timer.stop()
        self._status_timer.stop()
        event.accept()
