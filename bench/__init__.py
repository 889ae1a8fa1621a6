"""Benchmarks: run from the repository root as ``python -m bench.<script>`` (docs/benchmarks.md).

Not installed with the project; each script uses the installed ``listener`` (and, for
the training ones, ``listener.training`` / ``listener.export``) through public APIs.
"""
