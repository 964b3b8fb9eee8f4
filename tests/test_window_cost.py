"""Bounded window reads (issue 14, finding 5) give what reading every row of a window gave.

`windows.StreamWindow` counts a window only up to the count a rule asks, reads a decision's
whole count and evidence only when it decides, and looks at few moments after a late event.
These tests hold it to a plain reference written here (every row read, every moment tried) over
random event sets, spans, counts, distinct values with absent ones, shared streams with windows
of different spans, accounts that no longer count, and late arrivals in random order.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import CompiledRuleset, Decision, Engine, SQLiteStore, load_ruleset
from blacklist_rules.model.history import Row
from blacklist_rules.windows import StreamWindow

from .strategies import WINDOW_VALUES, flag_sets, history_rows
from .support import T0, write_rule

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOUR_US = 3_600_000_000


# --- the plain reference ----------------------------------------------------------------------
def plain_count(
    rows: list[Row], at_us: int, span_us: int, distinct: bool, without: str | None = None
) -> int:
    """Every row of the window read: events, or distinct non-null values."""
    inside = [row for row in rows if at_us - span_us < row[0] <= at_us and row[1] != without]
    if distinct:
        return len({row[2] for row in inside if row[2] is not None})
    return len(inside)


def plain_firings(
    rows: list[Row], late: Row, span_us: int, needed: int, distinct: bool
) -> list[tuple[int, str]]:
    """Every later moment tried: those whose window holds with the late row, not without it."""
    found: dict[int, str] = {}
    for at_us, event_id, _value in sorted(rows, key=lambda row: (row[0], row[1])):
        if at_us <= late[0] or at_us - span_us >= late[0] or at_us in found:
            continue
        with_it = plain_count(rows, at_us, span_us, distinct)
        if with_it >= needed > plain_count(rows, at_us, span_us, distinct, late[1]):
            found[at_us] = event_id
    return sorted(found.items())


def stored(rows: list[Row]) -> SQLiteStore:
    """A real SQLite store whose history holds the rows, for one stream and group."""
    store = SQLiteStore()
    for at_us, event_id, value in rows:
        store.add_history("s", "g", at_us, event_id, value)
    return store


# --- the window reads, against the reference --------------------------------------------------
@settings(SETTINGS, max_examples=300)
@given(
    history_rows(),
    st.integers(1, 12),
    st.integers(1, 5),
    st.booleans(),
    st.sets(st.sampled_from(WINDOW_VALUES)),
)
def test_counts_equal_every_row_read(
    rows: list[Row], span: int, cap: int, distinct: bool, gone: set[object]
) -> None:
    """At every moment near the rows, with and without each row, for plain and distinct
    counts, with some values no longer counting (a window `by` identity: accounts gone): the
    capped count is the reference's count capped, the exact count and the evidence are the
    reference's."""
    store = stored(rows)
    live = (lambda value: value not in gone) if gone else None
    counting = [row for row in rows if live is None or live(row[2])]
    window = StreamWindow(store, "s", "g", distinct, live, rows[0])
    for at_us in range(-1, 32):
        for without in (None, *(row[1] for row in rows[:3])):
            expected = plain_count(counting, at_us, span, distinct, without)
            assert window.count(at_us, span, cap, without) == min(expected, cap)
        assert window.exact(at_us, span) == plain_count(counting, at_us, span, distinct)
        assert window.events(at_us, span) == tuple(
            row[1] for row in sorted(counting) if at_us - span < row[0] <= at_us
        )


@settings(SETTINGS, max_examples=300)
@given(
    history_rows(),
    st.data(),
    st.integers(1, 12),
    st.integers(1, 5),
    st.booleans(),
    st.sets(st.sampled_from(WINDOW_VALUES)),
)
def test_late_firings_equal_every_moment_tried(
    rows: list[Row], data: st.DataObject, span: int, needed: int, distinct: bool, gone: set[object]
) -> None:
    """Whichever row came late, the moments whose window it completes are the reference's:
    the same times, each named by the same event; also when some values no longer count (a
    window `by` identity: the rows of accounts gone are left out, the late one's counts)."""
    late = data.draw(st.sampled_from(rows))
    gone.discard(late[2])
    live = (lambda value: value not in gone) if gone else None
    counting = [row for row in rows if live is None or live(row[2])]
    window = StreamWindow(stored(rows), "s", "g", distinct, live, late)
    found = [(f.at_us, f.event_id) for f in window.late_firings(span, needed)]
    assert found == plain_firings(counting, late, span, needed, distinct)


@pytest.mark.parametrize(
    ("rows", "needed", "fired"),
    [
        # Too many values at 6 (x after, z before): the next moment to look at is when z
        # leaves (11); at 12 the window holds x and, with the late row, y.
        ([(1, "p", "z"), (5, "late", "y"), (6, "a", "x"), (12, "b", "x")], 2, [(12, "b")]),
        # Too few at 6 and 7 (x alone): the next moment is the next new value, w at 8.
        ([(5, "late", "y"), (6, "a", "x"), (7, "b", "x"), (8, "c", "w")], 3, [(8, "c")]),
        # The late value among the earlier rows (y at 1) until 11: nothing before; at 11
        # the window holds x and w and, with the late row, y.
        (
            [(1, "p", "y"), (5, "late", "y"), (6, "a", "x"), (9, "b", "w"), (11, "c", "x")],
            3,
            [(11, "c")],
        ),
    ],
)
def test_late_firings_look_where_the_count_can_change(
    rows: list[Row], needed: int, fired: list[tuple[int, str]]
) -> None:
    """A distinct window, span 10, the row `late` late: the moments skipped are those where
    nothing can change, and the moment found is the reference's."""
    late = next(row for row in rows if row[1] == "late")
    window = StreamWindow(stored(rows), "s", "g", True, None, late)
    assert [(f.at_us, f.event_id) for f in window.late_firings(10, needed)] == fired
    assert plain_firings(rows, late, 10, needed, True) == fired


def test_late_firings_stop_at_the_late_value_seen_again() -> None:
    """A distinct window: once an event after the late one has its value, no later moment
    needs it (nothing fires), however many events follow; and before, the one that does."""
    rows: list[Row] = [(0, "a", "x"), (5, "late", "y"), (6, "b", "x"), (7, "c", "y")]
    rows += [(8 + i, f"r{i:03}", "x") for i in range(100)]
    window = StreamWindow(stored(rows), "s", "g", True, None, rows[1])
    assert [(f.at_us, f.event_id) for f in window.late_firings(10, 2)] == [(6, "b")]
    assert plain_firings(rows, rows[1], 10, 2, True) == [(6, "b")]


# --- whole engines: final statuses, decisions' counts and evidence -----------------------------
WINDOW_RULES = {
    # Two windows on one stream (the same filter, no `distinct`), with different spans.
    "blacklist-three-in-5d": ("blacklist", 3, "5d", None),
    "freeze-two-in-2d": ("freeze", 2, "2d", None),
    # A distinct count over a field some events lack.
    "freeze-two-reaches-in-3d": ("freeze", 2, "3d", "reach"),
    "blacklist-three-contents-in-4d": ("blacklist", 3, "4d", "content_id"),
}
SPANS_US = {"2d": 48 * HOUR_US, "3d": 72 * HOUR_US, "4d": 96 * HOUR_US, "5d": 120 * HOUR_US}


@pytest.fixture(scope="module")
def window_rules(tmp_path_factory: pytest.TempPathFactory) -> CompiledRuleset:
    """The four window rules: freezes without an end, blacklists (statuses only rise)."""
    return load_ruleset(window_pack(tmp_path_factory.mktemp("pack")))


def window_pack(folder: Path) -> Path:
    """The four window rules, written to `folder`."""
    for rule_id, (action, count, within, distinct) in WINDOW_RULES.items():
        text = f"""
id: {rule_id}
version: 1
description: A window rule of the differential test.
basis: Test basis.
on: rumor_flag
when:
  verdict: malicious_rumor
window:
  count: {count}
  within: {within}
{f"  distinct: {distinct}" if distinct else ""}
then:
  action: {action}
  reason: A window held.
priority: 10
mode: enforce
dsa: {{category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}}
"""
        write_rule(folder, rule_id, text)
    return folder


def reference_status(events: list[dict[str, Any]], account: str) -> str:
    """The most severe action among the rules whose window holds at some event of the
    stream: what any arrival order must end with, as no rule here lowers a status."""
    rows = [
        (e["hour"] * HOUR_US, e["event_id"], e)
        for e in events
        if e["account_id"] == account and e["verdict"] == "malicious_rumor"
    ]
    status = "active"
    for action, count, within, distinct in WINDOW_RULES.values():
        span = SPANS_US[within]
        valued = [(at, eid, e.get(distinct) if distinct else None) for at, eid, e in rows]
        if any(plain_count(valued, at, span, distinct is not None) >= count for at, _, _ in rows):
            status = "blacklisted" if action == "blacklist" or status == "blacklisted" else "frozen"
    return status


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flag_sets(), st.data())
def test_any_arrival_order_ends_as_the_reference(
    window_rules: CompiledRuleset, events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Rumour flags in a random order (late ones among them) through a real engine: every
    account ends with the reference's status, and every decision shows the whole count of its
    window at its moment, over the events in by then, and has that window's events as
    evidence."""
    order = data.draw(st.permutations(events))
    arrived: list[dict[str, Any]] = []
    with Engine(window_rules, SQLiteStore(), max_lead=None) as engine:
        for e in order:
            sent = {k: v for k, v in e.items() if k != "hour"}
            sent["occurred_at"] = (T0 + timedelta(hours=e["hour"])).isoformat()
            arrived.append(e)
            for decision in engine.process(sent).decisions:
                check_decision(decision, arrived)
        for account in ("a", "b"):
            assert engine.status(account) == reference_status(events, account)


def check_decision(decision: Decision, arrived: list[dict[str, Any]]) -> None:
    """The decision's count and evidence are its window's, over the events arrived."""
    _action, count, within, distinct = WINDOW_RULES[decision.rule_id]
    at_us = int((decision.effective_at - T0).total_seconds()) * 1_000_000
    span = SPANS_US[within]
    rows = [
        (e["hour"] * HOUR_US, e["event_id"], e.get(distinct) if distinct else None)
        for e in arrived
        if e["account_id"] == decision.account_id and e["verdict"] == "malicious_rumor"
    ]
    window = sorted(row for row in rows if at_us - span < row[0] <= at_us)
    assert decision.evidence == tuple(row[1] for row in window)
    (match,) = (m for m in decision.matched if m.rule_id == decision.rule_id)
    assert match.conditions[-1].seen == plain_count(rows, at_us, span, distinct is not None)
    assert match.conditions[-1].seen >= count


# --- the work of one event does not grow with its window ----------------------------------------
def calls_of(engine: Engine, sent: dict[str, Any]) -> int:
    """Python and C function calls made processing one event: work, counted, not timed."""
    calls = 0

    def count(_frame: object, what: str, _arg: object) -> None:
        nonlocal calls
        calls += what in ("call", "c_call")

    sys.setprofile(count)
    try:
        engine.process(sent)
    finally:
        sys.setprofile(None)
    return calls


def crowded_flag(index: int, content: str, minutes: float) -> dict[str, Any]:
    """A flag of account `crowded`, `minutes` after T0."""
    return {
        "event_id": f"crowded-{index}",
        "type": "rumor_flag",
        "account_id": "crowded",
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "content_id": content,
        "verdict": "malicious_rumor",
        "source": "fact_check",
    }


def window_work(window_rules: CompiledRuleset, size: int, repeated: bool) -> tuple[int, int]:
    """The calls of one more event, in time order, and of one late event, with `size`
    events in the account's windows (all within 2 days: every window of the pack holds them)."""
    with Engine(window_rules, SQLiteStore(), max_lead=None) as engine:
        for i in range(size):
            engine.process(crowded_flag(i, "same" if repeated else f"c{i}", i))
        in_order = calls_of(engine, crowded_flag(size, "other", size))
        late = calls_of(engine, crowded_flag(-1, "late", 0.5))
    return in_order, late


@pytest.mark.parametrize("repeated", [False, True], ids=["distinct-values", "one-value"])
def test_work_per_event_does_not_grow_with_the_window(
    window_rules: CompiledRuleset, repeated: bool
) -> None:
    """Issue 14, finding 5: an event's work (function calls) with 2,000 events in its
    account's windows is that with 200, give or take a constant, for an event in time order
    and for a late one; reading whole windows made it grow tenfold (and a late event's a
    hundredfold)."""
    small_in_order, small_late = window_work(window_rules, 200, repeated)
    large_in_order, large_late = window_work(window_rules, 2000, repeated)
    assert large_in_order <= small_in_order * 1.2 + 100
    assert large_late <= small_late * 1.2 + 100
