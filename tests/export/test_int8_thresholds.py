"""INT8 thresholds carried over from the FP32 file: a tones sounds model exported FP32 + INT8, generated
clips in the ESC-10 folder layout, the command writing the INT8 file's metadata and the runtime reading
it back, the graph untouched; the errors it handles."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf

from listener.classifier import CPU, Classifier
from listener.export.int8_thresholds import find_thresholds, main, reference_path, write_thresholds
from listener.export.onnx_export import set_metadata
from listener.training.calibrate import peak_scores
from tests.tones import sound_bundle, sound_clips

CLASSES = ("low", "high")


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """The tones model's INT8 file and an FP32 reference whose thresholds sit inside its own scores
    (about half of each class's clips detected), so that recall has something to match."""
    folder = tmp_path_factory.mktemp("int8_thresholds")
    _, _, _, bundle = sound_bundle(folder / "tones")
    clips, names = generated_clips()
    ref = Classifier(bundle.fp32_path, threads=1, providers=[CPU])
    m = peak_scores(ref, clips, 5)
    labels = ref.info.labels
    middle = {
        k: round(float(np.median(m[[i for i, n in enumerate(names) if n == k], labels.index(k)])), 3) for k in CLASSES
    }
    write_thresholds(bundle.fp32_path, middle)
    return bundle.int8_path, bundle.fp32_path


def generated_clips() -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(11)
    clips, names = [], []
    for k in CLASSES:
        clips += sound_clips(k, 8, rng)
        names += [k] * 8
    return clips, names


def write_esc_tree(root: Path, classes: tuple[str, ...] = CLASSES) -> Path:
    """``root/esc10/NNN - Class/<fold>-<id>-A.wav``, the ESC-10 folder layout, with generated clips."""
    clips, names = generated_clips()
    for i, (clip, name) in enumerate(zip(clips, names)):
        if name not in classes:
            continue
        folder = root / "esc10" / f"{CLASSES.index(name) + 1:03d} - {name.capitalize()}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{i % 5 + 1}-{100 + i}-A.wav", clip, 16000)
    return root


def by_class(m: np.ndarray, names: list[str], labels: list[str], th: dict[str, float]) -> dict[str, int]:
    return {k: int(sum(m[i, labels.index(k)] >= th[k] for i, n in enumerate(names) if n == k)) for k in CLASSES}


def test_the_int8_file_detects_as_many_clips_of_each_class_as_the_fp32_file(pair) -> None:
    int8, fp32 = pair
    variant = Classifier(int8, threads=1, providers=[CPU])
    reference = Classifier(fp32, threads=1, providers=[CPU])
    clips, names = generated_clips()
    t = find_thresholds(variant, reference, clips, names, seeds=(5, 6))
    assert t.clips == 2 * len(clips) and t.classes == list(CLASSES)
    assert all(0 < t.reference_recall[k] < 1 for k in CLASSES)  # thresholds inside the scores: a real match
    assert t.new_recall == t.reference_recall
    # the recalls are the runtime's: score the same streams again and count at the new thresholds
    labels = variant.info.labels
    m = np.concatenate([peak_scores(variant, clips, s) for s in (5, 6)])
    assert by_class(m, names * 2, labels, t.new_thresholds) == {k: round(8 * 2 * t.new_recall[k]) for k in CLASSES}
    assert by_class(m, names * 2, labels, t.old_thresholds) == {k: round(8 * 2 * t.old_recall[k]) for k in CLASSES}


def test_the_command_writes_the_thresholds_and_nothing_else(pair, tmp_path: Path, capsys) -> None:
    int8, fp32 = pair
    model = tmp_path / "tones.onnx"
    shutil.copy(int8, model)
    shutil.copy(fp32, reference_path(model))
    before = onnx.load(str(model))
    data = write_esc_tree(tmp_path / "data")
    record = tmp_path / "record.json"
    assert main(["--model", str(model), "--data", str(data), "--seeds", "5", "--record", str(record)]) == 0
    assert "wrote the thresholds" in capsys.readouterr().out
    written = json.loads(record.read_text())
    info = Classifier(model).info  # the runtime reads them back
    assert info.thresholds == written["transfer"]["new_thresholds"]
    assert written["transfer"]["new_recall"] == written["transfer"]["reference_recall"]
    after = onnx.load(str(model))
    meta = lambda m: {e.key: e.value for e in m.metadata_props}  # noqa: E731
    changed = {k for k in meta(before) if meta(before)[k] != meta(after)[k]}
    assert set(meta(after)) == set(meta(before)) and changed <= {"thresholds"}
    del before.metadata_props[:], after.metadata_props[:]
    assert after.SerializeToString() == before.SerializeToString()  # the graph and its weights, byte for byte


def test_the_command_says_what_is_missing(pair, tmp_path: Path, capsys) -> None:
    int8, fp32 = pair
    model = tmp_path / "tones.onnx"
    shutil.copy(int8, model)
    data = write_esc_tree(tmp_path / "data")
    assert main(["--model", str(model), "--data", str(data)]) == 2  # no tones.fp32.onnx next to it
    assert "--reference" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "none.onnx"), "--reference", str(fp32), "--data", str(data)]) == 2
    assert "none.onnx not found" in capsys.readouterr().err
    assert main(["--model", str(model), "--reference", str(fp32), "--data", str(tmp_path)]) == 2
    assert "no esc10/" in capsys.readouterr().err
    only_low = write_esc_tree(tmp_path / "low", ("low",))
    assert main(["--model", str(model), "--reference", str(fp32), "--data", str(only_low), "--dry-run"]) == 2
    assert "no clips of ['high']" in capsys.readouterr().err
    other = tmp_path / "other" / "esc10" / "001 - Dog bark"
    other.mkdir(parents=True)
    sf.write(other / "1-1-A.wav", np.zeros(16000, np.float32), 16000)
    assert main(["--model", str(model), "--reference", str(fp32), "--data", str(other.parents[1])]) == 2
    assert "classes the model does not: ['dog bark']" in capsys.readouterr().err
    assert onnx.load(str(model)).metadata_props == onnx.load(str(int8)).metadata_props  # nothing written
    speech = tmp_path / "speech.onnx"
    shutil.copy(int8, speech)
    set_metadata(speech, replace(Classifier(speech).info, kind="speech"))
    assert main(["--model", str(speech), "--reference", str(fp32), "--data", str(data)]) == 2
    assert "is not a sound model" in capsys.readouterr().err


def test_ctrl_c_while_scoring_writes_nothing(pair, tmp_path: Path) -> None:
    int8, fp32 = pair
    model = tmp_path / "tones.onnx"
    shutil.copy(int8, model)
    data = write_esc_tree(tmp_path / "data")
    seeds = [str(s) for s in range(40)]  # long enough to be interrupted while it scores
    command = [sys.executable, "-m", "listener.export.int8_thresholds", "--model", str(model), "--reference", str(fp32)]
    proc = subprocess.Popen(
        [*command, "--data", str(data), "--record", str(tmp_path / "record.json"), "--seeds", *seeds],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background (``&``) passes SIGINT on ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout.readline().startswith("scoring")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: nothing written" in err and "Traceback" not in err
    assert onnx.load(str(model)).metadata_props == onnx.load(str(int8)).metadata_props
