import dataclasses
import json

import numpy as np

from listener.events import BlockInfo, Detection, Sequence, WindowResult
from listener.sinks import record_json


def test_detection_has_exactly_the_contract_fields_and_round_trips_through_json():
    names = [f.name for f in dataclasses.fields(Detection)]
    assert names == ["time", "stream_s", "label", "confidence", "top", "model", "source", "latency_ms", "end_s"]
    d = Detection(
        "2026-11-21T10:15:02.412+01:00",
        12.48,
        "seven",
        0.97,
        [("seven", 0.97), ("one", 0.02)],
        "digits-1.0",
        "mic:USB Audio",
        140.0,
    )
    back = json.loads(record_json(d))
    assert back.pop("type") == "detection" and back["end_s"] is None
    assert Detection(**{**back, "top": [tuple(p) for p in back["top"]]}) == d


def test_sequence_round_trips_through_json_with_its_type_first():
    s = Sequence("2026-11-21T10:15:04.000+01:00", 1.2, 2.4, "472", ["four", "seven", "two"], 0.81, "d-2", "x", None)
    line = record_json(s)
    assert line.startswith('{"type": "sequence"')
    back = json.loads(line)
    back.pop("type")
    assert Sequence(**back) == s


def test_window_and_block_records_carry_arrays():
    w = WindowResult(1.0, ["a", "b"], np.array([0.2, 0.8], np.float32), None, 3.5, None)
    b = BlockInfo(0.0, np.zeros(480, np.float32), False, -120.0)
    assert w.probs.argmax() == 1 and b.samples.dtype == np.float32
