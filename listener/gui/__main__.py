"""``python -m listener.gui``: the same as ``listener gui`` (the same errors and exit codes too)."""

import sys

from listener.cli import main

sys.exit(main(["gui", *sys.argv[1:]]))
