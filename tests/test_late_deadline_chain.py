"""A late `unless` event that unwinds a chain of three deadlines (`time_order.meet_late`),
each counted from the decision of the one before (`rulepacks/deadline_chain/`): a failed
verification freezes at s = T0; `freeze-again` freezes again at s + 10d, `cancel-later`
cancels at s + 20d, `blacklist-last` blacklists at s + 30d, each unless a verification passes
in its span [start, due) (start: the decision it counts from). A clock event at s + 45d fires
them all before the verification comes.

Each deadline row the late event reaches changes once (met, or void when counted from a
reversed decision), and every arrival order ends as time order (DESIGN §1: late events are
accepted; replay gives the same decisions), at each span's edges: the verification 1µs before
a span's start, at it, 1µs before its due time, and at it."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine, SQLiteStore, load_ruleset
from blacklist_rules.engine.time_order import UNANCHORED, UNMET
from blacklist_rules.stores.audit_crosscheck import DEADLINE_ROW

from .support import DAY, US
from .test_late_deadlines import cause, in_time_order, passed, run, tick

CHAIN = load_ruleset(Path(__file__).parent / "rulepacks" / "deadline_chain")
LEVELS = ("freeze-again", "cancel-later", "blacklist-last")
"""The chain's deadline rules, each counted from the decision of the one before."""
STATUS = {
    -US: "blacklisted",  # before the freeze: meets nothing, the whole chain fires
    timedelta(0): "active",  # at freeze-again's start: every deadline is met or never starts
    10 * DAY - US: "active",
    10 * DAY: "frozen",  # at freeze-again's due time: it freezes; cancel-later's start
    20 * DAY - US: "frozen",
    20 * DAY: "cancelled",  # cancel-later's due time; blacklist-last's start
    30 * DAY - US: "cancelled",
    30 * DAY: "blacklisted",  # blacklist-last's due time: too late for all three
}
"""The end status of account a for a passed verification at s + offset: the edges of the
three spans."""


def deadline_rows(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The deadline rows' audit records (rule, anchor, state) written aside from a decision,
    as the trail holds them after `events` in the order given."""
    with Engine(CHAIN, SQLiteStore(), commit_every=1, max_lead=None) as engine:
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
        return [
            (str(r.record["rule_id"]), str(r.record["anchor_id"]), str(r.record["state"]))
            for r in engine.store.audit_records()
            if r.kind == DEADLINE_ROW
        ]


@pytest.mark.parametrize("level", range(3))
def test_a_late_verification_sets_each_row_of_the_chain_once(level: int) -> None:
    """A verification late by the whole chain, 1µs before the due time of deadline `level`:
    that row is met, each later one voided (its decision's anchor fell), each once (one
    record per row, none set again to void); earlier rows stay fired. The reversals say why,
    one a row."""
    events = [cause("verification"), tick(45 * DAY), passed((level + 1) * 10 * DAY - US)]
    rows = deadline_rows(events)
    assert [rule for rule, _, _ in rows] == list(LEVELS[level:])
    assert [state for _, _, state in rows] == ["met"] + ["void"] * (2 - level)
    assert max(Counter((rule, anchor) for rule, anchor, _ in rows).values()) == 1
    assert run(events, CHAIN).reversals == (UNMET,) + (UNANCHORED,) * (2 - level)


def test_a_verification_in_time_order_meets_the_pending_row_only() -> None:
    """The same events in time order: the verification meets freeze-again while pending (one
    record, `deadlines.listen`), and the later deadlines never start."""
    events = [cause("verification"), passed(10 * DAY - US), tick(45 * DAY)]
    assert [(rule, state) for rule, _, state in deadline_rows(events)] == [("freeze-again", "met")]


@pytest.mark.parametrize("offset", list(STATUS), ids=str)
def test_every_arrival_order_of_the_chain_ends_as_time_order(offset: timedelta) -> None:
    """The freeze's cause, a verification at an edge of a span, the clock event: in all 6
    arrival orders the same standing decisions, statuses and pending deadlines as in time
    order, the status the spans call for, and a trail that verifies."""
    events = [cause("verification"), passed(offset), tick(45 * DAY)]
    timed = in_time_order(events, CHAIN)
    assert dict(timed.final.statuses)["a"] == STATUS[offset]
    for order in itertools.permutations(events):
        result = run(list(order), CHAIN)
        ids = [e["event_id"] for e in order]
        assert result.final == timed.final, ids
        assert result.intact, ids


@pytest.mark.parametrize(
    ("offsets", "status"),
    [
        ((), "blacklisted"),
        ((10 * DAY, 30 * DAY - US), "frozen"),
        ((20 * DAY - US, 20 * DAY), "frozen"),
    ],
    ids=["two-events", "start-and-unstarted", "due-edge"],
)
def test_two_to_four_events_in_every_arrival_order(
    offsets: tuple[timedelta, ...], status: str
) -> None:
    """Two to four events (the cause, the clock, up to two verifications): in every arrival
    order (2 or 24) the end of time order. A verification at cancel-later's start meets it
    (frozen: freeze-again stands); one in blacklist-last's span then counts for nothing, as
    that deadline never starts in time order; one at a due time is too late."""
    events = [cause("verification"), tick(45 * DAY)]
    events += [passed(at, f"pass{n}") for n, at in enumerate(offsets)]
    timed = in_time_order(events, CHAIN)
    assert dict(timed.final.statuses)["a"] == status
    for order in itertools.permutations(events):
        result = run(list(order), CHAIN)
        ids = [e["event_id"] for e in order]
        assert result.final == timed.final, ids
        assert result.intact, ids
