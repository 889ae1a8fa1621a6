"""``build_defaults --only digits --quick`` builds a tiny digits model end to end on a tiny generated tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from listener.training.speech_embedding import OwwFrontendConfig  # noqa: E402
from listener.training.strings import RATE  # noqa: E402

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def say(text: str, voice: str, rate: int = RATE) -> np.ndarray:
    """espeak-ng audio at `rate`."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    import io

    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    import soxr

    return soxr.resample(audio, sr, rate).astype(np.float32)


def tiny_tree(root: Path) -> Path:
    """FSDD (a training and a validation speaker), AN4 (train, validation and test speakers), Allison."""
    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for speaker, voice in (("jackson", "en-us+m3"), ("yweweler", "en-gb+f2")):
        for d, word in enumerate(DIGITS):
            sf.write(rec / f"{d}_{speaker}_0.wav", say(word, voice, 8000), 8000)
    etc, wav = root / "an4" / "etc", root / "an4" / "wav"
    etc.mkdir(parents=True)
    parts = {
        "train": [
            ("fash", "en-us+m1", "FOUR SEVEN TWO"),
            ("fash", "en-us+m1", "ENTER NINETY"),
            ("fbbh", "en-us+f3", "OH EIGHT ONE"),
        ],
        "test": [("fjlp", "en-gb+m2", "SIX FIVE")],
    }
    for part, rows in parts.items():
        folder = "an4_clstk" if part == "train" else "an4test_clstk"
        ids, lines = [], []
        for i, (speaker, voice, words) in enumerate(rows):
            uttid = f"an{i}-{speaker}-b"
            (wav / folder / speaker).mkdir(parents=True, exist_ok=True)
            sf.write(
                wav / folder / speaker / f"{uttid}.sph",
                say(words.lower(), voice),
                RATE,
                format="NIST",
                subtype="PCM_16",
            )
            ids.append(f"{folder}/{speaker}/{uttid}")
            lines.append(f"<s> {words} </s> ({uttid})")
        (etc / f"an4_{part}.fileids").write_text("\n".join(ids) + "\n")
        (etc / f"an4_{part}.transcription").write_text("\n".join(lines) + "\n")
    prompts = root / "allison" / "digits"
    prompts.mkdir(parents=True)
    for stem, text in [(str(d), w) for d, w in enumerate(DIGITS)] + [("oh", "oh"), ("90", "ninety")]:
        sf.write(prompts / f"{stem}.wav", say(text, "en-us+f4", 8000), 8000)
    return root


def build(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "listener.export.build_defaults", "--only", "digits", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_quick_build_on_a_tiny_tree(tmp_path):
    data = tiny_tree(tmp_path / "data")
    out, runs, cache = tmp_path / "out", tmp_path / "runs", tmp_path / "cache"
    run = build(
        "--quick", "--data", str(data), "--out", str(out), "--runs", str(runs), "--cache", str(cache), "--threads", "1",
        "--members", "2",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    from listener.export.build_digits import QUICK

    second = QUICK.seed + 1  # the second member's seed
    assert f"member 2/2 (seed {second})" in run.stdout
    assert "Speech Commands" in run.stdout and "skipped" in run.stdout  # what the tree lacks is said
    results = json.loads((runs / "digits" / "results.json").read_text())
    assert set(results["times_s"]) >= {"data", "cache", "train", "export", "validate", "total"}
    assert results["parity_max_abs"] < 1e-3 and results["streaming_max_abs"] < 1e-3
    assert results["bytes"]["int8"] < 0.6 * results["bytes"]["fp32"]
    assert set(results["validation"]["fp32"]) == {"an4", "words", "non_speech"}  # the validation speakers
    assert results["validation"]["int8"]["non_speech"]["noise_minutes"] > 0  # and sounds no build trains on
    accuracy = results["accuracy"]["int8"]  # what the log and the files' `accuracy` say
    assert None not in accuracy.values() and "non_speech_false_per_minute" in accuracy
    assert accuracy["an4_digits_right"] == results["validation"]["int8"]["an4"]["digits_right"]
    for name in ("digits.onnx", "digits.fp32.onnx"):
        meta = {p.key: p.value for p in onnx.load(str(out / name)).metadata_props}
        assert meta["decoder"] == "ctc" and meta["frame_hop_samples"] == "1280" and meta["frame_samples"] == "17632"
        assert meta["frame_tail_samples"] == "2560" and meta["variant"] == ("int8" if name == "digits.onnx" else "fp32")
        assert meta["frame_context"] == "4"  # k - 1 embeddings carried between live calls
        assert float(meta["zero_fill_db"]) == QUICK.zero_fill_db == -60.0  # the runtime's fill (rule 14)
        assert json.loads(meta["symbols"])["oh"] == "0" and json.loads(meta["labels"])[0] == meta["blank_label"]
    assert (runs / "digits" / "last.pt").is_file() and (runs / "digits" / "last.member2.pt").is_file()
    assert len(results["losses"]) == 2 and (cache / "copy1.npz").is_file()
    assert (tmp_path / f"cache-seed{second}" / "copy1.npz").is_file()  # the second member's own draw and copies
    names = [n.name for n in onnx.load(str(out / "digits.fp32.onnx")).graph.node]
    assert any(n.startswith("/embedder/uppers.1/") for n in names)  # one graph: each member's convolutions
    assert any(n.startswith("/head/heads.1/") for n in names)  # and head
    clip = tmp_path / "472.wav"
    sf.write(clip, say("four seven two", "en-us"), RATE)
    analyze = [sys.executable, "-m", "listener", "analyze", "--model", str(out / "digits.onnx"), str(clip)]
    done = subprocess.run(analyze, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # --reexport: the two members' weights again, with a floor in the front end and no clip (the frozen
    # convolutions once over a call), no cache and no training
    again, runs2 = tmp_path / "again", tmp_path / "runs2"
    run = build(
        "--quick", "--data", str(data), "--out", str(again), "--runs", str(runs2), "--threads", "1", "--members", "2",
        "--reexport", str(out / "digits.fp32.onnx"), "--input-floor-db", "-60", "--clip-mode", "none",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    redone = json.loads((runs2 / "digits" / "results.json").read_text())
    assert redone["reexported_from"] == str(out / "digits.fp32.onnx") and redone["losses"] == []
    assert redone["cached_vectors"] == 0 and redone["parity_max_abs"] < 1e-3 and redone["streaming_max_abs"] < 1e-3
    assert "cache" not in redone["times_s"] and "train" not in redone["times_s"]  # neither stage ran
    assert redone["recipe"]["frontend"] == {"clip_mode": "none", "floor_db": -60.0}
    assert results["recipe"]["frontend"] == {"clip_mode": "window", "floor_db": None}
    first, second = (onnx.load(str(d / "digits.fp32.onnx")).graph for d in (out, again))
    assert "embedder.frontend.floor" in {i.name for i in second.initializer}
    assert "embedder.frontend.floor" not in {i.name for i in first.initializer}
    assert any(n.op_type == "ReduceMax" for n in first.node)  # the per-window clip's maximum ...
    assert not any(n.op_type == "ReduceMax" for n in second.node)  # ... gone with the clip
    meta = {p.key: p.value for p in onnx.load(str(again / "digits.onnx")).metadata_props}
    assert meta["frame_context"] == "4"  # the surgery found the embeddings in the new graph too


def test_missing_data_and_a_broken_dataset_are_one_line_errors(tmp_path):
    run = build("--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert run.returncode == 2 and run.stderr.strip().startswith("error: data folder") and "Traceback" not in run.stderr
    run = build("--members", "0", "--data", str(tmp_path))
    assert run.returncode == 2 and run.stderr.strip() == "error: --members must be >= 1"
    (tmp_path / "data" / "an4").mkdir(parents=True)  # an AN4 folder without its etc/ files
    run = build(
        "--quick", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r")
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and "an4_test.fileids is missing" in run.stderr


@pytest.mark.slow
def test_ctrl_c_stops_a_build_with_one_line_and_exit_130(tmp_path):
    """A real SIGINT, as Ctrl-C sends it, once the build has started logging: whatever stage it is in,
    one line on stderr and exit 130, no traceback (the cache workers leave Ctrl-C to the parent)."""
    import signal
    import time

    data = tiny_tree(tmp_path / "data")
    cmd = [sys.executable, "-m", "listener.export.build_defaults", "--only", "digits", "--quick", "--data", str(data)]
    cmd += ["--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r"), "--cache", str(tmp_path / "c")]
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731  (a shell's background jobs ignore it)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    assert proc.stdout.readline()  # the data stage has begun
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted")


def test_int8_calibration_adds_training_speakers_and_noise_pieces_never_test_speakers(tmp_path):
    from listener.export.build_digits import int8_calibration
    from listener.training.ctc_corpus import CtcDataConfig, validation_items

    cfg = CtcDataConfig(data_root=tiny_tree(tmp_path / "data"))
    val = validation_items(cfg, lambda _: None)
    rng = np.random.default_rng(1)
    noise = [rng.standard_normal(RATE * 10).astype(np.float32) * 0.01 for _ in range(3)]
    base = int8_calibration(cfg, val, [], noise, 0, lambda _: None)
    assert base.shape == (sum(len(v[:: max(1, len(v) // 32)]) for v in val.values()), 3 * RATE)
    more = int8_calibration(cfg, val, [], noise, 2, lambda _: None)
    assert np.array_equal(more[: len(base)], base)  # the validation clips first, unchanged
    extra = more[len(base) :]
    assert len(extra) == 2 + 2 + 2  # 2 training-speaker words, 2 AN4 training utterances, 2 noise pieces
    for piece in extra[-2:]:  # 3-s pieces cut from the noise recordings
        starts = [(n, i) for n in noise for i in np.flatnonzero(n == piece[0])]
        assert any(np.array_equal(piece, n[i : i + 3 * RATE]) for n, i in starts)
    test_speaker = say("six five", "en-gb+m2")  # what tiny_tree's AN4 test speaker says
    assert not any(np.allclose(row[: len(test_speaker)], test_speaker, atol=1e-3) for row in more)


def test_the_command_line_sets_or_clears_the_final_fit_the_sound_negatives_and_the_seed(tmp_path):
    from listener.export.build_defaults import _arguments
    from listener.export.build_digits import DigitsRecipe, recipe_from

    plain = recipe_from(_arguments(["--only", "digits"]))
    assert plain == DigitsRecipe() and plain.final_fit and plain.n_sound_negatives == 600  # the shipped 2.2 recipe
    assert plain.seed == 2  # its own seed, not the sounds build's
    r = recipe_from(_arguments(["--only", "digits", "--no-final-fit", "--sound-negatives", "0", "--seed", "3"]))
    assert not r.final_fit and r.n_sound_negatives == 0 and r.seed == 3 and r.epochs == DigitsRecipe.epochs
    from listener.export.build_defaults import SOUNDS_SEED, with_sounds_seed

    both = _arguments([])  # one command line builds both models: each keeps its own seed
    assert recipe_from(both).seed == DigitsRecipe.seed and with_sounds_seed(both).seed == SOUNDS_SEED == 0
    assert with_sounds_seed(_arguments(["--seed", "7"])).seed == recipe_from(_arguments(["--seed", "7"])).seed == 7
    quick = recipe_from(_arguments(["--only", "digits", "--quick"]))
    assert not quick.final_fit and quick.n_sound_negatives == 0  # a tiny tree: neither
    assert recipe_from(_arguments(["--quick", "--final-fit"])).final_fit
    run = build("--sound-negatives", "-1", "--data", str(tmp_path))
    assert run.returncode == 2 and run.stderr.strip() == "error: --sound-negatives must be >= 0"
    coded = recipe_from(_arguments(["--only", "digits", "--codec-p", "0.3"]))
    assert coded.augment.codec_p == 0.3 and coded.augment.speed == DigitsRecipe().augment.speed
    assert plain.augment.codec_p == 0.0  # off in the shipped recipe
    run = build("--codec-p", "1.5", "--data", str(tmp_path))
    assert run.returncode == 2 and run.stderr.strip() == "error: --codec-p must be between 0 and 1"


def test_the_metadata_says_what_a_build_trained_on():
    from dataclasses import replace

    from listener.export.build_digits import DigitsRecipe, training_data

    plain = training_data(replace(DigitsRecipe(), final_fit=False, n_sound_negatives=0))
    assert "minus 10 validation speakers" in plain and "yweweler" in plain and "sounds model" not in plain
    fit = training_data(replace(DigitsRecipe(), leave_out_speakers=("fash",)))  # the shipped recipe's two
    assert "validation speakers too" in fit and "yweweler" not in fit and "600 non-speech clips" in fit
    assert fit.endswith("left out: fash")


def test_the_headline_gives_rejection_beside_digits_and_nothing_a_set_lacks():
    from listener.export.build_digits import headline

    sets = {
        "an4": {"recordings": 129, "digits_right": 97.48, "exact": 69, "words": 309, "false_per_100_words": 0.65},
        "esc10": {"recordings": 80, "noise_minutes": 6.65, "false_per_minute": 1.053},
    }
    expected = {"an4_digits_right": 97.48, "an4_false_per_100_words": 0.65, "esc10_false_per_minute": 1.053}
    assert headline(sets) == expected


def test_reexport_reads_a_files_weights_back_and_refuses_other_files(tmp_path):
    """``--reexport``: an exported digits network, read back from its FP32 file, computes what the file
    computes; a front end with the input floor is the recipe's, not the file's; other files are refused."""
    from dataclasses import replace

    import torch

    from listener.export.build_digits import DigitsRecipe, NotADigitsFile, file_network
    from listener.export.ctc_export import export_ctc_onnx, session
    from listener.training.ctc import AudioToLogits, WindowHead

    r = replace(DigitsRecipe(), hidden=16)
    torch.manual_seed(0)
    head = WindowHead(r.k, r.hidden, r.depth, r.dropout, np.full(96, 0.1), np.full(96, 2.0))
    net = AudioToLogits(head).eval()
    path = export_ctc_onnx(net, tmp_path / "digits.fp32.onnx")
    audio = (np.random.default_rng(0).standard_normal((1, 24000)) * 0.05).astype(np.float32)
    audio[0, :8000] = 0.0  # digital silence, where the floor changes what the network sees
    back = file_network(path, r)
    with torch.no_grad():
        mine = back(torch.from_numpy(audio)).numpy()
        floor = replace(r, frontend=OwwFrontendConfig(floor_db=-60.0))
        floored = file_network(path, floor)(torch.from_numpy(audio)).numpy()
    np.testing.assert_allclose(mine, session(path).run(None, {"audio": audio})[0], atol=1e-4)
    assert np.abs(floored - mine).max() > 1e-3
    with pytest.raises(NotADigitsFile, match="is missing|has another shape"):
        file_network(path, replace(r, hidden=32))
    (tmp_path / "x.onnx").write_text("not a model")
    with pytest.raises(NotADigitsFile, match="not an ONNX file"):
        file_network(tmp_path / "x.onnx", r)


def test_the_front_end_and_reexport_flags(tmp_path):
    from listener.export.build_defaults import _arguments
    from listener.export.build_digits import DigitsRecipe, recipe_from

    assert recipe_from(_arguments(["--only", "digits", "--input-floor-db", "-70"])).frontend.floor_db == -70.0
    assert recipe_from(_arguments(["--only", "digits", "--input-floor-db", "off"])).frontend.floor_db is None
    assert recipe_from(_arguments(["--only", "digits"])).frontend == DigitsRecipe.frontend == OwwFrontendConfig()
    both = recipe_from(_arguments(["--only", "digits", "--clip-mode", "none", "--input-floor-db", "-75"]))
    assert both.frontend == OwwFrontendConfig("none", -75.0)
    run = build("--clip-mode", "utterance", "--data", str(tmp_path))  # per call: it breaks the streaming contract
    assert run.returncode == 2 and "invalid choice: 'utterance'" in run.stderr and "Traceback" not in run.stderr
    for bad, why in (("loud", "is not a level in dBFS or off"), ("-5", "outside -120..-20")):
        run = build("--input-floor-db", bad, "--data", str(tmp_path))
        assert run.returncode == 2 and why in run.stderr and "Traceback" not in run.stderr
    run = build("--only", "sounds", "--reexport", str(tmp_path / "none.onnx"), "--data", str(tmp_path))
    assert run.returncode == 2 and run.stderr.strip() == f"error: --reexport: {tmp_path / 'none.onnx'} not found"
    cmd = [sys.executable, "-m", "listener.export.build_defaults", "--reexport", str(tmp_path / "none.onnx")]
    run = subprocess.run([*cmd, "--data", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert (
        run.returncode == 2
        and run.stderr.strip() == "error: --reexport reads one model's file (add --only digits or --only sounds)"
    )
    run = build("--reexport", str(tmp_path / "none.onnx"), "--evaluate-only", "--data", str(tmp_path))
    assert (
        run.returncode == 2
        and run.stderr.strip() == "error: --reexport exports and validates by itself; drop --evaluate-only"
    )
    run = build("--reexport", str(tmp_path / "none.onnx"), "--data", str(tmp_path))
    assert run.returncode == 2 and run.stderr.strip() == f"error: --reexport: {tmp_path / 'none.onnx'} not found"


def test_a_build_stopped_after_its_export_leaves_the_pair_that_was_there(tmp_path, monkeypatch):
    """The build writes into assets/ by default: until every check has passed its files are temporary
    ones, so a Ctrl-C in the validate stage (or a failed check) leaves the old pair whole."""
    from dataclasses import replace

    import torch

    from listener.export import build_digits as bd
    from listener.export.ctc_export import export_ctc_onnx
    from listener.training.ctc import AudioToLogits, WindowHead

    r = replace(bd.QUICK, hidden=16, members=1)
    torch.manual_seed(0)
    head = WindowHead(r.k, r.hidden, r.depth, r.dropout, np.full(96, 0.1), np.full(96, 2.0))
    source = export_ctc_onnx(AudioToLogits(head).eval(), tmp_path / "src" / "digits.fp32.onnx")
    data, out = tiny_tree(tmp_path / "data"), tmp_path / "out"
    out.mkdir()
    (out / "digits.fp32.onnx").write_bytes(b"the shipped FP32 file")
    (out / "digits.onnx").write_bytes(b"the shipped INT8 file")

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bd, "validate", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        bd.build_digits(
            data, out, tmp_path / "runs", quick=True, recipe=r, threads=1, log=lambda m: None, reexport=source
        )
    assert sorted(p.name for p in out.iterdir()) == ["digits.fp32.onnx", "digits.onnx"]
    assert (out / "digits.onnx").read_bytes() == b"the shipped INT8 file"
    assert (out / "digits.fp32.onnx").read_bytes() == b"the shipped FP32 file"
    monkeypatch.undo()
    done = bd.build_digits(
        data, out, tmp_path / "runs", quick=True, recipe=r, threads=1, log=lambda m: None, reexport=source
    )
    assert done["files"] == {"fp32": str(out / "digits.fp32.onnx"), "int8": str(out / "digits.onnx")}
    assert sorted(p.name for p in out.iterdir()) == ["digits.fp32.onnx", "digits.onnx"]
    meta = {p.key: p.value for p in onnx.load(str(out / "digits.onnx")).metadata_props}
    assert meta["variant"] == "int8" and meta["frame_context"] == "4" and "an4_digits_right" in meta["accuracy"]


def test_worse_figures_a_tie_is_not_worse_and_only_the_held_out_sets_are_compared():
    from listener.export.build_digits import compared_sets
    from listener.export.bundle import worse_figures
    from listener.training.evaluate_strings import Recording

    def higher(key: str) -> bool:
        return key.endswith("_digits_right")

    previous = {
        "speech_commands_digits_right": 93.75,
        "speech_commands_false_per_100_words": 10.71,
        "esc10_false_per_minute": 0.6,
        "non_speech_false_per_minute": 1.69,
    }
    assert worse_figures(dict(previous), previous, higher) == []
    assert worse_figures({**previous, "esc10_false_per_minute": 0.3}, previous, higher) == []
    worse = {**previous, "esc10_false_per_minute": 1.05, "speech_commands_digits_right": 87.5}
    assert worse_figures(worse, previous, higher) == [
        "speech_commands_digits_right 87.5 against 93.75",
        "esc10_false_per_minute 1.05 against 0.6",
    ]
    assert worse_figures({"an4_digits_right": 50.0}, previous, higher) == []  # a figure one side lacks

    rec = [
        Recording(f"{source}:{i}", np.zeros(160, np.float32), "1", 1)
        for i, source in enumerate(("fsdd", "speech_commands"))
    ]
    noise = [Recording("esc10:0", np.zeros(160, np.float32), "", 0)]
    sets = compared_sets({"words": rec, "an4": rec, "esc10": noise})
    assert sets == {
        "speech_commands": [rec[1]],
        "esc10": noise,
    }  # FSDD's validation speaker and AN4's train in a final fit


def constant_head(token: int):
    """A digits network that scores ``token`` (0: the blank, nothing logged; a digit: one logged wherever
    the gate opens) on every frame, whatever it hears."""
    from dataclasses import replace

    import torch

    from listener.export import build_digits as bd
    from listener.training.ctc import AudioToLogits, WindowHead

    r = replace(bd.QUICK, hidden=16, members=1)
    head = WindowHead(r.k, r.hidden, r.depth, r.dropout, np.full(96, 0.1), np.full(96, 2.0))
    with torch.no_grad():
        head.net[-1].weight.zero_()
        head.net[-1].bias.fill_(-10.0)
        head.net[-1].bias[token] = 10.0
    return AudioToLogits(head).eval(), r


@pytest.mark.slow
def test_a_rebuild_keeps_a_pair_that_does_better_on_the_held_out_sets(tmp_path):
    """A digits pair already in ``out`` that logs fewer false digits in the non-speech set no build trains
    on stays; the new pair goes to runs/digits/rebuilt/ and the log says why; ``replace_better`` (the
    command's --replace) puts it in ``out`` anyway."""
    from listener.export import build_digits as bd
    from listener.export.ctc_export import export_ctc_onnx

    quiet, r = constant_head(0)
    chatty, _ = constant_head(2)  # "one" wherever the gate opens
    src = {
        name: export_ctc_onnx(net, tmp_path / name / "digits.fp32.onnx")
        for name, net in (("quiet", quiet), ("chatty", chatty))
    }
    data, out, runs = tiny_tree(tmp_path / "data"), tmp_path / "out", tmp_path / "runs"
    lines: list[str] = []

    def build(source, **kwargs):
        lines.clear()
        return bd.build_digits(
            data, out, runs, quick=True, recipe=r, threads=1, log=lines.append, reexport=source, **kwargs
        )

    first = build(src["quiet"])
    assert first["previous"]["note"] == "no pair there" and not first["kept_previous"]
    assert first["accuracy"]["int8"]["non_speech_false_per_minute"] == 0.0
    shipped = {p.name: p.read_bytes() for p in out.iterdir()}

    second = build(src["chatty"])
    assert second["kept_previous"]
    rebuilt = runs / "digits" / "rebuilt"
    assert second["files"] == {"fp32": str(rebuilt / "digits.fp32.onnx"), "int8": str(rebuilt / "digits.onnx")}
    assert {p.name: p.read_bytes() for p in out.iterdir()} == shipped  # the better pair is untouched
    assert second["accuracy"]["int8"]["non_speech_false_per_minute"] > 0.0
    assert any(w.startswith("non_speech_false_per_minute ") for w in second["previous"]["worse"])
    said = [line for line in lines if "KEPT the pair in" in line]
    assert said and f"{runs}/digits/rebuilt/digits.onnx (INT8)" in said[0] and "--replace" in said[0]
    assert json.loads((runs / "digits" / "results.json").read_text())["kept_previous"] is True

    third = build(src["chatty"], replace_better=True)
    assert not third["kept_previous"] and third["files"]["int8"] == str(out / "digits.onnx")
    assert (out / "digits.onnx").read_bytes() != shipped["digits.onnx"]
    assert any("(--replace), though the pair that was there did better: non_speech" in line for line in lines)

    again = build(src["chatty"])  # the same weights against themselves: a tie, so replaced
    assert again["previous"]["worse"] == [] and not again["kept_previous"]
    assert any("no worse on its 1 held-out figure(s)" in line for line in lines)
