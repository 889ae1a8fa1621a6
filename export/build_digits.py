"""The digits model's recipe, end to end: data -> embedding cache -> training -> export (FP32 + INT8).

    python -m listener.export.build_defaults --only digits [--quick] [--data DIR] [--out DIR]

Stages (each timed, the times land in ``runs/digits/results.json``):

1. data: training items (``training.ctc_corpus``: AN4, FSDD, Speech Commands, sc09, Allison,
   synthetic phrases, joined strings, noise) and the validation sets;
2. cache: ``copies`` padded/augmented copies of every item through the frozen first
   ``n_lower`` backbone convolutions, float16 on disk (``training.embedding_cache``; reused
   when nothing that shapes them changed);
3. train: the last ``finetune`` convolutions + the K-window CTC head (``training.ctc``),
   once per member (``members``: seeds ``seed``, ``seed + 1``, ..., each with its own synthetic
   phrases, joined strings and augmented copies, cached in ``<cache>-seed<N>``), checkpoint
   ``runs/digits/last.pt`` (further members ``last.member2.pt``, ...) after each epoch and on
   Ctrl-C;
4. export: one graph audio -> logits (``export.ctc_export``; members share the front end and
   the frozen convolutions and average their token probabilities), torch vs ONNX parity, the
   streaming check, INT8 on the backbone (and head) convolutions, the contract's metadata;
5. validate: both files on the validation sets, and on the non-speech set that no build trains
   on (:func:`held_out_sets`), through ``listener analyze``'s pipeline
   (``training.evaluate_strings``): digits right, exact strings, false digits, and how often
   INT8 logs what FP32 logs.

Files: ``<out>/digits.fp32.onnx`` and ``<out>/digits.onnx`` (INT8). When ``<out>`` already holds a digits
pair that does better on the sets a final fit holds out (``COMPARED_SETS``: a rebuild's weights are not the
shipped ones, and can be worse), that pair stays and the new one goes to ``<runs>/digits/rebuilt/``
(``--replace``: into ``<out>`` anyway).

``reexport`` (``build_defaults --reexport FILE``): no cache and no training; the weights of an FP32
digits file a build wrote (:func:`file_network`) go through stages 4 and 5 with this recipe's
front end and INT8 settings: what a change to the export alone (the input floor) makes of a
trained network.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from listener.export.bundle import (
    Comparison,
    comparison_line,
    open_previous,
    pair_paths,
    rebuilt_base,
    staged_pair,
    worse_figures,
)
from listener.export.ctc_export import (
    calibration_clips,
    check_streaming,
    ctc_model_info,
    export_ctc_onnx,
    session,
)
from listener.export.frame_context import give_context
from listener.export.onnx_export import load_onnx_weights, set_metadata
from listener.export.parity import ParityError, runtime_classifier
from listener.export.quantize import CTC_INT8, Int8Setup, quantize_by_windows, quantize_int8
from listener.training import interrupt
from listener.training.corpus import cache_root
from listener.training.ctc import (
    AudioToLogits,
    CtcTrainConfig,
    MembersEmbedder,
    MembersHead,
    WindowHead,
    audio_model,
    stacked_model,
    train_ctc,
)
from listener.training.ctc_corpus import (
    FINAL_FIT_NOTE,
    CtcDataConfig,
    an4_items,
    noise_recordings,
    train_items,
    validation_items,
    word_items,
)
from listener.training.embedding_cache import CacheSetup, build_caches
from listener.training.evaluate_strings import Logged, Recording, log_digits, non_speech_recordings, summarize
from listener.training.speech_embedding import (
    OWW_FRONTEND,
    SAMPLE_RATE,
    OwwFrontendConfig,
    SpeechEmbedding,
    UpperBackbone,
    export_lower,
    lower_dim,
)
from listener.training.strings import Item, StringAugment
from listener.training.tokens import tokens_to_digits

VERSION = "2.4"


@dataclass
class DigitsRecipe:
    """Every knob of the digits recipe (the defaults build the shipped model; docs/training.md)."""

    n_synth: int = CtcDataConfig.n_synth  # synthetic phrases (the data amounts' defaults are CtcDataConfig's)
    n_concat: int = CtcDataConfig.n_concat  # strings joined from isolated words
    confusable_p: float = CtcDataConfig.confusable_p  # teens and tens among the phrases' non-digit words
    copies: int = 3  # cached copies of every item: copy 0 clean, the others augmented
    n_lower: int = 17  # frozen, cached backbone convolutions (of 20)
    finetune: int = 3  # trained last backbone convolutions
    k: int = 5  # embeddings each output frame sees (receptive field 12512 + (k-1)*1280 samples)
    hidden: int = 256
    depth: int = 2
    dropout: float = 0.15
    epochs: int = 20
    members: int = 1  # independent trainings (seeds seed, seed+1, ...: data draw, cache, init), averaged in one graph
    batch: int = 64
    lr: float = 2e-3
    backbone_lr_scale: float = 0.3
    align_window: tuple[int, int] = (-3, 2)  # frames around a timed word's end frame its token may fire in
    threshold: float = 0.5  # the metadata's threshold (the shipped value, chosen on validation: see the card)
    int8: Int8Setup = CTC_INT8  # how the INT8 file is quantized (chosen on validation, see the card)
    int8_train_clips: int = 0  # calibration clips of each kind from training speakers and noise (see the card)
    frame_tail_samples: int | None = 2560  # frames computed past the gate's close (chosen on validation, see the card)
    # the runtime's noise in place of the input's exact zeros (the zero_fill_db metadata; None: off): rule 14
    zero_fill_db: float | None = -60.0
    # the front end (OwwFrontendConfig: its top-db clip and noise floor), in the exported graph and in the cache
    # a build computes (a --reexport puts it on weights trained without it: docs/training.md, the eighth rule).
    # Either clip runs the backbone's convolutions once over a call's or a copy's frames (speech_embedding.embed_call);
    # a clip per call ("utterance") would make frames depend on where a call starts: the streaming check refuses it
    frontend: OwwFrontendConfig = OWW_FRONTEND
    augment: StringAugment = field(default_factory=StringAugment)  # the augmented copies' waveform changes
    max_items: int | None = None  # train on this many items only, evenly spread (smoke tests)
    # AN4's and FSDD's validation speakers train too (CtcDataConfig.train_validation_speakers): a final
    # fit, chosen with the two below by a rule on held-out data (docs/models/digits/rules/); the AN4 and
    # FSDD validation figures are then on trained speakers (see the card)
    final_fit: bool = True
    leave_out_speakers: tuple[str, ...] = CtcDataConfig.leave_out_speakers  # AN4 / FSDD speakers that never train
    n_sound_negatives: int = 600  # non-speech sounds of the sounds model's negatives as blank items
    seed: int = 2  # the seed of the shipped 2.2 build (seeds 0 and 1 of this recipe each failed one check)


# A smoke test: every stage, minutes on a laptop, a model that is not meant to be good.
# Without the final fit and the sound negatives: a tiny tree has no validation speakers to spare, and
# the negatives' pool (Debian sound packages, rendered music) is the sounds model's slow stage.
QUICK = DigitsRecipe(
    n_synth=12, n_concat=24, copies=2, hidden=32, epochs=1, batch=16, max_items=150, final_fit=False,
    n_sound_negatives=0,
)  # fmt: skip


def training_data(r: DigitsRecipe) -> str:
    """The metadata's ``training_data``: which speakers and sources a build of recipe `r` trained on."""
    an4 = FINAL_FIT_NOTE if r.final_fit else "minus 10 validation speakers"
    fsdd = "nicolas/theo" if r.final_fit else "yweweler/nicolas/theo"
    text = (
        f"CMU AN4 train speakers ({an4}); FSDD speakers other than {fsdd}; "
        "Speech Commands v0.01 sample + sc09 sample (clips on no list); the Allison prompts "
        "(asterisk-core-sounds-en-wav); espeak-ng, flite and festival phrases; strings joined from the isolated "
        "words; Speech Commands background noise (train region) and ESC-10 folds 1-3 as silence and noise"
    )
    if r.n_sound_negatives:
        text += f"; {r.n_sound_negatives} non-speech clips of the sounds model's training negatives as silence"
    if r.leave_out_speakers:
        text += f"; left out: {', '.join(r.leave_out_speakers)}"
    return text


@contextmanager
def _stage(times: dict[str, float], name: str, log: Callable[[str], None]):
    interrupt.check()  # a Ctrl-C the last stage lost (see training/interrupt.py)
    t0 = time.time()
    yield
    times[name] = round(time.time() - t0, 1)
    log(f"[stage] {name}: {times[name]:.1f} s")


def recordings(items: list[Item]) -> list[Recording]:
    """Validation items as ``evaluate_strings`` scores them (the reference digits, the words said)."""
    return [
        Recording(f"{it.source}:{i}", it.audio, tokens_to_digits(it.tokens), len(it.words), it.speaker)
        for i, it in enumerate(items)
    ]


def held_out_sets(cfg: CtcDataConfig, log: Callable[[str], None] = print) -> dict[str, list[Recording]]:
    """Sets scored beside the validation sets that no build trains on, final fit or not: the non-speech
    set (game music and effects, desktop and synthetic sounds: ``evaluate_strings.non_speech_recordings``,
    the set ``bench_digits --non-speech`` scores), so a build's log says its false digits a minute in
    sounds like those (2.2's build passed at most 2.11). Never used for INT8 calibration."""
    recs = non_speech_recordings(cfg.data_root, cfg.system_root, log)
    return {"non_speech": recs} if recs else {}


def validate(
    paths: dict[str, Path], sets: dict[str, list[Recording]], threads: int = 2
) -> tuple[dict, dict, dict[str, dict[str, list[Logged]]]]:
    """Every set through ``listener analyze``'s pipeline with each file (``evaluate_strings``):
    (variant -> set -> summary, set -> share of recordings where INT8 logs what FP32 logs, variant -> set ->
    what each recording logged)."""
    logged = {}
    for variant, path in paths.items():
        clf = runtime_classifier(path, threads)
        logged[variant] = {name: log_digits(clf, recs) for name, recs in sets.items()}
    scores = {v: {name: summarize(x) for name, x in sets_.items()} for v, sets_ in logged.items()}
    agreement = {
        name: round(float(np.mean([a.digits == b.digits for a, b in zip(fp, logged["int8"][name])])), 4)
        for name, fp in logged["fp32"].items()
    }
    return scores, agreement, logged


HEADLINE = ("digits_right", "false_per_100_words", "false_per_minute")


def headline(sets: dict[str, dict]) -> dict[str, float]:
    """The figures of each validation set that the build logs and writes into the files' ``accuracy``
    (until ``bench_digits --stamp`` puts the test figures there): digits right, and false digits per 100
    words or per minute of non-speech, each where the set has it, so a rebuild's rejection shows
    beside its digits."""
    return {f"{name}_{key}": s[key] for name, s in sets.items() for key in HEADLINE if s.get(key) is not None}


# What a final-fit build holds out (every other validation set trains under it): a rebuild and the pair it
# would replace are compared on these alone, by the figures of `HEADLINE`.
COMPARED_SETS = ("speech_commands", "esc10", "non_speech")  # speech_commands: the `words` set's Speech Commands part


def compared_sets(scored: dict[str, list[Recording]]) -> dict[str, list[Recording]]:
    """``COMPARED_SETS`` out of the sets the validate stage scores (``words`` holds FSDD's validation
    speaker too without the final fit: only its Speech Commands recordings are compared)."""
    sets = {"speech_commands": [r for r in scored.get("words", []) if r.name.startswith("speech_commands:")]}
    sets.update({name: scored[name] for name in COMPARED_SETS if name in scored})
    return {name: recs for name, recs in sets.items() if recs}


def compare_with_previous(
    new: dict[str, list[Logged]], previous: Path, scored: dict[str, list[Recording]], threads: int = 2
) -> Comparison:
    """Score the INT8 file a build found at ``previous`` on ``COMPARED_SETS`` (out of ``scored``, the
    validate stage's sets) against what the build's own INT8 file logged there (``new``: set -> one entry per
    recording of ``scored``, as ``validate`` gives it); a missing file, another kind of model or an
    unreadable one is not compared (the build then writes its pair there, as it always did)."""
    found, old = open_previous(
        previous, threads, lambda i: None if i.is_ctc and i.symbols else f"not a digits sequence model ({i.model_id})"
    )
    if old is None:
        return found
    sets = compared_sets(scored)
    by_recording = {id(r): x for name, recs in scored.items() for r, x in zip(recs, new.get(name, []))}
    found.scores = {
        "new": headline({name: summarize([by_recording[id(r)] for r in recs]) for name, recs in sets.items()}),
        "previous": headline({name: summarize(log_digits(old, recs)) for name, recs in sets.items()}),
    }
    found.worse = worse_figures(found.scores["new"], found.scores["previous"], lambda k: k.endswith("_digits_right"))
    return found


def _spread(items: list, n: int) -> list:
    """`n` of `items`, evenly spread (all of them when there are fewer)."""
    return [items[i] for i in np.linspace(0, len(items) - 1, min(n, len(items))).astype(int)] if items else []


def int8_calibration(
    cfg: CtcDataConfig,
    val: dict[str, list[Item]],
    items: list[Item],
    noise: list[np.ndarray],
    train_clips: int,
    log: Callable[[str], None] = print,
) -> np.ndarray:
    """The INT8 calibration clips, as :func:`calibration_clips` shapes them: about 32 spread over each
    validation set (the training items when there are none), and `train_clips` each of training-speaker
    words (FSDD's 8 kHz speakers, Speech Commands, sc09, Allison), AN4 training utterances and 3-s
    pieces of the training `noise`; never a test speaker."""
    chosen = [it.audio for v in val.values() for it in v[:: max(1, len(v) // 32)]] or [
        it.audio for it in items[:: max(1, len(items) // 96)]
    ]
    if train_clips:
        chosen += [it.audio for it in _spread(word_items(cfg, "train", log), train_clips)]
        chosen += [it.audio for it in _spread(an4_items(cfg, "train", log), train_clips)]
        rng = np.random.default_rng(cfg.seed)
        piece = 3 * SAMPLE_RATE
        for audio in _spread(noise, train_clips):
            start = int(rng.integers(0, max(1, len(audio) - piece)))
            chosen.append(audio[start : start + piece])
    return calibration_clips(chosen)


def quantize_digits(
    net: AudioToLogits, fp32: Path, int8: Path, calibration: np.ndarray, r: DigitsRecipe, probe: np.ndarray
) -> tuple[Path, float | None]:
    """The INT8 file of `net`'s FP32 export `fp32`. Under the per-window clip its calibration reads the same
    network window by window, so both passes of ``embed_call`` get the ranges a window-by-window file has;
    the INT8 logits of `probe` must then equal that file's (their largest difference is returned; None
    without the clip, where one pass is all there is and calibrates itself)."""
    if r.frontend.clip_mode != "window":
        return quantize_int8(fp32, int8, calibration, r.int8), None
    with tempfile.TemporaryDirectory(prefix="listener-digits-") as tmp:
        windows = export_ctc_onnx(net, Path(tmp) / "windows.onnx", one_pass=False)
        return int8, quantize_by_windows(fp32, int8, windows, calibration, r.int8, probe)


class NotADigitsFile(ValueError):
    """A file ``--reexport`` cannot read as a digits network of the recipe."""


def file_network(path: Path, r: DigitsRecipe) -> AudioToLogits:
    """The network of FP32 digits file `path` in torch, shaped by recipe `r` (its members, head, frozen
    convolutions) under `r`'s front end: every weight and head statistic by its name in the file (the
    front end's kernels, fixed numbers, are `r`'s own). A file of another shape is an error that says so."""
    heads = [WindowHead(r.k, r.hidden, r.depth, r.dropout) for _ in range(r.members)]
    if r.members == 1:
        net = AudioToLogits(heads[0], SpeechEmbedding.from_onnx(), frontend=r.frontend)
    else:
        uppers = [UpperBackbone(SpeechEmbedding.from_onnx(), r.n_lower) for _ in range(r.members)]
        embedder = MembersEmbedder(uppers, r.n_lower, r.frontend)
        net = AudioToLogits(MembersHead(heads), embedder=embedder)
    try:
        problems = load_onnx_weights(net, path, skip=("embedder.frontend.",))
    except ValueError as exc:
        raise NotADigitsFile(str(exc)) from exc
    if problems:
        raise NotADigitsFile(
            f"{path} is not a digits file of this recipe ({r.members} member(s), head {r.k}x{r.hidden}, "
            f"depth {r.depth}): {problems[0]}"
        )
    return net.eval()


def build_digits(
    data: Path,
    out: Path,
    runs: Path,
    cache: Path | None = None,
    quick: bool = False,
    recipe: DigitsRecipe | None = None,
    threads: int = 2,
    log: Callable[[str], None] = print,
    system_root: Path = Path("/"),
    reexport: Path | None = None,
    replace_better: bool = False,
) -> dict:
    """Build the digits model from scratch; returns (and writes to ``runs/digits/results.json``) what it measured.
    ``system_root`` is where usr/share holds the Debian sound packages of ``n_sound_negatives``;
    ``reexport``: an FP32 digits file whose weights are exported again instead of training (module doc).
    A digits pair already in ``out`` that does better on the held-out sets stays, and the new pair goes to
    ``runs/digits/rebuilt/`` (``compare_with_previous``), unless ``replace_better``."""
    r = recipe or (QUICK if quick else DigitsRecipe())
    torch.set_num_threads(threads)
    reused = file_network(reexport, r) if reexport is not None else None  # read first: it may be `out`'s own file
    run_dir = runs / "digits"
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = cache or cache_root() / ("digits-ctc-quick" if quick else "digits-ctc")
    times: dict[str, float] = {}
    t_all = time.time()
    cfg = CtcDataConfig(
        data_root=data,
        n_synth=r.n_synth,
        n_concat=r.n_concat,
        confusable_p=r.confusable_p,
        seed=r.seed,
        workers=threads,
        train_validation_speakers=r.final_fit,
        leave_out_speakers=r.leave_out_speakers,
        n_sound_negatives=r.n_sound_negatives,
        system_root=system_root,
    )
    seeds = [r.seed + i for i in range(r.members)]  # member i: its own data draw, cache, init and order
    with _stage(times, "data", log):
        member_items = []
        for seed in seeds if reused is None else seeds[:1]:  # a re-export calibrates on the first member's items
            items = train_items(replace(cfg, seed=seed), log)
            if r.max_items and len(items) > r.max_items:
                items = [items[i] for i in np.linspace(0, len(items) - 1, r.max_items).astype(int)]
            member_items.append(items)
        items = member_items[0]
        noise = noise_recordings(cfg, log)
        val = validation_items(cfg, log)
        held_out = held_out_sets(cfg, log)
        if quick:
            val = {k: v[:: max(1, len(v) // 8)] for k, v in val.items()}
            held_out = {k: v[:: max(1, len(v) // 8)] for k, v in held_out.items()}
    models, histories, member_cached = [], [], []
    if reused is None:  # --reexport: the file's weights, so no cache and no training
        with _stage(times, "cache", log):
            with warnings.catch_warnings():  # torch's note that its TorchScript exporter is the old one
                warnings.simplefilter("ignore")
                # the frozen convolutions once over each copy (speech_embedding.embed_call)
                lower = export_lower(cache / f"lower{r.n_lower}_frames.onnx", r.n_lower, over_frames=True)
            for i, (seed, its) in enumerate(zip(seeds, member_items)):
                setup = CacheSetup(
                    lower, lower_dim(r.n_lower), r.augment, noise, seed, workers=threads, progress=not quick,
                    frontend=r.frontend,
                )  # fmt: skip
                where = member_cache(cache, i, seed)
                member_cached.append(build_caches(its, r.copies, where, setup, {"n_lower": r.n_lower}, log))
        with _stage(times, "train", log):
            for i, (seed, cached) in enumerate(zip(seeds, member_cached)):
                if r.members > 1:
                    log(f"member {i + 1}/{r.members} (seed {seed})")
                torch.manual_seed(seed)  # the head's initial weights
                model = stacked_model(r.n_lower, r.finetune, cached, r.k, r.hidden, r.depth, r.dropout)
                tcfg = CtcTrainConfig(
                    epochs=r.epochs,
                    batch=r.batch,
                    lr=r.lr,
                    backbone_lr_scale=r.backbone_lr_scale,
                    align_window=r.align_window,
                    seed=seed,
                    progress=not quick,
                )
                checkpoint = run_dir / ("last.pt" if i == 0 else f"last.member{i + 1}.pt")
                trained = train_ctc(model, cached, tcfg, checkpoint, log)
                if trained.interrupted:
                    log(f"stopped: the weights so far are in {checkpoint}; nothing exported")
                    return {"interrupted": True, "checkpoint": str(checkpoint), "times": times}
                models.append(model)
                histories.append(trained)

    def write_metadata(accuracy: dict, carried: int) -> None:  # the runtime reads threshold, tail, context from it
        for path, variant in ((fp32, "fp32"), (int8, "int8")):
            info = ctc_model_info(
                "digits",
                VERSION,
                r.k,
                variant,
                r.threshold,
                training_data(r),
                accuracy,
                r.frame_tail_samples,
                carried,
                r.zero_fill_db,
            )
            set_metadata(path, info)

    with staged_pair(out / "digits") as staging:  # `out` keeps its pair until every check has passed
        fp32, int8 = staging
        with _stage(times, "export", log):
            net = reused if reused is not None else audio_model(models, r.frontend)
            export_ctc_onnx(net, fp32)
            probe = next((it.audio for v in val.values() for it in v if it.tokens), items[0].audio)
            probe = np.concatenate([np.zeros(8000, np.float32), probe])[None]
            with torch.no_grad():
                ref = net(torch.from_numpy(probe)).numpy()
            parity = float(np.abs(session(fp32).run(None, {"audio": probe})[0] - ref).max())
            if parity > 1e-3 * max(1.0, float(np.abs(ref).max())):
                raise ParityError(f"digits FP32 file: ONNX logits differ from torch's by {parity:.3g}")
            streaming = check_streaming(fp32, r.k)
            calibration = int8_calibration(cfg, val, items, noise, r.int8_train_clips, log)
            _, passes = quantize_digits(net, fp32, int8, calibration, r, probe)
            check_streaming(int8, r.k, tolerance=1e-1)
            write_metadata({}, 0)
            carried = max(give_context(fp32)[0], give_context(int8)[0])  # after INT8: the quantizer never sees it
        with _stage(times, "validate", log):
            scored = {**{name: recordings(items) for name, items in val.items()}, **held_out}
            summary, agreement, logged = validate({"fp32": fp32, "int8": int8}, scored, threads)
            comparison = compare_with_previous(logged["int8"], pair_paths(out / "digits")[1], scored, threads)
        accuracy = {variant: headline(sets) for variant, sets in summary.items()}
        write_metadata(accuracy, carried)
        kept = comparison.keeps_previous and not replace_better
        if kept:
            staging.dest = rebuilt_base(runs, "digits")
        log(comparison_line("digits", comparison, out, staging.dest, kept))
    fp32, int8 = pair_paths(staging.dest)
    times["total"] = round(time.time() - t_all, 1)
    results = {
        "recipe": asdict(r),
        "quick": quick,
        "reexported_from": None if reexport is None else str(reexport),
        "items": len(items),
        "cached_vectors": int(sum(len(c.features) for cached in member_cached for c in cached)),
        "losses": [t.losses for t in histories],  # per member, per epoch
        "parity_max_abs": parity,
        "streaming_max_abs": streaming,
        "int8_passes_max_abs": passes,  # the one-pass INT8 file against the same network's window-by-window one
        "validation": summary,
        "int8_agrees_with_fp32": agreement,
        "accuracy": accuracy,
        "previous": asdict(comparison),  # the pair `out` held, against this one on the held-out sets
        "kept_previous": kept,
        "bytes": {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size},
        "files": {"fp32": str(fp32), "int8": str(int8)},
        "times_s": times,
        "threads": threads,
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    log(f"digits: {json.dumps({'validation': accuracy, 'times_s': times, 'bytes': results['bytes']})}")
    return results


OFF = "off"  # --input-floor-db's value for no floor


def floor_arg(text: str) -> float | str:
    """``--input-floor-db``'s value: a level in dBFS (-120 to -20) or ``off``."""
    if text == OFF:
        return OFF
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level in dBFS or {OFF}") from None
    if not -120.0 <= value <= -20.0:
        raise argparse.ArgumentTypeError(f"{value:g} dBFS is outside -120..-20 (or {OFF})")
    return value


def member_cache(cache: Path, member: int, seed: int) -> Path:
    """Where member `member` (0-based) keeps its embedding cache: `cache` for the first, a sibling
    folder named for its seed for the others (each member draws its own items and copies)."""
    return cache if member == 0 else cache.parent / f"{cache.name}-seed{seed}"


def recipe_from(args: argparse.Namespace) -> DigitsRecipe:
    """The recipe with the command line's overrides (``--epochs``, ``--members``, ``--final-fit``,
    ``--sound-negatives``, ``--codec-p``, ``--input-floor-db``, ``--clip-mode``, ``--seed``; one not given keeps
    the recipe's)."""
    r = QUICK if args.quick else DigitsRecipe()
    if args.epochs:
        r = replace(r, epochs=args.epochs)
    if args.members:
        r = replace(r, members=args.members)
    if args.final_fit is not None:
        r = replace(r, final_fit=args.final_fit)
    if args.sound_negatives is not None:
        r = replace(r, n_sound_negatives=args.sound_negatives)
    if args.codec_p is not None:
        r = replace(r, augment=replace(r.augment, codec_p=args.codec_p))
    if args.input_floor_db is not None:
        floor = None if args.input_floor_db == OFF else args.input_floor_db
        r = replace(r, frontend=replace(r.frontend, floor_db=floor))
    if args.clip_mode is not None:
        r = replace(r, frontend=replace(r.frontend, clip_mode=args.clip_mode))
    return r if args.seed is None else replace(r, seed=args.seed)


def build_digits_from(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict:
    """``build_defaults``' digits entry: its flags (--data, --system-root, --out, --runs, --cache, --quick,
    --epochs, --members, --final-fit, --sound-negatives, --codec-p, --input-floor-db, --clip-mode, --seed, --threads,
    --reexport, --replace) to ``build_digits``."""
    r = recipe_from(args)
    return build_digits(
        args.data, args.out, args.runs, args.cache, args.quick, r, args.threads, log, args.system_root, args.reexport,
        args.replace,
    )  # fmt: skip
