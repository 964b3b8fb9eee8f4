"""Escalation over past decisions (`prior:`): counted in (t - within, t] of the event from the
enforced decisions in event time, not reversed, shadow ones never; late decisions
and reversals decide the later events again in time order (issue 18, item 4)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, RuleLoadError, load_ruleset, why_not
from blacklist_rules.cli import main
from blacklist_rules.engine import time_order

from .support import RUMOR_FREEZE_30D, event, write_rule

US = timedelta(microseconds=1)
DAY = timedelta(days=1)
WITHIN = timedelta(days=365)
BASE = -2 * WITHIN
"""Events start two years before `T0` (near the wall clock): none is too far ahead of it."""

ESCALATE = """\
id: cancel-after-two-freezes
version: 1
description: A third malicious rumour after two freezes for rumours within a year.
basis: Test basis.
on: rumor_flag
when: {verdict: malicious_rumor}
prior:
  action: freeze
  count: 2
  within: 365d
  rules: [freeze-malicious-rumor]
then: {action: cancel, reason: Repeated malicious rumours after two freezes.}
priority: 5
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def rumour(account: str, at: timedelta, event_id: str) -> dict[str, object]:
    return event(
        "rumor_flag",
        account,
        BASE + at,
        event_id,
        content_id="c",
        verdict="malicious_rumor",
        source="fact_check",
    )


def pack(tmp_path: Path, escalate: str = ESCALATE, freeze: str = RUMOR_FREEZE_30D) -> Path:
    folder = write_rule(tmp_path / "p", "freeze", freeze)
    return write_rule(folder, "cancel", escalate)


def two_freezes(engine: Engine) -> list[str]:
    """Two enforced freezes of the account `a`, at day 0 and day 40 (after the first ended)."""
    ids = []
    for at, name in ((timedelta(0), "f1"), (40 * DAY, "f2")):
        (decision,) = engine.process(rumour("a", at, name)).decisions
        ids.append(decision.decision_id)
    return ids


@pytest.mark.parametrize(
    ("since_first", "held"),
    [(WITHIN, False), (WITHIN - US, True)],
)
def test_the_window_is_half_open(tmp_path: Path, since_first: timedelta, held: bool) -> None:
    """The first freeze exactly `within` before the event is outside (t - within, t]; one
    microsecond later it is inside; durable-rules agrees with the guards (prefilter off)."""
    for prefilter in (True, False):
        with Engine.from_path(pack(tmp_path), prefilter=prefilter) as engine:
            freezes = two_freezes(engine)
            decisions = engine.process(rumour("a", since_first, "f3")).decisions
            cancelled = [d for d in decisions if d.action == "cancel"]
            assert bool(cancelled) is held
            if held:
                (decision,) = cancelled
                assert decision.evidence == ("f3", *freezes)
                assert decision.matched[0].conditions[-1].seen == 2


def test_a_decision_at_the_events_own_moment_counts(tmp_path: Path) -> None:
    """(t - within, t] holds its end: a freeze at the very moment of the event counts."""
    with Engine.from_path(pack(tmp_path), prefilter=False) as engine:
        two_freezes(engine)
        decisions = engine.process(rumour("a", 40 * DAY, "f3")).decisions
        assert [d.action for d in decisions] == ["cancel"]


def test_a_reversed_decision_is_not_counted(tmp_path: Path) -> None:
    """An appeal that overturns the first freeze takes it out of the count."""
    with Engine.from_path(pack(tmp_path), prefilter=False) as engine:
        first, _second = two_freezes(engine)
        engine.process(
            event(
                "appeal_outcome",
                "a",
                BASE + 41 * DAY,
                "ap1",
                decision_id=first,
                outcome="overturned",
                reviewer_id="rev",
            )
        )
        decisions = engine.process(rumour("a", 100 * DAY, "f3")).decisions
        assert [d.action for d in decisions] == ["freeze"]


def test_shadow_decisions_are_not_counted(tmp_path: Path) -> None:
    """Freezes of a shadow rule never count (without `rules:`: any rule's freezes)."""
    shadow = RUMOR_FREEZE_30D.replace("mode: enforce", "mode: shadow")
    escalate = ESCALATE.replace("  rules: [freeze-malicious-rumor]\n", "")
    with Engine.from_path(pack(tmp_path, escalate, shadow), prefilter=False) as engine:
        for at, name in ((timedelta(0), "f1"), (40 * DAY, "f2"), (80 * DAY, "f3")):
            decisions = engine.process(rumour("a", at, name)).decisions
            assert all(d.action == "freeze" for d in decisions)


def test_only_the_named_rules_decisions_count(tmp_path: Path) -> None:
    """`rules:` restricts the count: freezes of another rule do not escalate."""
    other = RUMOR_FREEZE_30D.replace("freeze-malicious-rumor", "freeze-other")
    folder = write_rule(pack(tmp_path), "other", other)
    escalate = ESCALATE.replace("[freeze-malicious-rumor]", "[freeze-other]")
    write_rule(folder, "cancel", escalate.replace("priority: 5", "priority: 50"))
    (folder / "freeze.yaml").unlink()
    write_rule(folder, "freeze", RUMOR_FREEZE_30D.replace("priority: 10", "priority: 1"))
    with Engine.from_path(folder, prefilter=False) as engine:
        two_freezes(engine)
        decisions = engine.process(rumour("a", 80 * DAY, "f3")).decisions
        assert decisions[0].rule_id == "freeze-malicious-rumor"
        assert decisions[0].matched[-1].rule_id == "freeze-other"


def test_a_late_decision_decides_the_later_events_again_in_time_order(tmp_path: Path) -> None:
    """Set semantics: a freeze taken late for day 40 (a late rumour) makes the day-80 rumour,
    decided a freeze when it came, the third strike it is in time order: its freeze is
    reversed (a `reversal` record says why) and it cancels, dated day 80, in the late
    rumour's outcome, with the two freezes as evidence."""
    with Engine.from_path(pack(tmp_path), prefilter=False) as engine:
        engine.process(rumour("a", timedelta(0), "f1"))
        (freeze,) = engine.process(rumour("a", 80 * DAY, "f3")).decisions
        assert freeze.action == "freeze"
        outcome = engine.process(rumour("a", 40 * DAY, "f2"))  # late: its freeze is from day 40
        assert [d.action for d in outcome.decisions] == ["freeze", "cancel"]
        cancel = outcome.decisions[1]
        assert cancel.effective_at == freeze.effective_at
        assert [m.rule_id for m in cancel.matched] == [
            "cancel-after-two-freezes",
            "freeze-malicious-rumor",
        ]
        assert cancel.evidence[0] == "f3"
        assert len(cancel.evidence) == 3
        assert [r.decision_id for r in outcome.reversals] == [freeze.decision_id]
        assert str(engine.status("a")) == "cancelled"
        reasons = [
            r.record.get("reason") for r in engine.audit_records("a") if r.kind == "reversal"
        ]
        assert reasons == [time_order.REDECIDED]
        assert engine.store.verify_audit().ok


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.permutations([0, 40, 80]))
def test_the_count_is_of_decisions_in_event_time(tmp_path: Path, order: list[int]) -> None:
    """Whatever order the first two rumours come in, the third (in time and in arrival)
    cancels: the count reads decisions by effective time, not by arrival."""
    first_two = [day for day in order if day != 80]
    folder = pack(tmp_path / str(order))
    with Engine.from_path(folder, prefilter=False) as engine:
        for day in first_two:
            engine.process(rumour("a", day * DAY, f"f{day}"))
        decisions = engine.process(rumour("a", 80 * DAY, "f80")).decisions
        assert [d.action for d in decisions] == ["cancel"]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("[freeze-malicious-rumour]", "no rule `freeze-malicious-rumour` in the pack"),
        ("[cancel-after-two-freezes]", "a rule cannot count its own decisions"),
        ("[shadow-x]", "`shadow-x` is a shadow rule"),
    ],
)
def test_named_rules_are_checked_at_load(tmp_path: Path, rules: str, message: str) -> None:
    """Unknown ids (with did-you-mean), the rule itself, and shadow rules are refused with
    `file:line: E-PRIOR`."""
    shadow = RUMOR_FREEZE_30D.replace("freeze-malicious-rumor", "shadow-x")
    folder = write_rule(pack(tmp_path), "shadow", shadow.replace("mode: enforce", "mode: shadow"))
    write_rule(folder, "cancel", ESCALATE.replace("[freeze-malicious-rumor]", rules))
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset(folder)
    text = str(caught.value)
    assert "cancel.yaml:11: E-PRIOR: " + message in text
    if "rumour" in rules:
        assert "did you mean `freeze-malicious-rumor`?" in text


def test_rules_may_name_each_other(tmp_path: Path) -> None:
    """A cycle of prior rules loads: each counts only decisions stored before its event."""
    folder = pack(tmp_path)
    back = ESCALATE.replace("cancel-after-two-freezes", "freeze-after-cancel")
    back = back.replace("action: freeze\n  count: 2", "action: cancel\n  count: 1")
    back = back.replace("[freeze-malicious-rumor]", "[cancel-after-two-freezes]")
    back = back.replace("then: {action: cancel,", "then: {action: freeze, duration: 1d,")
    write_rule(folder, "back", back)
    escalate = ESCALATE.replace("[freeze-malicious-rumor]", "[freeze-after-cancel]")
    write_rule(folder, "cancel", escalate)
    assert len(load_ruleset(folder).rules) == 3


def test_why_not_and_explain_show_the_prior_decisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """why-not says the count it saw and the decisions counted; explain lists them as
    evidence of the cancel."""
    folder = pack(tmp_path)
    db = str(tmp_path / "blacklist.db")
    with Engine.from_path(folder, db) as engine:
        engine.process(rumour("a", timedelta(0), "f1"))
        engine.process(rumour("a", 40 * DAY, "f2"))
        found = why_not(engine, "a", "cancel-after-two-freezes")
        newest = found["events"][0]
        assert newest["held"] is False
        assert newest["first_failed"]["seen"] == 1
        assert len(newest["prior"]["decisions"]) == 1
        (cancel,) = engine.process(rumour("a", 80 * DAY, "f3")).decisions
    assert (
        main(
            [
                "explain",
                "--account",
                "a",
                "--rule",
                "cancel-after-two-freezes",
                "--db",
                db,
                "--rules",
                str(folder),
            ]
        )
        == 0
    )
    assert "prior decisions counted: " in capsys.readouterr().out
    assert main(["explain", cancel.decision_id, "--db", db, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["decision"] for e in shown["evidence"]] == [False, True, True]
    assert "freeze decisions of freeze-malicious-rumor" in json.dumps(shown["matched"])
