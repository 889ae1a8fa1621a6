"""The ``listener`` command as a user runs it: real subprocesses, real files, real PortAudio."""

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import LISTENER, ROOT, assert_clean_error, make_test_model, read_jsonl, run_cli, two_tones, wait_for

RATE = 16000
NO_AUDIO = {"PULSE_SERVER": "unix:/nonexistent/pulse"}  # PortAudio then sees no input device


@pytest.fixture
def work(tmp_path):
    make_test_model(tmp_path, filename="m.onnx")
    sf.write(tmp_path / "tones.wav", two_tones(), RATE)
    return tmp_path


def test_no_command_prints_usage_and_exits_2():
    res = run_cli()
    assert res.returncode == 2 and b"usage: listener" in res.stderr


def test_analyze_many_files_any_rate_and_channels(work):
    x = two_tones()
    sf.write(work / "st44.wav", np.stack([soxr.resample(x, RATE, 44100)] * 2, axis=1), 44100)
    sf.write(work / "m48.ogg", soxr.resample(x, RATE, 48000), 48000)
    sf.write(work / "m8.flac", soxr.resample(x, RATE, 8000), 8000)
    files = ["tones.wav", "st44.wav", "m48.ogg", "m8.flac"]
    res = run_cli(
        "analyze",
        *files,
        "--model",
        "m.onnx",
        "--gate",
        "energy",
        "--log",
        "out.jsonl",
        "--progress",
        "always",
        cwd=work,
    )
    assert res.returncode == 0, res.stderr.decode()
    assert "100.0%" in res.stderr.decode()  # the progress bar (forced: stderr is not a terminal here)
    rows = read_jsonl(work / "out.jsonl")
    assert [(r["source"], r["label"]) for r in rows] == [(f, lab) for f in files for lab in ("low", "high")]
    for r in rows:
        assert r["stream_s"] == pytest.approx(0.75 if r["label"] == "low" else 2.25, abs=0.06)
        assert r["time"][-6] in "+-" and "T" in r["time"]  # ISO 8601 with a UTC offset
    table = res.stdout.decode()
    assert "4 file(s)" in table and all(f in table for f in files) and "8 detections" in table


def test_analyze_csv_to_stdout_and_a_bad_file_among_good(work):
    (work / "bad.wav").write_bytes(b"not audio at all" * 50)
    res = run_cli(
        "analyze", "tones.wav", "bad.wav", "--model", "m.onnx", "--gate", "energy", "--format", "csv", cwd=work
    )
    assert_clean_error(res, 4, "bad.wav")
    rows = list(csv.DictReader(res.stdout.decode().splitlines()))
    assert [r["label"] for r in rows] == ["low", "high"] and rows[0]["source"] == "tones.wav"
    assert "1 unreadable" in res.stderr.decode()


@pytest.mark.slow
def test_run_file_in_real_time(work):
    t0 = time.monotonic()
    res = run_cli(
        "run", "--source", "tones.wav", "--model", "m.onnx", "--gate", "energy", "--log", "run.jsonl", cwd=work
    )
    assert res.returncode == 0, res.stderr.decode()
    assert time.monotonic() - t0 >= 3.5  # paced: the file is 3.5 s long
    rows = read_jsonl(work / "run.jsonl")
    assert [r["label"] for r in rows] == ["low", "high"]
    assert all(r["latency_ms"] is not None and 0 < r["latency_ms"] < 1000 for r in rows)
    assert "low" in res.stdout.decode()  # a human line per detection on stdout


@pytest.mark.parametrize("rate", [8000, 48000])
def test_run_from_stdin(work, rate):
    pcm = (soxr.resample(two_tones(), RATE, rate) * 32767).astype("<i2").tobytes()
    res = run_cli(
        "run",
        "--source",
        "-",
        "--input-rate",
        str(rate),
        "--model",
        "m.onnx",
        "--gate",
        "energy",
        "--log",
        "-",
        cwd=work,
        input=pcm,
    )
    assert res.returncode == 0, res.stderr.decode()
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert [(r["label"], r["source"]) for r in rows] == [("low", "stdin"), ("high", "stdin")]


@pytest.mark.parametrize(
    "args, env, code, fragment",
    [
        (["run", "--model", "missing.onnx"], {}, 3, "model 'missing.onnx' not found"),
        (["run", "--model", "nometa.onnx"], {}, 3, "missing metadata"),
        (["run", "--model", "tones.wav"], {}, 3, "cannot load model"),
        (["run", "--model", "m.onnx", "--source", "nope.wav"], {}, 4, "not found"),
        (["run", "--model", "m.onnx", "--source", "corrupt.wav"], {}, 4, "cannot read audio file 'corrupt.wav'"),
        (["analyze", "corrupt.wav", "--model", "m.onnx"], {}, 4, "corrupt.wav"),
        (["run", "--model", "m.onnx", "--source", "mic"], NO_AUDIO, 4, "no audio input device"),
        (["run", "--model", "m.onnx", "--source", "mic", "--device", "no-such-mic"], {}, 4, "no-such-mic"),
        (["devices"], NO_AUDIO, 4, "no audio input device"),
        (["run", "--model", "m.onnx", "--source", "tones.wav", "--log", "."], {}, 5, "cannot write log"),
        (["analyze", "tones.wav", "--model", "m.onnx", "--log", "no/dir/x.jsonl"], {}, 5, "does not exist"),
        (["run", "--config", "bad.toml"], {}, 2, "unknown option 'colour'"),
        (["run", "--config", "missing.toml"], {}, 2, "not found"),
        (
            ["run", "--model", "m.onnx", "--source", "tones.wav", "--block-ms", "5"],
            {},
            2,
            "--block-ms must be between 10 and 1000",
        ),
        (["run", "--config", "block.toml"], {}, 2, "--block-ms must be between 10 and 1000"),
    ],
)
def test_error_paths(work, args, env, code, fragment):
    make_test_model(work, filename="nometa.onnx", drop=("labels",))
    (work / "corrupt.wav").write_bytes(b"RIFF\xff\xff\x00\x00WAVEfmt \x10\x00\x00\x00" + os.urandom(64))
    (work / "bad.toml").write_text('colour = "blue"\n')
    (work / "block.toml").write_text('model = "m.onnx"\nsource = "tones.wav"\nblock_ms = 5000\n')
    if args[0] == "run" and "--device" in args:
        pytest.importorskip("sounddevice")
    res = run_cli(*args, env=env, cwd=work)
    assert_clean_error(res, code, fragment)


def test_usage_errors_exit_2(work):
    for args in (
        ["run", "--vad", "4"],
        ["run", "--threshold", "1.5"],
        ["run", "--block-ms", "0"],
        ["run", "--block-ms", "x"],
        ["analyze"],
        ["run", "--format", "xml"],
        ["gui", "--threshold", "2"],
        ["gui", "--bogus"],
        ["gui", "--mqtt", "http://broker"],
    ):
        res = run_cli(*args, cwd=work)
        assert res.returncode == 2 and b"Traceback" not in res.stderr


def test_config_file_and_flags_override(work):
    (work / "c.toml").write_text(
        '[listener]\nmodel = "m.onnx"\ngate = "energy"\nlog = "c.csv"\nformat = "csv"\n'
        'source = "tones.wav"\nthreshold = 0.5\n'
    )
    res = run_cli("run", "--config", "c.toml", "--duration", "2", cwd=work)
    assert res.returncode == 0, res.stderr.decode()
    rows = list(csv.DictReader((work / "c.csv").open()))
    assert [r["label"] for r in rows] == ["low"]  # --duration 2 from the command line, the rest from the file


def test_no_microphone_falls_back_to_the_sample_clip(work):
    res = run_cli("run", "--model", "m.onnx", "--log", "auto.jsonl", "--duration", "1.5", env=NO_AUDIO, cwd=work)
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert "no microphone found" in err and "digits.wav" in err
    assert (work / "auto.jsonl").exists()
    for r in read_jsonl(work / "auto.jsonl"):
        assert r["source"].endswith("digits.wav")


@pytest.mark.slow
def test_sigterm_keeps_a_valid_log_with_every_detection(work):
    sf.write(work / "long.wav", np.concatenate([two_tones()] * 10), RATE)
    log = work / "term.jsonl"
    log.write_text(json.dumps({"earlier": "line"}) + "\n")
    proc = subprocess.Popen(
        [
            *LISTENER,
            "run",
            "--source",
            "long.wav",
            "--model",
            "m.onnx",
            "--gate",
            "energy",
            "--log",
            str(log),
            "--quiet",
        ],
        cwd=work,
        stderr=subprocess.PIPE,
    )
    assert wait_for(lambda: len(log.read_text().splitlines()) >= 3, 30)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    text = log.read_text()
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows[0] == {"earlier": "line"}
    labels = [r["label"] for r in rows[1:]]
    assert len(labels) >= 2 and labels == (["low", "high"] * 10)[: len(labels)]
    assert f"{len(labels)} detections" in err.decode()


def test_devices_lists_the_pulse_device(pulse_sink):
    res = run_cli("devices")
    assert res.returncode == 0, res.stderr.decode()
    assert "pulse" in res.stdout.decode() and "Hz" in res.stdout.decode()


def run_mic(work, pulse_sink, clip, model_args, seconds):
    """``listener run --source mic --device pulse`` listening to a null sink's monitor while paplay plays ``clip``."""
    log = work / "mic.jsonl"
    env = {**os.environ, "PULSE_SOURCE": f"{pulse_sink}.monitor"}
    proc = subprocess.Popen(
        [
            *LISTENER,
            "run",
            "--source",
            "mic",
            "--device",
            "pulse",
            "--log",
            str(log),
            "--duration",
            str(seconds),
            *model_args,
        ],
        cwd=work,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stderr.readline()  # "listening to ..." once audio flows
    assert "listening to mic:pulse" in line, line + proc.stderr.read()
    subprocess.run(["paplay", f"--device={pulse_sink}", str(clip)], check=True, timeout=60)
    _, err = proc.communicate(timeout=seconds + 30)
    assert proc.returncode == 0, err
    return read_jsonl(log) if log.exists() else []


@pytest.mark.slow
def test_microphone_end_to_end_with_tones(work, pulse_sink):
    rows = run_mic(work, pulse_sink, work / "tones.wav", ["--model", "m.onnx", "--gate", "energy"], 6)
    assert [r["label"] for r in rows] == ["low", "high"]
    assert all(r["source"] == "mic:pulse" and r["latency_ms"] is not None for r in rows)
    assert rows[1]["stream_s"] - rows[0]["stream_s"] == pytest.approx(1.5, abs=0.1)


# ------------------------------------------------------------ with the shipped digits model


@pytest.mark.slow
def test_microphone_end_to_end_spoken_digits(digits_model, speech_dir, work, pulse_sink):
    expected = json.loads((speech_dir / "phrase.json").read_text())["labels"]
    rows = run_mic(work, pulse_sink, speech_dir / "phrase.wav", ["--model", "digits"], 8)
    assert [r["label"] for r in rows] == expected
    assert all(r["model"].startswith("digits-") for r in rows)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_spoken_digits_from_files_at_any_rate(digits_model, speech_dir, tmp_path, rate, channels):
    expected = json.loads((speech_dir / "phrase.json").read_text())["labels"]
    x, _ = sf.read(speech_dir / "phrase.wav", dtype="float32")
    y = soxr.resample(x, RATE, rate)
    path = tmp_path / f"phrase_{rate}_{channels}.wav"
    sf.write(path, np.stack([y] * channels, axis=1) if channels == 2 else y, rate)
    res = run_cli("analyze", path, "--model", "digits")
    assert res.returncode == 0, res.stderr.decode()
    assert [json.loads(line)["label"] for line in res.stdout.decode().splitlines()] == expected


@pytest.mark.parametrize("rate, channels", [(8000, 1), (16000, 2), (44100, 1), (48000, 2)])
def test_spoken_digits_from_stdin(digits_model, speech_dir, rate, channels):
    expected = json.loads((speech_dir / "phrase.json").read_text())["labels"]
    x, _ = sf.read(speech_dir / "phrase.wav", dtype="float32")
    y = soxr.resample(x, RATE, rate)
    pcm = ((np.stack([y] * channels, axis=1) if channels > 1 else y) * 32767).astype("<i2").tobytes()
    res = run_cli(
        "run",
        "--source",
        "-",
        "--input-rate",
        str(rate),
        "--input-channels",
        str(channels),
        "--model",
        "digits",
        "--log",
        "-",
        input=pcm,
    )
    assert res.returncode == 0, res.stderr.decode()
    assert [json.loads(line)["label"] for line in res.stdout.decode().splitlines()] == expected


@pytest.mark.slow
def test_sigterm_with_spoken_digits(digits_model, speech_dir, tmp_path):
    x, _ = sf.read(speech_dir / "phrase.wav", dtype="float32")
    sf.write(tmp_path / "many.wav", np.concatenate([x] * 6), RATE)
    log = tmp_path / "d.jsonl"
    proc = subprocess.Popen(
        [*LISTENER, "run", "--source", str(tmp_path / "many.wav"), "--model", "digits", "--log", str(log), "--quiet"],
        stderr=subprocess.PIPE,
    )
    assert wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 4, 60)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    rows = read_jsonl(log)
    expected = json.loads((speech_dir / "phrase.json").read_text())["labels"] * 6
    assert [r["label"] for r in rows] == expected[: len(rows)] and len(rows) >= 4


def test_systemd_unit_runs_a_valid_listener_command():
    import shlex

    from listener.cli import make_parser

    text = (ROOT / "deploy" / "listener.service").read_text()
    assert "StateDirectory=listener" in text
    exec_start = next(line for line in text.replace("\\\n", " ").splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.split("=", 1)[1].replace("${STATE_DIRECTORY}", "/var/lib/listener"))
    assert Path(argv[0]).name == "listener"
    args = make_parser().parse_args(argv[1:])
    assert args.command == "run" and args.log == "/var/lib/listener/detections.jsonl"


def test_systemd_example_with_a_config_file_and_mqtt_is_valid():
    """The unit's commented ExecStart reads deploy/listener.toml; both parse, and its MQTT settings are valid."""
    import shlex

    from listener.cli import make_parser
    from listener.config import RunOptions, load_config
    from listener.mqtt import mqtt_options

    text = (ROOT / "deploy" / "listener.service").read_text()
    joined = text.replace("\\\n#", " ").replace("\\\n", " ")
    line = next(x for x in joined.splitlines() if x.startswith("#ExecStart=") and "--config" in x)
    argv = shlex.split(line.split("=", 1)[1].replace("${STATE_DIRECTORY}", "/var/lib/listener"))
    args = make_parser().parse_args(argv[1:])
    assert args.command == "run" and args.config == "/etc/listener/listener.toml"
    options = RunOptions(**load_config(ROOT / "deploy" / "listener.toml"))
    mqtt = mqtt_options(options)
    assert mqtt is not None and mqtt.discovery and mqtt.broker.host == "homeassistant.local"


def test_shipped_sounds_model_runs_on_its_sample_clip(tmp_path):
    if not (ROOT / "assets" / "sounds.onnx").is_file():
        pytest.skip("assets/sounds.onnx does not exist yet (the training engineer ships it)")
    res = run_cli("run", "--model", "sounds", "--log", tmp_path / "s.jsonl", "--duration", "4", env=NO_AUDIO)
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert "sounds.wav" in err  # no microphone: the sounds model's own sample clip
    res = run_cli(
        "analyze",
        ROOT / "assets" / "samples" / "sounds.wav",
        "--model",
        "sounds",
        "--threshold",
        "0",
        "--log",
        tmp_path / "a.jsonl",
    )
    assert res.returncode == 0, res.stderr.decode()
    rows = read_jsonl(tmp_path / "a.jsonl")
    assert rows and all(r["model"].startswith("sounds-") for r in rows)
    assert all(0.0 < r["stream_s"] < 12.0 and r["top"][0][0] == r["label"] for r in rows)
