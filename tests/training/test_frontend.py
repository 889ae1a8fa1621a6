"""The in-graph front end matches torchaudio and exports to ONNX unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from listener.training.frontend import DIGITS_FRONTEND, SOUNDS_FRONTEND, FrontendConfig, LogMelFrontend


@pytest.mark.parametrize("cfg", [DIGITS_FRONTEND, SOUNDS_FRONTEND])
def test_logmel_matches_torchaudio(cfg: FrontendConfig) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 16000) * 0.1
    ours = LogMelFrontend(cfg)(x)
    ref = torchaudio.transforms.MelSpectrogram(
        cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        f_min=cfg.f_min,
        f_max=cfg.f_max,
        n_mels=cfg.n_mels,
        center=False,
        power=2.0,
    )(x)
    ref = torch.log(ref + cfg.log_eps)
    assert ours.shape == (3, cfg.n_mels, cfg.n_frames(16000))
    assert torch.allclose(ours, ref, atol=1e-3)


def test_mfcc_matches_torchaudio() -> None:
    cfg = FrontendConfig(type="mfcc", n_mfcc=13)
    x = torch.randn(2, 16000) * 0.1
    ours = LogMelFrontend(cfg)(x)
    ref = torchaudio.transforms.MFCC(
        cfg.sample_rate,
        n_mfcc=13,
        log_mels=True,
        melkwargs=dict(
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            f_min=cfg.f_min,
            f_max=cfg.f_max,
            n_mels=cfg.n_mels,
            center=False,
        ),
    )(x)
    # torchaudio's log_mels uses log(x + 1e-6) too
    assert ours.shape == ref.shape == (2, 13, cfg.n_frames(16000))
    assert torch.allclose(ours, ref, atol=1e-2)


def test_tone_lands_in_the_right_mel_bin() -> None:
    t = torch.arange(16000) / 16000
    tone = (0.5 * torch.sin(2 * np.pi * 1000 * t))[None]
    feats = LogMelFrontend(DIGITS_FRONTEND)(tone)[0].mean(dim=1)
    fb = torchaudio.functional.melscale_fbanks(241, 20.0, 7600.0, 40, 16000, norm=None, mel_scale="htk")
    expected = int(fb[round(1000 / (16000 / 480))].argmax())
    assert abs(int(feats.argmax()) - expected) <= 1


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="front-end type"):
        LogMelFrontend(FrontendConfig(type="cqt"))


def test_exports_to_onnx_and_matches(tmp_path) -> None:
    import onnxruntime as ort

    from listener.contract import FEATURES, INPUT

    fe = LogMelFrontend(DIGITS_FRONTEND).eval()
    path = tmp_path / "fe.onnx"
    torch.onnx.export(
        fe,
        (torch.zeros(1, 16000),),
        str(path),
        input_names=[INPUT],
        output_names=[FEATURES],
        dynamic_axes={INPUT: {0: "b"}},
        opset_version=17,
        dynamo=False,
    )
    x = (np.random.default_rng(1).standard_normal((4, 16000)) * 0.1).astype(np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {INPUT: x})[0]
    with torch.no_grad():
        want = fe(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() < 1e-3
