"""The embedding cache: what the frozen part of the backbone makes of every training copy.

The speech embedding's first convolutions never change during training, and they are most
of its compute, so each (item, copy) is padded, augmented and run through them once
(``LowerBackbone`` exported to ONNX, in worker processes with one thread each) and stored:
one vector per 80 ms, float16, with the item's tokens and its word ends (in samples of the
augmented copy) when known. Training then reads features, never audio.

One ``.npz`` per copy; its ``key`` (a hash of whatever shaped it: the items, the copy, the
augmentation, the lower graph) lets a rebuild reuse a cache that is still right.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from listener.training import interrupt
from listener.training.speech_embedding import OWW_FRONTEND, OwwFrontendConfig
from listener.training.strings import Item, StringAugment, prepare


@dataclass
class CachedItem:
    """One training copy as the trainer sees it."""

    features: np.ndarray  # [E, D] float16, one row per 80 ms
    tokens: np.ndarray  # [L] int64
    ends: np.ndarray | None  # [L] word end samples in the copy's audio, or None when unknown
    source: str = ""


_WORKER: dict = {}


@dataclass
class CacheSetup:
    """How copies are made and embedded: the lower graph (``speech_embedding.export_lower``), its output
    size, the augmentation and its noise, the seed, worker processes."""

    lower_onnx: Path
    out_dim: int
    augment: StringAugment = field(default_factory=StringAugment)
    noise: Sequence[np.ndarray] = ()
    seed: int = 0
    workers: int = 2
    progress: bool = True
    frontend: OwwFrontendConfig = OWW_FRONTEND  # as the exported graph will have it

    def front_end(self) -> dict:
        """What the key records of the front end: nothing for the default (keys made before it stay valid)."""
        return {} if self.frontend.is_default else asdict(self.frontend)


def _init_worker(
    lower_onnx: str, out_dim: int, noise: list[np.ndarray], cfg: StringAugment, frontend: OwwFrontendConfig
) -> None:
    import signal

    import torch

    from listener.training.speech_embedding import OrtEmbedder

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool, one message
    torch.set_num_threads(1)
    embedder = OrtEmbedder(threads=1, cfg=frontend, path=lower_onnx, out_dim=out_dim)
    _WORKER.update(embedder=embedder, noise=noise, cfg=cfg)


def _embed(job: tuple[Item, int, bool]) -> tuple[np.ndarray, list[float] | None]:
    item, seed, clean = job
    audio, ends = prepare(item, seed, _WORKER["cfg"], _WORKER["noise"], clean)
    return _WORKER["embedder"](audio).astype(np.float16), ends


def cache_key(items: Sequence[Item], copy: int, setup: CacheSetup, extra: dict | None = None) -> str:
    """Hash of everything a copy's features depend on."""
    h = hashlib.sha1()
    meta = {"copy": copy, "seed": setup.seed, "augment": asdict(setup.augment), **setup.front_end(), **(extra or {})}
    h.update(json.dumps(meta, sort_keys=True).encode())
    h.update(hashlib.sha1(Path(setup.lower_onnx).read_bytes()).digest())
    for it in items:
        h.update(it.audio.tobytes())
        h.update(repr((it.words, it.tokens, it.ends)).encode())
    return h.hexdigest()[:20]


def build_cache(
    items: Sequence[Item], copy: int, path: Path, setup: CacheSetup, clean: bool = False, key: str = ""
) -> list[CachedItem]:
    """Embed copy `copy` of every item (the same seed, the same augmentation; `clean`: padding
    only) and save it at `path`; a file there with the same non-empty `key` is loaded instead."""
    if key and stored_key(path) == key:
        return load_cache(path)
    jobs = [(it, setup.seed * 7_919 + copy * 1_000_003 + i, clean) for i, it in enumerate(items)]
    ctx = mp.get_context("spawn" if sys.platform == "darwin" else "fork")
    init = (str(setup.lower_onnx), setup.out_dim, list(setup.noise), setup.augment, setup.frontend)
    pool = None
    with interrupt.noting():
        try:
            with interrupt.holding():  # a press while the workers fork arrives once they have
                pool = ctx.Pool(max(1, setup.workers), _init_worker, init)
            results = pool.imap(_embed, jobs, chunksize=8)
            if setup.progress:
                from tqdm import tqdm

                results = tqdm(results, total=len(jobs), desc=f"cache copy {copy}", file=sys.stderr, leave=False)
            done = []
            for result in results:
                interrupt.check()  # a Ctrl-C lost elsewhere in the pool's machinery (noted for any caller)
                done.append(result)
        finally:
            if pool is not None:  # also when the press held above arrives: no worker outlives the call
                with interrupt.holding():
                    pool.terminate()
    data = _pack(items, done, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return _unpack(data)


def _pack(items: Sequence[Item], results: list[tuple[np.ndarray, list[float] | None]], key: str) -> dict:
    feats = [f for f, _ in results]
    ends = [e or [] for _, e in results]
    return {
        "key": np.array(key),
        "features": np.concatenate(feats) if feats else np.zeros((0, 1), np.float16),
        "offsets": np.concatenate([[0], np.cumsum([len(f) for f in feats])]).astype(np.int64),
        "tokens": np.array([t for it in items for t in it.tokens], np.int64),
        "token_offsets": np.concatenate([[0], np.cumsum([len(it.tokens) for it in items])]).astype(np.int64),
        "timed": np.array([e is not None for _, e in results], bool),
        "ends": np.array([x for e in ends for x in e], np.float64),
        "end_offsets": np.concatenate([[0], np.cumsum([len(e) for e in ends])]).astype(np.int64),
        "source": np.array([it.source for it in items]),
    }


def _unpack(data: dict) -> list[CachedItem]:
    off, toff, eoff = data["offsets"], data["token_offsets"], data["end_offsets"]
    return [
        CachedItem(
            data["features"][off[i] : off[i + 1]],
            data["tokens"][toff[i] : toff[i + 1]],
            data["ends"][eoff[i] : eoff[i + 1]] if data["timed"][i] else None,
            str(data["source"][i]),
        )
        for i in range(len(off) - 1)
    ]


def stored_key(path: Path) -> str | None:
    """The key a cache file was written with (None: no readable file)."""
    try:
        with np.load(path) as f:
            return str(f["key"])
    except (OSError, KeyError, ValueError):
        return None


def load_cache(path: Path) -> list[CachedItem]:
    """A cache file written by ``build_cache``."""
    with np.load(path) as f:
        return _unpack({k: f[k] for k in f.files})


def build_caches(
    items: Sequence[Item],
    copies: int,
    folder: Path,
    setup: CacheSetup,
    extra_key: dict | None = None,
    log: Callable[[str], None] = print,
) -> list[CachedItem]:
    """Copies 0..`copies`-1 (copy 0 clean, the others augmented) into ``folder/copy<c>.npz``."""
    out: list[CachedItem] = []
    for c in range(copies):
        interrupt.check()
        key = cache_key(items, c, setup, extra_key)
        path = folder / f"copy{c}.npz"
        reused = stored_key(path) == key
        part = build_cache(items, c, path, setup, c == 0, key)
        vectors = sum(len(p.features) for p in part)
        log(f"cache copy {c}: {len(part)} clips, {vectors} vectors ({'reused' if reused else 'built'}): {path}")
        out += part
    return out
