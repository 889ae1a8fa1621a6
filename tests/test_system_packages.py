"""The system packages: one list, written the same in the README, .ci/run and docs/gui.md,
and complete for the desktop app (every library Qt's xcb platform plugin loads is found).

A newcomer follows the README's apt line; CI runs .ci/run. When the lists drift, or a
new Qt wheel needs a library none of them installs, the app aborts at start on a fresh
machine (exit 134) although it ran here; these tests fail first, naming what is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def apt_packages(text: str) -> list[str]:
    """The packages of the first ``apt-get install`` command in ``text`` (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", text)
    m = re.search(r"apt-get install([^\n`]*)", joined)
    assert m, "no apt-get install command"
    return [w for w in m.group(1).split() if not w.startswith("-")]


def test_readme_ci_and_gui_guide_list_the_same_packages():
    readme = apt_packages((ROOT / "README.md").read_text())
    ci = apt_packages((ROOT / ".ci" / "run").read_text())
    gui = apt_packages((ROOT / "docs" / "gui.md").read_text())
    assert readme == ci == gui, f"README {readme}\n.ci/run {ci}\ndocs/gui.md {gui}"
    for needed in (
        "python3-venv",
        "libportaudio2",
        "pulseaudio",
        "libasound2-plugins",
        "xvfb",
        "libxcb-icccm4",
        "libxcb-keysyms1",
    ):
        assert needed in readme


def qt_xcb_libraries() -> list[Path]:
    pyside = pytest.importorskip("PySide6", reason="the gui extra is not installed")
    qt = Path(pyside.__file__).parent / "Qt"
    libs = [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))]
    libs = [p for p in libs if p.is_file()]
    if not libs:
        pytest.skip("this PySide6 has no xcb platform plugin")
    return libs


def test_every_library_of_the_qt_xcb_plugin_is_installed():
    if shutil.which("ldd") is None:
        pytest.skip("no ldd here")
    missing = set()
    for lib in qt_xcb_libraries():
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True).stdout
        missing |= {line.split()[0] for line in out.splitlines() if "not found" in line}
    assert not missing, (
        f"Qt's xcb platform needs {sorted(missing)}: add their Debian packages (dpkg -S / apt-file search) "
        "to the one list in README.md, .ci/run and docs/gui.md"
    )


def test_portaudio_can_reach_pulseaudio():
    # PortAudio sees PulseAudio through ALSA's pulse plugin (libasound2-plugins), which apt
    # installs only as a recommendation: without it the virtual microphone has no device.
    if shutil.which("pulseaudio") is None:
        pytest.skip("PulseAudio is not installed")
    plugins = list(Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so"))
    plugins += list(Path("/usr/lib").glob("alsa-lib/libasound_module_pcm_pulse.so"))
    assert plugins, "ALSA's pulse plugin is missing: apt-get install libasound2-plugins"
