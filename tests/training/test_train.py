"""The training loop, evaluation and reports, on generated tones (seconds, no dataset)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.models.registry import ModelSpec, build_model
from listener.training.report import write_report
from listener.training.train import TorchClassifier, TrainConfig, evaluate_model, fit, load_checkpoint
from tests.fakes import make_esc50
from tests.tones import TONE_LABELS, tone, tone_set, write_tone_tree

ROOT = Path(__file__).resolve().parents[2]
TINY = {"channels": 48, "blocks": 2}


def _spec() -> ModelSpec:
    return ModelSpec(
        name="tones", kind="sound", labels=list(TONE_LABELS), reject_labels=["silence"], arch_config=TINY, gate="energy"
    )


def test_fit_learns_tones_and_resumes(tmp_path: Path) -> None:
    train, val = tone_set(40, seed=1), tone_set(8, seed=2)
    spec = _spec()
    model = build_model(spec)
    cfg = TrainConfig(epochs=10, batch_size=16, lr=1e-2, patience=10, progress=False, max_minutes=0.0)
    first = fit(model, train, val, cfg, out_dir=tmp_path, spec=spec, log=lambda m: None)
    assert len(first.history) == 1 and first.stopped_early  # the zero time budget stops after one epoch
    cfg.max_minutes = None
    model = build_model(spec)
    result = fit(model, train, val, cfg, out_dir=tmp_path, spec=spec, resume=True, log=lambda m: None)
    assert [h.epoch for h in result.history] == list(range(1, 11))
    # validation runs the runtime's pipeline (gate, sliding windows): silence is free there (the gate
    # stays shut) and a model that only tells tone from silence gets 2/3; 0.8 needs low vs high
    assert result.best_val_accuracy is not None and result.best_val_accuracy >= 0.8
    reloaded, spec2, _ = load_checkpoint(tmp_path / "best.pt")
    assert spec2 == spec
    assert evaluate_model(reloaded, spec2, val).accuracy == pytest.approx(result.best_val_accuracy)


def test_keep_last_ships_the_final_epoch(tmp_path: Path) -> None:
    train, val = tone_set(24, seed=1), tone_set(8, seed=2)
    spec = _spec()
    model = build_model(spec)
    cfg = TrainConfig(epochs=4, batch_size=16, lr=1e-2, progress=False, keep="last", patience=1)
    result = fit(model, train, val, cfg, spec=spec, log=lambda m: None)
    assert [h.epoch for h in result.history] == [1, 2, 3, 4]  # patience ignored: no early stop
    assert result.best_epoch == 4 and not result.stopped_early
    assert result.best_val_accuracy == result.history[-1].val_accuracy
    assert evaluate_model(model, spec, val).accuracy == pytest.approx(result.history[-1].val_accuracy)
    with pytest.raises(ValueError, match="keep"):
        fit(build_model(spec), train, val, TrainConfig(epochs=1, keep="newest", progress=False), log=lambda m: None)
    with pytest.raises(ValueError, match="spec"):  # validation runs the runtime pipeline: it needs the spec
        fit(build_model(spec), train, val, TrainConfig(epochs=1, progress=False), log=lambda m: None)


def test_torch_classifier_speaks_the_runtime_interface() -> None:
    spec = _spec()
    model = build_model(spec).eval()
    clf = TorchClassifier(model, spec)
    assert clf.info.labels == list(TONE_LABELS) and clf.info.kind == "sound" and clf.info.gate == "energy"
    probs, feats = clf.predict(tone_set(2, seed=5).audio)
    assert probs.shape == (6, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert feats.shape[:2] == (6, 40)


def test_long_clips_are_cropped_where_the_runtime_gate_opens(tmp_path: Path) -> None:
    """5 s clips, each silent but for one loud second: every training crop holds some of it."""
    from listener.training.train import _Cropper

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((4, 5 * 16000)) * 1e-4).astype(np.float32)
    where = [0.5, 1.5, 3.0, 4.0]
    for row, at in zip(audio, where):
        s = int(at * 16000)
        row[s : s + 16000] += 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    cropper = _Cropper(audio, 16000, 0, _spec(), 0.1)
    for _ in range(5):
        crops = cropper.batch(np.arange(4))
        assert all(np.sqrt(np.mean(c**2)) > 0.01 for c in crops)  # each holds some of the tone; silence is ~1e-4
    with pytest.raises(ValueError, match="spec"):
        _Cropper(audio, 16000, 0, None, 0.1)


def test_sound_clips_keep_their_length_and_an_epoch_hears_each_second() -> None:
    """``--kind sound`` (dscnn): clips padded to the longest (at most SOUND_CLIP_WINDOWS), one crop per second."""
    from listener.training.corpus import WaveSet
    from listener.training.train import SOUND_CLIP_WINDOWS, _Run, _sound_clips

    def clips(*seconds: float) -> WaveSet:
        audio = [np.full(int(s * 16000), 0.1, np.float32) for s in seconds]
        return WaveSet(audio, np.zeros(len(audio), np.int64), ("a", "b"))

    shaped, crops = _sound_clips(clips(0.5, 5.0))
    assert shaped.audio.shape == (2, 80000) and crops == 5
    assert np.count_nonzero(shaped.audio[0]) == 8000  # the short clip padded, not stretched
    shaped, crops = _sound_clips(clips(0.5, 30.0))
    assert shaped.audio.shape == (2, SOUND_CLIP_WINDOWS * 16000) and crops == SOUND_CLIP_WINDOWS
    assert _sound_clips(clips(0.3, 0.8))[0].audio.shape == (2, 16000) and _sound_clips(clips(0.3, 0.8))[1] == 1
    model = build_model(_spec(), seed=0)
    cfg = TrainConfig(batch_size=10, crops_per_clip=5)
    assert _Run(model, cfg, 40, _spec()).steps_per_epoch == 20  # 40 clips x 5 crops in batches of 10
    with pytest.raises(ValueError, match="crops_per_clip"):
        fit(model, tone_set(2, 0), None, TrainConfig(crops_per_clip=0))


def test_report_writes_json_and_plots(tmp_path: Path) -> None:
    train = tone_set(4, seed=3)
    spec = _spec()
    model = build_model(spec)
    res = fit(model, train, None, TrainConfig(epochs=2, batch_size=8, progress=False), log=lambda m: None)
    ev = evaluate_model(model, spec, train)
    path = write_report(tmp_path, spec, res, {"train": ev})
    data = json.loads(path.read_text())
    assert data["evaluation"]["train"]["n"] == len(train)
    assert len(data["training"]["history"]) == 2
    for png in ("history.png", "confusion_train.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LISTENER_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.slow
def test_cli_train_export_and_listener_end_to_end(tmp_path: Path) -> None:
    """Folder of recordings -> python -m listener.training.train -> python -m listener.export -> listener analyze."""
    data = write_tone_tree(tmp_path / "tones", per_class=60)
    run = tmp_path / "run"
    r = _run(
        [
            "-m",
            "listener.training.train",
            "--data",
            f"folder:{data}",
            "--kind",
            "sound",
            "--name",
            "tones",
            "--channels",
            "48",
            "--blocks",
            "2",
            "--epochs",
            "25",
            "--batch-size",
            "16",
            "--lr",
            "0.01",
            "--out",
            str(run),
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert (run / "best.pt").is_file() and (run / "results.json").is_file()
    assert load_checkpoint(run / "best.pt")[1].data_split == {"val_fraction": 0.15, "fold": None}  # for the export
    r = _run(
        [
            "-m",
            "listener.export",
            str(run / "best.pt"),
            "--out",
            str(tmp_path / "tones"),
            "--data",
            f"folder:{data}",
            "--max-int8-drop",
            "0.5",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    int8 = tmp_path / "tones.onnx"
    assert int8.is_file() and (tmp_path / "tones.fp32.onnx").is_file()

    from listener.classifier import Classifier

    clf = Classifier(int8)
    assert clf.info.labels == sorted(TONE_LABELS) and clf.info.kind == "sound" and clf.info.variant == "int8"
    rng = np.random.default_rng(7)
    probs, feats = clf.predict(np.stack([tone("high", rng), tone("low", rng)]))
    assert feats is not None and feats.shape[:2] == (2, 64)
    assert [clf.info.labels[i] for i in probs.argmax(1)] == ["high", "low"]

    wav = tmp_path / "high.wav"
    sig = np.concatenate([np.zeros(16000), 0.4 * np.sin(2 * np.pi * 2000 * np.arange(24000) / 16000), np.zeros(16000)])
    sf.write(wav, sig.astype(np.float32), 16000)
    # threshold 0.5, not the custom model's default 0.7: once in a clean-clone run this 25-epoch toy model
    # logged nothing at 0.7 (threaded training is not bit-reproducible); a wrong label still fails the test
    r = _run(["-m", "listener", "analyze", str(wav), "--model", str(int8), "--threshold", "0.5"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    labels = [json.loads(line)["label"] for line in r.stdout.splitlines() if line.startswith("{")]
    assert labels and set(labels) == {"high"}


def test_cli_bad_data_is_a_clear_error(tmp_path: Path) -> None:
    r = _run(
        ["-m", "listener.training.train", "--data", f"folder:{tmp_path / 'missing'}", "--out", str(tmp_path / "o")],
        tmp_path,
    )
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
    r = _run(["-m", "listener.training.train", "--data", "nonsense", "--out", str(tmp_path / "o")], tmp_path)
    assert r.returncode == 2 and "KIND:PATH" in r.stderr
    esc = make_esc50(tmp_path / "esc")
    for data, fold, message in (
        (f"esc50:{esc}", "6", "fold 6 is not one of"),
        (f"folder:{write_tone_tree(tmp_path / 'tones', per_class=2)}", "2", "no official folds"),
    ):
        r = _run(
            ["-m", "listener.training.train", "--data", data, "--fold", fold, "--out", str(tmp_path / "o")], tmp_path
        )
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_cli_keep_last_trains_every_epoch_and_keeps_the_final_one(tmp_path: Path) -> None:
    """``--keep last`` (cross-validation: the validation fold is the scored one, so it picks nothing)."""
    data = write_tone_tree(tmp_path / "tones", per_class=8)
    train = ["-m", "listener.training.train", "--data", f"folder:{data}", "--kind", "sound", "--name", "t"]
    train += ["--channels", "16", "--blocks", "1", "--batch-size", "16", "--epochs", "3", "--out", str(tmp_path / "r")]
    r = _run([*train, "--keep", "last"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads((tmp_path / "r" / "results.json").read_text())["training"]
    assert [h["epoch"] for h in got["history"]] == [1, 2, 3] and got["best_epoch"] == 3 and not got["stopped_early"]
    r = _run([*train, "--keep", "first"], tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_cli_ctrl_c_keeps_the_epochs_done_and_resume_goes_on(tmp_path: Path) -> None:
    """A real SIGINT, as Ctrl-C sends it, after the first epoch: one line, exit 130, ``last.pt`` whole."""
    import signal

    data = write_tone_tree(tmp_path / "tones", per_class=30)
    train = ["-m", "listener.training.train", "--data", f"folder:{data}", "--kind", "sound", "--name", "t"]
    train += ["--channels", "16", "--blocks", "1", "--batch-size", "16", "--out", str(tmp_path / "run")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, *train, "--epochs", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a shell's background jobs ignore it
    )
    while not proc.stdout.readline().startswith("epoch 1:"):
        pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted: the epochs done are in")
    assert not (tmp_path / "run" / "best.pt").exists()
    r = _run([*train, "--epochs", "3", "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    history = json.loads((tmp_path / "run" / "results.json").read_text())["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert "epoch 1:" not in r.stdout and "epoch 3:" in r.stdout  # went on from the epoch kept


def _spoken_words(root: Path) -> Path:
    """espeak-ng saying "lights on" / "lights off" / other words in 6 voices x 4 rates and pitches,
    named ``<voice>_<n>.wav`` so that whole voices are held out, as a user's own recordings would be."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    others = ["hello", "kitchen", "window", "yellow"]
    for voice in ("en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us+f2"):
        for n, (rate, pitch) in enumerate(((120, 30), (150, 50), (175, 70), (140, 40))):
            for label, text in (("lights_on", "lights on"), ("lights_off", "lights off"), ("unknown", others[n])):
                path = root / label / f"{voice.replace('+', '-')}_{n}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                cmd = ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(path), text]
                subprocess.run(cmd, check=True, capture_output=True)
    return root


@pytest.mark.slow
def test_cli_embedding_arch_trains_exports_and_listens(tmp_path: Path) -> None:
    """--arch embedding: heads over the frozen speech embedding, through the same three commands as a DS-CNN;
    a voice variant none of the folders has says each word and `listener analyze` logs it."""
    data = _spoken_words(tmp_path / "words")
    run = tmp_path / "run"
    r = _run(
        ["-m", "listener.training.train", "--data", f"folder:{data}", "--arch", "embedding", "--name", "lights"]
        + ["--copies", "1", "--epochs", "20", "--out", str(run)],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.splitlines()[-1])["checkpoint"] == str(run / "best.pt")
    _, spec, _ = load_checkpoint(run / "best.pt")
    assert spec.arch == "speech_heads" and spec.kind == "speech" and spec.reject_labels == ["unknown"]
    assert spec.window_samples == 16352  # four embeddings, every sample of the window seen
    r = _run(["-m", "listener.export", str(run / "best.pt"), "--out", str(tmp_path / "lights")]
             + ["--data", f"folder:{data}", "--max-int8-drop", "0.5"], tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    said = {}
    for label, text in (("lights_on", "lights on"), ("lights_off", "lights off")):
        wav = tmp_path / f"{label}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us+m3", "-s", "160", "-w", str(wav), text], check=True)
        r = _run(["-m", "listener", "analyze", str(wav), "--model", str(tmp_path / "lights.onnx")], tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        said[label] = [json.loads(line)["label"] for line in r.stdout.splitlines() if line.startswith("{")]
    assert said == {"lights_on": ["lights_on"], "lights_off": ["lights_off"]}


def test_cli_embedding_arch_bad_options_are_one_line(tmp_path: Path) -> None:
    data = write_tone_tree(tmp_path / "tones", per_class=4)
    for extra, says in ((["--resume"], "--resume is for --arch dscnn"), (["--copies", "-1"], "--copies 0 or more")):
        r = _run(
            ["-m", "listener.training.train", "--data", f"folder:{data}", "--arch", "embedding", *extra]
            + ["--out", str(tmp_path / "o")],
            tmp_path,
        )
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_cli_embedding_arch_for_sounds_gets_the_sounds_heads(tmp_path: Path) -> None:
    """--kind sound: the sounds model's two heads (embeddings; embeddings + band statistics) and the energy gate."""
    data = write_tone_tree(tmp_path / "tones", per_class=8)
    run = tmp_path / "run"
    r = _run(
        ["-m", "listener.training.train", "--data", f"folder:{data}", "--arch", "embedding", "--kind", "sound"]
        + ["--copies", "0", "--epochs", "5", "--out", str(run)],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    model, spec, _ = load_checkpoint(run / "best.pt")
    assert [h["kind"] for h in spec.arch_config["heads"]] == ["speech", "hybrid"] and spec.gate == "energy"
    assert len(model.net.heads) == 2
