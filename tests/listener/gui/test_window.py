"""The main window, end to end: a real window (offscreen platform), real ONNX Runtime, real files.

Recordings go through the same pipeline as ``listener run``; the tests check what
the user would see (history rows, the decision, the error banner) and what ends
up on disk (the JSONL log, the CSV export).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SPOKEN, SPOKEN_DIGITS, detections, make_test_model, read_jsonl, sequence_digits, tone
from guitools import RATE, history_labels, make_window, play
from PySide6.QtCore import Qt

from listener.config import RunOptions
from listener.gui.controls import SourceChoice
from listener.gui.settings import GuiSettings
from listener.gui.window import MainWindow
from listener.sinks import record_json

# ---------------------------------------------------------------- with the shipped digits model


def test_spoken_digits_appear_in_history_and_log(qtbot, store, tmp_path, digits_model, speech_dir):
    log = tmp_path / "gui.jsonl"
    w = make_window(qtbot, store, model=str(digits_model), log_enabled=True, log_path=str(log))
    play(qtbot, w, speech_dir / "phrase.wav")
    assert w.banner.text() == ""
    # digits 2.x is a sequence model: the history holds its strings (0.8 s apart, one digit each)
    strings = history_labels(w)
    assert strings == list(SPOKEN_DIGITS), f"heard {strings}, said {SPOKEN}"
    records = read_jsonl(log)
    assert [r["label"] for r in detections(records)] == SPOKEN  # each digit, then its string
    assert sequence_digits(records) == strings
    assert all(r["source"] == str(speech_dir / "phrase.wav") and r["model"].startswith("digits-") for r in records)
    # The table shows the newest first.
    assert w.history_model.index(0, 2).data() == SPOKEN_DIGITS[-1]
    assert w.decision.text().startswith(SPOKEN_DIGITS[-1])


def test_threshold_one_logs_nothing_with_digits(qtbot, store, tmp_path, digits_model, speech_dir):
    log = tmp_path / "gui.jsonl"
    w = make_window(qtbot, store, model=str(digits_model), log_enabled=True, log_path=str(log))
    w.controls.threshold.setValue(1.0)  # the control, as a user would
    windows = []
    w.worker.window.connect(windows.append)
    play(qtbot, w, speech_dir / "phrase.wav")
    assert len(windows) >= len(SPOKEN), "the model should still classify every utterance"
    assert history_labels(w) == []
    assert not log.exists() or log.read_text() == ""


# ---------------------------------------------------------------- with a tiny test model (always runs)


def test_tones_are_detected_logged_and_exported(qtbot, store, tmp_path, tones_wav):
    model = make_test_model(tmp_path)
    log = tmp_path / "tones.jsonl"
    w = make_window(qtbot, store, model=str(model), vad=0, log_enabled=True, log_path=str(log))
    play(qtbot, w, tones_wav, paced=True)  # paced: the live path, with latency and per-block drawing
    assert history_labels(w) == ["low", "high"]
    records = read_jsonl(log)
    assert [r["label"] for r in records] == ["low", "high"]
    assert records[0]["latency_ms"] is not None and records[0]["latency_ms"] < 2000
    assert w.spectrogram.frames > 10, "the spectrogram should have been repainted while playing"
    assert w.spectrogram._have.any(), "the spectrogram should show the model's features"
    assert "testmodel-0.1" in w.status.model.text() and "CPU" in w.status.provider.text()
    assert w.status.mqtt.text() == "MQTT: off"  # no --mqtt
    # CSV export: the CLI's CSV format, oldest first.
    out = w.export_history(str(tmp_path / "export.csv"))
    rows = list(csv.DictReader(open(out, newline="")))
    assert [r["label"] for r in rows] == ["low", "high"]
    assert rows[0]["model"] == "testmodel-0.1"


def test_log_toggle_switches_the_file_while_running(qtbot, store, tmp_path, tones_wav):
    model = make_test_model(tmp_path)
    w = make_window(qtbot, store, model=str(model), vad=0)
    # Logging off: nothing written anywhere; then on, to a new file, from the widgets.
    play(qtbot, w, tones_wav)
    assert history_labels(w) == ["low", "high"]
    log = tmp_path / "later.jsonl"
    w.log_controls.path.setText(str(log))
    w.log_controls.enabled.setChecked(True)
    play(qtbot, w, tones_wav)
    assert [r["label"] for r in read_jsonl(log)] == ["low", "high"]
    # An unwritable path is a message, and logging stays off.
    w.log_controls.path.setText(str(tmp_path))  # a directory
    w.log_controls.path.editingFinished.emit()
    assert "directory" in w.banner.text()
    assert not w.log_controls.enabled.isChecked()


def soften(path: Path, factor: float) -> Path:
    """Scale a test model's logits so it is never sure (tones then score ~0.8, not 1.0)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(path))
    for node in m.graph.node:
        node.output[:] = ["logits_raw" if o == "logits" else o for o in node.output]
    m.graph.initializer.append(numpy_helper.from_array(np.array([factor], np.float32), "soften"))
    m.graph.node.append(helper.make_node("Mul", ["logits_raw", "soften"], ["logits"]))
    out = path.with_name("soft_" + path.name)
    onnx.save(m, str(out))
    return out


def test_mqtt_status_bar_and_detections_at_the_broker(qtbot, store, tmp_path, tones_wav, mosquitto):
    """``listener gui --mqtt URL``: the status bar follows the broker; detections reach it, or wait for it."""
    from broker import Subscriber

    from listener.mqtt import MqttOptions

    sub = Subscriber(mosquitto.port, ["gui/#"])
    w = MainWindow(
        store=store,
        settings=GuiSettings(options=RunOptions(model=str(make_test_model(tmp_path)), vad=0)),
        mqtt=MqttOptions(url=mosquitto.url("gui")),
    )
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.status.mqtt.text() == "MQTT: connected, 0 queued", timeout=15000)
    play(qtbot, w, tones_wav)
    assert sub.wait(lambda: len(sub.on("gui/testmodel/detection")) == 2, 10)
    assert [m.payload for m in sub.on("gui/testmodel/detection")] == [
        record_json(d).encode() for d in w.history_model.detections()
    ]
    mosquitto.stop()
    qtbot.waitUntil(lambda: w.status.mqtt.text().startswith("MQTT: retrying"), timeout=15000)
    play(qtbot, w, tones_wav)
    qtbot.waitUntil(lambda: w.status.mqtt.text() == "MQTT: retrying, 2 queued", timeout=5000)
    assert "2 waiting for the broker" in w.status.mqtt.toolTip()
    w.close()
    assert w.worker.mqtt.status().state == "off"
    sub.close()


def test_threshold_control_changes_what_is_detected(qtbot, store, tmp_path, tones_wav):
    model = soften(make_test_model(tmp_path), 0.1)
    w = make_window(qtbot, store, model=str(model), vad=0)
    windows = []
    w.worker.window.connect(windows.append)
    for threshold, expected in [(0.6, ["low", "high"]), (0.9, []), (1.0, [])]:
        w.controls.threshold.setValue(threshold)  # the spin box, as a user would
        w.clear_history()
        windows.clear()
        play(qtbot, w, tones_wav)
        assert history_labels(w) == expected, f"threshold {threshold}"
        assert len(windows) >= 2
        assert 0.7 < max(float(x.probs.max()) for x in windows) < 0.9
        assert w.bars.threshold == threshold


def test_hop_and_vad_apply_to_the_running_session(qtbot, store, tmp_path):
    model = make_test_model(tmp_path, kind="sound", name="testsound")
    long = tmp_path / "long.wav"
    sf.write(long, tone(300, 8.0), RATE)
    w = make_window(qtbot, store, model=str(model))
    w.pace_files = True
    w.use_file(str(long))
    with qtbot.waitSignal(w.worker.started, timeout=10000):
        w.start()
    assert w.controls.hop.isEnabled() and not w.controls.vad.isEnabled()
    assert w.controls.hop.value() == pytest.approx(0.25)
    w.controls.hop.setValue(0.5)
    qtbot.waitUntil(
        lambda: w.worker._pipeline is not None and w.worker._pipeline.windower.hop == RATE // 2, timeout=5000
    )
    with qtbot.waitSignal(w.worker.stopped, timeout=5000):
        w.stop()
    assert w.start_button.text() == "Start"


def test_device_error_is_a_message_and_another_source_works(qtbot, store, tmp_path, tones_wav):
    model = make_test_model(tmp_path)
    w = make_window(qtbot, store, model=str(model), vad=0)
    # A device that does not exist (or no devices at all on this machine).
    w.source_picker.combo.insertItem(0, "ghost", SourceChoice("mic", "no such device 1234"))
    w.source_picker.combo.setCurrentIndex(0)
    with qtbot.waitSignal(w.worker.stopped, timeout=10000):
        w.start()
    qtbot.wait(20)
    assert "no such device 1234" in w.banner.text() or "no audio input" in w.banner.text()
    assert w.start_button.text() == "Start" and w.start_button.isEnabled()
    # Same window, another source: works.
    play(qtbot, w, tones_wav)
    assert history_labels(w) == ["low", "high"]
    assert w.banner.text() == ""
    # A device lost mid-session (the microphone source retries and says so) is shown too.
    w.worker.notice.emit("input device 'USB' stopped delivering audio; retrying every 2 s")
    assert "stopped delivering audio" in w.banner.text()


def test_live_microphone_then_switch_to_a_file_while_running(qtbot, store, tmp_path, tones_wav, pulse_sink):
    """A real PortAudio input (PulseAudio here), then another source picked while listening."""
    from listener.audio import list_input_devices
    from listener.errors import ListenerError

    try:
        names = [d.name for d in list_input_devices()]
    except ListenerError as exc:
        pytest.skip(f"no audio input here: {exc.message}")
    if "default" not in names and "pulse" not in names:
        pytest.skip(f"no PulseAudio input device among {names}")
    model = make_test_model(tmp_path)
    w = make_window(qtbot, store, model=str(model), vad=0)
    w.source_picker.populate()
    w.source_picker.select(SourceChoice("mic", "pulse" if "pulse" in names else "default"))
    blocks = []
    w.worker.block.connect(blocks.append)
    with qtbot.waitSignal(w.worker.started, timeout=10000) as started:
        w.start()
    assert started.args[0].source_name.startswith("mic:")
    qtbot.waitUntil(lambda: len(blocks) >= 20, timeout=10000)  # ~30 blocks a second
    assert w.spectrogram.frames > 0
    # Pick a recording in the same window while the microphone runs: the session restarts on it.
    w.pace_files = False
    with qtbot.waitSignal(w.worker.started, timeout=10000) as restarted:
        w.source_picker.changed.emit(w.source_picker.add_file(str(tones_wav)))
    assert restarted.args[0].source_name == str(tones_wav)
    qtbot.waitUntil(lambda: not w.worker.is_running(), timeout=10000)
    qtbot.wait(50)
    assert history_labels(w) == ["low", "high"]


def test_missing_model_is_a_message(qtbot, store, tmp_path, tones_wav):
    w = make_window(qtbot, store, model=str(tmp_path / "nope.onnx"))
    w.model_picker.select(str(tmp_path / "nope.onnx"))
    play(qtbot, w, tones_wav)
    assert "not found" in w.banner.text()
    assert "Traceback" not in w.banner.text()


def test_space_starts_and_stops(qtbot, store, tmp_path, tones_wav):
    model = make_test_model(tmp_path)
    w = make_window(qtbot, store, model=str(model), vad=0)
    w.pace_files = True
    w.use_file(str(tones_wav))
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=3000)
    with qtbot.waitSignal(w.worker.started, timeout=10000):
        qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.start_button.text() == "Stop"
    with qtbot.waitSignal(w.worker.stopped, timeout=5000):
        qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.start_button.text() == "Start"
    # The button does the same.
    with qtbot.waitSignal(w.worker.started, timeout=10000):
        qtbot.mouseClick(w.start_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(w.worker.stopped, timeout=5000):
        qtbot.mouseClick(w.start_button, Qt.MouseButton.LeftButton)


def test_a_long_session_does_not_leak_references_to_none(qtbot, store):
    """PySide6-Essentials 6.12.0 on Python 3.11 drops a reference to None/True/False on
    every call that returns one; a live window then aborts ("none_dealloc") within a
    minute. Drive the window's slots and paints for a few thousand frames and check
    the singletons' reference counts do not fall (pyproject pins PySide6 < 6.12)."""
    import gc
    import sys

    from listener.events import Detection, WindowResult
    from listener.gui.features import FeatureLayout
    from listener.gui.worker import BlockFrame, SessionInfo

    w = make_window(qtbot, store)
    labels = ["zero", "one", "silence"]
    layout = FeatureLayout(n_features=40, frames=98, hop=160, sample_rate=RATE)
    w._on_started(
        SessionInfo(
            model_name="m-1",
            labels=labels,
            reject_labels=["silence"],
            kind="speech",
            provider="CPUExecutionProvider",
            sample_rate=RATE,
            threshold=0.7,
            hop=None,
            source_name="x",
            features=layout,
            features_caption="the model's features: logmel, 40 bands",
            model_threshold=0.7,
            model_hop=0.25,
        )
    )
    rng = np.random.default_rng(0)

    def frames(n: int) -> None:
        for i in range(n):
            w._on_block(
                BlockFrame(
                    i * 0.03,
                    rng.normal(0, 0.1, 480).astype(np.float32),
                    rng.normal(-4, 1, (40, 3)).astype(np.float32),
                    3 * i,
                    i % 2 == 0,
                    -20.0,
                )
            )
            if i % 10 == 0:
                w._on_window(
                    WindowResult(
                        i * 0.03,
                        labels,
                        np.array([0.1, 0.85, 0.05], np.float32),
                        rng.normal(size=(40, 101)).astype(np.float32),
                        12.0,
                        None,
                    )
                )
            if i % 50 == 0:
                w._on_detection(
                    Detection("2026-11-21T10:00:00.000+00:00", i * 0.03, "one", 0.85, [("one", 0.85)], "m-1", "x", 12.0)
                )
            w._frame()
            w.spectrogram.repaint()
            w.waveform.repaint()

    frames(50)
    gc.collect()  # garbage of earlier tests, freed mid-measurement, would lower the counts too
    before = [sys.getrefcount(x) for x in (None, True, False)]
    frames(1500)
    gc.collect()
    after = [sys.getrefcount(x) for x in (None, True, False)]
    assert all(a >= b - 50 for a, b in zip(after, before)), f"reference counts fell: {before} -> {after}"


def test_the_two_numbers_on_the_right_say_what_they_are(qtbot, store, tmp_path):
    """Sounds: the big number is the event's highest confidence (then), the bars the last window's
    probabilities (now); both are averages over 3 windows. The captions say so."""
    model = make_test_model(tmp_path, kind="sound", name="testsound")
    path = tmp_path / "long_low.wav"
    sf.write(path, np.concatenate([np.zeros(RATE // 2, np.float32), tone(300, 2.0), np.zeros(RATE, np.float32)]), RATE)
    w = make_window(qtbot, store, model=str(model))
    play(qtbot, w, path)
    assert history_labels(w) and set(history_labels(w)) == {"low"}
    det = w.history_model.detections()[-1]  # the newest: the one shown large
    caption, title = w.decision_caption.text(), w.bars_title.text()
    assert caption == (
        f"Last sound, {det.stream_s:.1f}–{det.end_s:.1f} s: its highest confidence, mean of the last 3 windows"
    )
    assert title.startswith("Last window, at ") and title.endswith(": probabilities, mean of the last 3 windows")
    assert w.decision.text().startswith("low")


# ---------------------------------------------------------------- sequence models, sound events, thresholds


def test_a_digit_string_shows_its_digits_as_they_arrive_and_the_history_shows_strings(qtbot, store, tmp_path):
    from conftest import make_ctc_model

    model = make_ctc_model(tmp_path)

    def gap(seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * RATE), np.float32)

    x = np.concatenate([gap(0.5), tone(300, 0.4), gap(0.125), tone(3000, 0.4), gap(2.0), tone(3000, 0.4), gap(0.5)])
    sf.write(tmp_path / "s.wav", x, RATE)
    log = tmp_path / "s.jsonl"
    w = make_window(qtbot, store, model=str(model), log_enabled=True, log_path=str(log))
    shown = []  # the big label each time a digit or a string arrived
    w.worker.detection.connect(lambda d: shown.append(w.decision.text().split()[0]))
    w.worker.sequence.connect(lambda s: shown.append(w.decision.text().split()[0]))
    play(qtbot, w, tmp_path / "s.wav")
    assert w.session.decoder == "ctc" and w.session.symbols == {"low": "1", "high": "2"}
    assert shown == ["1", "12", "12", "2", "2"]  # digits so far, then the string; then the next one
    assert [
        (type(r).__name__, w.history_model.index(i, 2).data()) for i, r in enumerate(w.history_model.detections()[::-1])
    ] == [
        ("Sequence", "2"),
        ("Sequence", "12"),
    ]
    assert w.bars_title.text().startswith("Last frame, at ")
    assert [r["type"] for r in read_jsonl(log)] == ["detection", "detection", "sequence", "detection", "sequence"]
    rows = list(csv.DictReader(open(w.export_history(str(tmp_path / "e.csv")), newline="")))
    assert [(r["type"], r["label"], r["top"]) for r in rows] == [
        ("sequence", "12", "low;high"),
        ("sequence", "2", "high"),
    ]


def test_a_sound_is_one_event_in_the_history_with_its_length(qtbot, store, tmp_path):
    model = make_test_model(tmp_path, kind="sound", name="testsound")
    path = tmp_path / "bark.wav"
    sf.write(path, np.concatenate([np.zeros(RATE // 2, np.float32), tone(300, 2.2), np.zeros(RATE, np.float32)]), RATE)
    w = make_window(qtbot, store, model=str(model))
    play(qtbot, w, path)
    (event,) = w.history_model.detections()
    assert event.label == "low" and w.session.events
    assert w.history_model.index(0, 4).data() == f"{event.end_s - event.stream_s:.1f}"
    assert float(w.history_model.index(0, 4).data()) == pytest.approx(2.2, abs=0.5)


def test_per_label_thresholds_are_drawn_and_the_slider_overrides_them(qtbot, store, tmp_path):
    import json

    model = make_test_model(tmp_path, metadata={"thresholds": json.dumps({"high": 0.95}), "threshold": "0.6"})
    w = make_window(qtbot, store, model=str(model), gate="energy")
    play(qtbot, w, _tones(tmp_path))
    assert w.session.thresholds == {"low": 0.6, "high": 0.95, "silence": 0.6}
    assert w.bars.thresholds == w.session.thresholds and w.bars.threshold_for("high") == 0.95
    w.controls.threshold.setValue(0.8)  # one threshold for every label
    assert w.bars.thresholds == {} and w.bars.threshold == pytest.approx(0.8)
    w._threshold_reset()  # "model default": back to each label's own
    assert w.bars.thresholds == w.session.model_thresholds and w.settings.options.threshold is None


def _tones(tmp_path: Path) -> Path:
    from conftest import write_tones

    return write_tones(tmp_path / "t.wav")
