import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from listener.errors import LogError
from listener.events import Detection, Sequence
from listener.sinks import CSV_FIELDS, CsvSink, JsonlSink, StdoutSink, open_sink


def det(i: int = 0, label: str = "seven") -> Detection:
    return Detection(
        time="2026-11-21T10:15:02.412+01:00",
        stream_s=1.5 + i,
        label=label,
        confidence=0.97,
        top=[(label, 0.97), ("one", 0.02)],
        model="digits-1.0",
        source="a b.wav",
        latency_ms=None,
    )


def test_jsonl_has_every_field_and_appends(tmp_path):
    path = tmp_path / "log.jsonl"
    s = JsonlSink(path)
    s.write(det(0))
    s.close()
    s = JsonlSink(path)  # a second run appends
    s.write(det(1, "two"))
    s.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["seven", "two"]
    assert set(rows[0]) >= {"time", "stream_s", "label", "confidence", "top", "model", "source", "latency_ms"}
    assert rows[0]["top"] == [["seven", 0.97], ["one", 0.02]]
    assert rows[1]["stream_s"] == 2.5 and rows[0]["source"] == "a b.wav"


def test_csv_header_once_and_parsable(tmp_path):
    path = tmp_path / "log.csv"
    for i in range(2):
        s = CsvSink(path)
        s.write(det(i))
        s.close()
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and rows[1]["label"] == "seven" and rows[1]["stream_s"] == "2.500"
    assert rows[0]["top"] == "seven:0.9700;one:0.0200"


def test_rotation_by_size_keeps_whole_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    s = JsonlSink(path, max_bytes=600, backups=2)
    for i in range(12):
        s.write(det(i))
    s.close()
    files = [path, path.with_name("log.jsonl.1"), path.with_name("log.jsonl.2")]
    assert all(f.exists() for f in files) and not path.with_name("log.jsonl.3").exists()
    for f in files:
        assert f.stat().st_size <= 600
        for line in f.read_text().splitlines():
            json.loads(line)
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["stream_s"] == 12.5


def test_unwritable_log_is_a_log_error(tmp_path):
    with pytest.raises(LogError, match="directory"):
        JsonlSink(tmp_path)
    with pytest.raises(LogError):
        JsonlSink(tmp_path / "missing" / "x.jsonl")
    with pytest.raises(LogError, match="format"):
        open_sink(tmp_path / "x", "xml")


WRITER = r"""
import os, resource, signal, sys
sys.path.insert(0, sys.argv[2])
from listener.sinks import JsonlSink
from listener.events import Detection, Sequence
from listener.errors import LogError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
if sys.argv[3] == "full":
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))  # the "disk" fills at 1000 bytes
s = JsonlSink(sys.argv[1])
i = 0
while True:
    d = Detection(
        "2026-11-21T10:15:02.412+00:00", float(i), "seven", 0.9, [("seven", 0.9)], "digits-1.0", "x" * (i % 37), None
    )
    try:
        s.write(d)
    except LogError as e:
        print(e.message, flush=True)
        sys.exit(5)
    i += 1
"""


def _lines_valid(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "no half-written last line"
    return [json.loads(line) for line in text.splitlines()]


def test_full_disk_rolls_back_the_partial_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps({"earlier": 1}) + "\n")
    root = str(Path(__file__).resolve().parents[2])
    res = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), root, "full"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 5 and "cannot write log" in res.stdout
    rows = _lines_valid(path)
    assert rows[0] == {"earlier": 1} and len(rows) > 3
    assert [r["stream_s"] for r in rows[1:]] == [float(i) for i in range(len(rows) - 1)]


def test_sigkill_mid_stream_leaves_only_whole_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), root, "free"])
    deadline = time.time() + 30
    while (not path.exists() or path.read_bytes().count(b"\n") < 1200) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows = _lines_valid(path)
    assert len(rows) > 1000
    assert [r["stream_s"] for r in rows] == [float(i) for i in range(len(rows))]


def test_stdout_sink_formats(capsys):
    StdoutSink("jsonl").write(det())
    StdoutSink("text").write(det())
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[0])["label"] == "seven"
    assert "seven" in out[1] and "0.97" in out[1]


def seq() -> Sequence:
    return Sequence(
        "2026-11-21T10:15:04.000+01:00", 1.2, 2.4, "472", ["four", "seven", "two"], 0.81, "d-2", "x", 1130.0
    )


def event() -> Detection:
    return Detection("2026-11-21T10:15:05.000+01:00", 3.0, "dog bark", 0.9, [("dog bark", 0.9)], "s-2", "x", None, 5.2)


def test_jsonl_tells_records_apart_by_type(tmp_path):
    path = tmp_path / "log.jsonl"
    s = JsonlSink(path)
    for r in (det(), seq(), event()):
        s.write(r)
    s.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["type"] for r in rows] == ["detection", "sequence", "detection"]
    assert rows[0]["end_s"] is None and rows[2]["end_s"] == 5.2
    assert rows[1]["digits"] == "472" and rows[1]["labels"] == ["four", "seven", "two"] and rows[1]["end_s"] == 2.4


def test_csv_rows_carry_type_and_end_and_a_sequence_has_its_digits_as_label(tmp_path):
    path = tmp_path / "log.csv"
    s = CsvSink(path)
    for r in (det(), seq(), event()):
        s.write(r)
    s.close()
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == CSV_FIELDS and [r["type"] for r in rows] == ["detection", "sequence", "detection"]
    assert (rows[1]["label"], rows[1]["top"], rows[1]["end_s"]) == ("472", "four;seven;two", "2.400")
    assert rows[0]["end_s"] == "" and rows[2]["end_s"] == "5.200"


def test_csv_log_of_an_older_version_keeps_its_columns_and_gets_no_sequences(tmp_path):
    path = tmp_path / "old.csv"
    old = ["time", "stream_s", "label", "confidence", "top", "model", "source", "latency_ms"]
    path.write_text(",".join(old) + "\n" + "2026-01-01T00:00:00.000+00:00,1.000,one,0.9000,one:0.9000,d-1,x,\n")
    s = CsvSink(path)
    s.write(det())
    s.write(seq())  # no column would say it is a sequence: not written
    s.close()
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == old and [r["label"] for r in rows] == ["one", "seven"]
    path.write_text("when,what\n1,2\n")
    with pytest.raises(LogError, match="its columns are not listener's"):
        CsvSink(path)


def test_stdout_text_shows_events_with_their_length_and_sequences(capsys):
    out = StdoutSink("text")
    out.write(event())
    out.write(seq())
    StdoutSink("csv").write(seq())
    lines = capsys.readouterr().out.splitlines()
    assert "dog bark" in lines[0] and "2.2 s long" in lines[0]
    assert "= 472" in lines[1] and "3 in 1.20 s" in lines[1]
    assert lines[2].split(",") == CSV_FIELDS and lines[3].endswith(",sequence")
