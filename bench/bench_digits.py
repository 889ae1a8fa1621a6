"""The digits card's accuracy: the shipped files on held-out speakers, through ``listener analyze``'s pipeline.

    python -m bench.bench_digits --card     # print the card's tables from the JSON files, measure nothing
    python -m bench.bench_digits [--data ../shared/data (or LISTENER_DATA)] [--part test]
                                 [--models assets/digits.fp32.onnx assets/digits.onnx]
                                 [--sweep 0.5 0.6 0.7 0.8 0.9] [--tails 1280 2560 3840 16352]
                                 [--blank-penalties 0 0.5 1 2] [--eight-bit] [--levels -30 -40 -50 [--no-vad-gain]]
                                 [--voice-shifts 0.85 0.92 1.08 1.2 [--there-and-back]] [--tempos 0.8 1.2 1.5]
                                 [--codecs opus_0.9 opus_0.95 opus_0.99 vorbis_0.8 mp3_0.5] [--non-speech]
                                 [--out docs/models/digits/bench_digits.json]

Each recording goes through the runtime's own pipeline (gate, frames, CTC decoder at the
model's own threshold and tail), as ``listener analyze`` treats a file holding it; the
scoring is ``listener.training.evaluate_strings`` (AN4 connected strings: digits right =
1 - edit distance / reference digits and exact strings; FSDD nicolas/theo and the Speech
Commands testing list: isolated digits; false digits per 100 words on AN4 test utterances
without digits and SC's other words; false digits per minute on the SC background noise
test region and ESC-10 fold 5). ``--sweep``: the INT8 file again at other thresholds (the
trade between digits and false digits); ``--tails``: the INT8 file again with other
``frame_tail_samples`` (how far past each voiced region frames are computed: the digits
found against the frames computed, i.e. the CPU); ``--blank-penalties``: every file again
with the decoder's ``blank_penalty`` at each value (the config file's tuning knob);
``--eight-bit``: AN4 and FSDD again as 8-bit recordings (``evaluate_strings.eight_bit_versions``);
``--levels``: AN4 and FSDD again with every recording's peak at each level (dBFS: a quiet microphone,
``evaluate_strings.score_levels``); ``--no-vad-gain``: every score with the gate's ``vad_gain`` off
(webrtcvad hears the audio as it is, as before 2026-11-30); ``--voice-shifts``: AN4 and FSDD again
with every voice's pitch and formants scaled by each factor, tempo kept (a deeper or higher voice than
the training speakers; ``evaluate_strings.score_voice_shifts``, needs the ``sox`` program);
``--there-and-back``: the control as well, every voice shifted by each factor and back (the voice
unchanged: what the pitch effect's artifacts alone cost); ``--tempos``: AN4 and FSDD again said
faster or slower by each factor, the voice kept (``evaluate_strings.score_tempos``, sox too);
``--codecs``: AN4 and FSDD again coded and decoded by lossy codecs, as voice notes, calls and
compressed uploads reach a user (``strings.CODECS``: Opus, Vorbis, MP3 through libsndfile).
``--non-speech``: also music, sound effects and synthetic sounds that neither model trains on
(``evaluate_strings.non_speech_recordings``: the sounds model's held-out pool without its speech),
false digits a minute in sounds beyond one ESC-10 fold; the same set for either part (recipes are
judged on it, so it is validation data). ``--part validation`` scores the validation speakers
instead (what the settings were chosen on). ``--stamp`` (test part only) writes each file's test
figures into its own ``accuracy`` metadata (:func:`test_accuracy`), so a user reading the model's
metadata sees the card's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.machine import machine
from bench.record import write_record
from listener.classifier import Classifier, ClassifierOptions
from listener.config import PipelineOptions
from listener.export.onnx_export import set_metadata
from listener.training.ctc_corpus import FINAL_FIT_NOTE
from listener.training.evaluate import CachedClassifier
from listener.training.evaluate_strings import (
    PARTS,
    digit_sets,
    log_digits,
    non_speech_recordings,
    score_codecs,
    score_eight_bit,
    score_levels,
    score_sets,
    score_tempos,
    score_voice_shifts,
    summarize,
    with_settings,
)
from listener.training.strings import CODECS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("LISTENER_DATA", ROOT.parent / "shared" / "data"))
MODELS = (ROOT / "assets" / "digits.fp32.onnx", ROOT / "assets" / "digits.onnx")
RESULTS = ROOT / "docs" / "models" / "digits"
CARD_BEGIN = "<!-- tables: python -m bench.bench_digits --card -->"
CARD_END = "<!-- end of tables -->"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _sweep_table(result: dict) -> list[str]:
    """Digits right and false digits at each threshold of a ``--sweep``."""
    out = [
        "| threshold | AN4 digits right | FSDD | SC digits | false / 100 words AN4 | false / 100 words SC | "
        "ESC-10 false / min |",
        "|---|---|---|---|---|---|---|",
    ]
    for t, s in result.get("threshold_sweep", {}).get("by_threshold", {}).items():
        out.append(
            f"| {float(t):.1f} | {_pct(s['an4']['digits_right'])} | {_pct(s['fsdd']['digits_right'])} | "
            f"{_pct(s['speech_commands']['digits_right'])} | {s['an4']['false_per_100_words']:.2f} | "
            f"{s['speech_commands']['false_per_100_words']:.2f} | {s['esc10']['false_per_minute']:.2f} |"
        )
    return out


def penalty_table(result: dict) -> list[str]:
    """Digits right and false digits at each ``blank_penalty`` of a ``--blank-penalties`` run, per file."""
    out = [
        "| blank_penalty | file | AN4 digits right | FSDD | SC digits | false digits in AN4 / SC words | "
        "ESC-10 false / min | AN4 teens and tens: extra digits |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b, by_file in result.get("blank_penalty_sweep", {}).items():
        for variant, s in by_file.items():
            out.append(
                f"| {float(b):g} | {variant} | {_pct(s['an4']['digits_right'])} | {_pct(s['fsdd']['digits_right'])} | "
                f"{_pct(s['speech_commands']['digits_right'])} | {s['an4']['false_digits']} / "
                f"{s['speech_commands']['false_digits']} | {s['esc10']['false_per_minute']:.2f} | "
                f"{s['an4'].get('confusable_extra_digits', '-')} |"
            )
    return out


def _non_speech_row(f32: dict, i8: dict) -> tuple[str, str, str, str]:
    """The card's row for ``--non-speech``: false digits a minute in sounds no model trains on."""
    return (
        f"false digits per minute: music, effects and synthetic sounds no model trains on "
        f"({i8['non_speech']['noise_minutes']} min; `--non-speech`)",
        "",
        f"{f32['non_speech']['false_per_minute']:.2f}",
        f"{i8['non_speech']['false_per_minute']:.2f}",
    )


def card_tables(test: dict, validation: dict, extra: list[str] | tuple[str, ...] = ()) -> str:
    """The digits card's accuracy tables, rendered from bench_digits.json and its validation twin
    (``extra``: more lines at the end, inside the card's markers)."""
    f32, i8 = test["models"]["fp32"]["sets"], test["models"]["int8"]["sets"]
    fsdd8, fsdd32 = i8["fsdd"]["digits_right_by_group"], f32["fsdd"]["digits_right_by_group"]
    rows = [
        ("AN4 test speakers (10), connected strings: digits right", ">= 97%",
         _pct(f32["an4"]["digits_right"]), _pct(i8["an4"]["digits_right"])),
        (f"AN4 test: strings exact (of {i8['an4']['with_digits']})", "reported",
         str(f32["an4"]["exact"]), str(i8["an4"]["exact"])),
        (f"FSDD held-out speakers nicolas + theo, isolated ({i8['fsdd']['with_digits']} clips)", ">= 97%",
         _pct(f32["fsdd"]["digits_right"]), _pct(i8["fsdd"]["digits_right"])),
        ("... nicolas / theo", "", f"{_pct(fsdd32['nicolas'])} / {_pct(fsdd32['theo'])}",
         f"{_pct(fsdd8['nicolas'])} / {_pct(fsdd8['theo'])}"),
        (f"Speech Commands testing list, isolated digits ({i8['speech_commands']['with_digits']} clips)", "reported",
         _pct(f32["speech_commands"]["digits_right"]), _pct(i8["speech_commands"]["digits_right"])),
        (f"false digits per 100 words: AN4 test utterances without digits ({i8['an4']['words']} words)", "<= 1",
         f"{f32['an4']['false_per_100_words']:.2f}", f"{i8['an4']['false_per_100_words']:.2f}"),
        (f"false digits per 100 words: Speech Commands testing list, other words ({i8['speech_commands']['words']})",
         "<= 1", f"{f32['speech_commands']['false_per_100_words']:.2f}",
         f"{i8['speech_commands']['false_per_100_words']:.2f}"),
        *(
            [
                (f"AN4 test utterances that say a teen or a ten ({i8['an4']['confusable_recordings']}; "
                 f"{i8['an4']['confusable_words']} such words, e.g. \"six thirty five\"): digits right", "reported",
                 _pct(f32["an4"]["confusable_digits_right"]), _pct(i8["an4"]["confusable_digits_right"])),
                ("... digits logged beyond those said, per 100 teens and tens", "<= 1",
                 f"{f32['an4']['confusable_extra_per_100']:.2f}", f"{i8['an4']['confusable_extra_per_100']:.2f}"),
            ]
            if "confusable_words" in i8["an4"]
            else []
        ),
        (f"false digits per minute: SC background noise, test region ({i8['noise']['noise_minutes']} min)", "",
         f"{f32['noise']['false_per_minute']:.2f}", f"{i8['noise']['false_per_minute']:.2f}"),
        (f"false digits per minute: ESC-10 fold 5 ({i8['esc10']['noise_minutes']} min)", "",
         f"{f32['esc10']['false_per_minute']:.2f}", f"{i8['esc10']['false_per_minute']:.2f}"),
        *([_non_speech_row(f32, i8)] if "non_speech" in i8 else []),
    ]  # fmt: skip
    m32, m8 = test["models"]["fp32"], test["models"]["int8"]
    out = [
        f"Test speakers ({test['date']}, {test['machine']}; `{test['command'].strip()}`):",
        "",
        f"| test set | goal | FP32 ({m32['bytes']:,} bytes) | INT8 ({m8['bytes']:,} bytes) |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"The threshold trades digits for false digits (INT8, test sets; the shipped {m8['threshold']} was chosen on "
        "validation speakers, `--threshold` changes it):",
        "",
        *_sweep_table(test),
    ]
    v32, v8 = validation["models"]["fp32"]["sets"], validation["models"]["int8"]["sets"]
    out += [
        "",
        f"Validation speakers (what the variant, threshold and tail were chosen on; {validation['date']}; "
        f"`{validation['command'].strip()}`){_final_fit_note(validation)}:",
        "",
        "| validation set | FP32 | INT8 |",
        "|---|---|---|",
        f"| AN4 validation speakers (10), digits right (exact strings of {v8['an4']['with_digits']}) | "
        f"{_pct(v32['an4']['digits_right'])} ({v32['an4']['exact']}) | {_pct(v8['an4']['digits_right'])} "
        f"({v8['an4']['exact']}) |",
        f"| FSDD yweweler ({v8['fsdd']['with_digits']} clips) | {_pct(v32['fsdd']['digits_right'])} | "
        f"{_pct(v8['fsdd']['digits_right'])} |",
        f"| Speech Commands validation list, digits ({v8['speech_commands']['with_digits']} clips) | "
        f"{_pct(v32['speech_commands']['digits_right'])} | {_pct(v8['speech_commands']['digits_right'])} |",
        f"| false digits per 100 words, AN4 / SC | {v32['an4']['false_per_100_words']:.2f} / "
        f"{v32['speech_commands']['false_per_100_words']:.2f} | {v8['an4']['false_per_100_words']:.2f} / "
        f"{v8['speech_commands']['false_per_100_words']:.2f} |",
        f"| false digits per minute, ESC-10 fold 4 | {v32['esc10']['false_per_minute']:.2f} | "
        f"{v8['esc10']['false_per_minute']:.2f} |",
    ]
    if "non_speech" in v8:
        name, _, a, b = _non_speech_row(v32, v8)
        out.append(f"| {name} | {a} | {b} |")
    if "confusable_words" in v8["an4"]:
        out.append(
            f"| AN4 utterances with a teen or a ten ({v8['an4']['confusable_recordings']}; "
            f"{v8['an4']['confusable_words']} such words): digits right, extra digits per 100 of them | "
            f"{_pct(v32['an4']['confusable_digits_right'])}, {v32['an4']['confusable_extra_per_100']:.2f} | "
            f"{_pct(v8['an4']['confusable_digits_right'])}, {v8['an4']['confusable_extra_per_100']:.2f} |"
        )
    out += ["", "The same trade on the validation speakers:", "", *_sweep_table(validation)]
    tails = validation.get("tail_sweep", {}).get("by_tail", {})
    if tails:
        out += [
            "",
            "`frame_tail_samples` (INT8, validation): how far past each voiced region frames are computed, "
            "against the digits found and the frames computed (the CPU):",
            "",
            "| tail (samples) | AN4 digits right | FSDD | false / 100 words AN4 | frames computed (all sets) |",
            "|---|---|---|---|---|",
        ]
        for t, s in tails.items():
            frames = sum(x["frames"] for x in s.values())
            out.append(
                f"| {t} | {_pct(s['an4']['digits_right'])} | {_pct(s['fsdd']['digits_right'])} | "
                f"{s['an4']['false_per_100_words']:.2f} | {frames:,} |"
            )
    return "\n".join([CARD_BEGIN, "", *out, *extra, "", CARD_END])


def _final_fit_note(result: dict) -> str:
    """Said under the validation table when its files trained on AN4's and FSDD's validation speakers."""
    if not any(FINAL_FIT_NOTE in m.get("training_data", "") for m in result["models"].values()):
        return ""
    return (
        ". These files are a final fit: AN4's ten validation speakers and FSDD yweweler trained too, so their "
        "rows say nothing about strangers; the Speech Commands, ESC-10 and non-speech rows stay held out"
    )


def published_tables() -> str:
    """:func:`card_tables` of the committed JSON files, and the ``blank_penalty`` trade where it was run."""
    test = json.loads((RESULTS / "bench_digits.json").read_text())
    validation = json.loads((RESULTS / "bench_digits_validation.json").read_text())
    extra = []
    for part, name in (
        ("validation", "bench_digits_blank_penalty.json"),
        ("test", "bench_digits_blank_penalty_test.json"),
    ):
        path = RESULTS / name
        if path.is_file():
            r = json.loads(path.read_text())
            extra += [
                "",
                f"`blank_penalty` on the {part} speakers ({r['date']}; `{r['command'].strip()}`):",
                "",
                *penalty_table(r),
            ]
    return card_tables(test, validation, extra)


def test_accuracy(sets: dict) -> dict:
    """The metadata's ``accuracy`` for one file: its figures on the test speakers (``sets``: one model's
    ``score_sets`` on ``--part test``)."""
    an4, sc = sets["an4"], sets["speech_commands"]
    return {
        "test_set": "held-out speakers, through listener analyze's pipeline (python -m bench.bench_digits; "
        "docs/models/digits.md)",
        "an4_test_digits_right_pct": an4["digits_right"],
        "an4_test_exact_strings": f"{an4['exact']}/{an4['with_digits']}",
        "fsdd_nicolas_theo_pct": sets["fsdd"]["digits_right"],
        "speech_commands_test_digits_pct": sc["digits_right"],
        "false_digits_per_100_words_an4": an4["false_per_100_words"],
        "false_digits_per_100_words_sc": sc["false_per_100_words"],
        "false_digits_per_minute_esc10": sets["esc10"]["false_per_minute"],
        "false_digits_per_minute_sc_noise": sets["noise"]["false_per_minute"],
    }


def stamp(path: Path, sets: dict) -> None:
    """Write :func:`test_accuracy` into the file's metadata, the rest of it unchanged."""
    info = Classifier(path).info
    info.accuracy = test_accuracy(sets)
    set_metadata(Path(path), info)


def write_result(out: Path, result: dict) -> None:
    """The bench's JSON record and a line saying where it went and how long the run took."""
    write_record(out, result, indent=1, detail=f" ({result['wall_s']} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--part", choices=PARTS, default="test")
    ap.add_argument("--models", type=Path, nargs="+", default=list(MODELS))
    ap.add_argument("--sweep", type=float, nargs="*", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--tails", type=int, nargs="*", default=[])
    ap.add_argument("--blank-penalties", type=float, nargs="*", default=[])
    ap.add_argument("--eight-bit", action="store_true", help="also score AN4 and FSDD as 8-bit recordings")
    ap.add_argument("--levels", type=float, nargs="*", default=[], help="also score AN4 and FSDD at these peaks (dBFS)")
    ap.add_argument(
        "--voice-shifts",
        type=float,
        nargs="*",
        default=[],
        help="also score AN4 and FSDD with deeper / higher voices (0.85 1.2)",
    )
    ap.add_argument("--tempos", type=float, nargs="*", default=[], help="also score AN4 and FSDD said faster / slower")
    ap.add_argument("--there-and-back", action="store_true", help="--voice-shifts' control: shift and shift back")
    ap.add_argument(
        "--codecs",
        nargs="*",
        default=[],
        choices=list(CODECS),
        help="also score AN4 and FSDD coded and decoded by these lossy codecs (voice notes, calls)",
    )
    ap.add_argument("--no-vad-gain", action="store_true", help="webrtcvad hears the audio as it is (vad_gain off)")
    ap.add_argument(
        "--non-speech",
        action="store_true",
        help="also score music, effects and synthetic sounds no model trains on (the sounds model's held-out pool)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--card", action="store_true", help="print the card's tables from the JSON files and exit")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "models" / "digits" / "bench_digits.json")
    ap.add_argument("--stamp", action="store_true", help="write the test figures into each file's accuracy metadata")
    args = ap.parse_args(argv)
    if args.card:
        print(published_tables())
        return 0
    if args.stamp and args.part != "test":
        raise SystemExit("bench_digits: --stamp writes test figures; it needs --part test")
    if any(f <= 0 for f in args.voice_shifts):
        raise SystemExit("bench_digits: --voice-shifts takes factors above 0 (0.85: a deeper voice, 1.2: a higher one)")
    if any(f <= 0 for f in args.tempos):
        raise SystemExit("bench_digits: --tempos takes factors above 0 (1.3: 30% faster, 0.8: slower)")
    if args.there_and_back and not args.voice_shifts:
        raise SystemExit("bench_digits: --there-and-back is the control of --voice-shifts; give the factors too")
    if (args.voice_shifts or args.tempos) and shutil.which("sox") is None:
        raise SystemExit("bench_digits: --voice-shifts and --tempos need the sox program (apt install sox)")
    if not args.data.is_dir():
        raise SystemExit(f"bench_digits: no data folder {args.data} (pass --data or set LISTENER_DATA)")
    t0 = time.perf_counter()
    sets = digit_sets(args.data, args.part)
    if args.non_speech:
        sets["non_speech"] = non_speech_recordings(args.data, log=lambda m: None)
    print(f"{args.part} sets: {', '.join(f'{k} {len(v)}' for k, v in sets.items())} ({time.perf_counter() - t0:.1f} s)")
    result: dict = {
        "benchmark": "digits card accuracy through listener analyze's pipeline (listener.training.evaluate_strings)",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": "python -m bench.bench_digits " + " ".join(argv if argv is not None else sys.argv[1:]),
        "part": args.part,
        "audio_minutes": {k: round(sum(len(r.audio) for r in v) / 16000 / 60, 2) for k, v in sets.items()},
        "models": {},
    }
    last = None
    options = PipelineOptions(vad_gain=not args.no_vad_gain)
    result["vad_gain"] = options.vad_gain
    scored: list[tuple[Path, dict]] = []  # (file, its entry)
    penalised: dict[str, dict] = {str(b): {} for b in args.blank_penalties}
    for path in args.models:
        clf = Classifier.from_options(ClassifierOptions(model=str(path), threads=args.threads))
        info = clf.info
        cached = CachedClassifier(clf)
        cached.info = info
        entry = {
            "file": str(Path(path).resolve().relative_to(ROOT))
            if Path(path).resolve().is_relative_to(ROOT)
            else str(path),
            "bytes": Path(path).stat().st_size,
            "version": info.version,
            "training_data": info.training_data,
            "variant": info.variant,
            "threshold": info.threshold,
            "thresholds": info.thresholds,
            "frame_tail_samples": info.frame_tail_samples,
            "sets": score_sets(cached, sets, options),
        }
        if args.levels:
            entry["levels"] = score_levels(cached, sets, args.levels, options)
            got = {db: {k: v["digits_right"] for k, v in by.items()} for db, by in entry["levels"].items()}
            print(f"  {info.variant} levels: {json.dumps(got)}")
        if args.voice_shifts:
            entry["voice_shifts"] = score_voice_shifts(cached, sets, args.voice_shifts, options)
            print(f"  {info.variant} voice shifts: {json.dumps(entry['voice_shifts'])}")
            if args.there_and_back:
                back = score_voice_shifts(cached, sets, args.voice_shifts, options, there_and_back=True)
                entry["voice_shifts_there_and_back"] = back
                print(f"  {info.variant} voice shifts there and back: {json.dumps(back)}")
        if args.tempos:
            entry["tempos"] = score_tempos(cached, sets, args.tempos, options)
            print(f"  {info.variant} tempos: {json.dumps(entry['tempos'])}")
        if args.codecs:
            entry["codecs"] = score_codecs(cached, sets, args.codecs, options)
            print(f"  {info.variant} codecs: {json.dumps(entry['codecs'])}")
        if args.eight_bit:
            entry["eight_bit"] = score_eight_bit(cached, sets, options)
            print(f"  {info.variant} 8-bit: {json.dumps(entry['eight_bit'])}")
        result["models"][info.variant] = entry
        scored.append((Path(path), entry))
        for b in args.blank_penalties:
            penalty = PipelineOptions(blank_penalty=b, vad_gain=options.vad_gain)
            penalised[str(b)][info.variant] = {n: summarize(log_digits(cached, r, penalty)) for n, r in sets.items()}
            got = penalised[str(b)][info.variant]
            print(
                f"  {info.variant} blank_penalty {b}: " + json.dumps({k: v.get("digits_right") for k, v in got.items()})
            )
        last = (cached, info)
    if penalised:
        result["blank_penalty_sweep"] = penalised
    if args.sweep and last is not None:
        cached, info = last
        sweep = {}
        for t in args.sweep:
            tuned = with_settings(cached, threshold=t)
            sweep[str(t)] = {name: summarize(log_digits(tuned, recs, options)) for name, recs in sets.items()}
        result["threshold_sweep"] = {"variant": info.variant, "by_threshold": sweep}
    if args.tails and last is not None:
        _, info = last
        clf = Classifier.from_options(ClassifierOptions(model=str(args.models[-1]), threads=args.threads))
        tails = {}
        for t in args.tails:
            tuned = with_settings(clf, tail=t)
            tails[str(t)] = {name: summarize(log_digits(tuned, recs, options)) for name, recs in sets.items()}
            print(f"  tail {t}: " + json.dumps({k: v.get("digits_right") for k, v in tails[str(t)].items()}))
        result["tail_sweep"] = {"variant": info.variant, "threshold": info.threshold, "by_tail": tails}
    if args.stamp:
        for path, entry in scored:
            stamp(path, entry["sets"])
            entry["bytes"] = path.stat().st_size  # the metadata changed the file's size
            print(f"stamped {path}")
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
