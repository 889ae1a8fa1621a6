"""The runtime in a worker thread, talking to the window only through Qt signals.

Loading the model, opening the device and running the pipeline all happen in
one ``threading.Thread``; the window never waits on it. Pipeline callbacks run
in that thread and emit signals; because the receiving widgets live in the GUI
thread, Qt queues those signals (a queued connection), so the widgets are only
ever touched by the GUI thread. The model's features for the scrolling spectrogram
are computed here too (:mod:`listener.gui.features`), so the GUI thread only copies
arrays and paints. A session is built from the command line's options
(:class:`~listener.config.RunOptions`) by the command line's functions
(``open_source``, ``build_pipeline``), so it detects what ``listener run`` detects.

Errors (no model, device busy or unplugged, unreadable file, log not writable)
become an ``error`` signal with a one-line message followed by ``stopped``; the
user can then pick another device and press start again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
from PySide6.QtCore import QObject, Signal

from listener.config import RunOptions
from listener.errors import ListenerError
from listener.events import BlockInfo, Detection, Record, Sequence
from listener.gui.features import FeatureColumns, FeatureLayout, feature_layout
from listener.mqtt import MqttSink
from listener.sinks import LogOptions, Sink, open_log

SILENCE_HINT = "pick another input above, or open a recording"


@dataclass
class SessionInfo:
    """Facts about a started session, for the status bar and the controls."""

    model_name: str
    labels: list[str]
    reject_labels: list[str]
    kind: str  # "speech" | "sound"
    provider: str
    sample_rate: int
    threshold: float  # in use
    hop: float | None  # in use (sound models)
    source_name: str
    features: FeatureLayout | None  # the model's features output (None: it has none)
    features_caption: str  # what they are, e.g. "the model's features: logmel, 40 bands"
    model_threshold: float  # the model's own (what "model default" goes back to)
    model_hop: float  # the model's own
    duration: float | None = None
    smooth: int = 1  # windows averaged into each window's probabilities (sound models: 3)
    decoder: str = "window"  # "window" | "ctc" (a sequence model: its windows are output frames)
    symbols: dict[str, str] = field(default_factory=dict)  # label -> symbol: detections make sequences
    thresholds: dict[str, float] = field(default_factory=dict)  # each label's threshold in use
    events: bool = False  # sliding windows merge into sound events (detections have an end)
    model_thresholds: dict[str, float] = field(default_factory=dict)  # the model's own per label


@dataclass
class BlockFrame:
    """One audio block prepared for drawing."""

    stream_s: float
    samples: np.ndarray
    columns: np.ndarray  # the model's feature frames completed since the last block [n_features, n]
    first_column: int  # the stream's frame index of ``columns[:, 0]``
    active: bool
    level_db: float


@dataclass
class RunSummary:
    """How a session ended."""

    seconds: float
    detections: int
    overruns: int
    error: str | None = None
    extra: dict = field(default_factory=dict)


class ListenerWorker(QObject):
    """Starts, controls and stops one listening session at a time."""

    started = Signal(object)  # SessionInfo
    block = Signal(object)  # BlockFrame
    window = Signal(object)  # WindowResult
    detection = Signal(object)  # Detection (a word, a digit, a sound event)
    sequence = Signal(object)  # Sequence (models with symbols: a string of digits after its pause)
    notice = Signal(str)  # non-fatal news (device lost and retrying, back again)
    error = Signal(str)  # fatal for this session; followed by ``stopped``
    stopped = Signal(object)  # RunSummary
    log_failed = Signal(str)  # the log could not be written; logging is now off
    mqtt_notice = Signal(str)  # news from the MQTT sink (broker unreachable, back again), from its threads

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._active = False
        self._stop = threading.Event()
        self._pipeline = None
        self._source = None
        self._lock = threading.Lock()
        self._wanted: dict[str, float] = {}  # live settings changed since start()
        self.detections = 0
        self.log = LogSwitch()
        self.log.on_error = self.log_failed.emit
        self.mqtt: MqttSink | None = None  # set by the window; lives across sessions (one connection)

    # --- control (GUI thread) ---------------------------------------------------
    def is_running(self) -> bool:
        """True from ``start`` until ``stopped`` is emitted (not until the thread has returned:
        a slot reacting to ``stopped`` may start the next session at once)."""
        return self._active

    def start(self, options: RunOptions, paced: bool = True) -> bool:
        """Start a session with ``options`` (the command line's; their ``log`` is not opened:
        the app's log is :attr:`log`); False if one is still running. ``paced``: play a file at
        the speed of its audio, as ``listener run`` does."""
        if self._active:
            return False
        if self._thread is not None:
            self._thread.join(2.0)  # the previous thread is past ``stopped``, returning
        self._active = True
        self._stop = threading.Event()
        self.detections = 0
        with self._lock:
            self._wanted: dict[str, float] = {}
        self._thread = threading.Thread(
            target=self._run, args=(options, paced, self._stop), name="listener-worker", daemon=True
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        """Ask the session to end; ``stopped`` follows (the GUI never waits here)."""
        self._stop.set()

    def wait(self, timeout: float = 3.0) -> bool:
        """Join the thread (only at exit); True if it ended."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def overruns(self) -> int:
        src = self._source
        return int(getattr(src, "overruns", 0) or 0) if src is not None else 0

    def set_threshold(self, p: float | None) -> None:
        """One threshold for every label; None: the model's own again."""
        self._set("threshold", None if p is None else float(p))

    def set_vad(self, level: int) -> None:
        self._set("vad", int(level))

    def set_hop(self, seconds: float) -> None:
        self._set("hop", float(seconds))

    def _set(self, name: str, value: float | None) -> None:
        """Apply a live setting now, or as soon as the pipeline exists (model still loading)."""
        with self._lock:
            self._wanted[name] = value
            if self._pipeline is not None:
                _apply(self._pipeline, {name: value})

    # --- the session (worker thread) -------------------------------------------
    def _run(self, options: RunOptions, paced: bool, stop: threading.Event) -> None:
        """One session: open the model and the source, build the pipeline, run it, report how it ended."""
        from listener.pipeline import run_stream

        t0 = time.monotonic()
        error: str | None = None
        source = None
        try:
            classifier, source = self._open(options, paced)
            pipeline, info = self._build(options, classifier, source)
            with self._lock:
                self._source = source
                self._pipeline = pipeline
                _apply(pipeline, self._wanted)  # changed while the model was loading
            self.started.emit(info)
            run_stream(source, pipeline, stop, realtime=True, duration=options.duration)
        except ListenerError as exc:
            error = exc.message
        except Exception as exc:  # never let the thread die silently
            error = f"unexpected error: {type(exc).__name__}: {exc}"
        finally:
            self._finish(source, error, t0)

    def _open(self, options: RunOptions, paced: bool):
        """The model and the source ``options`` name, as ``listener run`` opens them."""
        from listener.audio import open_source
        from listener.classifier import Classifier

        classifier = Classifier.from_options(options)
        if self.mqtt is not None:
            self.mqtt.add_model(classifier.info)
        source = open_source(
            options, classifier.info.sample_rate, realtime=paced, notice=self.notice.emit, silence_hint=SILENCE_HINT
        )
        return classifier, source

    def _build(self, options: RunOptions, classifier, source):
        """``build_pipeline`` (the command line's) with the app's sinks and signals, and the session's facts."""
        from listener.pipeline import build_pipeline
        from listener.windows import SlidingWindower

        info = classifier.info
        layout = feature_layout(classifier)
        features = FeatureColumns(classifier, layout) if layout is not None else None
        no_columns = np.zeros((0, 0), np.float32)

        def on_block(b: BlockInfo) -> None:
            columns, first = features.push(b.samples) if features is not None else (no_columns, 0)
            self.block.emit(BlockFrame(b.stream_s, b.samples, columns, first, b.active, b.level_db))

        def on_detection(d: Detection) -> None:
            self.detections += 1
            self.detection.emit(d)

        def on_sequence(s: Sequence) -> None:
            self.sequence.emit(s)

        pipeline = build_pipeline(
            replace(options, log=None),
            source.name,
            classifier=classifier,
            sinks=[self.log] if self.mqtt is None else [self.log, self.mqtt],
            on_block=on_block,
            on_window=self.window.emit,
            on_detection=on_detection,
            on_sequence=on_sequence,
        )
        sliding = isinstance(pipeline.windower, SlidingWindower)
        session = SessionInfo(
            model_name=info.model_id,
            labels=list(info.labels),
            reject_labels=list(info.reject_labels),
            kind=info.kind,
            provider=classifier.provider,
            sample_rate=info.sample_rate,
            threshold=pipeline.decider.threshold,
            hop=pipeline.windower.hop / info.sample_rate if sliding else None,
            source_name=source.name,
            features=layout,
            features_caption=_caption(info.features.get("type"), layout),
            model_threshold=info.threshold,
            model_thresholds={label: info.threshold_for(label) for label in info.labels},
            model_hop=info.hop_seconds,
            duration=source.duration,
            smooth=getattr(pipeline.decider, "smooth", 1),
            decoder=info.decoder,
            symbols=dict(info.symbols),
            thresholds=pipeline.decider.thresholds,
            events=pipeline.events is not None,
        )
        return pipeline, session

    def _finish(self, source, error: str | None, t0: float) -> None:
        """Close the source and say how the session ended (``error``, then ``stopped``)."""
        with self._lock:
            overruns = int(getattr(source, "overruns", 0) or 0) if source is not None else 0
            self._pipeline = None
            self._source = None
        try:
            if source is not None:
                source.close()
        except Exception:
            pass
        if error:
            self.error.emit(error)
        self._active = False
        self.stopped.emit(RunSummary(time.monotonic() - t0, self.detections, overruns, error))


def _caption(kind: str | None, layout: FeatureLayout | None) -> str:
    """``the model's features: logmel, 40 bands``."""
    if layout is None:
        return "the model exports no features"
    n = layout.n_features
    return f"the model's features: {kind or 'unnamed'}, {n} band{'' if n == 1 else 's'}"


def _apply(pipeline, settings: dict[str, float]) -> None:
    """Forward live settings to the pipeline's thread-safe setters."""
    if "threshold" in settings:
        pipeline.set_threshold(settings["threshold"])
    if "vad" in settings:
        pipeline.set_vad(int(settings["vad"]))
    if "hop" in settings:
        pipeline.set_hop(settings["hop"])


class LogSwitch(Sink):
    """A JSONL log that can be switched on, off or to another file while a session runs.

    The pipeline holds this one sink for its whole life; the window points it at
    the command line's own log sink (``open_log`` with ``options``: the same lines,
    format and rotation as ``listener run --log``) or at nothing. A write error
    (disk full, file removed from under a read-only mount) switches logging off
    and is reported through ``on_error`` instead of ending the session.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sink: Sink | None = None
        self.path: str | None = None
        self.options = LogOptions()  # format and rotation (the window sets the app's)
        self.on_error = lambda message: None

    def switch(self, path: str | None) -> None:
        """Log to ``path`` from now on (None: stop logging). Raises LogError if it cannot be opened."""
        new = open_log(self.options, path) if path else None
        with self._lock:
            old, self._sink, self.path = self._sink, new, path
        if old is not None:
            old.close()

    def write(self, record: Record) -> None:
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            try:
                sink.write(record)
                return
            except ListenerError as exc:
                message = exc.message
                self._sink, self.path = None, None
        sink.close()
        self.on_error(message)

    def close(self) -> None:
        """Kept open across sessions; the window calls ``switch(None)`` at exit."""
