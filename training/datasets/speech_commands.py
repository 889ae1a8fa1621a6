"""Google Speech Commands (Warden 2018), v0.01 and v0.02 layouts.

Layout (both versions): `<word>/<speaker hash>_nohash_<n>.wav` (16 kHz, 1 s),
`validation_list.txt`, `testing_list.txt` and `_background_noise_/*.wav`.
v0.01 has 30 words, v0.02 has 35 (adds backward, forward, follow, learn, visual).

The official split lists are speaker-disjoint (the split is a hash of the
speaker id), so they are used as given; any file not in a list is training
data. Words that are not targets become "unknown". "silence" clips are 1 s
slices of the long background-noise files; each noise file is cut by time into
train / validation / test regions so no slice of one split overlaps another.
"""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from listener.training.datasets.base import (
    DIGITS,
    SPLITS,
    Clip,
    DatasetError,
    require_dir,
    sort_clips,
)

V2_ONLY_WORDS: tuple[str, ...] = ("backward", "forward", "follow", "learn", "visual")
NOISE_DIR = "_background_noise_"
SILENCE_SECONDS = 1.0

URLS: dict[str, str] = {
    "v0.01": "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
    "v0.02": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
}
# The official page publishes no checksum. These sha256 digests are the ones
# torchaudio (datasets/speechcommands.py, _CHECKSUMS) verifies for the same URLs;
# TensorFlow Datasets (url_checksums/speech_commands.txt) records the same v0.02
# digest with size 2428923189 bytes. A download that does not match is rejected.
SHA256: dict[str, str | None] = {
    "v0.01": "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
    "v0.02": "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
}


def speech_commands_version(root: Path | str) -> str:
    """'v0.02' when any of the five v0.02-only word folders exists, else 'v0.01'."""
    path = require_dir(root, "Speech Commands")
    return "v0.02" if any((path / w).is_dir() for w in V2_ONLY_WORDS) else "v0.01"


def word_dirs(root: Path) -> list[Path]:
    """The word folders: every sub-folder except `_background_noise_` and hidden ones."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def background_noise_files(root: Path | str) -> list[Path]:
    """The long noise recordings in `_background_noise_/` (sorted)."""
    path = require_dir(root, "Speech Commands")
    noise = path / NOISE_DIR
    if not noise.is_dir():
        raise DatasetError(f"Speech Commands: no {NOISE_DIR}/ folder in {path}")
    files = sorted(noise.glob("*.wav"))
    if not files:
        raise DatasetError(f"Speech Commands: no .wav files in {noise}")
    return files


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with path.open("r", encoding="utf-8") as f:
        return {line.strip().replace("\\", "/") for line in f if line.strip()}


def _speaker(path: Path) -> str:
    stem = path.stem
    return stem.split("_nohash_")[0] if "_nohash_" in stem else stem


def silence_clips(
    noise_files: list[Path],
    per_split: tuple[int, int, int],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> list[Clip]:
    """1 s slices of the noise files, `per_split[i]` of them for split i.

    Each file is cut by time: its first `fractions[0]` is train, the next
    `fractions[1]` validation, the rest test. Within a region, slices are spread
    evenly over the files and over time (deterministic, no RNG).
    """
    if len(per_split) != 3 or any(n < 0 for n in per_split):
        raise DatasetError(f"silence_per_split must be three counts >= 0, got {per_split}")
    if abs(sum(fractions) - 1.0) > 1e-6 or any(f <= 0 for f in fractions):
        raise DatasetError(f"silence fractions must be positive and sum to 1, got {fractions}")
    durations: list[float] = []
    for path in noise_files:
        try:
            durations.append(sf.info(str(path)).duration)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise DatasetError(f"{path}: cannot read noise file ({exc})") from exc
    clips: list[Clip] = []
    for split_index, (split, count) in enumerate(zip(SPLITS, per_split)):
        if count == 0:
            continue
        regions: list[tuple[Path, float, float]] = []
        for path, duration in zip(noise_files, durations):
            begin = duration * sum(fractions[:split_index])
            end = duration * sum(fractions[: split_index + 1])
            if end - begin >= SILENCE_SECONDS:
                regions.append((path, begin, end))
        if not regions:
            raise DatasetError(f"Speech Commands: the noise files are too short to cut 1 s {split} slices")
        for r, (path, begin, end) in enumerate(regions):
            k = count // len(regions) + (1 if r < count % len(regions) else 0)
            span = end - begin - SILENCE_SECONDS
            for i in range(k):
                start = begin + (span * i / (k - 1) if k > 1 else span / 2)
                clips.append(
                    Clip(
                        path=path,
                        label="silence",
                        speaker=path.stem,
                        split=split,
                        start_s=round(start, 4),
                        duration_s=SILENCE_SECONDS,
                    )
                )
    return clips


def load_speech_commands(
    root: Path | str,
    targets: tuple[str, ...] | list[str] = DIGITS,
    unknown: bool = True,
    silence: bool = True,
    silence_per_split: tuple[int, int, int] | None = None,
) -> list[Clip]:
    """List the clips with label (target word, "unknown" or "silence"), speaker and split.

    `silence_per_split=None` picks, for each split, the mean number of clips of
    one target word in that split (so silence is about as frequent as a word).
    """
    path = require_dir(root, "Speech Commands")
    words = word_dirs(path)
    if not words:
        raise DatasetError(f"Speech Commands: no word folders in {path}")
    names = {w.name for w in words}
    missing = [t for t in targets if t not in names]
    if missing:
        raise DatasetError(f"Speech Commands: target words {missing} have no folder in {path}")
    validation = _read_list(path / "validation_list.txt")
    testing = _read_list(path / "testing_list.txt")
    clips: list[Clip] = []
    for word_dir in words:
        word = word_dir.name
        if word in targets:
            label = word
        elif unknown:
            label = "unknown"
        else:
            continue
        for wav in word_dir.glob("*.wav"):
            rel = f"{word}/{wav.name}"
            split = "validation" if rel in validation else "test" if rel in testing else "train"
            clips.append(Clip(path=wav, label=label, speaker=_speaker(wav), split=split))
    if not clips:
        raise DatasetError(f"Speech Commands: no .wav files under {path}")
    if silence:
        if silence_per_split is None:
            per_target = []
            for split in SPLITS:
                n = sum(1 for c in clips if c.split == split and c.label in targets)
                per_target.append(max(1, round(n / max(1, len(targets)))))
            silence_per_split = (per_target[0], per_target[1], per_target[2])
        clips.extend(silence_clips(background_noise_files(path), silence_per_split))
    return sort_clips(clips)


def download_speech_commands(
    dest: Path | str,
    version: str = "v0.02",
    url: str | None = None,
    sha256: str | None = None,
    extract: bool = True,
    progress: bool = True,
) -> Path:
    """Download (resumable) and extract the official archive into `dest/speech_commands_<version>/`.

    Returns the extracted dataset folder (or the archive when `extract=False`).
    `url` / `sha256` override the official ones (mirrors, tests).
    """
    from listener.training.datasets.download import download_file, extract_tar

    if version not in URLS:
        raise DatasetError(f"Speech Commands: unknown version {version!r} (v0.01 or v0.02)")
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    url = url or URLS[version]
    archive = dest / f"speech_commands_{version}.tar.gz"
    download_file(url, archive, sha256=sha256 or SHA256[version], progress=progress)
    if not extract:
        return archive
    target = dest / f"speech_commands_{version}"
    extract_tar(archive, target)
    return target
