"""Window reads past their first page, and late firings at their edges, through `windows.py`.

Written for the mutants of windows.py that test_window_cost lets through (see bench/README.md,
"Mutation testing"): its histories hold at most 16 rows, one first page, so the later pages,
the values race and the page keys were never reached. Times are plain microseconds; a window
of span T ending at t holds the rows with t - T < time <= t.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from blacklist_rules import SQLiteStore, load_ruleset
from blacklist_rules.model.history import HistoryRow, Row
from blacklist_rules.windows import StreamWindow, WindowEvidence

from .strategies import WINDOW_VALUES, crowded_history_rows
from .test_window_cost import SETTINGS, plain_count, plain_firings, stored, window_pack

FIRST_PAGE = 16
"""Rows of a window's first page (windows._page_sizes)."""


class PageSpy(SQLiteStore):
    """A store that keeps every row its history pages returned, and counts the pages."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[Row] = []
        self.pages = 0

    def history_page(
        self,
        stream: str,
        account_id: str,
        key: tuple[int, str | None],
        bound_us: int,
        limit: int,
        *,
        newest_first: bool = False,
    ) -> list[HistoryRow]:
        """The store's page, kept."""
        page = super().history_page(
            stream, account_id, key, bound_us, limit, newest_first=newest_first
        )
        self.read += page
        self.pages += 1
        return page


def spied(rows: list[Row]) -> PageSpy:
    """A `PageSpy` whose history holds the rows, for one stream and group."""
    store = PageSpy()
    for at_us, event_id, value in rows:
        store.add_history("s", "g", at_us, event_id, value)
    return store


def run(values: list[object], start: int = 1) -> list[Row]:
    """One row a µs from `start` on with each value, ids in time order (e01, e02, ...)."""
    return [(start + i, f"e{start + i:02}", value) for i, value in enumerate(values)]


def firings(window: StreamWindow, span_us: int, needed: int) -> list[tuple[int, str, object]]:
    """The late firings as (time, event, value)."""
    return [(f.at_us, f.event_id, f.value) for f in window.late_firings(span_us, needed)]


# --- distinct counts: the race of the newest rows and the group's values ---------------------
def test_a_value_older_than_the_newest_page_is_counted() -> None:
    """Sixty rows of x, the oldest y: the newest pages hold only x, the group's values find
    y before the window is read whole. Without the y row it counts one (y is tried, and not
    found but in the row left out); with a cap of five, two."""
    rows = run(["y", *["x"] * 59])
    window = StreamWindow(stored(rows), "s", "g", True, None, rows[0])
    assert window.count(60, 60, 2) == 2
    assert window.count(60, 60, 2, without="e01") == 1
    assert window.count(60, 60, 5) == 2


def test_a_value_of_the_group_outside_the_window_is_not_counted() -> None:
    """Twenty rows of x in the window, a and z only before it: the count is one, up to a cap
    of two or three (the race tries a, x and z; only x is in the window)."""
    rows = [(-5, "old-a", "a"), *run(["x"] * 20), (-4, "old-z", "z")]
    window = StreamWindow(stored(rows), "s", "g", True, None, rows[1])
    assert window.count(20, 20, 2) == 1
    assert window.count(20, 20, 3) == 1
    assert window.count(20, 30, 3) == 3


def test_a_value_that_no_longer_counts_is_not_counted_past_the_first_page() -> None:
    """Twenty rows of x but the oldest, g, whose account is gone (it no longer counts): one
    value, not two; with g live, two."""
    rows = run(["g", *["x"] * 19])
    gone = StreamWindow(stored(rows), "s", "g", True, lambda value: value != "g", rows[0])
    assert gone.count(20, 20, 2) == 1
    assert StreamWindow(stored(rows), "s", "g", True, lambda _: True, rows[0]).count(20, 20, 2) == 2


def test_a_distinct_count_settled_by_the_race_reads_two_pages() -> None:
    """Three hundred rows of x, the oldest y, a cap of two: the newest page and the value x,
    then the next page and the value y settle it: two pages read, not the whole window."""
    rows = run(["y", *["x"] * 299])
    store = spied(rows)
    window = StreamWindow(store, "s", "g", True, None, rows[0])
    assert window.count(300, 300, 2) == 2
    assert store.pages == 2


def test_a_distinct_count_read_whole_reads_each_row_once_newest_first() -> None:
    """Sixty rows of x and ten values before the window: the race tries all ten, so the
    window is read whole, each row once, newest first, three at one µs across the first
    page's end included."""
    times = [*range(1, 44), 44, 44, 44, *range(45, 59)]
    rows = [(t, f"e{i:02}", "x") for i, t in enumerate(times)]
    store = spied([*((-t, f"old{t}", f"a{t}") for t in range(10)), *rows])
    window = StreamWindow(store, "s", "g", True, None, rows[0])
    assert window.count(100, 100, 3) == 1
    assert store.read == sorted(rows, reverse=True)


# --- plain counts of windows by identity: the newest rows, page after page ------------------
def test_a_count_by_identity_counts_each_live_row_once() -> None:
    """Twenty rows, three of them (at 2, 5 and 10) of live accounts: three, however the pages
    fall (the first ends at 5, the second starts after it)."""
    rows = run(["x" if t in (2, 5, 10) else "g" for t in range(1, 21)])
    window = StreamWindow(stored(rows), "s", "g", False, lambda value: value != "g", rows[0])
    assert window.count(20, 100, 5) == 3
    assert window.count(20, 100, 2) == 2


def test_a_count_by_identity_reads_deep_windows_whole() -> None:
    """A hundred rows, only the two oldest live: two, found past several pages."""
    rows = run(["x", "x", *["g"] * 98])
    window = StreamWindow(stored(rows), "s", "g", False, lambda value: value != "g", rows[0])
    assert window.count(100, 100, 5) == 2


# --- late firings of plain counts ----------------------------------------------------------
def test_a_late_event_completes_a_count_past_the_first_page() -> None:
    """The late row at 0, one row a µs from 1 to 20, eighteen needed: only 17 reaches it with
    the late row (the 17th row after it: on the second page)."""
    late: Row = (0, "late", None)
    rows = [late, *run([None] * 20)]
    window = StreamWindow(stored(rows), "s", "g", False, None, late)
    assert firings(window, 100, 18) == [(17, "e17", None)]


def test_late_firings_read_the_rows_after_in_order_each_once() -> None:
    """Forty rows after the late one, ties at the first page's end, thirty needed: the rows
    read are the first ones after the late row, in order, none twice, none skipped."""
    late: Row = (0, "late", "x")
    times = [*range(1, 16), 16, 16, 16, *range(17, 39)]
    rows = [late, *((t, f"e{i:02}", "x") for i, t in enumerate(times))]
    store = spied(rows)
    StreamWindow(store, "s", "g", False, None, late).late_firings(100, 30)
    after = sorted(rows[1:])
    assert len(store.read) > FIRST_PAGE
    assert store.read == after[: len(store.read)]


def test_two_events_at_one_moment_fire_once_named_by_the_first() -> None:
    """A plain count: two later events at one µs are one moment, one firing, the first's."""
    late: Row = (0, "late", None)
    rows = [late, (3, "a", None), (3, "b", None)]
    window = StreamWindow(stored(rows), "s", "g", False, None, late)
    assert firings(window, 10, 3) == [(3, "a", None)]


def test_a_firing_by_identity_carries_the_events_value() -> None:
    """A window by identity: each firing carries its event's value (the account), which the
    engine names; so does a distinct window's."""
    late: Row = (0, "late", "acct-1")
    rows = [late, (3, "a", "acct-2")]
    plain = StreamWindow(stored(rows), "s", "g", False, lambda _: True, late)
    assert firings(plain, 10, 2) == [(3, "a", "acct-2")]
    distinct = StreamWindow(stored(rows), "s", "g", True, None, late)
    assert firings(distinct, 10, 2) == [(3, "a", "acct-2")]


# --- late firings of distinct counts -------------------------------------------------------
def test_a_distinct_firing_is_named_by_the_first_event_of_its_moment() -> None:
    """At 8 an x (known) and then a w (new) arrive: the new value leads to 8, but the firing
    is named by the moment's first event, a."""
    late: Row = (5, "late", "y")
    rows = [late, (6, "p", "x"), (8, "a", "x"), (8, "b", "w")]
    window = StreamWindow(stored(rows), "s", "g", True, None, late)
    assert firings(window, 10, 3) == [(8, "a", "x")]


def test_a_late_distinct_value_fires_at_consecutive_moments() -> None:
    """The late A, then B at 5 and at 6, two needed: both moments fire (A and B), the second
    a µs after the first."""
    late: Row = (0, "late", "A")
    rows = [late, (5, "e5", "B"), (6, "e6", "B")]
    window = StreamWindow(stored(rows), "s", "g", True, None, late)
    assert firings(window, 10, 2) == [(5, "e5", "B"), (6, "e6", "B")]


def test_a_departure_a_microsecond_later_is_looked_at() -> None:
    """At 11 the window holds z (from 2) and x without the late y: enough. z leaves at 12, a
    µs later, where b's window holds x and, with the late row, y: it fires."""
    late: Row = (5, "late", "y")
    rows = [(2, "p", "z"), late, (11, "a", "x"), (12, "b", "x")]
    window = StreamWindow(stored(rows), "s", "g", True, None, late)
    assert firings(window, 10, 2) == [(12, "b", "x")]


def test_a_row_a_microsecond_before_the_late_one_departs_too() -> None:
    """z at 4, a µs before the late y at 5: at 6 it makes the window hold without the late
    row; it leaves at 14, where the window holds x and, with the late row, y."""
    late: Row = (5, "late", "y")
    rows = [(4, "p", "z"), late, (6, "a", "x"), (14, "b", "x")]
    window = StreamWindow(stored(rows), "s", "g", True, None, late)
    assert firings(window, 10, 2) == [(14, "b", "x")]


def test_a_value_equal_to_the_late_events_id_is_a_value_like_any_other() -> None:
    """The row before the late one has the value "late", the late event's id: it departs at
    14 as any row does, and the window at 14 fires."""
    late: Row = (5, "late", "y")
    rows = [(4, "p", "late"), late, (6, "a", "x"), (14, "b", "x")]
    window = StreamWindow(stored(rows), "s", "g", True, None, late)
    assert firings(window, 10, 2) == [(14, "b", "x")]


# --- a decision's evidence ---------------------------------------------------------------
def evidence(tmp_path: Path, store: SQLiteStore | None = None) -> tuple[WindowEvidence, str, str]:
    """The evidence at 30 of the four window rules of test_window_cost over one stream's rows
    (e01 to e30, a µs apart, in `store` if given), and the ids of two of its rules."""
    ruleset = load_ruleset(window_pack(tmp_path))
    rules = [rule for rule in ruleset.rules if rule.window is not None]
    store = store or stored(run(["x"] * 30))
    windows = {
        rule.window.stream: StreamWindow(store, "s", "g", False, None, (30, "e30", "x"))
        for rule in rules
        if rule.window is not None
    }
    return WindowEvidence(rules, windows, 30), rules[0].id, rules[1].id


def test_evidence_set_for_a_window_rule_is_kept(tmp_path: Path) -> None:
    """Evidence set for a rule (the engine adds earlier decisions to it) is what is read
    back, not the window's events read again."""
    found, first, _second = evidence(tmp_path)
    found[first] = ("e30", "earlier")
    assert found[first] == ("e30", "earlier")
    assert dict(found)[first] == ("e30", "earlier")


def test_evidence_lists_every_rule_once_and_forgets_a_deleted_one(tmp_path: Path) -> None:
    """Every window rule is listed once, a rule set in addition too; a deleted one is gone
    (read or not, set or not)."""
    found, first, second = evidence(tmp_path)
    found["other"] = ("e1",)
    assert len(list(found)) == len(found) == 5
    assert set(found) >= {first, second, "other"}
    assert found[second] == tuple(f"e{t:02}" for t in range(1, 31))
    del found[first]
    del found[second]
    del found["other"]
    assert len(found) == 2
    assert {first, second, "other"}.isdisjoint(found)


def test_settled_evidence_stays_when_the_history_changes(tmp_path: Path) -> None:
    """`settle` reads every pending window now: rows added later are not evidence."""
    store = stored(run(["x"] * 30))
    found, first, _second = evidence(tmp_path, store)
    found.settle()
    store.add_history("s", "g", 29, "e29b", "x")
    assert "e29b" not in found[first]


# --- against the reference, over histories longer than a page --------------------------------
@settings(SETTINGS, max_examples=150)
@given(crowded_history_rows(), st.integers(1, 40), st.integers(1, 4), st.booleans(), st.data())
def test_crowded_counts_equal_every_row_read(
    rows: list[Row], span: int, cap: int, distinct: bool, data: st.DataObject
) -> None:
    """Histories of 17 to 60 rows, nearly all of one value: the capped count, with and without
    a row, with some values no longer counting, is the reference's count capped."""
    gone = data.draw(st.sets(st.sampled_from(WINDOW_VALUES)))
    live = (lambda value: value not in gone) if gone else None
    counting = [row for row in rows if live is None or live(row[2])]
    window = StreamWindow(stored(rows), "s", "g", distinct, live, rows[0])
    for at_us in range(0, 34, 3):
        for without in (None, rows[0][1], rows[-1][1]):
            expected = plain_count(counting, at_us, span, distinct, without)
            assert window.count(at_us, span, cap, without) == min(expected, cap)


@settings(SETTINGS, max_examples=150)
@given(crowded_history_rows(), st.data(), st.integers(1, 40), st.integers(1, 24), st.booleans())
def test_crowded_late_firings_equal_every_moment_tried(
    rows: list[Row], data: st.DataObject, span: int, needed: int, distinct: bool
) -> None:
    """Histories of 17 to 60 rows, a count of up to 24: whichever row came late, the moments
    it completes are the reference's, each named by the same event."""
    late = data.draw(st.sampled_from(rows))
    window = StreamWindow(stored(rows), "s", "g", distinct, None, late)
    found = [(f.at_us, f.event_id) for f in window.late_firings(span, needed)]
    assert found == plain_firings(rows, late, span, needed, distinct)
