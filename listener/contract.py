"""The model contract: what a listener model file is, and what it says about itself.

The one owner of every fact the runtime and the exporter share about a model: the
input and output names, the ``metadata_props`` keys with their types and defaults,
the model-level defaults (threshold, hop, gate per kind, reject labels) and the
checks on all of them. Both directions live here: :meth:`ModelInfo.from_metadata`
reads a file's metadata (the classifier), :meth:`ModelInfo.to_metadata` writes it
(``listener.export``), and both go through the same checks. The contract section
of docs/architecture.md is :func:`markdown` (a test keeps the two equal).

No torch, no onnx: the runtime imports this. To add a metadata key, add one field
to :class:`ModelInfo` with :func:`key` (and its check to ``_check`` if a type check
is not enough); parsing, writing and the docs table follow from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ModelError

# -------------------------------------------------------------------------- tensors

INPUT = "audio"
LOGITS = "logits"
PROBS = "probs"
FEATURES = "features"
CONTEXT = "context"  # ctc models with ``frame_context``: the rows carried in from the previous call
EMBEDDINGS = "embeddings"  # ctc models with ``frame_context``: the rows this call computed
FEATURE_HOP = "hop_length"  # in the ``features`` metadata: samples between two frames of the ``features`` output


@dataclass(frozen=True)
class Tensor:
    """One named input or output of the graph."""

    name: str
    role: str
    shape: str
    meaning: str


TENSORS: tuple[Tensor, ...] = (
    Tensor(
        INPUT,
        "the input",
        "float32 `[batch, samples]`",
        "mono audio in [-1, 1] at `sample_rate`; `window` models: `samples = round(window_seconds * sample_rate)`; "
        "`ctc` models: any `samples >= frame_samples` (a dynamic axis)",
    ),
    Tensor(
        LOGITS,
        f"output (this or `{PROBS}`)",
        "float32 `[batch, n_labels]`; `ctc`: `[batch, frames, n_labels]`",
        "scores; the runtime applies softmax (over the last axis). `ctc`: frame `f` depends only on samples "
        "`[f * frame_hop_samples, f * frame_hop_samples + frame_samples)`, so "
        "`frames = (samples - frame_samples) // frame_hop_samples + 1`",
    ),
    Tensor(
        PROBS,
        f"output (this or `{LOGITS}`)",
        "float32 `[batch, n_labels]`; `ctc`: `[batch, frames, n_labels]`",
        "probabilities, used as they are",
    ),
    Tensor(
        FEATURES,
        "optional output",
        "float32 `[batch, n_features, frames]`",
        "the log-mel (or MFCC) the network saw, each frame from its own samples (normalise over the window "
        "after this output); the GUI draws it",
    ),
    Tensor(
        CONTEXT,
        "input of `ctc` models with `frame_context` > 0",
        "float32 `[batch, 0 or frame_context, width]`",
        f"the last `frame_context` rows of the previous call's `{EMBEDDINGS}`, when this call's first frame "
        "follows that call's last; then `audio` starts `frame_context * frame_hop_samples` later than the "
        "frames' own audio and `frames = (samples - frame_samples) // frame_hop_samples + 1 + frame_context`. "
        "No rows: a call like any other",
    ),
    Tensor(
        EMBEDDINGS,
        "output of `ctc` models with `frame_context` > 0",
        "float32 `[batch, rows, width]`",
        "one row per `frame_hop_samples` of the input audio (computed from it alone): what the next call "
        f"gets as `{CONTEXT}`",
    ),
)


def score_output(output_names: Iterable[str]) -> tuple[str, bool] | None:
    """Which output holds the scores, and whether softmax must be applied (None: neither is there)."""
    names = set(output_names)
    if LOGITS in names:
        return LOGITS, True
    if PROBS in names:
        return PROBS, False
    return None


# -------------------------------------------------------------------------- model-level defaults

KINDS = ("speech", "sound")
GATES = ("vad", "energy")
WINDOW, CTC = "window", "ctc"
DECODERS = (WINDOW, CTC)  # how the scores become detections (see the ``decoder`` key)
DEFAULT_GATE = {"speech": "vad", "sound": "energy"}  # when the metadata names no gate
DEFAULT_THRESHOLD = 0.7  # when the metadata gives no threshold
DEFAULT_HOP_SECONDS = 0.25  # sliding-window hop, when the metadata gives none
UNKNOWN_LABELS = ("unknown", "_unknown_")
SILENCE_LABELS = ("silence", "_silence_")
# Labels that never become detections when the metadata lists no reject_labels.
REJECT_FALLBACK = (UNKNOWN_LABELS[0], SILENCE_LABELS[0], UNKNOWN_LABELS[1], SILENCE_LABELS[1])


def default_reject_labels(labels: Iterable[str]) -> list[str]:
    """The reject labels a model gets when its metadata (or its spec) lists none."""
    labels = list(labels)
    return [x for x in REJECT_FALLBACK if x in labels]


def nothing_label(labels: Iterable[str]) -> str | None:
    """The label that means "nothing heard" (``silence``), if the model has one."""
    labels = list(labels)
    return next((x for x in SILENCE_LABELS if x in labels), None)


# -------------------------------------------------------------------------- metadata keys

TEXT, INT, FLOAT, JSON = "text", "integer", "number", "JSON"


@dataclass(frozen=True)
class Key:
    """How one metadata key is spelled in the file and what it means."""

    codec: str  # TEXT | INT | FLOAT | JSON: all values are strings in the file
    meaning: str
    example: str
    required: bool
    required_for: str | None = None  # required for models of this decoder only

    def needed(self, decoder: str) -> bool:
        return self.required or self.required_for == decoder


def key(
    codec: str,
    meaning: str,
    example: str,
    default: Any = MISSING,
    factory: Any = MISSING,
    required_for: str | None = None,
) -> Any:
    """A :class:`ModelInfo` field that is a metadata key (required when it has no default;
    ``required_for``: required for models with that ``decoder`` only)."""
    required = default is MISSING and factory is MISSING
    meta = {"key": Key(codec, meaning, example, required, required_for)}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    if default is not MISSING:
        return field(default=default, metadata=meta)
    return field(metadata=meta)


@dataclass(kw_only=True)
class ModelInfo:
    """A model's metadata, parsed and checked; the fields are the metadata keys, in docs order.

    ``None`` for ``name``, ``gate``, ``reject_labels``, ``window_seconds`` (``ctc``) and
    ``blank_label`` (``ctc``) means "derived": from the file name, the kind, the labels,
    ``frame_samples`` (see the defaults above). The ``frame_*`` and ``blank_label`` keys
    are ``ctc`` models' own: None for ``window`` models.
    """

    name: str | None = key(TEXT, "model name", "`digits`", None)
    version: str = key(TEXT, "model version; the log's `model` field is `name-version`", "`1.1`", "0")
    labels: list[str] = key(JSON, "one per score, in output order", '`["zero", ..., "unknown", "silence"]`')
    reject_labels: list[str] | None = key(JSON, "labels that never become detections", '`["unknown", "silence"]`', None)
    sample_rate: int = key(INT, "input rate (Hz)", "`16000`")
    window_seconds: float | None = key(
        FLOAT,
        "input length (s) of a `window` model; a `ctc` model's is its `frame_samples`",
        "`1.0`",
        None,
        required_for=WINDOW,
    )
    kind: str = key(
        TEXT,
        "`speech` (one window per utterance) or `sound` (sliding windows); a `ctc` model's kind only picks its gate",
        "`speech`",
    )
    gate: str | None = key(TEXT, "suggested gate, `vad` or `energy`", "`vad`", None)
    threshold: float = key(FLOAT, "suggested confidence threshold, 0-1", "`0.85`", DEFAULT_THRESHOLD)
    thresholds: dict[str, float] = key(
        JSON,
        "per-label thresholds, 0-1 (calibrated per class); a label not listed takes `threshold`. "
        "`--threshold` overrides both",
        '`{"dog bark": 0.62, "rain": 0.91}`',
        factory=dict,
    )
    hop_seconds: float = key(
        FLOAT, "suggested hop between sliding windows (sound models)", "`0.25`", DEFAULT_HOP_SECONDS
    )
    zero_fill_db: float | None = key(
        FLOAT,
        "the runtime puts faint white noise at this RMS level (dBFS, below 0) in place of every sample of the model's "
        "input that is exactly 0 (the padding before and after a stream; digital silence: 8-bit files, noise-gated "
        "phones), for a model that trained only on audio with a noise floor; the same noise at the same stream "
        "position, live or from a file. The gate and the log hear the audio as it came. Absent: the input as heard",
        "`-65.0`",
        None,
    )
    decoder: str = key(
        TEXT,
        f"`{WINDOW}`: one score vector per input window (the `kind` says which windows); "
        f"`{CTC}`: a sequence model, one score vector per output frame, decoded with greedy CTC "
        '(docs/architecture.md, "Sequence models")',
        f"`{CTC}`",
        WINDOW,
    )
    frame_hop_samples: int | None = key(
        INT, "`ctc`: samples between two output frames", "`1280`", None, required_for=CTC
    )
    frame_samples: int | None = key(
        INT,
        "`ctc`: samples one output frame depends on (its receptive field, >= `frame_hop_samples`); "
        "also the shortest input the model takes",
        "`17632`",
        None,
        required_for=CTC,
    )
    frame_tail_samples: int | None = key(
        INT,
        "`ctc`: how far past the end of the gated audio the runtime still computes frames (a model that "
        "emits a word some frames after its end needs them); fewer is cheaper",
        "`3840`",
        None,
    )
    frame_context: int | None = key(
        INT,
        f"`ctc`: rows of `{EMBEDDINGS}` a call carries to the next (`{CONTEXT}`), so that a live stream computes "
        "each row once instead of recomputing `frame_samples - frame_hop_samples` of audio per call; 0: none",
        "`4`",
        None,
    )
    blank_label: str | None = key(
        TEXT, "`ctc`: the CTC blank (never a detection); default: the first label", "`<blank>`", None
    )
    symbols: dict[str, str] = key(
        JSON,
        "what a label stands for in a sequence record (`oh` and `zero` -> `0`); with `ctc`, labels without "
        "a symbol never become detections. A model with symbols writes `sequence` records",
        '`{"zero": "0", "oh": "0", "one": "1", ...}`',
        factory=dict,
    )
    variant: str = key(TEXT, "which file this is, `int8` or `fp32`", "`int8`", "fp32")
    features: dict[str, Any] = key(
        JSON,
        f"front-end settings; `{FEATURE_HOP}` (samples between two frames of the `{FEATURES}` output) lets the app "
        "place each frame in time",
        f'`{{"type": "logmel", "n_mels": 40, "{FEATURE_HOP}": 160, ...}}`',
        factory=dict,
    )
    training_data: str = key(TEXT, "what it was trained on", "free text", "")
    accuracy: dict[str, Any] = key(JSON, "measured accuracy (see its card)", "`{...}`", factory=dict)
    path: str = ""  # the file it came from (not a key)

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = Path(self.path).stem.split(".")[0] if self.path else "model"
        if self.gate is None and self.kind in DEFAULT_GATE:
            self.gate = DEFAULT_GATE[self.kind]
        if self.reject_labels is None and isinstance(self.labels, list):
            self.reject_labels = default_reject_labels(self.labels)
        if self.decoder == CTC:
            if self.blank_label is None and isinstance(self.labels, list) and self.labels:
                self.blank_label = self.labels[0]
            if (
                self.frame_tail_samples is None
                and _positive_int(self.frame_samples)
                and _positive_int(self.frame_hop_samples)
            ):
                self.frame_tail_samples = max(0, self.frame_samples - self.frame_hop_samples)
            if self.frame_context is None:
                self.frame_context = 0
            if self.window_seconds is None and _positive_int(self.frame_samples) and _positive_int(self.sample_rate):
                self.window_seconds = self.frame_samples / self.sample_rate
        _check(self)

    @property
    def window_samples(self) -> int:
        """Samples of one model input: a ``window`` model's window, a ``ctc`` model's ``frame_samples``
        (the shortest input it takes: one output frame)."""
        if self.decoder == CTC:
            return int(self.frame_samples)
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def is_ctc(self) -> bool:
        """A sequence model: scores per output frame, decoded with CTC."""
        return self.decoder == CTC

    @property
    def detection_labels(self) -> list[str]:
        """The labels that can become detections: not reject labels; for a ctc model, only those
        with a symbol (never the blank)."""
        reject = set(self.reject_labels or ())
        return [
            x
            for x in self.labels
            if x not in reject and (not self.is_ctc or (x in self.symbols and x != self.blank_label))
        ]

    def threshold_for(self, label: str) -> float:
        """The model's own threshold for ``label``: its entry in ``thresholds``, else ``threshold``."""
        return float(self.thresholds.get(label, self.threshold))

    @property
    def feature_hop(self) -> int | None:
        """Samples between two frames of the ``features`` output, when the metadata says."""
        hop = self.features.get(FEATURE_HOP) if isinstance(self.features, dict) else None
        return int(hop) if hop is not None else None

    @property
    def model_id(self) -> str:
        """The log's ``model`` field."""
        return f"{self.name}-{self.version}"

    @classmethod
    def from_metadata(cls, meta: dict[str, str], path: str = "") -> ModelInfo:
        """Parse a file's ``metadata_props``; a ModelError names the key that is wrong."""
        where = _where(path)
        decoder = meta.get("decoder", WINDOW)
        missing = [f.name for f in _keys() if f.metadata["key"].needed(decoder) and f.name not in meta]
        if missing:
            raise ModelError(
                f"{where} is missing metadata {', '.join(missing)} (not a listener model? see docs/architecture.md)"
            )
        values = {
            f.name: _decode(f.metadata["key"].codec, f.name, meta[f.name], where) for f in _keys() if f.name in meta
        }
        return cls(**values, path=path)

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` to write (every key that applies to the model, all values strings),
        checked as the reader checks them. Keys of the other decoder (None here) are left out."""
        _check(self)
        return {
            f.name: _encode(f.metadata["key"].codec, getattr(self, f.name))
            for f in _keys()
            if getattr(self, f.name) is not None
        }


def _keys() -> list:
    return [f for f in fields(ModelInfo) if "key" in f.metadata]


# ctc models' own keys
CTC_KEYS = ("frame_hop_samples", "frame_samples", "frame_tail_samples", "frame_context", "blank_label")
# keys a file holds only when its model sets them (absent: the default behaviour)
OPTIONAL_KEYS = ("zero_fill_db",)


def metadata_keys(decoder: str | None = None) -> list[str]:
    """Every metadata key, in docs order; with ``decoder``, those every model of that decoder writes
    (``OPTIONAL_KEYS`` only when it sets them)."""
    names = [f.name for f in _keys()]
    if decoder is None:
        return names
    names = [n for n in names if n not in OPTIONAL_KEYS]
    return names if decoder == CTC else [n for n in names if n not in CTC_KEYS]


def _where(path: str) -> str:
    return f"model '{path}'" if path else "model"


def _decode(codec: str, name: str, text: str, where: str) -> Any:
    try:
        if codec == JSON:
            return json.loads(text)
        if codec == INT:
            return int(text)
        if codec == FLOAT:
            return float(text)
    except json.JSONDecodeError:
        raise ModelError(f"{where} has invalid JSON in metadata '{name}'") from None
    except ValueError:
        raise ModelError(f"{where} has a non-numeric metadata '{name}': {text!r}") from None
    return text


def _encode(codec: str, value: Any) -> str:
    if codec == JSON:
        return json.dumps(value)
    if codec == INT:
        return str(int(value))
    if codec == FLOAT:
        return repr(float(value))
    return str(value)


def _check(info: ModelInfo) -> None:
    """Every rule on the values, for reading and for writing alike."""
    where = _where(info.path)

    def fail(message: str) -> None:
        raise ModelError(f"{where} metadata {message}")

    labels = info.labels
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        fail("'labels' must be a JSON list of non-empty strings")
    if len(set(labels)) != len(labels):
        fail("'labels' has a label twice")
    reject = info.reject_labels
    if not isinstance(reject, list) or not all(isinstance(x, str) for x in reject):
        fail("'reject_labels' must be a JSON list of strings")
    if set(reject) - set(labels):
        fail(f"'reject_labels' names labels the model does not have: {sorted(set(reject) - set(labels))}")
    if info.kind not in KINDS:
        fail(f"'kind' must be 'speech' or 'sound', not {info.kind!r}")
    if info.gate not in GATES:
        fail(f"'gate' must be 'vad' or 'energy', not {info.gate!r}")
    if info.decoder not in DECODERS:
        fail(f"'decoder' must be {' or '.join(repr(d) for d in DECODERS)}, not {info.decoder!r}")
    for name in ("sample_rate", "window_seconds", "hop_seconds"):
        if name == "window_seconds" and info.decoder == CTC:
            continue  # from frame_samples (checked with it)
        value = getattr(info, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            fail(f"'{name}' must be a positive number, not {value!r}")
    if not isinstance(info.sample_rate, int):
        fail(f"'sample_rate' must be an integer, not {info.sample_rate!r}")
    _check_threshold(info.threshold, "'threshold'", fail)
    if not isinstance(info.thresholds, dict):
        fail("'thresholds' must be a JSON object {label: threshold}")
    for label, value in info.thresholds.items():
        if label not in labels:
            fail(f"'thresholds' names a label the model does not have: {label!r}")
        _check_threshold(value, f"'thresholds' of {label!r}", fail)
    _check_decoder(info, fail)
    fill = info.zero_fill_db
    if fill is not None and (isinstance(fill, bool) or not isinstance(fill, (int, float)) or not -120.0 <= fill < 0.0):
        fail(f"'zero_fill_db' must be a level in dBFS from -120 to below 0, not {fill!r}")
    for name in ("features", "accuracy"):
        if not isinstance(getattr(info, name), dict):
            fail(f"'{name}' must be a JSON object")
    hop = info.features.get(FEATURE_HOP)
    if hop is not None and (isinstance(hop, bool) or not isinstance(hop, int) or hop < 1):
        fail(f"'features' {FEATURE_HOP} must be a positive integer (samples), not {hop!r}")
    for name in ("name", "version", "variant", "training_data"):
        if not isinstance(getattr(info, name), str):
            fail(f"'{name}' must be text")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_threshold(value: Any, what: str, fail) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"{what} must be a number, not {value!r}")
    if not 0.0 <= value <= 1.0:
        fail(f"{what} must be between 0 and 1, not {value}")


def _check_decoder(info: ModelInfo, fail) -> None:
    """The keys of sequence (``ctc``) models, and the symbols any model may have."""
    labels = info.labels
    if info.decoder != CTC:
        given = [name for name in CTC_KEYS if getattr(info, name) is not None]
        if given:
            fail(f"'{given[0]}' is for decoder '{CTC}' models, and 'decoder' is {info.decoder!r}")
    else:
        hop, span = info.frame_hop_samples, info.frame_samples
        if not _positive_int(hop):
            fail(f"'frame_hop_samples' must be a positive integer (samples), not {hop!r}")
        if not _positive_int(span) or span < hop:
            fail(f"'frame_samples' must be an integer >= 'frame_hop_samples' ({hop}), not {span!r}")
        tail = info.frame_tail_samples
        if isinstance(tail, bool) or not isinstance(tail, int) or tail < 0:
            fail(f"'frame_tail_samples' must be a whole number of samples >= 0, not {tail!r}")
        context = info.frame_context
        if isinstance(context, bool) or not isinstance(context, int) or context < 0:
            fail(f"'frame_context' must be a whole number of rows >= 0, not {context!r}")
        if span - context * hop < hop:
            fail(
                f"'frame_context' ({context}) rows of {hop} samples leave less than one hop of 'frame_samples' ({span})"
            )
        if info.blank_label not in labels:
            fail(f"'blank_label' must be one of the labels, not {info.blank_label!r}")
        if not info.symbols:
            fail("a ctc model needs 'symbols' (labels without one never become detections)")
        if (
            not isinstance(info.window_seconds, (int, float))
            or int(round(info.window_seconds * info.sample_rate)) != span
        ):
            fail(
                f"'window_seconds' ({info.window_seconds}) and 'frame_samples' ({span}) disagree: a ctc model's "
                "input window is its frame_samples (leave window_seconds out)"
            )
    symbols = info.symbols
    if not isinstance(symbols, dict) or not all(isinstance(v, str) and v for v in symbols.values()):
        fail("'symbols' must be a JSON object {label: non-empty text}")
    unknown = sorted(set(symbols) - set(labels))
    if unknown:
        fail(f"'symbols' names labels the model does not have: {unknown}")
    if info.blank_label is not None and info.blank_label in symbols:
        fail(f"'symbols' gives the blank label {info.blank_label!r} a symbol")


# -------------------------------------------------------------------------- docs

DOCS_BEGIN = "<!-- contract: generated from listener/contract.py (python -m listener.contract) -->"
DOCS_END = "<!-- end of contract -->"


def markdown() -> str:
    """The contract section of docs/architecture.md: tensors and metadata keys."""

    def default(f) -> str:
        k = f.metadata["key"]
        if k.required:
            return "required"
        if k.required_for is not None:
            derived = "; `ctc`: from `frame_samples`" if f.name == "window_seconds" else ""
            return f"required for `{k.required_for}`{derived}"
        if f.name == "blank_label":
            return "the first label"
        if f.name == "frame_tail_samples":
            return "`frame_samples - frame_hop_samples` (every frame whose audio holds gated audio)"
        if f.name == "frame_context":
            return "`0`"
        if f.name == "zero_fill_db":
            return "none (the input as heard)"
        if f.name == "name":
            return "the file name"
        if f.name == "gate":
            return ", ".join(f"`{g}` for {k}" for k, g in DEFAULT_GATE.items())
        if f.name == "reject_labels":
            return "those of " + ", ".join(f"`{x}`" for x in REJECT_FALLBACK) + " the model has"
        value = f.default_factory() if f.default is MISSING else f.default
        return f"`{_encode(f.metadata['key'].codec, value)}`" if value != "" else "empty"

    lines = ["| tensor | role | type | meaning |", "|---|---|---|---|"]
    lines += [f"| `{t.name}` | {t.role} | {t.shape} | {t.meaning} |" for t in TENSORS]
    lines += [
        "",
        "`metadata_props` (every value is a string: text, a number, or JSON):",
        "",
        "| key | value | default | example | meaning |",
        "|---|---|---|---|---|",
    ]
    for f in _keys():
        k = f.metadata["key"]
        lines.append(f"| `{f.name}` | {k.codec} | {default(f)} | {k.example} | {k.meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(DOCS_BEGIN + "\n\n" + markdown() + "\n" + DOCS_END)
