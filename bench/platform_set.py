"""The recordings for comparing two platforms (x86-64 and an emulated Pi, docs/raspberry-pi.md), as WAV files.

    python -m bench.platform_set /tmp/arm/set [--data ../shared/data]

``digits/``: 146 validation recordings of the digits recipe (3.1 minutes): four of AN4's
validation speakers (``an4.VAL_SPEAKERS``: fbbh, fkai, mjbh, mmap; connected strings and other
words), FSDD yweweler's takes 0-4 of each digit, and every clip of the Speech Commands sample's
``validation_list.txt`` (digits and other words). ``sounds/``: ESC-10 fold 4 (80 clips). Short
enough for a run under emulation (about ten minutes each); none is a test recording.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf

from bench.corpus import DATA

AN4_SPEAKERS = ("fbbh", "fkai", "mjbh", "mmap")  # of an4.VAL_SPEAKERS


def write_set(data: Path, out: Path) -> tuple[int, int]:
    """Write the two folders; (digits files, sounds files)."""
    digits, sounds = out / "digits", out / "sounds"
    digits.mkdir(parents=True, exist_ok=True)
    sounds.mkdir(parents=True, exist_ok=True)
    sources: list[tuple[Path, Path]] = []
    for spk in AN4_SPEAKERS:
        sources += [(f, digits / f"an4-{f.stem}.wav") for f in sorted((data / "an4/wav/an4_clstk" / spk).glob("*.sph"))]
    sources += [(f, digits / f"fsdd-{f.name}") for f in sorted((data / "fsdd").rglob("*_yweweler_[0-4].wav"))]
    sc = data / "speech_commands_v0.01_sample"
    for rel in (sc / "validation_list.txt").read_text().split():
        if (sc / rel).is_file():
            sources.append((sc / rel, digits / f"sc-{rel.replace('/', '-')}"))
    n_digits = len(sources)
    for f in sorted((data / "esc10").rglob("4-*.ogg")):
        label = f.parent.name.split(" - ", 1)[-1].replace(" ", "_")
        sources.append((f, sounds / f"{label}-{f.stem}.wav"))
    for src, dst in sources:
        audio, rate = sf.read(src)
        sf.write(dst, audio, rate, subtype="PCM_16")
    return n_digits, len(sources) - n_digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write digits/ and sounds/ into")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the datasets (default: {DATA})")
    args = parser.parse_args(argv)
    need = [args.data / p for p in ("an4/wav/an4_clstk", "fsdd", "speech_commands_v0.01_sample", "esc10")]
    missing = [str(p) for p in need if not p.exists()]
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    n_digits, n_sounds = write_set(args.data, args.out)
    print(f"{args.out}: digits/ {n_digits} recordings, sounds/ {n_sounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
