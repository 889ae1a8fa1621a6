"""bench.bench_latency: where its record goes."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.bench_latency import RESULTS, result_path
from listener.config import RunOptions


def args(**given) -> argparse.Namespace:
    values = {"out": None, "strings": None, "block_ms": RunOptions.block_ms, "frames_per_call": None}
    return argparse.Namespace(**{**values, **given})


def test_the_record_is_named_for_what_was_measured() -> None:
    assert result_path(args()) == RESULTS / "latency.json"
    assert result_path(args(block_ms=30)) == RESULTS / "latency_block30.json"
    assert result_path(args(strings=20)) == RESULTS / "latency_strings.json"
    assert result_path(args(strings=20, frames_per_call=4)) == RESULTS / "latency_strings_fpc4.json"


def test_out_replaces_the_shipped_records_path(tmp_path: Path) -> None:
    out = tmp_path / "mine" / "latency.json"
    assert result_path(args(out=out)) == out
    assert result_path(args(out=out, strings=20)) == out
