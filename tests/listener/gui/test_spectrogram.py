"""The views of what the model hears: they draw the model's own features, in stream time."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import ASSETS, make_test_model
from guitools import make_window, play

from listener.gui.features import FeatureLayout
from listener.gui.spectrogram import SpectrogramView

RATE = 16000
LAYOUT = FeatureLayout(n_features=4, frames=98, hop=160, sample_rate=RATE)  # 100 frames a second


def test_the_spectrogram_equals_the_models_features_for_the_same_audio(qtbot, store, tmp_path):
    """Play a recording through the window with the shipped sounds model: each window the pipeline
    classified (its ``features`` output, what the network saw) is, frame for frame, what the
    scrolling spectrogram holds for that stretch of the stream."""
    path = ASSETS / "sounds.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not shipped")
    x, _ = sf.read(ASSETS / "samples" / "sounds.wav", dtype="float32")
    clip = tmp_path / "clip.wav"
    sf.write(clip, x[: 5 * RATE], RATE)  # shorter than the view's 6 s: every frame stays on screen
    w = make_window(qtbot, store, model=str(path))
    windows = []
    w.worker.window.connect(windows.append)
    play(qtbot, w, clip, paced=True)
    layout = w.session.features
    assert layout is not None and layout.n_features == 64
    compared = 0
    for win in windows:
        start = int(round(win.stream_s * RATE)) - RATE // 2  # a sliding window's centre is its middle
        if start < 0:
            continue  # the first windows reach back before the stream (zeros)
        assert start % layout.hop == 0  # sliding windows end on 30 ms gate frames: on the frame grid
        drawn = w.spectrogram.columns(start // layout.hop, layout.frames)
        if drawn is not None:  # the last frames of the stream wait for the next update
            assert np.array_equal(drawn, win.features), f"window at {win.stream_s:.2f} s"
            compared += 1
    assert compared >= 5, f"only {compared} of {len(windows)} windows compared"


def test_columns_sit_at_their_frame_and_the_newest_wait_dark(qtbot):
    view = SpectrogramView(seconds=1.0)
    qtbot.addWidget(view)
    view.configure(LAYOUT, "test")
    view.append(np.ones((4, 10), np.float32), 0, heard_s=0.15)  # 15 frames heard, 10 computed
    assert view.columns(0, 10) is not None and view.columns(0, 15) is None
    view.append(np.full((4, 5), 2.0, np.float32), 10, heard_s=0.15)
    assert np.array_equal(view.columns(10, 5), np.full((4, 5), 2.0, np.float32))
    view.append(np.zeros((4, 0), np.float32), 15, heard_s=1.10)  # scrolled on: frames 0-9 are off the left edge
    assert view.columns(0, 10) is None and view.columns(10, 5) is not None
    levels = view.image()
    assert not levels.isNull() and levels.width() == 100  # one column per frame, 1 s
    view.append(np.ones((4, 3), np.float32), 2, heard_s=1.10)  # frames already scrolled away: ignored
    assert view.columns(2, 3) is None


def test_a_model_without_features_says_so(qtbot, store, tmp_path, tones_wav):
    w = make_window(qtbot, store, model=str(make_test_model(tmp_path, features=False)), vad=0)
    play(qtbot, w, tones_wav)
    assert w.session.features is None and "no features" in w.spectrogram._caption
    assert "exports no features" in w.features._caption  # the model-input view says so too, from the start
