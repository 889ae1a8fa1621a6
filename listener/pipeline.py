"""The pipeline: gate -> windower -> classifier -> decider -> sinks, driven by a Source.

Used by the CLI and the GUI, and by training and export to score models
(``analyze_array``), so that every published number is what ``listener analyze``
does. ``Pipeline.feed`` takes float32 mono blocks at the model rate and returns
the detections they completed; ``run_stream`` pulls blocks from a Source until it
ends or ``stop`` is set. Callbacks (``on_block``, ``on_window``, ``on_detection``)
run in the thread that feeds. ``set_threshold``/``set_vad``/``set_hop`` may be
called from any thread; they take effect at the next block.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .audio import Source
from .classifier import Classifier
from .config import PipelineOptions, RunOptions
from .contract import ModelInfo
from .decider import Decider, decider_for
from .events import BlockInfo, Detection, WindowResult
from .gate import EnergyGate, VadGate, check_vad_level, gate_for, level_db
from .sinks import Sink, open_log
from .windows import SlidingWindower, SpeechWindower, Window, windower_for

__all__ = [
    "ArrayResult",
    "Pipeline",
    "PipelineOptions",
    "RunOptions",
    "RunStats",
    "analyze_array",
    "build_pipeline",
    "gated_windows",
    "run_stream",
]


@dataclass
class RunStats:
    """What one run processed."""

    seconds: float = 0.0  # audio seconds processed
    windows: int = 0  # windows classified
    detections: int = 0
    overruns: int = 0
    wall_s: float = 0.0
    labels: dict[str, int] | None = None
    nonfinite: int = 0  # NaN/infinite input samples replaced by silence


def now_iso() -> str:
    """Wall clock, ISO 8601 with the local UTC offset, millisecond precision."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


class Pipeline:
    """Wires the stages for one model; one instance per stream."""

    def __init__(
        self,
        classifier: Classifier,
        *,
        gate: VadGate | EnergyGate,
        windower: SpeechWindower | SlidingWindower,
        decider: Decider,
        sinks: Iterable[Sink] = (),
        source_name: str = "",
        on_block: Callable[[BlockInfo], None] | None = None,
        on_window: Callable[[WindowResult], None] | None = None,
        on_detection: Callable[[Detection], None] | None = None,
        batch_size: int = 1,
        owned_sinks: Iterable[Sink] = (),
    ) -> None:
        """The stages come from ``build_pipeline`` (options + the model's metadata); ``classifier``
        is anything with ``info`` (a ModelInfo) and ``predict`` (see Classifier).

        ``sinks`` receive every detection; ``owned_sinks`` (among them) are the ones this
        pipeline opened and closes in :meth:`close`; the caller closes the others."""
        info: ModelInfo = classifier.info
        self.classifier = classifier
        self.info = info
        self.sample_rate = info.sample_rate
        self.gate, self.windower, self.decider = gate, windower, decider
        self.sinks = list(sinks)
        self._owned = list(owned_sinks)
        self.source_name = source_name
        self.on_block, self.on_window, self.on_detection = on_block, on_window, on_detection
        self.batch_size = max(1, int(batch_size))
        self.position = 0  # samples fed so far
        self.windows = 0
        self.detections = 0
        self.label_counts: dict[str, int] = {}
        self._pending: list[Window] = []
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=512)
        self._hop: float | None = None
        self._vad: int | None = None
        self._lock = threading.Lock()

    # live settings (any thread) -------------------------------------------
    def set_threshold(self, p: float) -> None:
        self.decider.set_threshold(p)

    def set_vad(self, level: int) -> None:
        check_vad_level(level)
        if isinstance(self.gate, VadGate):
            self.gate.set_aggressiveness(level)

    def set_hop(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError("hop must be > 0 seconds")
        with self._lock:
            self._hop = float(seconds)

    @property
    def seconds(self) -> float:
        return self.position / self.sample_rate

    # processing ----------------------------------------------------------------
    def feed(self, block: np.ndarray, arrival: float | None = None) -> list[Detection]:
        """Process one block; ``arrival`` (monotonic time its last sample arrived) enables latency."""
        with self._lock:
            hop, self._hop = self._hop, None
        if hop is not None and isinstance(self.windower, SlidingWindower):
            self.windower.set_hop(hop)
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 1:
            block = block.reshape(-1)
        start_s = self.position / self.sample_rate
        self.position += len(block)
        if arrival is not None:
            self._arrivals.append((self.position, arrival))
        g = self.gate.process(block)
        if self.on_block is not None and len(block):
            level = float(level_db(block[None, :])[0])
            self.on_block(BlockInfo(start_s, block, bool(g.active.any()), level))
        windows = self.windower.push(g)
        if windows:
            self._pending.extend(windows)
        if self._pending and (len(self._pending) >= self.batch_size or arrival is not None):
            return self._classify()
        return []

    def finish(self) -> list[Detection]:
        """End of stream: close an open utterance and classify what is left."""
        self._pending.extend(self.windower.flush())
        return self._classify() if self._pending else []

    def _time_of(self, sample: int) -> float | None:
        """Monotonic time at which absolute sample ``sample`` arrived (None if unknown)."""
        if not self._arrivals:
            return None
        for end, arrival in self._arrivals:
            if end >= sample:
                return arrival - (end - sample) / self.sample_rate
        end, arrival = self._arrivals[-1]
        return arrival

    def _classify(self) -> list[Detection]:
        windows, self._pending = self._pending, []
        t_start = time.monotonic()
        probs, features = self.classifier.predict(np.stack([w.samples for w in windows]))
        t_done = time.monotonic()
        per_window_ms = (t_done - t_start) * 1000.0 / len(windows)
        out: list[Detection] = []
        gap = (
            2 * getattr(self.windower, "hop", 0) / self.sample_rate
            if isinstance(self.windower, SlidingWindower)
            else None
        )
        for i, w in enumerate(windows):
            self.windows += 1
            p = self.decider.smoothed(probs[i], w.centre_s, gap)
            decision = self.decider.decide(p, w.centre_s)
            t_end = self._time_of(w.speech_end_sample) if self._arrivals else None
            latency = None if t_end is None else round((time.monotonic() - t_end) * 1000.0, 1)
            det = None
            if decision is not None:
                det = Detection(
                    time=now_iso(),
                    stream_s=round(w.centre_s, 3),
                    label=decision.label,
                    confidence=round(decision.confidence, 4),
                    top=decision.top,
                    model=self.info.model_id,
                    source=self.source_name,
                    latency_ms=latency,
                )
                for sink in self.sinks:
                    sink.write(det)
                self.detections += 1
                self.label_counts[det.label] = self.label_counts.get(det.label, 0) + 1
                out.append(det)
                if self.on_detection is not None:
                    self.on_detection(det)
            if self.on_window is not None:
                self.on_window(
                    WindowResult(
                        stream_s=w.centre_s,
                        labels=self.info.labels,
                        probs=p,
                        features=None if features is None else features[i],
                        latency_ms=latency if latency is not None else per_window_ms,
                        detection=det,
                    )
                )
        return out

    def close(self) -> None:
        """Close the sinks this pipeline opened (the ``--log`` file)."""
        for sink in self._owned:
            sink.close()


def build_pipeline(
    options: PipelineOptions,
    source_name: str = "",
    *,
    classifier: Classifier | None = None,
    sinks: Iterable[Sink] = (),
    on_block: Callable[[BlockInfo], None] | None = None,
    on_window: Callable[[WindowResult], None] | None = None,
    on_detection: Callable[[Detection], None] | None = None,
) -> Pipeline:
    """The pipeline ``options`` describe, for the CLI, the app, and scoring alike: each stage
    from its own options and the model's metadata (``gate_for``, ``windower_for``,
    ``decider_for``).

    Opens the log sink when ``options.log`` is set (``-`` = stdout). Pass an
    existing ``classifier`` to reuse one session across many streams.
    """
    if classifier is None:
        classifier = Classifier.from_options(options)
    info = classifier.info
    decider = decider_for(info, options)
    gate, windower = gate_for(info, options), windower_for(info, options)
    owned = [open_log(options)] if options.log else []
    return Pipeline(
        classifier,
        gate=gate,
        windower=windower,
        decider=decider,
        sinks=[*sinks, *owned],
        owned_sinks=owned,
        source_name=source_name,
        on_block=on_block,
        on_window=on_window,
        on_detection=on_detection,
        batch_size=options.batch_size or 1,
    )


@dataclass
class ArrayResult:
    """What the pipeline made of one array: every classified window (in order) and the detections."""

    windows: list[WindowResult]
    detections: list[Detection]


def analyze_array(
    audio: np.ndarray,
    classifier: Classifier,
    options: PipelineOptions | None = None,
    source_name: str = "array",
) -> ArrayResult:
    """Run ``audio`` (float32 mono at the model's rate) through the pipeline ``listener analyze``
    runs on a file: the same gate, windows and decider, fed and then finished.

    Training and export score models with this, so their numbers are what a user gets.
    ``classifier`` may be any object with the Classifier's ``info`` and ``predict``.
    """
    windows: list[WindowResult] = []
    pipeline = build_pipeline(
        options or PipelineOptions(), source_name, classifier=classifier, on_window=windows.append
    )
    try:
        detections = pipeline.feed(audio) + pipeline.finish()
    finally:
        pipeline.close()
    return ArrayResult(windows, detections)


def gated_windows(audio: np.ndarray, info: ModelInfo, options: PipelineOptions | None = None) -> list[Window]:
    """The windows the pipeline would classify in ``audio`` (gate and windower only, no model)."""
    options = options or PipelineOptions()
    gate, windower = gate_for(info, options), windower_for(info, options)
    return windower.push(gate.process(np.asarray(audio, dtype=np.float32))) + windower.flush()


def run_stream(
    source: Source,
    pipeline: Pipeline,
    stop: threading.Event | None = None,
    realtime: bool = True,
    duration: float | None = None,
    on_first_block: Callable[[], None] | None = None,
) -> RunStats:
    """Feed ``source`` into ``pipeline`` until the source ends, ``stop`` is set, or ``duration`` s.

    ``realtime`` passes block arrival times on, so detections carry ``latency_ms``
    (meaningful for live sources). The last utterance is flushed in every case.
    ``on_first_block`` is called once audio actually flows (devices can take a
    second to start).
    """
    stop = stop or threading.Event()
    t0 = time.monotonic()
    limit = None if duration is None else int(round(duration * pipeline.sample_rate))
    try:
        for block, arrival in source.blocks(stop):
            if on_first_block is not None:
                on_first_block()
                on_first_block = None
            if limit is not None and pipeline.position + len(block) >= limit:
                pipeline.feed(block[: max(0, limit - pipeline.position)], arrival if realtime else None)
                break
            pipeline.feed(block, arrival if realtime else None)
            if stop.is_set():
                break
    except KeyboardInterrupt:
        stop.set()  # Ctrl-C: a clean stop (the caller sees ``stop``); the last utterance is still flushed
    except BaseException:
        try:
            pipeline.finish()
        except Exception:
            pass
        raise
    pipeline.finish()
    return RunStats(
        seconds=pipeline.seconds,
        windows=pipeline.windows,
        detections=pipeline.detections,
        overruns=source.overruns,
        wall_s=time.monotonic() - t0,
        labels=dict(pipeline.label_counts),
        nonfinite=source.nonfinite,
    )
