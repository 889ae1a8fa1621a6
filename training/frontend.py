"""The feature front end that lives inside every exported model.

The STFT is a Conv1d with fixed Hann-windowed cos/sin kernels rather than
``torch.stft``: it exports to plain ONNX Conv/Mul/MatMul/Log nodes that every
ONNX Runtime provider runs fast, and there is no STFT op whose export or
opset support could drift. ``tests/training/test_frontend.py`` checks it numerically
against ``torchaudio.transforms.MelSpectrogram(center=False)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchaudio.functional as AF
from torch import nn

LOG_EPS = 1e-6


@dataclass(frozen=True)
class FrontendConfig:
    """Front-end settings; written verbatim into the model's ``features`` metadata."""

    type: str = "logmel"  # "logmel" | "mfcc"
    sample_rate: int = 16000
    n_fft: int = 480
    hop_length: int = 160
    n_mels: int = 40
    f_min: float = 20.0
    f_max: float = 7600.0
    n_mfcc: int = 20
    log_eps: float = LOG_EPS

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for ``n_samples`` of audio (no centre padding)."""
        return 1 + (n_samples - self.n_fft) // self.hop_length

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.type == "mfcc" else self.n_mels


DIGITS_FRONTEND = FrontendConfig()
SOUNDS_FRONTEND = FrontendConfig(n_fft=512, n_mels=64, f_min=50.0, f_max=8000.0)


class LogMelFrontend(nn.Module):
    """audio ``[B, T]`` -> log-mel ``[B, n_mels, frames]`` (or MFCC ``[B, n_mfcc, frames]``)."""

    def __init__(self, cfg: FrontendConfig = DIGITS_FRONTEND) -> None:
        super().__init__()
        if cfg.type not in ("logmel", "mfcc"):
            raise ValueError(f"unknown front-end type {cfg.type!r} (use 'logmel' or 'mfcc')")
        self.cfg = cfg
        n_fft = cfg.n_fft
        n_bins = n_fft // 2 + 1
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        t = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_bins, dtype=torch.float64)
        angle = 2.0 * math.pi * k[:, None] * t[None, :] / n_fft
        real = torch.cos(angle) * window
        imag = -torch.sin(angle) * window
        kernel = torch.cat([real, imag], dim=0).unsqueeze(1).float()  # [2*bins, 1, n_fft]
        self.register_buffer("dft", kernel, persistent=False)
        fb = AF.melscale_fbanks(
            n_bins, cfg.f_min, cfg.f_max, cfg.n_mels, cfg.sample_rate, norm=None, mel_scale="htk"
        )  # [bins, n_mels]
        self.register_buffer("mel_t", fb.t().contiguous(), persistent=False)  # [n_mels, bins]
        if cfg.type == "mfcc":
            dct = AF.create_dct(cfg.n_mfcc, cfg.n_mels, norm="ortho")  # [n_mels, n_mfcc]
            self.register_buffer("dct_t", dct.t().contiguous(), persistent=False)
        else:
            self.dct_t = None
        self.n_bins = n_bins

    def power_spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """|STFT|^2 as ``[B, bins, frames]`` (Hann window, no centre padding)."""
        spec = nn.functional.conv1d(audio.unsqueeze(1), self.dft, stride=self.cfg.hop_length)
        real, imag = spec[:, : self.n_bins], spec[:, self.n_bins :]
        return real * real + imag * imag

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        power = self.power_spectrogram(audio)
        mel = torch.matmul(self.mel_t, power)  # [B, n_mels, frames]
        feats = torch.log(mel + self.cfg.log_eps)
        if self.dct_t is not None:
            feats = torch.matmul(self.dct_t, feats)
        return feats
