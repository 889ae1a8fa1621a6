"""The app's worker runs ``listener run``'s pipeline: the same options give the same detections."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import make_test_model, read_jsonl, run_cli, silence, tone, write_tones
from guitools import RATE

from listener.audio import SourceOptions
from listener.config import RunOptions, given_options
from listener.gui.app import parse_args
from listener.gui.worker import ListenerWorker


def sound_file(path):
    """Two long tones: a sound model's sliding windows see each several times."""
    x = np.concatenate([silence(0.5), tone(300, 1.5), silence(1.0), tone(3800, 1.5), silence(1.0)])
    sf.write(path, x, RATE, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    "kind, flags",
    [("speech", ["--vad", "0", "--threshold", "0.6"]), ("sound", ["--hop", "0.3", "--block-ms", "40"])],
)
def test_the_cli_and_the_app_detect_the_same_on_the_same_file(qtbot, tmp_path, kind, flags):
    model = make_test_model(tmp_path, kind=kind, name=f"test{kind}")
    wav = write_tones(tmp_path / "tones.wav") if kind == "speech" else sound_file(tmp_path / "sound.wav")
    cli_log, app_log = tmp_path / "cli.jsonl", tmp_path / "app.jsonl"
    res = run_cli("run", "--source", wav, "--model", model, "--log", cli_log, "--quiet", *flags)
    assert res.returncode == 0, res.stderr.decode()

    # The app: the same flags through its own parser, the same options, its own worker and log.
    options = RunOptions(**given_options(parse_args(["--source", str(wav), "--model", str(model), *flags]), RunOptions))
    worker = ListenerWorker()
    worker.log.switch(str(app_log))
    blocks = []
    worker.block.connect(blocks.append)
    with qtbot.waitSignal(worker.stopped, timeout=30000) as stopped:
        assert worker.start(options)
    qtbot.wait(50)
    worker.log.switch(None)
    assert stopped.args[0].error is None

    cli, app = read_jsonl(cli_log), read_jsonl(app_log)
    assert len(cli) >= 2 and {r["label"] for r in cli} == {"low", "high"}
    assert [(r["label"], r["stream_s"]) for r in app] == [(r["label"], r["stream_s"]) for r in cli]
    assert [r["source"] for r in app] == [r["source"] for r in cli] == [str(wav)] * len(cli)
    block_ms = options.block_ms if "--block-ms" in flags else SourceOptions.block_ms
    assert {len(b.samples) for b in blocks[:-1]} == {RATE * block_ms // 1000}  # the command line's blocks
