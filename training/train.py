"""The training loop: AdamW + one-cycle LR, label smoothing, early stopping, checkpoints.

Waveforms are augmented on the batch (``training.augment.Augmenter``), then the
model's own front end computes the features, so training sees exactly the
features the exported graph computes. Clips longer than the window (ESC's 5 s)
get a fresh random 1 s crop from their loud part every epoch.

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

import numpy as np
import torch
from torch import nn

from listener.training.corpus import WaveSet
from listener.training.evaluate import active_window_starts, predict_probs, score
from listener.training.models.exportable import ExportableModel
from listener.training.models.registry import ModelSpec, build_model


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
    eval_hop: int = 4000
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


def torch_predictor(model: ExportableModel, dev: torch.device | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``np [B, samples] -> logits`` for evaluate.predict_probs (eval mode, no grad)."""
    dev = dev or next(model.parameters()).device

    def predict(x: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            logits, _ = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev))
        return logits.cpu().numpy()

    return predict


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
    """Random 1 s crops from the gated (loud) part of long clips; identity for 1 s clips."""

    def __init__(self, audio: np.ndarray, window: int, seed: int) -> None:
        self.audio = audio
        self.window = window
        self.rng = np.random.default_rng(seed)
        self.starts: list[list[int]] | None = None
        if audio.shape[1] > window:
            self.starts = [active_window_starts(a, window, window // 10) for a in audio]

    def batch(self, idx: np.ndarray) -> np.ndarray:
        if self.starts is None:
            return self.audio[idx]
        out = np.empty((len(idx), self.window), dtype=np.float32)
        for j, i in enumerate(idx):
            s = int(self.rng.choice(self.starts[i]))
            out[j] = self.audio[i, s : s + self.window]
        return out


def _make_augmenter(noise: list[np.ndarray] | None, seed: int, aug_cfg=None):
    from listener.training.augment import AugmentConfig, Augmenter

    cfg = aug_cfg if aug_cfg is not None else AugmentConfig()
    bank = None
    if noise:
        # 1 s non-overlapping slices of every (training-region) noise recording
        pieces = [a[: (len(a) // 16000) * 16000].reshape(-1, 16000) for a in noise if len(a) >= 16000]
        bank = np.concatenate(pieces).astype(np.float32) if pieces else None
    return Augmenter(cfg, bank, sample_rate=16000, seed=seed), cfg


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
    """Train ``model`` in place; the best-validation (or last, without ``val``) weights are loaded at the end."""
    if cfg.keep not in ("best", "last"):
        raise ValueError(f"TrainConfig.keep must be 'best' or 'last', got {cfg.keep!r}")
    torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    dev = device()
    model.to(dev)
    if len(train) == 0:
        raise ValueError("the training set is empty")
    mean, std = measure_normalisation(model, train.audio, seed=cfg.seed)
    model.set_normalisation(mean, std)

    augmenter = None
    spec_hook = None
    if cfg.augment or cfg.spec_augment:
        augmenter, acfg = _make_augmenter(noise, cfg.seed, aug_cfg)
        if cfg.spec_augment:
            from listener.training.augment import freq_warp, spec_augment

            spec_hook = lambda f: spec_augment(freq_warp(f, acfg), acfg)  # noqa: E731
        if not cfg.augment:
            augmenter = None

    steps_per_epoch = max(1, math.ceil(len(train) / cfg.batch_size))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=cfg.lr,
        total_steps=max(cfg.epochs * steps_per_epoch, 8),
        pct_start=0.25,  # >= 8: tiny runs
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    result = TrainResult()
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    start_epoch = 0
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        last = out_dir / "last.pt"
        if resume and last.is_file():
            ck = torch.load(last, map_location=dev, weights_only=False)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            best_state = ck["best_state"]
            result = TrainResult(**{**ck["result"], "history": [EpochRecord(**h) for h in ck["result"]["history"]]})
            start_epoch = ck["epoch"] + 1
            log(f"resumed from {last} at epoch {start_epoch}")

    cropper = _Cropper(train.audio, cfg.window, cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1000 * start_epoch)
    t0 = time.time() - result.seconds
    since_best = 0
    if result.history:
        since_best = result.history[-1].epoch - result.best_epoch
    for epoch in range(start_epoch, cfg.epochs):
        te = time.time()
        model.train()
        order = rng.permutation(len(train))
        total_loss, correct, seen = 0.0, 0, 0
        batches = range(steps_per_epoch)
        if cfg.progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr)
        for b in batches:
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            if len(idx) == 0:
                continue
            x = torch.from_numpy(cropper.batch(idx)).to(dev)
            y = torch.from_numpy(train.labels[idx]).to(dev)
            if augmenter is not None:
                with torch.no_grad():
                    x = augmenter(x)
            if cfg.dither_db is not None:
                lo, hi = cfg.dither_db
                level = 10.0 ** ((torch.rand(len(idx), 1, device=dev) * (hi - lo) + lo) / 20.0)
                x = x + torch.randn_like(x) * level
            with torch.no_grad():
                feats = model.features(x)
            logits = model.classify(feats, spec_hook)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        val_acc = val_f1 = None
        if val is not None and len(val):
            probs = predict_probs(torch_predictor(model, dev), val.audio, cfg.window, cfg.eval_hop)
            r = score(val.labels, probs.argmax(1), val.label_names)
            val_acc, val_f1 = r.accuracy, r.macro_f1
        rec = EpochRecord(
            epoch=epoch + 1,
            train_loss=total_loss / max(1, seen),
            train_accuracy=correct / max(1, seen),
            val_accuracy=val_acc,
            val_macro_f1=val_f1,
            lr=float(opt.param_groups[0]["lr"]),
            seconds=time.time() - te,
        )
        result.history.append(rec)
        # ties go to the later epoch: on a small validation set many epochs score 100%, and the
        # first of them is the least trained (a toy model picked that way failed on fresh clips)
        improved = (
            cfg.keep == "last"
            or val_acc is None
            or result.best_val_accuracy is None
            or val_acc >= result.best_val_accuracy
        )
        if improved:
            result.best_val_accuracy = val_acc
            result.best_epoch = epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            since_best = 0
        else:
            since_best += 1
        result.seconds = time.time() - t0
        va = "-" if val_acc is None else f"{val_acc:.4f}"
        log(
            f"epoch {epoch + 1}: loss {rec.train_loss:.4f} train acc {rec.train_accuracy:.4f} "
            f"val acc {va} lr {rec.lr:.2e} ({rec.seconds:.0f} s)"
        )
        if out_dir is not None:
            ck = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "best_state": best_state,
                "epoch": epoch,
                "result": {**asdict(result)},
                "spec": spec.to_dict() if spec else None,
            }
            tmp = out_dir / "last.pt.tmp"
            torch.save(ck, tmp)
            tmp.replace(out_dir / "last.pt")
        if val is not None and cfg.keep == "best" and since_best >= cfg.patience:
            log(f"early stop: no better validation accuracy for {cfg.patience} epochs")
            result.stopped_early = True
            break
        if cfg.max_minutes is not None and result.seconds > cfg.max_minutes * 60:
            log(f"time budget of {cfg.max_minutes} min reached")
            result.stopped_early = True
            break
    model.load_state_dict(best_state)
    model.eval()
    if out_dir is not None and spec is not None:
        save_checkpoint(model, spec, out_dir / "best.pt", result)
    return result


def save_checkpoint(model: ExportableModel, spec: ModelSpec, path: Path, result: TrainResult | None = None) -> None:
    """Weights + spec (+ history): everything ``python -m listener.export`` needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"model": model.state_dict(), "spec": spec.to_dict(), "result": asdict(result) if result else None},
        path,
    )


def load_checkpoint(path: Path) -> tuple[ExportableModel, ModelSpec, dict | None]:
    """Rebuild the model from a checkpoint written by ``save_checkpoint``."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    spec = ModelSpec.from_dict(ck["spec"])
    model = build_model(spec)
    model.load_state_dict(ck["model"])
    model.eval()
    return model, spec, ck.get("result")


# ----------------------------------------------------------------------------- CLI


def _load_data(spec: str) -> list:
    """``folder:PATH`` | ``fsdd:PATH`` | ``speech_commands:PATH`` | ``esc10:PATH`` -> clips."""
    from listener.training.datasets.base import DatasetError

    if ":" not in spec:
        raise DatasetError(f"--data {spec!r}: expected KIND:PATH (folder, fsdd, speech_commands, esc10)")
    kind, path = spec.split(":", 1)
    if kind == "folder":
        from listener.training.datasets.folder import load_folder

        return load_folder(path)
    if kind == "fsdd":
        from listener.training.datasets.fsdd import load_fsdd

        return load_fsdd(path)
    if kind == "speech_commands":
        from listener.training.datasets.speech_commands import load_speech_commands

        return load_speech_commands(path)
    if kind in ("esc10", "esc50"):
        from listener.training.datasets.esc import load_esc

        return load_esc(path, subset=kind)
    raise DatasetError(f"--data {spec!r}: unknown kind {kind!r} (folder, fsdd, speech_commands, esc10)")


def _assign_splits(clips: list, val_fraction: float) -> list:
    """Clips without a split get one by a stable hash of their speaker (or file name)."""
    from dataclasses import replace

    from listener.training.datasets.base import stable_fraction

    out = []
    for c in clips:
        if c.split is None and c.fold is None:
            key = c.speaker or c.path.name
            c = replace(c, split="validation" if stable_fraction(key) < val_fraction else "train")
        out.append(c)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m listener.training.train",
        description="Train a DS-CNN keyword/sound model on labelled audio and save a checkpoint "
        "(then export it with `python -m listener.export CHECKPOINT`).",
    )
    parser.add_argument("--data", required=True, help="KIND:PATH; KIND is folder, fsdd, speech_commands or esc10")
    parser.add_argument("--name", default="custom", help="model name (metadata and file names)")
    parser.add_argument("--kind", choices=("speech", "sound"), default="speech")
    parser.add_argument("--out", type=Path, default=Path("runs/custom"), help="output folder")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--val-fraction", type=float, default=0.15, help="speakers held out when the data has no split")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=64, help="DS-CNN width")
    parser.add_argument("--blocks", type=int, default=4, help="DS-CNN depthwise-separable blocks")
    args = parser.parse_args(argv)

    from listener.training.corpus import waveset
    from listener.training.datasets.base import DatasetError
    from listener.training.frontend import DIGITS_FRONTEND, SOUNDS_FRONTEND
    from listener.training.report import write_report

    if (
        args.epochs < 1
        or args.batch_size < 1
        or args.lr <= 0
        or not 0 < args.val_fraction < 1
        or args.channels < 1
        or args.blocks < 0
    ):
        print(
            "error: --epochs, --batch-size, --lr and --channels must be positive, --val-fraction in (0, 1)",
            file=sys.stderr,
        )
        return 2
    try:
        clips = _assign_splits(_load_data(args.data), args.val_fraction)
        if not clips:
            raise DatasetError(f"no clips found in {args.data}")
        labels = sorted({c.label for c in clips})
        if len(labels) < 2:
            raise DatasetError(f"need at least two labels, found {labels}")
        fe = DIGITS_FRONTEND if args.kind == "speech" else SOUNDS_FRONTEND
        length = 16000
        train_clips = [c for c in clips if c.split == "train" or (c.split is None and c.fold not in (None, 1))]
        val_clips = [c for c in clips if c.split == "validation" or (c.split is None and c.fold == 1)]
        if not train_clips:
            raise DatasetError("no training clips after the split")
        train = waveset(train_clips, labels, None, length, "energy")
        val = waveset(val_clips, labels, None, length, "energy") if val_clips else None
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reject = [lab for lab in labels if lab in ("unknown", "silence", "_unknown_", "_silence_")]
    spec = ModelSpec(
        name=args.name,
        kind=args.kind,
        labels=labels,
        reject_labels=reject,
        frontend=asdict(fe),
        gate="vad" if args.kind == "speech" else "energy",
        arch_config={"channels": args.channels, "blocks": args.blocks},
        training_data=f"{args.data} ({len(train)} training clips)",
    )
    model = build_model(spec, seed=args.seed)
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        augment=not args.no_augment,
        spec_augment=not args.no_augment,
    )
    result = fit(model, train, val, cfg, out_dir=args.out, resume=args.resume, spec=spec)
    evals = {}
    if val is not None:
        probs = predict_probs(torch_predictor(model), val.audio)
        evals["validation"] = score(val.labels, probs.argmax(1), labels)
    write_report(args.out, spec, result, evals)
    print(
        json.dumps(
            {
                "checkpoint": str(args.out / "best.pt"),
                "val_accuracy": result.best_val_accuracy,
                "seconds": round(result.seconds, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
