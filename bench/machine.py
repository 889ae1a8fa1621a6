"""What a bench record says about the machine it ran on (one spelling for every script)."""

from __future__ import annotations

import os
import platform


def machine() -> str:
    """Architecture, core count, OS and kernel, e.g. ``x86_64 2 cores Linux 6.18.44``."""
    return f"{platform.machine()} {os.cpu_count()} cores {platform.system()} {platform.release()}"
