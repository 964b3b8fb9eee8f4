"""Decisions and statuses: the engine's output, as frozen attrs classes.

Actions and statuses are `StrEnum`s, so `decision.action == "freeze"` holds and they serialise
as plain strings. Severity orders both: freeze < cancel < blacklist, active < frozen < cancelled
< blacklisted.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs


class Action(StrEnum):
    FREEZE = "freeze"
    CANCEL = "cancel"
    BLACKLIST = "blacklist"

    @property
    def severity(self) -> int:
        return _ACTION_SEVERITY[self]

    @property
    def status(self) -> Status:
        return _STATUS_OF[self]


class Status(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CANCELLED = "cancelled"
    BLACKLISTED = "blacklisted"

    @property
    def severity(self) -> int:
        return _STATUS_SEVERITY[self]


class Mode(StrEnum):
    ENFORCE = "enforce"
    SHADOW = "shadow"


_ACTION_SEVERITY = {Action.FREEZE: 1, Action.CANCEL: 2, Action.BLACKLIST: 3}
_STATUS_SEVERITY = {Status.ACTIVE: 0, Status.FROZEN: 1, Status.CANCELLED: 2, Status.BLACKLISTED: 3}
_STATUS_OF = {
    Action.FREEZE: Status.FROZEN,
    Action.CANCEL: Status.CANCELLED,
    Action.BLACKLIST: Status.BLACKLISTED,
}

_PLAIN = frozenset({str, int, float, bool, type(None)})
"""Value types `attrs.asdict` returns as they are."""
CASCADE = "cascade"
"""How a decision that fell with what it depended on is marked reversed (`reversed_how`; a
person's reversal is marked with its event type)."""
HUMAN_REVIEW = "human-review"
"""`rule_id` of decisions a reviewer took with a `review_decision` event."""


def decision_id(event_id: str, account_id: str, mode: str) -> str:
    """Deterministic id, so a replay of the same events names the same decisions."""
    digest = hashlib.sha256(f"{event_id}\x1f{account_id}\x1f{mode}".encode()).hexdigest()
    return f"d-{digest[:24]}"


@attrs.frozen
class ConditionTrace:
    """One comparison of a matched rule, with the value the event had (None: absent)."""

    field: str
    op: str
    expected: Any
    seen: Any
    result: bool

    def to_dict(self) -> dict[str, Any]:
        """As `attrs.asdict` gives it: written out when the values are plain (strings,
        numbers, None), else by `asdict` (collections in them become lists)."""
        expected, seen = self.expected, self.seen
        if type(expected) not in _PLAIN or type(seen) not in _PLAIN:
            return attrs.asdict(self)
        return {
            "field": self.field,
            "op": self.op,
            "expected": expected,
            "seen": seen,
            "result": self.result,
        }


@attrs.frozen
class RuleMatch:
    """A rule whose condition held for an event."""

    rule_id: str
    rule_version: int
    action: Action
    mode: Mode
    priority: int
    reason: str
    conditions: tuple[ConditionTrace, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """As `attrs.asdict` gives it, its conditions as a list (`Decision.to_dict`)."""
        return {
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "action": self.action,
            "mode": self.mode,
            "priority": self.priority,
            "reason": self.reason,
            "conditions": [c.to_dict() for c in self.conditions],
        }


@attrs.frozen
class Decision:
    """One decision for one event and account: the most severe matched action."""

    decision_id: str
    account_id: str
    action: Action
    rule_id: str
    rule_version: int
    ruleset_digest: str
    evidence: tuple[str, ...]
    reason: str
    mode: Mode
    effective_at: datetime
    expires_at: datetime | None
    status_before: Status
    status_after: Status
    end_condition: str | None = None
    matched: tuple[RuleMatch, ...] = ()
    anchor: str | None = None
    """For a deadline's decision: the decision (or event) id the deadline counted from."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form: one line of `run`'s output. Written out field by field, in
        field order, as `attrs.asdict` gave it (a property test holds it to that: one run
        of `asdict` cost more than the rest of a decision's record)."""
        expires = self.expires_at
        return {
            "decision_id": self.decision_id,
            "account_id": self.account_id,
            "action": self.action,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "ruleset_digest": self.ruleset_digest,
            "evidence": list(self.evidence),
            "reason": self.reason,
            "mode": self.mode,
            "effective_at": self.effective_at.isoformat(),
            "expires_at": expires.isoformat() if expires else None,
            "status_before": self.status_before,
            "status_after": self.status_after,
            "end_condition": self.end_condition,
            "matched": [m.to_dict() for m in self.matched],
            "anchor": self.anchor,
        }


@attrs.frozen
class StatusChange:
    """An account's status moved: by a decision, a lift, an appeal or a freeze's end."""

    account_id: str
    status_before: Status
    status_after: Status
    cause: str
    at: datetime
    event_id: str | None = None
    decision_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict: `attrs.asdict`'s, `at` in RFC 3339 (written out)."""
        return {
            "account_id": self.account_id,
            "status_before": self.status_before,
            "status_after": self.status_after,
            "cause": self.cause,
            "at": self.at.isoformat(),
            "event_id": self.event_id,
            "decision_id": self.decision_id,
        }


@attrs.frozen
class ScheduledDeadline:
    """A rule's deadline on an account (`Engine.deadlines`): counting from `anchor` (an event
    or a decision id), from `starts_at` to `due_at` (event time), and its state: `pending`,
    `met` (an `unless` event came), `fired` or `void` (its anchor reversed)."""

    rule_id: str
    anchor: str
    starts_at: datetime
    due_at: datetime
    state: str

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["starts_at"] = self.starts_at.isoformat()
        data["due_at"] = self.due_at.isoformat()
        return data


@attrs.frozen
class Reversal:
    """A decision reversed: by a person (`by`: `appeal_outcome` or `review_decision`), or by
    the cascade (`by`: `cascade`) because what it depended on was reversed."""

    decision_id: str
    account_id: str
    by: str
    by_event: str

    @property
    def by_cascade(self) -> bool:
        return self.by == CASCADE

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return attrs.asdict(self)


def decision_from_dict(data: dict[str, Any]) -> Decision:
    """Inverse of `Decision.to_dict`: decisions read back from the store."""
    matched = tuple(
        RuleMatch(
            rule_id=m["rule_id"],
            rule_version=m["rule_version"],
            action=Action(m["action"]),
            mode=Mode(m["mode"]),
            priority=m["priority"],
            reason=m["reason"],
            conditions=tuple(ConditionTrace(**c) for c in m["conditions"]),
        )
        for m in data.get("matched", ())
    )
    return Decision(
        decision_id=data["decision_id"],
        account_id=data["account_id"],
        action=Action(data["action"]),
        rule_id=data["rule_id"],
        rule_version=data["rule_version"],
        ruleset_digest=data["ruleset_digest"],
        evidence=tuple(data["evidence"]),
        reason=data["reason"],
        mode=Mode(data["mode"]),
        effective_at=datetime.fromisoformat(data["effective_at"]),
        expires_at=datetime.fromisoformat(data["expires_at"]) if data["expires_at"] else None,
        status_before=Status(data["status_before"]),
        status_after=Status(data["status_after"]),
        end_condition=data.get("end_condition"),
        matched=matched,
        anchor=data.get("anchor"),
    )


@attrs.frozen
class ReEvaluation:
    """How a decision the reversal cascade brought back came: the person's event whose
    reversal started the cascade, the decisions it reversed, and when it was decided (UTC
    text; the decision itself is dated at its past moment)."""

    by_event: str
    cascade_of: tuple[str, ...]
    decided_at: str

    def to_dict(self) -> dict[str, Any]:
        """As stored, in this key order."""
        return {
            "by_event": self.by_event,
            "cascade_of": list(self.cascade_of),
            "decided_at": self.decided_at,
        }


@attrs.frozen
class DecisionRecord:
    """A decision as the store keeps it: the decision, and how the reversal cascade
    brought it back (None: taken on its event). `to_dict()` is its stored JSON, key for key."""

    decision: Decision
    re_evaluated: ReEvaluation | None = None

    @property
    def decided_at(self) -> str:
        """When it was decided, so when the user could first be told: `re_evaluated.decided_at`
        of one the reversal cascade brought back (it is dated at its past moment), else its
        `effective_at`."""
        again = self.re_evaluated
        return again.decided_at if again is not None else self.decision.effective_at.isoformat()

    def to_dict(self) -> dict[str, Any]:
        data = self.decision.to_dict()
        if self.re_evaluated is not None:
            data["re_evaluated"] = self.re_evaluated.to_dict()
        return data

    @functools.cached_property
    def text(self) -> str:
        """Its stored text: `to_dict()` as compact JSON (`stores.records.decision_text`, the
        one serialiser; the audit chain and decision digests cover it byte for byte).
        Written once per record: its row and its audit record both hold it."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionRecord:
        """Inverse of `to_dict`."""
        again = data.get("re_evaluated")
        return cls(
            decision_from_dict(data),
            None
            if again is None
            else ReEvaluation(again["by_event"], tuple(again["cascade_of"]), again["decided_at"]),
        )
