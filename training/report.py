"""Writes a training run's results: a JSON of every number and PNG plots.

Plots: loss, accuracy and learning rate per epoch (history.png) and one
confusion matrix per evaluated set (confusion_<set>.png). Matplotlib runs
headless (Agg), so this works on servers and in CI.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path

import numpy as np


def _jsonable(obj):
    if is_dataclass(obj):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def plot_history(history: list, path: Path) -> None:
    """Loss, accuracy (train and validation) and learning rate per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [asdict(h) if is_dataclass(h) else h for h in history]
    if not rows:
        return
    ep = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    ax[0].plot(ep, [r["train_loss"] for r in rows], marker="o")
    ax[0].set_title("training loss")
    ax[1].plot(ep, [r["train_accuracy"] for r in rows], marker="o", label="train")
    if any(r["val_accuracy"] is not None for r in rows):
        ax[1].plot(ep, [r["val_accuracy"] for r in rows], marker="o", label="validation")
    ax[1].set_title("accuracy")
    ax[1].legend()
    ax[2].plot(ep, [r["lr"] for r in rows], marker="o")
    ax[2].set_title("learning rate (end of epoch)")
    for a in ax:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(confusion: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix with the counts written in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=60, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(out_dir: Path, spec, result, evals: dict, extra: dict | None = None) -> Path:
    """results.json + history.png + confusion_<set>.png in ``out_dir``; returns the JSON path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "spec": _jsonable(spec),
        "training": _jsonable(result),
        "evaluation": {k: _jsonable(v) for k, v in evals.items()},
    }
    if extra:
        data.update(_jsonable(extra))
    path = out_dir / "results.json"
    path.write_text(json.dumps(data, indent=2))
    if result is not None and getattr(result, "history", None):
        plot_history(result.history, out_dir / "history.png")
    for name, ev in evals.items():
        d = _jsonable(ev)
        if isinstance(d, dict) and "confusion" in d:
            plot_confusion(
                d["confusion"], d["labels"], f"{name} (acc {d['accuracy']:.3f})", out_dir / f"confusion_{name}.png"
            )
    return path
