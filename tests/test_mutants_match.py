"""Mutation-testing gaps in engine/match.py (bench/mutation.py, target `match`): a decision
shows its window's whole count, though the snapshot's count stops at the largest a rule asks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from blacklist_rules import Engine

from .support import RUMOR_FREEZE_30D, default_pack_with, event, flag, write_rule

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
CANCEL_AFTER_TWO = """\
id: cancel-after-two-freezes
version: 1
description: A malicious rumour after two freezes within a year.
basis: Test basis.
on: rumor_flag
when: {verdict: malicious_rumor}
prior: {action: freeze, count: 2, within: 365d}
then: {action: cancel, reason: Repeated.}
priority: 5
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""
FREEZE_TWO = """\
id: freeze-two-flags
version: 1
description: Two malicious rumours within 30 days freeze the account for a day.
basis: Test basis.
on: rumor_flag
when:
  all:
    - verdict: malicious_rumor
    - source: fact_check
window: {count: 2, within: 30d}
then: {action: freeze, duration: 1d, reason: Two rumours.}
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def test_a_decision_shows_the_whole_count_past_the_largest_a_rule_asks(tmp_path: Path) -> None:
    """The window holds three flags when the account, its first freeze ended, is frozen again:
    the decision's condition shows 3, not the 2 the snapshot stopped at (the largest count a
    rule of the pack asks), and all three flags are its evidence."""
    rules = write_rule(tmp_path / "rules", "freeze", FREEZE_TWO)
    with Engine.from_path(rules, max_lead=None) as engine:
        assert engine.process(flag(timedelta(0), "f1")).decisions == ()
        (first,) = engine.process(flag(HOUR, "f2")).decisions
        assert first.matched[0].conditions[-1].seen == 2
        (again,) = engine.process(flag(48 * HOUR, "f3")).decisions
        assert again.action == "freeze"
        assert [(c.field, c.seen, c.result) for c in again.matched[0].conditions] == [
            ("verdict", "malicious_rumor", True),
            ("source", "fact_check", True),
            ("events within 30d", 3, True),
        ]
        assert again.evidence == ("f1", "f2", "f3")


def test_a_prior_rules_decision_shows_its_count_as_held(tmp_path: Path) -> None:
    """The `prior:` condition of a decision is traced as held, with the count it saw, exactly
    the count asked (two freezes before the third rumour that cancels); the match carries the
    rule's version, priority and reason."""
    rules = write_rule(tmp_path / "rules", "freeze", RUMOR_FREEZE_30D)
    write_rule(rules, "cancel", CANCEL_AFTER_TWO)
    with Engine.from_path(rules, max_lead=None) as engine:
        engine.process(flag(timedelta(0), "f1"))
        engine.process(flag(40 * DAY, "f2"))
        (cancel,) = engine.process(flag(80 * DAY, "f3")).decisions
        assert (cancel.action, cancel.rule_version, cancel.reason) == ("cancel", 1, "Repeated.")
        (match,) = (m for m in cancel.matched if m.rule_id == "cancel-after-two-freezes")
        assert (match.rule_version, match.priority, match.reason) == (1, 5, "Repeated.")
        prior = match.conditions[-1]
        assert (prior.op, prior.expected, prior.seen, prior.result) == ("gte", 2, 2, True)


ANY_REPORT = """\
id: freeze-on-any-report
version: 1
description: Any impersonation report freezes the account.
basis: Test basis.
on: impersonation_report
then: {action: freeze, duration: 1d, reason: Reported.}
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def test_a_rule_without_conditions_decides_with_an_empty_trace(tmp_path: Path) -> None:
    """A rule with neither `when` nor a window has no condition to trace: its decision's match
    has none, and reading the window count of its last condition is not tried."""
    rules = write_rule(tmp_path / "rules", "report", ANY_REPORT)
    with Engine.from_path(rules, max_lead=None) as engine:
        report = event("impersonation_report", "a", timedelta(0), "r1", reporter_id="x")
        (decision,) = engine.process({**report, "confirmed": False}).decisions
        assert decision.action == "freeze"
        assert decision.matched[0].conditions == ()


REVIEW_WINDOW = """\
id: blacklist-two-review-freezes
version: 1
description: Two reviewer freezes within 30 days (a trial).
basis: Test basis.
on: review_decision
when: {action: freeze}
window: {count: 2, within: 30d}
then: {action: blacklist, reason: Two reviews.}
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def test_a_reversing_event_in_a_window_is_decided_on_the_settled_whole_count(
    tmp_path: Path,
) -> None:
    """A review feeding a window (a reversing event: its window is read whole before the
    decision) decides on the window's whole count: exactly the count asked at the second
    review, one more than the largest a rule asks at the third, each review as evidence."""
    rules = write_rule(tmp_path / "rules", "reviews", REVIEW_WINDOW)
    with Engine.from_path(rules, max_lead=None) as engine:
        seen = []
        for i in range(3):
            review = event(
                "review_decision",
                "a",
                i * HOUR,
                f"rv{i}",
                reviewer_id="rev",
                action="freeze",
                reason="manual",
            )
            found = [d for d in engine.process(review).decisions if d.mode == "shadow"]
            seen.append([(d.matched[0].conditions[-1].seen, d.evidence) for d in found])
    assert seen == [[], [(2, ("rv0", "rv1"))], [(3, ("rv0", "rv1", "rv2"))]]


def test_only_a_rule_that_reads_the_blacklist_has_the_listing_decision_as_evidence(
    tmp_path: Path,
) -> None:
    """A blacklisted person registers again and fails verification, with the returning-
    identity rule in shadow mode: the enforced freeze (a rule that does not read the blacklist)
    has the registration alone as evidence; the shadow blacklist adds the decision that
    listed the identity."""
    rules = default_pack_with(tmp_path / "rules")
    returning = rules / "identity" / "blacklist-returning-identity.yaml"
    text = returning.read_text(encoding="utf-8")
    returning.write_text(text.replace("mode: enforce", "mode: shadow"), encoding="utf-8")
    identity = {"id_number": "360426199101010071"}
    with Engine.from_path(rules, max_lead=None) as engine:
        engine.process(
            event(
                "registration",
                "li",
                timedelta(0),
                "reg-li",
                identity=identity,
                verification={"status": "passed"},
            )
        )
        report = event("impersonation_report", "li", DAY, "imp", reporter_id="r", confirmed=True)
        (listing,) = engine.process(report).decisions
        again = event(
            "registration",
            "li-2",
            5 * DAY,
            "reg-2",
            identity=identity,
            verification={"status": "failed", "reason": "blurry_photo"},
        )
        found = {d.rule_id: d.evidence for d in engine.process(again).decisions}
    assert found == {
        "freeze-failed-registration-verification": ("reg-2",),
        "blacklist-returning-identity": ("reg-2", listing.decision_id),
    }
