"""In-memory decisions and account statuses, read as SQLite's tables are."""

from __future__ import annotations

import json
from collections.abc import Iterator

from blacklist_rules.errors import StoreError
from blacklist_rules.model.decisions import CASCADE, DecisionRecord
from blacklist_rules.stores.audit_crosscheck import DECISION_ENDED
from blacklist_rules.stores.records import (
    AccountStatus,
    Expiry,
    StoredDecision,
    TakenDecision,
    Veto,
    decision_record,
    decision_text,
)

from .audit import MemoryAudit
from .base import PATH, Decision


def _standing(d: Decision) -> bool:
    return d.mode == "enforce" and d.ended_at is None and d.reversed_by is None


def _records(found: list[Decision]) -> list[StoredDecision]:
    """Records in the order taken (time, then arrival: a stable sort keeps it)."""
    return [
        StoredDecision(decision_record(d.record), d.ended_at, d.reversed_by)
        for d in sorted(found, key=lambda d: d.effective_at)
    ]


class MemoryDecisions(MemoryAudit):
    """The `decisions` and `accounts` tables (ending a decision is an audit record too)."""

    def _of(self, account_id: str) -> list[Decision]:
        return [d for d in self._t.decisions.values() if d.account_id == account_id]

    def flagged(self) -> list[AccountStatus]:
        return [AccountStatus(a, s) for a, s in self._t.accounts.items() if s != "active"]

    def set_status(self, account_id: str, status: str) -> None:
        self._t.accounts.pop(account_id, None)  # a replaced row goes last, as in SQLite
        self._t.accounts[account_id] = status

    def add_decision(
        self, record: DecisionRecord, event_id: str, effective_at: str, expires_at: str | None
    ) -> None:
        d = record.decision
        decision_id = d.decision_id
        if decision_id in self._t.decisions:
            raise StoreError(f"{PATH}: UNIQUE constraint failed: decisions.decision_id")
        self._t.decisions[decision_id] = Decision(
            decision_id,
            d.account_id,
            event_id,
            d.action,
            d.mode,
            d.rule_id,
            effective_at,
            expires_at,
            d.end_condition,
            None,
            None,
            decision_text(record),
            None,
        )

    def decision(self, decision_id: str) -> StoredDecision | None:
        d = self._t.decisions.get(decision_id)
        return (
            None
            if d is None
            else StoredDecision(decision_record(d.record), d.ended_at, d.reversed_by)
        )

    def standing(
        self, account_id: str, clock: str | None, decided_by: str | None = None
    ) -> list[StoredDecision]:
        return _records(
            [
                d
                for d in self._of(account_id)
                if _standing(d)
                and (d.expires_at is None or clock is None or d.expires_at > clock)
                and (decided_by is None or d.effective_at <= decided_by)
            ]
        )

    def enforced_decisions(self) -> Iterator[StoredDecision]:
        found = [d for d in self._t.decisions.values() if d.mode == "enforce"]
        for d in sorted(found, key=lambda d: d.effective_at):
            yield StoredDecision(decision_record(d.record), d.ended_at, d.reversed_by)

    def decisions_of(self, account_id: str) -> list[StoredDecision]:
        return _records(self._of(account_id))

    def end_decisions(self, account_id: str, end_condition: str, at: str) -> list[str]:
        ids = [
            d.decision_id
            for d in self._of(account_id)
            if d.end_condition == end_condition and d.effective_at <= at and _standing(d)
        ]
        for decision_id in ids:
            self._end(decision_id, account_id, at)
        return ids

    def shadow_decisions(self) -> list[StoredDecision]:
        found = self._t.decisions.values()
        return _records([d for d in found if d.mode == "shadow" and d.reversed_by is None])

    def enforced_irreversible(self) -> int:
        found = self._t.decisions.values()
        return len(
            {
                (d.account_id, d.action)
                for d in found
                if d.action in ("cancel", "blacklist") and _standing(d)
            }
        )

    def decided_by_event(self, account_id: str, rule_id: str) -> dict[str, str]:
        return {d.event_id: d.decision_id for d in self._of(account_id) if d.rule_id == rule_id}

    def end_decision(self, decision_id: str, at: str) -> None:
        d = self._t.decisions.get(decision_id)
        if d is not None:
            self._end(decision_id, d.account_id, at)

    def _end(self, decision_id: str, account_id: str, at: str) -> None:
        self._t.decisions[decision_id].ended_at = at
        self.audit(
            DECISION_ENDED,
            {"decision_id": decision_id, "ended_at": at},
            account_id=account_id,
            decision_id=decision_id,
            occurred_at=at,
        )

    def reverse_decision(self, decision_id: str, by_event: str, how: str) -> None:
        d = self._t.decisions.get(decision_id)
        if d is not None:
            d.reversed_by, d.reversed_how = by_event, how

    def reversal_kind(self, decision_id: str) -> str | None:
        d = self._t.decisions.get(decision_id)
        if d is None or d.reversed_how is not None:
            return None if d is None else d.reversed_how
        event = self._t.events.get(d.reversed_by or "")
        return None if event is None else event.type

    def vetoed(self, decision_ids: list[str] | None = None) -> dict[Veto, set[str]]:
        found: dict[Veto, set[str]] = {}
        for d in self._t.decisions.values():
            if d.mode != "enforce" or d.reversed_by is None or d.reversed_how == CASCADE:
                continue
            if decision_ids is not None and d.decision_id not in decision_ids:
                continue
            withdrawn = [e for e, (_by, of) in self._t.withdrawn.items() if of == d.decision_id]
            evidence = withdrawn or json.loads(d.record)["evidence"]
            found.setdefault(Veto(d.account_id, d.rule_id, d.effective_at), set()).update(evidence)
        return found

    def recorded_by(self, decision_ids: list[str]) -> dict[str, str]:
        found = (self._t.decisions.get(i) for i in decision_ids)
        return {d.decision_id: d.event_id for d in found if d is not None}

    def taken_of(self, accounts: set[str]) -> list[TakenDecision]:
        return [
            TakenDecision(decision_record(d.record), d.ended_at, d.event_id)
            for d in self._t.decisions.values()
            if d.account_id in accounts and d.reversed_by is None
        ]

    def next_expiry(self) -> str | None:
        found = self._t.decisions.values()
        return min((d.expires_at for d in found if d.expires_at and _standing(d)), default=None)

    def expire(self, clock: str, account_id: str | None = None) -> list[Expiry]:
        due = [
            Expiry(d.account_id, d.decision_id, d.expires_at)
            for d in self._t.decisions.values()
            if d.expires_at is not None
            and d.expires_at <= clock
            and _standing(d)
            and (account_id is None or d.account_id == account_id)
        ]
        due.sort(key=lambda e: e.expires_at)
        for ended in due:
            self._end(ended.decision_id, ended.account_id, ended.expires_at)
        return due

    def covered(
        self, account_id: str, rule_id: str, mode: str, effective_at: str, expires_at: str | None
    ) -> bool:
        return any(
            d.rule_id == rule_id
            and d.mode == mode
            and d.reversed_by is None
            and (mode == "shadow" or d.ended_at is None)
            and d.effective_at <= effective_at
            and (d.expires_at is None or (expires_at is not None and d.expires_at >= expires_at))
            for d in self._of(account_id)
        )
