"""Augmentation: each step does what it says, on real tensors (its speed: bench/bench_augment.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from listener.training.augment import AugmentConfig, Augmenter, freq_warp, noise_bank, spec_augment
from listener.training.datasets.base import DatasetError

SR = 16000


def only(**kw) -> AugmentConfig:
    """A config with every step off except the ones given."""
    cfg = AugmentConfig.off()
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def tone(freq: float, n: int = SR, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(n) / SR
    return amp * torch.sin(2 * np.pi * freq * t)


def band_energy(x: torch.Tensor, lo: float, hi: float) -> float:
    spec = torch.fft.rfft(x).abs() ** 2
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / SR)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def test_off_is_identity() -> None:
    x = torch.rand(4, SR) * 1.6 - 0.8
    y = Augmenter(AugmentConfig.off(), np.ones((2, SR), np.float32))(x)
    assert torch.equal(x, y)


def test_shift_moves_without_wrapping() -> None:
    x = torch.zeros(8, SR)
    x[:, SR // 2] = 1.0  # one click in the middle
    y = Augmenter(only(shift_p=1.0, shift_max_s=0.1), seed=3)(x)
    pos = y.argmax(dim=1)
    assert torch.all((pos - SR // 2).abs() <= int(0.1 * SR))
    assert len(set(pos.tolist())) > 1  # rows got different shifts
    # a click at the very end is dropped, not wrapped to the start
    z = torch.zeros(8, SR)
    z[:, -1] = 1.0
    w = Augmenter(only(shift_p=1.0, shift_max_s=0.1), seed=4)(z)
    assert float(w[:, :1000].abs().sum()) == 0.0


def test_noise_snr_is_in_range() -> None:
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((5, SR)).astype(np.float32) * 0.1
    x = tone(440).repeat(16, 1)
    aug = Augmenter(only(noise_p=1.0, snr_db=(10.0, 20.0)), bank, seed=1)
    y = aug(x)
    noise = y - x
    snr = 10 * torch.log10(x.pow(2).mean(1) / noise.pow(2).mean(1))
    assert torch.all(snr > 9.9) and torch.all(snr < 20.1)
    assert float(snr.std()) > 0.5  # random per row


def test_gain_range_and_clipping() -> None:
    x = tone(440, amp=0.1).repeat(32, 1)
    y = Augmenter(only(gain_p=1.0, gain_db=(-12.0, 6.0)), seed=2)(x)
    ratio_db = 20 * torch.log10(y.abs().max(1).values / 0.1)
    assert torch.all(ratio_db > -12.1) and torch.all(ratio_db < 6.1)
    loud = Augmenter(only(gain_p=1.0, gain_db=(20.0, 20.0)))(tone(440, amp=0.5)[None])
    assert float(loud.abs().max()) == pytest.approx(1.0)


def test_speed_changes_pitch_and_keeps_length() -> None:
    x = tone(1000).repeat(16, 1)
    y = Augmenter(only(speed_p=1.0, speed_range=(1.1, 1.1)))(x)
    assert y.shape == x.shape
    peak = torch.fft.rfft(y[0]).abs().argmax().item() * SR / SR  # 1 Hz bins for 1 s
    assert peak == pytest.approx(1100, abs=3)


def test_band_limit_cuts_high_and_low() -> None:
    x = (tone(100) + tone(1000) + tone(6000)).repeat(30, 1) / 3
    y = Augmenter(only(band_p=1.0), seed=5)(x)
    hi_before = band_energy(x[0], 5000, 7000)
    lo_before = band_energy(x[0], 50, 150)
    cut_hi = [band_energy(r, 5000, 7000) < 1e-3 * hi_before for r in y]
    cut_lo = [band_energy(r, 50, 150) < 1e-3 * lo_before for r in y]
    assert any(cut_hi) and any(cut_lo)  # low-pass, high-pass (or both) all occur
    mid = [band_energy(r, 900, 1100) / band_energy(x[0], 900, 1100) for r in y]
    assert min(mid) > 0.95  # the voice band passes


def test_reproducible_with_seed() -> None:
    x = torch.rand(4, SR) - 0.5
    bank = np.random.default_rng(0).standard_normal((3, SR)).astype(np.float32)
    a = Augmenter(AugmentConfig(), bank, seed=7)(x)
    b = Augmenter(AugmentConfig(), bank, seed=7)(x)
    c = Augmenter(AugmentConfig(), bank, seed=8)(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_spec_augment_masks() -> None:
    feats = torch.randn(16, 40, 101)
    cfg = AugmentConfig(spec_p=1.0, time_masks=2, time_mask_max=10, freq_masks=2, freq_mask_max=8)
    out = spec_augment(feats, cfg, torch.Generator().manual_seed(0))
    changed = out != feats
    assert out.shape == feats.shape
    assert changed.any()
    for i in range(16):
        rows_hit = changed[i].all(dim=1).sum().item()  # whole frequency bins masked
        cols_hit = changed[i].all(dim=0).sum().item()  # whole frames masked
        assert rows_hit <= 16 and cols_hit <= 20
    none = spec_augment(feats, AugmentConfig.off())
    assert torch.equal(none, feats)
    with pytest.raises(ValueError, match=r"\[B, F, T\]"):
        spec_augment(torch.zeros(3, 4))


def test_freq_warp_moves_formants_and_keeps_timing() -> None:
    feats = torch.full((64, 40, 101), -5.0)
    feats[:, 20, 10:60] = 5.0  # one "formant" at bin 20, on during frames 10..59
    cfg = AugmentConfig(warp_p=1.0, warp_range=(0.8, 1.2))
    out = freq_warp(feats, cfg, torch.Generator().manual_seed(0))
    assert out.shape == feats.shape
    peaks = out[:, :, 30].argmax(dim=1).float()  # where the formant went, per example
    assert 15 <= peaks.min() and peaks.max() <= 25  # 20 * 0.8 .. 20 * 1.2 (rounded)
    assert peaks.min() < 19 and peaks.max() > 21  # both directions drawn
    assert torch.equal(out[:, :, :10], feats[:, :, :10])  # timing untouched: frames before the onset
    assert torch.equal(out[:, :, 60:], feats[:, :, 60:])
    fixed = freq_warp(feats, AugmentConfig(warp_p=1.0, warp_range=(1.0, 1.0)))
    assert torch.allclose(fixed, feats)  # a factor of 1 is the identity
    assert freq_warp(feats, AugmentConfig.off()) is feats
    half = freq_warp(feats, AugmentConfig(warp_p=0.5, warp_range=(1.3, 1.3)), torch.Generator().manual_seed(1))
    moved = (half != feats).flatten(1).any(dim=1).float().mean().item()
    assert 0.25 < moved < 0.75  # warp_p is the fraction of the batch warped
    with pytest.raises(ValueError, match=r"\[B, F, T\]"):
        freq_warp(torch.zeros(3, 4), cfg)
    with pytest.raises(ValueError, match="warp_range"):
        AugmentConfig(warp_range=(0.0, 1.1))


def test_noise_bank_from_files(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", np.full(int(2.5 * SR), 0.1, np.float32), SR)
    sf.write(tmp_path / "b.wav", np.full(8000 * 3, 0.2, np.float32), 8000)  # resampled
    bank = noise_bank([tmp_path / "a.wav", tmp_path / "b.wav"], SR)
    assert bank.shape == (5, SR) and bank.dtype == np.float32
    sf.write(tmp_path / "short.wav", np.zeros(100, np.float32), SR)
    with pytest.raises(DatasetError, match="at least"):
        noise_bank([tmp_path / "short.wav"], SR)


def test_bad_config_and_input() -> None:
    with pytest.raises(ValueError, match="noise_p"):
        AugmentConfig(noise_p=1.5)
    with pytest.raises(ValueError, match="snr_db"):
        AugmentConfig(snr_db=(30.0, 0.0))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        Augmenter()(torch.zeros(SR))
