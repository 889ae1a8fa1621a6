"""The CTC head: alignment windows, the training loop (loss falls, Ctrl-C keeps the weights), greedy decoding."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from listener.training.ctc import (  # noqa: E402
    CtcTrainConfig,
    alignment_mask,
    audio_model,
    first_frame_after,
    receptive_field,
    stacked_model,
    train_ctc,
)
from listener.training.embedding_cache import CachedItem  # noqa: E402
from listener.training.speech_embedding import EMB_HOP, lower_dim  # noqa: E402
from listener.training.tokens import BLANK, N_TOKENS, OTHER  # noqa: E402

K = 5
R = receptive_field(K)


def test_receptive_field_of_the_shipped_head():
    assert R == 17632 and first_frame_after(R, K) == 0 and first_frame_after(R + 1, K) == 1
    assert first_frame_after(R + EMB_HOP, K) == 1 and first_frame_after(100, K) < 0


def cached(n_frames: int, tokens: list[int], ends: list[float] | None, dim: int = 8) -> CachedItem:
    return CachedItem(np.zeros((n_frames, dim), np.float16), np.array(tokens, np.int64), ends)


def test_alignment_mask_allows_each_timed_token_only_near_its_word_end():
    # word ends at the end of frame 6's field and of frame 12's: "five" may fire in 3..8, "eight" in 9..14
    item = cached(30, [6, 9], [R + 6 * EMB_HOP, R + 12 * EMB_HOP])
    mask = alignment_mask([item], K, 26, (-3, 2))[0]
    assert (mask[:, BLANK] == 0).all() and (mask[:, OTHER] == 0).all()
    assert set(np.flatnonzero(mask[:, 6].numpy() == 0)) == set(range(3, 9))
    assert set(np.flatnonzero(mask[:, 9].numpy() == 0)) == set(range(9, 15))


def test_alignment_mask_leaves_untimed_items_and_words_before_frame_0_free():
    untimed = cached(30, [6, 9], None)
    early = cached(30, [6, 6], [1000.0, R + 10 * EMB_HOP])  # the first "five" ends before frame 0 can hear it
    repeated = cached(30, [3, 3], [R + 2 * EMB_HOP, R + 20 * EMB_HOP])
    mask = alignment_mask([untimed, early, repeated], K, 26, (0, 1))
    assert (mask[0] == 0).all() and (mask[1] == 0).all()
    assert set(np.flatnonzero(mask[2, :, 3].numpy() == 0)) == {2, 3, 20, 21}  # union over its occurrences


def patterned_items(n: int, seed: int = 0) -> list[CachedItem]:
    """Generated lower-backbone features: each token a fixed random pattern over 3 frames, in noise."""
    rng = np.random.default_rng(seed)
    dim = lower_dim(17)
    patterns = rng.standard_normal((N_TOKENS, dim)).astype(np.float32) * 2
    items = []
    for _ in range(n):
        tokens = list(rng.integers(1, N_TOKENS, rng.integers(1, 4)))
        feats = [rng.standard_normal((4, dim)) * 0.3]
        for t in tokens:
            feats += [patterns[t] + rng.standard_normal((3, dim)) * 0.3, rng.standard_normal((3, dim)) * 0.3]
        feats.append(rng.standard_normal((4, dim)) * 0.3)
        items.append(CachedItem(np.concatenate(feats).astype(np.float16), np.array(tokens, np.int64), None))
    return items


def test_training_reduces_the_loss_and_writes_a_checkpoint(tmp_path):
    torch.set_num_threads(1)
    items = patterned_items(48)
    model = stacked_model(17, 1, items, k=3, hidden=32, depth=1, dropout=0.0)
    cfg = CtcTrainConfig(epochs=6, batch=16, lr=5e-3, align_window=None, progress=False)
    result = train_ctc(model, items, cfg, tmp_path / "last.pt", log=lambda m: None)
    assert len(result.losses) == 6 and not result.interrupted
    assert result.losses[-1] < 0.7 * result.losses[0]
    saved = torch.load(tmp_path / "last.pt", weights_only=False)
    assert saved["shape"] == {"k": 3, "n_lower": 17} and len(saved["result"]["losses"]) == 6
    with torch.no_grad():
        logits = model(torch.from_numpy(items[0].features.astype(np.float32))[None])
    assert logits.shape == (1, len(items[0].features) - 2, N_TOKENS)  # K=3: two frames fewer


def test_only_the_last_backbone_convolutions_train():
    model = stacked_model(17, 2, patterned_items(4), k=3, hidden=16, depth=1)
    convs = [m for m in model.upper.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.weight.requires_grad for c in convs] == [False, True, True]


def test_members_in_one_graph_give_the_mean_of_their_probabilities():
    torch.set_num_threads(1)
    items = patterned_items(4)
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = stacked_model(17, 2, items, k=3, hidden=16, depth=1, dropout=0.0)
        with torch.no_grad():  # members that differ in their tuned convolutions too, not only in their heads
            conv = [m for m in model.upper.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            conv.weight.mul_(1.0 + 0.2 * seed)
        members.append(model.eval())
    audio = torch.from_numpy(np.random.default_rng(2).standard_normal((2, R + 6 * EMB_HOP)).astype(np.float32) * 0.1)
    with torch.no_grad():
        alone = [torch.softmax(audio_model(m)(audio), -1) for m in members]
        both = torch.softmax(audio_model(members)(audio), -1)
    assert both.shape == alone[0].shape == (2, 9, N_TOKENS)  # 11 embeddings, K=3
    assert not torch.allclose(alone[0], alone[1], atol=1e-3)
    assert torch.allclose(both, (alone[0] + alone[1]) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="n_lower"):
        audio_model([members[0], stacked_model(15, 1, [cached(8, [1], None, lower_dim(15))], k=3, hidden=16)])
    with pytest.raises(ValueError, match="no trained model"):
        audio_model([])


def test_ctrl_c_ends_training_and_keeps_the_weights(tmp_path):
    torch.set_num_threads(1)
    items = patterned_items(16)
    model = stacked_model(17, 0, items, k=3, hidden=16, depth=1)
    cfg = CtcTrainConfig(epochs=20_000, batch=8, align_window=None, progress=False)
    # Python's own Ctrl-C handler, whatever an earlier test in this process left installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = train_ctc(model, items, cfg, tmp_path / "last.pt", log=lambda m: None)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert result.interrupted and len(result.losses) < 20_000
    saved = torch.load(tmp_path / "last.pt", weights_only=False)
    assert saved["result"]["interrupted"] is True
    assert torch.equal(saved["state"]["head.net.0.weight"], model.state_dict()["head.net.0.weight"])
