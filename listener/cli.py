"""``listener run | analyze | devices | gui``: the command line.

Every failure a user can cause ends with ``listener: error: <message>`` on
stderr and the exit code from :mod:`listener.errors` (see docs/usage.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pipeline import RunStats

from .errors import EXIT_AUDIO, EXIT_FAILURE, EXIT_INTERRUPTED, ListenerError, interrupted
from .sinks import plural

GUI_DESCRIPTION = (
    "Live predictions in a window. Takes listener run's options, with its defaults; those given override, "
    "for this run, what the app remembered (the model, input, threshold, VAD and hop picked in its window)."
)
ANALYZE_BATCH = 32  # windows per model call in ``analyze`` unless --batch or the config file says otherwise


def _err(message: str) -> None:
    print(f"listener: {message}", file=sys.stderr, flush=True)


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one owner)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("listener")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _vad_level(text: str) -> int:
    if text not in ("0", "1", "2", "3"):
        raise argparse.ArgumentTypeError(f"must be 0, 1, 2 or 3, not {text!r}")
    return int(text)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
        return value

    return parse


def _pipeline_flags(p: argparse.ArgumentParser) -> None:
    """The pipeline's flags (``run``, ``analyze``, ``gui``); each default is its stage's (``listener.config``)."""
    from .classifier import BUILTIN_MODELS, ClassifierOptions
    from .gate import GateOptions
    from .grouping import GroupingOptions
    from .sinks import FORMATS, LogOptions

    p.add_argument(
        "--model",
        help=f"{', '.join(BUILTIN_MODELS)}, or a path to a .onnx model (default: {ClassifierOptions.model})",
    )
    p.add_argument(
        "--threshold",
        type=_probability,
        help="confidence threshold 0-1, for every label (default: the model's, per label where it has them)",
    )
    p.add_argument("--vad", type=_vad_level, help=f"webrtcvad aggressiveness 0-3 (default: {GateOptions.vad})")
    p.add_argument(
        "--gate", choices=["vad", "energy"], help="gate (default: the model's: vad for speech, energy for sounds)"
    )
    p.add_argument(
        "--hop",
        type=_positive(float),
        help="hop in seconds between sliding windows (sound models; default: the model's)",
    )
    p.add_argument(
        "--sequence-pause",
        type=_positive(float),
        metavar="SECONDS",
        help="models with symbols (digits): a pause this long after the last digit ends the string and writes "
        f"its sequence record (default: {GroupingOptions.sequence_pause})",
    )
    p.add_argument(
        "--max-event",
        type=_positive(float),
        metavar="SECONDS",
        help="sound models: a sound event longer than this is written in parts this long, so its line never "
        f"waits longer (default: {GroupingOptions.max_event})",
    )
    p.add_argument("--threads", type=_positive(int), help="ONNX Runtime threads (1 is right for a Raspberry Pi)")
    p.add_argument(
        "--format", dest="log_format", choices=list(FORMATS), help=f"log format (default: {LogOptions.log_format})"
    )
    p.add_argument("--log-max-bytes", type=_positive(int), help="rotate the log when it would grow past this size")
    p.add_argument("--config", help="TOML file with any of these options (flags override it)")


def _live_flags(p: argparse.ArgumentParser) -> None:
    """Flags of a live input (``run``, ``gui``)."""
    from .audio import SourceOptions

    p.add_argument("--device", help="input device: index or part of its name (see 'listener devices')")
    p.add_argument(
        "--block-ms",
        type=_positive(int),
        help="milliseconds of audio per block from the microphone, stdin or a paced file "
        f"(default: {SourceOptions.block_ms}; shorter blocks reach the log sooner and cost more CPU, "
        "see docs/benchmarks.md)",
    )


def make_parser() -> argparse.ArgumentParser:
    from .audio import SourceOptions
    from .sinks import DEFAULT_LOG

    parser = argparse.ArgumentParser(
        prog="listener",
        description="Listen for spoken digits and everyday sounds; log each detection.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="listen to a microphone, a file (in real time) or stdin and log detections")
    run.add_argument(
        "--source",
        help="auto (the microphone, else the bundled sample clip), mic, FILE, or - for raw S16_LE PCM on stdin "
        f"(default: {SourceOptions.source})",
    )
    run.add_argument("--log", help=f"append detections to this file; - for stdout (default: {DEFAULT_LOG})")
    run.add_argument("--duration", type=_positive(float), help="stop after this many seconds of audio")
    run.add_argument(
        "--input-rate", type=_positive(int), help=f"sample rate of PCM on stdin (default: {SourceOptions.input_rate})"
    )
    run.add_argument(
        "--input-channels",
        type=_positive(int),
        help=f"interleaved channels of PCM on stdin (default: {SourceOptions.input_channels})",
    )
    run.add_argument("--quiet", action="store_true", default=None, help="do not print detections on stdout")
    _live_flags(run)
    _pipeline_flags(run)
    mqtt_flags(run)

    ana = sub.add_parser("analyze", help="analyze audio files as fast as possible")
    ana.add_argument(
        "files",
        nargs="+",
        metavar="FILE|DIR",
        help="audio files (WAV, FLAC, OGG, ... any rate), or folders to search for them",
    )
    ana.add_argument("--log", help="append detections to this file (default: JSONL on stdout)")
    ana.add_argument(
        "--batch",
        dest="batch_size",
        metavar="N",
        type=_positive(int),
        help=f"windows per model call (default: {ANALYZE_BATCH}; sequence models compute each voiced region "
        "in one call)",
    )
    ana.add_argument(
        "--progress",
        choices=["auto", "always", "never"],
        default="auto",
        help="progress bar on stderr (auto: on a terminal, for more than 60 s of audio)",
    )
    _pipeline_flags(ana)

    sub.add_parser("devices", help="list audio input devices with their default rates")
    gui = sub.add_parser("gui", help="open the desktop app", description=GUI_DESCRIPTION)
    gui_options(gui)
    return parser


def gui_options(p: argparse.ArgumentParser) -> None:
    """Options of ``listener gui`` (also used by ``python -m listener.gui``): ``run``'s, but for
    what only a terminal has (stdin, --duration, --quiet). Given ones override what the app remembered."""
    p.add_argument("--source", help="play this recording through the pipeline instead of the microphone")
    p.add_argument("--log", help="append detections to this file (the app's 'Log to' box)")
    _live_flags(p)
    _pipeline_flags(p)
    p.set_defaults(model=None)
    mqtt_flags(p)


def mqtt_flags(p: argparse.ArgumentParser) -> None:
    """``--mqtt`` and its options (``listener run`` and ``listener gui``); defaults: listener.mqtt.MqttOptions."""
    from .mqtt import DEFAULT_PREFIX, MqttOptions

    g = p.add_argument_group("MQTT (Home Assistant, Node-RED...): see docs/home-assistant.md")
    g.add_argument(
        "--mqtt",
        metavar="URL",
        help="also publish each detection to this MQTT broker: mqtt://[user:password@]host[:port][/prefix] "
        f"(mqtts:// for TLS; ports 1883/8883; prefix '{DEFAULT_PREFIX}'). The log is written regardless",
    )
    g.add_argument(
        "--mqtt-ca", metavar="FILE", help="CA certificate (PEM) to trust for mqtts:// (default: the system's)"
    )
    g.add_argument(
        "--mqtt-queue",
        type=_positive(int),
        metavar="N",
        help=f"detections kept in memory while the broker is unreachable; when full the oldest are dropped "
        f"(default: {MqttOptions.queue})",
    )
    g.add_argument(
        "--mqtt-discovery",
        action="store_true",
        default=None,
        help="announce the listener to Home Assistant (MQTT discovery: a device with an event entity per model)",
    )
    g.add_argument(
        "--mqtt-discovery-prefix",
        metavar="PREFIX",
        help=f"Home Assistant's discovery prefix (default: {MqttOptions.discovery_prefix})",
    )


def _check_log_path(path: str | None) -> None:
    """Fail before the model or the device is opened when the log cannot be written."""
    if not path or path == "-":
        return
    from .errors import LogError

    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise LogError(f"cannot write log '{path}': it is a directory")
    if not os.path.isdir(directory):
        raise LogError(f"cannot write log '{path}': directory '{directory}' does not exist")
    if (
        os.path.exists(path)
        and not os.access(path, os.W_OK)
        or not os.path.exists(path)
        and not os.access(directory, os.W_OK)
    ):
        raise LogError(f"cannot write log '{path}': permission denied")


def cmd_run(args: argparse.Namespace) -> int:
    from .audio import open_source, silent_fallback
    from .classifier import Classifier, sample_clip
    from .config import RunOptions, options_from
    from .mqtt import MqttSink, mqtt_options
    from .pipeline import build_pipeline, run_stream
    from .sinks import DEFAULT_LOG, StdoutSink

    opts = options_from(args, RunOptions)
    if opts.log is None:
        opts.log = DEFAULT_LOG
    _check_log_path(opts.log)
    block_seconds = opts.block_seconds  # a bad --block-ms fails here, before the model loads
    mqtt = mqtt_options(opts)  # so does a malformed URL or option
    classifier = Classifier.from_options(opts)
    info = classifier.info
    fallback = sample_clip(info)
    source = open_source(opts, info.sample_rate, realtime=True, fallback=fallback)
    width = max(len(label) for label in info.labels)
    sinks = [] if (opts.quiet or opts.log == "-") else [StdoutSink("text", label_width=width)]
    stop = threading.Event()

    def on_signal(signum, frame):  # a clean stop: the last utterance is flushed, the log is whole
        stop.set()

    def listen(src) -> RunStats:
        pipeline = build_pipeline(opts, src.name, classifier=classifier, sinks=sinks)
        try:
            return run_stream(
                src,
                pipeline,
                stop,
                realtime=src.live,
                duration=opts.duration,
                on_first_block=lambda: _err(
                    f"listening to {src.name} with {info.model_id} ({classifier.provider}); log: {opts.log}"
                    + (f"; MQTT: {mqtt.broker}" if mqtt else "")
                ),
            )
        finally:
            pipeline.close()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    mqtt_sink = None
    try:
        if mqtt is not None:
            mqtt_sink = MqttSink(mqtt, notice=lambda message: _err(f"mqtt: {message}"))
            mqtt_sink.add_model(info)
            sinks.append(mqtt_sink)
        stats = listen(source)
        # --source auto: a default input that gave nothing but digital silence -> the sample clip
        clip = None if stop.is_set() else silent_fallback(source, fallback, info.sample_rate, True, block_seconds)
        if clip is not None:
            source.close()
            source = clip
            stats = listen(source)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        source.close()
        if mqtt_sink is not None:
            mqtt_sink.close()  # queued detections get a few seconds, then "offline"
    labels = _label_counts(stats)
    _err(
        f"{stats.seconds:.1f} s of audio, {plural(stats.windows, 'frame' if info.is_ctc else 'window')}, "
        f"{plural(stats.detections, 'detection')}"
        + (f" ({labels})" if labels else "")
        + (f", {plural(stats.sequences, 'sequence')}" if stats.sequences else "")
        + (f", {plural(stats.overruns, 'overrun')}" if stats.overruns else "")
        + (f", {plural(stats.nonfinite, 'non-finite sample')} replaced by silence" if stats.nonfinite else "")
    )
    return 0


class _Progress:
    """A one-line progress bar on stderr, redrawn at most 5 times a second."""

    def __init__(self, total_s: float, enabled: bool) -> None:
        self.total = max(total_s, 1e-9)
        self.enabled = enabled
        self._last = 0.0
        self.t0 = time.monotonic()

    def update(self, done_s: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        frac = min(1.0, done_s / self.total)
        bar = "#" * int(frac * 30)
        speed = done_s / max(now - self.t0, 1e-9)
        sys.stderr.write(
            f"\r[{bar:<30}] {frac * 100:5.1f}%  {done_s:,.0f}/{self.total:,.0f} s  {speed:,.0f}x real time "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _analyze_options(args: argparse.Namespace):
    """``analyze``'s options: defaults <- config file <- flags; the batch is 32 unless one of them sets it."""
    from .config import PipelineOptions, options_from

    opts = options_from(args, PipelineOptions)
    if opts.batch_size is None:
        opts.batch_size = ANALYZE_BATCH
    return opts


def cmd_analyze(args: argparse.Namespace) -> int:
    """Ctrl-C and SIGTERM stop after the current block: the summary of what was done, exit 130."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _analyze(args, stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _analyze(args: argparse.Namespace, stop: threading.Event) -> int:
    """Every file through one pipeline each (one model session for all), then the summary table."""
    from .audio import FileSource
    from .classifier import Classifier
    from .pipeline import build_pipeline, run_stream
    from .sinks import open_log

    opts = _analyze_options(args)
    _check_log_path(opts.log)
    paths, failures = _audio_paths(args.files)
    classifier = Classifier.from_options(opts, spin=True)
    sink = open_log(opts, opts.log or "-")
    log, opts.log = opts.log, None
    progress = _progress_for(paths, args.progress)
    rows: list[tuple[str, RunStats, bool]] = []
    done = 0.0
    t0 = time.monotonic()
    try:
        for path in paths:
            if stop.is_set():
                break
            try:
                src = FileSource(path, sample_rate=classifier.info.sample_rate, realtime=False)
            except ListenerError as exc:
                _err(f"error: {exc.message}")
                failures += 1
                continue
            pipeline = build_pipeline(opts, src.name, classifier=classifier, sinks=[sink])
            if progress.enabled:
                pipeline.on_block = lambda block, _base=done, _p=pipeline: progress.update(_base + _p.seconds)
            try:
                stats = run_stream(src, pipeline, stop, realtime=False)
            except ListenerError as exc:
                if exc.exit_code != EXIT_AUDIO:
                    raise
                progress.close()
                _err(f"error: {exc.message}")
                failures += 1
                continue
            finally:
                src.close()
            done += stats.seconds
            complete = not stop.is_set() or (src.duration is not None and stats.seconds >= src.duration - 1e-3)
            rows.append((src.name, stats, complete))
    finally:
        progress.update(done, force=True)
        progress.close()
        sink.close()
    out, interrupted = (sys.stdout if log else sys.stderr), stop.is_set()
    unit = "frames" if classifier.info.is_ctc else "windows"
    _print_summary(out, rows, len(paths), done, time.monotonic() - t0, failures, interrupted, unit)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_AUDIO if failures else 0


def _audio_paths(given: list[str]) -> tuple[list[str], int]:
    """The audio files named or found in the folders named, and how many of those could not be read."""
    from .audio import audio_files

    paths, failures = [], 0
    for name in given:
        try:
            paths.extend(audio_files(name, notice=_err))
        except ListenerError as exc:
            _err(f"error: {exc.message}")
            failures += 1
    return paths, failures


def _progress_for(paths: list[str], mode: str) -> _Progress:
    """``--progress``: always, never, or auto (on a terminal, for more than 60 s of audio)."""
    import soundfile as sf

    show = mode == "always" or (mode == "auto" and sys.stderr.isatty())
    total = 0.0
    if show:  # header only: files are opened one at a time later (a folder may hold thousands)
        for path in paths:
            try:
                total += sf.info(path).duration
            except Exception:
                pass
        show = mode == "always" or total > 60
    return _Progress(total, show)


def _print_summary(
    out,
    rows: list[tuple[str, RunStats, bool]],
    n_paths: int,
    done: float,
    wall: float,
    failures: int,
    stopped: bool,
    unit: str = "windows",
) -> None:
    """A line per file, then the totals; ``unit``: what the model scored (windows, or a ctc model's frames)."""
    name_w = max([len("file")] + [len(r[0]) for r in rows])
    if rows:
        print(f"{'file':<{name_w}}  {'seconds':>9}  {unit:>7}  {'detections':>10}  labels", file=out)
    for name, st, complete in rows:
        labels = _label_counts(st) + ("" if complete else " (interrupted here)")
        print(f"{name:<{name_w}}  {st.seconds:9.1f}  {st.windows:7d}  {st.detections:10d}  {labels}".rstrip(), file=out)
    n_det = sum(st.detections for _, st, _ in rows)
    n_seq = sum(st.sequences for _, st, _ in rows)
    bad = sum(st.nonfinite for _, st, _ in rows)
    finished = sum(complete for _, _, complete in rows)
    rtf = done / wall if wall > 0 else float("inf")
    files = (
        f"interrupted: {finished} of {plural(n_paths, 'file')} done" + (", 1 in part" if finished < len(rows) else "")
        if stopped
        else plural(len(rows), "file")
    )
    print(
        f"{files}, {done:.1f} s of audio in {wall:.2f} s ({rtf:,.0f}x real time), "
        + plural(n_det, "detection")
        + (f", {plural(n_seq, 'sequence')}" if n_seq else "")
        + (f", {plural(bad, 'non-finite sample')} replaced by silence" if bad else "")
        + (f", {failures} unreadable" if failures else ""),
        file=out,
    )
    out.flush()


def cmd_devices(args: argparse.Namespace) -> int:
    from .audio import list_input_devices
    from .errors import AudioError

    devices = list_input_devices()
    if not devices:
        raise AudioError("no audio input device found (plug in a microphone; on Linux check 'arecord -l')")
    print(f"{'':1} {'index':>5}  {'default rate':>12}  {'channels':>8}  name")
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:5d}  {d.default_samplerate:10.0f} Hz  {d.max_input_channels:8d}  {d.name}")
    return 0


def _label_counts(stats: RunStats) -> str:
    """``dog bark: 2, nine: 1`` for the summaries."""
    return ", ".join(f"{k}: {v}" for k, v in sorted((stats.labels or {}).items()))


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from .gui import app
    except ImportError as exc:
        raise ListenerError(
            f"the desktop app needs the 'gui' extra (pip install 'listener[gui]'): {exc}", EXIT_FAILURE
        ) from None
    return int(app.main(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    handler = {"run": cmd_run, "analyze": cmd_analyze, "devices": cmd_devices, "gui": cmd_gui}[args.command]
    try:
        return handler(args)
    except ListenerError as exc:
        print(f"listener: error: {exc.message}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("listener: interrupted", file=sys.stderr)
        return interrupted()
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("LISTENER_DEBUG"):
            raise
        print(
            f"listener: error: internal error: {type(exc).__name__}: {exc} (set LISTENER_DEBUG=1 for the traceback)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
