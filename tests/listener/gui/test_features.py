"""The scrolling spectrogram's columns are the model's own features, frame for frame."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import ASSETS, make_test_model, tone

from listener.classifier import Classifier
from listener.gui.features import UPDATE_SECONDS, FeatureColumns, feature_layout

RATE = 16000


def stream(model: Classifier, x: np.ndarray, block: int) -> tuple[np.ndarray, FeatureColumns]:
    """Push ``x`` in blocks; every column handed out, in order (checked to follow on)."""
    columns = FeatureColumns(model, feature_layout(model))
    out, expected_first = [], 0
    for i in range(0, len(x), block):
        cols, first = columns.push(x[i : i + block])
        if cols.shape[1]:
            assert first == expected_first, "columns must follow on without gaps or repeats"
            out.append(cols)
            expected_first += cols.shape[1]
    return np.concatenate(out, axis=1), columns


@pytest.mark.parametrize("name", ["sounds"])  # digits 2.x has no features output (below)
@pytest.mark.parametrize("block", [960, 480, 3 * RATE])
def test_columns_are_the_shipped_models_features_frame_for_frame(name, block):
    path = ASSETS / f"{name}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not shipped")
    model = Classifier(path, threads=1)
    layout = feature_layout(model)
    assert layout.hop == model.info.features["hop_length"] == 160  # from the metadata
    x, rate = sf.read(ASSETS / "samples" / f"{name}.wav", dtype="float32")
    assert rate == RATE
    got, columns = stream(model, x, block)
    n_frames = (len(x) - model.info.window_samples) // layout.hop + layout.frames  # in whole windows
    # all of them but the last few, which wait for the next update (a live stream goes on)
    assert got.shape[0] == layout.n_features and n_frames - columns.min_frames < got.shape[1] <= n_frames
    for start in (0, 37, got.shape[1] - layout.frames):  # any window on the frame grid, the last one included
        _, features = model.predict(x[start * layout.hop : start * layout.hop + model.info.window_samples])
        assert np.array_equal(got[:, start : start + layout.frames], features[0]), f"frames {start}..."


def test_the_model_runs_at_most_every_update_seconds_for_the_view(tmp_path):
    model = Classifier(make_test_model(tmp_path))
    layout = feature_layout(model)
    assert (layout.hop, layout.frames, layout.n_features) == (160, 100, 1)  # the hop inferred: no hop_length
    x = np.concatenate([tone(300, 2.0), np.zeros(RATE, np.float32)])
    got, columns = stream(model, x, 960)  # 60 ms blocks
    assert got.shape[1] == len(x) // 160
    assert columns.runs <= len(x) / RATE / UPDATE_SECONDS + 1
    # the test model's feature is each frame's mean square: loud in the tone, zero after it
    assert got[0, 50:150].min() > 0.01 and got[0, -50:].max() == 0.0


def test_a_model_without_features_has_nothing_to_draw(tmp_path):
    assert feature_layout(Classifier(make_test_model(tmp_path, features=False))) is None


def test_the_shipped_digits_model_has_no_features_to_draw():
    """digits 2.x is one CTC graph whose only output is its frames' logits: the app draws no spectrogram."""
    path = ASSETS / "digits.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not shipped")
    model = Classifier(path, threads=1)
    assert model.info.is_ctc and not model.has_features
    assert feature_layout(model) is None


def test_the_metadata_hop_wins_over_the_spread_of_frames(tmp_path):
    path = make_test_model(tmp_path, metadata={"features": '{"type": "frame-energy", "hop_length": 200}'})
    assert feature_layout(Classifier(path)).hop == 200
