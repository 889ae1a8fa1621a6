"""The model contract: parse and write are inverse, both refuse bad values, the docs table is the contract's."""

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from listener.contract import (
    DEFAULT_HOP_SECONDS,
    DEFAULT_THRESHOLD,
    DOCS_BEGIN,
    DOCS_END,
    LOGITS,
    PROBS,
    ModelInfo,
    markdown,
    score_output,
)
from listener.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = {"labels": json.dumps(["yes", "no", "unknown"]), "sample_rate": "16000", "window_seconds": "1.0"}


def full_info(**changes) -> ModelInfo:
    values = dict(
        name="bells",
        version="2.1",
        labels=["ding", "dong", "silence"],
        reject_labels=["silence"],
        sample_rate=16000,
        window_seconds=1.0,
        kind="sound",
        gate="energy",
        threshold=0.55,
        hop_seconds=0.5,
        variant="int8",
        features={"type": "logmel", "n_mels": 40},
        training_data="two bells",
        accuracy={"cv": 0.9},
    )
    values.update(changes)
    return ModelInfo(**values)


def test_write_then_read_gives_the_same_model() -> None:
    info = full_info()
    meta = info.to_metadata()
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["threshold"] == "0.55" and json.loads(meta["labels"]) == ["ding", "dong", "silence"]
    assert ModelInfo.from_metadata(meta) == info
    back = ModelInfo.from_metadata(meta, "x/bells.int8.onnx")
    assert back.path == "x/bells.int8.onnx" and back.model_id == "bells-2.1" and back.window_samples == 16000


@pytest.mark.parametrize("name", ["digits", "sounds"])
def test_shipped_metadata_reads_and_writes_back_unchanged(name: str) -> None:
    path = ROOT / "assets" / f"{name}.onnx"
    if not path.is_file():
        pytest.skip(f"no shipped {name} model")
    meta = dict(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map)
    info = ModelInfo.from_metadata(meta, str(path))
    written = info.to_metadata()
    # The shipped files carry every key of their decoder (keys added since are written at their defaults).
    assert meta.keys() <= written.keys()
    assert set(written) - set(meta) <= {"decoder", "thresholds", "symbols"}
    assert ModelInfo.from_metadata(written, str(path)) == info
    assert all(written[k] == meta[k] for k in meta if k != "threshold")  # "0.50" is written "0.5"


def test_missing_keys_take_the_contract_defaults() -> None:
    speech = ModelInfo.from_metadata({**MINIMAL, "kind": "speech"}, "/m/words.fp32.onnx")
    assert (speech.name, speech.version, speech.gate) == ("words", "0", "vad")
    assert (speech.threshold, speech.hop_seconds) == (DEFAULT_THRESHOLD, DEFAULT_HOP_SECONDS)
    assert speech.reject_labels == ["unknown"] and speech.features == {} and speech.variant == "fp32"
    sound = ModelInfo.from_metadata({**MINIMAL, "kind": "sound", "reject_labels": "[]"})
    assert (sound.name, sound.gate, sound.reject_labels) == ("model", "energy", [])


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"labels": None}, "missing metadata labels"),
        ({"kind": None, "sample_rate": None}, "missing metadata sample_rate, kind"),
        ({"labels": "[not json"}, "invalid JSON in metadata 'labels'"),
        ({"labels": '"yes"'}, "'labels' must be a JSON list"),
        ({"labels": '["a", "a"]'}, "label twice"),
        ({"reject_labels": '["maybe"]'}, "does not have: \\['maybe'\\]"),
        ({"sample_rate": "fast"}, "non-numeric metadata 'sample_rate'"),
        ({"sample_rate": "0"}, "'sample_rate' must be a positive number"),
        ({"window_seconds": "-1"}, "'window_seconds' must be a positive number"),
        ({"kind": "music"}, "'kind' must be 'speech' or 'sound'"),
        ({"gate": "loud"}, "'gate' must be 'vad' or 'energy'"),
        ({"threshold": "1.5"}, "'threshold' must be between 0 and 1"),
        ({"hop_seconds": "0"}, "'hop_seconds' must be a positive number"),
        ({"features": "[1, 2]"}, "'features' must be a JSON object"),
        ({"zero_fill_db": "6"}, "'zero_fill_db' must be a level in dBFS from -120 to below 0, not 6.0"),
        ({"zero_fill_db": "-200"}, "'zero_fill_db' must be a level in dBFS"),
        ({"zero_fill_db": "quiet"}, "non-numeric metadata 'zero_fill_db'"),
    ],
)
def test_bad_metadata_is_refused_with_the_key_named(changes: dict, message: str) -> None:
    meta = {**MINIMAL, "kind": "speech"}
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    with pytest.raises(ModelError, match=message) as err:
        ModelInfo.from_metadata(meta, "bad.onnx")
    assert err.value.message.startswith("model 'bad.onnx'")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"threshold": 1.5}, "'threshold' must be between 0 and 1"),
        ({"kind": "noise"}, "'kind'"),
        ({"labels": []}, "'labels'"),
        ({"reject_labels": ["bong"]}, "does not have"),
        ({"sample_rate": 16000.5}, "'sample_rate' must be an integer"),
        ({"accuracy": [0.9]}, "'accuracy' must be a JSON object"),
        ({"zero_fill_db": 0.0}, "'zero_fill_db' must be a level in dBFS"),
        ({"zero_fill_db": True}, "'zero_fill_db' must be a level in dBFS"),
    ],
)
def test_the_writer_refuses_what_the_reader_would(changes: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        full_info(**changes)
    info = full_info()
    for k, v in changes.items():
        setattr(info, k, v)
    with pytest.raises(ModelError, match=message):
        info.to_metadata()


def test_score_output_prefers_logits_and_knows_when_to_softmax() -> None:
    assert score_output([PROBS, LOGITS, "features"]) == (LOGITS, True)
    assert score_output([PROBS]) == (PROBS, False)
    assert score_output(["scores"]) is None


def test_the_architecture_docs_show_the_contract_as_the_code_defines_it() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert DOCS_BEGIN in text and DOCS_END in text, "docs/architecture.md lost its contract markers"
    shown = text.split(DOCS_BEGIN, 1)[1].split(DOCS_END, 1)[0].strip()
    assert shown == markdown().strip(), (
        "docs/architecture.md's contract table differs from listener/contract.py: "
        "paste the output of `python -m listener.contract` between the markers"
    )


# ---------------------------------------------------------------- sequence (ctc) models and thresholds

CTC_MINIMAL = {
    "labels": json.dumps(["<blank>", "zero", "oh", "<other>"]),
    "sample_rate": "16000",
    "kind": "speech",
    "decoder": "ctc",
    "frame_hop_samples": "1280",
    "frame_samples": "17632",
    "symbols": json.dumps({"zero": "0", "oh": "0"}),
}


def test_a_ctc_model_needs_no_window_and_derives_blank_window_and_tail() -> None:
    info = ModelInfo.from_metadata(CTC_MINIMAL, "m/digits.onnx")
    assert info.is_ctc and info.blank_label == "<blank>"  # the first label, CTC's convention
    assert info.window_seconds == pytest.approx(1.102) and info.window_samples == 17632
    assert info.frame_tail_samples == 17632 - 1280  # every frame whose audio holds gated audio
    assert info.frame_context == 0  # no rows carried between calls unless the file says so
    written = info.to_metadata()
    assert written["decoder"] == "ctc" and json.loads(written["symbols"]) == {"zero": "0", "oh": "0"}
    assert ModelInfo.from_metadata(written, "m/digits.onnx") == info
    explicit = ModelInfo.from_metadata({**CTC_MINIMAL, "frame_tail_samples": "3840", "window_seconds": "1.102"})
    assert explicit.frame_tail_samples == 3840


def test_a_window_model_writes_no_ctc_keys_and_takes_thresholds() -> None:
    info = full_info(thresholds={"ding": 0.9})
    meta = info.to_metadata()
    assert not {"frame_hop_samples", "frame_samples", "frame_tail_samples", "frame_context", "blank_label"} & set(meta)
    assert meta["decoder"] == "window" and json.loads(meta["thresholds"]) == {"ding": 0.9}
    back = ModelInfo.from_metadata(meta)
    assert back.threshold_for("ding") == 0.9 and back.threshold_for("dong") == 0.55


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"frame_samples": None}, "missing metadata frame_samples"),
        ({"frame_hop_samples": "0"}, "'frame_hop_samples' must be a positive integer"),
        ({"frame_samples": "1000"}, "'frame_samples' must be an integer >= 'frame_hop_samples'"),
        ({"frame_tail_samples": "-1"}, "'frame_tail_samples' must be a whole number"),
        ({"frame_context": "-1"}, "'frame_context' must be a whole number of rows >= 0"),
        ({"frame_context": "13"}, "'frame_context' \\(13\\) rows of 1280 samples leave less than one hop"),
        ({"blank_label": "_"}, "'blank_label' must be one of the labels"),
        ({"window_seconds": "1.0"}, "'window_seconds' \\(1.0\\) and 'frame_samples' \\(17632\\) disagree"),
        ({"symbols": None}, "a ctc model needs 'symbols'"),
        ({"symbols": '{"ten": "10"}'}, "'symbols' names labels the model does not have: \\['ten'\\]"),
        ({"symbols": '{"<blank>": "_", "zero": "0"}'}, "gives the blank label '<blank>' a symbol"),
        ({"symbols": '{"zero": ""}'}, "'symbols' must be a JSON object"),
        ({"decoder": "beam"}, "'decoder' must be 'window' or 'ctc'"),
        ({"thresholds": '{"zero": 1.5}'}, "'thresholds' of 'zero' must be between 0 and 1"),
        ({"thresholds": '{"ten": 0.5}'}, "'thresholds' names a label the model does not have: 'ten'"),
        ({"thresholds": "[0.5]"}, "'thresholds' must be a JSON object"),
    ],
)
def test_bad_ctc_metadata_is_refused_with_the_key_named(changes: dict, message: str) -> None:
    meta = dict(CTC_MINIMAL)
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    with pytest.raises(ModelError, match=message):
        ModelInfo.from_metadata(meta, "bad.onnx")


def test_ctc_keys_on_a_window_model_are_refused() -> None:
    with pytest.raises(ModelError, match="'frame_hop_samples' is for decoder 'ctc' models"):
        ModelInfo.from_metadata({**MINIMAL, "kind": "speech", "frame_hop_samples": "1280"})
    with pytest.raises(ModelError, match="missing metadata window_seconds"):
        ModelInfo.from_metadata({k: v for k, v in MINIMAL.items() if k != "window_seconds"} | {"kind": "speech"})


def test_detection_labels_leave_out_reject_labels_the_blank_and_labels_without_a_symbol() -> None:
    ctc = ModelInfo.from_metadata({**CTC_MINIMAL, "reject_labels": '["oh"]'})
    assert ctc.detection_labels == ["zero"]
    assert full_info().detection_labels == ["ding", "dong"]


def test_zero_fill_is_absent_unless_a_model_asks_for_it_and_travels_as_written() -> None:
    assert ModelInfo.from_metadata({**MINIMAL, "kind": "speech"}, "m.onnx").zero_fill_db is None
    assert "zero_fill_db" not in full_info().to_metadata()  # nothing written for a model without it
    written = full_info(zero_fill_db=-65.0).to_metadata()
    assert written["zero_fill_db"] == "-65.0"
    assert ModelInfo.from_metadata(written, "m.onnx").zero_fill_db == -65.0
