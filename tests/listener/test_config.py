from pathlib import Path

import pytest

from listener.config import PipelineOptions, RunOptions, load_config
from listener.errors import UsageError


def test_table_and_top_level_keys_with_dashes_and_aliases(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('threads = 1\n[listener]\nmodel = "sounds"\nlog-max-bytes = 1000\nformat = "csv"\nvad = 3\n')
    values = load_config(path)
    assert values == {"threads": 1, "model": "sounds", "log_max_bytes": 1000, "log_format": "csv", "vad": 3}
    opts = RunOptions(**values)
    assert opts.source == "auto" and opts.log_format == "csv"


@pytest.mark.parametrize(
    "text, message", [("colour = 1\n", "unknown option 'colour'"), ("model = \n", "not valid TOML")]
)
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_config(path)
    with pytest.raises(UsageError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_defaults_leave_model_suggestions_open():
    opts = PipelineOptions()
    assert opts.model == "digits" and opts.threshold is None and opts.gate is None and opts.hop is None


@pytest.mark.parametrize(
    "text, message",
    [
        ('threshold = "high"\n', "must be a number"),
        ("vad = 2.5\n", "must be an integer"),
        ("log = 5\n", "must be a string"),
        ("quiet = 1\n", "true or false"),
        ("block_ms = 0.05\n", "must be an integer"),
    ],
)
def test_config_values_have_the_options_types(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_config(path)


# ---------------------------------------------------------------- one set of options, each default written once


def test_the_options_are_the_stages_own_composed():
    """PipelineOptions/RunOptions are nothing but the stages' options (plus run's own), and no
    two stages name an option alike (a clash would silently share one value)."""
    import dataclasses

    from listener.config import STAGE_OPTIONS
    from listener.mqtt import MqttOptions

    names = [[f.name for f in dataclasses.fields(cls)] for cls in STAGE_OPTIONS]
    flat = [n for group in names for n in group]
    assert len(flat) == len(set(flat)), f"an option name is used by two stages: {flat}"
    run = {f.name for f in dataclasses.fields(RunOptions)}
    own = run - set(flat)
    assert own == {"duration", "quiet"} | {f"mqtt_{f.name}" for f in dataclasses.fields(MqttOptions)} - {
        "mqtt_url",
        "mqtt_keepalive_s",
        "mqtt_retry_min_s",
        "mqtt_retry_max_s",
        "mqtt_connect_timeout_s",
        "mqtt_drain_s",
    } | {"mqtt"}
    pipeline = {f.name for f in dataclasses.fields(PipelineOptions)}
    assert pipeline == run - own - {f.name for f in dataclasses.fields(STAGE_OPTIONS[0])}  # all but the source
    for cls in STAGE_OPTIONS:  # each documented field by field (faster-whisper's VadOptions style)
        for f in dataclasses.fields(cls):
            assert f"{f.name}:" in cls.__doc__ or f"{f.name}," in cls.__doc__, f"{cls.__name__}.{f.name} undocumented"
    # defaults come from the stages: RunOptions() is each stage's defaults
    for cls in STAGE_OPTIONS:
        for f in dataclasses.fields(cls):
            assert getattr(RunOptions(), f.name) == getattr(cls(), f.name)


def test_the_docs_and_the_help_show_the_options_defaults():
    """docs/usage.md's option table and ``--help`` print the defaults the options hold."""
    import re

    from listener.cli import make_parser

    usage = (Path(__file__).resolve().parents[2] / "docs" / "usage.md").read_text()
    rows = [line.replace("\\|", "/").split("|") for line in usage.splitlines() if line.startswith("| `--")]
    table = {re.match(r" `(--[a-z-]+)", row[1])[1]: row[3].strip().strip("`") for row in rows}
    defaults = RunOptions()
    for flag, name in [
        ("--vad", "vad"),
        ("--block-ms", "block_ms"),
        ("--format", "log_format"),
        ("--model", "model"),
        ("--input-rate", "input_rate"),
        ("--input-channels", "input_channels"),
        ("--source", "source"),
    ]:
        assert table[flag] == str(getattr(defaults, name)), f"docs/usage.md says {flag} defaults to {table[flag]}"
    run = next(a for a in make_parser()._subparsers._group_actions[0].choices.items() if a[0] == "run")[1]
    helps = {opt: action.help for action in run._actions for opt in action.option_strings}
    for flag, name in [("--vad", "vad"), ("--block-ms", "block_ms"), ("--format", "log_format"), ("--model", "model")]:
        assert f"default: {getattr(defaults, name)}" in helps[flag]
