"""bench/aarch64.sh refuses what it cannot run with one line and exit 2 (its runs: docs/raspberry-pi.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import ROOT

SCRIPT = ROOT / "bench" / "aarch64.sh"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, timeout=30)


def test_usage_and_a_folder_that_is_not_set_up(tmp_path: Path) -> None:
    res = run()
    assert res.returncode == 2 and res.stderr.startswith("usage:")
    res = run("run", str(tmp_path), "cortex-a72", "analyze", "x.wav")
    assert res.returncode == 2 and "is not set up" in res.stderr


def test_only_the_two_pi_cpus(tmp_path: Path) -> None:
    python = tmp_path / "root/usr/bin/python3.11"
    python.parent.mkdir(parents=True)
    python.write_text("")
    python.chmod(0o755)
    res = run("run", str(tmp_path), "cortex-a53", "analyze", "x.wav")
    assert res.returncode == 2 and "cortex-a72 (Pi 4) or cortex-a76 (Pi 5)" in res.stderr
