"""What the app remembers: a subset of the command line's own options, under their names."""

from __future__ import annotations

import pytest
from conftest import make_test_model
from guitools import make_window

from listener.config import RunOptions
from listener.gui.settings import REMEMBERED, GuiSettings
from listener.gui.window import MainWindow


def test_choices_made_in_the_window_are_remembered(qtbot, store, tmp_path):
    model = make_test_model(tmp_path)
    w = make_window(qtbot, store, model=str(model))
    w.controls.threshold.setValue(0.85)
    w.controls.vad.setValue(3)
    w.log_controls.path.setText(str(tmp_path / "x.jsonl"))
    w.log_controls.enabled.setChecked(True)
    w.close()
    s = GuiSettings.load(store)
    assert (s.options.threshold, s.options.vad, s.options.model, s.log_enabled) == (0.85, 3, str(model), True)
    w2 = MainWindow(store=store)
    qtbot.addWidget(w2)
    assert w2.controls.threshold.value() == pytest.approx(0.85)
    assert w2.controls.vad.value() == 3
    assert w2.model_picker.current() == str(model)
    assert w2.log_controls.value() == str(tmp_path / "x.jsonl")
    w2.close()


def test_defaults_are_the_command_lines_and_only_the_window_choices_are_stored(store):
    assert GuiSettings.load(store).options == RunOptions()  # nothing remembered: every stage's own default
    GuiSettings(options=RunOptions(vad=1, block_ms=30, gate="energy", hop=0.5)).save(store)
    store.sync()
    assert set(store.allKeys()) - {"log_enabled", "log_path", "recent_models"} == {"vad", "hop", "model"}
    back = GuiSettings.load(store).options
    assert (back.vad, back.hop, back.block_ms, back.gate) == (1, 0.5, RunOptions.block_ms, None)
    assert set(REMEMBERED) <= {f for f in RunOptions.__dataclass_fields__}


def test_corrupt_or_out_of_range_values_fall_back(store):
    for key, value in [("vad", "loud"), ("threshold", "1.7"), ("hop", "x"), ("model", "")]:
        store.setValue(key, value)
    store.sync()
    o = GuiSettings.load(store).options
    assert (o.vad, o.threshold, o.hop, o.model) == (RunOptions.vad, 1.0, None, RunOptions.model)
