"""One exception type for every user-facing failure, each with its own exit code.

The CLI catches :class:`ListenerError`, prints ``listener: error: <message>`` on
stderr and exits with ``exit_code``; nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_FAILURE = 1  # unexpected internal error
EXIT_USAGE = 2  # bad command line / config file (argparse uses 2 as well)
EXIT_MODEL = 3  # missing or invalid model
EXIT_AUDIO = 4  # no input device, device busy/unplugged, unreadable or corrupt audio
EXIT_LOG = 5  # log file cannot be opened or written (permission, full disk)
EXIT_INTERRUPTED = 130  # `analyze` stopped by Ctrl-C or SIGTERM before it was done (a stopped `run` exits 0)


def interrupted() -> int:
    """EXIT_INTERRUPTED, for a command that caught Ctrl-C's KeyboardInterrupt and stopped cleanly.

    When that KeyboardInterrupt ended a string ``exec`` (a dataclass or namedtuple being made as
    Ctrl-C came), CPython remembers it, and ``python -m`` then dies by SIGINT instead of exiting
    with the status returned; the next string ``exec`` forgets it.
    """
    exec("")
    return EXIT_INTERRUPTED


@contextmanager
def loading(name: str) -> Iterator[None]:
    """Around a command module's imports (torch takes 1-3 s to load): a Ctrl-C there ends the command
    with one line and EXIT_INTERRUPTED, before it has done anything, instead of Python's traceback.

    ``name`` is the module's ``__name__``: only a module run as a command (``"__main__"``) exits here;
    one imported by a program lets the KeyboardInterrupt go on to that program.
    """
    try:
        yield
    except KeyboardInterrupt:
        if name != "__main__":
            raise
        print("interrupted: nothing done", file=sys.stderr)
        raise SystemExit(interrupted()) from None


class ListenerError(Exception):
    """An error with a one-line message meant for the user and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(ListenerError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


class ModelError(ListenerError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_MODEL)


class AudioError(ListenerError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_AUDIO)


class LogError(ListenerError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_LOG)
