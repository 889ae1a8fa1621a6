"""Shared fixtures: small contract-conforming ONNX models, espeak-ng speech, PulseAudio, an MQTT broker.

Nothing here downloads anything. Speech is synthesised with espeak-ng (voice
en-us) into a session temp dir; test models are built with ``onnx.helper``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from listener.contract import CONTEXT, EMBEDDINGS, FEATURES, INPUT, LOGITS, ModelInfo

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
DIGITS_MODEL = ASSETS / "digits.onnx"
LISTENER = [sys.executable, "-m", "listener"]

# ---------------------------------------------------------------- test models

TEST_LABELS = ["low", "high", "silence"]


def _tone_graph(labels: list[str], samples: int, features: bool, name: str):
    """The graph of ``make_test_model`` and its number of feature frames."""
    from onnx import TensorProto, helper

    n = len(labels)
    W = np.zeros((2, n), np.float32)
    b = np.full((n,), -20.0, np.float32)
    W[:, 0], b[0] = [-10.0, 0.0], 10.0
    if n > 1:
        W[:, 1], b[1] = [10.0, 0.0], -10.0
    if n > 2:
        W[:, 2], b[2] = [0.0, -3.0], -27.0
    frames = samples // 160
    nodes = [
        helper.make_node("Mul", [INPUT, INPUT], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["e"], axes=[1], keepdims=1),
        helper.make_node("Slice", [INPUT, "one", "big", "ax1"], ["x1"]),
        helper.make_node("Slice", [INPUT, "zero", "minus1", "ax1"], ["x0"]),
        helper.make_node("Sub", ["x1", "x0"], ["dx"]),
        helper.make_node("Mul", ["dx", "dx"], ["dsq"]),
        helper.make_node("ReduceMean", ["dsq"], ["d"], axes=[1], keepdims=1),
        helper.make_node("Add", ["e", "eps"], ["s"]),
        helper.make_node("Div", ["d", "s"], ["ratio"]),
        helper.make_node("Log", ["s"], ["loud"]),
        helper.make_node("Concat", ["ratio", "loud"], ["feat2"], axis=1),
        helper.make_node("MatMul", ["feat2", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], [LOGITS]),
    ]
    inits = [
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("big", TensorProto.INT64, [1], [1 << 62]),
        helper.make_tensor("minus1", TensorProto.INT64, [1], [-1]),
        helper.make_tensor("ax1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("eps", TensorProto.FLOAT, [1], [1e-6]),
        helper.make_tensor("W", TensorProto.FLOAT, [2, n], W.flatten().tolist()),
        helper.make_tensor("b", TensorProto.FLOAT, [n], b.tolist()),
    ]
    outputs = [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", n])]
    if features:
        used = frames * 160
        nodes += [
            helper.make_node("Slice", ["sq", "zero", "used", "ax1"], ["sq_used"]),
            helper.make_node("Reshape", ["sq_used", "fshape"], ["sq3"]),
            helper.make_node("ReduceMean", ["sq3"], ["fe"], axes=[2], keepdims=0),
            helper.make_node("Unsqueeze", ["fe", "ax1"], [FEATURES]),
        ]
        inits += [
            helper.make_tensor("used", TensorProto.INT64, [1], [used]),
            helper.make_tensor("fshape", TensorProto.INT64, [3], [0, frames, 160]),
        ]
        outputs.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["batch", 1, frames]))
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", samples])], outputs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, frames


def make_test_model(
    tmp_path: Path,
    labels: list[str] | None = None,
    kind: str = "speech",
    *,
    name: str = "testmodel",
    sample_rate: int = 16000,
    window_seconds: float = 1.0,
    input_samples: int | None = None,
    features: bool = True,
    metadata: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    filename: str | None = None,
) -> Path:
    """A tiny model following the contract: low tone -> ``low``, high tone -> ``high``, quiet -> ``silence``.

    It computes the window's energy ``e`` and the energy of its first difference
    ``d``; ``d/e`` is ~0 for low frequencies and ~2 at a quarter of the rate,
    ``log e`` tells silence from sound; a fixed linear layer maps them to logits.
    Extra labels beyond the first three get constant low logits.
    """

    labels = list(labels or TEST_LABELS)
    samples = input_samples or int(round(window_seconds * sample_rate))
    model, frames = _tone_graph(labels, samples, features, name)
    meta = ModelInfo(
        name=name,
        version="0.1",
        labels=labels,
        sample_rate=sample_rate,
        window_seconds=window_seconds,
        kind=kind,
        features={"type": "frame-energy", "frames": frames},
        training_data="none: a fixed test graph",
    )
    return save_model(model, meta, Path(tmp_path) / (filename or f"{name}.onnx"), metadata, drop)


def save_model(model, info: ModelInfo, path: Path, metadata: dict[str, str] | None, drop: tuple[str, ...]) -> Path:
    """Write ``model`` to ``path`` with ``info``'s metadata, changed by ``metadata``, less the keys in ``drop``."""
    import onnx

    meta = info.to_metadata()
    meta.update(metadata or {})
    for key in drop:
        meta.pop(key, None)
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def test_model(tmp_path: Path) -> Path:
    return make_test_model(tmp_path)


# A sequence (ctc) test model: one output frame per CTC_HOP samples, each from CTC_SPAN samples.
CTC_LABELS = ["<blank>", "low", "high", "<other>"]
CTC_HOP, CTC_SPAN = 1600, 4800  # 0.1 s frames, each seeing 0.3 s
CTC_SYMBOLS = {"low": "1", "high": "2"}


def make_ctc_model(
    tmp_path: Path,
    *,
    name: str = "ctcmodel",
    metadata: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
    filename: str | None = None,
    context: bool = False,
) -> Path:
    """A tiny sequence model following the contract (``decoder`` ``ctc``): ``audio`` [batch, samples]
    -> ``logits`` [batch, frames, 4]; frame ``f`` is computed from samples ``[f*1600, f*1600 + 4800)``
    only (three 0.1 s hops), so ``frames = (samples - 4800) // 1600 + 1``.

    Per hop it takes the energy ``e`` and the energy of the first difference ``d``; a frame sums
    its three hops' (a valid Conv of ones), then ``r = d/e`` (about 0.01 for a 300 Hz tone, 1.3 at
    3 kHz, 2 for white noise) and ``loud = log e`` give the logits of ``<blank>`` (quiet),
    ``low`` (a low tone), ``high`` (a high tone) and ``<other>`` (noise). Symbols: low -> "1",
    high -> "2". A tone of 0.5 s is a run of ``low`` frames: one detection.

    ``context``: the hops' ``[e, d]`` rows are also the ``embeddings`` output and a ``context``
    input is joined before them (``frame_context`` 2: a frame's other two hops).
    """
    from onnx import TensorProto, helper

    K = CTC_SPAN // CTC_HOP
    n = len(CTC_LABELS)
    # logits = [r, r^2, loud, 1] @ W
    W = np.array(
        [
            # blank  low    high   other
            [0.0, -20.0, 40.0, 12.0],  # r
            [0.0, 0.0, -16.0, 0.0],  # r^2
            [-3.0, 0.0, 0.0, 0.0],  # loud
            [-24.0, 10.0, -14.0, -14.0],  # bias
        ],
        np.float32,
    )
    nodes = [
        helper.make_node("Shape", [INPUT], ["shape"]),
        helper.make_node("Gather", ["shape", "one_i"], ["n_samples"], axis=0),
        helper.make_node("Div", ["n_samples", "hop_i"], ["n_hops"]),
        helper.make_node("Mul", ["n_hops", "hop_i"], ["used"]),
        helper.make_node("Slice", [INPUT, "zero_i", "used", "one_i"], ["x"]),
        helper.make_node("Reshape", ["x", "hop_shape"], ["hops"]),  # [B, n_hops, hop]
        helper.make_node("Mul", ["hops", "hops"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "two_i"], ["e"], keepdims=0),  # [B, n_hops]
        helper.make_node("Slice", ["hops", "one_i", "big_i", "two_i"], ["h1"]),
        helper.make_node("Slice", ["hops", "zero_i", "minus1_i", "two_i"], ["h0"]),
        helper.make_node("Sub", ["h1", "h0"], ["dh"]),
        helper.make_node("Mul", ["dh", "dh"], ["dsq"]),
        helper.make_node("ReduceSum", ["dsq", "two_i"], ["d"], keepdims=0),
        helper.make_node("Unsqueeze", ["e", "one_i"], ["e_u"]),
        helper.make_node("Unsqueeze", ["d", "one_i"], ["d_u"]),
        helper.make_node("Concat", ["e_u", "d_u"], ["ed"], axis=1),  # [B, 2, n_hops]
        *(
            [
                helper.make_node("Transpose", ["ed"], [EMBEDDINGS], perm=[0, 2, 1]),  # [B, n_hops, 2]
                helper.make_node("Concat", [CONTEXT, EMBEDDINGS], ["rows"], axis=1),
                helper.make_node("Transpose", ["rows"], ["ed_all"], perm=[0, 2, 1]),
            ]
            if context
            else [helper.make_node("Identity", ["ed"], ["ed_all"])]
        ),
        helper.make_node("Conv", ["ed_all", "ones"], ["ed_f"], group=2),  # [B, 2, frames]: K hops summed
        helper.make_node("Split", ["ed_f", "split"], ["e_f", "d_f"], axis=1),
        helper.make_node("Add", ["e_f", "eps"], ["e_s"]),
        helper.make_node("Div", ["d_f", "e_s"], ["r"]),
        helper.make_node("Mul", ["r", "r"], ["r2"]),
        helper.make_node("Div", ["e_s", "span_f"], ["e_mean"]),
        helper.make_node("Log", ["e_mean"], ["loud"]),
        helper.make_node("Mul", ["r", "zero_f"], ["z"]),
        helper.make_node("Add", ["z", "one_f"], ["ones_row"]),
        helper.make_node("Concat", ["r", "r2", "loud", "ones_row"], ["feat"], axis=1),  # [B, 4, frames]
        helper.make_node("Transpose", ["feat"], ["feat_t"], perm=[0, 2, 1]),  # [B, frames, 4]
        helper.make_node("MatMul", ["feat_t", "W"], [LOGITS]),
    ]
    inits = [
        helper.make_tensor("zero_i", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one_i", TensorProto.INT64, [1], [1]),
        helper.make_tensor("two_i", TensorProto.INT64, [1], [2]),
        helper.make_tensor("big_i", TensorProto.INT64, [1], [1 << 62]),
        helper.make_tensor("minus1_i", TensorProto.INT64, [1], [-1]),
        helper.make_tensor("hop_i", TensorProto.INT64, [1], [CTC_HOP]),
        helper.make_tensor("hop_shape", TensorProto.INT64, [3], [0, -1, CTC_HOP]),
        helper.make_tensor("ones", TensorProto.FLOAT, [2, 1, K], [1.0] * (2 * K)),
        helper.make_tensor("split", TensorProto.INT64, [2], [1, 1]),
        helper.make_tensor("eps", TensorProto.FLOAT, [1], [1e-6]),
        helper.make_tensor("span_f", TensorProto.FLOAT, [1], [float(CTC_SPAN)]),
        helper.make_tensor("zero_f", TensorProto.FLOAT, [1], [0.0]),
        helper.make_tensor("one_f", TensorProto.FLOAT, [1], [1.0]),
        helper.make_tensor("W", TensorProto.FLOAT, [4, n], W.flatten().tolist()),
    ]
    inputs = [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", "samples"])]
    outputs = [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", "frames", n])]
    if context:
        inputs.append(helper.make_tensor_value_info(CONTEXT, TensorProto.FLOAT, ["batch", "carried", 2]))
        outputs.append(helper.make_tensor_value_info(EMBEDDINGS, TensorProto.FLOAT, ["batch", "rows", 2]))
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = ModelInfo(
        name=name,
        version="0.1",
        labels=CTC_LABELS,
        sample_rate=16000,
        kind="speech",
        gate="energy",
        decoder="ctc",
        frame_hop_samples=CTC_HOP,
        frame_samples=CTC_SPAN,
        frame_context=K - 1 if context else 0,
        blank_label="<blank>",
        symbols=CTC_SYMBOLS,
        training_data="none: a fixed test graph",
    )
    return save_model(model, meta, Path(tmp_path) / (filename or f"{name}.onnx"), metadata, drop)


@pytest.fixture
def ctc_model(tmp_path: Path) -> Path:
    return make_ctc_model(tmp_path)


def tone(freq: float, seconds: float, rate: int = 16000, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01) if len(t) else t
    return (amp * np.sin(2 * np.pi * freq * t) * ramp).astype(np.float32)


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.float32)


def two_tones(rate: int = 16000) -> np.ndarray:
    """3.5 s in which the test model hears ``low`` (at 0.75 s) then ``high`` (at 2.25 s); both tones
    are below 4 kHz, so 8 kHz copies work too."""
    return np.concatenate(
        [silence(0.5, rate), tone(300, 0.5, rate), silence(1.0, rate), tone(3000, 0.5, rate), silence(1.0, rate)]
    )


def write_tones(path: Path, rate: int = 16000) -> Path:
    """0.5 s quiet, a low tone, 0.8 s quiet, a high tone, 0.8 s quiet: the test model hears 'low', 'high'."""
    gap = silence(0.8, rate)
    x = np.concatenate([silence(0.5, rate), tone(300, 0.6, rate), gap, tone(3800, 0.6, rate), gap])
    sf.write(path, x, rate, subtype="PCM_16")
    return path


@pytest.fixture
def tones_wav(tmp_path: Path) -> Path:
    """``write_tones`` in a temporary file."""
    return write_tones(tmp_path / "tones.wav")


@pytest.fixture
def store(tmp_path: Path):
    """A throw-away QSettings file for the app, so tests never touch the user's own."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def pcm16(x: np.ndarray) -> bytes:
    """Float samples as the raw S16_LE PCM ``listener run --source -`` reads."""
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


# ---------------------------------------------------------------- speech


def _espeak(text: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True, capture_output=True)


SPOKEN = ["four", "six", "three"]  # espeak-ng en-us digits the shipped model recognises at 8-48 kHz (checked)
SPOKEN_DIGITS = "463"  # their symbols: with 0.8 s between them (more than --sequence-pause), one sequence each


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    """espeak-ng digits at 16 kHz, plus a 'phrase' file: 0.5 s silence, then each digit with 0.8 s silence after it."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    d = tmp_path_factory.mktemp("speech")
    words = {}
    for word in ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]:
        raw = d / f"raw_{word}.wav"
        _espeak(word, raw)
        x, sr = sf.read(raw, dtype="float32")
        x = soxr.resample(x, sr, 16000).astype(np.float32)
        # trim espeak's own leading/trailing silence
        loud = np.flatnonzero(np.abs(x) > 0.01)
        x = x[max(0, loud[0] - 160) : loud[-1] + 160]
        x = 0.5 * x / max(1e-6, float(np.abs(x).max()))
        words[word] = x
        sf.write(d / f"{word}.wav", x, 16000, subtype="PCM_16")
    gap = np.zeros(int(0.8 * 16000), np.float32)
    parts = [np.zeros(8000, np.float32)]
    ends = []
    pos = 8000
    for word in SPOKEN:
        parts += [words[word], gap]
        pos += len(words[word])
        ends.append(pos / 16000)
        pos += len(gap)
    phrase = np.concatenate(parts)
    sf.write(d / "phrase.wav", phrase, 16000, subtype="PCM_16")
    (d / "phrase.json").write_text(json.dumps({"labels": SPOKEN, "ends_s": ends}))
    return d


@pytest.fixture
def digits_model() -> Path:
    """The shipped digits model; tests that need real recognition skip until it exists."""
    if not DIGITS_MODEL.is_file():
        pytest.skip("assets/digits.onnx does not exist yet (the training engineer ships it)")
    return DIGITS_MODEL


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def jsonl_text(text: str | bytes) -> list[dict]:
    """The records of a JSONL log printed to stdout."""
    text = text.decode() if isinstance(text, bytes) else text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def detections(rows: list[dict]) -> list[dict]:
    """The detection records of a log: a sequence model (digits 2.x) also writes ``sequence`` records."""
    return [r for r in rows if r["type"] == "detection"]


def sequence_digits(rows: list[dict]) -> list[str]:
    """The digit strings of a log's ``sequence`` records, in order."""
    return [r["digits"] for r in rows if r["type"] == "sequence"]


def wait_for(predicate, timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass: real devices and
    processes start at their own pace, and a loaded CI machine is slower than ours."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def assert_clean_error(res, code: int, *fragments: str) -> None:
    """The process ended with ``code`` and one ``listener: error:`` line holding ``fragments``, no traceback."""
    err = res.stderr.decode()
    assert res.returncode == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("listener: error: ")]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], err


def run_cli(
    *args: str, timeout: float = 120, env: dict | None = None, input: bytes | None = None, cwd: Path | None = None
):
    """Run ``python -m listener ARGS`` as a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*LISTENER, *map(str, args)], capture_output=True, timeout=timeout, env=full_env, input=input, cwd=cwd
    )


# ---------------------------------------------------------------- PulseAudio


@pytest.fixture(scope="session")
def pulse_sink():
    """A PulseAudio server (started if none runs) with a fresh null sink; yields the sink name."""
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        pytest.skip("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    started = False
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        subprocess.run(
            ["pulseaudio", "-D", "--exit-idle-time=-1", "--system=false", "--disallow-exit"], capture_output=True
        )
        started = True
        for _ in range(50):
            if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.skip("could not start PulseAudio here")
    sink = f"listener_test_{uuid.uuid4().hex[:8]}"
    res = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={sink}", "rate=16000", "channels=1"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"could not load a PulseAudio null sink: {res.stderr.strip()}")
    module = res.stdout.strip()
    # PortAudio lists devices once, when first used: if an earlier test used it before this
    # daemon started (a fresh machine), ALSA's "pulse" device is missing until it looks again.
    from listener.audio import list_input_devices

    list_input_devices(rescan=True)
    yield sink
    subprocess.run(["pactl", "unload-module", module], capture_output=True)
    if started:
        subprocess.run(["pulseaudio", "--kill"], capture_output=True)


class PrivatePulse:
    """A PulseAudio daemon of a test's own (own socket, own defaults): ``env`` points a
    process at it; ``pactl(...)`` configures it. Changing its default source leaves the
    shared daemon that other tests use alone."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("PULSE_SOURCE", "PULSE_SINK")},
            "PULSE_RUNTIME_PATH": str(directory),
            "PULSE_STATE_PATH": str(directory / "state"),
            "PULSE_SERVER": f"unix:{directory}/native",
        }
        self.proc = subprocess.Popen(
            [
                "pulseaudio",
                "-n",  # no default.pa: nothing but the modules below
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "-L",
                f"module-native-protocol-unix auth-anonymous=1 socket={directory}/native",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for(lambda: self.pactl("info", check=False).returncode == 0, 10):
            self.close()
            pytest.skip("could not start a private PulseAudio daemon")

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, check=check, timeout=10)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def private_pulse(tmp_path_factory):
    """A private PulseAudio daemon with one null sink, ``speakers`` (16 kHz mono): its monitor
    is the default source, as on a machine with PulseAudio and no microphone."""
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        pytest.skip("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    pulse = PrivatePulse(tmp_path_factory.mktemp("pulse"))
    pulse.pactl("load-module", "module-null-sink", "sink_name=speakers", "rate=16000", "channels=1")
    pulse.pactl("set-default-source", "speakers.monitor")
    yield pulse
    pulse.close()


# ---------------------------------------------------------------- MQTT


@pytest.fixture
def mosquitto(tmp_path):
    """A private mosquitto broker on a free localhost port (tests/broker.py), stopped afterwards."""
    from broker import Mosquitto, mosquitto_binary

    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()
