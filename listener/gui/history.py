"""Detection history: a table model over the log's records, exportable to CSV.

A row is a :class:`Detection` (a word; a sound event, with its length) or a
:class:`Sequence` (a string of digits, for models with symbols: the window shows
those instead of their digits). A model/view pair (not a QTableWidget) so thousands
of rows cost nothing to keep and only the visible rows are drawn. The newest is on top.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from listener.events import Record, Sequence
from listener.sinks import CsvSink, plural


def export_csv(detections: list[Record], path: str | os.PathLike[str]) -> int:
    """Write ``detections`` (records, oldest first) to ``path`` in the CLI's CSV format; returns the row count.

    Uses the command line's own :class:`CsvSink`, so an export and a
    ``listener run --log x.csv`` file read the same. Written to a temporary file
    and renamed, so an existing export is never left half-overwritten.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    sink = CsvSink(tmp)
    try:
        for d in detections:
            sink.write(d)
    finally:
        sink.close()
    os.replace(tmp, path)
    return len(detections)


class HistoryModel(QAbstractTableModel):
    """Records, newest first: time, stream position, label (a sequence: its digits), confidence,
    length (sound events and sequences)."""

    HEADERS = ["time", "at (s)", "label", "conf.", "len. (s)"]

    def __init__(self, limit: int = 10000, parent=None) -> None:
        super().__init__(parent)
        self.limit = limit
        self._rows: list[Record] = []  # oldest first

    def detections(self) -> list[Record]:
        """All kept records, oldest first."""
        return list(self._rows)

    def add(self, d: Record) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.append(d)
        self.endInsertRows()
        if len(self._rows) > self.limit:
            last = len(self._rows) - 1
            self.beginRemoveRows(QModelIndex(), last, last)
            del self._rows[0]
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent=None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        d = self._rows[len(self._rows) - 1 - index.row()]
        col = index.column()
        sequence = isinstance(d, Sequence)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                # "2026-11-21T10:15:02.412+01:00" -> "10:15:02" (the tooltip has it all)
                return d.time[11:19] if len(d.time) >= 19 else d.time
            if col == 1:
                return f"{d.stream_s:.2f}"
            if col == 2:
                return d.digits if sequence else d.label
            if col == 3:
                return f"{d.confidence:.2f}"
            return "" if d.end_s is None else f"{d.end_s - d.stream_s:.1f}"
        if role == Qt.ItemDataRole.ToolTipRole:
            if sequence:
                what = f"{plural(len(d.labels), 'digit')}: {' '.join(d.labels)}, {d.stream_s:.2f}–{d.end_s:.2f} s"
            else:
                top = ", ".join(f"{label} {p:.2f}" for label, p in d.top)
                span = "" if d.end_s is None else f"\n{d.stream_s:.2f}–{d.end_s:.2f} s"
                what = f"top: {top}{span}"
            lat = "" if d.latency_ms is None else f"\nlatency {d.latency_ms:.0f} ms"
            return f"{d.time}\n{d.model} from {d.source}\n{what}{lat}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (1, 3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class HistoryView(QTableView):
    """The table showing a :class:`HistoryModel`."""

    def __init__(self, model: HistoryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        # Fixed widths from the font (ResizeToContents would measure every row on each insert).
        header = self.horizontalHeader()
        fm = self.fontMetrics()
        for col, sample in ((0, "00:00:00"), (1, "0000.00"), (3, "conf."), (4, "len. (s)")):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, fm.horizontalAdvance(sample) + 18)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # the label takes the rest
        self.setMinimumWidth(320)
