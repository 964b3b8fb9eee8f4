"""Account history: the default pack's window and deadline rules at and around each edge.

Each case is events (and clock moves) in, the enforced decisions and final statuses out. Times
are offsets from T0; `JUST` is one second, the smallest step that crosses an edge here. Windows
are half-open, (t - T, t]: events exactly T apart are not within T; a deadline of T passes at
anchor + T, and an `unless` event must come before it.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import (
    Engine,
    EvaluationError,
    SQLiteStore,
    load_ruleset,
)
from blacklist_rules.engine.core import Core

from .support import T0, default_pack_with, event, write_rule

DAY = timedelta(days=1)
JUST = timedelta(seconds=1)
RULESET = load_ruleset()


def flag(
    at: timedelta,
    content: str,
    *,
    source: str = "fact_check",
    verdict: str = "malicious_rumor",
    account: str = "a",
) -> tuple[str, str, timedelta, dict[str, Any]]:
    return (
        "rumor_flag",
        account,
        at,
        {"content_id": content, "verdict": verdict, "source": source},
    )


def report(
    at: timedelta, reporter: str, *, confirmed: bool = False, account: str = "a"
) -> tuple[str, str, timedelta, dict[str, Any]]:
    return ("impersonation_report", account, at, {"reporter_id": reporter, "confirmed": confirmed})


def verification(
    at: timedelta, status: str, reason: str | None = None, *, account: str = "a"
) -> tuple[str, str, timedelta, dict[str, Any]]:
    fields: dict[str, Any] = {"status": status}
    if reason:
        fields["reason"] = reason
    return ("identity_verification", account, at, fields)


def advance(at: timedelta) -> tuple[str, str, timedelta, dict[str, Any]]:
    return ("advance", "", at, {})


@dataclass
class Case:
    """Steps in order; the enforced decisions (rule id, effective offset) and final statuses."""

    steps: list[tuple[str, str, timedelta, dict[str, Any]]]
    decisions: list[tuple[str, timedelta]]
    status: dict[str, str] = field(default_factory=dict)


def run_case(case: Case, engine: Engine) -> tuple[list[tuple[str, timedelta]], dict[str, str]]:
    decided = []
    for index, (kind, account, at, fields) in enumerate(case.steps):
        if kind == "advance":
            outcome = engine.advance_to(T0 + at)
        else:
            outcome = engine.process(event(kind, account, at, f"e{index:03d}", **fields))
            assert outcome.accepted, outcome
        decided += [
            (d.rule_id, d.effective_at - T0) for d in outcome.decisions if d.mode == "enforce"
        ]
    statuses = {account: str(engine.status(account)) for account in case.status}
    return decided, statuses


FREEZE_R = "freeze-repeated-malicious-rumours"
BLACKLIST_R = "blacklist-repeated-malicious-rumours"
FREEZE_I = "freeze-suspected-impersonation"
FREEZE_V = "freeze-failed-verification"
CANCEL_V = "cancel-unverified-after-freeze"

CASES = {
    # --- malicious rumours: 2 distinct contents within 180 days → freeze 30 days; 3 → blacklist
    "one-rumour-does-nothing": Case([flag(0 * DAY, "c1")], [], {"a": "active"}),
    "two-rumours-just-within-180d-freeze": Case(
        [flag(0 * DAY, "c1"), flag(180 * DAY - JUST, "c2")],
        [(FREEZE_R, 180 * DAY - JUST)],
        {"a": "frozen"},
    ),
    "two-rumours-exactly-180d-apart-do-not": Case(
        [flag(0 * DAY, "c1"), flag(180 * DAY, "c2")], [], {"a": "active"}
    ),
    "two-flags-on-one-content-are-one-rumour": Case(
        [flag(0 * DAY, "c1"), flag(1 * DAY, "c1", source="authority_notice")], [], {"a": "active"}
    ),
    "user-reports-do-not-count": Case(
        [flag(0 * DAY, "c1"), flag(1 * DAY, "c2", source="user_report")], [], {"a": "active"}
    ),
    "rumor-and-not-rumor-verdicts-do-not-count": Case(
        [
            flag(0 * DAY, "c1"),
            flag(1 * DAY, "c2", verdict="rumor"),
            flag(2 * DAY, "c3", verdict="not_rumor"),
        ],
        [],
        {"a": "active"},
    ),
    "authority-notice-and-fact-check-both-count": Case(
        [flag(0 * DAY, "c1", source="authority_notice"), flag(3 * DAY, "c2")],
        [(FREEZE_R, 3 * DAY)],
        {"a": "frozen"},
    ),
    "the-freeze-lasts-30-days": Case(
        [flag(0 * DAY, "c1"), flag(1 * DAY, "c2"), advance(31 * DAY - JUST)],
        [(FREEZE_R, 1 * DAY)],
        {"a": "frozen"},
    ),
    "the-freeze-ends-after-30-days": Case(
        [flag(0 * DAY, "c1"), flag(1 * DAY, "c2"), advance(31 * DAY)],
        [(FREEZE_R, 1 * DAY)],
        {"a": "active"},
    ),
    "three-rumours-just-within-180d-blacklist": Case(
        [flag(0 * DAY, "c1"), flag(90 * DAY, "c2"), flag(180 * DAY - JUST, "c3")],
        [(FREEZE_R, 90 * DAY), (BLACKLIST_R, 180 * DAY - JUST)],
        {"a": "blacklisted"},
    ),
    "three-rumours-over-exactly-180d-freeze-twice": Case(
        [flag(0 * DAY, "c1"), flag(90 * DAY, "c2"), flag(180 * DAY, "c3")],
        [(FREEZE_R, 90 * DAY), (FREEZE_R, 180 * DAY)],
        {"a": "frozen"},
    ),
    "rumours-of-other-accounts-do-not-count": Case(
        [flag(0 * DAY, "c1"), flag(1 * DAY, "c2", account="b")], [], {"a": "active", "b": "active"}
    ),
    # --- 3 distinct reporters within 7 days, unconfirmed → freeze pending review
    "three-reporters-just-within-7d-freeze": Case(
        [report(0 * DAY, "r1"), report(3 * DAY, "r2"), report(7 * DAY - JUST, "r3")],
        [(FREEZE_I, 7 * DAY - JUST)],
        {"a": "frozen"},
    ),
    "three-reporters-exactly-7d-apart-do-not": Case(
        [report(0 * DAY, "r1"), report(3 * DAY, "r2"), report(7 * DAY, "r3")], [], {"a": "active"}
    ),
    "one-reporter-three-times-does-not": Case(
        [report(0 * DAY, "r1"), report(1 * DAY, "r1"), report(2 * DAY, "r1")], [], {"a": "active"}
    ),
    "two-reporters-do-not": Case(
        [report(0 * DAY, "r1"), report(1 * DAY, "r2")], [], {"a": "active"}
    ),
    "a-confirmed-report-is-not-one-of-the-three": Case(
        [report(0 * DAY, "r1"), report(1 * DAY, "r2"), report(2 * DAY, "r3", confirmed=True)],
        [("blacklist-confirmed-impersonation", 2 * DAY)],
        {"a": "blacklisted"},
    ),
    "the-review-freeze-has-no-end": Case(
        [report(0 * DAY, "r1"), report(1 * DAY, "r2"), report(2 * DAY, "r3"), advance(999 * DAY)],
        [(FREEZE_I, 2 * DAY)],
        {"a": "frozen"},
    ),
    "more-reports-while-frozen-add-no-decision": Case(
        [report(timedelta(hours=h), f"r{h}") for h in range(6)],
        [(FREEZE_I, timedelta(hours=2))],
        {"a": "frozen"},
    ),
    # --- failed-verification freeze, no passed verification within 15 days → cancel
    "unverified-just-under-15d-stays-frozen": Case(
        [verification(0 * DAY, "failed"), advance(15 * DAY - JUST)],
        [(FREEZE_V, 0 * DAY)],
        {"a": "frozen"},
    ),
    "unverified-at-15d-is-cancelled": Case(
        [verification(0 * DAY, "failed"), advance(15 * DAY)],
        [(FREEZE_V, 0 * DAY), (CANCEL_V, 15 * DAY)],
        {"a": "cancelled"},
    ),
    "verified-just-before-15d-is-active": Case(
        [
            verification(0 * DAY, "failed"),
            verification(15 * DAY - JUST, "passed"),
            advance(99 * DAY),
        ],
        [(FREEZE_V, 0 * DAY)],
        {"a": "active"},
    ),
    "verified-at-15d-is-too-late": Case(
        [verification(0 * DAY, "failed"), verification(15 * DAY, "passed")],
        [(FREEZE_V, 0 * DAY), (CANCEL_V, 15 * DAY)],
        {"a": "cancelled"},
    ),
    "registration-check-failed-then-15d": Case(
        [
            ("registration", "a", 0 * DAY, {"verification": {"status": "failed"}}),
            advance(15 * DAY),
        ],
        [("freeze-failed-registration-verification", 0 * DAY), (CANCEL_V, 15 * DAY)],
        {"a": "cancelled"},
    ),
    "re-registration-that-passes-meets-the-deadline": Case(
        [
            verification(0 * DAY, "failed"),
            ("registration", "a", 2 * DAY, {"verification": {"status": "passed"}}),
            advance(30 * DAY),
        ],
        [(FREEZE_V, 0 * DAY)],
        {"a": "active"},
    ),
    "another-accounts-event-moves-the-clock": Case(
        [verification(0 * DAY, "failed"), flag(20 * DAY, "c1", account="b")],
        [(FREEZE_V, 0 * DAY), (CANCEL_V, 15 * DAY)],
        {"a": "cancelled", "b": "active"},
    ),
    "a-proven-fake-is-cancelled-at-once-with-no-deadline": Case(
        [verification(0 * DAY, "failed", "forged_document"), advance(30 * DAY)],
        [("cancel-proven-fake-identity", 0 * DAY)],
        {"a": "cancelled"},
    ),
    "a-second-failure-while-frozen-starts-no-second-deadline": Case(
        [verification(0 * DAY, "failed"), verification(5 * DAY, "failed"), advance(30 * DAY)],
        [(FREEZE_V, 0 * DAY), (CANCEL_V, 15 * DAY)],
        {"a": "cancelled"},
    ),
    "a-freeze-of-another-reason-does-not-hide-the-deadline": Case(
        [
            report(0 * DAY, "r1"),
            report(0 * DAY, "r2"),
            report(0 * DAY, "r3"),
            verification(1 * DAY, "failed"),
            advance(16 * DAY),
        ],
        [(FREEZE_I, 0 * DAY), (FREEZE_V, 1 * DAY), (CANCEL_V, 16 * DAY)],
        {"a": "cancelled"},
    ),
    # --- late events decide what they would have decided in time order
    "a-late-rumour-completes-a-window": Case(
        [flag(100 * DAY, "c2"), flag(0 * DAY, "c1"), advance(110 * DAY)],
        [(FREEZE_R, 100 * DAY)],
        {"a": "frozen"},
    ),
    "a-late-rumour-completes-two-later-windows": Case(
        [flag(0 * DAY, "c1"), flag(190 * DAY, "c3"), flag(100 * DAY, "c2"), advance(200 * DAY)],
        [(FREEZE_R, 100 * DAY), (FREEZE_R, 190 * DAY)],
        {"a": "frozen"},
    ),
    "a-late-report-completes-a-cluster": Case(
        [report(5 * DAY, "r3"), report(1 * DAY, "r1"), report(3 * DAY, "r2")],
        [(FREEZE_I, 5 * DAY)],
        {"a": "frozen"},
    ),
    # (the cancel came out when the clock passed its deadline; the late verification inside
    # the 15 days takes it back, as time order has it: test_late_deadlines)
    "a-late-passed-verification-takes-back-a-fired-cancel": Case(
        [verification(0 * DAY, "failed"), advance(20 * DAY), verification(10 * DAY, "passed")],
        [(FREEZE_V, 0 * DAY), (CANCEL_V, 15 * DAY)],
        {"a": "active"},
    ),
    "a-late-failure-with-a-passed-check-after-it-starts-no-cancel": Case(
        [verification(10 * DAY, "passed"), advance(40 * DAY), verification(0 * DAY, "failed")],
        [(FREEZE_V, 0 * DAY)],
        {"a": "active"},
    ),
    "a-late-failure-past-its-deadline-is-cancelled-at-once": Case(
        [advance(40 * DAY), verification(0 * DAY, "failed")],
        [(FREEZE_V, 0 * DAY), (CANCEL_V, 15 * DAY)],
        {"a": "cancelled"},
    ),
    "a-late-blacklist-stops-the-freeze-of-a-later-window": Case(
        [flag(0 * DAY, "c1"), flag(10 * DAY, "c2"), flag(200 * DAY, "c3"), flag(100 * DAY, "c4")],
        [(FREEZE_R, 10 * DAY), (BLACKLIST_R, 100 * DAY)],
        {"a": "blacklisted"},
    ),
    "a-passed-check-at-the-same-moment-ends-the-freeze-in-any-order": Case(
        [verification(0 * DAY, "passed"), verification(0 * DAY, "failed"), advance(30 * DAY)],
        [(FREEZE_V, 0 * DAY)],
        {"a": "active"},
    ),
    # --- the horizon: events more than the longest window (180 days) behind the clock
    "a-rumour-exactly-at-the-horizon-still-counts": Case(
        [flag(0 * DAY, "c1"), flag(180 * DAY, "c2"), flag(0 * DAY, "c3")],
        [(FREEZE_R, 0 * DAY)],
        {"a": "active"},
    ),
    "rumours-beyond-the-horizon-are-recorded-but-not-counted": Case(
        [advance(400 * DAY), flag(0 * DAY, "c1"), flag(10 * DAY, "c2")], [], {"a": "active"}
    ),
    "a-failure-beyond-the-horizon-freezes-but-starts-no-deadline": Case(
        [advance(400 * DAY), verification(0 * DAY, "failed"), advance(500 * DAY)],
        [(FREEZE_V, 0 * DAY)],
        {"a": "frozen"},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_default_history_rules(case: Case) -> None:
    """The default pack's window and deadline rules decide exactly the expected decisions."""
    with Engine(RULESET, SQLiteStore(), max_lead=None) as engine:  # cases reach 2027
        decided, statuses = run_case(case, engine)

    assert decided == case.decisions
    assert statuses == case.status


def test_a_window_decision_names_its_events_and_count() -> None:
    """The evidence of a window decision is the events in the window; the trace shows the count."""
    with Engine(RULESET, SQLiteStore()) as engine:
        for index, at in enumerate((0, 10, 20)):
            outcome = engine.process(flag_event(at * DAY, f"f{index}", f"c{index}"))
    (decision,) = outcome.decisions
    assert decision.evidence == ("f0", "f1", "f2")
    assert decision.matched[0].rule_id == BLACKLIST_R
    window = decision.matched[0].conditions[-1]
    assert window.field == "distinct content_id within 180d"
    assert (window.op, window.expected, window.seen, window.result) == ("gte", 3, 3, True)


def test_a_deadline_decision_names_its_anchor_and_comes_with_the_clock() -> None:
    """The cancel names the freeze it counted from, and arrives in the outcome of the event
    (of another account) that moved the clock past the deadline."""
    with Engine(RULESET, SQLiteStore()) as engine:
        (freeze,) = engine.process(
            event("identity_verification", "a", 0 * DAY, "v1", status="failed")
        ).decisions
        outcome = engine.process(event("registration", "b", 16 * DAY, "r1"))

    (cancel,) = outcome.decisions
    assert (cancel.account_id, cancel.rule_id, cancel.anchor) == ("a", CANCEL_V, freeze.decision_id)
    assert cancel.evidence == ("v1",)
    assert cancel.effective_at == T0 + 15 * DAY
    assert outcome.account_id == "b"


@pytest.mark.parametrize("how", ["lift", "appeal"])
def test_a_reversed_freeze_starts_no_cancel(how: str) -> None:
    """A freeze lifted by a reviewer or overturned on appeal voids the deadline it started."""
    with Engine(RULESET, SQLiteStore()) as engine:
        (freeze,) = engine.process(
            event("identity_verification", "a", 0 * DAY, "v1", status="failed")
        ).decisions
        if how == "lift":
            undo = event(
                "review_decision",
                "a",
                2 * DAY,
                "x1",
                reviewer_id="rev",
                action="lift",
                decision_id=freeze.decision_id,
                reason="Checked by hand.",
            )
        else:
            undo = event(
                "appeal_outcome",
                "a",
                2 * DAY,
                "x1",
                decision_id=freeze.decision_id,
                outcome="overturned",
                reviewer_id="rev",
            )
        assert engine.process(undo).accepted
        outcome = engine.advance_to(T0 + 30 * DAY)

        assert outcome.decisions == ()
        assert engine.status("a") == "active"
        assert [d.state for d in engine.store.deadlines_of("a")] == ["void"]


def test_shuffled_events_give_the_same_final_status() -> None:
    """A fixed mixed workload, in time order and in 20 shuffled orders: same final statuses."""
    rng = random.Random(3)
    steps = []
    for account in "abcdef":
        for _ in range(6):
            at = timedelta(days=rng.randint(0, 170), seconds=rng.randint(0, 86_399))
            if rng.random() < 0.5:
                steps.append(flag(at, f"c{rng.randint(1, 4)}", account=account))
            else:
                steps.append(report(at, f"r{rng.randint(1, 4)}", account=account))
    ordered = sorted(steps, key=lambda step: step[2])

    def final(order: list[tuple[str, str, timedelta, dict[str, Any]]]) -> dict[str, str]:
        case = Case([*order, advance(400 * DAY)], [], dict.fromkeys("abcdef", ""))
        with Engine(RULESET, SQLiteStore(), max_lead=None) as engine:  # 400 days on
            return run_case(case, engine)[1]

    expected = final(ordered)
    assert len(set(expected.values())) > 1  # the workload is not trivially all one status
    for _ in range(20):
        rng.shuffle(steps)
        assert final(steps) == expected


def test_history_is_pruned_once_no_window_can_reach_it(tmp_path: Path) -> None:
    """Stream rows older than the horizon plus their span go; newer ones stay; an unpruned engine
    keeps them all."""
    sizes = {}
    for prune in (True, False):
        store = SQLiteStore(tmp_path / f"{prune}.db")
        with Engine(RULESET, store, prune=prune, max_lead=None) as engine:  # 400 days on
            for day in range(0, 400, 10):
                engine.process(flag_event(day * DAY, f"f{day}", "c"))
        with sqlite3.connect(tmp_path / f"{prune}.db") as db:
            sizes[prune] = [row[0] for row in db.execute("SELECT occurred_us FROM history")]
    assert len(sizes[False]) == 40
    assert 0 < len(sizes[True]) < 40
    # The clock ended at day 390; the rumour stream's span and the horizon are both 180 days:
    # every row of the last 360 days must stay.
    reachable = T0_US + (390 - 360) * DAY // timedelta(microseconds=1)
    assert set(sizes[True]) >= {t for t in sizes[False] if t > reachable}


T0_US = int(T0.timestamp()) * 1_000_000


def flag_event(at: timedelta, event_id: str, content: str, account: str = "a") -> dict[str, Any]:
    """The event of `flag(...)`: a fact-checked malicious rumour."""
    kind, account, at, fields = flag(at, content, account=account)
    return event(kind, account, at, event_id, **fields)


NO_RUMOUR_RULES = """
id: cancel-forged
version: 1
description: Forged documents cancel.
basis: Test basis.
on: identity_verification
when: {status: failed, reason: forged_document}
then: {action: cancel, reason: Forged.}
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def test_a_window_rule_added_later_counts_events_already_in_the_db(tmp_path: Path) -> None:
    """A db filled under a pack without rumour rules: once the default pack opens it, a rumour
    already in the log counts with a new one."""
    db = tmp_path / "state.db"
    with Engine.from_path(write_rule(tmp_path / "old", "r", NO_RUMOUR_RULES), db) as engine:
        engine.process(flag_event(0 * DAY, "f1", "c1"))
    with Engine(RULESET, SQLiteStore(db)) as engine:
        (decision,) = engine.process(flag_event(5 * DAY, "f2", "c2")).decisions
    assert (decision.rule_id, decision.evidence) == (FREEZE_R, ("f1", "f2"))


def test_state_and_pending_deadlines_survive_a_restart(tmp_path: Path) -> None:
    """A deadline started in one engine passes in the next one over the same db."""
    db = tmp_path / "state.db"
    with Engine(RULESET, SQLiteStore(db)) as engine:
        engine.process(event("identity_verification", "a", 0 * DAY, "v1", status="failed"))
        engine.process(flag_event(1 * DAY, "f1", "c1", account="b"))
    with Engine(RULESET, SQLiteStore(db)) as engine:
        outcome = engine.process(flag_event(16 * DAY, "f2", "c2", account="b"))
        assert {(d.account_id, d.rule_id) for d in outcome.decisions} == {
            ("a", CANCEL_V),
            ("b", FREEZE_R),
        }
        assert (engine.status("a"), engine.status("b")) == ("cancelled", "frozen")


def test_a_failed_evaluation_leaves_no_history_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The third report fills a window, durable-rules disagrees: the event fails, its history row
    goes with it, and the retry decides as if nothing had happened."""
    with Engine(RULESET, SQLiteStore()) as engine:
        for index, reporter in enumerate(("r1", "r2")):
            engine.process(
                event(
                    "impersonation_report",
                    "a",
                    index * DAY,
                    f"p{index}",
                    reporter_id=reporter,
                    confirmed=False,
                )
            )
        third = event("impersonation_report", "a", 2 * DAY, "p2", reporter_id="r3", confirmed=False)
        before = engine.store.history_size()
        monkeypatch.setattr(engine._matcher, "match", lambda snapshot: [])
        with pytest.raises(EvaluationError, match="disagree"):
            engine.process(third)
        assert engine.store.history_size() == before
        monkeypatch.undo()
        (decision,) = engine.process(third).decisions
        assert (decision.rule_id, decision.evidence) == (FREEZE_I, ("p0", "p1", "p2"))
        assert engine.store.history_size() == before + 1


def test_a_failure_while_the_clock_moves_undoes_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """`advance_to` is all or nothing: a deadline that fails to evaluate leaves the clock, the
    statuses and every deadline as they were, is recorded, and the retry decides them all."""
    with Engine(RULESET, SQLiteStore()) as engine:
        for index, account in enumerate("ab"):
            engine.process(
                event("identity_verification", account, index * DAY, f"v{index}", status="failed")
            )
        clock = engine.clock
        calls = []

        def fail_second(
            core: Core, what: str, snapshot: dict[str, Any], expected: list[str]
        ) -> None:
            calls.append(what)
            if len(calls) == 2:
                raise EvaluationError("boom")

        monkeypatch.setattr(Core, "agree", fail_second)
        with pytest.raises(EvaluationError, match="boom"):
            engine.advance_to(T0 + 30 * DAY)
        assert engine.clock == clock
        assert (engine.status("a"), engine.status("b")) == ("frozen", "frozen")
        assert [d.state for d in engine.deadlines("a") + engine.deadlines("b")] == [
            "pending",
            "pending",
        ]
        failed = [r for r in engine.audit_records() if r.kind == "evaluation_failed"]
        assert len(failed) == 1
        monkeypatch.undo()
        moved = engine.advance_to(T0 + 30 * DAY)
        assert [(d.account_id, d.rule_id) for d in moved.decisions] == [
            ("a", CANCEL_V),
            ("b", CANCEL_V),
        ]
        assert (engine.status("a"), engine.status("b")) == ("cancelled", "cancelled")


SHADOW_WINDOW = """
id: shadow-one-rumour-blacklists
version: 1
description: Trial - a single fact-checked rumour within 90 days blacklists.
basis: Test basis.
on: rumor_flag
when: {verdict: malicious_rumor}
window: {count: 1, within: 90d}
then: {action: blacklist, reason: Trial.}
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""

SHADOW_DEADLINE = """
id: shadow-cancel-after-3-days
version: 1
description: Trial - cancel 3 days after a failed-verification freeze.
basis: Test basis.
deadline:
  after: {decision: freeze-failed-verification}
  within: 3d
  unless: {on: identity_verification, when: {status: passed}}
then: {action: cancel, reason: Trial.}
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def test_shadow_window_and_deadline_rules_decide_but_never_act(tmp_path: Path) -> None:
    """A shadow window rule and a shadow deadline rule record shadow decisions beside the
    enforced ones; statuses follow only the enforced pack."""
    pack = default_pack_with(tmp_path / "pack", w=SHADOW_WINDOW, d=SHADOW_DEADLINE)
    with Engine.from_path(pack) as engine:
        flagged = engine.process(flag_event(0 * DAY, "f1", "c1"))
        engine.process(event("identity_verification", "b", 1 * DAY, "v1", status="failed"))
        moved = engine.advance_to(T0 + 10 * DAY)

        assert [(d.rule_id, d.mode) for d in flagged.decisions] == [
            ("shadow-one-rumour-blacklists", "shadow")
        ]
        assert [(d.account_id, d.rule_id, d.mode) for d in moved.decisions] == [
            ("b", "shadow-cancel-after-3-days", "shadow")
        ]
        assert moved.decisions[0].effective_at == T0 + 4 * DAY
        assert (engine.status("a"), engine.status("b")) == ("active", "frozen")
