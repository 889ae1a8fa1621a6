"""Do two detection logs of the same recordings agree? (another machine, CPU or ONNX Runtime build, another model file)

    listener analyze DIR --log a.jsonl                 # on one machine
    listener analyze DIR --log b.jsonl                 # on the other (or with another --model)
    python -m bench.compare_logs a.jsonl b.jsonl --names x86_64 aarch64 --files DIR --out bench/results/X.json

Recordings are matched by file name, so the folder may sit elsewhere on each machine. A recording
agrees when both logs hold the same labels in the same order (a file neither log mentions logged
nothing in both: ``--files`` counts them). For the detections of agreeing recordings, paired in
order: how far their confidences and their ``stream_s`` differ. INT8 kernels differ between CPU
families, so confidences move a little and a detection near the threshold can come or go; this
says how often that changes what a user sees.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.corpus import read_detections
from bench.machine import machine
from listener.audio import audio_files


@dataclass
class Difference:
    """One recording whose two logs hold different labels."""

    file: str
    a: list[str]
    b: list[str]


@dataclass
class Agreement:
    """Two logs of the same recordings, compared."""

    names: tuple[str, str]
    files: int  # recordings compared: the --files count, else those named in either log
    files_agree: int
    detections: tuple[int, int]
    max_confidence_delta: float  # over the paired detections of agreeing recordings
    max_stream_delta_s: float
    differences: list[Difference] = field(default_factory=list)


def by_file(rows: list[dict]) -> dict[str, list[dict]]:
    """Detections grouped by the base name of their ``source``, in log order."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(Path(str(r.get("source", ""))).name, []).append(r)
    return out


def compare(a: list[dict], b: list[dict], names: tuple[str, str], n_files: int | None = None) -> Agreement:
    """Compare detection rows of two logs; ``n_files``: how many recordings were analysed (None: those logged)."""
    fa, fb = by_file(a), by_file(b)
    logged = sorted(set(fa) | set(fb))
    diffs: list[Difference] = []
    dconf = dstream = 0.0
    for name in logged:
        la = [r["label"] for r in fa.get(name, [])]
        lb = [r["label"] for r in fb.get(name, [])]
        if la != lb:
            diffs.append(Difference(name, la, lb))
            continue
        for ra, rb in zip(fa[name], fb[name]):
            dconf = max(dconf, abs(float(ra["confidence"]) - float(rb["confidence"])))
            dstream = max(dstream, abs(float(ra["stream_s"]) - float(rb["stream_s"])))
    files = max(n_files, len(logged)) if n_files is not None else len(logged)
    return Agreement(
        names=names,
        files=files,
        files_agree=files - len(diffs),
        detections=(len(a), len(b)),
        max_confidence_delta=round(dconf, 4),
        max_stream_delta_s=round(dstream, 3),
        differences=diffs,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("logs", nargs=2, type=Path, help="two JSONL logs of `listener analyze` (--log)")
    parser.add_argument("--names", nargs=2, default=None, help="what each log is (default: their file names)")
    parser.add_argument("--files", type=Path, help="the folder both runs analysed (counts files neither log names)")
    parser.add_argument("--out", type=Path, help="write the comparison here as JSON")
    args = parser.parse_args(argv)
    rows = []
    for path in args.logs:
        if not path.is_file():
            print(f"error: no such log: {path}", file=sys.stderr)
            return 2
        try:
            rows.append(read_detections(path))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            print(f"error: {path} is not a JSONL detection log ({e})", file=sys.stderr)
            return 2
        if any("label" not in r or "source" not in r for r in rows[-1]):
            print(f"error: {path}: detection lines without label or source (not an analyze log?)", file=sys.stderr)
            return 2
    if args.files is not None and not args.files.is_dir():
        print(f"error: no such folder: {args.files}", file=sys.stderr)
        return 2
    names = tuple(args.names) if args.names else (args.logs[0].name, args.logs[1].name)
    n_files = len(audio_files(args.files, notice=lambda _: None)) if args.files is not None else None
    result = compare(rows[0], rows[1], names, n_files)  # type: ignore[arg-type]
    print(
        f"{result.files_agree} of {result.files} recordings log the same labels in {names[0]} and {names[1]}; "
        f"detections {result.detections[0]} / {result.detections[1]}; in agreeing recordings confidences "
        f"differ by at most {result.max_confidence_delta}, stream_s by at most {result.max_stream_delta_s} s"
    )
    for d in result.differences:
        print(f"  {d.file}: {' '.join(d.a) or '-'}  |  {' '.join(d.b) or '-'}")
    if args.out is not None:
        record = {
            "benchmark": "compare_logs",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "compared_on": machine(),
            "command": "python -m bench.compare_logs " + " ".join(sys.argv[1:] if argv is None else argv),
            "logs": [str(p) for p in args.logs],
            **asdict(result),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
