"""What the digits model logs for phrases said by synthetic voices: strings, names, teens and tens.

    python -m bench.bench_phrases [--model assets/digits.onnx] [--voices en-us en-gb ...]
                                  [--out bench/results/phrases.json]

Each phrase is said by espeak-ng (one utterance per phrase and voice, default speed) and run
through ``listener analyze``'s pipeline (``listener.pipeline.analyze_array``: the model's gate,
frames and decoder at its own threshold). A phrase is *right* when the digits logged are
exactly the digits said (none for a phrase without digits). The voices are synthetic and the
digits model trains on other espeak-ng phrases, so this is a check of rejection and strings,
not an accuracy figure: those come from real speakers (``bench.bench_digits``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bench.machine import machine
from bench.record import write_record
from listener.classifier import Classifier, ClassifierOptions
from listener.config import PipelineOptions
from listener.pipeline import analyze_array
from listener.training.datasets.base import load_audio

ROOT = Path(__file__).resolve().parents[1]

# (what is said, the digits a perfect listener logs)
PHRASES: tuple[tuple[str, str], ...] = (
    ("four seven two", "472"),
    ("oh eight one five", "0815"),
    ("my number is eight eight five one one two", "885112"),
    ("nine ninety nine", "99"),
    ("Jennifer Smith", ""),
    ("Robert Miller", ""),
    ("hello world", ""),
    ("ninety", ""),
    ("nineteen", ""),
    ("seventy", ""),
    ("eighteen", ""),
    ("sixty", ""),
    ("fifteen", ""),
    ("twelve", ""),
    ("thirteen", ""),
    ("forty", ""),
    ("hundred", ""),
)
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland")


def say(text: str, voice: str, folder: Path) -> Path:
    """``text`` as espeak-ng says it in ``voice``, as a WAV file."""
    path = folder / f"{abs(hash((text, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "assets" / "digits.onnx")
    ap.add_argument("--voices", nargs="+", default=list(VOICES), help="espeak-ng voices")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "phrases.json")
    args = ap.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        raise SystemExit("bench_phrases: espeak-ng is not installed (apt-get install espeak-ng)")
    if not args.model.is_file():
        raise SystemExit(f"bench_phrases: no model file {args.model}")
    clf = Classifier.from_options(ClassifierOptions(model=str(args.model), threads=1))
    info = clf.info
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for text, said in PHRASES:
            for voice in args.voices:
                audio = load_audio(say(text, voice, Path(tmp)), info.sample_rate)
                result = analyze_array(audio, clf, PipelineOptions(), source_name=text)
                labels = [(d.label, round(float(d.confidence), 2)) for d in result.detections]
                logged = "".join(info.symbols[label] for label, _ in labels)
                rows.append({"said": text, "voice": voice, "digits": said, "logged": logged, "labels": labels})
    right = sum(r["logged"] == r["digits"] for r in rows)
    result = {
        "benchmark": "phrases said by espeak-ng voices through listener analyze's pipeline",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "python -m bench.bench_phrases " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": info.model_id,
        "threshold": info.threshold,
        "right": right,
        "phrases": len(rows),
        "rows": rows,
    }
    write_record(args.out, result, indent=1)
    print(f"| said | digits said | {' | '.join(args.voices)} |")
    print(f"|---|---|{'---|' * len(args.voices)}")
    for text, said in PHRASES:
        cells = []
        for r in (r for r in rows if r["said"] == text):
            mark = "" if r["logged"] == said else "**"  # bold: not the digits said
            cells.append(f"{mark}{r['logged'] or 'nothing'}{mark}")
        print(f"| {text} | {said or '-'} | {' | '.join(cells)} |")
    print(f"{right} of {len(rows)} right ({info.model_id}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
