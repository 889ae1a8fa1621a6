"""The layering of docs/architecture.md, checked on the source: every import, lazy ones included.

    listener (the runtime)  <-  listener.training  <-  listener.export  <-  bench

A package may import the ones to its left and itself, never one to its right: so no
import cycle among them, and the runtime, which users install on a Raspberry Pi,
never pulls in torch or onnx.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# folder in the repository -> the import name it installs as (pyproject.toml's package-dir)
FOLDERS = {"listener": "listener", "training": "listener.training", "export": "listener.export", "bench": "bench"}
ORDER = ("runtime", "training", "export", "bench")
HEAVY = {"torch", "torchaudio", "onnx", "onnxscript"}  # training-only; onnxruntime is the runtime's


def layer(module: str) -> str | None:
    """Which layer an import name belongs to (None: not ours)."""
    for prefix, name in (("listener.training", "training"), ("listener.export", "export"), ("bench", "bench")):
        if module == prefix or module.startswith(prefix + "."):
            return name
    if module == "listener" or module.startswith("listener."):
        return "runtime"
    return None


@cache
def modules() -> dict[str, Path]:
    """Every module of ours: import name -> file."""
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def imports(module: str, path: Path) -> set[str]:
    """Every name ``module`` imports, anywhere in the file, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules())
    return found


def edges() -> list[tuple[str, str]]:
    return [(m, target) for m, path in modules().items() for target in sorted(imports(m, path))]


def test_the_scan_sees_every_package_and_the_known_imports() -> None:
    found = modules()
    assert {layer(m) for m in found} == set(ORDER)
    assert "listener.export.build_defaults" in found and "bench.corpus" in found
    pairs = set(edges())
    assert ("listener.classifier", "listener.contract") in pairs  # a relative import, resolved
    assert ("listener.export.parity", "listener.training.evaluate") in pairs


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = [
        f"{a} imports {b}" for a, b in edges() if layer(b) is not None and ORDER.index(layer(b)) > ORDER.index(layer(a))
    ]
    assert not wrong, "imports against the layering (docs/architecture.md):\n" + "\n".join(wrong)


def test_there_is_no_import_cycle_among_the_packages() -> None:
    graph: dict[str, set[str]] = {name: set() for name in ORDER}
    for a, b in edges():
        if layer(b) is not None and layer(b) != layer(a):
            graph[layer(a)].add(layer(b))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    cycles = [name for name in ORDER if reaches(name, name, {name})]
    assert not cycles, f"import cycle through {cycles}: {graph}"


def test_the_runtime_never_imports_torch_or_onnx() -> None:
    wrong = [f"{a} imports {b}" for a, b in edges() if layer(a) == "runtime" and b.split(".")[0] in HEAVY]
    assert not wrong, "\n".join(wrong)


def test_importing_every_runtime_module_loads_no_training_package() -> None:
    """The same at run time: every runtime module imported in a fresh interpreter."""
    runtime = [m for m in modules() if layer(m) == "runtime" and not m.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for m in {runtime!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
