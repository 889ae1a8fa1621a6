"""The pipeline: gate -> windower -> classifier -> decider -> grouping -> sinks, driven by a Source.

Used by the CLI and the GUI, and by training and export to score models
(``analyze_array``), so that every published number is what ``listener analyze``
does. ``Pipeline.feed`` takes float32 mono blocks at the model rate and returns
the detections they completed; ``run_stream`` pulls blocks from a Source until it
ends or ``stop`` is set. Callbacks (``on_block``, ``on_window``, ``on_detection``,
``on_sequence``) run in the thread that feeds. ``set_threshold``/``set_vad``/``set_hop``
may be called from any thread; they take effect at the next block.

Two flows, chosen by the model's ``decoder`` (docs/architecture.md):

* ``window``: the windower cuts model windows (one per utterance, or sliding for sounds),
  the classifier scores them (in batches of ``batch_size`` when not live), the
  :class:`~listener.decider.Decider` accepts some; a sound model's accepted windows merge
  into events (:class:`~listener.grouping.EventMerger`).
* ``ctc``: the :class:`~listener.windows.FrameWindower` says which output frames to compute
  (a few at a time while live, one call per voiced region otherwise), the classifier
  computes them, the :class:`~listener.decider.CtcDecoder` emits each word as soon as it is
  certain.

Detections whose labels have a symbol then make sequences
(:class:`~listener.grouping.SequenceTracker`). Events and sequences are closed on stream
time, once the stream up to that time has been decided, so a paced ``listener run`` and
``listener analyze`` give the same records.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from .audio import Source
from .classifier import Classifier
from .config import PipelineOptions, RunOptions
from .contract import ModelInfo
from .decider import CtcDecoder, Decider, decider_for
from .errors import ModelError
from .events import BlockInfo, Detection, Sequence, WindowResult
from .gate import EnergyGate, VadGate, check_vad_level, gate_for, level_db
from .grouping import EventMerger, EventSpan, OpenSequence, SequenceTracker, check_grouping
from .sinks import Sink, open_log
from .windows import FrameCarry, FrameChunk, FrameWindower, SlidingWindower, SpeechWindower, Window, windower_for

__all__ = [
    "ArrayResult",
    "Pipeline",
    "PipelineOptions",
    "RunOptions",
    "RunStats",
    "analyze_array",
    "build_pipeline",
    "gated_chunks",
    "gated_windows",
    "run_stream",
]


@dataclass
class RunStats:
    """What one run processed."""

    seconds: float = 0.0  # audio seconds processed
    windows: int = 0  # windows classified (ctc models: output frames computed)
    detections: int = 0
    overruns: int = 0
    wall_s: float = 0.0
    labels: dict[str, int] | None = None
    nonfinite: int = 0  # NaN/infinite input samples replaced by silence
    sequences: int = 0  # sequence records written


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
        windower: SpeechWindower | SlidingWindower | FrameWindower,
        decider: Decider | CtcDecoder,
        sinks: Iterable[Sink] = (),
        source_name: str = "",
        on_block: Callable[[BlockInfo], None] | None = None,
        on_window: Callable[[WindowResult], None] | None = None,
        on_detection: Callable[[Detection], None] | None = None,
        on_sequence: Callable[[Sequence], None] | None = None,
        batch_size: int = 1,
        owned_sinks: Iterable[Sink] = (),
        events: EventMerger | None = None,
        sequences: SequenceTracker | None = None,
    ) -> None:
        """The stages come from ``build_pipeline`` (options + the model's metadata); ``classifier``
        is anything with ``info`` (a ModelInfo) and ``predict`` (see Classifier; with ``predict_frames``
        too, a ``frame_context`` model gets carried rows).

        ``sinks`` receive every record (detections and sequences); ``owned_sinks`` (among them)
        are the ones this pipeline opened and closes in :meth:`close`; the caller closes the others.
        ``events`` merges a sound model's windows into events; ``sequences`` groups the
        detections that have a symbol."""
        info: ModelInfo = classifier.info
        self.classifier = classifier
        self.info = info
        self.sample_rate = info.sample_rate
        self.gate, self.windower, self.decider = gate, windower, decider
        self.events, self.sequences = events, sequences
        self.sinks = list(sinks)
        self._owned = list(owned_sinks)
        self.source_name = source_name
        self.on_block, self.on_window, self.on_detection = on_block, on_window, on_detection
        self.on_sequence = on_sequence
        self.batch_size = max(1, int(batch_size))
        rows = info.frame_context if info.is_ctc else 0
        # a classifier without predict_frames (an evaluation wrapper) gets all the audio: the same frames
        carries = rows and hasattr(classifier, "predict_frames")
        self.carry = FrameCarry(rows, info.frame_hop_samples) if carries else None
        self.position = 0  # samples fed so far
        self.windows = 0
        self.detections = 0
        self.sequence_count = 0
        self.label_counts: dict[str, int] = {}
        self._heard = 0  # samples the gate has framed
        self._pending: list[Window] = []
        self._out: list[Detection] = []  # detections written during the current call
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=512)
        self._hop: float | None = None
        self._vad: int | None = None
        self._lock = threading.Lock()

    # live settings (any thread) -------------------------------------------
    def set_threshold(self, p: float | None) -> None:
        """One threshold for every label; None: the model's own again (per label where it has them)."""
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

    @property
    def sequence_so_far(self) -> str:
        """The symbols of the sequence in progress ("" when none or the model has no symbols)."""
        return self.sequences.current if self.sequences is not None else ""

    # processing ----------------------------------------------------------------
    def feed(self, block: np.ndarray, arrival: float | None = None) -> list[Detection]:
        """Process one block; ``arrival`` (monotonic time its last sample arrived) enables latency
        and means "live": results as soon as possible rather than in batches."""
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
        self._heard = g.start_sample + len(g.samples)
        if self.on_block is not None and len(block):
            level = float(level_db(block[None, :])[0])
            self.on_block(BlockInfo(start_s, block, bool(g.active.any()), level))
        self._out = []
        if isinstance(self.windower, FrameWindower):
            self.windower.push(g)
            self._decode(self.windower.take(live=arrival is not None))
        else:
            windows = self.windower.push(g)
            if windows:
                self._pending.extend(windows)
            if self._pending and (len(self._pending) >= self.batch_size or arrival is not None):
                self._classify()
        self._settle()
        return self._out

    def finish(self) -> list[Detection]:
        """End of stream: close an open utterance or region, classify what is left, and close the
        event and the sequence in progress."""
        self._out = []
        if isinstance(self.windower, FrameWindower):
            self._decode(close_frames(self.gate, self.windower))
        else:
            self._pending.extend(self.windower.flush())
            if self._pending:
                self._classify()
        if self.events is not None:
            for span in self.events.flush():
                self._event(span)
        if self.sequences is not None:
            for seq in self.sequences.flush():
                self._sequence(seq)
        return self._out

    def _time_of(self, sample: int) -> float | None:
        """Monotonic time at which absolute sample ``sample`` arrived (None if unknown)."""
        if not self._arrivals:
            return None
        for end, arrival in self._arrivals:
            if end >= sample:
                return arrival - (end - sample) / self.sample_rate
        end, arrival = self._arrivals[-1]
        return arrival

    def _latency(self, sample: int) -> float | None:
        t_end = self._time_of(sample) if self._arrivals else None
        return None if t_end is None else round((time.monotonic() - t_end) * 1000.0, 1)

    def _classify(self) -> None:
        """Score the pending windows (one batch) and decide on each, in order."""
        windows, self._pending = self._pending, []
        t_start = time.monotonic()
        probs, features = self.classifier.predict(np.stack([w.samples for w in windows]))
        per_window_ms = (time.monotonic() - t_start) * 1000.0 / len(windows)
        step = self.windower.hop if isinstance(self.windower, SlidingWindower) else None
        gap = None if step is None else 2 * step / self.sample_rate
        for i, w in enumerate(windows):
            self.windows += 1
            p = self.decider.smoothed(probs[i], w.centre_s, gap)
            decision = self.decider.decide(p, w.centre_s)
            latency = self._latency(w.speech_end_sample)
            det = None
            if self.events is not None:
                for span in self.events.window(w.centre_s, w.speech_end_sample, p, decision, step):
                    self._event(span)
            elif decision is not None:
                det = self._detection(decision.label, decision.confidence, decision.top, w.centre_s, latency)
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

    def _decode(self, chunks: list[FrameChunk]) -> None:
        """Compute each chunk's output frames (one model call each) and decode them in order."""
        for chunk in chunks:
            if chunk.frames:
                t_start = time.monotonic()
                if self.carry is not None:
                    samples, context = self.carry.inputs(chunk)
                    probs, rows = self.classifier.predict_frames(samples[None, :], context)
                    self.carry.keep(chunk, context, rows)
                else:
                    probs, _ = self.classifier.predict(chunk.samples[None, :])
                per_frame_ms = (time.monotonic() - t_start) * 1000.0 / chunk.frames
                if probs.ndim != 3 or probs.shape[1] != chunk.frames:
                    raise ModelError(
                        f"model '{self.info.path}' gave {probs.shape[1] if probs.ndim == 3 else '?'} frames for "
                        f"{len(chunk.samples)} samples, not {chunk.frames} (check frame_hop_samples and frame_samples)"
                    )
                for i in range(chunk.frames):
                    self.windows += 1
                    end = chunk.frame_end(i)
                    stream_s = min(end, self.position) / self.sample_rate  # never after what was heard
                    decision = self.decider.step(probs[0, i])
                    latency = self._latency(end)
                    det = None
                    if decision is not None:
                        det = self._detection(decision.label, decision.confidence, decision.top, stream_s, latency)
                    if self.on_window is not None:
                        self.on_window(
                            WindowResult(
                                stream_s=stream_s,
                                labels=self.info.labels,
                                probs=probs[0, i],
                                features=None,
                                latency_ms=latency if latency is not None else per_frame_ms,
                                detection=det,
                            )
                        )
            if chunk.region_ends:
                self.decider.reset()
                if self.carry is not None:
                    self.carry.reset()

    def _decided_s(self) -> float:
        """Stream time up to which every detection is known (later ones cannot come before it)."""
        w = self.windower
        if isinstance(w, FrameWindower):
            sample = w.decided_sample
        elif isinstance(w, SpeechWindower):
            sample = w.decided_sample
        else:
            sample = self._heard - w.length // 2  # a window yet to come is centred after this
        if self._pending:
            sample = min(sample, int(min(x.centre_s for x in self._pending) * self.sample_rate))
        return min(sample, self.position) / self.sample_rate

    def _settle(self) -> None:
        """Close the event and the sequence whose ends the stream has now passed."""
        if self.events is not None and not self._pending and isinstance(self.windower, SlidingWindower):
            for span in self.events.tick(self._heard, self.windower.hop):
                self._event(span)
        if self.sequences is not None:
            for seq in self.sequences.tick(self._decided_s()):
                self._sequence(seq)

    # records -------------------------------------------------------------------
    def _detection(
        self,
        label: str,
        confidence: float,
        top: list[tuple[str, float]],
        stream_s: float,
        latency: float | None,
        end_s: float | None = None,
    ) -> Detection:
        det = Detection(
            time=now_iso(),
            stream_s=round(stream_s, 3),
            label=label,
            confidence=round(confidence, 4),
            top=top,
            model=self.info.model_id,
            source=self.source_name,
            latency_ms=latency,
            end_s=None if end_s is None else round(end_s, 3),
        )
        if self.sequences is not None:
            for seq in self.sequences.add(det):  # a detection after the pause ends the sequence before it
                self._sequence(seq)
        for sink in self.sinks:
            sink.write(det)
        self.detections += 1
        self.label_counts[det.label] = self.label_counts.get(det.label, 0) + 1
        self._out.append(det)
        if self.on_detection is not None:
            self.on_detection(det)
        return det

    def _event(self, span: EventSpan) -> Detection:
        latency = self._latency(span.end_sample)
        return self._detection(span.label, span.confidence, span.top, span.start_s, latency, span.end_s)

    def _sequence(self, seq: OpenSequence) -> Sequence:
        dets = seq.detections
        last = dets[-1]
        record = Sequence(
            time=now_iso(),
            stream_s=dets[0].stream_s,
            end_s=last.stream_s,
            digits="".join(seq.symbols),
            labels=[d.label for d in dets],
            confidence=min(d.confidence for d in dets),
            model=self.info.model_id,
            source=self.source_name,
            latency_ms=self._latency(int(round(last.stream_s * self.sample_rate))),
        )
        for sink in self.sinks:
            sink.write(record)
        self.sequence_count += 1
        if self.on_sequence is not None:
            self.on_sequence(record)
        return record

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
    on_sequence: Callable[[Sequence], None] | None = None,
) -> Pipeline:
    """The pipeline ``options`` describe, for the CLI, the app, and scoring alike: each stage
    from its own options and the model's metadata (``gate_for``, ``windower_for``,
    ``decider_for``; sound events for sliding windows, sequences for models with symbols).

    Opens the log sink when ``options.log`` is set (``-`` = stdout). Pass an
    existing ``classifier`` to reuse one session across many streams.
    """
    if classifier is None:
        classifier = Classifier.from_options(options)
    info = classifier.info
    check_grouping(options)
    decider = decider_for(info, options)
    gate, windower = gate_for(info, options), windower_for(info, options)
    events = EventMerger(info.labels, options.max_event) if isinstance(windower, SlidingWindower) else None
    sequences = SequenceTracker(info.symbols, options.sequence_pause) if info.symbols else None
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
        on_sequence=on_sequence,
        batch_size=options.batch_size or 1,
        events=events,
        sequences=sequences,
    )


@dataclass
class ArrayResult:
    """What the pipeline made of one array: every classified window (ctc: output frame), in
    order, the detections and the sequences."""

    windows: list[WindowResult]
    detections: list[Detection]
    sequences: list[Sequence] = field(default_factory=list)


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
    sequences: list[Sequence] = []
    pipeline = build_pipeline(
        options or PipelineOptions(),
        source_name,
        classifier=classifier,
        on_window=windows.append,
        on_sequence=sequences.append,
    )
    try:
        detections = pipeline.feed(audio) + pipeline.finish()
    finally:
        pipeline.close()
    return ArrayResult(windows, detections, sequences)


def gated_windows(audio: np.ndarray, info: ModelInfo, options: PipelineOptions | None = None) -> list[Window]:
    """The windows a window model's pipeline would classify in ``audio`` (gate and windower only,
    no model); a ctc model's are :func:`gated_chunks`."""
    options = options or PipelineOptions()
    if info.is_ctc:
        raise ValueError(f"{info.model_id} is a ctc model: its model calls are gated_chunks(), not windows")
    gate, windower = gate_for(info, options), windower_for(info, options)
    return windower.push(gate.process(np.asarray(audio, dtype=np.float32))) + windower.flush()


def gated_chunks(audio: np.ndarray, info: ModelInfo, options: PipelineOptions | None = None) -> list[FrameChunk]:
    """The model calls a ctc model's pipeline makes in ``listener analyze`` on ``audio``: one
    chunk of output frames per voiced region (gate and windower only, no model)."""
    options = options or PipelineOptions()
    if not info.is_ctc:
        raise ValueError(f"{info.model_id} is a window model: its model inputs are gated_windows()")
    gate, windower = gate_for(info, options), windower_for(info, options)
    windower.push(gate.process(np.asarray(audio, dtype=np.float32)))
    return windower.take(live=False) + close_frames(gate, windower)


def close_frames(gate: VadGate | EnergyGate, windower: FrameWindower) -> list[FrameChunk]:
    """The end of a stream for a ctc model: the chunks still to compute. The stream is taken to
    go quiet after its end, as a live one would: the gate's hangover runs out and the frames it
    still covers are computed (their audio is zero past the end), so a word that ends the
    stream is decoded as if a pause followed it."""
    pad = (gate.hangover_frames + 2) * gate.frame_len + 2 * windower.hop + windower.tail
    windower.push(gate.process(np.zeros(pad, np.float32)))
    return windower.flush()


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
        sequences=pipeline.sequence_count,
    )
