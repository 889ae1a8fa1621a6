"""Dataset loaders on small generated trees laid out exactly like each dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from listener.training.datasets.base import (
    DIGITS,
    Clip,
    DatasetError,
    assign_splits,
    fit_length,
    fold_split,
    load_audio,
)
from listener.training.datasets.esc import load_esc
from listener.training.datasets.folder import load_folder
from listener.training.datasets.fsdd import load_fsdd
from listener.training.datasets.speech_commands import (
    background_noise_files,
    load_speech_commands,
    speech_commands_version,
)
from listener.training.datasets.urbansound8k import load_urbansound8k


def write(
    path: Path, seconds: float = 0.5, rate: int = 16000, channels: int = 1, value: float = 0.1, fmt: str | None = None
) -> Path:
    """A tiny real audio file (a tone, so it is not silent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    mono = (value * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = mono if channels == 1 else np.stack([mono] * channels, axis=1)
    sf.write(path, data, rate, format=fmt)
    return path


# ---------------------------------------------------------------- base


def test_load_audio_resamples_and_downmixes(tmp_path: Path) -> None:
    stereo = write(tmp_path / "s.wav", seconds=1.0, rate=44100, channels=2, value=0.5)
    audio = load_audio(stereo, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.shape[0] - 16000) <= 1
    assert 0.45 < np.abs(audio).max() <= 0.51
    part = load_audio(stereo, 8000, start_s=0.25, duration_s=0.5)
    assert abs(part.shape[0] - 4000) <= 1


def test_load_audio_reads_ogg_and_flac(tmp_path: Path) -> None:
    ogg = write(tmp_path / "a.ogg", seconds=0.5, rate=44100, fmt="OGG")
    flac = write(tmp_path / "a.flac", seconds=0.5, rate=22050, fmt="FLAC")
    assert abs(load_audio(ogg).shape[0] - 8000) <= 2
    assert abs(load_audio(flac).shape[0] - 8000) <= 2


def test_load_audio_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(DatasetError, match="bad.wav"):
        load_audio(bad)
    with pytest.raises(DatasetError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")
    short = write(tmp_path / "short.wav", seconds=1.0)
    with pytest.raises(DatasetError, match="past the end"):
        load_audio(short, start_s=5.0)


def test_fit_length_modes() -> None:
    a = np.arange(10, dtype=np.float32)
    assert fit_length(a, 4).tolist() == [3, 4, 5, 6]
    padded = fit_length(a[:2] + 1, 6)
    assert padded.tolist() == [0, 0, 1, 2, 0, 0]
    burst = np.zeros(100, np.float32)
    burst[70:80] = 1.0
    assert fit_length(burst, 20, "energy").sum() == 10
    rng = np.random.default_rng(0)
    starts = {float(fit_length(a, 4, "random", rng)[0]) for _ in range(50)}
    assert len(starts) > 3 and min(starts) >= 0 and max(starts) <= 6
    with pytest.raises(ValueError, match="mode"):
        fit_length(a, 4, "middle")


def test_assign_splits_keeps_speakers_together(tmp_path: Path) -> None:
    clips = [Clip(tmp_path / f"{s}_{i}.wav", "x", speaker=f"spk{s}") for s in range(40) for i in range(3)]
    out = assign_splits(clips, 0.2, 0.2)
    by_speaker: dict[str, set[str]] = {}
    for c in out:
        by_speaker.setdefault(c.speaker or "", set()).add(c.split or "")
    assert all(len(s) == 1 for s in by_speaker.values())
    assert {next(iter(s)) for s in by_speaker.values()} == {"train", "validation", "test"}
    assert assign_splits(clips, 0.2, 0.2) == out  # stable
    with pytest.raises(DatasetError, match="fractions"):
        assign_splits(clips, 0.6, 0.5)


# ---------------------------------------------------------------- FSDD


def make_fsdd(root: Path) -> Path:
    rec = root / "recordings"
    for spk in ("george", "jackson", "nicolas", "theo", "yweweler"):
        for d in range(10):
            for take in range(2):
                write(rec / f"{d}_{spk}_{take}.wav", seconds=0.05, rate=8000)
    return root


def test_fsdd_speaker_disjoint(tmp_path: Path) -> None:
    root = make_fsdd(tmp_path / "fsdd")
    clips = load_fsdd(root)
    assert len(clips) == 100
    assert load_fsdd(root / "recordings") == clips  # either folder works
    splits = {c.speaker: c.split for c in clips}
    assert splits == {
        "george": "train",
        "jackson": "train",
        "yweweler": "validation",
        "nicolas": "test",
        "theo": "test",
    }
    c = next(c for c in clips if c.path.name == "7_theo_1.wav")
    assert c.label == "seven" and c.speaker == "theo"
    assert {c.label for c in clips} == set(DIGITS)
    assert clips == sorted(clips, key=lambda c: str(c.path))
    assert load_audio(c.path).shape[0] == 800  # 8 kHz -> 16 kHz


def test_fsdd_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a directory"):
        load_fsdd(tmp_path / "nope")
    (tmp_path / "recordings").mkdir()
    with pytest.raises(DatasetError, match="no <digit>"):
        load_fsdd(tmp_path)
    write(tmp_path / "recordings" / "seven-george.wav", seconds=0.05)
    with pytest.raises(DatasetError, match="seven-george.wav"):
        load_fsdd(tmp_path)
    with pytest.raises(DatasetError, match="both"):
        load_fsdd(tmp_path, val_speakers=("theo",), test_speakers=("theo",))


# ---------------------------------------------------------------- Speech Commands


def make_speech_commands(root: Path, version: str = "v0.01") -> Path:
    words = list(DIGITS) + ["bed", "tree", "yes"]
    if version == "v0.02":
        words += ["backward", "forward", "follow", "learn", "visual"]
    val, test = [], []
    for w in words:
        for spk in ("aaaa0001", "bbbb0002", "cccc0003", "dddd0004"):
            rel = f"{w}/{spk}_nohash_0.wav"
            write(root / rel, seconds=0.05)
            if spk == "cccc0003":
                val.append(rel)
            elif spk == "dddd0004":
                test.append(rel)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    write(root / "_background_noise_" / "white_noise.wav", seconds=20.0, value=0.3)
    write(root / "_background_noise_" / "running_tap.wav", seconds=30.0, value=0.3)
    (root / "README.md").write_text("not a word folder")
    return root


@pytest.mark.parametrize("version", ["v0.01", "v0.02"])
def test_speech_commands_layout(tmp_path: Path, version: str) -> None:
    root = make_speech_commands(tmp_path / "sc", version)
    assert speech_commands_version(root) == version
    clips = load_speech_commands(root, silence_per_split=(10, 4, 4))
    words = [c for c in clips if c.label != "silence"]
    n_words = 13 + (5 if version == "v0.02" else 0)
    assert len(words) == n_words * 4
    assert {c.label for c in words} == set(DIGITS) | {"unknown"}
    assert sum(c.label == "unknown" for c in words) == (n_words - 10) * 4
    for c in words:
        expect = {"cccc0003": "validation", "dddd0004": "test"}.get(c.speaker or "", "train")
        assert c.split == expect
    c = next(c for c in words if c.path.name.startswith("bbbb0002") and c.path.parent.name == "seven")
    assert c.label == "seven" and c.speaker == "bbbb0002"
    assert clips == load_speech_commands(root, silence_per_split=(10, 4, 4))  # deterministic


def test_speech_commands_silence_does_not_overlap(tmp_path: Path) -> None:
    root = make_speech_commands(tmp_path / "sc")
    clips = load_speech_commands(root, silence_per_split=(40, 6, 6))
    sil = [c for c in clips if c.label == "silence"]
    assert [sum(c.split == s for c in sil) for s in ("train", "validation", "test")] == [40, 6, 6]
    for noise in background_noise_files(root):
        spans = {
            s: [(c.start_s, c.start_s + c.duration_s) for c in sil if c.path == noise and c.split == s]
            for s in ("train", "validation", "test")
        }
        dur = sf.info(str(noise)).duration
        assert all(0 <= a and b <= dur + 1e-6 for v in spans.values() for a, b in v)
        tr_end = max(b for _, b in spans["train"])
        va = spans["validation"]
        te_start = min(a for a, _ in spans["test"])
        assert tr_end <= min(a for a, _ in va) and max(b for _, b in va) <= te_start
    audio = load_audio(sil[0].path, 16000, sil[0].start_s, sil[0].duration_s)
    assert audio.shape[0] == 16000 and np.abs(audio).max() > 0.1


def test_speech_commands_options(tmp_path: Path) -> None:
    root = make_speech_commands(tmp_path / "sc")
    only = load_speech_commands(root, targets=("yes", "tree"), unknown=False, silence=False)
    assert {c.label for c in only} == {"yes", "tree"} and len(only) == 8
    auto = load_speech_commands(root)  # silence sized like one target word per split
    assert sum(c.label == "silence" and c.split == "train" for c in auto) == 2
    with pytest.raises(DatasetError, match="marvin"):
        load_speech_commands(root, targets=("marvin",))
    shutil.rmtree(root / "_background_noise_")
    with pytest.raises(DatasetError, match="_background_noise_"):
        load_speech_commands(root)
    assert load_speech_commands(root, silence=False)
    with pytest.raises(DatasetError, match="not a directory"):
        load_speech_commands(tmp_path / "missing")


def test_speech_commands_real_sample() -> None:
    """The shared v0.01 sample: official lists give speaker-disjoint splits."""
    root = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "speech_commands_v0.01_sample"
    if not root.is_dir():
        pytest.skip("shared data not present")
    clips = load_speech_commands(root, silence_per_split=(30, 5, 5))
    words = [c for c in clips if c.label != "silence"]
    assert len(words) == 300 and speech_commands_version(root) == "v0.01"
    speakers = {s: {c.speaker for c in words if c.split == s} for s in ("train", "validation", "test")}
    assert not (speakers["train"] & speakers["validation"]) and not (speakers["train"] & speakers["test"])
    assert all(speakers.values())


# ---------------------------------------------------------------- synthetic (espeak-ng)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@needs_espeak
def test_espeak_voices_are_english_gmw() -> None:
    from listener.training.datasets.synthetic import espeak_variants, espeak_voices

    voices = espeak_voices()
    assert "en-us" in voices and "en-gb-scotland" in voices
    assert all(v.startswith("en") for v in voices)
    assert {"m3", "f2", "klatt"} <= set(espeak_variants())


@needs_espeak
def test_synthesize_caches_and_labels(tmp_path: Path) -> None:
    from listener.training.datasets.synthetic import synthesize

    kw = dict(voices=["en-us", "en-gb-scotland"], variants=["m3", "f2"], speeds=(150,), pitches=(40, 60))
    clips = synthesize(["seven", "tree"], tmp_path, progress=False, **kw)
    assert len(clips) == 2 * 2 * 2 * 2
    assert {c.label for c in clips} == {"seven", "tree"}
    assert {c.speaker for c in clips} == {"en-us+m3", "en-us+f2", "en-gb-scotland+m3", "en-gb-scotland+f2"}
    assert len({c.path for c in clips}) == 16 and all(c.path.is_file() for c in clips)
    info = sf.info(str(clips[0].path))
    assert info.samplerate == 16000 and info.channels == 1
    audio = load_audio(clips[0].path)
    assert 0.2 < audio.shape[0] / 16000 < 1.5 and np.abs(audio).max() > 0.05
    # different parameters -> different audio
    a, b = (load_audio(c.path) for c in clips[:2])
    assert a.shape != b.shape or not np.allclose(a, b)
    mtimes = {c.path: c.path.stat().st_mtime_ns for c in clips}
    again = synthesize(["seven", "tree"], tmp_path, progress=False, **kw)
    assert again == clips and all(c.path.stat().st_mtime_ns == mtimes[c.path] for c in again)
    limited = synthesize(["seven"], tmp_path, progress=False, limit=3, seed=1, **kw)
    assert len(limited) == 3 and limited == synthesize(["seven"], tmp_path, progress=False, limit=3, seed=1, **kw)


@needs_espeak
def test_synthesize_speaks_accented_renditions(tmp_path: Path) -> None:
    from listener.training.datasets.synthetic import phonemes, synthesize

    assert phonemes("six", "en-us") == "s'Iks"
    kw = dict(voices=["en-us"], variants=["m3", "f2"], speeds=(150,), pitches=(40, 60), progress=False)
    plain = synthesize(["six"], tmp_path, **kw)
    assert synthesize(["six"], tmp_path, accent_p=0.0, **kw) == plain  # off: the very same files
    accented = synthesize(["six"], tmp_path, accent_p=1.0, contrast=["sick"], **kw)
    assert {c.label for c in accented} == {"six"} and {c.speaker for c in accented} == {c.speaker for c in plain}
    assert not {c.path for c in accented} & {c.path for c in plain}
    for a, p in zip(accented, plain):  # same voice, variant and pitch; another pronunciation
        x, y = load_audio(a.path), load_audio(p.path)
        assert 0.1 < x.shape[0] / 16000 < 1.5 and np.abs(x).max() > 0.05
        assert x.shape != y.shape or not np.allclose(x, y)
    assert synthesize(["six"], tmp_path, accent_p=1.0, contrast=["sick"], **kw) == accented  # seeded, cached
    with pytest.raises(DatasetError, match="accent_p"):
        synthesize(["six"], tmp_path, accent_p=1.5, **kw)


@needs_espeak
def test_synthesize_rejects_bad_parameters(tmp_path: Path) -> None:
    from listener.training.datasets.synthetic import synthesize

    with pytest.raises(DatasetError, match="variant"):
        synthesize(["one"], tmp_path, voices=["en-us"], variants=["nosuchvariant"], progress=False)
    with pytest.raises(DatasetError, match="voice"):
        synthesize(["one"], tmp_path, voices=["fr-fr"], progress=False)
    with pytest.raises(DatasetError, match="speed"):
        synthesize(["one"], tmp_path, voices=["en-us"], speeds=(20,), progress=False)


def test_unknown_words_exclude_digits_and_homophones() -> None:
    from listener.training.datasets.synthetic import UNKNOWN_WORDS

    assert len(UNKNOWN_WORDS) >= 100 and len(set(UNKNOWN_WORDS)) == len(UNKNOWN_WORDS)
    banned = set(DIGITS) | {"for", "fore", "to", "too", "won", "ate", "oh"}
    assert not banned & set(UNKNOWN_WORDS)
    assert {"tree", "marvin", "sheila", "wow", "learn"} <= set(UNKNOWN_WORDS)


# ---------------------------------------------------------------- ESC-10 / ESC-50


def test_esc10_folder_layout(tmp_path: Path) -> None:
    root = tmp_path / "esc10"
    for folder in ("001 - Dog bark", "003 - Sea waves", "009 - Rooster"):
        for fold in range(1, 6):
            for take in "AB":
                write(root / folder / f"{fold}-{1000 + fold}-{take}.ogg", seconds=0.1, rate=44100, fmt="OGG")
    (root / "README.md").write_text("x")
    clips = load_esc(root)
    assert len(clips) == 30
    assert {c.label for c in clips} == {"dog bark", "sea waves", "rooster"}
    assert {c.fold for c in clips} == {1, 2, 3, 4, 5}
    c = next(c for c in clips if c.path.name == "4-1004-B.ogg")
    assert c.fold == 4 and c.speaker == "1004" and c.split is None
    rounds = fold_split(clips, test_fold=2, val_fold=3)
    assert {c.split for c in rounds if c.fold == 2} == {"test"}
    assert {c.split for c in rounds if c.fold == 3} == {"validation"}
    assert sum(c.split == "train" for c in rounds) == 18
    with pytest.raises(DatasetError, match="test_fold=9"):
        fold_split(clips, test_fold=9)
    write(root / "001 - Dog bark" / "dog.ogg", seconds=0.1, fmt="OGG")
    with pytest.raises(DatasetError, match="dog.ogg"):
        load_esc(root)


def make_esc50(root: Path) -> Path:
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    spec = [
        ("dog", 0, True),
        ("rooster", 1, True),
        ("pig", 2, False),
        ("crying_baby", 20, True),
        ("church_bells", 46, False),
    ]
    for category, target, esc10 in spec:
        for fold in (1, 2, 3, 4, 5):
            src = 50000 + target * 10 + fold
            name = f"{fold}-{src}-A-{target}.wav"
            write(root / "audio" / name, seconds=0.1, rate=44100)
            rows.append(f"{name},{fold},{target},{category},{esc10},{src},A")
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return root


def test_esc50_csv_layout(tmp_path: Path) -> None:
    root = make_esc50(tmp_path / "ESC-50-master")
    esc10 = load_esc(root)
    assert len(esc10) == 15
    assert {c.label for c in esc10} == {"dog bark", "rooster", "baby cry"}  # same names as ESC-10 folders
    everything = load_esc(root, subset="esc50")
    assert len(everything) == 25 and {"pig", "church bells"} <= {c.label for c in everything}
    c = next(c for c in everything if c.path.name == "3-50463-A-46.wav")
    assert c.fold == 3 and c.speaker == "50463" and c.label == "church bells"
    (root / "audio" / "3-50463-A-46.wav").unlink()
    with pytest.raises(DatasetError, match="3-50463-A-46.wav"):
        load_esc(root, subset="esc50")
    with pytest.raises(DatasetError, match="subset"):
        load_esc(root, subset="esc20")


def test_esc_real_sample() -> None:
    root = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "esc10"
    if not root.is_dir():
        pytest.skip("shared data not present")
    clips = load_esc(root)
    assert len(clips) == 400 and len({c.label for c in clips}) == 10
    assert all(sum(c.fold == f for c in clips) == 80 for f in range(1, 6))
    folds_of_source: dict[str, set[int]] = {}
    for c in clips:
        folds_of_source.setdefault(c.speaker or "", set()).add(c.fold or 0)
    assert all(len(f) == 1 for f in folds_of_source.values())  # sources never straddle folds


# ---------------------------------------------------------------- UrbanSound8K


def make_us8k(root: Path) -> Path:
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    classes = [(3, "dog_bark"), (8, "siren"), (9, "street_music")]
    for class_id, name in classes:
        for fold in range(1, 11):
            fs_id = 100000 + class_id * 100 + fold
            for slice_n in range(2):
                file = f"{fs_id}-{class_id}-0-{slice_n}.wav"
                write(root / "audio" / f"fold{fold}" / file, seconds=0.05, rate=22050, channels=2)
                rows.append(f"{file},{fs_id},{slice_n * 4.0},{slice_n * 4.0 + 4.0},1,{fold},{class_id},{name}")
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(rows) + "\n")
    return root


def test_urbansound8k(tmp_path: Path) -> None:
    root = make_us8k(tmp_path / "UrbanSound8K")
    clips = load_urbansound8k(root)
    assert len(clips) == 60
    assert {c.label for c in clips} == {"dog bark", "siren", "street music"}
    assert {c.fold for c in clips} == set(range(1, 11))
    c = next(c for c in clips if c.path.name == "100807-8-0-1.wav")
    assert c.fold == 7 and c.speaker == "100807" and c.path.parent.name == "fold7"
    assert load_audio(c.path).ndim == 1
    rounds = fold_split(clips, test_fold=10)
    assert sum(c.split == "test" for c in rounds) == 6 and not any(c.split == "validation" for c in rounds)
    (c.path).unlink()
    with pytest.raises(DatasetError, match="1 files .* missing"):
        load_urbansound8k(root)
    (root / "metadata" / "UrbanSound8K.csv").write_text("name,fold\nx.wav,1\n")
    with pytest.raises(DatasetError, match="lacks columns"):
        load_urbansound8k(root)
    with pytest.raises(DatasetError, match="metadata/UrbanSound8K.csv"):
        load_urbansound8k(tmp_path)


# ---------------------------------------------------------------- folder per class


def test_folder_by_speaker(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    speakers = [f"spk{i}" for i in range(10)]
    for label, fmt in (("doorbell", "WAV"), ("kettle", "FLAC")):
        for spk in speakers:
            for take in range(2):
                ext = fmt.lower()
                write(root / label / f"{spk}_{take}.{ext}", seconds=0.05, fmt=fmt)
    (root / "kettle" / "notes.txt").write_text("ignored")
    (root / "_background_noise_").mkdir()
    clips = load_folder(root, val_fraction=0.2, test_fraction=0.2)
    assert len(clips) == 40 and {c.label for c in clips} == {"doorbell", "kettle"}
    split_of: dict[str, set[str]] = {}
    for c in clips:
        split_of.setdefault(c.speaker or "", set()).add(c.split or "")
    assert set(split_of) == set(speakers) and all(len(s) == 1 for s in split_of.values())
    counts = [sum(next(iter(s)) == x for s in split_of.values()) for x in ("train", "validation", "test")]
    assert counts == [6, 2, 2]
    assert load_folder(root, 0.2, 0.2) == clips


def test_folder_without_speakers_splits_each_class(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for label in ("clap", "snap"):
        for i in range(20):
            write(root / label / f"take{i}.wav", seconds=0.05)
    clips = load_folder(root)
    for label in ("clap", "snap"):
        splits = [c.split for c in clips if c.label == label]
        assert splits.count("test") == 2 and splits.count("validation") == 2
    assert all(c.speaker is None for c in clips)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty.*no audio"):
        load_folder(tmp_path)
    with pytest.raises(DatasetError, match="fractions"):
        load_folder(tmp_path, 0.5, 0.5)


# ---------------------------------------------------------------- download (local HTTP server)

import hashlib  # noqa: E402
import io  # noqa: E402
import tarfile  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from listener.training.datasets import download as dl  # noqa: E402
from listener.training.datasets.speech_commands import download_speech_commands  # noqa: E402


class ArchiveServer:
    """127.0.0.1 server for one file with HTTP Range support and a 'drop the connection' switch."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.cut_after: int | None = None  # send only this many bytes, then close
        self.honour_range = True
        self.ranges: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/archive.tar.gz":
                    self.send_error(404)
                    return
                data = owner.payload
                rng = self.headers.get("Range")
                owner.ranges.append(rng)
                start = 0
                if rng and owner.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut_after is not None:
                    self.wfile.write(body[: owner.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/archive.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def speech_commands_archive(tmp_path: Path) -> bytes:
    """A small tar.gz laid out like the official one (no top-level folder)."""
    src = make_speech_commands(tmp_path / "src")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname="./" + str(path.relative_to(src)), recursive=False)
    return buf.getvalue()


@pytest.fixture()
def server(tmp_path: Path):
    srv = ArchiveServer(speech_commands_archive(tmp_path))
    yield srv
    srv.close()


def test_download_resumes_after_truncation(tmp_path: Path, server: ArchiveServer) -> None:
    digest = hashlib.sha256(server.payload).hexdigest()
    dest = tmp_path / "dl"
    server.cut_after = len(server.payload) // 3
    with pytest.raises(DatasetError, match="resume"):
        download_speech_commands(dest, url=server.url, sha256=digest, progress=False)
    part = dest / "speech_commands_v0.02.tar.gz.part"
    assert part.stat().st_size == len(server.payload) // 3
    server.cut_after = None
    out = download_speech_commands(dest, url=server.url, sha256=digest, progress=False)
    assert server.ranges[-1] == f"bytes={len(server.payload) // 3}-"  # resumed, not restarted
    assert not part.exists()
    assert (dest / "speech_commands_v0.02.tar.gz").read_bytes() == server.payload
    assert out == dest / "speech_commands_v0.02"
    clips = load_speech_commands(out, silence_per_split=(2, 1, 1))
    assert sum(c.label != "silence" for c in clips) == 52
    # a second run reuses the archive and the extracted folder
    n = len(server.ranges)
    assert download_speech_commands(dest, url=server.url, sha256=digest, progress=False) == out
    assert len(server.ranges) == n


def test_download_restarts_when_range_is_ignored(tmp_path: Path, server: ArchiveServer) -> None:
    dest = tmp_path / "x.tar.gz"
    dest.with_name("x.tar.gz.part").write_bytes(b"garbage that is not the start")
    server.honour_range = False
    digest = dl.download_file(server.url, dest, progress=False)
    assert dest.read_bytes() == server.payload and digest == hashlib.sha256(server.payload).hexdigest()


def test_download_bad_checksum(tmp_path: Path, server: ArchiveServer) -> None:
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        download_speech_commands(tmp_path / "dl", url=server.url, sha256="0" * 64, progress=False)
    assert not list((tmp_path / "dl").glob("*.tar.gz*"))  # part deleted, nothing extracted
    assert not (tmp_path / "dl" / "speech_commands_v0.02").exists()


def test_extract_refuses_broken_and_escaping_archives(tmp_path: Path, server: ArchiveServer) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(server.payload[: len(server.payload) // 2])
    with pytest.raises(DatasetError, match="broken or truncated"):
        dl.extract_tar(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.extracting").exists()
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(DatasetError, match="outside"):
        dl.extract_tar(evil, tmp_path / "out2")
    assert not (tmp_path / "escape.txt").exists()


def test_download_cli(tmp_path: Path, server: ArchiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    digest = hashlib.sha256(server.payload).hexdigest()
    rc = dl.main(
        [
            "speech_commands",
            "--version",
            "v0.01",
            "--dest",
            str(tmp_path / "d"),
            "--url",
            server.url,
            "--sha256",
            digest,
            "--quiet",
        ]
    )
    assert rc == 0
    assert (tmp_path / "d" / "speech_commands_v0.01" / "seven").is_dir()
    rc = dl.main(
        ["speech_commands", "--dest", str(tmp_path / "e"), "--url", server.url.replace("archive", "missing"), "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and "404" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        dl.main(["--help"])
    assert exc.value.code == 0
    assert "speech_commands" in capsys.readouterr().out


def test_official_checksums_are_recorded() -> None:
    from listener.training.datasets.speech_commands import SHA256, URLS

    assert set(URLS) == set(SHA256) == {"v0.01", "v0.02"}
    assert all(v and len(v) == 64 for v in SHA256.values())
