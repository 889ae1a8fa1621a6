import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from conftest import make_test_model, tone

from listener.classifier import CPU, CUDA, Classifier, choose_provider, fp32_variant, resolve_model
from listener.errors import ModelError


def test_metadata_drives_everything(tmp_path):
    path = make_test_model(
        tmp_path,
        ["a", "b", "unknown", "silence"],
        kind="sound",
        metadata={"threshold": "0.55", "hop_seconds": "0.5", "version": "2.1", "name": "bells"},
    )
    c = Classifier(path, threads=1)
    info = c.info
    assert info.labels == ["a", "b", "unknown", "silence"]
    assert info.reject_labels == ["unknown", "silence"]
    assert (info.kind, info.gate, info.threshold, info.hop_seconds) == ("sound", "energy", 0.55, 0.5)
    assert info.model_id == "bells-2.1" and info.window_samples == 16000
    assert c.provider == CPU


def test_predict_gives_probabilities_and_features(test_model):
    c = Classifier(test_model)
    probs, feats = c.predict(np.stack([tone(300, 1.0), tone(4000, 1.0), np.zeros(16000, np.float32)]))
    assert probs.shape == (3, 3)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert [c.info.labels[i] for i in probs.argmax(axis=1)] == ["low", "high", "silence"]
    assert feats.shape == (3, 1, 100)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"drop": ("labels",)}, "missing metadata labels"),
        ({"drop": ("kind", "sample_rate")}, "missing metadata"),
        ({"metadata": {"labels": "not json"}}, "invalid JSON"),
        ({"metadata": {"kind": "music"}}, "'kind'"),
        ({"metadata": {"labels": json.dumps(["a", "b", "c", "d"]), "reject_labels": "[]"}}, "4 labels"),
        ({"input_samples": 8000}, "takes 8000 samples"),
        ({"metadata": {"sample_rate": "fast"}}, "non-numeric"),
    ],
)
def test_invalid_models_are_refused_with_a_reason(tmp_path, kwargs, message):
    path = make_test_model(tmp_path, **kwargs)
    with pytest.raises(ModelError, match=message):
        Classifier(path)


def test_not_a_model_and_missing_model(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf" * 10)
    with pytest.raises(ModelError, match="cannot load model"):
        Classifier(junk)
    with pytest.raises(ModelError, match="not found"):
        resolve_model(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="built-in models"):
        resolve_model("nope")


def test_builtin_names_resolve_to_the_package_assets():
    for name in ("digits", "sounds"):
        try:
            path = resolve_model(name)
        except ModelError as exc:
            assert "not installed" in exc.message
            continue
        assert path.name == f"{name}.onnx" and path.parent.name == "assets"


def test_cuda_provider_picks_the_fp32_variant(tmp_path, monkeypatch):
    int8 = make_test_model(tmp_path, filename="m.onnx", metadata={"variant": "int8"})
    fp32 = make_test_model(tmp_path, filename="m.fp32.onnx", metadata={"variant": "fp32"})
    assert fp32_variant(int8) == fp32
    assert choose_provider([CUDA, CPU], int8) == ([CUDA, CPU], fp32)
    assert choose_provider([CPU], int8) == ([CPU], int8)
    # a machine with onnxruntime-gpu: the classifier asks for CUDA and loads the FP32 file
    seen = {}
    real = onnxruntime.InferenceSession

    def spy(path, sess_options=None, providers=None):
        seen["path"], seen["providers"] = Path(path), providers
        return real(path, sess_options=sess_options, providers=[CPU])  # no GPU here to run it on

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    c = Classifier(int8)
    assert seen == {"path": fp32, "providers": [CUDA, CPU]}
    assert c.info.variant == "fp32"
    # without the FP32 file it falls back to the file it was given
    (tmp_path / "m.fp32.onnx").unlink()
    Classifier(int8)
    assert seen["path"] == int8


def test_threads_must_be_positive(test_model):
    with pytest.raises(ModelError):
        Classifier(test_model, threads=0)


def test_a_ctc_model_gives_probabilities_per_frame(ctc_model):
    c = Classifier(ctc_model)
    assert c.info.is_ctc and c.info.window_samples == 4800
    x = np.concatenate([tone(300, 0.5), np.zeros(8000, np.float32)])
    probs, _ = c.predict(x[None, :])
    assert probs.shape == (1, (len(x) - 4800) // 1600 + 1, 4) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert c.info.labels[int(probs[0, 0].argmax())] == "low" and c.info.labels[int(probs[0, -1].argmax())] == "<blank>"


def test_a_ctc_model_whose_metadata_disagrees_with_its_graph_is_refused(tmp_path):
    from conftest import make_ctc_model

    wrong_hop = make_ctc_model(tmp_path, metadata={"frame_hop_samples": "800"}, filename="hop.onnx")
    with pytest.raises(ModelError, match="check frame_hop_samples and frame_samples"):
        Classifier(wrong_hop)
    too_short = make_ctc_model(
        tmp_path, metadata={"frame_samples": "1600"}, drop=("window_seconds", "frame_tail_samples"), filename="s.onnx"
    )
    with pytest.raises(ModelError, match="fails on a test input|check frame_hop_samples"):
        Classifier(too_short)


def test_a_ctc_model_with_frame_context_takes_carried_rows_and_gives_the_same_frames(tmp_path):
    from conftest import make_ctc_model

    c = Classifier(make_ctc_model(tmp_path, context=True))
    assert c.context_rows == 2
    x = np.concatenate([tone(300, 0.5), np.zeros(8000, np.float32)])
    whole, _ = c.predict(x[None, :])  # no rows: a call like a stateless model's
    first, rows = c.predict_frames(x[None, :4800], None)  # frame 0, and the rows of its three hops
    assert rows.shape == (1, 3, 2)
    rest, new = c.predict_frames(x[None, 4800 : 4800 + 1600 * 4], rows[:, -2:])  # frames 1-4 from 4 new hops
    assert new.shape == (1, 4, 2)
    assert np.allclose(np.concatenate([first, rest], axis=1), whole[:, :5], atol=1e-6)


def test_frame_context_that_disagrees_with_the_graph_is_refused(tmp_path):
    from conftest import make_ctc_model

    wrong = make_ctc_model(tmp_path, context=True, metadata={"frame_context": "1"}, filename="rows.onnx")
    with pytest.raises(ModelError, match="check frame_context"):
        Classifier(wrong)
    no_input = make_ctc_model(tmp_path, metadata={"frame_context": "2"}, filename="noinput.onnx")
    with pytest.raises(ModelError, match="must have inputs 'audio' and 'context'"):
        Classifier(no_input)
    undeclared = make_ctc_model(tmp_path, context=True, metadata={"frame_context": "0"}, filename="undeclared.onnx")
    with pytest.raises(ModelError, match="must have inputs 'audio' \\(its 'frame_context' is 0\\)"):
        Classifier(undeclared)
