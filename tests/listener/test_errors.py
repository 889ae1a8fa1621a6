from listener.errors import AudioError, ListenerError, LogError, ModelError, UsageError


def test_each_kind_of_failure_has_its_own_exit_code():
    errors = [UsageError("u"), ModelError("m"), AudioError("a"), LogError("l")]
    codes = [e.exit_code for e in errors]
    assert codes == [2, 3, 4, 5]
    assert all(isinstance(e, ListenerError) and e.message == str(e) for e in errors)


def test_interrupted_exits_130_even_when_ctrl_c_ended_a_string_exec(tmp_path):
    """Ctrl-C landing while a dataclass or namedtuple is made (a string ``exec``) would otherwise turn
    ``python -m``'s ``sys.exit(130)`` into a death by SIGINT."""
    import subprocess
    import sys

    module = tmp_path / "stops.py"
    module.write_text(
        "import sys\n"
        "from listener.errors import interrupted\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt')\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(interrupted() if sys.argv[1:] == ['fixed'] else 130)\n"
    )
    run = lambda *a: subprocess.run([sys.executable, "-m", "stops", *a], cwd=tmp_path, capture_output=True)  # noqa: E731
    assert run().returncode == -2  # what the helper is for: CPython's own behaviour
    assert run("fixed").returncode == 130


def test_loading_exits_130_as_a_command_and_lets_an_importer_have_the_interrupt(capsys):
    import pytest

    from listener.errors import loading

    with pytest.raises(SystemExit) as stop:
        with loading("__main__"):
            raise KeyboardInterrupt
    assert stop.value.code == 130
    assert capsys.readouterr().err == "interrupted: nothing done\n"
    with pytest.raises(KeyboardInterrupt):  # imported by a program: the program decides
        with loading("listener.training.train"):
            raise KeyboardInterrupt
    with pytest.raises(ValueError):  # anything else is not its business
        with loading("__main__"):
            raise ValueError("x")
    assert capsys.readouterr().err == ""


# Ctrl-C while torch is importing: a finder on sys.meta_path raises KeyboardInterrupt where Python would.
PRESS_DURING_TORCH_IMPORT = """
import sys
class _Press:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, _Press())
"""

COMMANDS_THAT_LOAD_TORCH = (
    "listener.export",
    "listener.export.build_defaults",
    "listener.export.frame_context",
    "listener.training.train",
)


def test_ctrl_c_while_a_command_loads_torch_gives_one_line_and_130(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "sitecustomize.py").write_text(PRESS_DURING_TORCH_IMPORT)
    paths = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    for module in COMMANDS_THAT_LOAD_TORCH:
        run = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, env=env)
        assert (module, run.returncode, run.stdout, run.stderr) == (module, 130, "", "interrupted: nothing done\n")
