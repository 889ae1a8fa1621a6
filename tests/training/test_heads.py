"""The sounds model's heads on the frozen speech embedding, trained on generated tones (seconds, no datasets)."""

from __future__ import annotations

import numpy as np
import torch

from listener.training.calibrate import loudest_second_db
from listener.training.heads import (
    HeadTraining,
    at_random_levels,
    augmented_copies,
    cut_windows,
    fit_heads,
    gated_starts,
    padded,
    window_inputs,
)
from listener.training.models.sounds import STATS_DIM
from listener.training.speech_embedding import EMB_DIM
from tests.tones import SOUND_LABELS as LABELS
from tests.tones import sound_clips as clips
from tests.tones import sound_model as tone_model

RATE = 16000


def test_gated_windows_keep_the_loud_part_and_pad_short_clips() -> None:
    x = np.zeros(4 * RATE, np.float32)
    x[2 * RATE : 3 * RATE] = 0.5
    starts = gated_starts(x, RATE // 4)
    assert len(starts) and all(s + RATE > 2 * RATE and s < 3 * RATE for s in starts)  # every window holds the sound
    short = padded(np.ones(RATE // 2, np.float32), seed=0)
    assert len(short) == RATE and abs(short[RATE // 2] - 1.0) < 1e-3 and abs(short[0]) < 1e-3
    wins, owner = cut_windows([x, np.ones(RATE // 2, np.float32)], RATE // 4)
    assert wins.shape[1] == RATE and owner.tolist() == [0] * len(starts) + [1]


def test_head_inputs_are_what_the_graph_computes() -> None:
    model = tone_model()
    audio = torch.from_numpy(np.stack(clips("low", 2, np.random.default_rng(0)))[:, :RATE])
    inputs = model.head_inputs(audio)
    assert inputs["speech"].shape == (2, 3 * EMB_DIM) and inputs["hybrid"].shape == (2, 3 * EMB_DIM + STATS_DIM)
    with torch.no_grad():
        logits, feats = model(audio)
        manual = torch.stack([torch.softmax(h(inputs[h.kind]), 1) for h in model.net.heads]).mean(
            0
        )  # the heads averaged in probability
    assert feats.shape == (2, 64, 97)
    assert torch.allclose(torch.softmax(logits, 1), manual, atol=1e-5)


def test_heads_learn_tones_from_noise_on_the_frozen_backbone() -> None:
    rng = np.random.default_rng(1)
    model = tone_model()
    frozen = [p.clone() for p in model.net.backbone.parameters()]
    train = {k: clips(k, 12, rng) for k in LABELS}
    wins, y = [], []
    for i, k in enumerate(LABELS):
        w, _ = cut_windows(train[k], RATE // 4)
        wins.append(w)
        y.append(np.full(len(w), i))
    fit_heads(model, window_inputs(model, np.concatenate(wins)), np.concatenate(y), HeadTraining(epochs=25, batch=32))
    assert all(torch.equal(a, b) for a, b in zip(frozen, model.net.backbone.parameters()))  # the backbone stays
    test_wins, test_y = [], []
    for i, k in enumerate(LABELS):
        w, _ = cut_windows(clips(k, 6, rng), RATE // 2)
        test_wins.append(w)
        test_y.append(np.full(len(w), i))
    with torch.no_grad():
        pred = model(torch.from_numpy(np.concatenate(test_wins)))[0].argmax(1).numpy()
    assert (pred == np.concatenate(test_y)).mean() >= 0.9


def test_augmented_copies_at_absolute_levels_lose_the_recordings_own_level() -> None:
    rng = np.random.default_rng(1)
    audio = np.stack([rng.standard_normal(2 * RATE) * g for g in (0.001, 0.01, 0.1)]).astype(np.float32)
    noise = (rng.standard_normal(4 * RATE) * 0.01).astype(np.float32)
    relative = augmented_copies(audio, noise, 2, seed=5)
    absolute = augmented_copies(audio, noise, 2, seed=5, level_db=(-40.0, -20.0))
    assert np.array_equal(absolute[0], audio)  # copy 0 stays as recorded
    for rel, ab in zip(relative[1:], absolute[1:]):
        levels = [loudest_second_db(c) for c in ab]
        assert all(-40.01 <= x <= -19.99 for x in levels)  # each clip at its drawn level
        assert np.allclose(
            ab / np.abs(ab).max(axis=1, keepdims=True), rel / np.abs(rel).max(axis=1, keepdims=True), atol=1e-5
        )
    # without the option, the quiet recording stays 40 dB under the loud one in some copy
    spread = [loudest_second_db(c[2]) - loudest_second_db(c[0]) for c in relative[1:]]
    assert max(spread) > 20.0


def test_negatives_at_random_levels_span_the_range_and_keep_their_waveform() -> None:
    rng = np.random.default_rng(2)
    clips = [
        (rng.standard_normal(n) * g).astype(np.float32) for n, g in ((RATE, 1e-3), (3 * RATE, 0.3), (RATE // 2, 0.05))
    ]
    clips.append(np.zeros(RATE, np.float32))  # digital silence has no level to set
    out = at_random_levels(clips, (-45.0, -6.0), np.random.default_rng(3))
    levels = [loudest_second_db(c) for c in out[:3]]
    assert all(-45.01 <= x <= -5.99 for x in levels) and max(levels) - min(levels) > 1.0
    for before, after in zip(clips[:3], out[:3]):
        ratio = after[np.abs(before) > 1e-6] / before[np.abs(before) > 1e-6]
        assert np.allclose(ratio, ratio[0], rtol=1e-4)  # a pure gain
    assert np.array_equal(out[3], clips[3])
    again = at_random_levels(clips[:3], (-45.0, -6.0), np.random.default_rng(3))
    assert [loudest_second_db(c) for c in again] == levels  # one draw per clip, in order
