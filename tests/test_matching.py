"""Differential tests: the Python guard and durable-rules agree on every condition and event.

The guard decides which events are posted to durable-rules; if the two ever disagreed, the
prefilter could change a decision. Random condition trees over real event fields, including
negation over absent fields and the regular-expression subset, must fire the same rules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blacklist_rules import RuleLoadError, load_ruleset
from blacklist_rules._durable import DurableMatcher, pattern_problem
from blacklist_rules.checks import check_patterns, check_rules
from blacklist_rules.compiler import as_durable_sees, compile_rules
from blacklist_rules.engine import engine_problems
from blacklist_rules.events import flatten, parse_event
from blacklist_rules.loader import parse_rule_text

TEXT = "abc1\n"
texts = st.text(alphabet=TEXT, min_size=1, max_size=4)
ids = st.text(alphabet="abc1", min_size=1, max_size=4)

_atoms = st.sampled_from(["a", "b", "c", "1", ".", "[a-c]", "[ab1]", "[1-9]"])
_quantifiers = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,2}"])
_pieces = st.lists(st.tuples(_atoms, _quantifiers).map("".join), min_size=1, max_size=3).map(
    "".join
)
patterns = st.one_of(
    _pieces,
    st.tuples(_pieces, _pieces).map(lambda p: f"({p[0]}|{p[1]})"),
    st.tuples(_atoms, _atoms).map(lambda p: f"({p[0]}|{p[1]})+"),
    st.tuples(_pieces, _atoms, _atoms).map(lambda p: f"{p[0]}({p[1]}{p[2]})*"),
)

# Per field: (strategy of values, operators allowed).
RUMOR_FIELDS: dict[str, tuple[st.SearchStrategy[Any], tuple[str, ...]]] = {
    "verdict": (
        st.sampled_from(["malicious_rumor", "rumor", "not_rumor"]),
        ("eq", "ne", "in", "not_in", "exists"),
    ),
    "source": (
        st.sampled_from(["fact_check", "authority_notice", "user_report"]),
        ("eq", "ne", "in", "not_in", "exists"),
    ),
    "reach": (st.integers(0, 6), ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists")),
    "content_id": (ids, ("eq", "ne", "in", "not_in", "matches", "exists")),
}
REPORT_FIELDS: dict[str, tuple[st.SearchStrategy[Any], tuple[str, ...]]] = {
    "confirmed": (st.booleans(), ("eq", "ne", "exists")),
    "impersonated_name": (texts, ("eq", "ne", "in", "not_in", "matches", "exists")),
    "reporter_id": (ids, ("eq", "ne", "in", "not_in", "matches", "exists")),
}


@st.composite
def leaf(
    draw: st.DrawFn,
    fields: dict[str, tuple[st.SearchStrategy[Any], tuple[str, ...]]],
    negatable: bool,
) -> dict[str, Any]:
    field = draw(st.sampled_from(sorted(fields)))
    values, ops = fields[field]
    op = draw(st.sampled_from([o for o in ops if negatable or o != "matches"]))
    if op == "exists":
        return {field: {"exists": draw(st.booleans())}}
    if op == "matches":
        return {field: {"matches": draw(patterns)}}
    if op in ("in", "not_in"):
        return {field: {op: draw(st.lists(values, min_size=1, max_size=3, unique=True))}}
    return {field: {op: draw(values)}}


def conditions(
    fields: dict[str, tuple[st.SearchStrategy[Any], tuple[str, ...]]], negated: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """Condition trees; `matches` never under `not` (the checks refuse it)."""
    base = leaf(fields, negatable=not negated)
    if negated:
        return st.recursive(
            base,
            lambda inner: st.one_of(
                st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
                st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
            ),
            max_leaves=4,
        )
    return st.recursive(
        base,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
            conditions(fields, negated=True).map(lambda x: {"not": x}),
        ),
        max_leaves=5,
    )


def rule_text(rule_id: str, on: str, when: dict[str, Any]) -> str:
    """A rule file as JSON, which is also YAML 1.2."""
    return json.dumps(
        {
            "id": rule_id,
            "version": 1,
            "description": "generated",
            "basis": "test",
            "on": on,
            "when": when,
            "then": {"action": "freeze", "reason": "generated"},
        }
    )


rumor_events = st.fixed_dictionaries(
    {
        "type": st.just("rumor_flag"),
        "content_id": ids,
        "verdict": RUMOR_FIELDS["verdict"][0],
        "source": RUMOR_FIELDS["source"][0],
    },
    optional={"reach": st.integers(0, 6)},
)
report_events = st.fixed_dictionaries(
    {"type": st.just("impersonation_report"), "reporter_id": ids, "confirmed": st.booleans()},
    optional={"impersonated_name": texts},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(conditions(RUMOR_FIELDS), min_size=1, max_size=3),
    st.lists(conditions(REPORT_FIELDS), min_size=1, max_size=3),
    st.lists(st.one_of(rumor_events, report_events), min_size=1, max_size=15),
)
def test_guard_and_durable_rules_fire_the_same_rules(
    rumor_rules: list[dict[str, Any]],
    report_rules: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> None:
    """For random rules and events, the set of rules fired is the same in both engines."""
    sources = []
    for index, when in enumerate(rumor_rules):
        sources.append(rule_text(f"rumor-{index}", "rumor_flag", when))
    for index, when in enumerate(report_rules):
        sources.append(rule_text(f"report-{index}", "impersonation_report", when))
    rules = []
    for number, text in enumerate(sources):
        rule, errors = parse_rule_text(text, f"generated-{number}.yaml")
        assert errors == []
        assert rule is not None
        rules.append(rule)
    assert check_rules(rules) == []
    assume(not list(check_patterns(rules, pattern_problem)))  # refused at load, tested below
    ruleset = compile_rules(rules)
    assume(not engine_problems(rules, ruleset))  # likewise
    matcher = DurableMatcher(ruleset.name, ruleset.definition)
    for number, raw in enumerate(events):
        event = parse_event(
            {
                "event_id": f"e{number}",
                "account_id": "a",
                "occurred_at": "2026-01-01T00:00:00Z",
                **raw,
            }
        )
        snapshot = flatten(event)
        guarded = sorted(r.id for r in ruleset.by_type[event.type] if r.guard(snapshot))
        assert sorted(matcher.match(snapshot)) == guarded, (snapshot, ruleset.definition)


@settings(max_examples=300, deadline=None)
@given(patterns, texts)
def test_the_regex_subset_means_the_same_in_python(pattern: str, value: str) -> None:
    """Within the subset, `$mt` is `re.fullmatch` over the JSON-escaped text, as the guard does."""
    assume(pattern_problem(pattern) is None)
    text = rule_text("regex", "impersonation_report", {"impersonated_name": {"matches": pattern}})
    rule, _errors = parse_rule_text(text, "regex.yaml")
    assert rule is not None
    assert check_rules([rule]) == []
    ruleset = compile_rules([rule])
    matcher = DurableMatcher(ruleset.name, ruleset.definition)
    fired = matcher.match({"type": "impersonation_report", "impersonated_name": value})
    expected = re.fullmatch(pattern, as_durable_sees(value)) is not None
    assert (fired == ["regex"]) == expected
    assert ruleset.rules[0].guard({"impersonated_name": value}) is expected


def test_a_dot_does_not_match_a_newline_or_quote() -> None:
    """Measured: durable-rules sees escaped text, so `.` is not a newline, a tab or a quote."""
    for value, expected in (("a b", True), ("a谣b", True), ("a\nb", False), ('a"b', False)):
        assert (re.fullmatch("a.b", as_durable_sees(value)) is not None) is expected


def test_patterns_durable_rules_gets_wrong_are_refused_at_load(tmp_path: Path) -> None:
    """Negated classes are outside the subset: durable-rules refuses some and mis-builds others."""
    assert pattern_problem("(a|[^a])") == "durable-rules cannot build this pattern (regex conflict)"
    assert pattern_problem("(a|b)") is None
    folder = tmp_path / "rules"
    folder.mkdir()
    when = {"impersonated_name": {"matches": "([^a]|.b1)"}}
    (folder / "r.yaml").write_text(rule_text("refused", "impersonation_report", when))
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(folder)
    (error,) = info.value.errors
    assert error.code == "E-REGEX"
    assert "[^…]" in (error.hint or "")


def test_a_condition_too_complex_for_durable_rules_is_a_load_error(tmp_path: Path) -> None:
    """Negations expanding into too many alternatives are refused before durable-rules sees them."""
    folder = tmp_path / "rules"
    folder.mkdir()
    tests = [{"content_id": {"eq": str(n)}} for n in range(5)]
    when = {"all": [{"not": {"all": tests}}, {"not": {"all": tests}}, {"not": {"all": tests}}]}
    (folder / "r.yaml").write_text(rule_text("complex", "rumor_flag", when))
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(folder)
    (error,) = info.value.errors
    assert error.code == "E-ENGINE"
    assert "expands to 1000 alternatives" in error.message
