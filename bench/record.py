"""Writing a bench's JSON record (one way for every script that has a --out)."""

from __future__ import annotations

import json
from pathlib import Path


def write_record(path: Path, result: dict, indent: int = 2, detail: str = "") -> None:
    """`result` as JSON at `path` (its folder made), and a line saying where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=indent) + "\n")
    print(f"wrote {path}{detail}")
