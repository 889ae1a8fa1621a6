"""The digits CTC graph as one ONNX file: torch vs ONNX parity, streaming, INT8 vs FP32, the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from listener.classifier import Classifier  # noqa: E402
from listener.contract import ModelInfo  # noqa: E402
from listener.export.ctc_export import (  # noqa: E402
    StreamingError,
    backbone_convs,
    calibration_clips,
    check_streaming,
    ctc_model_info,
    export_ctc_onnx,
    frames_for,
    quantize_ctc_int8,
    session,
)
from listener.export.onnx_export import set_metadata  # noqa: E402
from listener.training.ctc import AudioToLogits, WindowHead, receptive_field  # noqa: E402
from listener.training.tokens import N_TOKENS  # noqa: E402

RATE = 16000


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Syllables of a gliding harmonic tone over faint noise, at a random level."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(90, 220) + 40 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(k * phase) * rng.uniform(0.2, 1) / k for k in range(1, 14))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(1.5, 4) * t), 0, None) ** 2
    audio = rng.uniform(0.05, 0.5) * voice * envelope + 0.002 * rng.standard_normal(len(t))
    return audio.astype(np.float32)


@pytest.fixture(scope="module")
def model() -> AudioToLogits:
    torch.manual_seed(0)
    head = WindowHead(k=5, hidden=64, depth=2, dropout=0.0)
    with torch.no_grad():
        for p in head.net.parameters():
            p.mul_(3.0)  # confident frames, so argmax agreement means something
    return AudioToLogits(head).eval()


@pytest.fixture(scope="module")
def fp32(model, tmp_path_factory) -> Path:
    return export_ctc_onnx(model, tmp_path_factory.mktemp("ctc") / "digits.fp32.onnx")


def test_torch_and_onnx_give_the_same_logits(model, fp32):
    audio = speechlike(2.3, 1)[None]
    with torch.no_grad():
        ref = model(torch.from_numpy(audio)).numpy()
    got = session(fp32).run(None, {"audio": audio})[0]
    assert got.shape == (1, frames_for(audio.shape[1], 5), N_TOKENS) == ref.shape
    assert np.abs(got - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())


def test_each_frame_depends_only_on_its_own_samples(fp32):
    assert receptive_field(5) == 17632
    assert check_streaming(fp32, 5) < 1e-3


def test_a_graph_that_hears_the_whole_clip_fails_the_streaming_check(model, tmp_path):
    model.embedder.frontend.clip_mode = "utterance"  # top-db clip over the whole input: not streamable
    try:
        path = export_ctc_onnx(model, tmp_path / "whole.onnx")
    finally:
        model.embedder.frontend.clip_mode = "window"
    with pytest.raises(StreamingError, match="outside their field"):
        check_streaming(path, 5)


def test_int8_quantizes_the_backbone_convolutions_and_agrees_with_fp32(fp32, tmp_path):
    assert len(backbone_convs(fp32)) == 20 and len(backbone_convs(fp32, head=True)) == 23
    calibration = calibration_clips([speechlike(2.5, s) for s in range(12)])
    int8 = quantize_ctc_int8(fp32, tmp_path / "digits.onnx", calibration)
    graph = onnx.load(str(int8)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    int8_convs = [n for n in convs if n.input[1] in dequantized]
    assert len(int8_convs) == 20 < len(convs)  # the backbone's; the STFT and the head stay FP32
    assert int8.stat().st_size < 0.6 * fp32.stat().st_size
    check_streaming(int8, 5, tolerance=0.5)
    a, b = session(fp32), session(int8)
    agree, total = 0, 0
    for seed in range(100, 106):  # clips the calibration never saw
        clip = speechlike(3.0, seed)[None]
        pa, pb = a.run(None, {"audio": clip})[0][0], b.run(None, {"audio": clip})[0][0]
        agree += int((pa.argmax(-1) == pb.argmax(-1)).sum())
        total += len(pa)
    assert agree / total >= 0.9


def test_metadata_is_the_contracts_and_the_runtime_loads_the_file(fp32, tmp_path):
    info = ctc_model_info("digits", "2.0", 5, "fp32", 0.5, "generated audio")
    set_metadata(fp32, info)
    meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
    parsed = ModelInfo.from_metadata(meta)
    assert parsed.decoder == "ctc" and parsed.frame_hop_samples == 1280 and parsed.frame_samples == 17632
    assert parsed.blank_label == "<blank>" and parsed.labels[0] == "<blank>" and len(parsed.labels) == 13
    assert parsed.symbols["oh"] == "0" and parsed.symbols["zero"] == "0" and "<other>" not in parsed.symbols
    assert "<other>" not in parsed.detection_labels and "oh" in parsed.detection_labels
    clf = Classifier(fp32)
    assert clf.info.is_ctc and clf.info.window_samples == 17632
