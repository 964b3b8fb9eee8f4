"""The gate of an event type (`engine/gate.py`) is implied by every rule and listener of the
type, whatever the facts read after the event's fields: where it fails, none can hold, so
`match` skipping them changes nothing (issue 19)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blacklist_rules import load_ruleset
from blacklist_rules.engine import engine_problems
from blacklist_rules.engine.gate import facts_read_later, gates, weakened
from blacklist_rules.model.events import ACCOUNT_STATUS, parse_event
from blacklist_rules.pack.checks import check_rules
from blacklist_rules.pack.compiler import compile_rules
from blacklist_rules.pack.conditions import All, AnyOf, Compare, Not
from blacklist_rules.pack.loader import parse_rule_text

from .strategies import event_lists
from .test_matching import RUMOR_FIELDS, conditions, rule_text, rumor_events

STATUSES = ("active", "frozen", "cancelled", "blacklisted")
WITH_STATUS = {
    **RUMOR_FIELDS,
    ACCOUNT_STATUS: (st.sampled_from(STATUSES), ("eq", "ne", "in", "not_in", "exists")),
}
"""Rumour fields and a fact read after them (`account.status`)."""

KNOWN = Compare("verdict", "eq", "rumor", ())
UNKNOWN = Compare(ACCOUNT_STATUS, "eq", "frozen", ())


def test_an_unknown_fact_is_made_what_weakens_the_test() -> None:
    """True where it stands, false under a `not`; `all` and `any` simplified around it."""
    unknown = {ACCOUNT_STATUS}
    assert weakened(UNKNOWN, unknown) is True
    assert weakened(Not(UNKNOWN, ()), unknown) is True
    assert weakened(Not(All((KNOWN, UNKNOWN), ()), ()), unknown) is True
    assert weakened(Not(AnyOf((KNOWN, UNKNOWN), ()), ()), unknown) == Not(KNOWN, ())
    assert weakened(All((KNOWN, UNKNOWN), ()), unknown) == KNOWN
    assert weakened(AnyOf((KNOWN, UNKNOWN), ()), unknown) is True
    assert weakened(AnyOf((KNOWN, Not(UNKNOWN, ())), ()), unknown) is True
    assert weakened(KNOWN, unknown) == KNOWN


def test_the_default_pack_gates_the_types_whose_tests_all_read_fields() -> None:
    """Registrations feed a stream whatever their fields: no gate; a rumour flag is wanted
    only as a malicious rumour from fact checkers or authorities."""
    ruleset = load_ruleset()
    found = gates(ruleset)
    assert "registration" not in found
    assert set(found) >= {"rumor_flag", "identity_verification", "impersonation_report"}
    wanted = {"verdict": "malicious_rumor", "source": "fact_check"}
    assert found["rumor_flag"].test(wanted)
    assert not found["rumor_flag"].test({**wanted, "source": "user_report"})
    assert found["rumor_flag"].fields == ("verdict", "source")  # tested before `flatten`
    unknown = facts_read_later(ruleset)
    assert {rule.window.key for rule in ruleset.rules if rule.window} <= unknown
    assert {rule.prior.key for rule in ruleset.rules if rule.prior} <= unknown


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(conditions(WITH_STATUS), min_size=1, max_size=3),
    st.lists(rumor_events, min_size=1, max_size=10),
)
def test_where_the_gate_fails_no_rule_holds_whatever_the_facts(
    whens: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    """Random rules over a rumour's fields and the account's status: on every event whose
    fields fail the gate, no rule's guard holds with any status, or none. A gate tested
    before the event is flattened says what it says on the flat snapshot."""
    rules = []
    for index, when in enumerate(whens):
        rule, errors = parse_rule_text(rule_text(f"r-{index}", "rumor_flag", when), f"{index}.y")
        assert errors == []
        assert rule is not None
        rules.append(rule)
    assert check_rules(rules) == []
    ruleset = compile_rules(rules)
    assume(not engine_problems(rules, ruleset))
    gate = gates(ruleset).get("rumor_flag")
    for number, raw in enumerate(events):
        event = parse_event(
            {"event_id": f"e{number}", "account_id": "a", "occurred_at": "2026-01-01T00:00:00Z"}
            | raw
        )
        fields = ruleset.snapshot(ruleset.flat(event), event.type)
        if gate is None:
            continue
        if gate.fields is not None:
            assert gate.shut_before(event) == (not gate.test(fields))
        if not (gate.shut_before(event) or gate.shut_after(fields)):
            continue
        assert not gate.test(fields)
        for status in (None, *STATUSES):
            snapshot = fields if status is None else {**fields, ACCOUNT_STATUS: status}
            assert not [rule.id for rule in ruleset.rules if rule.guard(snapshot)], snapshot


@settings(max_examples=60, deadline=None)
@given(event_lists)
def test_a_gate_before_flatten_says_what_it_says_on_the_flat_snapshot(
    raw: list[dict[str, Any]],
) -> None:
    """The default pack's gates of top-level fields, on the events' own fields (absent when
    None, as `flatten` leaves them out), pass exactly the events they pass flattened."""
    ruleset = load_ruleset()
    found = gates(ruleset)
    for data in raw:
        event = parse_event(data)
        gate = found.get(event.type)
        if gate is not None and gate.fields is not None:
            fields = ruleset.snapshot(ruleset.flat(event), event.type)
            assert gate.shut_before(event) == (not gate.test(fields)), fields
