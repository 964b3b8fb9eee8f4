"""The engine on the default pack and on small packs: decisions, statuses, reversals, audit."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine, EvaluationError, EventError, Status, iter_jsonl
from blacklist_rules.engine import default_rules_path
from blacklist_rules.engine import record as recording

from .support import (
    RUMOR_FREEZE_30D,
    SHADOW_REPORT_FREEZE,
    EventFactory,
    final_status,
    write_rule,
)

PROVEN_FAKE = ("forged_document", "identity_of_another_person", "invalid_id_number")


def test_failed_verification_freezes_until_a_passed_one(
    engine: Engine, make_event: EventFactory
) -> None:
    """Failed check → freeze with end condition; a passed check ends it and restores active."""
    out = engine.process(
        make_event("identity_verification", "a", status="failed", reason="name_id_mismatch")
    )
    (decision,) = out.decisions
    assert decision.action == "freeze"
    assert decision.rule_id == "freeze-failed-verification"
    assert decision.end_condition == "verification_passed"
    assert decision.expires_at is None
    assert (decision.status_before, decision.status_after) == ("active", "frozen")
    assert engine.status("a") == Status.FROZEN
    out = engine.process(make_event("identity_verification", "a", days=2, status="passed"))
    assert out.decisions == ()
    assert [(c.status_before, c.status_after) for c in out.status_changes] == [("frozen", "active")]
    assert engine.status("a") == "active"
    assert engine.standing("a") == []


@pytest.mark.parametrize("reason", PROVEN_FAKE)
def test_proven_fake_identity_cancels_and_lists_every_matching_rule(
    engine: Engine, make_event: EventFactory, reason: str
) -> None:
    """The most severe action wins; the decision keeps the freeze rule that also matched."""
    out = engine.process(make_event("identity_verification", "a", status="failed", reason=reason))
    (decision,) = out.decisions
    assert decision.action == "cancel"
    assert decision.rule_id == "cancel-proven-fake-identity"
    assert [m.rule_id for m in decision.matched] == [
        "cancel-proven-fake-identity",
        "freeze-failed-verification",
    ]
    traces = {(t.field, t.op): t for t in decision.matched[0].conditions}
    assert traces["reason", "in"].seen == reason
    assert traces["reason", "in"].result is True
    assert engine.status("a") == "cancelled"


def test_registration_with_failed_check_is_judged_like_a_verification(
    engine: Engine, make_event: EventFactory
) -> None:
    """A registration carrying a failed forged-document check is cancelled at once."""
    out = engine.process(
        make_event(
            "registration",
            "a",
            identity={"phone": "13800138000"},
            verification={"status": "failed", "reason": "forged_document"},
        )
    )
    assert [(d.action, d.rule_id) for d in out.decisions] == [
        ("cancel", "cancel-proven-fake-registration")
    ]


def test_confirmed_impersonation_blacklists_and_unconfirmed_does_not(
    engine: Engine, make_event: EventFactory
) -> None:
    """Only a reviewer-confirmed report blacklists."""
    out = engine.process(make_event("impersonation_report", "a", reporter_id="r1", confirmed=False))
    assert out.decisions == ()
    out = engine.process(make_event("impersonation_report", "a", reporter_id="r2", confirmed=True))
    assert [d.action for d in out.decisions] == ["blacklist"]
    assert engine.status("a") == "blacklisted"


def test_automation_never_lowers_a_status(engine: Engine, make_event: EventFactory) -> None:
    """A freeze rule firing on a cancelled account gives no decision and keeps the status."""
    engine.process(
        make_event("identity_verification", "a", status="failed", reason="forged_document")
    )
    out = engine.process(
        make_event("identity_verification", "a", days=1, status="failed", reason="name_id_mismatch")
    )
    assert out.decisions == ()
    assert engine.status("a") == "cancelled"


def test_human_review_decides_and_lift_reverses(engine: Engine, make_event: EventFactory) -> None:
    """A reviewer's freeze is a decision; a lift naming it reverses it and recomputes status."""
    out = engine.process(
        make_event(
            "review_decision", "a", reviewer_id="rev", action="freeze", reason="manual check"
        )
    )
    (decision,) = out.decisions
    assert (decision.rule_id, decision.action, engine.status("a")) == (
        "human-review",
        "freeze",
        "frozen",
    )
    out = engine.process(
        make_event(
            "review_decision",
            "a",
            days=1,
            reviewer_id="rev",
            action="lift",
            decision_id=decision.decision_id,
            reason="documents checked",
        )
    )
    assert engine.status("a") == "active"
    assert [c.status_after for c in out.status_changes] == ["active"]
    kinds = [r.kind for r in engine.audit_records("a")]
    assert kinds == [
        "decision",
        "status_change",
        "reversal",
        "evidence_withdrawn",
        "status_change",
    ]


def test_lift_without_decision_id_reverses_everything_standing(
    engine: Engine, make_event: EventFactory
) -> None:
    """`lift` with no decision named clears every standing decision of the account."""
    engine.process(make_event("identity_verification", "a", status="failed", reason="x"))
    engine.process(make_event("impersonation_report", "a", reporter_id="r", confirmed=True))
    assert len(engine.standing("a")) == 2
    engine.process(
        make_event(
            "review_decision", "a", days=1, reviewer_id="rev", action="lift", reason="cleared"
        )
    )
    assert engine.standing("a") == []
    assert engine.status("a") == "active"


def test_appeal_overturned_reverses_and_upheld_is_recorded(
    engine: Engine, make_event: EventFactory
) -> None:
    """Appeals name a decision; overturned reverses it, upheld only leaves a record."""
    (cancel,) = engine.process(
        make_event("identity_verification", "a", status="failed", reason="forged_document")
    ).decisions
    out = engine.process(
        make_event(
            "appeal_outcome",
            "a",
            days=1,
            decision_id=cancel.decision_id,
            outcome="upheld",
            reviewer_id="rev",
        )
    )
    assert out.accepted
    assert engine.status("a") == "cancelled"
    out = engine.process(
        make_event(
            "appeal_outcome",
            "a",
            days=2,
            decision_id=cancel.decision_id,
            outcome="overturned",
            reviewer_id="rev2",
        )
    )
    assert out.accepted
    assert engine.status("a") == "active"
    again = engine.process(
        make_event(
            "appeal_outcome",
            "a",
            days=3,
            decision_id=cancel.decision_id,
            outcome="overturned",
            reviewer_id="rev3",
        )
    )
    assert again.rejection is not None
    assert "already reversed" in again.rejection.reason
    kinds = [r.kind for r in engine.audit_records("a")]
    assert kinds.count("appeal_upheld") == 1
    assert kinds.count("reversal") == 1


def test_appeal_naming_an_unknown_or_foreign_decision_is_rejected_and_recorded(
    engine: Engine, make_event: EventFactory
) -> None:
    """A decision id that does not exist, or belongs to another account, is refused."""
    (cancel,) = engine.process(
        make_event("identity_verification", "a", status="failed", reason="forged_document")
    ).decisions
    for account, wanted in (("a", "d-unknown"), ("b", cancel.decision_id)):
        out = engine.process(
            make_event(
                "appeal_outcome",
                account,
                decision_id=wanted,
                outcome="overturned",
                reviewer_id="rev",
            )
        )
        assert out.rejection is not None
        assert out.rejection.path == "decision_id"
    assert engine.status("a") == "cancelled"
    rejected = [r for r in engine.audit_records() if r.kind == "rejected_event"]
    assert [r.record["account_id"] for r in rejected] == ["a", "b"]


def test_a_repeated_event_is_ignored_and_a_conflicting_one_rejected(
    engine: Engine, make_event: EventFactory
) -> None:
    """Same id and content: a duplicate, nothing changes. Same id, other content: rejected."""
    first = make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
    engine.process(first)
    records = len(list(engine.audit_records()))
    out = engine.process(dict(first))
    assert out.duplicate
    assert out.decisions == ()
    assert len(list(engine.audit_records())) == records
    out = engine.process({**first, "reporter_id": "someone-else"})
    assert out.rejection is not None
    assert out.rejection.path == "event_id"
    assert len(engine.decisions("a")) == 1


def test_freeze_with_duration_ends_when_event_time_passes_it(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """The event that moves the clock past a freeze's end carries the status change."""
    rules = write_rule(tmp_path / "rules", "rumor", RUMOR_FREEZE_30D)
    with Engine.from_path(rules) as engine:
        out = engine.process(
            make_event(
                "rumor_flag", "a", content_id="c1", verdict="malicious_rumor", source="fact_check"
            )
        )
        (freeze,) = out.decisions
        assert freeze.expires_at is not None
        assert (freeze.expires_at - freeze.effective_at).days == 30
        out = engine.process(make_event("registration", "other", days=29))
        assert engine.status("a") == "frozen"
        assert out.status_changes == ()
        out = engine.process(make_event("registration", "other", days=31))
        assert [(c.account_id, c.status_after) for c in out.status_changes] == [("a", "active")]
        assert out.status_changes[0].at == freeze.expires_at
        assert engine.status("a") == "active"


def test_a_late_freeze_already_over_ends_at_once(tmp_path: Path, make_event: EventFactory) -> None:
    """A freeze whose end is already behind the clock is recorded, then ends in the same outcome."""
    rules = write_rule(tmp_path / "rules", "rumor", RUMOR_FREEZE_30D)
    with Engine.from_path(rules) as engine:
        engine.process(make_event("registration", "other", days=100))
        out = engine.process(
            make_event(
                "rumor_flag",
                "a",
                days=1,
                content_id="c1",
                verdict="malicious_rumor",
                source="authority_notice",
            )
        )
        assert [d.action for d in out.decisions] == ["freeze"]
        assert [c.status_after for c in out.status_changes] == ["frozen", "active"]
        assert engine.status("a") == "active"


def test_shadow_rules_decide_but_never_change_status(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """A shadow decision is returned and recorded with mode shadow; the status stays."""
    rules = write_rule(tmp_path / "rules", "shadow", SHADOW_REPORT_FREEZE)
    with Engine.from_path(rules) as engine:
        out = engine.process(
            make_event("impersonation_report", "a", reporter_id="r", confirmed=False)
        )
        (decision,) = out.decisions
        assert (decision.mode, decision.action, decision.status_after) == (
            "shadow",
            "freeze",
            "active",
        )
        assert engine.status("a") == "active"
        assert out.status_changes == ()
        assert [d.mode for d in engine.decisions("a")] == ["shadow"]


def test_state_and_audit_survive_reopening_the_db(tmp_path: Path, make_event: EventFactory) -> None:
    """A real SQLite file keeps status, decisions, the clock and the audit trail."""
    db = tmp_path / "state.db"
    with Engine.from_path(db=db) as engine:
        with engine.batch():
            engine.process(
                make_event("impersonation_report", "a", days=5, reporter_id="r", confirmed=True)
            )
        clock = engine.clock
    with Engine.from_path(db=db) as engine:
        assert engine.status("a") == "blacklisted"
        assert engine.clock == clock
        (decision,) = engine.decisions("a")
        assert decision.matched[0].conditions[0].seen is True
        record = next(r for r in engine.audit_records("a") if r.kind == "decision")
        assert record.record["ruleset_digest"] == engine.digest
        assert record.occurred_at
        assert record.recorded_at


def test_a_rule_that_fails_to_evaluate_is_never_an_allow(
    engine: Engine, make_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When durable-rules and the guard disagree, the event fails, is recorded, can be retried."""
    monkeypatch.setattr(engine._matcher, "match", lambda snapshot: [])
    ev = make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
    with pytest.raises(EvaluationError, match="disagree"):
        engine.process(ev)
    failed = [r for r in engine.audit_records() if r.kind == "evaluation_failed"]
    assert [r.event_id for r in failed] == [ev["event_id"]]
    monkeypatch.undo()
    out = engine.process(ev)  # not remembered as processed: the retry decides
    assert [d.action for d in out.decisions] == ["blacklist"]


def test_run_raises_a_failure_unless_asked_for_outcomes(
    engine: Engine, make_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a run, as in `process`, a failed evaluation raises `EvaluationError` naming the event;
    with `failures="outcome"` it is an outcome with `failure` and `ok` False, and later events
    still run."""

    def broken(snapshot: object) -> list[str]:
        raise EvaluationError("boom")

    monkeypatch.setattr(engine._matcher, "match", broken)
    events = [
        make_event("impersonation_report", "a", reporter_id="r", confirmed=True),
        make_event("registration", "b"),
    ]
    with pytest.raises(EvaluationError, match="boom") as info:
        list(engine.run(events))
    assert (info.value.event_id, info.value.account_id) == (events[0]["event_id"], "a")
    outcomes = list(engine.run(events, failures="outcome"))
    assert outcomes[0].failure is not None
    assert not outcomes[0].ok
    assert outcomes[0].event_id == events[0]["event_id"]
    assert outcomes[1].accepted
    assert outcomes[1].ok


def test_default_pack_is_found_and_loads() -> None:
    """The packaged default pack has a rule for each row of DESIGN §1, and the shadow rules on
    one identity behind many accounts and on unverified virtual-operator numbers."""
    assert default_rules_path().is_dir()
    with Engine.from_path() as engine:
        assert sorted(r.id for r in engine.ruleset.rules) == [
            "blacklist-confirmed-impersonation",
            "blacklist-repeated-malicious-rumours",
            "blacklist-returning-identity",
            "cancel-after-repeated-rumour-freezes",
            "cancel-proven-fake-identity",
            "cancel-proven-fake-registration",
            "cancel-unverified-after-freeze",
            "freeze-failed-registration-verification",
            "freeze-failed-verification",
            "freeze-repeated-malicious-rumours",
            "freeze-shared-id-number",
            "freeze-suspected-impersonation",
            "freeze-virtual-operator-unverified",
        ]


def test_two_versions_of_a_pack_run_side_by_side(tmp_path: Path, make_event: EventFactory) -> None:
    """Two engines with different packs in one process keep their own rules."""
    changed = tmp_path / "rules"
    shutil.copytree(default_rules_path(), changed)
    target = changed / "impersonation" / "blacklist-confirmed-impersonation.yaml"
    target.write_text(target.read_text().replace("action: blacklist", "action: cancel"))
    with Engine.from_path() as old, Engine.from_path(changed) as new:
        assert old.digest != new.digest
        ev = make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
        assert [d.action for d in old.process(ev).decisions] == ["blacklist"]
        assert [d.action for d in new.process(ev).decisions] == ["cancel"]


def test_a_resend_formatted_differently_is_still_a_duplicate(engine: Engine) -> None:
    """Lines are stored as received; a resend with other key order or spacing is a duplicate."""
    first = (
        '{"event_id":"x1","type":"rumor_flag","account_id":"a",'
        '"occurred_at":"2026-01-01T00:00:00Z","content_id":"c","verdict":"rumor",'
        '"source":"user_report","note":"kept"}'
    )
    resend = (
        '{ "source": "user_report", "verdict": "rumor", "content_id": "c", "note": "kept",'
        ' "occurred_at": "2026-01-01T00:00:00+00:00", "account_id": "a", "type": "rumor_flag",'
        ' "event_id": "x1" }'
    )
    clash = first.replace('"rumor"', '"not_rumor"')
    outcomes = list(engine.run(iter_jsonl([first, resend, clash])))
    assert outcomes[0].accepted
    assert outcomes[1].duplicate
    assert outcomes[2].rejection is not None
    assert outcomes[2].line == 3


def test_raw_identity_values_never_reach_the_db_file(tmp_path: Path) -> None:
    """Registration identities are used, never stored: not in events, audit or rejections."""
    secrets = {
        "id_number": "11010519491231002X",
        "name": "张三丰",
        "phone": "13912345678",
        "device_id": "dev-SECRET-42",
    }
    lines = [
        json.dumps(
            {
                "event_id": "r1",
                "type": "registration",
                "account_id": "a",
                "occurred_at": "2026-01-01T00:00:00Z",
                "identity": secrets,
                "verification": {"status": "failed", "reason": "forged_document"},
            },
            ensure_ascii=False,
        ),
        json.dumps(
            {
                "event_id": "r2",
                "type": "registration",
                "account_id": "b",
                "occurred_at": "2026-01-01T00:00:00Z",
                "identity": {**secrets, "phone": 13912345678},
            },
            ensure_ascii=False,
        ),
    ]
    db = tmp_path / "state.db"
    with Engine.from_path(db=db) as engine:
        outcomes = list(engine.run(iter_jsonl(lines)))
    assert outcomes[0].decisions
    assert outcomes[1].rejection is not None
    assert "13912345678" not in str(outcomes[1].rejection)
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    for value in secrets.values():
        assert value.encode() not in stored, value


REVIEW_RULE = """
id: cancel-on-review-cancel
version: 1
description: Mirrors a reviewer's cancel (to test one decision per event).
basis: Test basis.
on: review_decision
when:
  action: freeze
then:
  action: cancel
  reason: Mirror.
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def test_a_reviewers_decision_is_the_events_only_enforced_decision(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """A rule that also fires on a review event gives no second decision for that event."""
    rules = write_rule(tmp_path / "rules", "review", REVIEW_RULE)
    with Engine.from_path(rules) as engine:
        out = engine.process(
            make_event("review_decision", "a", reviewer_id="rev", action="freeze", reason="manual")
        )
        assert [(d.rule_id, d.action) for d in out.decisions] == [("human-review", "freeze")]
        assert engine.status("a") == "frozen"


def test_a_crash_inside_one_event_undoes_only_that_event(
    tmp_path: Path, make_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error mid-batch: earlier events stay, the failure is recorded, memory and
    db agree, and the same event succeeds when retried."""
    db = tmp_path / "state.db"
    with Engine.from_path(db=db) as engine:
        first = make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
        second = make_event("impersonation_report", "b", reporter_id="r", confirmed=True)
        original = recording.record_decision

        def crash_on_b(core: Any, ctx: Any, decision: Any, event_id: str) -> None:
            original(core, ctx, decision, event_id)
            if decision.account_id == "b":
                raise RuntimeError("disk on fire")

        monkeypatch.setattr(recording, "record_decision", crash_on_b)
        outcomes = list(engine.run([first, second], failures="outcome"))
        assert outcomes[0].accepted
        assert outcomes[1].failure is not None
        assert "disk on fire" in str(outcomes[1].failure)
        assert engine.status("b") == "active"  # memory followed the db back
        monkeypatch.setattr(recording, "record_decision", original)
        assert [d.action for d in engine.process(second).decisions] == ["blacklist"]
    with Engine.from_path(db=db) as engine:
        assert (engine.status("a"), engine.status("b")) == ("blacklisted", "blacklisted")
        failed = [r for r in engine.audit_records() if r.kind == "evaluation_failed"]
        assert [r.account_id for r in failed] == ["b"]


def test_an_exception_in_the_callers_loop_loses_nothing(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """If the consumer fails, uncommitted events are dropped and run again next time: their
    outcomes are delivered at least once, never committed undelivered."""
    db = tmp_path / "state.db"
    events = [
        make_event("impersonation_report", f"acct-{n}", reporter_id="r", confirmed=True)
        for n in range(5)
    ]
    delivered: list[str] = []

    def consume() -> None:
        with Engine.from_path(db=db) as engine:
            engine.commit_every = 2
            for outcome in engine.run(events):
                if outcome.account_id == "acct-3":
                    raise KeyboardInterrupt  # before acct-3's decision reached anyone
                delivered.extend(d.account_id for d in outcome.decisions)

    with pytest.raises(KeyboardInterrupt):
        consume()
    assert delivered == ["acct-0", "acct-1", "acct-2"]
    with Engine.from_path(db=db) as engine:
        again = [d.account_id for o in engine.run(events) for d in o.decisions]
    assert "acct-3" in again
    assert "acct-4" in again
    assert "acct-0" not in again  # committed with its batch, once delivered


def test_the_store_keeps_the_text_of_every_rule_used(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """A regulator can read the exact rule files behind a digest; reading status writes nothing."""
    db = tmp_path / "state.db"
    with Engine.from_path(db=db) as engine:
        engine.process(make_event("impersonation_report", "a", reporter_id="r", confirmed=True))
        digest = engine.digest
    with Engine.from_path(db=db) as engine:
        engine.status("a")
    rows = sqlite3.connect(db).execute("SELECT digest, rules FROM rulesets").fetchall()
    assert [row[0] for row in rows] == [digest]
    rules = {rule["id"]: rule for rule in json.loads(rows[0][1])}
    source = default_rules_path() / "impersonation" / "blacklist-confirmed-impersonation.yaml"
    assert rules["blacklist-confirmed-impersonation"]["text"] == source.read_text()


def test_advance_to_ends_freezes_without_an_event(tmp_path: Path, make_event: EventFactory) -> None:
    """`advance_to` moves event time; freezes whose time is up end; the clock never goes back."""
    rules = write_rule(tmp_path / "rules", "rumor", RUMOR_FREEZE_30D)
    with Engine.from_path(rules) as engine:
        (freeze,) = engine.process(
            make_event(
                "rumor_flag", "a", content_id="c", verdict="malicious_rumor", source="fact_check"
            )
        ).decisions
        assert freeze.expires_at is not None
        assert engine.advance_to("2026-03-15T00:00:00Z").status_changes == ()
        assert engine.status("a") == "frozen"
        (change,) = engine.advance_to(freeze.expires_at.isoformat()).status_changes
        assert (change.account_id, change.status_after, change.at) == (
            "a",
            "active",
            freeze.expires_at,
        )
        assert change.event_id is None
        engine.advance_to("2026-01-01T00:00:00Z")
        assert engine.clock == freeze.expires_at
        with pytest.raises(EventError, match="RFC 3339"):
            engine.advance_to("next tuesday")


def test_freezes_end_at_the_same_instant_whatever_the_events_offset(tmp_path: Path) -> None:
    """Regression: expiry compared local-offset text with UTC text, so +08:00 freezes ended
    8 hours late and -05:00 ones vanished from `standing` early."""
    rules = write_rule(tmp_path / "rules", "rumor", RUMOR_FREEZE_30D)
    with Engine.from_path(rules) as engine:
        for account, moment in (
            ("east", "2026-03-01T16:00:00+08:00"),
            ("west", "2026-03-01T03:00:00-05:00"),
        ):
            engine.process(
                {
                    "event_id": account,
                    "type": "rumor_flag",
                    "account_id": account,
                    "occurred_at": moment,
                    "content_id": "c",
                    "verdict": "malicious_rumor",
                    "source": "fact_check",
                }
            )
        engine.advance_to("2026-03-31T07:59:59Z")
        assert [len(engine.standing(a)) for a in ("east", "west")] == [1, 1]
        changes = engine.advance_to("2026-03-31T08:00:00Z").status_changes
        assert sorted(c.account_id for c in changes) == ["east", "west"]
        assert (engine.status("east"), engine.status("west")) == ("active", "active")


def test_a_late_passed_verification_does_not_end_a_later_freeze(make_event: EventFactory) -> None:
    """Regression: a check that passed before the freeze is not the one that ends it."""
    passed = make_event("identity_verification", "a", days=1, status="passed")
    failed = make_event("identity_verification", "a", days=5, status="failed", reason="x")
    for order in ([passed, failed], [failed, passed]):
        assert final_status(order, "a") == "frozen", order


def test_lift_all_is_one_status_change_and_spares_later_decisions(
    make_event: EventFactory,
) -> None:
    """Regressions: lifting everything went cancelled → frozen → active in two records, and a
    late lift reversed decisions taken after it."""
    with Engine.from_path() as engine:
        engine.process(
            make_event(
                "identity_verification", "a", days=1, status="failed", reason="forged_document"
            )
        )
        engine.process(
            make_event(
                "review_decision", "a", days=2, reviewer_id="r", action="freeze", reason="hold"
            )
        )
        out = engine.process(
            make_event(
                "review_decision", "a", days=3, reviewer_id="r", action="lift", reason="cleared"
            )
        )
        assert [(c.status_before, c.status_after) for c in out.status_changes] == [
            ("cancelled", "active")
        ]
    freeze = make_event(
        "review_decision", "b", days=1, reviewer_id="r", action="freeze", reason="hold"
    )
    lift = make_event(
        "review_decision", "b", days=2, reviewer_id="r", action="lift", reason="cleared"
    )
    report = make_event("impersonation_report", "b", days=5, reporter_id="x", confirmed=True)
    for order in ([freeze, lift, report], [freeze, report, lift]):
        assert final_status(order, "b") == "blacklisted", order


def test_a_late_failed_verification_is_ended_by_a_passed_one_already_seen(
    make_event: EventFactory,
) -> None:
    """Failed on day 1, passed on day 5: active in whatever order they arrive; the late freeze
    is recorded and ends at the passed check's time."""
    failed = make_event("identity_verification", "a", days=1, status="failed", reason="x")
    passed = make_event("identity_verification", "a", days=5, status="passed")
    for order in ([failed, passed], [passed, failed]):
        with Engine.from_path() as engine:
            outcomes = list(engine.run(order))
            assert engine.status("a") == "active", order
            assert [d.action for d in engine.decisions("a")] == ["freeze"]
    late = outcomes[1]
    assert [(c.status_before, c.status_after) for c in late.status_changes] == [
        ("active", "frozen"),
        ("frozen", "active"),
    ]
    assert late.status_changes[1].at == datetime.fromisoformat(passed["occurred_at"])


def test_malformed_lines_are_recognised_by_their_text_on_a_rerun(tmp_path: Path) -> None:
    """Four different lines failing with the same message are four records, and a rerun over
    the file records none again (lines were once told apart by their error message only)."""
    lines = tmp_path / "bad.jsonl"
    lines.write_text("".join(f'{{"event_id": "e{n}", "type": "rumor_flag"}}\n' for n in range(4)))
    for _ in range(2):
        with Engine.from_path(db=tmp_path / "s.db") as engine:
            outcomes = list(engine.run(iter_jsonl(lines)))
            assert all(o.rejection is not None for o in outcomes)
    with Engine.from_path(db=tmp_path / "s.db") as engine:
        kinds = [r.kind for r in engine.audit_records()]
    assert kinds.count("rejected_event") == 4


def test_a_deadline_due_that_nothing_acts_on_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """A pending deadline stored as 1768521600000000.5 µs (a hand-edited db) reads as due at
    16 January 00:00 but is not `<=` that clock: the clock loop would find nothing to do and
    spin forever. It raises EvaluationError instead (mutants `due_us <= ?` -> `<` and
    `expires_at <= ?` -> `<` hang the same way)."""
    db = tmp_path / "state.db"

    def at(day: int, event_id: str, **fields: Any) -> dict[str, Any]:
        moment = f"2026-01-{day:02d}T00:00:00Z"
        return {"event_id": event_id, "account_id": "acct", "occurred_at": moment, **fields}

    failed = at(1, "e1", type="identity_verification", status="failed", reason="name_id_mismatch")
    with Engine.from_path(None, db=db, max_lead=None, create_key=True) as engine:
        engine.process(failed)
    with sqlite3.connect(db) as connection:
        (due,) = connection.execute("SELECT due_us FROM deadlines").fetchone()
        connection.execute("UPDATE deadlines SET due_us = due_us + 0.5")
    assert due == 1768521600000000  # 16 January 2026, 00:00 UTC

    tick = at(
        16, "e2", type="rumor_flag", content_id="x", verdict="not_rumor", source="user_report"
    )
    with (
        Engine.from_path(None, db=db, max_lead=None) as engine,
        pytest.raises(EvaluationError) as info,
    ):
        engine.process(tick)
    assert "is due but nothing acts on it" in str(info.value)
