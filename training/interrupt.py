"""Ctrl-C that a long job does not lose.

Python runs a SIGINT handler between two bytecodes, and that moment can fall inside code whose
exceptions it only prints ("Exception ignored in ..."): an at-fork hook while a worker pool starts,
a ``__del__``, a weakref callback. The KeyboardInterrupt then never reaches the job, which would run
on to the end as if no one had pressed Ctrl-C, and the user would see a traceback for it.
``noting()`` installs a handler that records each press as well as raising, keeps Python from
printing the KeyboardInterrupt it could not raise, and ``check()``, called between units of work
(a cached clip, a batch, a stage), raises the one that went missing. Where a press is known to land
in such code (a worker pool forking), ``holding()`` keeps it from raising there at all.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_pressed = threading.Event()
_held = threading.Event()


def _on_sigint(signum: int, frame: object) -> None:
    _pressed.set()
    raise KeyboardInterrupt


def _hold_sigint(signum: int, frame: object) -> None:
    _held.set()


def _replaceable(own: Callable[[int, object], None]) -> Callable | int | None:
    """The SIGINT handler a block installing ``own`` replaces, or None where it must leave the handler
    alone: off the main thread (signals go to it only), a SIGINT ignored since the process started (a
    shell's background job), ``own`` already there (an outer block of the same kind) or a handler not
    set from Python."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    return None if previous == signal.SIG_IGN or previous is own else previous


@contextmanager
def noting() -> Iterator[None]:
    """Record Ctrl-C presses for ``check()`` while the block runs (main thread only; a SIGINT that
    was ignored when the process started, as in a shell's background job, stays ignored). Blocks
    nest: inside another ``noting()`` this one changes nothing, so a press the inner block saw is
    still there for the outer one's checks. Library code whose own steps can drop a press (a worker
    pool starting) wraps them in it, so in-process callers are covered as the commands are."""
    previous = _replaceable(_on_sigint)
    if previous is None:
        yield
        return
    _pressed.clear()
    printer = sys.unraisablehook

    def quiet(unraisable: sys.UnraisableHookArgs) -> None:
        """A press that a finaliser or hook swallowed is noted for ``check()``: not printed."""
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt) and _pressed.is_set()):
            printer(unraisable)

    signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = quiet
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = printer
        _pressed.clear()


@contextmanager
def holding() -> Iterator[None]:
    """Hold Ctrl-C while the block runs and deliver it, to whatever handler was there before, as
    the block ends. For steps where a raised KeyboardInterrupt would land in code that can only print
    it (the at-fork hooks while a worker pool starts): the press then arrives a moment later, in
    ordinary code. Main thread only; nested blocks and an ignored SIGINT are left as they are."""
    previous = _replaceable(_hold_sigint)
    if previous is None:
        yield
        return
    _held.clear()
    signal.signal(signal.SIGINT, _hold_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if _held.is_set():
            _held.clear()
            signal.raise_signal(signal.SIGINT)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since the last check (or since ``noting()``
    began); the press is then consumed. A press whose exception did arrive is raised here again
    only if the code that caught it goes on to another ``check()``: callers stop instead."""
    if _pressed.is_set():
        _pressed.clear()
        raise KeyboardInterrupt
