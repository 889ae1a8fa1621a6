"""UrbanSound8K loader on a generated tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.training.datasets.base import (
    DatasetError,
    fold_split,
    load_audio,
)
from listener.training.datasets.urbansound8k import load_urbansound8k
from tests.fakes import make_us8k


def test_urbansound8k(tmp_path: Path) -> None:
    root = make_us8k(tmp_path / "UrbanSound8K")
    clips = load_urbansound8k(root)
    assert len(clips) == 60
    assert {c.label for c in clips} == {"dog bark", "siren", "street music"}
    assert {c.fold for c in clips} == set(range(1, 11))
    c = next(c for c in clips if c.path.name == "100807-8-0-1.wav")
    assert c.fold == 7 and c.speaker == "100807" and c.path.parent.name == "fold7"
    assert load_audio(c.path).ndim == 1
    rounds = fold_split(clips, test_fold=10)
    assert sum(c.split == "test" for c in rounds) == 6 and not any(c.split == "validation" for c in rounds)
    (c.path).unlink()
    with pytest.raises(DatasetError, match="1 files .* missing"):
        load_urbansound8k(root)
    (root / "metadata" / "UrbanSound8K.csv").write_text("name,fold\nx.wav,1\n")
    with pytest.raises(DatasetError, match="lacks columns"):
        load_urbansound8k(root)
    with pytest.raises(DatasetError, match="metadata/UrbanSound8K.csv"):
        load_urbansound8k(tmp_path)
