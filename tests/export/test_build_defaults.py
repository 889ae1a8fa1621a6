"""``python -m listener.export.build_defaults --only sounds --quick`` on a generated ESC-10 tree: the
recipe's own code (negatives, windows, CV with out-of-fold thresholds, final heads, export, records)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import soundfile as sf

from listener.classifier import Classifier
from listener.export.build_defaults import SOUNDS_VERSION, main

RATE = 16000
CLASSES = {"001 - Low tone": 400.0, "002 - High tone": 2200.0, "003 - Chirp": None}


def _clip(freq: float | None, rng: np.random.Generator) -> np.ndarray:
    """5 s: a 1.5 s tone or a rising chirp at a random place in faint noise."""
    x = rng.standard_normal(5 * RATE) * 1e-3
    t = np.arange(int(1.5 * RATE)) / RATE
    wave = np.sin(2 * np.pi * (freq * t if freq else 300 * t + 1500 * t**2))
    s = int(rng.integers(0, len(x) - len(t)))
    x[s : s + len(t)] += 0.3 * wave * np.hanning(len(t))
    return x.astype(np.float32)


def esc_tree(data: Path) -> Path:
    """A small ESC-10-shaped tree of tones and chirps (two clips a class and fold) and three Speech
    Commands background noises under ``data``."""
    rng = np.random.default_rng(0)
    for k, (folder, freq) in enumerate(CLASSES.items()):
        for fold in range(1, 6):
            for take in "AB":
                path = data / "esc10" / folder / f"{fold}-{1000 * k + fold}-{take}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, _clip(freq, rng), RATE)
    noise = data / "speech_commands_v0.01_sample" / "_background_noise_"
    noise.mkdir(parents=True)
    for name in ("white_noise.wav", "pink_noise.wav", "running_tap.wav"):
        sf.write(noise / name, (rng.standard_normal(10 * RATE) * 0.05).astype(np.float32), RATE)
    return data


def test_the_sounds_recipe_builds_a_model_the_runtime_reads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    data = esc_tree(tmp_path / "data")
    out, cards = tmp_path / "assets", tmp_path / "cards"
    args = ["--only", "sounds", "--quick", "--sound-epochs", "20", "--threads", "1", "--data", str(data)]
    args += ["--system-root", str(tmp_path / "system"), "--out", str(out), "--runs", str(tmp_path / "runs")]
    assert main([*args, "--cards", str(cards)]) == 0
    info = Classifier(out / "sounds.onnx").info
    classes = ["chirp", "high tone", "low tone"]
    assert info.model_id == f"sounds-{SOUNDS_VERSION}" and info.labels == [*classes, "other"]
    assert info.reject_labels == ["other"]
    assert set(info.thresholds) == set(classes) and info.hop_seconds == 0.5 and info.variant == "int8"
    assert Classifier(out / "sounds.fp32.onnx").info.thresholds == info.thresholds
    record = json.loads((cards / "sounds" / "results.json").read_text())
    cv = record["cross_validation"]
    assert list(cv["folds"]) == ["fold1"] and cv["thresholds"] == info.thresholds
    assert record["copy_levels_db"] is None and record["negative_levels"] is False  # the default: relative gains
    assert 0.0 <= record["summary"]["accuracy"]["int8"]["heldout_false_alarm_rate"] <= 1.0
    assert not (cards / "sounds.md").exists()  # the sounds card is written from bench/, not rendered
    # the shipped files of no build of this code: --evaluate-only starts their record from the metadata
    fresh = tmp_path / "fresh"
    assert main(["--evaluate-only", *args, "--cards", str(fresh)]) == 0
    again = json.loads((fresh / "sounds" / "results.json").read_text())
    assert again["spec"]["thresholds"] == info.thresholds and again["spec"]["labels"] == info.labels
    assert set(again["summary"]["accuracy"]) == {"int8", "fp32"}
    assert again["evaluation"]["heldout_int8"]["n"] == record["evaluation"]["heldout_int8"]["n"] > 0
    # --requantize makes the build's INT8 graph again from its FP32 file (same settings, same calibration
    # clips) and writes what it measured into both files
    built = _graph(out / "sounds.onnx")
    (out / "sounds.onnx").unlink()
    assert main(["--requantize", *args, "--cards", str(fresh)]) == 0
    assert _graph(out / "sounds.onnx") == built
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # written under temporary names, moved
    redone = json.loads((fresh / "sounds" / "results.json").read_text())
    assert redone["reevaluated"]["command"].endswith("--requantize --only sounds")
    for variant in ("sounds.onnx", "sounds.fp32.onnx"):
        assert Classifier(out / variant).info.accuracy == redone["summary"]["accuracy"]


def _graph(path: Path) -> bytes:
    """The file without its metadata."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    return model.SerializeToString()


def test_requantize_without_a_fp32_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    args = ["--only", "sounds", "--requantize", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "none")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sounds.fp32.onnx not found" in err[0] and "--requantize" in err[0]


def test_copy_levels_must_be_an_ordered_range_below_full_scale(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    for bad in (["-6", "-45"], ["-20", "3"]):
        assert main(["--only", "sounds", "--data", str(tmp_path / "data"), "--copy-levels", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--copy-levels" in err[0] and "LOW <= HIGH <= 0" in err[0]


def test_negative_levels_without_copy_levels_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    assert main(["--only", "sounds", "--data", str(tmp_path / "data"), "--negative-levels"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--negative-levels needs --copy-levels" in err[0]


def test_a_sounds_rebuild_keeps_a_pair_that_does_better(tmp_path: Path, monkeypatch, capsys) -> None:
    """The pair in --out stays when the new one is worse on a held-out figure (here the cross-validation
    of heads trained one epoch instead of twenty), and so does the cards' record; --replace puts the new
    pair there anyway; the same build again ties, and replaces."""
    monkeypatch.setenv("LISTENER_CACHE", str(tmp_path / "cache"))
    data = esc_tree(tmp_path / "data")
    out, runs, cards = tmp_path / "assets", tmp_path / "runs", tmp_path / "cards"
    args = ["--only", "sounds", "--quick", "--threads", "1", "--data", str(data), "--out", str(out)]
    args += ["--system-root", str(tmp_path / "system"), "--runs", str(runs), "--cards", str(cards)]

    def build(*more: str) -> dict:
        assert main([*args, *more]) == 0
        return json.loads((runs / "sounds" / "results.json").read_text())["summary"]

    first = build("--sound-epochs", "20")
    assert first["previous"]["note"] == "no pair there" and not first["kept_previous"]
    shipped = {p.name: p.read_bytes() for p in out.iterdir()}
    record = (cards / "sounds" / "results.json").read_bytes()
    capsys.readouterr()

    weak = build("--sound-epochs", "1")
    assert weak["kept_previous"] and weak["previous"]["worse"]
    assert all(w.startswith("cv_") for w in weak["previous"]["worse"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == shipped
    assert (cards / "sounds" / "results.json").read_bytes() == record
    rebuilt = runs / "sounds" / "rebuilt"
    assert weak["files"] == {"int8": str(rebuilt / "sounds.onnx"), "fp32": str(rebuilt / "sounds.fp32.onnx")}
    assert Classifier(rebuilt / "sounds.onnx").info.accuracy["int8"]["cv_mean_accuracy"] < 1.0
    said = capsys.readouterr()
    assert "sounds: KEPT the pair in" in said.out
    assert said.err.splitlines()[-1] == (
        f"note: sounds: the pair in {out} did better and stays; the new one is {rebuilt / 'sounds.onnx'} "
        "(--replace puts it there)"
    )

    forced = build("--sound-epochs", "1", "--replace")
    assert not forced["kept_previous"] and (out / "sounds.onnx").read_bytes() != shipped["sounds.onnx"]
    assert "(--replace), though the pair that was there did better: cv_" in capsys.readouterr().out

    again = build("--sound-epochs", "1")
    assert again["previous"]["worse"] == [] and not again["kept_previous"]
