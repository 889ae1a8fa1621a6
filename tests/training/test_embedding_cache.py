"""The embedding cache: the frozen lower backbone's output of every copy, float16, with word ends."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from listener.training.embedding_cache import CacheSetup, build_caches, cache_key, load_cache  # noqa: E402
from listener.training.speech_embedding import (  # noqa: E402
    EMB_HOP,
    LowerBackbone,
    OwwFrontend,
    OwwFrontendConfig,
    SpeechEmbedding,
    export_lower,
    lower_dim,
    n_embeddings,
)
from listener.training.strings import RATE, Item, StringAugment, prepare, word_item  # noqa: E402


def voiced(seconds: float, f0: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))).astype(np.float32)


@pytest.fixture(scope="module")
def lower(tmp_path_factory):
    with warnings.catch_warnings():  # torch's note that its TorchScript exporter is the old one
        warnings.simplefilter("ignore", DeprecationWarning)
        return export_lower(tmp_path_factory.mktemp("lower") / "lower17.onnx", 17)


def items() -> list[Item]:
    return [
        word_item(voiced(0.4, 140), "four", "fsdd", "a"),
        Item(voiced(1.2, 200), ("oh", "bee"), [11, 12], "synth", "espeak:en-us"),
        Item(np.zeros(8000, np.float32), (), [], "noise", "n"),
    ]


def test_cache_holds_the_lower_backbone_of_each_padded_copy(tmp_path, lower):
    import torch

    setup = CacheSetup(lower, lower_dim(17), StringAugment(), (), seed=4, workers=1, progress=False)
    logs: list[str] = []
    out = build_caches(items(), 2, tmp_path, setup, log=logs.append)
    assert len(out) == 6 and all(c.features.dtype == np.float16 for c in out)
    assert [list(c.tokens) for c in out[:3]] == [[5], [11, 12], []]
    assert out[1].ends is None and out[0].ends is not None and out[3].ends is not None
    # copy 0 is clean: the same features as the torch port on the same padded audio
    audio, ends = prepare(items()[0], 4 * 7_919, StringAugment(), (), clean=True)
    assert out[0].ends[0] == pytest.approx(ends[0])
    assert len(out[0].features) == n_embeddings(len(audio))
    with torch.no_grad():
        win = OwwFrontend()(torch.from_numpy(audio)[None])[0]
        ref = LowerBackbone(SpeechEmbedding.from_onnx(), 17)(win).numpy()
    assert np.abs(out[0].features.astype(np.float32) - ref).max() < 2e-2 * np.abs(ref).max()
    # word end in the copy, after the padding in front
    assert out[0].ends[0] > 0.3 * RATE and out[0].ends[0] < len(out[0].features) * EMB_HOP + 12512
    # the files are reused when nothing changed, rebuilt when the augmentation changed
    assert all("built" in m for m in logs)
    again = build_caches(items(), 2, tmp_path, setup, log=logs.append)
    assert all("reused" in m for m in logs[2:]) and np.array_equal(again[4].features, out[4].features)
    other = CacheSetup(lower, lower_dim(17), StringAugment(noise_p=0.1), (), seed=4)
    assert cache_key(items(), 1, other) != cache_key(items(), 1, setup)
    assert len(load_cache(tmp_path / "copy1.npz")) == 3


def test_a_front_end_without_the_clip_caches_in_one_pass_what_the_windows_give(tmp_path, lower):
    """No per-window clip (and a floor): the lower graph over each copy's frames gives every window's features,
    and the key changes with the front end; with the per-window clip it redoes the windows the clip changes."""
    import torch

    from listener.training.speech_embedding import OrtEmbedder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        frames = export_lower(tmp_path / "lower17_frames.onnx", 17, over_frames=True)
    setup = CacheSetup(frames, lower_dim(17), StringAugment(), (), seed=4, workers=1, progress=False)
    setup.frontend = OwwFrontendConfig("none", -75.0)
    out = build_caches(items(), 1, tmp_path / "cache", setup, log=lambda _: None)
    audio, _ = prepare(items()[1], 4 * 7_919 + 1, StringAugment(), (), clean=True)
    with torch.no_grad():
        win = OwwFrontend(OwwFrontendConfig("none", -75.0))(torch.from_numpy(audio)[None])[0]
        ref = LowerBackbone(SpeechEmbedding.from_onnx(), 17)(win).numpy()
    assert out[1].features.shape == ref.shape and len(ref) == n_embeddings(len(audio))
    assert np.abs(out[1].features.astype(np.float32) - ref).max() < 2e-2 * np.abs(ref).max()
    assert len(out[2].features) == n_embeddings(len(prepare(items()[2], 4 * 7_919 + 2, StringAugment(), (), True)[0]))
    plain = CacheSetup(lower, lower_dim(17), StringAugment(), (), seed=4)
    assert setup.front_end() and not plain.front_end()  # the default adds nothing: older keys stay valid
    assert cache_key(items(), 0, setup) != cache_key(items(), 0, plain)
    digital = np.concatenate([audio, np.zeros(8000, np.float32), audio])  # the per-window clip binds around the gap
    with torch.no_grad():
        front = OwwFrontend()
        win = front(torch.from_numpy(digital)[None])[0]
        clipped = LowerBackbone(SpeechEmbedding.from_onnx(), 17)(win).numpy()
        assert 0 < len(front.clipped(front.log_mel(torch.from_numpy(digital)[None]))[0]) < len(win)
    once = OrtEmbedder(path=frames, out_dim=lower_dim(17))(digital)  # the default front end: the clip redone
    assert np.abs(once - clipped).max() < 1e-3 * np.abs(clipped).max()
    by_windows = OrtEmbedder(cfg=OwwFrontendConfig("none", -75.0), path=lower, out_dim=lower_dim(17))(audio)
    assert np.abs(by_windows - ref).max() < 1e-3 * np.abs(ref).max()  # a windows graph takes any front end


def test_an_in_process_caller_gets_presses_noted_while_the_pool_works(tmp_path, lower, monkeypatch):
    """A Python caller with Python's own SIGINT handler (no command's ``noting()`` around it): the
    worker pool's start can drop a Ctrl-C, so ``build_cache`` notes presses itself for its checks."""
    import signal

    from listener.training import interrupt

    handlers = []
    real_check = interrupt.check
    monkeypatch.setattr(interrupt, "check", lambda: (handlers.append(signal.getsignal(signal.SIGINT)), real_check()))
    found = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own (a background run ignores it)
    try:
        setup = CacheSetup(lower, lower_dim(17), StringAugment(), (), seed=4, workers=1, progress=False)
        build_caches(items(), 1, tmp_path, setup, log=lambda _: None)
        pool_checks = handlers[1:]  # the first is build_caches' own, before the pool
        assert pool_checks and all(h is interrupt._on_sigint for h in pool_checks)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the caller's, put back
    finally:
        signal.signal(signal.SIGINT, found)


_PRESS_WHILE_FORKING = """
import os, signal, sys
import numpy as np
from pathlib import Path
from listener.training.embedding_cache import CacheSetup, build_caches
from listener.training.speech_embedding import lower_dim
from listener.training.strings import Item, StringAugment

armed = [True]

def press_once():  # Ctrl-C landing in an at-fork hook, as it can while the pool forks its workers
    if armed[0]:
        armed[0] = False
        signal.raise_signal(signal.SIGINT)

os.register_at_fork(after_in_parent=press_once)
signal.signal(signal.SIGINT, signal.default_int_handler)
setup = CacheSetup(sys.argv[1], lower_dim(17), StringAugment(), (), seed=4, workers=1, progress=False)
item = Item(np.zeros(8000, np.float32), (), [], "noise", "n")
try:
    build_caches([item] * 3, 1, Path(sys.argv[2]), setup, log=lambda _: None)
except KeyboardInterrupt:
    import multiprocessing

    print("stopped", len(multiprocessing.active_children()), "workers left")
    sys.exit(130)
print("finished")
"""


def test_a_press_while_the_pool_forks_stops_the_build_without_a_printed_traceback(tmp_path, lower):
    """A KeyboardInterrupt raised inside an at-fork hook can only be printed ("Exception ignored
    in ..."); the press is held while the workers fork and delivered right after, in ordinary code."""
    import subprocess
    import sys

    script = tmp_path / "press.py"
    script.write_text(_PRESS_WHILE_FORKING)
    proc = subprocess.run(
        [sys.executable, str(script), str(lower), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stdout.strip() == "stopped 0 workers left"  # the pool ended even though the press came as it began
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "cache" / "copy0.npz").exists()
