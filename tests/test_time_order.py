"""Set semantics for what rules know of the account's past (issue 18): `prior:` counts,
`account.status` and `account.age` are decided as in time order whatever order the events
arrive in; a reversal re-decides what relied on the reversed decision."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, load_ruleset
from blacklist_rules.stores.sqlite import SQLiteStore

from .strategies import past_events
from .support import T0, event, standing_decisions, write_rule
from .test_cascade import overturn

DAY = timedelta(days=1)
HEAD = """\
version: 1
basis: Test basis.
dsa: {category: STATEMENT_CATEGORY_SCAMS_AND_FRAUD, ground: incompatible, reference: t}
"""
RULES = {
    "base": "id: freeze-malicious-rumour\ndescription: d\n" + HEAD + "on: rumor_flag\n"
    "when: {verdict: malicious_rumor}\npriority: 20\n"
    "then: {action: freeze, duration: 10d, reason: A malicious rumour.}\n",
    "escalate": "id: freeze-longer-after-two\ndescription: d\n" + HEAD + "on: rumor_flag\n"
    "when: {verdict: malicious_rumor}\npriority: 5\n"
    "prior: {action: freeze, count: 2, within: 60d, rules: [freeze-malicious-rumour]}\n"
    "then: {action: freeze, duration: 20d, reason: Two freezes before.}\n",
    "young": "id: freeze-young-rumour\ndescription: d\n" + HEAD + "on: rumor_flag\n"
    "when: {all: [{verdict: rumor}, {account.age: {lt: 7d}}]}\n"
    "then: {action: freeze, duration: 1d, reason: A young account's rumour.}\n",
    "frozen": "id: freeze-report-while-frozen\ndescription: d\n"
    + HEAD
    + "on: impersonation_report\nwhen: {all: [{confirmed: true}, {account.status: frozen}]}\n"
    "then: {action: freeze, duration: 2d, reason: Reported while frozen.}\n",
    "active": "id: freeze-report-while-active\ndescription: d\n"
    + HEAD
    + "on: impersonation_report\nwhen: {all: [{confirmed: true}, {account.status: active}]}\n"
    "then: {action: freeze, duration: 3d, reason: Reported while active.}\n",
}


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("pack")
    for name, text in RULES.items():
        write_rule(folder, name, text)
    return load_ruleset(folder)


def _final(ruleset: Any, events: list[dict[str, Any]], appeal: bool = False) -> tuple[Any, ...]:
    """The standing decisions (account, mode, action, rule, the rules matched, effective
    time, evidence: an earlier decision by its rule and time, not its id) and the statuses,
    once the clock has passed every freeze. With `appeal`, a's earliest standing decision
    is overturned on day 55 first."""
    with Engine(ruleset, SQLiteStore(), max_lead=None) as engine:
        for item in events:
            assert engine.process(item).accepted
        standing = [d for d in engine.decisions("a") if not _reversed(engine, d)]
        if appeal and standing:
            first = min(standing, key=lambda d: (d.effective_at, d.rule_id))
            ruling = overturn("a", 55 * DAY, "ap", first.decision_id)
            assert engine.process(ruling).rejection is None
        engine.advance_to(T0 + 100 * DAY)
        decisions = standing_decisions(engine, ("a", "b"))
        statuses = tuple(str(engine.status(a)) for a in ("a", "b"))
        assert engine.store.verify_audit().ok
    return decisions, statuses


def _reversed(engine: Engine, decision: Any) -> bool:
    stored = engine.store.decision(decision.decision_id)
    return stored is not None and stored.reversed_by is not None


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(past_events, st.data())
def test_decisions_on_the_accounts_past_do_not_depend_on_arrival_order(
    ruleset: Any, events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Any arrival order of the same events ends in the standing decisions and statuses of
    time order: escalation over earlier freezes, a young account's rumour, a report while
    frozen or while active."""
    ordered = sorted(events, key=lambda e: str(e["occurred_at"]))
    shuffled = data.draw(st.permutations(events))
    assert _final(ruleset, shuffled) == _final(ruleset, ordered)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(past_events, st.data())
def test_a_reversal_ends_alike_whatever_the_arrival_order(
    ruleset: Any, events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """The same, with a's earliest standing decision overturned on appeal afterwards: what
    relied on it (an escalation, a report while frozen) is decided again alike."""
    ordered = sorted(events, key=lambda e: str(e["occurred_at"]))
    shuffled = data.draw(st.permutations(events))
    assert _final(ruleset, shuffled, True) == _final(ruleset, ordered, True)


def _rumour(account: str, day: float, event_id: str) -> dict[str, Any]:
    more = {"content_id": f"c-{event_id}", "verdict": "malicious_rumor", "source": "fact_check"}
    return event("rumor_flag", account, day * DAY, event_id, **more)


def _report(account: str, day: float, event_id: str) -> dict[str, Any]:
    return event(
        "impersonation_report", account, day * DAY, event_id, reporter_id="r", confirmed=True
    )


def test_a_late_freeze_turns_a_report_while_active_into_one_while_frozen(ruleset: Any) -> None:
    """A report on day 5 was decided `while active`; a rumour for day 4 comes late: its freeze
    covers day 5, so the report's decision is reversed and it is decided `while frozen`."""
    with Engine(ruleset, SQLiteStore(), max_lead=None) as engine:
        (active,) = engine.process(_report("a", 5, "p1")).decisions
        assert active.rule_id == "freeze-report-while-active"
        outcome = engine.process(_rumour("a", 4, "f1"))
        assert [d.rule_id for d in outcome.decisions] == [
            "freeze-malicious-rumour",
            "freeze-report-while-frozen",
        ]
        assert [r.decision_id for r in outcome.reversals] == [active.decision_id]


def test_a_reversed_freeze_no_longer_counts_for_an_escalation(ruleset: Any) -> None:
    """Freezes on days 1 and 2, the escalation on day 3; the day-2 freeze is overturned on
    appeal: the cascade re-decides day 3 without it (the plain freeze, not the longer one)."""
    with Engine(ruleset, SQLiteStore(), max_lead=None) as engine:
        engine.process(_rumour("a", 1, "f1"))
        (second,) = engine.process(_rumour("a", 2, "f2")).decisions
        (longer,) = engine.process(_rumour("a", 3, "f3")).decisions
        assert longer.rule_id == "freeze-longer-after-two"
        appeal = overturn("a", 4 * DAY, "ap", second.decision_id)
        assert engine.process(appeal).rejection is None
        standing = sorted(
            (d.rule_id, d.effective_at) for d in engine.decisions("a") if not _reversed(engine, d)
        )
        assert standing == [
            ("freeze-malicious-rumour", T0 + 1 * DAY),
            ("freeze-malicious-rumour", T0 + 3 * DAY),
        ]


US = timedelta(microseconds=1)


@pytest.mark.parametrize(("offset", "again"), [(-US, False), (timedelta(0), True), (US, True)])
def test_the_work_is_bounded_by_the_horizon(ruleset: Any, offset: timedelta, again: bool) -> None:
    """The pack reaches back 60 days (its `prior:` span). With the clock on day 60, a late
    freeze from day -1 decides again a report from day 0 (exactly the horizon behind the
    clock) or later; one a microsecond older is left as it was decided."""
    with Engine(ruleset, SQLiteStore(), max_lead=None) as engine:
        (active,) = engine.process(
            _report("a", 0, "p1") | {"occurred_at": (T0 + offset).isoformat()}
        ).decisions
        assert active.rule_id == "freeze-report-while-active"
        engine.process(_report("b", 60, "p2"))  # the clock: day 60
        outcome = engine.process(_rumour("a", -1, "f1"))
        assert bool(outcome.reversals) is again
        assert ("freeze-report-while-frozen" in [d.rule_id for d in outcome.decisions]) is again
