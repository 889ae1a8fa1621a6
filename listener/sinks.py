"""Sinks: where detections go (JSONL log, CSV log, stdout).

Log lines are written whole or not at all: each line is one ``os.write`` on an
``O_APPEND`` descriptor; a short write (full disk) is rolled back with
``ftruncate`` to the previous size before the error is raised, so a full disk,
SIGTERM, SIGKILL or a crash never leaves half a line, and lines already written
are never touched. ``--log`` appends to an existing file. Rotation by size
renames ``log`` -> ``log.1`` -> ``log.2``... before the line that would overflow.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from .errors import LogError
from .events import Detection

DEFAULT_LOG = "detections.jsonl"  # ``listener run``'s log, and the path the app suggests
FORMATS = ("jsonl", "csv")


@dataclass(kw_only=True)
class LogOptions:
    """Where detections are logged and how (``--log``, ``--format``, ``--log-max-bytes``).

    Attributes:
        log: the file to append detections to; ``-`` writes them to stdout; None: no log
            (``listener run`` logs to ``DEFAULT_LOG`` unless told otherwise, ``analyze`` to
            stdout; the app when its "Log to" box is ticked).
        log_format: ``jsonl`` (one JSON object per line) or ``csv``.
        log_max_bytes: rotate the log (``FILE`` -> ``FILE.1`` ...) before it would pass this
            size; None: never.
        log_backups: rotated files kept. A tuning knob: the config file takes it, no flag does.
    """

    log: str | None = None
    log_format: str = FORMATS[0]
    log_max_bytes: int | None = None
    log_backups: int = 5


CSV_FIELDS = ["time", "stream_s", "label", "confidence", "top", "model", "source", "latency_ms"]


def detection_json(d: Detection) -> str:
    """The JSONL line for a detection (without the newline)."""
    record = asdict(d)
    record["top"] = [[label, p] for label, p in d.top]
    return json.dumps(record, ensure_ascii=False)


class Sink:
    def write(self, detection: Detection) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _AppendFile(Sink):
    """Whole-line appends with rollback and size rotation."""

    def __init__(
        self, path: str | os.PathLike, max_bytes: int | None = None, backups: int = LogOptions.log_backups
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.lines = 0
        self._fd = self._open()

    def _open(self) -> int:
        if self.path.is_dir():
            raise LogError(f"cannot write log '{self.path}': it is a directory")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LogError(f"cannot write log '{self.path}': {exc.strerror or exc}") from None
        self._on_open(fd)
        return fd

    def _on_open(self, fd: int) -> None:
        pass

    def _rotate(self) -> None:
        os.close(self._fd)
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fd = self._open()

    def write_line(self, line: str) -> None:
        data = line.encode("utf-8")
        if (
            self.max_bytes
            and os.fstat(self._fd).st_size + len(data) > self.max_bytes
            and os.fstat(self._fd).st_size > 0
        ):
            self._rotate()
        before = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write (disk full?)")
        except OSError as exc:
            try:
                os.ftruncate(self._fd, before)
            except OSError:
                pass
            raise LogError(f"cannot write log '{self.path}': {exc.strerror or exc}") from None
        self.lines += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class JsonlSink(_AppendFile):
    """One JSON object per line."""

    def write(self, detection: Detection) -> None:
        self.write_line(detection_json(detection) + "\n")


class CsvSink(_AppendFile):
    """CSV with a header line when the file is new; ``top`` is ``label:p;label:p``."""

    def _on_open(self, fd: int) -> None:
        if os.fstat(fd).st_size == 0:
            self._fd = fd
            self.write_line(self._row(CSV_FIELDS))
            self.lines = 0

    @staticmethod
    def _row(values: list) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        return buf.getvalue()

    def write(self, d: Detection) -> None:
        top = ";".join(f"{label}:{p:.4f}" for label, p in d.top)
        lat = "" if d.latency_ms is None else f"{d.latency_ms:.1f}"
        self.write_line(
            self._row([d.time, f"{d.stream_s:.3f}", d.label, f"{d.confidence:.4f}", top, d.model, d.source, lat])
        )


class StdoutSink(Sink):
    """JSONL (``fmt="jsonl"``), CSV rows, or a short human line (``fmt="text"``) on a stream.

    Text lines pad the label to ``label_width`` (the model's longest label) so that
    the confidence column stays put whatever the label ("person sneeze").
    """

    def __init__(self, fmt: str = "text", stream: TextIO | None = None, label_width: int = 12) -> None:
        self.fmt = fmt
        self.stream = stream or sys.stdout
        self.label_width = label_width
        self._header = fmt == "csv"

    def write(self, d: Detection) -> None:
        if self.fmt == "jsonl":
            line = detection_json(d) + "\n"
        elif self.fmt == "csv":
            line = ""
            if self._header:
                line = CsvSink._row(CSV_FIELDS)
                self._header = False
            top = ";".join(f"{label}:{p:.4f}" for label, p in d.top)
            lat = "" if d.latency_ms is None else f"{d.latency_ms:.1f}"
            line += CsvSink._row(
                [d.time, f"{d.stream_s:.3f}", d.label, f"{d.confidence:.4f}", top, d.model, d.source, lat]
            )
        else:
            lat = "" if d.latency_ms is None else f"  ({d.latency_ms:.0f} ms)"
            line = f"{d.time}  {d.stream_s:9.2f} s  {d.label:<{self.label_width}}  {d.confidence:.2f}{lat}\n"
        try:
            self.stream.write(line)
            self.stream.flush()
        except BrokenPipeError:
            raise LogError("stdout was closed") from None


def open_sink(
    path: str | os.PathLike,
    fmt: str = LogOptions.log_format,
    max_bytes: int | None = None,
    backups: int = LogOptions.log_backups,
) -> Sink:
    """``-`` -> stdout in that format; otherwise a log file that is appended to."""
    if str(path) == "-":
        return StdoutSink(fmt)
    if fmt == "csv":
        return CsvSink(path, max_bytes=max_bytes, backups=backups)
    if fmt == "jsonl":
        return JsonlSink(path, max_bytes=max_bytes, backups=backups)
    raise LogError(f"unknown log format '{fmt}' ({' or '.join(FORMATS)})")


def open_log(options: LogOptions, path: str | os.PathLike | None = None) -> Sink:
    """The log ``options`` describe, at ``path`` (default: ``options.log``)."""
    target = options.log if path is None else path
    if target is None:
        raise LogError("no log file given")
    return open_sink(target, options.log_format, options.log_max_bytes, options.log_backups)
