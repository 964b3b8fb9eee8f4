"""Mutation-testing gaps in engine/prior.py (bench/mutation.py, target `prior`): which `prior:`
tests are read for an event (`worth_reading`), and which stored decisions a re-matched event
leaves out as its own (`prior_facts` with `event_id`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from blacklist_rules import load_ruleset
from blacklist_rules.engine.prior import prior_facts, worth_reading
from blacklist_rules.model.decisions import Action
from blacklist_rules.model.events import from_micros, parse_event, utc_text
from blacklist_rules.pack.compiler import CompiledRule
from blacklist_rules.pack.prior import PriorTest
from blacklist_rules.stores import open_store
from blacklist_rules.stores.protocols import Store

from .support import RUMOR_FREEZE_30D, decision_record, event, write_rule

DSA = "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}"


def _rule(rule_id: str, when: str, prior: str, window: str = "") -> str:
    return (
        f"id: {rule_id}\nversion: 1\ndescription: d.\nbasis: b.\non: rumor_flag\n"
        f"when: {when}\nprior: {prior}\n{window}"
        f"then: {{action: blacklist, reason: r.}}\npriority: 5\n{DSA}\n"
    )


RULES = {
    "plain": RUMOR_FREEZE_30D,
    "on-malicious": _rule(
        "on-malicious", "{verdict: malicious_rumor}", "{action: freeze, count: 2, within: 365d}"
    ),
    "on-rumour": _rule("on-rumour", "{verdict: rumor}", "{action: cancel, count: 1, within: 30d}"),
    "windowed": _rule(
        "windowed",
        "{verdict: malicious_rumor}",
        "{action: cancel, count: 2, within: 90d}",
        "window: {count: 2, within: 30d}\n",
    ),
}


def _rules(tmp_path: Path) -> dict[str, CompiledRule]:
    folder = tmp_path / "pack"
    for name, text in RULES.items():
        write_rule(folder, name, text)
    return {rule.id: rule for rule in load_ruleset(folder).by_type["rumor_flag"]}


def _snapshot(tmp_path: Path, verdict: str) -> dict[str, Any]:
    ruleset = load_ruleset(tmp_path / "pack")
    flag = event("rumor_flag", "a", timedelta(0), "e", content_id="c", verdict=verdict)
    flag["source"] = "fact_check"
    return ruleset.snapshot(ruleset.flat(parse_event(flag)), "rumor_flag")


def _prior(rule: CompiledRule) -> PriorTest:
    assert rule.prior is not None
    return rule.prior


def test_a_prior_rule_whose_other_conditions_fail_is_not_read(tmp_path: Path) -> None:
    """A `prior:` rule without a window whose `when` fails on the event cannot hold whatever
    its count: its decisions are not read; the snapshot is left as it came."""
    rules = _rules(tmp_path)
    snapshot = _snapshot(tmp_path, "not_rumor")
    before = dict(snapshot)
    assert worth_reading([rules["on-malicious"], rules["on-rumour"]], snapshot) == []
    assert snapshot == before


def test_later_prior_rules_are_read_after_a_plain_rule_and_one_that_cannot_hold(
    tmp_path: Path,
) -> None:
    """The rules are all looked at: one without `prior:` and one whose `when` fails are
    passed over, not the end of the list, so the one that can hold is read."""
    rules = _rules(tmp_path)
    snapshot = _snapshot(tmp_path, "rumor")
    chosen = [rules["freeze-malicious-rumor"], rules["on-malicious"], rules["on-rumour"]]
    assert worth_reading(chosen, snapshot) == [_prior(rules["on-rumour"])]


def test_a_prior_rule_with_a_window_is_read_even_when_its_when_fails(tmp_path: Path) -> None:
    """A rule with a window is always read (a late event's later moments see other counts),
    so its `when` is not tried on the event's snapshot."""
    rules = _rules(tmp_path)
    snapshot = _snapshot(tmp_path, "not_rumor")
    assert worth_reading([rules["windowed"]], snapshot) == [_prior(rules["windowed"])]


DAY_US = 86_400_000_000
AT_US = 400 * DAY_US
FREEZES = PriorTest("freezes", Action.FREEZE, 1, 365 * DAY_US, (), "freeze decisions within 365d")


def _store_with(*decisions: tuple[str, str, int, tuple[str, ...]]) -> Store:
    """An in-memory SQLite store with enforced freezes of account `a`: (id, recorded by,
    effective µs, evidence)."""
    store = open_store(":memory:")
    with store.begin():
        for decision_id, recorded_by, at_us, evidence in decisions:
            at = utc_text(from_micros(at_us))
            record = decision_record(decision_id, "a", at, evidence=evidence)
            store.add_decision(record, recorded_by, at, None)
    return store


def test_an_event_matched_again_leaves_out_only_the_decisions_on_its_own_occasion() -> None:
    """With `event_id` (why-not, time order), a decision is the event's own when recorded by it,
    or when it has the event as evidence and is dated at its very moment; one of another event
    at the same moment, or with the event as evidence at another moment, still counts."""
    store = _store_with(
        ("same-moment-other-event", "x", AT_US, ("x",)),
        ("evidence-earlier", "y", AT_US - DAY_US, ("e", "y")),
        ("own-occasion", "z", AT_US, ("z", "e")),
        ("recorded-by-it", "e", AT_US - DAY_US, ("w",)),
    )
    counts, found = prior_facts(store, "a", AT_US, [FREEZES], event_id="e")
    assert sorted(found["freezes"]) == ["evidence-earlier", "same-moment-other-event"]
    assert counts == {"freezes": 2}
    counts, found = prior_facts(store, "a", AT_US, [FREEZES])
    assert counts == {"freezes": 4}
