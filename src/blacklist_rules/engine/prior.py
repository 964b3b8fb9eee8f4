"""Escalation facts (`prior:`): how many of the account's enforced decisions of an action, not
reversed, took effect in the window (t - within, t] ending at an event, read when the event is
matched, and which decisions they are (the evidence)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blacklist_rules.model.decisions import Decision, Mode
from blacklist_rules.model.events import to_micros
from blacklist_rules.pack.compiler import CompiledRule
from blacklist_rules.pack.prior import PriorTest
from blacklist_rules.stores.protocols import Store


def worth_reading(rules: Iterable[CompiledRule], snapshot: dict[str, Any]) -> list[PriorTest]:
    """The `prior:` tests of the rules that can still hold on the snapshot: a rule whose
    other conditions fail does not hold whatever its count, so its decisions are not read
    (issue 19: most of a `prior:` rule's events fail its `when`), and its count is left out
    of the snapshot, as a window's is when the event did not feed it (no rule holds on a
    missing count; durable-rules agrees). A rule with a window is always read: a late
    event's later moments see other counts."""
    wanted: dict[str, PriorTest] = {}
    for rule in rules:
        test = rule.prior
        if test is None or test.key in wanted:
            continue
        if rule.window is None:
            snapshot[test.key] = test.count  # the count's test holds: the rest decides
            holds = rule.guard(snapshot)
            del snapshot[test.key]
            if not holds:
                continue
        wanted[test.key] = test
    return list(wanted.values())


def prior_facts(
    store: Store,
    account_id: str,
    at_us: int,
    tests: Iterable[PriorTest],
    event_id: str | None = None,
) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """Per test's snapshot key: the count of decisions it counts for an event at `at_us`, and
    their ids.

    Read from the decisions stored when the event is matched (as `account.status` is); a
    decision recorded later but effective earlier (a late event's) decides the event again
    in time order (`time_order`). Shadow decisions never count; reversed ones are not in
    `taken_of`. The
    window is half-open like a window's: a decision exactly `within` before is outside.
    With `event_id` (a stored event matched again: `why-not`, time order), the decisions
    taken for that event are left out: they were not there when it came."""
    tests = list(tests)
    counts: dict[str, int] = {}
    found: dict[str, tuple[str, ...]] = {}
    if not tests:
        return counts, found
    taken = [
        t.record.decision
        for t in store.taken_of({account_id})
        if t.record.decision.mode == Mode.ENFORCE
        and (event_id is None or not _on(t.record.decision, t.event_id, event_id, at_us))
    ]
    for test in tests:
        ids = tuple(d.decision_id for d in taken if _counts(test, d, at_us))
        counts[test.key] = len(ids)
        found[test.key] = ids
    return counts, found


def _counts(test: PriorTest, decision: Decision, at_us: int) -> bool:
    if decision.action != test.action or (test.rules and decision.rule_id not in test.rules):
        return False
    effective = to_micros(decision.effective_at)
    return at_us - test.span_us < effective <= at_us


def _on(decision: Decision, recorded_by: str, event_id: str, at_us: int) -> bool:
    """Was the decision taken for the event: recorded by it, or on its own occasion (at its
    time, with it as evidence: one taken again later, recorded by another event)?"""
    if recorded_by == event_id:
        return True
    return event_id in decision.evidence and to_micros(decision.effective_at) == at_us
