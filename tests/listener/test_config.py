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


# Option names -> the module that owns their default. A literal given to one of these names
# (a parameter default, a field, a keyword argument, an assignment) anywhere else is a copy.
OWNERS = {
    "vad": "gate.py",
    "aggressiveness": "gate.py",
    "hangover_ms": "gate.py",
    "hop": "contract.py",
    "hop_seconds": "contract.py",
    "threshold": "contract.py",
    "default_threshold": "contract.py",
    "default_hop": "contract.py",
    "min_margin": "decider.py",
    "refractory_s": "decider.py",
    "block_ms": "audio.py",
    "block_seconds": "audio.py",
    "input_rate": "audio.py",
    "input_channels": "audio.py",
    "model": "classifier.py",
    "log_format": "sinks.py",
    "log_backups": "sinks.py",
    "backups": "sinks.py",
    "log_path": "sinks.py",
}
# Literals that are a model-level default wherever they appear.
LITERALS = {0.7: "contract.py", 0.25: "contract.py", "detections.jsonl": "sinks.py"}


def _literal(node) -> object:
    import ast

    if isinstance(node, ast.Constant) and node.value is not None and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.IfExp):  # ``x if x is not None else 0.7``
        return _literal(node.body) if _literal(node.body) is not None else _literal(node.orelse)
    if isinstance(node, ast.BoolOp):  # ``x or "digits"``
        return next((v for v in map(_literal, node.values) if v is not None), None)
    return None


def _named_literals(tree) -> list[tuple[str, object, int]]:
    """(name, literal, line) for every literal bound to a name: defaults, fields, keywords, assignments."""
    import ast

    out = []
    for node in ast.walk(tree):
        pairs = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs += list(zip([a.arg for a in positional[len(positional) - len(args.defaults) :]], args.defaults))
            pairs += [(a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            pairs.append((node.target.id, node.value))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    pairs.append((target.id, node.value))
                elif isinstance(target, ast.Attribute):
                    pairs.append((target.attr, node.value))
        elif isinstance(node, ast.Call):
            pairs += [(k.arg, k.value) for k in node.keywords if k.arg]
        for name, value in pairs:
            literal = _literal(value)
            if literal is not None:
                out.append((name, literal, value.lineno))
    return out


def test_each_default_is_written_once_next_to_its_stage():
    """The defaults the CLI and the app share (threshold 0.7, hop 0.25, VAD level 2, 60 ms blocks,
    min margin 0.1, the log's format and path, the model) are written in one module each; every
    other module imports them. An AST walk over listener/ finds any copy."""
    import ast

    root = Path(__file__).resolve().parents[2] / "listener"
    copies = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for name, literal, line in _named_literals(tree):
            owner = OWNERS.get(name)
            if owner is not None and path.name != owner:
                copies.append(f"{path.relative_to(root)}:{line}: {name} = {literal!r} (owner: {owner})")
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and type(node.value) in (float, str) and node.value in LITERALS:
                owner = LITERALS[node.value]
                if path.name != owner:
                    copies.append(f"{path.relative_to(root)}:{node.lineno}: literal {node.value!r} (owner: {owner})")
    assert copies == [], "defaults written twice:\n" + "\n".join(copies)


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
        ("--sequence-pause", "sequence_pause"),
        ("--max-event", "max_event"),
    ]:
        assert table[flag] == str(getattr(defaults, name)), f"docs/usage.md says {flag} defaults to {table[flag]}"
    run = next(a for a in make_parser()._subparsers._group_actions[0].choices.items() if a[0] == "run")[1]
    helps = {opt: action.help for action in run._actions for opt in action.option_strings}
    for flag, name in [
        ("--vad", "vad"),
        ("--block-ms", "block_ms"),
        ("--format", "log_format"),
        ("--model", "model"),
        ("--sequence-pause", "sequence_pause"),
        ("--max-event", "max_event"),
    ]:
        assert f"default: {getattr(defaults, name)}" in helps[flag]
