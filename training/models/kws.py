"""The default small-footprint network: a DS-CNN (Zhang et al. 2017, "Hello Edge").

Depthwise-separable convolutions keep the parameter count (~25k for the digits
model) and the multiply-adds small enough for a Raspberry Pi, and they quantize
well to INT8 (plain Conv + BatchNorm + ReLU, which ONNX folds and fuses).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DSCNNConfig:
    """Width, depth and dropout of the DS-CNN."""

    channels: int = 64
    blocks: int = 4
    dropout: float = 0.2
    first_kernel: tuple[int, int] = (5, 5)
    first_stride: tuple[int, int] = (2, 2)


class _DSBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1, each with BatchNorm and ReLU, plus a residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pw = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.dw(x)))
        y = self.bn2(self.pw(y))
        return self.act(x + y)


class DSCNN(nn.Module):
    """features ``[B, F, T]`` -> logits ``[B, n_classes]``."""

    def __init__(self, n_classes: int, cfg: DSCNNConfig = DSCNNConfig()) -> None:
        super().__init__()
        c = cfg.channels
        pad = (cfg.first_kernel[0] // 2, cfg.first_kernel[1] // 2)
        self.stem = nn.Sequential(
            nn.Conv2d(1, c, cfg.first_kernel, stride=cfg.first_stride, padding=pad, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*[_DSBlock(c) for _ in range(cfg.blocks)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c, n_classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(feats.unsqueeze(1)))
        x = self.pool(x).flatten(1)
        return self.head(self.dropout(x))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the number quoted on the model cards)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
