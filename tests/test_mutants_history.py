"""Window counts and late firings at their edges, through `blacklist_rules.model.history` itself.

Written for the mutants of model/history.py that the engine-level tests let through (see
bench/README.md, "Mutation testing"): each test names the behaviour it pins down. Times are
plain microseconds; a window of span T ending at t holds the rows with t - T < time <= t.
"""

from __future__ import annotations

from blacklist_rules.model.history import Firing, count, in_window, late_firings

SPAN = 10


def test_a_row_exactly_a_span_before_the_end_is_outside_the_window() -> None:
    """The lower edge is open: at end - span a row is out, one µs later it is in."""
    assert in_window([(0, "a", None)], SPAN, SPAN) == []
    assert in_window([(1, "a", None)], SPAN, SPAN) == [(1, "a", None)]
    assert count([(0, "a", None), (1, "b", None), (SPAN, "c", None)], SPAN, SPAN, False) == 2


def test_a_distinct_count_counts_values_not_events() -> None:
    """Three events with one value count one under `distinct`; absent values count none."""
    rows = [(1, "a", "x"), (2, "b", "x"), (3, "c", "x"), (4, "d", None)]
    assert count(rows, SPAN, SPAN, True) == 1
    assert count(rows, SPAN, SPAN, False) == 4


def test_a_late_event_fires_the_later_moments_whose_window_it_completes() -> None:
    """Late at 0, later events at 3 and 5, two needed: only 3 reaches two for the first time
    (at 5 the window holds two without the late event already)."""
    late = (0, "late", None)
    rows = [late, (3, "e3", None), (5, "e5", None)]
    assert late_firings(rows, late, SPAN, 2, False) == [Firing(3, "e3")]


def test_a_window_that_held_already_without_the_late_event_does_not_fire_again() -> None:
    """Two needed, and both later events are within one window without the late one: the late
    event completes nothing."""
    late = (0, "late", None)
    rows = [late, (3, "e3", None), (4, "e4", None), (5, "e5", None)]
    assert late_firings(rows, late, SPAN, 3, False) == [Firing(4, "e4")]
    assert late_firings([late, (4, "e4", None), (5, "e5", None)], late, SPAN, 2, False) == [
        Firing(4, "e4")
    ]


def test_a_late_distinct_value_fires_each_moment_it_completes() -> None:
    """Distinct values: the late event brings value A to windows holding only B; each later
    moment whose window reaches two values with it fires, however many B events it holds."""
    late = (0, "late", "A")
    rows = [late, (5, "e5", "B"), (6, "e6", "B")]
    assert late_firings(rows, late, SPAN, 2, True) == [Firing(5, "e5"), Firing(6, "e6")]


def test_a_late_repeat_of_a_value_completes_no_distinct_window() -> None:
    """Distinct values: a late event repeating the value already there adds no value."""
    late = (0, "late", "B")
    rows = [late, (5, "e5", "B"), (6, "e6", "C")]
    assert late_firings(rows, late, SPAN, 3, True) == []
    assert late_firings(rows, late, SPAN, 2, True) == []


def test_an_event_at_the_late_events_own_moment_is_not_a_later_firing() -> None:
    """Another event at the same µs as the late one shares its window: that moment is the late
    event's own evaluation, not a later moment it completed."""
    late = (5, "late", None)
    rows = [(5, "same", None), late]
    assert late_firings(rows, late, SPAN, 2, False) == []


def test_an_event_exactly_a_span_after_the_late_one_is_beyond_its_reach() -> None:
    """The late event lies outside the window of an event exactly a span later, inside that of
    one a µs earlier."""
    late = (0, "late", None)
    assert late_firings([late, (SPAN, "far", None)], late, SPAN, 2, False) == []
    assert late_firings([late, (SPAN - 1, "near", None)], late, SPAN, 2, False) == [
        Firing(SPAN - 1, "near")
    ]


def test_two_events_at_one_moment_fire_once_named_by_the_first() -> None:
    """Two later events at the same µs are one moment (each is in the other's window): one
    firing, for the first of them."""
    late = (0, "late", None)
    rows = [late, (4, "first", None), (4, "second", None)]
    assert late_firings(rows, late, SPAN, 3, False) == [Firing(4, "first")]
