"""``python -m listener.gui``: the same as ``listener gui``."""

import sys

from listener.gui.app import main

sys.exit(main())
