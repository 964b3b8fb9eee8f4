"""Decisions as data: ids, severities and the JSON form, through `blacklist_rules.model.decisions`.

Written for the mutants of model/decisions.py that the engine tests let through (see
bench/README.md, "Mutation testing"): the JSON form is what `run` prints and what the store keeps,
so every field must come back equal, and it must be plain JSON.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from blacklist_rules.model.decisions import (
    Action,
    ConditionTrace,
    Decision,
    DecisionRecord,
    Mode,
    ReEvaluation,
    Reversal,
    RuleMatch,
    ScheduledDeadline,
    Status,
    StatusChange,
    decision_from_dict,
    decision_id,
)

AT = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)


def _match(rule: str, *conditions: ConditionTrace) -> RuleMatch:
    return RuleMatch(rule, 2, Action.CANCEL, Mode.SHADOW, 7, f"{rule} held", conditions)


FULL = Decision(
    decision_id="d-1",
    account_id="acct-1",
    action=Action.CANCEL,
    rule_id="unverified",
    rule_version=3,
    ruleset_digest="abc123",
    evidence=("ev-1", "ev-2"),
    reason="not verified in time",
    mode=Mode.ENFORCE,
    effective_at=AT,
    expires_at=AT + timedelta(days=30),
    status_before=Status.FROZEN,
    status_after=Status.CANCELLED,
    end_condition="verified",
    matched=(
        _match(
            "first",
            ConditionTrace("verdict", "in", ["a", "b"], "a", True),
            ConditionTrace("score", "gte", 3, None, False),
        ),
        _match("second"),
    ),
    anchor="d-0",
)


def test_a_decision_id_is_the_first_24_hex_digits_of_its_inputs_hash() -> None:
    """Deterministic and fixed: the same event, account and mode always name one decision."""
    digest = hashlib.sha256(b"ev-1\x1facct-1\x1fenforce").hexdigest()
    assert decision_id("ev-1", "acct-1", "enforce") == f"d-{digest[:24]}"
    assert len(decision_id("ev-1", "acct-1", "shadow")) == 26


def test_a_decisions_json_form_is_plain_json_with_every_field() -> None:
    """Times as ISO 8601 text, evidence and matched rules as lists of plain objects."""
    data = FULL.to_dict()
    assert data == {
        "decision_id": "d-1",
        "account_id": "acct-1",
        "action": "cancel",
        "rule_id": "unverified",
        "rule_version": 3,
        "ruleset_digest": "abc123",
        "evidence": ["ev-1", "ev-2"],
        "reason": "not verified in time",
        "mode": "enforce",
        "effective_at": "2026-03-01T08:00:00.123456+00:00",
        "expires_at": "2026-03-31T08:00:00.123456+00:00",
        "status_before": "frozen",
        "status_after": "cancelled",
        "end_condition": "verified",
        "matched": [
            {
                "rule_id": "first",
                "rule_version": 2,
                "action": "cancel",
                "mode": "shadow",
                "priority": 7,
                "reason": "first held",
                "conditions": [
                    {
                        "field": "verdict",
                        "op": "in",
                        "expected": ["a", "b"],
                        "seen": "a",
                        "result": True,
                    },
                    {"field": "score", "op": "gte", "expected": 3, "seen": None, "result": False},
                ],
            },
            {
                "rule_id": "second",
                "rule_version": 2,
                "action": "cancel",
                "mode": "shadow",
                "priority": 7,
                "reason": "second held",
                "conditions": [],
            },
        ],
        "anchor": "d-0",
    }
    assert type(data["evidence"]) is list
    assert type(data["matched"][0]["conditions"]) is list
    json.dumps(data)  # nothing in it needs a custom encoder


def test_every_field_of_a_decision_survives_its_json_form() -> None:
    """`decision_from_dict` inverts `to_dict` through JSON text, for every field."""
    again = decision_from_dict(json.loads(json.dumps(FULL.to_dict())))
    assert again == FULL
    assert isinstance(again.action, Action)
    assert isinstance(again.matched[0].action, Action)
    assert isinstance(again.matched[0].mode, Mode)


def test_a_decision_without_an_end_is_read_back_without_one() -> None:
    """No expiry: `expires_at` is null in JSON and None again when read back."""
    plain = Decision(
        "d-2", "acct-2", Action.FREEZE, "r", 1, "abc", (), "why", Mode.SHADOW, AT, None,
        Status.ACTIVE, Status.FROZEN,
    )  # fmt: skip
    data = plain.to_dict()
    assert data["expires_at"] is None
    assert data["matched"] == []
    assert decision_from_dict(data) == plain


def test_a_record_written_before_matched_anchor_and_end_existed_reads_back() -> None:
    """Older stored records lack `matched`, `end_condition` and `anchor`: read as empty."""
    data = FULL.to_dict()
    for key in ("matched", "end_condition", "anchor"):
        del data[key]
    again = decision_from_dict(data)
    assert (again.matched, again.end_condition, again.anchor) == ((), None, None)


def test_a_status_changes_json_form_has_its_time_as_text() -> None:
    """Every field, the moment as ISO 8601."""
    change = StatusChange("a", Status.ACTIVE, Status.FROZEN, "decision", AT, "ev-1", "d-1")
    assert change.to_dict() == {
        "account_id": "a",
        "status_before": "active",
        "status_after": "frozen",
        "cause": "decision",
        "at": "2026-03-01T08:00:00.123456+00:00",
        "event_id": "ev-1",
        "decision_id": "d-1",
    }


def test_a_deadlines_json_form_has_its_times_as_text_in_order() -> None:
    """`Engine.deadlines` records: every field, start and due as ISO 8601, keys in field
    order (as `status --json` and `explain` print them)."""
    due = ScheduledDeadline("r", "d-1", AT, AT + timedelta(days=15), "pending")
    assert list(due.to_dict().items()) == [
        ("rule_id", "r"),
        ("anchor", "d-1"),
        ("starts_at", "2026-03-01T08:00:00.123456+00:00"),
        ("due_at", "2026-03-16T08:00:00.123456+00:00"),
        ("state", "pending"),
    ]


def test_a_reversal_says_whether_the_cascade_made_it() -> None:
    """`by_cascade` holds for the cascade's reversals only; the JSON form has every field."""
    person = Reversal("d-1", "a", "appeal_outcome", "ev-9")
    assert not person.by_cascade
    assert Reversal("d-1", "a", "cascade", "ev-9").by_cascade
    assert person.to_dict() == {
        "decision_id": "d-1",
        "account_id": "a",
        "by": "appeal_outcome",
        "by_event": "ev-9",
    }


@pytest.mark.parametrize(
    ("action", "severity", "status"),
    [
        (Action.FREEZE, 1, Status.FROZEN),
        (Action.CANCEL, 2, Status.CANCELLED),
        (Action.BLACKLIST, 3, Status.BLACKLISTED),
    ],
)
def test_each_action_has_its_severity_and_status(
    action: Action, severity: int, status: Status
) -> None:
    """freeze < cancel < blacklist, each leading to its status of the same severity."""
    assert action.severity == severity
    assert action.status is status
    assert status.severity == severity


def test_an_active_account_has_the_lowest_severity() -> None:
    """active is below every status an action leads to."""
    assert Status.ACTIVE.severity == 0


def test_a_decision_brought_back_by_the_cascade_was_decided_when_it_came_back() -> None:
    """`re_evaluated.decided_at` wins over `effective_at`; without it, `effective_at`."""
    record = DecisionRecord(FULL)
    assert record.decided_at == AT.isoformat()
    again = DecisionRecord(FULL, ReEvaluation("ap", ("d1",), "2026-04-01T00:00:00+00:00"))
    assert again.decided_at == "2026-04-01T00:00:00+00:00"
    assert DecisionRecord.from_dict(again.to_dict()) == again
