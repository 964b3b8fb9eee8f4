"""Every comparison of window, horizon, deadline and freeze-expiry arithmetic, at its edge.

Each case puts an event exactly at an edge, one microsecond inside and one outside, and runs
the events through the real engine (default pack) in every arrival order
(`itertools.permutations`): the outcome must be the one the stated rule gives, whatever the
order. The rules (DESIGN, README "Lateness"):

- a window "N within T" ending at t counts the events with t - T < time <= t: two events
  exactly T apart are not within T;
- an event more than the horizon (the longest window or deadline, 180 days here) behind the
  clock enters no window and starts no deadline; exactly the horizon behind still does;
- a deadline of T counted from an anchor at s passes at s + T; an `unless` event meets it when
  s <= time < s + T;
- a freeze expiring at e has ended when the clock reaches e (status at exactly e: ended).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine, SQLiteStore, load_ruleset
from blacklist_rules.model.events import from_micros, to_micros

from .support import DAY, EDGES, T0, US, event
from .test_cascade import strike
from .test_history import NO_RUMOUR_RULES

RULESET = load_ruleset()
FREEZE_R = "freeze-repeated-malicious-rumours"
BLACKLIST_R = "blacklist-repeated-malicious-rumours"
FREEZE_V = "freeze-failed-verification"
CANCEL_V = "cancel-unverified-after-freeze"

Result = tuple[tuple[tuple[str, str, datetime], ...], dict[str, str]]
"""Enforced decisions (account, rule, effective), sorted, and each account's final status."""


def verification(account: str, at: timedelta, event_id: str, status: str) -> dict[str, Any]:
    return event("identity_verification", account, at, event_id, status=status)


TICKS = ("registration", "quiet")


def tick(at: timedelta, kind: str = "registration") -> dict[str, Any]:
    """An event of another account that only moves the clock: a registration (a type that can
    change state, so the engine takes its full path), or a rumour flag no rule or stream takes
    (the engine's quiet path, one write)."""
    if kind == "quiet":
        return event(
            "rumor_flag",
            "clock",
            at,
            "tick",
            content_id="x",
            verdict="not_rumor",
            source="user_report",
        )
    return event("registration", "clock", at, "tick")


def run(events: list[dict[str, Any]]) -> Result:
    """A fresh engine over the default pack, `events` in the order given, committing (and
    so pruning history) after each event, as `process` does. A decision a later outcome
    reverses (a late event that met its deadline) is not in the result."""
    with Engine(RULESET, SQLiteStore(), commit_every=1, max_lead=None) as engine:
        decided: dict[str, tuple[str, str, datetime]] = {}
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
            decided.update(
                (d.decision_id, (d.account_id, d.rule_id, d.effective_at))
                for d in outcome.decisions
                if d.mode == "enforce"
            )
            for reversal in outcome.reversals:
                decided.pop(reversal.decision_id, None)
        accounts = sorted({e["account_id"] for e in events})
        return tuple(sorted(decided.values())), {a: str(engine.status(a)) for a in accounts}


def every_order(events: list[dict[str, Any]]) -> dict[tuple[str, ...], Result]:
    """The result of each arrival order, keyed by the order of event ids."""
    return {
        tuple(e["event_id"] for e in order): run(list(order))
        for order in itertools.permutations(events)
    }


def rules_of(result: Result) -> set[tuple[str, datetime]]:
    """(rule, effective) of the decisions; one decision per rule and moment at most."""
    found = [(rule, at) for _account, rule, at in result[0]]
    assert len(found) == len(set(found)), f"a decision taken twice: {found}"
    return set(found)


# --- windows: t - T < time <= t -------------------------------------------------------------


@pytest.mark.parametrize("edge", EDGES)
def test_two_strikes_180_days_apart_at_the_edge(edge: str) -> None:
    """Strikes at T0 and T0 + 180d (+ edge): 1µs less is within 180 days (a 30-day freeze at
    the second); exactly 180 days or 1µs more is not. Both arrival orders agree."""
    second = 180 * DAY + EDGES[edge]
    results = every_order([strike("a", 0 * DAY, "f1", "c1"), strike("a", second, "f2", "c2")])
    expected = {(FREEZE_R, T0 + second)} if edge == "inside" else set()
    for order, result in results.items():
        assert rules_of(result) == expected, order
        assert result[1]["a"] == ("frozen" if edge == "inside" else "active"), order


@pytest.mark.parametrize("edge", EDGES)
def test_three_strikes_spanning_180_days_at_the_edge(edge: str) -> None:
    """Three strikes, the third 180 days (+ edge) after the first: a blacklist only when all
    three lie less than 180 days apart, in all six arrival orders (the first, arriving last,
    is then less than the horizon behind the clock, so it still counts). A freeze taken on the
    second strike before a late one arrived stands (nothing undoes a decision), so only the
    blacklist and the final status are the same in every order."""
    third = 180 * DAY + EDGES[edge]
    events = [
        strike("a", 0 * DAY, "f1", "c1"),
        strike("a", 90 * DAY, "f2", "c2"),
        strike("a", third, "f3", "c3"),
    ]
    results = every_order(events)
    assert len(results) == 6
    for order, result in results.items():
        blacklists = {(r, at) for r, at in rules_of(result) if r == BLACKLIST_R}
        assert blacklists == ({(BLACKLIST_R, T0 + third)} if edge == "inside" else set()), order
        assert result[1]["a"] == ("blacklisted" if edge == "inside" else "frozen"), order


def test_two_strikes_at_the_same_instant_count_together() -> None:
    """Two strikes at the very same microsecond are in each other's window (the upper edge is
    closed), in both orders: a freeze at that instant."""
    results = every_order([strike("a", 5 * DAY, "f1", "c1"), strike("a", 5 * DAY, "f2", "c2")])
    for order, result in results.items():
        assert rules_of(result) == {(FREEZE_R, T0 + 5 * DAY)}, order


def report(at: timedelta, event_id: str, reporter: str) -> dict[str, Any]:
    """An unconfirmed impersonation report: counted by distinct reporter within 7 days."""
    return event("impersonation_report", "a", at, event_id, reporter_id=reporter, confirmed=False)


@pytest.mark.parametrize("edge", EDGES)
def test_a_late_report_completes_a_7_day_window_only_inside_its_edge(edge: str) -> None:
    """Reports by three users at T0, T0 + 3d and T0 + 7d (+ edge): "3 distinct within 7d"
    freezes at the third only when it is less than 7 days after the first, in all six arrival
    orders: whichever comes last completes the window at the third report's moment (a late
    first or second report fires at that later moment). The window (7 days) is far inside the
    horizon, so every late report counts."""
    third = 7 * DAY + EDGES[edge]
    events = [report(0 * DAY, "r1", "u1"), report(3 * DAY, "r2", "u2"), report(third, "r3", "u3")]
    frozen = edge == "inside"
    for order, result in every_order(events).items():
        expected = {("freeze-suspected-impersonation", T0 + third)} if frozen else set()
        assert rules_of(result) == expected, order
        assert result[1]["a"] == ("frozen" if frozen else "active"), order


# --- the horizon: an event exactly the horizon behind the clock still counts -----------------


@pytest.mark.parametrize("edge", ["exact", "outside"])
def test_a_late_strike_exactly_the_horizon_behind_the_clock_counts(edge: str) -> None:
    """Strikes at T0 and T0 + 10d; another account moves the clock to T0 + 180d (+ edge). A
    strike at T0 arriving after the clock moved is exactly the horizon (180 days) behind it,
    or 1µs more. Exactly: it counts, and the second strike's freeze comes in every order.
    1µs more: it counts only in the orders where it came before the clock moved."""
    moved = 180 * DAY + EDGES[edge]
    events = [strike("a", 0 * DAY, "f0", "c0"), strike("a", 10 * DAY, "f1", "c1"), tick(moved)]
    for order, result in every_order(events).items():
        in_time = order.index("f0") < order.index("tick")
        counted = edge == "exact" or in_time
        expected = {(FREEZE_R, T0 + 10 * DAY)} if counted else set()
        assert rules_of(result) == expected, order


@pytest.mark.parametrize("edge", ["exact", "outside"])
def test_a_late_anchor_exactly_the_horizon_behind_the_clock_starts_its_deadline(
    edge: str,
) -> None:
    """A failed verification at T0 arriving after the clock reached T0 + 180d (+ edge): the
    freeze is decided in every order; its 15-day deadline starts (and, long due, cancels at
    once) when the anchor is exactly the horizon behind the clock, not 1µs further."""
    moved = 180 * DAY + EDGES[edge]
    events = [verification("a", 0 * DAY, "v1", "failed"), tick(moved)]
    for order, result in every_order(events).items():
        started = edge == "exact" or order[0] == "v1"
        expected = {(FREEZE_V, T0)} | ({(CANCEL_V, T0 + 15 * DAY)} if started else set())
        assert rules_of(result) == expected, order
        assert result[1]["a"] == ("cancelled" if started else "frozen"), order


# --- deadlines: passes at s + T; met by an `unless` event with s <= time < s + T -------------


@pytest.mark.parametrize("edge", EDGES)
def test_a_passed_verification_at_the_deadline_edge(edge: str) -> None:
    """Freeze at T0 (failed verification), a passed verification at T0 + 15d (+ edge), and
    the clock moved on to T0 + 40d: 1µs before the deadline meets it (no cancel, the freeze
    ends); at it or after, the deadline has passed: cancelled at T0 + 15d, in all 6 orders.
    Inside the edge, where the passed verification arrives after both the freeze and the
    clock's move, the deadline fired when the clock passed it and the late verification takes
    its cancel back (`time_order.meet_late`): the same end as time order."""
    passed = 15 * DAY + EDGES[edge]
    events = [
        verification("a", 0 * DAY, "v1", "failed"),
        verification("a", passed, "v2", "passed"),
        tick(40 * DAY),
    ]
    for order, result in every_order(events).items():
        met = edge == "inside"
        expected = {(FREEZE_V, T0)} | (set() if met else {(CANCEL_V, T0 + 15 * DAY)})
        assert rules_of(result) == expected, order
        assert result[1]["a"] == ("active" if met else "cancelled"), order


@pytest.mark.parametrize("kind", TICKS)
@pytest.mark.parametrize("edge", EDGES)
def test_the_deadline_fires_when_the_clock_reaches_it(edge: str, kind: str) -> None:
    """Freeze at T0; the clock (another account) at T0 + 15d (+ edge): the cancel has come
    when the clock is at the deadline or past it, not 1µs before. Both orders; the event
    moving the clock may be one the engine otherwise takes its quiet path for."""
    events = [verification("a", 0 * DAY, "v1", "failed"), tick(15 * DAY + EDGES[edge], kind)]
    for order, result in every_order(events).items():
        due = edge != "inside"
        expected = {(FREEZE_V, T0)} | ({(CANCEL_V, T0 + 15 * DAY)} if due else set())
        assert rules_of(result) == expected, order
        assert result[1]["a"] == ("cancelled" if due else "frozen"), order


@pytest.mark.parametrize("edge", ["before", "exact"])
def test_a_passed_verification_at_the_anchor_meets_the_deadline(edge: str) -> None:
    """A passed verification exactly at the freeze's moment (the anchor, T0) meets its
    deadline: the span is closed at its start. 1µs before the anchor it does not: cancelled at
    T0 + 15d. The clock moves to T0 + 40d; in the orders where the passed verification arrives
    after both the freeze and the clock's move, the deadline has acted already and the late
    verification takes its cancel back: every order ends as time order."""
    passed = -US if edge == "before" else timedelta(0)
    events = [
        verification("a", 0 * DAY, "v1", "failed"),
        verification("a", passed, "v2", "passed"),
        tick(40 * DAY),
    ]
    for order, result in every_order(events).items():
        cancelled = edge == "before"
        assert ((CANCEL_V, T0 + 15 * DAY) in rules_of(result)) is cancelled, order
        assert (result[1]["a"] == "cancelled") is cancelled, order


# --- freeze expiry: ended when the clock reaches expires_at ---------------------------------


@pytest.mark.parametrize("kind", TICKS)
@pytest.mark.parametrize("edge", EDGES)
def test_a_30_day_freeze_at_its_expiry(edge: str, kind: str) -> None:
    """A freeze from T0 + 1d (second strike) expires at T0 + 31d. With the clock at T0 + 31d
    (+ edge): 1µs before, still frozen; at it or after, ended, in all 6 arrival orders."""
    events = [
        strike("a", 0 * DAY, "f1", "c1"),
        strike("a", 1 * DAY, "f2", "c2"),
        tick(31 * DAY + EDGES[edge], kind),
    ]
    for order, result in every_order(events).items():
        assert rules_of(result) == {(FREEZE_R, T0 + DAY)}, order
        assert result[1]["a"] == ("frozen" if edge == "inside" else "active"), order


@pytest.mark.parametrize("kind", TICKS)
@pytest.mark.parametrize("edge", EDGES)
def test_a_freeze_ends_at_its_expiry_time_not_at_the_event_that_noticed(
    edge: str, kind: str
) -> None:
    """The freeze's end is dated at its expiry, whatever event moved the clock past it: the
    status change is stamped T0 + 31d, and the account is frozen at T0 + 31d - 1µs."""
    with Engine(RULESET, SQLiteStore(), max_lead=None) as engine:
        list(engine.run([strike("a", 0 * DAY, "f1", "c1"), strike("a", 1 * DAY, "f2", "c2")]))
        outcome = engine.process(tick(31 * DAY + EDGES[edge], kind))
        ended = [c for c in outcome.status_changes if c.account_id == "a"]
        if edge == "inside":
            assert ended == []
            assert engine.status("a") == "frozen"
        else:
            (change,) = ended
            assert (change.status_before, change.status_after) == ("frozen", "active")
            assert change.at == T0 + 31 * DAY
            assert engine.status("a") == "active"


# --- pruning: what no window can reach, and nothing a window can -----------------------------


def test_pruning_keeps_the_oldest_event_a_late_window_can_reach() -> None:
    """The clock lands exactly on a pruning mark C (the grid is an eighth of the horizon), so
    the prune forgets stream rows at or before C - horizon - span (C - 360d). A strike at
    C - 360d + 1µs stays: a strike arriving later, exactly the horizon behind the clock
    (C - 180d), has it in its window, and freezes. In the orders where the old strike arrives
    after the clock reached C it is beyond the horizon itself and counts for nothing."""
    step_us = RULESET.horizon_us // 8
    mark_us = (to_micros(T0 + 400 * DAY) // step_us + 1) * step_us
    mark = from_micros(mark_us)
    oldest = mark - 360 * DAY + US
    events = [
        strike("a", oldest - T0, "f1", "c1"),
        strike("a", mark - 180 * DAY - T0, "f2", "c2"),
        tick(mark - T0, "quiet"),
    ]
    for order, result in every_order(events).items():
        counted = order.index("f1") < order.index("tick")
        expected = {(FREEZE_R, mark - 180 * DAY)} if counted else set()
        assert rules_of(result) == expected, order


@pytest.mark.parametrize("edge", EDGES)
def test_a_new_stream_fills_from_the_log_back_to_the_oldest_reachable_event(
    tmp_path: Path, edge: str
) -> None:
    """A db written under a pack without rumour rules holds a strike at C - 360d (1µs newer
    inside the edge, 1µs older outside), the clock at C. The default pack opens it: its rumour
    stream fills from the log with what a window can still reach (after C - horizon - span).
    A strike arriving exactly the horizon late (C - 180d) then freezes only when the old one
    lies inside its window: 1µs newer than the edge, not exactly at it, nor older."""
    clock = T0 + 400 * DAY
    db = tmp_path / "state.db"
    old_rules = tmp_path / "old"
    old_rules.mkdir()
    (old_rules / "r.yaml").write_text(NO_RUMOUR_RULES, encoding="utf-8")
    oldest = clock - 360 * DAY - EDGES[edge]
    with Engine.from_path(old_rules, db, max_lead=None) as engine:
        list(engine.run([strike("a", oldest - T0, "f1", "c1"), tick(clock - T0, "quiet")]))
    with Engine(RULESET, SQLiteStore(db), max_lead=None) as engine:
        outcome = engine.process(strike("a", clock - 180 * DAY - T0, "f2", "c2"))
    decided = {(d.rule_id, d.effective_at) for d in outcome.decisions}
    assert decided == ({(FREEZE_R, clock - 180 * DAY)} if edge == "inside" else set())


def test_a_late_strike_does_not_fire_again_a_window_that_held_without_it() -> None:
    """Strikes on c1 at T0 and c2 at T0 + 10d freeze at T0 + 10d; the clock moves to
    T0 + 100d (that freeze is over). Another flag on c1 at T0 + 5d arrives now: it adds no
    distinct rumour to any window, and the window at T0 + 10d held without it: no second
    freeze there. Time order and this order give the same one freeze."""
    events = [
        strike("a", 0 * DAY, "f1", "c1"),
        strike("a", 10 * DAY, "f2", "c2"),
        tick(100 * DAY, "quiet"),
        strike("a", 5 * DAY, "f0", "c1"),
    ]
    expected = {(FREEZE_R, T0 + 10 * DAY)}
    in_time = run(sorted(events, key=lambda e: e["occurred_at"]))
    assert rules_of(in_time) == expected
    assert rules_of(run(events)) == expected


def test_the_window_condition_holds_at_exactly_its_count() -> None:
    """A decision's trace of its window: the count seen equals the count needed, and the
    condition says it held."""
    with Engine(RULESET, SQLiteStore(), max_lead=None) as engine:
        list(engine.run([strike("a", 0 * DAY, "f1", "c1")]))
        (decision,) = engine.process(strike("a", 1 * DAY, "f2", "c2")).decisions
    window = decision.matched[0].conditions[-1]
    assert (window.op, window.expected, window.seen, window.result) == ("gte", 2, 2, True)
