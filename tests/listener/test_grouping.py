"""Sound events from hand-made window outputs, and sequences from hand-made detections."""

import numpy as np
import pytest

from listener.decider import Decision
from listener.errors import UsageError
from listener.events import Detection
from listener.grouping import EventMerger, GroupingOptions, SequenceTracker, check_grouping

LABELS = ["bark", "cry", "other"]
RATE = 16000
HOP = 4000  # 0.25 s


def window(label: str, accepted: bool = True, p: float = 0.9):
    """(probs, decision) of one window whose best label is ``label``; ``accepted``: the decider took it."""
    probs = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1), np.float32)
    probs[LABELS.index(label)] = p
    return probs, Decision(label, p, [(label, p)]) if accepted else None


def run(merger: EventMerger, rows: list, start: int = 0, hop: int = HOP):
    """Feed windows every hop (None: no window there: the gate was closed); returns the events
    as (label, start_s, end_s) and the sample after the last window."""
    out = []
    end = start
    for row in rows:
        end += hop
        if row is None:
            out += merger.tick(end, hop)
            continue
        probs, decision = window(*row) if isinstance(row, tuple) else window(row)
        out += merger.window(end / RATE - 0.5, end, probs, decision, hop)
    return [(e.label, round(e.start_s, 2), round(e.end_s, 2)) for e in out], end


def test_consecutive_windows_of_one_label_are_one_event_written_when_it_ends():
    m = EventMerger(LABELS)
    events, _ = run(m, ["bark"] * 9 + ["other"])  # a 2.2 s bark seen by 9 windows, then something else
    assert events == [("bark", -0.25, 1.75)]


def test_a_label_change_ends_one_event_and_starts_the_next():
    m = EventMerger(LABELS)
    events, _ = run(m, ["bark", "bark", "cry", "cry", "cry"])
    assert events == [("bark", -0.25, 0.0)]
    assert m.flush()[0].label == "cry"


def test_an_other_window_ends_an_event_and_is_never_one():
    m = EventMerger(LABELS)
    events, _ = run(m, ["bark", "bark", ("other", False), ("other", False), "bark"])
    assert events == [("bark", -0.25, 0.0)]
    assert [(e.label, e.start_s) for e in m.flush()] == [("bark", 0.75)]


def test_windows_below_the_threshold_keep_an_event_going_but_never_start_one():
    m = EventMerger(LABELS)
    events, _ = run(m, [("cry", False), "cry", ("cry", False), ("cry", False), "cry", ("bark", False)])
    assert events == [("cry", 0.0, 0.75)]  # opened by the first accepted window, held by the others
    assert m.flush() == []  # a lone unaccepted window is no event


def test_a_gap_in_the_windows_ends_the_event_when_the_next_window_is_overdue():
    m = EventMerger(LABELS)
    events, end = run(m, ["bark", "bark", None, None])  # the gate closed: no window where one was due
    assert events == [("bark", -0.25, 0.0)]
    # a gap shorter than a hop and a half is not a gap (30 ms frames make hops uneven)
    m = EventMerger(LABELS)
    assert run(m, ["bark", "bark"])[0] == [] and m.tick(2 * HOP + HOP // 2, HOP) == []
    # windows that come back after a gap (no tick in between: analyze's batches) start a new event
    m = EventMerger(LABELS)
    first, end = run(m, ["bark", "bark"])
    second, _ = run(m, ["bark", "bark"], start=end + 2 * HOP)
    assert first == [] and second == [("bark", -0.25, 0.0)]
    assert [(e.start_s, e.end_s) for e in m.flush()] == [(0.75, 1.0)]


def test_an_event_running_to_the_end_of_a_file_is_written_by_flush():
    m = EventMerger(LABELS)
    events, _ = run(m, ["cry"] * 6)
    assert events == []
    (e,) = m.flush()
    assert (e.label, e.start_s, e.end_s) == ("cry", -0.25, 1.0) and m.flush() == []


def test_a_long_event_is_written_every_max_event_seconds_and_continued():
    m = EventMerger(LABELS, max_event_s=1.0)
    events, _ = run(m, ["cry"] * 11 + ["other"])  # 2.5 s of windows
    assert events == [("cry", -0.25, 0.75), ("cry", 1.0, 2.0), ("cry", 2.25, 2.25)]
    assert all(e[2] - e[1] <= 1.0 for e in events)


def test_the_event_keeps_its_most_confident_window():
    m = EventMerger(LABELS)
    for i, p in enumerate([0.7, 0.95, 0.8]):
        probs, decision = window("bark", p=p)
        m.window(i * 0.25, (i + 1) * HOP, probs, decision, HOP)
    (e,) = m.flush()
    assert e.confidence == pytest.approx(0.95) and e.top == [("bark", 0.95)] and e.end_sample == 3 * HOP


# ---------------------------------------------------------------- sequences


def digit(label: str, stream_s: float, confidence: float = 0.9) -> Detection:
    return Detection("t", stream_s, label, confidence, [(label, confidence)], "d-2", "x", None)


SYMBOLS = {"four": "4", "seven": "7", "two": "2", "oh": "0"}


def test_a_pause_ends_a_sequence_of_the_detections_with_symbols():
    t = SequenceTracker(SYMBOLS, pause_s=1.0)
    for label, at in [("four", 1.0), ("seven", 1.3), ("other", 1.5), ("two", 1.6)]:
        assert t.add(digit(label, at)) == []
    assert t.current == "472"
    assert t.tick(2.5) == []  # 0.9 s after the last digit: not yet
    (done,) = t.tick(2.6)
    assert "".join(done.symbols) == "472" and [d.label for d in done.detections] == ["four", "seven", "two"]
    assert t.current == "" and t.tick(10.0) == []


def test_a_digit_after_the_pause_ends_the_sequence_before_it_and_oh_is_zero():
    t = SequenceTracker(SYMBOLS, pause_s=0.5)
    t.add(digit("four", 1.0))
    (done,) = t.add(digit("oh", 2.0))  # no tick came in between (analyze): the digit itself says so
    assert done.symbols == ["4"] and t.current == "0"
    (last,) = t.flush()
    assert last.symbols == ["0"] and t.flush() == []


def test_grouping_options_must_be_positive():
    check_grouping(GroupingOptions())
    with pytest.raises(UsageError, match="--sequence-pause must be > 0"):
        check_grouping(GroupingOptions(sequence_pause=0))
    with pytest.raises(UsageError, match="--max-event"):
        check_grouping(GroupingOptions(max_event=-1.0))
