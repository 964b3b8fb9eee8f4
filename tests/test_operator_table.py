"""Every condition operator, exhaustively: value below / equal / above / absent, plain and
negated, through both the Python guard and durable-rules.

The differential test in test_matching.py draws random conditions, so a wrong compilation of
one operator (negated `lt` compiled to `gt`, say) is caught only when a seed happens to draw
that operator, negated, on a value equal to the bound. Here the expected truth is written out
by hand, row by row, and both engines must give it: no seed, no chance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from blacklist_rules.matching.durable import DurableMatcher
from blacklist_rules.model.events import flatten, parse_event
from blacklist_rules.pack.checks import check_rules
from blacklist_rules.pack.compiler import CompiledRuleset, compile_rules
from blacklist_rules.pack.conditions import OPERATORS
from blacklist_rules.pack.loader import RuleSource, parse_rule_text

DSA = {
    "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "ground": "incompatible",
    "reference": "Test.",
}
Table = dict[str, tuple[Any, tuple[bool, bool, bool, bool]]]
"""Per operator: the rule's operand, and its truth for a value below / equal / above / absent."""
CASES = ("below", "equal", "above", "absent")
"""Where the event's value lies relative to the rule's bound."""

NUMERIC: Table = {
    # op: (the rule's operand, truth for reach 2 / 3 / 4 / absent), the bound being 3.
    "eq": (3, (False, True, False, False)),
    "ne": (3, (True, False, True, False)),
    "lt": (3, (True, False, False, False)),
    "lte": (3, (True, True, False, False)),
    "gt": (3, (False, False, True, False)),
    "gte": (3, (False, True, True, False)),
    "in": ([3, 5], (False, True, False, False)),
    "not_in": ([3, 5], (True, False, True, False)),
    "exists": (True, (True, True, True, False)),
}
"""Operators over `rumor_flag.reach` (optional int). Absent: every comparison is false but
`exists: false`, and each negation is true."""
REACH = {"below": 2, "equal": 3, "above": 4}

TEXTUAL: Table = {
    # op: (operand, truth for impersonated_name "a" / "b" / "c" / absent), the bound being "b".
    "eq": ("b", (False, True, False, False)),
    "ne": ("b", (True, False, True, False)),
    "in": (["b", "d"], (False, True, False, False)),
    "not_in": (["b", "d"], (True, False, True, False)),
    "matches": ("b", (False, True, False, False)),
    "exists": (False, (False, False, False, True)),
}
"""Operators over `impersonation_report.impersonated_name` (optional text); `exists: false`
is the other polarity of `exists`."""
NAME = {"below": "a", "equal": "b", "above": "c"}


def test_the_tables_cover_every_operator() -> None:
    """A new operator in the spec must get its rows here."""
    assert set(NUMERIC) | set(TEXTUAL) == set(OPERATORS)


def _rule(rule_id: str, on: str, when: dict[str, Any]) -> RuleSource:
    text = json.dumps(
        {
            "id": rule_id,
            "version": 1,
            "description": "operator table",
            "basis": "test",
            "dsa": DSA,
            "on": on,
            "when": when,
            "then": {"action": "freeze", "reason": "table"},
        }
    )
    rule, errors = parse_rule_text(text, f"{rule_id}.yaml")
    assert errors == []
    assert rule is not None
    return rule


def _rule_id(op: str, negated: bool) -> str:
    return f"{'negated-' if negated else 'plain-'}{op.replace('_', '-')}"


def _pack(on: str, field: str, table: Table) -> CompiledRuleset:
    """One rule per operator and polarity, all in one pack (so one durable-rules ruleset)."""
    rules = []
    for op, (operand, _truth) in table.items():
        test = {field: {op: operand}}
        rules.append(_rule(_rule_id(op, False), on, test))
        rules.append(_rule(_rule_id(op, True), on, {"not": test}))
    assert check_rules(rules) == []
    return compile_rules(rules)


def _expected(table: Table, case: str) -> Iterator[tuple[str, bool]]:
    for op, (_operand, truth) in table.items():
        held = truth[CASES.index(case)]
        yield _rule_id(op, False), held
        yield _rule_id(op, True), not held


def _both_engines(ruleset: CompiledRuleset, raw: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The rules the guard passes and the rules durable-rules fires, for one event."""
    event = parse_event(
        {"event_id": "e1", "account_id": "a", "occurred_at": "2026-01-01T00:00:00Z", **raw}
    )
    snapshot = ruleset.snapshot(flatten(event), event.type)
    guarded = {rule.id for rule in ruleset.by_type[event.type] if rule.guard(snapshot)}
    fired = set(DurableMatcher.for_plan(ruleset).match(dict(snapshot)))
    return guarded, fired


NUMERIC_PACK = _pack("rumor_flag", "reach", NUMERIC)
TEXTUAL_PACK = _pack("impersonation_report", "impersonated_name", TEXTUAL)


@pytest.mark.parametrize("case", CASES)
def test_numeric_operators_in_both_engines(case: str) -> None:
    """For `reach` below, equal to, above the bound 3, or absent: each of the 18 rules (9
    operators, plain and negated) holds in the guard and in durable-rules exactly as the
    table says."""
    raw: dict[str, Any] = {
        "type": "rumor_flag",
        "content_id": "c1",
        "verdict": "malicious_rumor",
        "source": "fact_check",
    }
    if case != "absent":
        raw["reach"] = REACH[case]
    guarded, fired = _both_engines(NUMERIC_PACK, raw)
    expected = dict(_expected(NUMERIC, case))
    assert {rule: rule in guarded for rule in expected} == expected, "python guard"
    assert {rule: rule in fired for rule in expected} == expected, "durable-rules"


@pytest.mark.parametrize("case", CASES)
def test_text_operators_in_both_engines(case: str) -> None:
    """For `impersonated_name` "a", "b" (the bound), "c", or absent: each of the 12 rules
    holds in the guard and in durable-rules exactly as the table says."""
    raw: dict[str, Any] = {"type": "impersonation_report", "reporter_id": "r1", "confirmed": False}
    if case != "absent":
        raw["impersonated_name"] = NAME[case]
    guarded, fired = _both_engines(TEXTUAL_PACK, raw)
    expected = dict(_expected(TEXTUAL, case))
    assert {rule: rule in guarded for rule in expected} == expected, "python guard"
    assert {rule: rule in fired for rule in expected} == expected, "durable-rules"


@pytest.mark.parametrize("case", CASES)
def test_a_double_negation_is_the_plain_test(case: str) -> None:
    """`not: {not: …}` of each numeric operator holds exactly where the plain one does, in
    both engines: negation is pushed down twice and comes back to the operator itself."""
    rules = [
        _rule(f"twice-{_rule_id(op, False)}", "rumor_flag", {"not": {"not": {"reach": {op: v}}}})
        for op, (v, _truth) in NUMERIC.items()
    ]
    assert check_rules(rules) == []
    ruleset = compile_rules(rules)
    raw: dict[str, Any] = {
        "type": "rumor_flag",
        "content_id": "c1",
        "verdict": "malicious_rumor",
        "source": "fact_check",
    }
    if case != "absent":
        raw["reach"] = REACH[case]
    guarded, fired = _both_engines(ruleset, raw)
    expected = {
        f"twice-{_rule_id(op, False)}": truth[CASES.index(case)]
        for op, (_v, truth) in NUMERIC.items()
    }
    assert {rule: rule in guarded for rule in expected} == expected, "python guard"
    assert {rule: rule in fired for rule in expected} == expected, "durable-rules"
