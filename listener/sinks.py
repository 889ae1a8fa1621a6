"""Sinks: where records go (JSONL log, CSV log, stdout).

Records are :class:`~listener.events.Detection` and :class:`~listener.events.Sequence`
lines; every line says which it is in its ``type`` field (JSONL: the first key; CSV: the
last column). docs/usage.md, "The log", has the formats.

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
from .events import Detection, Record, Sequence

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


# The CSV columns, in order. The first eight are those of logs written before records had a type:
# a log with that header is appended to in its own columns, detections only (see CsvSink).
CSV_FIELDS = ["time", "stream_s", "label", "confidence", "top", "model", "source", "latency_ms", "end_s", "type"]


def record_dict(r: Record) -> dict:
    """A record as the JSON object of its log line: ``type`` first, then its fields."""
    out = {"type": r.TYPE, **asdict(r)}
    if isinstance(r, Detection):
        out["top"] = [[label, p] for label, p in r.top]
    return out


def record_json(r: Record) -> str:
    """The JSONL line for a record (without the newline)."""
    return json.dumps(record_dict(r), ensure_ascii=False)


def csv_values(r: Record) -> dict[str, str]:
    """A record as CSV cells by column. A sequence's ``label`` is its digits and its ``top`` its labels
    (``four;seven;two``); a detection's ``top`` is ``label:p;label:p``."""
    lat = "" if r.latency_ms is None else f"{r.latency_ms:.1f}"
    end = "" if r.end_s is None else f"{r.end_s:.3f}"
    if isinstance(r, Sequence):
        label, top = r.digits, ";".join(r.labels)
    else:
        label, top = r.label, ";".join(f"{name}:{p:.4f}" for name, p in r.top)
    values = [r.time, f"{r.stream_s:.3f}", label, f"{r.confidence:.4f}", top, r.model, r.source, lat, end, r.TYPE]
    return dict(zip(CSV_FIELDS, values))


def csv_row(values: list) -> str:
    """One CSV line."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def text_line(r: Record, label_width: int = 12) -> str:
    """The short human line ``listener run`` prints: a detection, a sound event (with its length),
    a sequence (``= 472``)."""
    lat = "" if r.latency_ms is None else f"  ({r.latency_ms:.0f} ms)"
    if isinstance(r, Sequence):
        n = len(r.labels)
        return (
            f"{r.time}  {r.stream_s:9.2f} s  = {r.digits:<{max(1, label_width - 2)}}  "
            f"{r.confidence:.2f}  ({n} in {r.end_s - r.stream_s:.2f} s){lat}\n"
        )
    length = "" if r.end_s is None else f"  {r.end_s - r.stream_s:4.1f} s long"
    return f"{r.time}  {r.stream_s:9.2f} s  {r.label:<{label_width}}  {r.confidence:.2f}{length}{lat}\n"


class Sink:
    def write(self, record: Record) -> None:
        """Write one record (a Detection or a Sequence)."""
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

    def write(self, record: Record) -> None:
        self.write_line(record_json(record) + "\n")


class CsvSink(_AppendFile):
    """CSV with a header line when the file is new (``CSV_FIELDS``); see :func:`csv_values`.

    A file that already has a header keeps its columns: one written before the ``end_s`` and
    ``type`` columns existed gets detections in its eight columns and no sequences (their
    rows would read as detections); a header with columns we do not write is refused."""

    columns: list[str] = CSV_FIELDS

    def _on_open(self, fd: int) -> None:
        if os.fstat(fd).st_size == 0:
            self.columns = CSV_FIELDS
            self._fd = fd
            self.write_line(csv_row(CSV_FIELDS))
            self.lines = 0
            return
        with open(self.path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader([fh.readline()]), [])
        unknown = [c for c in header if c not in CSV_FIELDS]
        if unknown or "time" not in header:
            os.close(fd)
            raise LogError(
                f"cannot append to log '{self.path}': its columns are not listener's ({', '.join(header)[:120]}); "
                "use another file"
            )
        self.columns = header

    def write(self, record: Record) -> None:
        if "type" not in self.columns and not isinstance(record, Detection):
            return  # an old-format file: no column says what a row is
        values = csv_values(record)
        self.write_line(csv_row([values[c] for c in self.columns]))


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

    def write(self, record: Record) -> None:
        if self.fmt == "jsonl":
            line = record_json(record) + "\n"
        elif self.fmt == "csv":
            line = ""
            if self._header:
                line = csv_row(CSV_FIELDS)
                self._header = False
            values = csv_values(record)
            line += csv_row([values[c] for c in CSV_FIELDS])
        else:
            line = text_line(record, self.label_width)
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


def plural(n: int, word: str) -> str:
    """``1 window``, ``2 windows``: counts in the text people read."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
