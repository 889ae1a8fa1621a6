"""The speech embedding's torch port against the two ONNX files it was read from."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from listener.training.speech_embedding import (  # noqa: E402
    EMB_DIM,
    EMB_HOP,
    EMB_SPAN,
    EMBEDDING_ONNX,
    INT16_SCALE,
    MELSPEC_ONNX,
    OWW_FRONTEND,
    LowerBackbone,
    OwwEmbedder,
    OwwFrontend,
    OwwFrontendConfig,
    SpeechEmbedding,
    UpperBackbone,
    n_embeddings,
)

# sha256 of each file as the openwakeword 0.5.1 wheel's RECORD gives it (base64 there)
WHEEL_SHA256 = {
    EMBEDDING_ONNX: "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
    MELSPEC_ONNX: "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
}


def voiced(seconds: float, seed: int = 0) -> np.ndarray:
    """Vowel-like test audio: a gliding harmonic tone in syllables over faint noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 110 + 60 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)
    audio = 0.3 * tone * envelope + 0.003 * rng.standard_normal(len(t))
    return audio.astype(np.float32)


def melspec_onnx(audio: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(MELSPEC_ONNX), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": (audio[None] * INT16_SCALE).astype(np.float32)})[0]
    return np.squeeze(out, axis=(0, 1)) / 10.0 + 2.0


@pytest.mark.parametrize("path", list(WHEEL_SHA256))
def test_files_are_the_wheels_own(path):
    assert hashlib.sha256(path.read_bytes()).hexdigest() == WHEEL_SHA256[path]


def test_front_end_matches_melspectrogram_onnx_on_a_whole_clip():
    audio = voiced(2.0)
    ref = melspec_onnx(audio)  # [T, 32]
    with torch.no_grad():
        fe = OwwFrontend(OwwFrontendConfig("utterance"))
        mine = fe.windows(fe.log_mel(torch.from_numpy(audio)[None]))[0].numpy()  # [E, 76, 32]
    assert mine.shape[0] == n_embeddings(len(audio)) > 10
    for e in range(mine.shape[0]):
        np.testing.assert_allclose(mine[e], ref[8 * e : 8 * e + 76], atol=1e-4)


def test_window_clip_is_the_onnx_front_end_on_each_windows_own_samples():
    audio = voiced(2.0, seed=1)
    audio[: len(audio) // 2] *= 0.001  # quiet first half: the per-window clip differs from the per-clip one
    with torch.no_grad():
        win = OwwFrontend()(torch.from_numpy(audio)[None])[0].numpy()
    for e in range(win.shape[0]):
        ref = melspec_onnx(audio[e * EMB_HOP : e * EMB_HOP + EMB_SPAN])
        np.testing.assert_allclose(win[e], ref, atol=1e-4)


def test_backbone_port_matches_embedding_model_onnx():
    audio = voiced(1.5, seed=2)
    with torch.no_grad():
        win = OwwFrontend()(torch.from_numpy(audio)[None])[0]
        port = SpeechEmbedding.from_onnx()(win).numpy()
        lower_upper = UpperBackbone(SpeechEmbedding.from_onnx(), 17)(
            LowerBackbone(SpeechEmbedding.from_onnx(), 17)(win)
        ).numpy()
        piped = OwwEmbedder()(torch.from_numpy(audio)[None])[0].numpy()
    sess = ort.InferenceSession(str(EMBEDDING_ONNX), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input_1": win.numpy()[:, :, :, None]})[0].reshape(len(win), EMB_DIM)
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(port, ref, atol=1e-4)
    np.testing.assert_allclose(lower_upper, ref, atol=1e-4)
    np.testing.assert_allclose(piped, ref, atol=1e-4)


def test_a_file_with_other_convolutions_is_refused(tmp_path):
    import onnx

    model = onnx.load(str(EMBEDDING_ONNX))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    model.graph.node.remove(convs[-1])
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="Conv nodes"):
        SpeechEmbedding.from_onnx(tmp_path / "bad.onnx")


def test_the_input_floor_is_the_mean_mel_power_of_noise_at_that_level():
    """``floor_db``: a white-noise recording at -65 dBFS has, on average, the mel power the floor adds, so
    digital silence reads as that noise's level and loud audio barely moves."""
    noise = np.random.default_rng(3).standard_normal(16000 * 60).astype(np.float32) * 10 ** (-65 / 20)
    with torch.no_grad():
        plain, floored = OwwFrontend(), OwwFrontend(OwwFrontendConfig(floor_db=-65.0))
        measured = (10 ** (plain.log_mel(torch.from_numpy(noise)[None])[0].numpy() / 10)).mean(0)
        np.testing.assert_allclose(floored.floor.numpy(), measured, rtol=0.05)
        silence = floored.log_mel(torch.zeros(1, 16000))[0].numpy()
        assert np.allclose(silence, 10 * np.log10(floored.floor.numpy()), atol=1e-4)  # not log10(1e-10)
        assert plain.log_mel(torch.zeros(1, 16000)).max() == pytest.approx(-100.0)
        loud = torch.from_numpy(voiced(1.0, seed=4))[None]
        shift = floored.log_mel(loud) - plain.log_mel(loud)
        assert 0 <= float(shift.min()) and float(shift.median()) < 0.5  # voice over -50 dBFS noise: under 0.5 dB
    assert "floor" not in OwwFrontend().state_dict()  # off: melspectrogram.onnx's front end, nothing added


def test_the_front_end_settings_have_one_record_and_refuse_a_clip_they_do_not_know():
    assert OWW_FRONTEND == OwwFrontendConfig() and OWW_FRONTEND.is_default
    assert not OwwFrontendConfig("none").is_default and not OwwFrontendConfig(floor_db=-75.0).is_default
    with pytest.raises(ValueError, match="clip_mode must be one of window, utterance, none"):
        OwwFrontendConfig("per-call")
    assert OwwFrontend().cfg is OWW_FRONTEND  # every default front end reads the one record


@pytest.mark.parametrize("clip_mode", ["window", "none", "utterance"])
def test_convolutions_once_over_a_call_give_every_windows_embedding(clip_mode):
    """The backbone runs once over all the frames: its unpadded time axis and three time pools line up with
    the 8-frame hop, so row e is window e's embedding. Zeros around a voice make the per-window clip bind in
    some windows and not others: "window" redoes those on their own, "utterance" matches the windows cut
    from the same clipped frames, "none" has no clip."""
    audio = np.concatenate([np.zeros(6000, np.float32), voiced(1.7, seed=5), np.zeros(3000, np.float32)])
    x = torch.from_numpy(audio)[None]
    with torch.no_grad():
        embedder = OwwEmbedder(OwwFrontendConfig(clip_mode))
        win = embedder.frontend(x)[0]  # [E, 76, 32], window by window
        by_window = embedder.backbone(win).numpy()
        once = embedder(x)[0].numpy()
        assert once.shape == (n_embeddings(len(audio)), EMB_DIM) == by_window.shape
        np.testing.assert_allclose(once, by_window, atol=1e-4)
        db = embedder.frontend.log_mel(x)
        rows, redo = embedder.frontend.clipped(db)
        for n_lower in (15, 17, 19):
            lower = LowerBackbone(embedder.backbone, n_lower)
            feats = lower.over_frames(embedder.frontend.sequence(x))[0]
            feats[rows] = lower(redo)
            np.testing.assert_allclose(feats.numpy(), lower(win).numpy(), atol=1e-4)
        if clip_mode == "window":
            assert 0 < len(rows) < len(once)  # both passes ran: some windows clipped, some not
        else:
            assert len(rows) == 0
            assert not np.allclose(once, OwwEmbedder()(x)[0].numpy(), atol=1e-2)  # the clip did bind here


def test_the_windows_a_per_window_clip_changes_are_those_with_digital_silence():
    """``clipped`` names the windows holding a frame more than 80 dB under their loudest, with ``forward``'s
    numbers for them; a voice over faint noise has none, and neither has a front end without the clip."""
    voice = voiced(2.0, seed=6)
    noisy = voice + np.random.default_rng(6).standard_normal(len(voice)).astype(np.float32) * 1e-3
    gap = np.concatenate([noisy, np.zeros(16000, np.float32), noisy])
    front = OwwFrontend()
    with torch.no_grad():
        assert len(front.clipped(front.log_mel(torch.from_numpy(noisy)[None]))[0]) == 0
        x = torch.from_numpy(np.stack([gap, gap[::-1].copy()]))  # a batch of two: rows index [B * E]
        rows, redo = front.clipped(front.log_mel(x))
        every = front(x).reshape(-1, 76, 32)
        assert 0 < len(rows) < len(every) and int(rows.max()) >= len(every) // 2  # the second clip's too
        np.testing.assert_allclose(redo.numpy(), every[rows].numpy())
        unclipped = OwwFrontend(OwwFrontendConfig("none"))
        assert len(unclipped.clipped(unclipped.log_mel(x))[0]) == 0
