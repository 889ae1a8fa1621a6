"""bench.compare_logs: two logs of the same recordings compared by file name; bad input is one line and exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ASSETS, run_cli

from bench.compare_logs import compare, main


def row(source: str, label: str, stream_s: float, confidence: float) -> dict:
    return {"type": "detection", "source": source, "label": label, "stream_s": stream_s, "confidence": confidence}


def test_files_are_matched_by_name_and_differences_listed() -> None:
    a = [
        row("/x86/set/a.wav", "four", 0.94, 0.999),
        row("/x86/set/a.wav", "seven", 1.98, 0.99),
        row("/x86/set/b.wav", "eight", 3.02, 0.53),
    ]
    b = [
        row("/pi/data/a.wav", "four", 0.94, 0.997),
        row("/pi/data/a.wav", "seven", 2.06, 0.98),
        row("/pi/data/c.wav", "two", 1.0, 0.6),
    ]
    r = compare(a, b, ("x86", "pi"), n_files=5)
    assert r.files == 5 and r.files_agree == 3  # a.wav and the two files neither log names
    assert {(d.file, tuple(d.a), tuple(d.b)) for d in r.differences} == {
        ("b.wav", ("eight",), ()),
        ("c.wav", (), ("two",)),
    }
    assert r.detections == (3, 3)
    assert r.max_confidence_delta == pytest.approx(0.01)
    assert r.max_stream_delta_s == pytest.approx(0.08)
    assert compare(a, a, ("x", "x")).differences == []


def test_the_same_run_in_two_folders_agrees(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Real logs of `listener analyze`: the sample clip analysed from two folders gives identical labels."""
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        d.mkdir()
        shutil.copy(ASSETS / "samples" / "digits.wav", d / "clip.wav")
    for d in (one, two):
        res = run_cli("analyze", d, "--log", d / "log.jsonl", "--progress", "never")
        assert res.returncode == 0, res.stderr.decode()
    out = tmp_path / "cmp.json"
    assert main([str(one / "log.jsonl"), str(two / "log.jsonl"), "--files", str(one), "--out", str(out)]) == 0
    assert "1 of 1 recordings log the same labels" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["files_agree"] == 1 and record["detections"][0] >= 4
    assert record["max_confidence_delta"] == 0.0


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(row("a.wav", "four", 1.0, 0.9)) + "\n")
    assert main([str(good), str(tmp_path / "none.jsonl")]) == 2
    assert "no such log" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    assert main([str(good), str(broken)]) == 2
    assert "not a JSONL detection log" in capsys.readouterr().err
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"type": "detection", "value": 3}) + "\n")
    assert main([str(good), str(other)]) == 2
    assert "without label or source" in capsys.readouterr().err
    assert main([str(good), str(good), "--files", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
