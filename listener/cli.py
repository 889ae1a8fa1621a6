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
from dataclasses import fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pipeline import RunStats

from .errors import EXIT_AUDIO, EXIT_FAILURE, EXIT_INTERRUPTED, ListenerError, UsageError

DEFAULT_LOG = "detections.jsonl"


def _err(message: str) -> None:
    print(f"listener: {message}", file=sys.stderr, flush=True)


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


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="digits, sounds, or a path to a .onnx model (default: digits)")
    p.add_argument("--threshold", type=_probability, help="confidence threshold 0-1 (default: the model's)")
    p.add_argument("--vad", type=_vad_level, help="webrtcvad aggressiveness 0-3 (default: 2)")
    p.add_argument(
        "--gate", choices=["vad", "energy"], help="gate (default: the model's: vad for speech, energy for sounds)"
    )
    p.add_argument("--hop", type=_positive(float), help="hop in seconds between sliding windows (sound models)")
    p.add_argument("--threads", type=_positive(int), help="ONNX Runtime threads (1 is right for a Raspberry Pi)")
    p.add_argument("--format", dest="log_format", choices=["jsonl", "csv"], help="log format (default: jsonl)")
    p.add_argument("--log-max-bytes", type=_positive(int), help="rotate the log when it would grow past this size")
    p.add_argument("--config", help="TOML file with any of these options (flags override it)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="listener",
        description="Listen for spoken digits and everyday sounds; log each detection.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="listen to a microphone, a file (in real time) or stdin and log detections")
    run.add_argument(
        "--source",
        help="auto (default: microphone, else the bundled sample clip), mic, FILE, or - for raw S16_LE PCM on stdin",
    )
    run.add_argument("--device", help="input device: index or part of its name (see 'listener devices')")
    run.add_argument("--log", help=f"append detections to this file; - for stdout (default: {DEFAULT_LOG})")
    run.add_argument("--duration", type=_positive(float), help="stop after this many seconds of audio")
    run.add_argument("--input-rate", type=_positive(int), help="sample rate of PCM on stdin (default: 16000)")
    run.add_argument("--input-channels", type=_positive(int), help="interleaved channels of PCM on stdin (default: 1)")
    run.add_argument(
        "--block-ms",
        type=_positive(int),
        help="milliseconds of audio per block from the microphone, stdin or a paced file (default: 60; "
        "30 reaches the log about 20 ms sooner and costs about one point more of one core)",
    )
    run.add_argument("--quiet", action="store_true", default=None, help="do not print detections on stdout")
    _model_options(run)
    mqtt_flags(run)

    ana = sub.add_parser("analyze", help="analyze audio files as fast as possible")
    ana.add_argument("files", nargs="+", metavar="FILE", help="audio files (WAV, FLAC, OGG, ... any rate)")
    ana.add_argument("--log", help="append detections to this file (default: JSONL on stdout)")
    ana.add_argument("--batch", type=_positive(int), default=32, help="windows per model call (default: 32)")
    ana.add_argument(
        "--progress",
        choices=["auto", "always", "never"],
        default="auto",
        help="progress bar on stderr (auto: on a terminal, for more than 60 s of audio)",
    )
    _model_options(ana)

    sub.add_parser("devices", help="list audio input devices with their default rates")
    gui = sub.add_parser("gui", help="open the desktop app", description="Live predictions in a window.")
    gui_options(gui)
    return parser


def gui_options(p: argparse.ArgumentParser) -> None:
    """Options of ``listener gui`` (also used by ``python -m listener.gui``)."""
    p.add_argument("--source", help="play this recording through the pipeline instead of the microphone")
    p.add_argument(
        "--model", help="digits, sounds or a path to an .onnx file (default: the last one used, else digits)"
    )
    p.add_argument("--device", help="input device name (substring) or index")
    p.add_argument("--log", help="append detections to this JSONL file")
    p.add_argument("--threshold", type=_probability, help="confidence threshold 0-1 (default: the model's)")
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


def _options(args: argparse.Namespace, cls):
    """Defaults <- config file <- command-line flags."""
    from .config import load_config

    values = load_config(args.config) if getattr(args, "config", None) else {}
    names = {f.name for f in fields(cls)}
    for name in names:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    values = {k: v for k, v in values.items() if k in names}
    try:
        return cls(**values)
    except TypeError as exc:
        raise UsageError(str(exc)) from None


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
    from .audio import open_source
    from .classifier import Classifier, resolve_model, sample_clip
    from .config import RunOptions
    from .mqtt import MqttSink, mqtt_options
    from .pipeline import build_pipeline, run_stream
    from .sinks import StdoutSink

    opts = _options(args, RunOptions)
    if opts.log is None:
        opts.log = DEFAULT_LOG
    _check_log_path(opts.log)
    if not 10 <= opts.block_ms <= 1000:
        raise UsageError(f"--block-ms must be between 10 and 1000, not {opts.block_ms}")
    mqtt = mqtt_options(opts)  # a malformed URL or option fails here, before the model loads
    classifier = Classifier(resolve_model(opts.model), threads=opts.threads)
    info = classifier.info
    device = opts.device
    if device is not None and str(device).strip().isdigit():
        device = int(device)
    source = open_source(
        opts.source,
        sample_rate=info.sample_rate,
        realtime=True,
        device=device,
        input_rate=opts.input_rate,
        input_channels=opts.input_channels,
        fallback=sample_clip(info),
        block_seconds=opts.block_ms / 1000.0,
    )
    sinks = [] if (opts.quiet or opts.log == "-") else [StdoutSink("text")]
    stop = threading.Event()

    def on_signal(signum, frame):  # a clean stop: the last utterance is flushed, the log is whole
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    pipeline = None
    mqtt_sink = None
    try:
        if mqtt is not None:
            mqtt_sink = MqttSink(mqtt, notice=lambda message: _err(f"mqtt: {message}"))
            mqtt_sink.add_model(info)
            sinks.append(mqtt_sink)
        pipeline = build_pipeline(opts, source.name, classifier=classifier, sinks=sinks)
        stats = run_stream(
            source,
            pipeline,
            stop,
            realtime=source.live,
            duration=opts.duration,
            on_first_block=lambda: _err(
                f"listening to {source.name} with {info.model_id} ({classifier.provider}); log: {opts.log}"
                + (f"; MQTT: {mqtt.broker}" if mqtt else "")
            ),
        )
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        source.close()
        if pipeline is not None:
            pipeline.close()  # the MQTT sink too: queued detections get a few seconds, then "offline"
        elif mqtt_sink is not None:
            mqtt_sink.close()
    labels = _label_counts(stats)
    _err(
        f"{stats.seconds:.1f} s of audio, {stats.windows} windows, {stats.detections} detections"
        + (f" ({labels})" if labels else "")
        + (f", {stats.overruns} overruns" if stats.overruns else "")
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


def cmd_analyze(args: argparse.Namespace) -> int:
    from .audio import FileSource
    from .classifier import Classifier, resolve_model
    from .config import PipelineOptions
    from .pipeline import build_pipeline, run_stream
    from .sinks import open_sink

    opts = _options(args, PipelineOptions)
    opts.batch_size = args.batch
    _check_log_path(opts.log)
    classifier = Classifier(resolve_model(opts.model), threads=opts.threads, spin=True)
    info = classifier.info
    sink = open_sink(opts.log or "-", opts.log_format, opts.log_max_bytes, opts.log_backups)
    log, opts.log = opts.log, None
    sources: list = []
    failures = 0
    for path in args.files:
        try:
            sources.append(FileSource(path, sample_rate=info.sample_rate, realtime=False))
        except ListenerError as exc:
            _err(f"error: {exc.message}")
            failures += 1
    total = sum(s.duration or 0.0 for s in sources)
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty() and total > 60)
    progress = _Progress(total, show)
    rows = []
    stop = threading.Event()
    done = 0.0
    t0 = time.monotonic()
    try:
        for src in sources:
            pipeline = build_pipeline(opts, src.name, classifier=classifier, sinks=[sink])
            base = done

            def tick(block, _base=base, _p=pipeline):
                progress.update(_base + _p.seconds)

            pipeline.on_block = tick if show else None
            try:
                stats = run_stream(src, pipeline, stop, realtime=False)
            except ListenerError as exc:
                if exc.exit_code != EXIT_AUDIO:
                    raise
                _err(f"error: {exc.message}")
                failures += 1
                continue
            finally:
                src.close()
            done += stats.seconds
            rows.append((src.name, stats))
            if stop.is_set():
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        progress.close()
        _err("interrupted")
        sink.close()
        return EXIT_INTERRUPTED
    progress.update(done, force=True)
    progress.close()
    sink.close()
    wall = time.monotonic() - t0
    out = sys.stdout if log else sys.stderr
    width = max([len("file")] + [len(r[0]) for r in rows])
    if rows:
        print(f"{'file':<{width}}  {'seconds':>9}  {'windows':>7}  {'detections':>10}  labels", file=out)
    for name, st in rows:
        labels = _label_counts(st)
        print(f"{name:<{width}}  {st.seconds:9.1f}  {st.windows:7d}  {st.detections:10d}  {labels}", file=out)
    n_det = sum(st.detections for _, st in rows)
    rtf = done / wall if wall > 0 else float("inf")
    print(
        f"{len(rows)} file(s), {done:.1f} s of audio in {wall:.2f} s ({rtf:,.0f}x real time), {n_det} detections"
        + (f", {failures} unreadable" if failures else ""),
        file=out,
    )
    out.flush()
    return EXIT_AUDIO if failures else 0


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
        return EXIT_INTERRUPTED
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
