"""Rebuilds a model from the small spec stored in every checkpoint.

A checkpoint holds the spec (architecture name, its settings, front-end
settings, labels and the model-contract fields) next to the weights, so
``export`` can rebuild the exact module without the training command line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from listener.contract import DEFAULT_GATE, DEFAULT_HOP_SECONDS, DEFAULT_THRESHOLD, ModelInfo, default_reject_labels
from listener.training.frontend import FrontendConfig
from listener.training.models.exportable import ExportableModel
from listener.training.models.kws import DSCNN, DSCNNConfig


@dataclass
class ModelSpec:
    """Everything needed to rebuild the module and write the ONNX metadata.

    ``None`` for ``reject_labels`` and ``gate`` takes the contract's default
    (the labels named unknown/silence; the gate of the kind), as a model file
    without those keys would.
    """

    name: str
    kind: str  # "speech" | "sound"
    labels: list[str]
    reject_labels: list[str] | None = None
    arch: str = "dscnn"
    arch_config: dict = field(default_factory=dict)
    frontend: dict = field(default_factory=lambda: asdict(FrontendConfig()))
    window_seconds: float = 1.0
    hop_seconds: float = DEFAULT_HOP_SECONDS
    gate: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    thresholds: dict[str, float] = field(default_factory=dict)  # per label (calibrated); others take threshold
    version: str = "1.0"
    training_data: str = ""
    normalisation: str = "global"  # "global" | "cmn" (see ExportableModel)
    data_split: dict = field(default_factory=dict)  # DataSplit's fields it trained with; the export reuses them

    def __post_init__(self) -> None:
        if self.reject_labels is None:
            self.reject_labels = default_reject_labels(self.labels)
        if self.gate is None:
            self.gate = DEFAULT_GATE.get(self.kind)

    @property
    def sample_rate(self) -> int:
        return int(self.frontend["sample_rate"])

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    def model_info(self, variant: str = "fp32", accuracy: dict | None = None) -> ModelInfo:
        """What the exported file's metadata says (checked by the contract, as the runtime will read it)."""
        return ModelInfo(
            name=self.name,
            version=self.version,
            labels=list(self.labels),
            reject_labels=list(self.reject_labels or []),
            sample_rate=self.sample_rate,
            window_seconds=self.window_seconds,
            kind=self.kind,
            gate=self.gate,
            threshold=self.threshold,
            thresholds=dict(self.thresholds),
            hop_seconds=self.hop_seconds,
            variant=variant,
            features=dict(self.frontend),
            training_data=self.training_data,
            accuracy=dict(accuracy or {}),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ModelSpec:
        return ModelSpec(**d)


ARCHITECTURES = ("dscnn", "melcnn", "crnn_attention", "speech_heads")


def build_model(spec: ModelSpec, seed: int = 0) -> nn.Module:
    """The ExportableModel described by ``spec``, with fresh weights drawn from ``seed``.

    The initial weights depend on the seed alone, not on whatever used torch's global
    random state before (a data loader, an earlier fold, an earlier test), so a
    rebuild starts from the same point; the global state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(spec)


def _build(spec: ModelSpec) -> nn.Module:
    if spec.arch == "speech_heads":  # the sounds model: frozen speech embedding + heads (models/sounds.py)
        from listener.training.models.sounds import HeadShape, SoundsModel

        heads = [HeadShape(**h) for h in spec.arch_config.get("heads", [{"kind": "speech"}])]
        return SoundsModel(spec.labels, heads, spec.window_samples)
    fe = FrontendConfig(**spec.frontend)
    n = len(spec.labels)
    if spec.arch == "dscnn":
        cfg = dict(spec.arch_config)
        for key in ("first_kernel", "first_stride"):
            if key in cfg:
                cfg[key] = tuple(cfg[key])
        net = DSCNN(n, DSCNNConfig(**cfg))
    elif spec.arch == "melcnn":
        from listener.training.models.baselines import MelCNN

        net = MelCNN(n, fe.n_features, **spec.arch_config)
    elif spec.arch == "crnn_attention":
        from listener.training.models.baselines import CnnLstmAttention

        net = CnnLstmAttention(n, fe.n_features, **spec.arch_config)
    else:
        raise ValueError(f"unknown architecture {spec.arch!r}; choose one of {ARCHITECTURES}")
    return ExportableModel(fe, net, spec.labels, spec.normalisation)
