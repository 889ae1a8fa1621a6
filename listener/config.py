"""The options of a run, composed from each stage's own, and the small TOML config file.

Each stage owns its options and their defaults, documented field by field, next to the
code that uses them:

    ClassifierOptions (classifier.py)  model, threads, batch_size, providers
    GateOptions       (gate.py)        gate, vad, hangover_ms, vad_gain
    WindowOptions     (windows.py)     hop, frames_per_call
    DeciderOptions    (decider.py)     threshold, min_margin, refractory_s, blank_penalty
    GroupingOptions   (grouping.py)    sequence_pause, max_event
    LogOptions        (sinks.py)       log, log_format, log_max_bytes, log_backups
    SourceOptions     (audio.py)       source, device, block_ms, input_rate, input_channels
    MqttOptions       (mqtt.py)        the ``mqtt*`` fields below (None: MqttOptions' default)

:class:`PipelineOptions` is all of the pipeline's in one flat set (what
``build_pipeline`` takes, and ``listener analyze``); :class:`RunOptions` adds the
source and the rest of ``listener run``. The command line, this file and the app
build the same objects (:func:`options_from`), so a setting is the same everywhere
unless the user changes it.

A config file holds the same names as the command-line options (without
``--``, ``-`` or ``_`` alike; ``batch`` may be written ``batch_size``), at top
level or under ``[listener]``::

    model = "digits"
    source = "mic"
    device = "USB"
    log = "/var/lib/listener/detections.jsonl"
    threshold = 0.8
    vad = 3
    mqtt = "mqtt://listener:secret@homeassistant.local/listener"
    mqtt_discovery = true

Command-line flags override the file; the model's metadata fills in whatever
neither sets (threshold, gate, hop).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from .audio import SourceOptions
from .classifier import ClassifierOptions
from .decider import DeciderOptions
from .errors import UsageError
from .gate import GateOptions
from .grouping import GroupingOptions
from .sinks import LogOptions
from .windows import WindowOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Each stage's options, in the order of the flow (their field names never clash: a test checks).
STAGE_OPTIONS = (
    SourceOptions,
    GateOptions,
    WindowOptions,
    ClassifierOptions,
    DeciderOptions,
    GroupingOptions,
    LogOptions,
)


@dataclass(kw_only=True)
class PipelineOptions(LogOptions, GroupingOptions, DeciderOptions, WindowOptions, GateOptions, ClassifierOptions):
    """Everything ``build_pipeline`` takes: each stage's options (see the module docstring).

    ``None`` means "what the model suggests" (threshold, gate, hop) or the stage's own default.
    """


@dataclass(kw_only=True)
class RunOptions(SourceOptions, PipelineOptions):
    """``listener run`` and the app: a pipeline plus where the audio comes from.

    Attributes:
        duration: stop after this many seconds of audio; None: until the source ends or stopped.
        quiet: do not print detections on stdout (``listener run``).
        mqtt: publish each detection to this MQTT broker URL too; None: no MQTT.
        mqtt_ca, mqtt_queue, mqtt_discovery, mqtt_discovery_prefix: the MQTT sink's options;
            None: :class:`listener.mqtt.MqttOptions`' defaults.
    """

    duration: float | None = None
    quiet: bool = False
    mqtt: str | None = None
    mqtt_ca: str | None = None
    mqtt_queue: int | None = None
    mqtt_discovery: bool | None = None
    mqtt_discovery_prefix: str | None = None


Opts = TypeVar("Opts")


def given_options(args: Any, cls: type) -> dict[str, Any]:
    """The ``cls`` options a user set: in the config file ``args.config``, then by the flags in
    ``args`` (an argparse Namespace; ``None`` means "not given"), the flags winning."""
    values = load_config(args.config) if getattr(args, "config", None) else {}
    names = {f.name for f in dataclasses.fields(cls)}
    for name in names:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    return {k: v for k, v in values.items() if k in names}


def options_from(args: Any, cls: type[Opts]) -> Opts:
    """``cls`` options: the defaults <- the config file <- the flags (see :func:`given_options`)."""
    try:
        return cls(**given_options(args, cls))
    except TypeError as exc:
        raise UsageError(str(exc)) from None


def _key(name: str) -> str:
    return name.replace("-", "_").lower()


# Options whose flag is not their field's name, and fields that are tuning knobs with no
# flag: a config file may set them, but the options a user is told about are the flags'.
_FLAG_NAMES = {"log_format": "format", "batch_size": "batch"}
_UNLISTED = {
    "providers",
    "hangover_ms",
    "vad_gain",
    "refractory_s",
    "min_margin",
    "blank_penalty",
    "log_backups",
    "frames_per_call",
}
_NOT_IN_FILES = {"providers"}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into option names -> values (checked against RunOptions)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"config file '{path}' not found") from None
    except OSError as exc:
        raise UsageError(f"cannot read config file '{path}': {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file '{path}' is not valid TOML: {exc}") from None
    if isinstance(data.get("listener"), dict):
        data = {**{k: v for k, v in data.items() if k != "listener"}, **data["listener"]}
    known = {f.name for f in dataclasses.fields(RunOptions)} - _NOT_IN_FILES
    aliases = {flag: name for name, flag in _FLAG_NAMES.items()}
    out: dict[str, Any] = {}
    for raw, value in data.items():
        key = aliases.get(_key(raw), _key(raw))
        if key not in known:
            raise UsageError(f"config file '{path}': unknown option '{raw}' (options: {', '.join(config_names())})")
        out[key] = _check_type(path, raw, key, value)
    return out


def config_names() -> list[str]:
    """The option names a config file takes, as the command-line flags spell them (without ``--``)."""
    fields = [f.name for f in dataclasses.fields(RunOptions) if f.name not in _UNLISTED]
    return sorted(_FLAG_NAMES.get(name, name).replace("_", "-") for name in fields)


@cache
def option_type(name: str) -> type | tuple[type, ...]:
    """The type of a RunOptions field without its ``None``: ``int``, ``float``, ``str``, ``bool``,
    or a tuple when it takes several (``device``: a name or an index). Read from the annotations,
    so the options' dataclasses are the one owner of their types too."""
    hint = typing.get_type_hints(RunOptions)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = tuple(t for t in typing.get_args(hint) if t is not type(None))
        return kinds[0] if len(kinds) == 1 else kinds
    return hint


def _check_type(path: str | Path, raw: str, key: str, value: Any) -> Any:
    """Config values must have the option's type: a clear message instead of a crash later."""
    kind = option_type(key)
    where = f"config file '{path}': '{raw}'"
    if kind in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not float(value).is_integer())
        ):
            raise UsageError(f"{where} must be {'an integer' if kind is int else 'a number'}, not {value!r}")
        return kind(value)
    if kind is bool and not isinstance(value, bool):
        raise UsageError(f"{where} must be true or false, not {value!r}")
    if kind is str and not isinstance(value, str):
        raise UsageError(f"{where} must be a string, not {value!r}")
    if isinstance(kind, tuple) and (isinstance(value, bool) or not isinstance(value, kind)):
        raise UsageError(f"{where} must be a name or an index, not {value!r}")
    return value
