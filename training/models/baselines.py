"""The classic tutorials' models, reproduced as baselines (not shipped).

1-2, 4: ``MLP`` on per-clip feature means (librosa features, computed in
``bench/bench_accuracy.py``); 3: ``MelCNN``, the tutorial CNN on the mel
spectrogram; 5: ``CnnLstmAttention`` on the log-mel. The last two take the
same ``[B, F, T]`` features as the DS-CNN, so they train with the same loop.
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Dense 256-128 with dropout: the tutorials' feature-mean classifier."""

    def __init__(self, n_in: int, n_classes: int, hidden: tuple[int, ...] = (256, 128), dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = n_in
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU(), nn.Dropout(dropout)]
            prev = h
        layers.append(nn.Linear(prev, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MelCNN(nn.Module):
    """Three conv/pool stages (32-64-64) and a dense layer, as in the mel-spectrogram CNN tutorial."""

    def __init__(self, n_classes: int, n_features: int, dropout: float = 0.3) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(stage(1, 32), stage(32, 64), stage(64, 64))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, 128),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(128, n_classes),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(feats.unsqueeze(1)))


class CnnLstmAttention(nn.Module):
    """Conv front (frequency pooling) -> bidirectional LSTM over time -> attention pooling -> dense."""

    def __init__(self, n_classes: int, n_features: int, channels: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d((2, 1)),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d((2, 1)),
        )
        self.lstm = nn.LSTM(channels * (n_features // 4), hidden, batch_first=True, bidirectional=True)
        self.attn = nn.Linear(2 * hidden, 1)
        self.head = nn.Linear(2 * hidden, n_classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.conv(feats.unsqueeze(1))  # [B, C, F/4, T]
        b, c, f, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, c * f)
        h, _ = self.lstm(x)  # [B, T, 2H]
        w = torch.softmax(self.attn(h).squeeze(-1), dim=1)
        pooled = (h * w.unsqueeze(-1)).sum(dim=1)
        return self.head(pooled)
