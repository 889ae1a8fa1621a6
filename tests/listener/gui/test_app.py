"""``listener gui``: its entry points, the command line's options, and the app as a user starts it."""

from __future__ import annotations

import os
from argparse import Namespace

import pytest
from conftest import make_test_model, read_jsonl
from guitools import history_labels

from listener.gui.app import create_window, parse_args


def test_main_entry_plays_a_source_at_once(qtbot, store, tmp_path, tones_wav):
    model = make_test_model(tmp_path)
    args = Namespace(source=str(tones_wav), model=str(model), device=None, log=str(tmp_path / "m.jsonl"), threshold=0.5)
    w = create_window(args, store=store, autostart=False)
    qtbot.addWidget(w)
    w.settings.options.vad = 0
    w.pace_files = False
    with qtbot.waitSignal(w.worker.stopped, timeout=20000):
        w.start()
    qtbot.wait(50)
    assert history_labels(w) == ["low", "high"]
    assert w.controls.threshold.value() == pytest.approx(0.5)
    assert len(read_jsonl(tmp_path / "m.jsonl")) == 2


def test_python_m_listener_gui_runs_logs_and_closes_on_sigterm(tmp_path, tones_wav):
    """The real entry point in its own process: plays the file, logs, and on SIGTERM
    closes the window properly (exit status 0, settings written)."""
    import signal
    import subprocess
    import sys
    import time

    model = make_test_model(tmp_path)
    log = tmp_path / "entry.jsonl"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "listener.gui",
            "--source",
            str(tones_wav),
            "--model",
            str(model),
            "--log",
            str(log),
            "--threshold",
            "0.5",
        ],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not log.exists() or len(read_jsonl(log)) < 2):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [r["label"] for r in read_jsonl(log)] == ["low", "high"]
    assert rc == 0
    conf = (tmp_path / "config" / "listener" / "listener-gui.conf").read_text()
    assert f"log_path={log}" in conf and "threshold=0.5" in conf


@pytest.fixture
def xvfb():
    """A private Xvfb display; yields its DISPLAY string."""
    import shutil
    import subprocess

    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    proc.terminate()
    proc.wait(5)


def test_the_app_starts_on_a_real_x_server_with_the_xcb_platform(tmp_path, tones_wav, xvfb):
    """``listener gui`` as a user starts it, on X11 (not the offscreen platform): a library
    missing from the system packages aborts it here (exit 134) instead of on a user's machine."""
    import signal
    import subprocess
    import sys

    from conftest import wait_for

    model = make_test_model(tmp_path)
    log = tmp_path / "xcb.jsonl"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": xvfb, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "listener", "gui", "--source", str(tones_wav), "--model", str(model), "--log", str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: proc.poll() is not None or (log.exists() and len(read_jsonl(log)) >= 2), 60)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert [r["label"] for r in read_jsonl(log)] == ["low", "high"]
    assert err.strip() == "", f"the app wrote to stderr: {err}"  # no Qt warnings (QBackingStore::flush ...)


def test_the_app_takes_the_command_lines_options_and_config_file(qtbot, store, tmp_path, tones_wav):
    """``listener gui --config FILE`` and flags: the same names and defaults as ``listener run``;
    given ones override what the app remembered, and only the window's choices are remembered."""
    from listener.audio import SourceOptions
    from listener.config import RunOptions
    from listener.gui.settings import GuiSettings

    model = make_test_model(tmp_path)
    remembered = GuiSettings(options=RunOptions(threshold=0.9, vad=3, model=str(model)))
    remembered.save(store)
    config = tmp_path / "gui.toml"
    config.write_text(f'[listener]\nblock_ms = 40\nvad = 1\nlog = "{tmp_path / "c.jsonl"}"\nhop = 0.5\n')
    args = parse_args(["--config", str(config), "--threshold", "0.5", "--source", str(tones_wav)])
    w = create_window(args, store=store, autostart=False)
    qtbot.addWidget(w)
    o = w.settings.options
    assert (o.threshold, o.vad, o.block_ms, o.hop, o.model) == (0.5, 1, 40, 0.5, str(model))
    assert w.settings.log_enabled and w.settings.log_path == str(tmp_path / "c.jsonl")
    assert o.gate is None and o.min_margin == RunOptions().min_margin  # untouched: the stages' defaults
    blocks = []
    w.worker.block.connect(blocks.append)
    w.pace_files = True
    with qtbot.waitSignal(w.worker.stopped, timeout=20000):
        w.start()
    qtbot.wait(50)
    assert {len(b.samples) for b in blocks[:-1]} == {640}  # --block-ms from the file
    assert history_labels(w) == ["low", "high"]
    assert [r["label"] for r in read_jsonl(tmp_path / "c.jsonl")] == ["low", "high"]
    w.close()
    again = GuiSettings.load(store).options
    assert (again.threshold, again.vad, again.hop) == (0.5, 1, 0.5)  # picked in the window's controls
    assert again.block_ms == SourceOptions.block_ms  # not a window choice: not remembered


def test_stdin_is_a_message_in_the_app(qtbot, store, tmp_path):
    w = create_window(parse_args(["--source", "-"]), store=store)
    qtbot.addWidget(w)
    w.show()
    qtbot.wait(50)
    assert "cannot read audio from stdin" in w.banner.text()
    assert not w.worker.is_running()
