"""Batch waveform and spectrogram augmentation for training (torch, vectorised).

The listener hears words from other people, at other distances, through cheap
microphones, in rooms with noise. The few speakers of the training sets do not,
so each training batch is perturbed on the fly:

- speed/pitch perturbation (resample by a factor 0.9-1.1, centre kept, length kept)
- time shift (zero-filled, no wrap-around, so a word never splits in two)
- background noise from a bank of 1 s slices at a random SNR
- band-limiting: telephone / cheap microphone (low-pass 3-4 kHz and/or high-pass 200-300 Hz)
- gain (random level, clipped to [-1, 1] like a real ADC)
- SpecAugment time and frequency masks on features ([B, F, T], `spec_augment`)
- vocal-tract-length perturbation: the mel axis stretched or squeezed by a
  factor 0.9-1.1 (`freq_warp`; off unless `warp_p` > 0), a new "speaker" per
  clip, since a few real speakers are all the training data has

Every step works on the whole batch at once (one gather / one FFT), no Python
loop per clip; speed and shift share one resampling pass. Each step runs only
on the random subset of rows that drew it (its probability in `AugmentConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from listener.training.datasets.base import DatasetError, load_audio


@dataclass
class AugmentConfig:
    """Probabilities (per clip) and ranges of every augmentation; all on by default."""

    speed_p: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)
    shift_p: float = 0.8
    shift_max_s: float = 0.1
    noise_p: float = 0.8
    snr_db: tuple[float, float] = (0.0, 30.0)
    band_p: float = 0.3
    lowpass_hz: tuple[float, float] = (3000.0, 4000.0)
    highpass_hz: tuple[float, float] = (200.0, 300.0)
    gain_p: float = 0.8
    gain_db: tuple[float, float] = (-12.0, 6.0)
    spec_p: float = 0.8
    time_masks: int = 2
    time_mask_max: int = 10  # frames
    freq_masks: int = 2
    freq_mask_max: int = 8  # bins
    warp_p: float = 0.0  # vocal-tract-length perturbation of the mel axis (freq_warp)
    warp_range: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ValueError(f"AugmentConfig.{f.name} must be in [0, 1], got {value}")
            if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"AugmentConfig.{f.name} must be (low, high) with low <= high, got {value}")
        if self.speed_range[0] <= 0:
            raise ValueError(f"AugmentConfig.speed_range must be positive, got {self.speed_range}")
        if self.lowpass_hz[0] <= self.highpass_hz[1]:
            raise ValueError("AugmentConfig: low-pass cut-offs must lie above the high-pass ones")
        for name in ("time_masks", "time_mask_max", "freq_masks", "freq_mask_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0")
        if self.warp_range[0] <= 0:
            raise ValueError(f"AugmentConfig.warp_range must be positive, got {self.warp_range}")
        if self.shift_max_s < 0:
            raise ValueError("AugmentConfig.shift_max_s must be >= 0")

    @classmethod
    def off(cls) -> AugmentConfig:
        """Everything disabled (validation / test batches)."""
        return cls(speed_p=0.0, shift_p=0.0, noise_p=0.0, band_p=0.0, gain_p=0.0, spec_p=0.0, warp_p=0.0)


def noise_bank(files: list[Path] | list[str], sample_rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    """Cut noise recordings into non-overlapping `seconds`-long slices: float32 [N, samples].

    Pass only noise meant for training (e.g. the train part of
    `_background_noise_`), so validation noise stays unseen.
    """
    n = int(round(seconds * sample_rate))
    slices: list[np.ndarray] = []
    for path in files:
        audio = load_audio(Path(path), sample_rate)
        count = audio.shape[0] // n
        if count:
            slices.append(audio[: count * n].reshape(count, n))
    if not slices:
        raise DatasetError(f"noise_bank: no file is at least {seconds} s long: {[str(f) for f in files]}")
    return np.concatenate(slices, axis=0).astype(np.float32)


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (hi - lo) + lo


class Augmenter:
    """Applies `AugmentConfig` to batches of waveforms [B, T] (float32, [-1, 1]).

    `noise`: a bank [N, S] of noise slices (see `noise_bank`) or one long 1-D
    noise signal; None disables the noise step. Random draws come from a
    private CPU generator seeded with `seed`, so a run is reproducible; the
    batch itself may live on any device.
    """

    def __init__(
        self,
        cfg: AugmentConfig | None = None,
        noise: np.ndarray | None = None,
        sample_rate: int = 16000,
        seed: int = 0,
    ) -> None:
        self.cfg = cfg or AugmentConfig()
        self.sample_rate = sample_rate
        self.gen = torch.Generator().manual_seed(seed)
        self.noise: torch.Tensor | None = None
        if noise is not None:
            bank = np.asarray(noise, dtype=np.float32)
            if bank.ndim == 1:
                bank = bank[None, :]
            if bank.ndim != 2 or bank.shape[0] == 0 or bank.shape[1] == 0:
                raise ValueError(f"Augmenter: noise must be [N, samples] or [samples], got shape {bank.shape}")
            self.noise = torch.from_numpy(bank.copy())

    def _rows(self, p: float, b: int) -> torch.Tensor:
        """Which rows (CPU bool [B]) get a step applied with probability p."""
        if p <= 0:
            return torch.zeros(b, dtype=torch.bool)
        return torch.rand(b, generator=self.gen) < p

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.ndim != 2:
            raise ValueError(f"Augmenter expects a batch [B, T], got shape {tuple(wave.shape)}")
        cfg = self.cfg
        device = wave.device
        x = wave.detach().to(torch.float32)
        b = x.shape[0]
        with torch.no_grad():
            x = self._warp(x, b)
            if self.noise is not None:
                x = self._on_rows(x, self._rows(cfg.noise_p, b), self._add_noise)
            x = self._on_rows(x, self._rows(cfg.band_p, b), self._band_limit)
            if cfg.gain_p > 0:
                rows = self._rows(cfg.gain_p, b)
                db = _uniform(self.gen, b, *cfg.gain_db)
                gain = torch.where(rows, 10.0 ** (db / 20.0), torch.ones(b)).to(device)
                x = x * gain[:, None]
            x = x.clamp(-1.0, 1.0)
        return x

    @staticmethod
    def _on_rows(x: torch.Tensor, rows: torch.Tensor, step) -> torch.Tensor:
        """Run `step` on the chosen rows only (work scales with the probability)."""
        idx = rows.nonzero().squeeze(1)
        if idx.numel() == 0:
            return x
        idx = idx.to(x.device)
        out = x.clone()
        out[idx] = step(x[idx])
        return out

    def _warp(self, x: torch.Tensor, b: int) -> torch.Tensor:
        """Speed/pitch perturbation and time shift in one resampling pass.

        Output sample i reads input position centre + (i - centre) * factor - shift
        (linear interpolation, zeros outside): the factor changes tempo and pitch
        around the centre, the integer shift moves the clip without wrapping it.
        """
        cfg = self.cfg
        t = x.shape[1]
        speed_rows = self._rows(cfg.speed_p, b)
        factor = torch.where(speed_rows, _uniform(self.gen, b, *cfg.speed_range), torch.ones(b))
        max_shift = int(cfg.shift_max_s * self.sample_rate)
        shift_rows = self._rows(cfg.shift_p if max_shift > 0 else 0.0, b)
        shift = torch.randint(-max_shift, max_shift + 1, (b,), generator=self.gen).float()
        shift = torch.where(shift_rows, shift, torch.zeros(b))
        chosen = (speed_rows | shift_rows).nonzero().squeeze(1)
        if chosen.numel() == 0 or t < 2:
            return x
        dev = x.device
        factor, shift, idx = factor[chosen].to(dev), shift[chosen].to(dev), chosen.to(dev)
        centre = (t - 1) / 2.0
        grid = torch.arange(t, device=dev, dtype=torch.float32)
        pos = centre + (grid[None, :] - centre) * factor[:, None] - shift[:, None]
        norm = pos * (2.0 / (t - 1)) - 1.0  # grid_sample's [-1, 1] (align_corners=True)
        coords = torch.stack([norm, torch.zeros_like(norm)], dim=-1)[:, None]  # [n, 1, T, 2]
        warped = torch.nn.functional.grid_sample(
            x[idx][:, None, None, :], coords, mode="bilinear", padding_mode="zeros", align_corners=True
        )[:, 0, 0]
        out = x.clone()
        out[idx] = warped
        return out

    def _add_noise(self, x: torch.Tensor) -> torch.Tensor:
        """Mix a random noise slice into each row at a random SNR."""
        assert self.noise is not None
        if self.noise.device != x.device:
            self.noise = self.noise.to(x.device)
        b, t = x.shape
        bank = self.noise
        if bank.shape[1] < t:
            bank = bank.repeat(1, math.ceil(t / bank.shape[1]))
            self.noise = bank
        n, s = bank.shape
        row = torch.randint(0, n, (b,), generator=self.gen).to(x.device)
        off = (torch.rand(b, generator=self.gen) * (s - t + 1)).long().clamp(max=s - t).to(x.device)
        if s == t:
            noise = bank.index_select(0, row)
        else:
            idx = off[:, None] + torch.arange(t, device=x.device)[None, :]
            noise = bank[row[:, None], idx]
        snr = _uniform(self.gen, b, *self.cfg.snr_db).to(x.device)
        p_sig = x.pow(2).mean(dim=1)
        p_noise = noise.pow(2).mean(dim=1).clamp_min(1e-10)
        scale = torch.sqrt(p_sig / (p_noise * 10.0 ** (snr / 10.0)))
        return x + noise * scale[:, None]

    def _band_limit(self, x: torch.Tensor) -> torch.Tensor:
        """Telephone / cheap-mic response: low-pass, high-pass or both (FFT mask, soft edges)."""
        b, t = x.shape
        cfg = self.cfg
        kind = torch.randint(0, 3, (b,), generator=self.gen)  # 0 low-pass, 1 high-pass, 2 both
        lp = _uniform(self.gen, b, *cfg.lowpass_hz)
        hp = _uniform(self.gen, b, *cfg.highpass_hz)
        lp = torch.where(kind == 1, torch.full_like(lp, float(self.sample_rate)), lp).to(x.device)
        hp = torch.where(kind == 0, torch.zeros_like(hp), hp).to(x.device)
        freqs = torch.fft.rfftfreq(t, d=1.0 / self.sample_rate).to(x.device)
        width = 100.0  # Hz of linear roll-off: a brick wall would ring
        low_gain = ((lp[:, None] + width / 2 - freqs[None, :]) / width).clamp(0.0, 1.0)
        high_gain = ((freqs[None, :] - hp[:, None] + width / 2) / width).clamp(0.0, 1.0)
        spec = torch.fft.rfft(x, dim=1)
        return torch.fft.irfft(spec * (low_gain * high_gain), n=t, dim=1)


def spec_augment(
    features: torch.Tensor,
    cfg: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SpecAugment: `time_masks` time and `freq_masks` frequency masks on [B, F, T].

    Masked cells take each example's mean (a log-mel of 0 is not silence).
    Applied to a fraction `spec_p` of the batch; returns a new tensor.
    """
    cfg = cfg or AugmentConfig()
    if features.ndim != 3:
        raise ValueError(f"spec_augment expects [B, F, T] features, got shape {tuple(features.shape)}")
    b, f, t = features.shape
    if cfg.spec_p <= 0:
        return features
    gen = generator or torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    dev = features.device
    rows = (torch.rand(b, generator=gen) < cfg.spec_p).to(dev)
    mask = torch.zeros(b, f, t, dtype=torch.bool, device=dev)

    def band(count: int, width_max: int, size: int) -> torch.Tensor:
        """[B, size] boolean: union of `count` random spans of width 0..width_max."""
        if count == 0 or width_max == 0:
            return torch.zeros(b, size, dtype=torch.bool, device=dev)
        width = (torch.rand(b, count, generator=gen) * (min(width_max, size) + 1)).long().to(dev)
        start = (torch.rand(b, count, generator=gen) * (size - width + 1).cpu()).long().to(dev)
        pos = torch.arange(size, device=dev)[None, None, :]
        spans = (pos >= start[..., None]) & (pos < (start + width)[..., None])
        return spans.any(dim=1)

    mask |= band(cfg.freq_masks, cfg.freq_mask_max, f)[:, :, None]
    mask |= band(cfg.time_masks, cfg.time_mask_max, t)[:, None, :]
    mask &= rows[:, None, None]
    mean = features.mean(dim=(1, 2), keepdim=True)
    return torch.where(mask, mean.expand_as(features), features)


def freq_warp(
    features: torch.Tensor,
    cfg: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Vocal-tract-length perturbation on [B, F, T] mel features (Jaitly & Hinton 2013).

    Row ``b`` becomes ``out[f] = in[f / a_b]`` (linear interpolation, edge bin
    repeated) with ``a_b`` drawn from ``warp_range``: formants move up (a > 1)
    or down (a < 1) as for a shorter or longer vocal tract, while timing is
    kept (unlike speed perturbation). Applied to a fraction ``warp_p`` of the
    batch; returns a new tensor.
    """
    cfg = cfg or AugmentConfig()
    if features.ndim != 3:
        raise ValueError(f"freq_warp expects [B, F, T] features, got shape {tuple(features.shape)}")
    if cfg.warp_p <= 0:
        return features
    b, f, _ = features.shape
    gen = generator or torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    rows = torch.rand(b, generator=gen) < cfg.warp_p
    alpha = torch.where(rows, _uniform(gen, b, *cfg.warp_range), torch.ones(b)).to(features.device)
    src = (torch.arange(f, device=features.device, dtype=features.dtype)[None, :] / alpha[:, None]).clamp(0, f - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=f - 1)
    w = (src - lo.to(src.dtype))[:, :, None]
    take = lambda i: torch.gather(features, 1, i[:, :, None].expand(-1, -1, features.shape[2]))  # noqa: E731
    return take(lo) * (1 - w) + take(hi) * w
