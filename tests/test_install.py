"""The install resolves what constraints.txt locks, and the training stack loads.

torch and torchaudio only load as matching builds; a fresh machine resolving a newer
torchaudio than torch (or the reverse) breaks every training test at import. These
tests fail with the reason instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    """name -> version from constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def _train_pin(name: str) -> str:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for req in extras["train"]:
        m = re.match(rf"^{name}==([\w.]+)$", req)
        if m:
            return m.group(1)
    raise AssertionError(f"the train extra must pin {name} exactly (name==version)")


def test_torch_pair_is_pinned_the_same_in_pyproject_and_the_lock() -> None:
    pins = _pins()
    for name in ("torch", "torchaudio"):
        assert pins.get(name) == _train_pin(name), f"{name}: pyproject says {_train_pin(name)}, lock {pins.get(name)}"


def test_installed_versions_are_the_locked_ones() -> None:
    pins = _pins()
    for name in ("torch", "torchaudio", "onnxruntime", "numpy"):
        installed = metadata.version(name).split("+")[0]  # 2.11.0+cpu is the CPU build of 2.11.0
        assert installed == pins[name], f"{name} {installed} is installed, constraints.txt locks {pins[name]}"


def test_torchaudio_loads_with_the_installed_torch() -> None:
    """In a fresh interpreter, as a user's first `import torchaudio` would."""
    code = "import torchaudio.functional as F; print(F.melscale_fbanks(201, 0.0, 8000.0, 40, 16000).shape)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"torchaudio does not load: {res.stderr.strip().splitlines()[-1:]}"
    assert "torch.Size([201, 40])" in res.stdout
