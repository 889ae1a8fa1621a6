"""Options shared by the CLI and the GUI, their defaults, and the TOML config file.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass
class PipelineOptions:
    """Everything needed to build a Pipeline; ``None`` means "what the model suggests"."""

    model: str = "digits"
    threshold: float | None = None
    vad: int = 2
    gate: str | None = None  # "vad" | "energy"
    hop: float | None = None  # seconds, sliding windows (sound models)
    hangover_ms: float | None = None
    threads: int | None = None
    log: str | None = None
    log_format: str = "jsonl"
    log_max_bytes: int | None = None
    log_backups: int = 5
    min_margin: float = 0.1
    refractory_s: float | None = None
    batch_size: int | None = None  # windows per model call; None: 1 when listening, 32 in ``analyze``
    providers: list[str] | None = None


@dataclass
class RunOptions(PipelineOptions):
    """``listener run``: a pipeline plus where the audio comes from."""

    source: str = "auto"
    device: str | None = None
    duration: float | None = None
    input_rate: int = 16000
    input_channels: int = 1
    # Audio per block from a live source. 60 ms rather than 30: half the wake-ups (the
    # microphone path went from 2.3 % to 1.2-1.3 % of a core) for about 20 ms more latency
    # (p50 175 -> 195 ms); see docs/benchmarks.md.
    block_ms: int = 60
    quiet: bool = False
    # --mqtt and its options; None means the MQTT sink's own default (listener.mqtt.MqttOptions)
    mqtt: str | None = None
    mqtt_ca: str | None = None
    mqtt_queue: int | None = None
    mqtt_discovery: bool | None = None
    mqtt_discovery_prefix: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _key(name: str) -> str:
    return name.replace("-", "_").lower()


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
    known = {f.name for f in dataclasses.fields(RunOptions)} - {"extra", "providers"}
    aliases = {flag: name for name, flag in _FLAG_NAMES.items()}
    out: dict[str, Any] = {}
    for raw, value in data.items():
        key = aliases.get(_key(raw), _key(raw))
        if key not in known:
            raise UsageError(f"config file '{path}': unknown option '{raw}' (options: {', '.join(config_names())})")
        out[key] = _check_type(path, raw, key, value)
    return out


# Options whose flag is not their field's name, and fields that are tuning knobs with no
# flag: a config file may set them, but the options a user is told about are the flags'.
_FLAG_NAMES = {"log_format": "format", "batch_size": "batch"}
_UNLISTED = {"extra", "providers", "hangover_ms", "refractory_s", "min_margin", "log_backups"}


def config_names() -> list[str]:
    """The option names a config file takes, as the command-line flags spell them (without ``--``)."""
    fields = [f.name for f in dataclasses.fields(RunOptions) if f.name not in _UNLISTED]
    return sorted(_FLAG_NAMES.get(name, name).replace("_", "-") for name in fields)


_NUMBERS = {
    "threshold": float,
    "hop": float,
    "hangover_ms": float,
    "min_margin": float,
    "refractory_s": float,
    "duration": float,
    "vad": int,
    "threads": int,
    "log_max_bytes": int,
    "log_backups": int,
    "batch_size": int,
    "input_rate": int,
    "input_channels": int,
    "block_ms": int,
    "mqtt_queue": int,
}
_TEXTS = {"model", "gate", "log", "log_format", "source", "mqtt", "mqtt_ca", "mqtt_discovery_prefix"}
_SWITCHES = {"quiet", "mqtt_discovery"}


def _check_type(path: str | Path, raw: str, key: str, value: Any) -> Any:
    """Config values must have the option's type: a clear message instead of a crash later."""
    if key in _NUMBERS:
        kind = _NUMBERS[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not float(value).is_integer())
        ):
            raise UsageError(
                f"config file '{path}': '{raw}' must be {'an integer' if kind is int else 'a number'}, not {value!r}"
            )
        return kind(value)
    if key in _TEXTS and not isinstance(value, str):
        raise UsageError(f"config file '{path}': '{raw}' must be a string, not {value!r}")
    if key == "device" and not isinstance(value, (str, int)):
        raise UsageError(f"config file '{path}': 'device' must be a name or an index, not {value!r}")
    if key in _SWITCHES and not isinstance(value, bool):
        raise UsageError(f"config file '{path}': '{raw}' must be true or false, not {value!r}")
    return value
