"""The training loop: AdamW + one-cycle LR, label smoothing, early stopping, checkpoints.

Waveforms are augmented on the batch (``training.augment.Augmenter``), then the
model's own front end computes the features, so training sees exactly the
features the exported graph computes. Clips longer than the window (ESC's 5 s)
get fresh random 1 s crops where the runtime's gate opens, ``crops_per_clip`` of
each per epoch.

CLI (train your own model from a folder of recordings)::

    python -m listener.training.train --data folder:PATH --name mywords --out runs/mywords
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from listener.errors import loading

with loading(__name__):  # torch loads here: Ctrl-C gives one line (listener/errors.py)
    import numpy as np
    import torch
    from torch import nn

    from listener.config import PipelineOptions
    from listener.training import interrupt
    from listener.training.corpus import WaveSet
    from listener.training.datasets.base import loudest_start
    from listener.training.datasets.load import KINDS, VAL_FRACTION, DataSplit
    from listener.training.evaluate import predictions, run_clips, score
    from listener.training.models.exportable import ExportableModel
    from listener.training.models.registry import ModelSpec, build_model

ARCHES = ("dscnn", "embedding")  # the training command's --arch choices
EMBEDDING_COPIES = 4  # --arch embedding: augmented copies of each training clip (the sounds recipe's number)
SOUND_CLIP_WINDOWS = 10  # --kind sound, dscnn: the longest stretch of a clip that trains, in windows (1 s)
EMBEDDING_WINDOW = 4  # --arch embedding: the window, in speech embeddings (80 ms apart)
EMBEDDING_SHIFT_S = 0.3  # --arch embedding, words: copies shifted up to this far (the runtime's placements vary)


@dataclass
class TrainConfig:
    """Optimiser, schedule and stopping settings."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 4e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    patience: int = 6  # epochs without a better validation accuracy before stopping
    seed: int = 0
    augment: bool = True
    spec_augment: bool = True
    threads: int = 2
    window: int = 16000
    crop_hop_s: float = 0.1  # long clips: crops start on this grid, where the runtime's gate is open
    crops_per_clip: int = 1  # long clips: random crops of each per epoch (an epoch is this many passes)
    dither_db: tuple[float, float] | None = (-90.0, -60.0)  # always-on faint noise: real mics never output zeros
    max_minutes: float | None = None  # wall-clock budget; stops after the epoch that passes it
    keep: str = "best"  # "best": best-validation epoch + early stopping; "last": the final epoch, no stopping
    progress: bool = True


@dataclass
class EpochRecord:
    """One row of the training history (plotted by training.report)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None
    val_macro_f1: float | None
    lr: float
    seconds: float


@dataclass
class TrainResult:
    """What fit() returns: the history, the chosen epoch and the time taken."""

    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float | None = None
    seconds: float = 0.0
    stopped_early: bool = False


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchClassifier:
    """A model in training behind the runtime's classifier interface (``info``, ``predict``), so the
    runtime's own pipeline can score it (``listener.pipeline.analyze_array``, ``training.evaluate``)."""

    def __init__(self, model: ExportableModel, spec: ModelSpec, dev: torch.device | None = None) -> None:
        self.model = model
        self.info = spec.model_info()
        self.device = dev or next(model.parameters()).device

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[B, samples]`` float32 -> (probabilities ``[B, n_labels]``, features), eval mode, no grad."""
        self.model.eval()
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        with torch.no_grad():
            logits, feats = self.model(x)
        return torch.softmax(logits, dim=-1).cpu().numpy(), feats.cpu().numpy()


def evaluate_model(model: ExportableModel, spec: ModelSpec, ws: WaveSet, threshold: float | None = None):
    """Accuracy etc. of ``model`` on ``ws`` through the runtime pipeline (``training.evaluate``)."""
    results = run_clips(TorchClassifier(model, spec), ws.audio, threshold)
    return score(ws.labels, predictions(results, ws.label_names), ws.label_names)


def measure_normalisation(
    model: ExportableModel, audio: np.ndarray, n: int = 512, seed: int = 0
) -> tuple[float, float]:
    """Mean and std of the log-mel over a sample of training windows (stored in the graph)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(audio), size=min(n, len(audio)), replace=False)
    win = model.frontend_cfg.sample_rate
    x = np.stack([a[:win] if a.shape[0] >= win else np.pad(a, (0, win - a.shape[0])) for a in audio[idx]])
    with torch.no_grad():
        f = model.features(torch.from_numpy(x))
    if getattr(model, "normalisation", "global") == "cmn":
        f = f - f.mean(dim=2, keepdim=True)
    return float(f.mean()), float(f.std())


class _Cropper:
    """Random 1 s crops of long clips, where the runtime's gate is open (identity for 1 s clips).

    The crops start on a ``hop`` grid of windows the runtime's gate and windower
    would classify (``listener.pipeline.gated_windows``); a clip the gate never
    opens for gives its loudest second.
    """

    def __init__(self, audio: np.ndarray, window: int, seed: int, spec: ModelSpec | None, hop_s: float) -> None:
        from listener.pipeline import gated_windows

        self.audio = audio
        self.window = window
        self.rng = np.random.default_rng(seed)
        self.starts: list[list[int]] | None = None
        if audio.shape[1] > window:
            if spec is None:
                raise ValueError("fit: clips longer than the window need the model's spec (for the runtime's gate)")
            info, options = spec.model_info(), PipelineOptions(hop=hop_s)
            last = audio.shape[1] - window
            self.starts = [
                sorted({min(max(0, w.start_sample), last) for w in gated_windows(a, info, options)})
                or [loudest_start(a, window)]
                for a in audio
            ]

    def batch(self, idx: np.ndarray) -> np.ndarray:
        if self.starts is None:
            return self.audio[idx]
        out = np.empty((len(idx), self.window), dtype=np.float32)
        for j, i in enumerate(idx):
            s = int(self.rng.choice(self.starts[i]))
            out[j] = self.audio[i, s : s + self.window]
        return out


class _Augmentation:
    """The waveform augmenter, the dither and the feature hook (SpecAugment + VTLP) of one run."""

    def __init__(self, cfg: TrainConfig, noise: list[np.ndarray] | None, aug_cfg=None) -> None:
        from listener.training.augment import AugmentConfig, Augmenter, freq_warp, spec_augment

        acfg = aug_cfg if aug_cfg is not None else AugmentConfig()
        self.waveform = None
        if cfg.augment:
            # 1 s non-overlapping slices of every (training-region) noise recording
            pieces = [a[: (len(a) // 16000) * 16000].reshape(-1, 16000) for a in noise or [] if len(a) >= 16000]
            bank = np.concatenate(pieces).astype(np.float32) if pieces else None
            self.waveform = Augmenter(acfg, bank, sample_rate=16000, seed=cfg.seed)
        self.features = (lambda f: spec_augment(freq_warp(f, acfg), acfg)) if cfg.spec_augment else None
        self.dither_db = cfg.dither_db

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if self.waveform is not None:
                x = self.waveform(x)
            if self.dither_db is not None:
                lo, hi = self.dither_db
                level = 10.0 ** ((torch.rand(len(x), 1, device=x.device) * (hi - lo) + lo) / 20.0)
                x = x + torch.randn_like(x) * level
        return x


class _Run:
    """One training run's state: optimiser, schedule, history, best weights, checkpoints."""

    def __init__(self, model: ExportableModel, cfg: TrainConfig, n_train: int, spec: ModelSpec | None) -> None:
        self.model, self.cfg, self.spec = model, cfg, spec
        self.steps_per_epoch = max(1, math.ceil(n_train * cfg.crops_per_clip / cfg.batch_size))
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt,
            max_lr=cfg.lr,
            total_steps=max(cfg.epochs * self.steps_per_epoch, 8),  # >= 8: tiny runs
            pct_start=0.25,
        )
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.result = TrainResult()
        self.best_state = self._weights()
        self.start_epoch = 0
        self.since_best = 0
        self.t0 = time.time()

    def _weights(self) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def resume(self, last: Path, dev: torch.device, log: Callable[[str], None]) -> None:
        """Continue from ``last.pt``: weights, optimiser, schedule, history, best weights."""
        ck = torch.load(last, map_location=dev, weights_only=False)
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.best_state = ck["best_state"]
        self.result = TrainResult(**{**ck["result"], "history": [EpochRecord(**h) for h in ck["result"]["history"]]})
        self.start_epoch = ck["epoch"] + 1
        self.t0 = time.time() - self.result.seconds
        if self.result.history:
            self.since_best = self.result.history[-1].epoch - self.result.best_epoch
        log(f"resumed from {last} at epoch {self.start_epoch}")

    def train_epoch(
        self, epoch: int, train: WaveSet, cropper: _Cropper, augment: _Augmentation, rng, dev
    ) -> tuple[float, float]:
        """One pass over ``train`` in a random order; returns (mean loss, accuracy) on the augmented batches."""
        cfg, model = self.cfg, self.model
        model.train()
        order = rng.permutation(np.tile(np.arange(len(train)), cfg.crops_per_clip))
        total_loss, correct, seen = 0.0, 0, 0
        batches = range(self.steps_per_epoch)
        if cfg.progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr)
        for b in batches:
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            if len(idx) == 0:
                continue
            x = augment(torch.from_numpy(cropper.batch(idx)).to(dev))
            y = torch.from_numpy(train.labels[idx]).to(dev)
            with torch.no_grad():
                feats = model.features(x)
            logits = model.classify(feats, augment.features)
            loss = self.loss_fn(logits, y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        return total_loss / max(1, seen), correct / max(1, seen)

    def end_epoch(self, rec: EpochRecord) -> None:
        """Record the epoch and keep its weights if it is the best so far.

        Ties go to the later epoch: on a small validation set many epochs score 100%,
        and the first of them is the least trained.
        """
        result = self.result
        result.history.append(rec)
        best = result.best_val_accuracy
        if self.cfg.keep == "last" or rec.val_accuracy is None or best is None or rec.val_accuracy >= best:
            result.best_val_accuracy = rec.val_accuracy
            result.best_epoch = rec.epoch
            self.best_state = self._weights()
            self.since_best = 0
        else:
            self.since_best += 1
        result.seconds = time.time() - self.t0

    def save_last(self, out_dir: Path, epoch: int) -> None:
        """``last.pt``: everything ``resume`` needs, written atomically."""
        ck = {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "best_state": self.best_state,
            "epoch": epoch,
            "result": {**asdict(self.result)},
            "spec": self.spec.to_dict() if self.spec else None,
        }
        tmp = out_dir / "last.pt.tmp"
        torch.save(ck, tmp)
        tmp.replace(out_dir / "last.pt")

    def stop_reason(self, has_val: bool) -> str | None:
        """Early stopping (``keep="best"``) or the time budget, else None."""
        cfg = self.cfg
        if has_val and cfg.keep == "best" and self.since_best >= cfg.patience:
            return f"early stop: no better validation accuracy for {cfg.patience} epochs"
        if cfg.max_minutes is not None and self.result.seconds > cfg.max_minutes * 60:
            return f"time budget of {cfg.max_minutes} min reached"
        return None


def fit(
    model: ExportableModel,
    train: WaveSet,
    val: WaveSet | None,
    cfg: TrainConfig,
    out_dir: Path | None = None,
    noise: list[np.ndarray] | None = None,
    aug_cfg=None,
    resume: bool = False,
    spec: ModelSpec | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``model`` in place; the best-validation (or last, without ``val``) weights are loaded at the end.

    Validation runs the model through the runtime's pipeline, which needs ``spec``.
    """
    if cfg.keep not in ("best", "last"):
        raise ValueError(f"TrainConfig.keep must be 'best' or 'last', got {cfg.keep!r}")
    if cfg.crops_per_clip < 1:
        raise ValueError(f"TrainConfig.crops_per_clip must be 1 or more, got {cfg.crops_per_clip}")
    if len(train) == 0:
        raise ValueError("the training set is empty")
    if val is not None and len(val) and spec is None:
        raise ValueError("fit: validation runs the runtime pipeline and needs the model's spec")
    torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    dev = device()
    model.to(dev)
    model.set_normalisation(*measure_normalisation(model, train.audio, seed=cfg.seed))
    augment = _Augmentation(cfg, noise, aug_cfg)
    run = _Run(model, cfg, len(train), spec)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if resume and (out_dir / "last.pt").is_file():
            run.resume(out_dir / "last.pt", dev, log)
    cropper = _Cropper(train.audio, cfg.window, cfg.seed, spec, cfg.crop_hop_s)
    rng = np.random.default_rng(cfg.seed + 1000 * run.start_epoch)
    has_val = val is not None and len(val) > 0
    for epoch in range(run.start_epoch, cfg.epochs):
        interrupt.check()  # a Ctrl-C Python dropped (training/interrupt.py)
        te = time.time()
        loss, acc = run.train_epoch(epoch, train, cropper, augment, rng, dev)
        v = evaluate_model(model, spec, val) if has_val else None
        rec = EpochRecord(
            epoch=epoch + 1,
            train_loss=loss,
            train_accuracy=acc,
            val_accuracy=None if v is None else v.accuracy,
            val_macro_f1=None if v is None else v.macro_f1,
            lr=float(run.opt.param_groups[0]["lr"]),
            seconds=time.time() - te,
        )
        run.end_epoch(rec)
        if out_dir is not None:  # before the epoch's line: an epoch logged is an epoch kept
            run.save_last(out_dir, epoch)
        va = "-" if v is None else f"{v.accuracy:.4f}"
        log(
            f"epoch {epoch + 1}: loss {rec.train_loss:.4f} train acc {rec.train_accuracy:.4f} "
            f"val acc {va} lr {rec.lr:.2e} ({rec.seconds:.0f} s)"
        )
        reason = run.stop_reason(has_val)
        if reason:
            log(reason)
            run.result.stopped_early = True
            break
    model.load_state_dict(run.best_state)
    model.eval()
    if out_dir is not None and spec is not None:
        save_checkpoint(model, spec, out_dir / "best.pt", run.result)
    return run.result


def save_checkpoint(model: ExportableModel, spec: ModelSpec, path: Path, result: TrainResult | None = None) -> None:
    """Weights + spec (+ history): everything ``python -m listener.export`` needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # a Ctrl-C while writing leaves the old file whole
    torch.save(
        {"model": model.state_dict(), "spec": spec.to_dict(), "result": asdict(result) if result else None},
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[ExportableModel, ModelSpec, dict | None]:
    """Rebuild the model from a checkpoint written by ``save_checkpoint``."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    spec = ModelSpec.from_dict(ck["spec"])
    model = build_model(spec)
    model.load_state_dict(ck["model"])
    model.eval()
    return model, spec, ck.get("result")


# ----------------------------------------------------------------------------- CLI


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m listener.training.train",
        description="Train a keyword/sound model on labelled audio and save a checkpoint "
        "(then export it with `python -m listener.export CHECKPOINT`).",
    )
    parser.add_argument("--data", required=True, help=f"KIND:PATH; KIND is one of {', '.join(KINDS)}")
    parser.add_argument("--name", default="custom", help="model name (metadata and file names)")
    parser.add_argument("--kind", choices=("speech", "sound"), default="speech")
    parser.add_argument("--out", type=Path, default=Path("runs/custom"), help="output folder")
    parser.add_argument(
        "--arch",
        choices=ARCHES,
        default="dscnn",
        help="dscnn: a small network trained from scratch on your clips; embedding: small heads over "
        "Google's frozen speech embedding (the shipped models' backbone, training/pretrained/NOTICE.md), "
        "which has heard far more voices than most folders hold (docs/training.md)",
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="dscnn: the epoch best.pt holds: best (the best validation accuracy; stops after "
        f"{TrainConfig.patience} epochs without a better one) or last (every epoch trained, the last kept: for "
        "cross-validation, where the validation fold is also the one scored). The embedding heads always train "
        "--epochs and keep the last",
    )
    parser.add_argument("--batch-size", type=int, help="default: 64 (dscnn), 256 (embedding)")
    parser.add_argument("--lr", type=float, help="default: 4e-3 (dscnn), 3e-3 (embedding)")
    parser.add_argument(
        "--copies",
        type=int,
        default=EMBEDDING_COPIES,
        help="embedding: augmented copies of each training clip besides the clean one",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=VAL_FRACTION,
        help="share of speakers held out for validation when the data has no split (default %(default)s)",
    )
    parser.add_argument(
        "--fold",
        type=int,
        help="esc10, esc50: the official fold held out for validation (default 1); the other four train",
    )
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--resume", action="store_true", help="dscnn: continue from OUT/last.pt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=64, help="DS-CNN width")
    parser.add_argument("--blocks", type=int, default=4, help="DS-CNN depthwise-separable blocks")
    return parser.parse_args(argv)


def _split(args: argparse.Namespace) -> DataSplit:
    """The ``DataSplit`` of ``--val-fraction`` / ``--fold``; the checkpoint keeps it for the export."""
    return DataSplit(args.val_fraction, args.fold)


def _data_sets(args: argparse.Namespace, train_length: int | None) -> tuple[WaveSet, WaveSet | None, list[str]]:
    """The training and validation sets from ``--data`` (``DataSplit``: speakers held out, or a fold for
    fold datasets); training clips shaped to `train_length` samples, or at their own length (None)."""
    from listener.training.corpus import waveset
    from listener.training.datasets.base import DatasetError
    from listener.training.datasets.load import load_data

    clips = load_data(args.data)
    if not clips:
        raise DatasetError(f"no clips found in {args.data}")
    labels = sorted({c.label for c in clips})
    if len(labels) < 2:
        raise DatasetError(f"need at least two labels, found {labels}")
    train_clips, val_clips, _ = _split(args).apply(clips)
    if not train_clips:
        raise DatasetError("no training clips after the split")
    train = waveset(train_clips, labels, None, train_length, "energy")
    val = waveset(val_clips, labels, None, 16000, "energy") if val_clips else None
    return train, val, labels


def _sound_clips(train: WaveSet) -> tuple[WaveSet, int]:
    """``--kind sound`` with ``dscnn``: the clips at their own length (the loudest ``SOUND_CLIP_WINDOWS`` of a
    longer one), padded to the longest, and how many random 1 s crops of each an epoch draws: the longest
    clip's length in windows, so that an epoch hears about every second of the sounds (each clip as often,
    so each weighs the same). The runtime classifies every second a sound lasts, not only its loudest
    (which is what a word's clip is shaped to)."""
    from listener.training.datasets.base import fit_length

    window = TrainConfig.window
    n = max(window, min(max(len(a) for a in train.audio), SOUND_CLIP_WINDOWS * window))
    audio = np.stack([fit_length(a, n, mode="energy") for a in train.audio])
    return WaveSet(audio, train.labels, train.label_names, train.groups, train.folds), max(1, round(n / window))


def _fit_embedding(args: argparse.Namespace, train: WaveSet) -> tuple[nn.Module, ModelSpec, TrainResult]:
    """``--arch embedding``: heads over the frozen speech embedding (``heads.fit_on_windows``), one head
    for words, the sounds model's two for sounds (``models.sounds.HEAD_KINDS``); `train` holds the clips
    at their own length.
    The heads read the embeddings in place (not shift-invariant as a DS-CNN is), so they train on every
    placement the runtime gives a clip: centred (a live stream) and the windows its pipeline cuts from
    a file holding the clip alone (``pipeline.gated_windows``: a short file's word ends its window). The
    window is four embeddings long (1.022 s), so that they see all of it, its last samples included."""
    from listener.pipeline import gated_windows
    from listener.training.augment import AugmentConfig
    from listener.training.datasets.base import fit_length
    from listener.training.frontend import SOUNDS_FRONTEND
    from listener.training.heads import SOUNDS_AUGMENT, HeadTraining, fit_on_windows
    from listener.training.models.sounds import HEAD_KINDS
    from listener.training.speech_embedding import EMB_HOP, EMB_SPAN, SAMPLE_RATE

    speech = args.kind == "speech"
    spec = ModelSpec(
        name=args.name,
        kind=args.kind,
        labels=list(train.label_names),
        arch="speech_heads",
        arch_config={"heads": [{"kind": k} for k in (HEAD_KINDS[:1] if speech else HEAD_KINDS)]},
        frontend=asdict(SOUNDS_FRONTEND),  # the features output the app draws
        window_seconds=(EMB_SPAN + (EMBEDDING_WINDOW - 1) * EMB_HOP) / SAMPLE_RATE,
        training_data=f"{args.data} ({len(train)} training clips, {args.copies} augmented copies each)",
        data_split=asdict(_split(args)),
    )
    t0 = time.time()
    model = build_model(spec, seed=args.seed)
    cfg = HeadTraining(
        epochs=args.epochs,
        batch=args.batch_size or HeadTraining.batch,
        lr=args.lr or HeadTraining.lr,
        seed=args.seed,
    )
    centred = [fit_length(a, spec.window_samples, mode="energy") for a in train.audio]
    cut = [(w.samples, y) for a, y in zip(train.audio, train.labels) for w in gated_windows(a, spec.model_info())]
    windows = np.stack(centred + [w for w, _ in cut])
    y = np.concatenate([train.labels, np.array([y for _, y in cut], np.int64)])
    copies = 0 if args.no_augment else args.copies
    augment = AugmentConfig(shift_max_s=EMBEDDING_SHIFT_S) if speech else SOUNDS_AUGMENT
    fit_on_windows(model, windows, y, cfg, copies, augment, progress=True)
    return model, spec, TrainResult(best_epoch=args.epochs, seconds=time.time() - t0)


def _train(args: argparse.Namespace) -> dict:
    """Data, training, validation and the files in ``--out``; what the command prints."""
    from listener.training.frontend import DIGITS_FRONTEND, SOUNDS_FRONTEND
    from listener.training.report import write_report

    whole = args.arch == "embedding" or args.kind == "sound"
    train, val, labels = _data_sets(args, None if whole else 16000)
    if args.arch == "embedding":
        model, spec, result = _fit_embedding(args, train)
    else:
        spec = ModelSpec(  # reject labels and gate: the contract's defaults for these labels and this kind
            name=args.name,
            kind=args.kind,
            labels=labels,
            frontend=asdict(DIGITS_FRONTEND if args.kind == "speech" else SOUNDS_FRONTEND),
            arch_config={"channels": args.channels, "blocks": args.blocks},
            training_data=f"{args.data} ({len(train)} training clips)",
            data_split=asdict(_split(args)),
        )
        model = build_model(spec, seed=args.seed)
        train, crops = _sound_clips(train) if args.kind == "sound" else (train, 1)
        cfg = TrainConfig(
            crops_per_clip=crops,
            epochs=args.epochs,
            batch_size=args.batch_size or TrainConfig.batch_size,
            lr=args.lr or TrainConfig.lr,
            seed=args.seed,
            augment=not args.no_augment,
            spec_augment=not args.no_augment,
            keep=args.keep,
        )
        result = fit(model, train, val, cfg, out_dir=args.out, resume=args.resume, spec=spec)
    evals = {"validation": evaluate_model(model, spec, val)} if val is not None else {}
    if args.arch == "embedding":  # trained in one go: its checkpoint is written here, with its validation
        result.best_val_accuracy = evals["validation"].accuracy if evals else None
        save_checkpoint(model, spec, args.out / "best.pt", result)
    write_report(args.out, spec, result, evals)
    return {
        "checkpoint": str(args.out / "best.pt"),
        "val_accuracy": result.best_val_accuracy,
        "seconds": round(result.seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    from listener.errors import interrupted
    from listener.training.datasets.base import DatasetError

    if (
        args.epochs < 1
        or (args.batch_size is not None and args.batch_size < 1)
        or (args.lr is not None and args.lr <= 0)
        or not 0 < args.val_fraction < 1
        or args.channels < 1
        or args.blocks < 0
        or args.copies < 0
    ):
        print(
            "error: --epochs, --batch-size, --lr and --channels must be positive, --copies 0 or more, "
            "--val-fraction in (0, 1)",
            file=sys.stderr,
        )
        return 2
    if args.arch == "embedding" and args.resume:
        print("error: --resume is for --arch dscnn (an embedding model trains in one go)", file=sys.stderr)
        return 2
    try:
        with interrupt.noting():
            summary = _train(args)
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        last = args.out / "last.pt"
        kept = (
            f"the epochs done are in {last}; add --resume to go on"
            if args.arch == "dscnn" and last.is_file()
            else "nothing written"
        )
        print(f"interrupted: {kept}", file=sys.stderr)
        return interrupted()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
