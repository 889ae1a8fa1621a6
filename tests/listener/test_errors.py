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
