"""Differential tests: the Python guard and durable-rules agree on every condition and event.

The guard decides which events are posted to durable-rules; if the two ever disagreed, the
prefilter could change a decision. Random condition trees over real event fields, including
negation over absent fields and regular expressions, must fire the same rules.
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
from blacklist_rules.engine import engine_problems
from blacklist_rules.matching.durable import CATCH_ALL, DurableMatcher, to_durable, translate
from blacklist_rules.model.events import flatten, parse_event
from blacklist_rules.pack.checks import check_rules
from blacklist_rules.pack.compiler import compile_rules, stream_key_form
from blacklist_rules.pack.conditions import Compare, Not
from blacklist_rules.pack.loader import parse_rule_text

DSA = {
    "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "ground": "incompatible",
    "reference": "Test.",
}
"""The `dsa` block every rule file needs (its values matter to no test here)."""
TEXT = "abc1\n"
texts = st.text(alphabet=TEXT, min_size=1, max_size=4)
ids = st.text(alphabet="abc1", min_size=1, max_size=4)

_atoms = st.sampled_from(["a", "b", "c", "1", ".", "[a-c]", "[^a]", "\\d", "[ab1]"])
_quantifiers = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,2}"])
_pieces = st.lists(st.tuples(_atoms, _quantifiers).map("".join), min_size=1, max_size=3).map(
    "".join
)
_plain = st.lists(_atoms, min_size=1, max_size=3).map("".join)
patterns = st.one_of(
    _pieces,
    st.tuples(_plain, _plain).map(lambda p: f"({p[0]}|{p[1]})"),
    st.tuples(_plain, _plain, _quantifiers).map(lambda p: f"({p[0]}|{p[1]}){p[2]}"),
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
    op = draw(st.sampled_from(ops))
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
            "dsa": DSA,
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
    ruleset = compile_rules(rules)
    assume(not engine_problems(rules, ruleset))  # likewise
    matcher = DurableMatcher.for_plan(ruleset)
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
        fired = matcher.match(ruleset.snapshot(dict(snapshot), event.type))
        assert sorted(fired) == guarded, (snapshot, translate(ruleset))


@settings(max_examples=100, deadline=None)
@given(conditions(RUMOR_FIELDS) | conditions(REPORT_FIELDS))
def test_stream_keys_hash_the_form_durable_rules_was_given(when: dict[str, Any]) -> None:
    """History rows are stored under stream keys, which hash a frozen form of a filter's
    condition (`compiler.stream_key_form`): the durable-rules expression of COMPILER_VERSION 3.
    Both are equal for every condition; if the matcher's translation ever has to change, pin
    the old form here instead, so that no stored history is orphaned."""
    rule, errors = parse_rule_text(rule_text("r", "rumor_flag", when), "r.yaml")
    assert errors == []
    assert rule is not None
    assert rule.condition is not None
    assert stream_key_form(rule.condition) == to_durable(rule.condition)
    negated = Not(Compare("content_id", "matches", "a+", ("when",)), ("when",))
    assert stream_key_form(negated) == to_durable(negated)


@settings(max_examples=200, deadline=None)
@given(patterns, texts)
def test_a_pattern_fires_exactly_when_python_fullmatches(pattern: str, value: str) -> None:
    """A `matches` rule fires in durable-rules exactly when `re.fullmatch` holds, and its
    negation exactly when it does not: the match reaches durable-rules as a computed feature."""
    folder_rules = [
        rule_text("pos", "impersonation_report", {"impersonated_name": {"matches": pattern}}),
        rule_text(
            "neg", "impersonation_report", {"not": {"impersonated_name": {"matches": pattern}}}
        ),
    ]
    parsed = [parse_rule_text(text, f"{n}.yaml")[0] for n, text in enumerate(folder_rules)]
    rules = [rule for rule in parsed if rule is not None]
    assert len(rules) == 2
    assert check_rules(rules) == []
    ruleset = compile_rules(rules)
    matcher = DurableMatcher.for_plan(ruleset)
    snapshot = {"type": "impersonation_report", "impersonated_name": value}
    fired = matcher.match(ruleset.snapshot(dict(snapshot), "impersonation_report"))
    expected = "pos" if re.fullmatch(pattern, value) else "neg"
    assert fired == [expected]
    assert [r.id for r in ruleset.rules if r.guard(snapshot)] == [expected]


def _raw_mt(pattern: str, value: str) -> bool:
    """durable-rules' own `$mt`, which the compiler deliberately does not use."""
    name = f"raw_mt_{abs(hash(pattern)) % 10**12}"
    definition = {
        "r": {
            "all": [{"m": {"$and": [{"$ex": {"eval_id": 1}}, {"$mt": {"v": pattern}}]}}],
            "run": "r",
        },
        CATCH_ALL: {"all": [{"m": {"$ex": {"eval_id": 1}}}], "pri": 9, "run": CATCH_ALL},
    }
    return DurableMatcher(name, definition).match({"v": value}) == ["r"]


@pytest.mark.parametrize(
    ("pattern", "value"),
    [("1*.?(aa)*", "111"), ("(1*a|a*)", "1"), ("a.b", 'a"b'), ("\\d+", "123")],
)
def test_durable_rules_own_regex_disagrees_with_python(pattern: str, value: str) -> None:
    """Why matches are computed in Python: durable-rules 2.0.28's `$mt` gets these wrong.

    If this starts failing, durable-rules' regex engine changed: revisit `feature_key`.
    """
    assert _raw_mt(pattern, value) != (re.fullmatch(pattern, value) is not None)


def test_rules_may_use_anchors_escapes_and_negated_classes(tmp_path: Path) -> None:
    """Anchors, escapes, negated classes and `not` over `matches` load and behave as in Python
    (RE2 reads them alike: see test_patterns.py)."""
    folder = tmp_path / "rules"
    folder.mkdir()
    when = {
        "any": [
            {"impersonated_name": {"matches": "^\\w+ [^a]\\d{2}$"}},
            {"not": {"reporter_id": {"matches": "trusted-.*"}}},
        ]
    }
    (folder / "r.yaml").write_text(rule_text("full", "impersonation_report", when))
    ruleset = load_ruleset(folder)
    matcher = DurableMatcher.for_plan(ruleset)
    for name, reporter, expected in (
        ("abc b12", "trusted-1", True),
        ("abc a12", "trusted-1", False),
        ("abc a12", "someone", True),
    ):
        snapshot = {
            "type": "impersonation_report",
            "impersonated_name": name,
            "reporter_id": reporter,
        }
        fired = matcher.match(ruleset.snapshot(dict(snapshot), "impersonation_report"))
        assert (fired == ["full"]) is expected
        assert ruleset.rules[0].guard(snapshot) is expected


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


def test_a_deadline_filter_too_complex_for_durable_rules_is_a_load_error(tmp_path: Path) -> None:
    """The filters feeding a deadline run in durable-rules too: checked at load, not at run."""
    folder = tmp_path / "rules"
    folder.mkdir()
    tests = [{"reason": {"eq": f"r{n}"}} for n in range(5)]
    when = {"all": [{"not": {"all": tests}}, {"not": {"all": tests}}, {"not": {"all": tests}}]}
    rule = {
        "id": "late",
        "version": 1,
        "description": "A deadline with a complex unless.",
        "basis": "Test.",
        "deadline": {
            "after": {"on": "identity_verification"},
            "within": "1d",
            "unless": {"on": "identity_verification", "when": when},
        },
        "then": {"action": "cancel", "reason": "Late."},
        "dsa": DSA,
    }
    (folder / "r.yaml").write_text(json.dumps(rule, indent=1))
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(folder)
    (error,) = info.value.errors
    assert (error.code, error.line) == ("E-ENGINE", 11)  # the `unless` key
    assert "expands to 1000 alternatives" in error.message
