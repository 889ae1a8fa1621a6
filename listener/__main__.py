"""``python -m listener`` == the ``listener`` command."""

import sys

from .cli import main

sys.exit(main())
