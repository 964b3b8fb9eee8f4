"""Explanations for reviewers and appeals: why a decision was taken, and why a rule did not act.

`explain_decision` reads everything from the db: the decision, the rule file as it was when the
decision was taken (kept under the pack's digest, so a later edit changes nothing), each
condition with the value it saw, and the evidence events (as stored: no identity values).
`why_not` replays a rule's conditions over an account's stored events, newest first, and says
for each the first condition that failed and the value it saw.
"""

from __future__ import annotations

from typing import Any

from blacklist_rules.engine import Engine
from blacklist_rules.engine.account import account_facts
from blacklist_rules.engine.lists import listed_facts
from blacklist_rules.engine.prior import prior_facts
from blacklist_rules.errors import EventError
from blacklist_rules.model.events import (
    ACCOUNT_FACTS,
    BLACKLISTED_IDENTITY,
    Event,
    parse_event,
    to_micros,
)
from blacklist_rules.model.history import count
from blacklist_rules.pack.compiler import CompiledRule, condition_text, to_guard, trace
from blacklist_rules.pack.conditions import All, Compare, Condition, Not, comparisons
from blacklist_rules.pack.loader import parse_rule_text


def _rule_file(engine: Engine, digest: str, rule_id: str) -> dict[str, Any] | None:
    """The rule as written in the pack `digest`: id, version, description, basis, text."""
    for rule in engine.store.ruleset_rules(digest):
        if rule.id != rule_id:
            continue
        source, _errors = parse_rule_text(rule.text, rule.file)
        described = {
            "description": source.spec.description.strip() if source else None,
            "basis": source.spec.basis.strip() if source else None,
        }
        return {**rule.to_dict(), **described}
    return None


def explain_decision(engine: Engine, decision_id: str) -> dict[str, Any]:
    """The decision, its rule (as written then), its conditions and their values, its evidence
    events; `EventError` for an unknown decision id."""
    found = engine.store.decision(decision_id)
    if found is None:
        raise EventError(f"no decision {decision_id}", path="decision_id")
    decision = found.decision
    rule = _rule_file(engine, decision.ruleset_digest, decision.rule_id)
    evidence = []
    for event_id in decision.evidence:
        payload = engine.store.event_payload(event_id)
        evidence.append({"event_id": event_id, "event": payload, "decision": payload is None})
    record = found.record.to_dict()  # (the JSON edge: the record as stored)
    return {
        "decision": record,
        "ended_at": found.ended_at,
        "reversed_by": found.reversed_by,
        "rule": rule,
        "matched": record["matched"],
        "evidence": evidence,
    }


def why_not(engine: Engine, account_id: str, rule_id: str, limit: int = 10) -> dict[str, Any]:
    """For the account's latest events the rule looks at (at most `limit`): held or not, and
    the first condition that failed with the value it saw; for a window, the count it had."""
    try:
        rule = engine.ruleset.rule(rule_id)
    except StopIteration:
        names = [r.id for r in engine.ruleset.rules]
        raise EventError(f"no rule {rule_id} in this pack ({', '.join(names)})") from None
    decided = engine.store.decided_by_event(account_id, rule_id)
    if rule.deadline is not None:
        return {
            "rule_id": rule_id,
            "account_id": account_id,
            "deadlines": _deadlines(engine, rule, account_id),
        }
    checked = []
    for payload in engine.store.account_events(account_id, rule.event_types, limit):
        event = parse_event(payload)
        entry: dict[str, Any] = {
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": event.occurred_at.isoformat(),
        }
        checked.append(entry)
        if event.event_id in decided:  # it held: the engine decided on it
            entry.update(held=True, decision_id=decided[event.event_id])
            continue
        at_us = to_micros(event.occurred_at)
        snapshot = engine.ruleset.snapshot(engine.ruleset.flat(event), event.type)
        if event.type == "registration":
            snapshot[BLACKLISTED_IDENTITY] = engine.store.listed_registration(event.event_id, at_us)
        if any(test.field in ACCOUNT_FACTS for test in comparisons(rule.condition)):
            snapshot.update(account_facts(engine.store, account_id, at_us))
        snapshot.update(listed_facts(engine.store, account_id, at_us, rule.unless_listed))
        failed = first_failure(rule.condition, snapshot)
        if failed is None and rule.prior is not None:
            failed = _prior_failure(engine, rule, event, entry)
        if failed is None and rule.window is not None:
            seen = _window_count(engine, rule, account_id, at_us)
            entry["window"] = {"condition": rule.window.label, "needed": rule.window.count}
            entry["window"]["seen"] = seen
            if seen is None:
                entry.update(
                    held=None,
                    unknown="a window grouped by an identity value is kept "
                    "by fingerprint, not by account",
                )
                continue
            if seen < rule.window.count:
                failed = {"condition": f"{rule.window.count} {rule.window.label}", "seen": seen}
        entry["held"] = failed is None
        if failed is not None:
            entry["first_failed"] = failed
    return {"rule_id": rule_id, "account_id": account_id, "events": checked}


def first_failure(node: Condition | None, snapshot: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a condition tree that made it false, with the value(s) it saw; None when the
    whole holds. `not` and `any` are judged as a whole, as the engine judges them."""
    if node is None or to_guard(node)(snapshot):
        return None
    if isinstance(node, Compare):
        (test,) = trace(node, snapshot)
        return {"condition": condition_text(test.field, test.op, test.expected), "seen": test.seen}
    if isinstance(node, All):
        return next(f for item in node.items if (f := first_failure(item, snapshot)) is not None)
    tests = trace(node, snapshot)
    texts = "; ".join(condition_text(t.field, t.op, t.expected) for t in tests)
    seen = [t.seen for t in tests]
    what = f"not ({texts})" if isinstance(node, Not) else f"any of ({texts})"
    return {"condition": what, "seen": seen[0] if len(seen) == 1 else seen}


def _prior_failure(
    engine: Engine, rule: CompiledRule, event: Event, entry: dict[str, Any]
) -> dict[str, Any] | None:
    """The rule's `prior:` test for the event from the decisions stored now but its own
    (`entry["prior"]`: the count and the decisions counted), or None when it holds."""
    if rule.prior is None:
        return None
    at_us, tests = to_micros(event.occurred_at), [rule.prior]
    counts, found = prior_facts(engine.store, event.account_id, at_us, tests, event.event_id)
    seen, test = counts[rule.prior.key], rule.prior
    entry["prior"] = {"condition": test.label, "needed": test.count, "seen": seen}
    entry["prior"]["decisions"] = list(found[test.key])
    return None if seen >= test.count else {"condition": f"{test.count} {test.label}", "seen": seen}


def _window_count(engine: Engine, rule: CompiledRule, account_id: str, at_us: int) -> int | None:
    """The rule's window count at `at_us` from the history kept (None: nothing kept, or a
    window grouped by an identity value, which is kept by fingerprint, not by account)."""
    if rule.window is None:
        return None
    stream = engine.ruleset.streams[rule.window.stream]
    if stream.by is not None:
        return None
    rows = engine.store.history(stream.key, account_id, at_us - rule.window.span_us, at_us + 1)
    return count(rows, at_us, rule.window.span_us, stream.distinct is not None)


def _deadlines(engine: Engine, rule: CompiledRule, account_id: str) -> list[dict[str, Any]]:
    return [d.to_dict() for d in engine.deadlines(account_id) if d.rule_id == rule.id]
