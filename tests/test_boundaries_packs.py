"""Edges the default pack cannot reach, on small packs built in a temporary folder.

- Two windows of different spans on one shared stream: the stream (and the horizon) keep the
  longest span, whichever rule is compiled last; a late event inside the long window but
  outside the short one still counts.
- `distinct` over an optional field: an absent value is no value, never "one more".
- A deadline whose `unless` stream is kept in the history table (not read from the event log,
  as the default pack's verifications are): met when start <= time < due.

Every case runs in every arrival order (`itertools.permutations`).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine, SQLiteStore, load_ruleset
from blacklist_rules.model.history import count
from blacklist_rules.pack.compiler import CompiledRuleset

from .support import RUMOR_FREEZE_30D, T0, event, write_rule

DAY = timedelta(days=1)
US = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)
DSA = "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}"


def rule(rule_id: str, priority: int, body: str) -> str:
    """A rule file: the common keys and `body` (the rule's own keys, YAML)."""
    return (
        f"id: {rule_id}\nversion: 1\ndescription: Test rule.\nbasis: Test basis.\n"
        f"priority: {priority}\nmode: enforce\n{DSA}\n{body}"
    )


STRIKE = """on: rumor_flag
when:
  verdict: malicious_rumor
"""


def strike(account: str, at: timedelta, event_id: str) -> dict[str, Any]:
    return event(
        "rumor_flag",
        account,
        at,
        event_id,
        content_id=event_id,
        verdict="malicious_rumor",
        source="fact_check",
    )


def quiet_tick(at: timedelta) -> dict[str, Any]:
    """Another account's event that no rule or stream takes: it only moves the clock."""
    return event(
        "rumor_flag", "clock", at, "tick", content_id="x", verdict="not_rumor", source="user_report"
    )


def decisions_in_every_order(
    ruleset: CompiledRuleset, events: list[dict[str, Any]]
) -> dict[tuple[str, ...], list[tuple[str, str, datetime]]]:
    """Per arrival order: the enforced decisions (account, rule, effective), sorted."""
    found = {}
    for order in itertools.permutations(events):
        with Engine(ruleset, SQLiteStore(), max_lead=None) as engine:
            decided = [
                (d.account_id, d.rule_id, d.effective_at)
                for outcome in engine.run(list(order))
                for d in outcome.decisions
                if d.mode == "enforce"
            ]
        found[tuple(e["event_id"] for e in order)] = sorted(decided)
    return found


# --- two windows, one stream ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("long_first", "short_first"),
    [
        (("long", 10), ("short", 20)),
        (("long", 20), ("short", 10)),
        (("z-long", 10), ("a-short", 10)),
    ],
    ids=["long-compiled-first", "short-compiled-first", "same-priority-short-id-first"],
)
def test_two_spans_on_one_stream_keep_the_longest(
    tmp_path: Path, long_first: tuple[str, int], short_first: tuple[str, int]
) -> None:
    """ "2 within 30d" and "3 within 2d" over the same filter share one stream; whichever is
    compiled last, the stream's span and the horizon are 30 days. Strikes at T0 + 5d and
    T0 + 10d, the clock moved to T0 + 20d by another account: the strike at T0 + 5d, arriving
    last, is 15 days behind the clock (inside 30, outside 2) and still completes the 30-day
    window: a freeze at T0 + 10d in all six orders. Keeping the last span (2 days) would drop
    it as too late."""
    (long_id, long_priority), (short_id, short_priority) = long_first, short_first
    folder = tmp_path / "rules"
    write_rule(
        folder,
        long_id,
        rule(
            long_id,
            long_priority,
            STRIKE
            + "window: {count: 2, within: 30d}\n"
            + "then: {action: freeze, duration: 30d, reason: Two strikes.}\n",
        ),
    )
    write_rule(
        folder,
        short_id,
        rule(
            short_id,
            short_priority,
            STRIKE
            + "window: {count: 3, within: 2d}\n"
            + "then: {action: freeze, duration: 7d, reason: A burst.}\n",
        ),
    )
    ruleset = load_ruleset(folder)
    (stream,) = ruleset.streams.values()
    assert stream.span_us == 30 * 86_400 * 1_000_000
    assert ruleset.horizon_us == stream.span_us
    events = [strike("a", 5 * DAY, "s0"), strike("a", 10 * DAY, "s1"), quiet_tick(20 * DAY)]
    for order, decided in decisions_in_every_order(ruleset, events).items():
        assert decided == [("a", long_id, T0 + 10 * DAY)], order


# --- distinct over an optional field --------------------------------------------------------

REPORTS_BY_NAME = rule(
    "freeze-two-names",
    10,
    """on: impersonation_report
when:
  confirmed: false
window: {count: 2, distinct: impersonated_name, within: 7d}
then: {action: freeze, reason: Two impersonated names.}
""",
)


def report(at: timedelta, event_id: str, name: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"reporter_id": event_id, "confirmed": False}
    if name is not None:
        fields["impersonated_name"] = name
    return event("impersonation_report", "a", at, event_id, **fields)


@pytest.mark.parametrize(
    ("names", "frozen"),
    [
        (("Li", None, None), False),
        (("Li", "Li", None), False),
        ((None, None, None), False),
        (("Li", None, "Wang"), True),
    ],
    ids=["one-name-two-absent", "one-name-twice-absent", "all-absent", "two-names-one-absent"],
)
def test_distinct_over_an_optional_field_counts_no_absent_value(
    tmp_path: Path, names: tuple[str | None, ...], frozen: bool
) -> None:
    """ "2 distinct impersonated_name within 7d": reports without a name add no value, in all
    six arrival orders. Counting an absent name as one more value would freeze on one name
    and a nameless report."""
    ruleset = load_ruleset(write_rule(tmp_path / "rules", "names", REPORTS_BY_NAME))
    events = [report(n * DAY, f"r{n}", name) for n, name in enumerate(names)]
    for order, decided in decisions_in_every_order(ruleset, events).items():
        assert bool(decided) is frozen, order


def test_count_of_distinct_values_ignores_none() -> None:
    """`history.count` with `distinct`: None is no value; without it, every row counts."""
    rows = [(1, "e1", "Li"), (2, "e2", None), (3, "e3", None), (4, "e4", "Li")]
    assert count(rows, 4, 10, distinct=True) == 1
    assert count(rows, 4, 10, distinct=False) == 4
    assert count([(1, "e1", None)], 1, 10, distinct=True) == 0


# --- a deadline met from the history table --------------------------------------------------

FREEZE_ON_REPORT = rule(
    "freeze-on-report",
    10,
    """on: impersonation_report
when:
  confirmed: false
then: {action: freeze, reason: Reported.}
""",
)
CANCEL_UNANSWERED = rule(
    "cancel-unconfirmed",
    20,
    """deadline:
  after:
    decision: [freeze-on-report]
  within: 10d
  unless:
    - on: rumor_flag
      when:
        verdict: not_rumor
then: {action: cancel, reason: Nothing cleared the account within 10 days.}
""",
)
"""A deadline whose `unless` (a rumour flag) is kept in the history table: rumour flags are
not among the types the event log indexes by account."""
EDGES = {"before": -US, "exact": timedelta(0), "after": US}


def cleared(at: timedelta) -> dict[str, Any]:
    return event(
        "rumor_flag", "a", at, "clear", content_id="c", verdict="not_rumor", source="fact_check"
    )


def cancels(order: list[dict[str, Any]], clear_at: timedelta) -> bool:
    """The stated rules (README, "History"), event by event, for the pack above: the freeze's
    deadline (T0 + 10d) starts unless its anchor is more than the horizon (10 days) behind
    the clock; an `unless` event counts if it is not that late either and T0 <= time < due; the
    deadline acts as soon as the clock reaches it, and nothing undoes the cancel."""
    horizon, due = 10 * DAY, 10 * DAY
    clock: timedelta | None = None
    started = fired = met = heard = False
    inside = timedelta(0) <= clear_at < due
    for item in order:
        at = datetime.fromisoformat(item["occurred_at"]) - T0
        late = clock is not None and at < clock - horizon
        clock = at if clock is None else max(clock, at)
        if item["event_id"] == "clear" and not late:
            heard = True
            if started and not fired and clock < due:  # the clock moves first
                met = met or inside
        if item["event_id"] == "r0" and not late:
            started, met = True, heard and inside
        if started and not met and clock >= due:
            fired = True
    return fired


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("where", ["start", "due"])
def test_a_history_unless_event_at_each_end_of_the_deadline(
    tmp_path: Path, where: str, edge: str
) -> None:
    """Freeze at T0, deadline T0 + 10d, an `unless` event at the start or the due time (+
    edge), another account's event at T0 + 10d + 1s. In time order the `unless` event meets
    the deadline exactly when T0 <= time < T0 + 10d; in other orders, as `cancels` says (an
    anchor or `unless` event more than the 10-day horizon late counts for nothing; a cancel
    taken before the `unless` event arrived stands)."""
    folder = write_rule(tmp_path / "rules", "freeze", FREEZE_ON_REPORT)
    ruleset = load_ruleset(write_rule(folder, "cancel", CANCEL_UNANSWERED))
    (deadline,) = [r.deadline for r in ruleset.rules if r.deadline]
    assert all(key in ruleset.streams for key in deadline.unless)
    assert ruleset.horizon_us == 10 * 86_400 * 1_000_000
    at = (timedelta(0) if where == "start" else 10 * DAY) + EDGES[edge]
    events = [report(0 * DAY, "r0", None), cleared(at), quiet_tick(10 * DAY + 1 * SECOND)]
    in_time = cancels(events, at)
    assert in_time is not (timedelta(0) <= at < 10 * DAY)
    outcomes = decisions_in_every_order(ruleset, events)
    for order, decided in outcomes.items():
        by_id = {e["event_id"]: e for e in events}
        cancel = cancels([by_id[name] for name in order], at)
        expected = [("a", "freeze-on-report", T0)]
        expected += [("a", "cancel-unconfirmed", T0 + 10 * DAY)] if cancel else []
        assert decided == sorted(expected), order


# --- a freeze covered by one of the same rule: started no later, ends no earlier -----------


@pytest.mark.parametrize("edge", EDGES)
def test_a_second_30_day_freeze_is_covered_only_at_the_same_moment(
    tmp_path: Path, edge: str
) -> None:
    """Two fact-checked rumours at T0 + 1d and T0 + 1d (+ edge), each a 30-day freeze of one
    rule. At the very same moment the second freeze is covered by the first (started no later,
    ends no earlier): one decision. 1µs later it ends later, 1µs earlier it starts earlier:
    not covered, two decisions. Both arrival orders."""
    ruleset = load_ruleset(write_rule(tmp_path / "rules", "freeze", RUMOR_FREEZE_30D))
    second = 1 * DAY + EDGES[edge]
    events = [strike("a", 1 * DAY, "s1"), strike("a", second, "s2")]
    rule_id = "freeze-malicious-rumor"
    expected = [("a", rule_id, T0 + 1 * DAY)]
    if edge != "exact":
        expected = sorted([*expected, ("a", rule_id, T0 + second)])
    for order, decided in decisions_in_every_order(ruleset, events).items():
        assert decided == expected, order
