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
