"""training/interrupt.py: a Ctrl-C whose KeyboardInterrupt Python dropped is raised by check()."""

from __future__ import annotations

import signal

import pytest

from listener.training import interrupt


@pytest.fixture(autouse=True)
def _python_handles_sigint():
    """Python's own SIGINT handler, as a terminal run has it (a suite started as a background job
    inherits an ignored SIGINT, which ``noting()`` rightly leaves ignored)."""
    found = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, found)


class _RaisesInDel:
    """Ctrl-C pressed while Python runs a finaliser: the interrupt is printed as ignored, not raised."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_press_python_dropped_is_raised_once_by_check() -> None:
    with interrupt.noting():
        _RaisesInDel()  # no KeyboardInterrupt here: the finaliser swallowed it
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
        interrupt.check()  # consumed: a second check goes on


def test_a_press_that_arrived_is_still_a_keyboard_interrupt() -> None:
    with interrupt.noting(), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


def test_no_press_no_raise_and_the_handler_is_put_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupt.noting():
        assert signal.getsignal(signal.SIGINT) is not before
        interrupt.check()
    assert signal.getsignal(signal.SIGINT) is before


def test_an_ignored_sigint_stays_ignored() -> None:
    """A job started in the background (or under nohup) ignores Ctrl-C; noting() keeps it so."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupt.noting():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            interrupt.check()
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_blocks_nest_so_an_inner_block_keeps_the_press_for_the_outer_checks() -> None:
    with interrupt.noting():
        handler = signal.getsignal(signal.SIGINT)
        with interrupt.noting():
            assert signal.getsignal(signal.SIGINT) is handler  # the outer block's, untouched
            _RaisesInDel()
        assert signal.getsignal(signal.SIGINT) is handler
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()


def test_holding_delivers_a_press_when_the_block_ends_never_inside_it(monkeypatch) -> None:
    """Code that can only print an exception (a finaliser here, an at-fork hook in a worker pool's
    start) gets no KeyboardInterrupt under ``holding()``: the press arrives as the block ends."""
    import sys

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with interrupt.noting():
        with pytest.raises(KeyboardInterrupt):
            with interrupt.holding():
                _RaisesInDel()
                signal.raise_signal(signal.SIGINT)  # two presses held: one delivery
                reached = True
        assert reached and unraisable == []
        assert signal.getsignal(signal.SIGINT) is interrupt._on_sigint  # noting's handler took the press


def test_holding_without_a_press_changes_nothing_and_an_ignored_sigint_stays_ignored() -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupt.holding():
        pass
    assert signal.getsignal(signal.SIGINT) is before
    found = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupt.holding():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, found)


class _FailsInDel:
    def __del__(self) -> None:
        raise ValueError("a finaliser's own error")


def test_a_dropped_press_is_not_printed_but_other_ignored_errors_still_are(monkeypatch) -> None:
    """What Python prints as "Exception ignored in ..." for a press ``noting()`` recorded would be a
    traceback on the user's screen for nothing: check() raises that press. Anything else is printed."""
    import sys

    printed = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)
    with interrupt.noting():
        _RaisesInDel()
        assert printed == []
        _FailsInDel()
        assert [type(u.exc_value) for u in printed] == [ValueError]
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    assert sys.unraisablehook == printed.append  # the caller's hook, put back
    _RaisesInDel()  # outside the block Python's own handling is back: printed, not noted
    assert [type(u.exc_value) for u in printed] == [ValueError, KeyboardInterrupt]
