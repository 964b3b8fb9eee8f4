"""Decisions and account statuses: adding, ending, reversing, and the reads that decide
what still stands (in the order taken: `position`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

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

from .audit import PostgresAudit
from .schema import STANDING

_ROWS = "SELECT record, ended_at, reversed_by FROM decisions"
"""The columns of `StoredDecision.from_row`."""


class PostgresDecisions(PostgresAudit):
    """The `decisions` and `accounts` tables (ending a decision is an audit record too)."""

    def flagged(self) -> list[AccountStatus]:
        """Accounts whose status is not `active`."""
        return self._db.rows(
            AccountStatus,
            "SELECT account_id, status FROM accounts WHERE status != 'active' ORDER BY account_id",
        )

    def set_status(self, account_id: str, status: str) -> None:
        self._db.execute(
            "INSERT INTO accounts VALUES (%s, %s) "
            "ON CONFLICT (account_id) DO UPDATE SET status = excluded.status",
            (account_id, status),
        )

    def add_decision(
        self, record: DecisionRecord, event_id: str, effective_at: str, expires_at: str | None
    ) -> None:
        """Store a decision; the time columns are UTC text (see `utc_text`), so they compare.
        A second decision of the same id is a `StoreError`."""
        d = record.decision
        self._changed(d.account_id, decisions=True, deadlines=False)
        self._db.execute(
            "INSERT INTO decisions (decision_id, account_id, event_id, action, mode, rule_id, "
            "effective_at, expires_at, end_condition, record) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                d.decision_id,
                d.account_id,
                event_id,
                d.action,
                d.mode,
                d.rule_id,
                effective_at,
                expires_at,
                d.end_condition,
                decision_text(record),
            ),
        )

    def decision(self, decision_id: str) -> StoredDecision | None:
        """A decision's record, with when it ended and what reversed it."""
        row = self._db.one(
            f"{_ROWS} WHERE decision_id = %s",
            (decision_id,),
        )
        return None if row is None else StoredDecision.from_row(row)

    def standing(
        self, account_id: str, clock: str | None, decided_by: str | None = None
    ) -> list[StoredDecision]:
        """Enforced decisions still in force: not reversed, not ended, freezes not expired;
        with `decided_by`, only those taken at or before that time."""
        rows = self._db.all(
            f"{_ROWS} WHERE account_id = %(a)s AND {STANDING} "
            "AND (expires_at IS NULL OR %(clock)s::text IS NULL OR expires_at > %(clock)s) "
            "AND (%(by)s::text IS NULL OR effective_at <= %(by)s) ORDER BY effective_at, position",
            {"a": account_id, "clock": clock, "by": decided_by},
        )
        return [StoredDecision.from_row(row) for row in rows]

    def enforced_decisions(self) -> Iterator[StoredDecision]:
        """Every enforced decision ever taken (ended and reversed ones too), in time order,
        with when it ended and what reversed it."""
        rows = self._db.all(f"{_ROWS} WHERE mode = 'enforce' ORDER BY effective_at, position")
        for row in rows:
            yield StoredDecision.from_row(row)

    def decisions_of(self, account_id: str) -> list[StoredDecision]:
        rows = self._db.all(
            f"{_ROWS} WHERE account_id = %s ORDER BY effective_at, position",
            (account_id,),
        )
        return [StoredDecision.from_row(row) for row in rows]

    def end_decisions(self, account_id: str, end_condition: str, at: str) -> list[str]:
        """End the account's standing freezes, decided at or before `at`, that wait for
        `end_condition`; their ids. A late event never ends what was decided after it."""
        rows = self._db.all(
            "SELECT decision_id FROM decisions WHERE account_id = %s AND end_condition = %s "
            f"AND effective_at <= %s AND {STANDING} ORDER BY position",
            (account_id, end_condition, at),
        )
        ids = [str(row[0]) for row in rows]
        for decision_id in ids:
            self._end(decision_id, account_id, at)
        return ids

    def shadow_decisions(self) -> list[StoredDecision]:
        """Every shadow decision not reversed, oldest first."""
        rows = self._db.all(
            f"{_ROWS} WHERE mode = 'shadow' AND reversed_by IS NULL ORDER BY effective_at, position"
        )
        return [StoredDecision.from_row(row) for row in rows]

    def enforced_irreversible(self) -> int:
        """How many (account, action) cancel or blacklist outcomes are enforced and standing."""
        return int(
            self._db.value(
                "SELECT count(*) FROM (SELECT DISTINCT account_id, action FROM decisions "
                f"WHERE action IN ('cancel', 'blacklist') AND {STANDING}) AS outcomes"
            )
        )

    def decided_by_event(self, account_id: str, rule_id: str) -> dict[str, str]:
        """{event id: decision id} of the rule's decisions on the account."""
        rows = self._db.all(
            "SELECT event_id, decision_id FROM decisions WHERE account_id = %s AND rule_id = %s "
            "ORDER BY position",
            (account_id, rule_id),
        )
        return {str(row[0]): str(row[1]) for row in rows}

    def end_decision(self, decision_id: str, at: str) -> None:
        found = self._db.value(
            "SELECT account_id FROM decisions WHERE decision_id = %s", (decision_id,)
        )
        if found is not None:
            self._end(decision_id, str(found), at)

    def _end(self, decision_id: str, account_id: str, at: str) -> None:
        """End a decision at `at`, and say so in the trail: the record vouches for the
        `ended_at` column, which `status` and exports read (see `audit_crosscheck`)."""
        self._changed(account_id, decisions=True, deadlines=False)
        self._db.execute(
            "UPDATE decisions SET ended_at = %s WHERE decision_id = %s", (at, decision_id)
        )
        self.audit(
            DECISION_ENDED,
            {"decision_id": decision_id, "ended_at": at},
            account_id=account_id,
            decision_id=decision_id,
            occurred_at=at,
        )

    def reverse_decision(self, decision_id: str, by_event: str, how: str) -> None:
        """`how`: `appeal_outcome` or `review_decision` (a person reversed it), or `cascade`
        (it fell with what it depended on)."""
        found = self._db.value(
            "UPDATE decisions SET reversed_by = %s, reversed_how = %s WHERE decision_id = %s "
            "RETURNING account_id",
            (by_event, how, decision_id),
        )
        if found is not None:
            self._changed(str(found), decisions=True, deadlines=False)

    def reversal_kind(self, decision_id: str) -> str | None:
        """How a reversed decision was reversed: `appeal_outcome`, `review_decision` or
        `cascade`."""
        found = self._db.value(
            "SELECT COALESCE(d.reversed_how, e.type) FROM decisions d "
            "LEFT JOIN events e ON e.event_id = d.reversed_by WHERE d.decision_id = %s",
            (decision_id,),
        )
        return None if found is None else str(found)

    def vetoed(self, decision_ids: list[str] | None = None) -> dict[Veto, set[str]]:
        """Enforced decisions a person reversed, by (account, rule, effective time): the
        evidence withdrawn with each, else all its evidence. With `decision_ids`, only those
        among them (what one reversal adds to the vetoes); else all."""
        rows = self._db.all(
            "SELECT d.account_id, d.rule_id, d.effective_at, d.record, "
            "(SELECT json_agg(w.event_id) FROM withdrawn w "
            "WHERE w.decision_id = d.decision_id) FROM decisions d "
            "WHERE d.mode = 'enforce' AND d.reversed_by IS NOT NULL "
            f"AND COALESCE(d.reversed_how, '') != '{CASCADE}' "
            "AND (%(ids)s::text[] IS NULL OR d.decision_id = ANY(%(ids)s)) ORDER BY d.position",
            {"ids": decision_ids},
        )
        found: dict[Veto, set[str]] = {}
        for account, rule, at, record, withdrawn in rows:
            evidence = withdrawn or json.loads(record)["evidence"]
            found.setdefault(Veto(str(account), str(rule), str(at)), set()).update(evidence)
        return found

    def recorded_by(self, decision_ids: list[str]) -> dict[str, str]:
        """The event each decision was recorded while processing."""
        rows = self._db.all(
            "SELECT decision_id, event_id FROM decisions WHERE decision_id = ANY(%s)",
            (decision_ids,),
        )
        return {str(row[0]): str(row[1]) for row in rows}

    def taken_of(self, accounts: set[str]) -> list[TakenDecision]:
        """The accounts' decisions not reversed (enforced and shadow), ended or not, in the
        order taken. One account claimed ahead (`claim_accounts`) is read from memory."""
        kept = self._taken.get(next(iter(accounts))) if len(accounts) == 1 else None
        if kept is not None and self._db.transaction is not None:
            return [TakenDecision(decision_record(d.record), d.ended_at, d.event_id) for d in kept]
        rows = self._db.all(
            "SELECT record, ended_at, event_id FROM decisions WHERE account_id = ANY(%s) "
            "AND reversed_by IS NULL ORDER BY position",
            (sorted(accounts),),
        )
        return [TakenDecision(decision_record(row[0]), row[1], str(row[2])) for row in rows]

    def next_expiry(self) -> str | None:
        found = self._db.value(
            f"SELECT min(expires_at) FROM decisions WHERE expires_at IS NOT NULL AND {STANDING}"
        )
        return None if found is None else str(found)

    def expire(self, clock: str, account_id: str | None = None) -> list[Expiry]:
        """End freezes whose time is up (one account's, or all); the freezes ended. An
        account claimed ahead with no standing freeze that expires (`_lasting`) has none."""
        if account_id in self._lasting and self._db.transaction is not None:
            return []
        ended = self._db.rows(
            Expiry,
            "SELECT account_id, decision_id, expires_at FROM decisions "
            f"WHERE expires_at IS NOT NULL AND expires_at <= %s AND {STANDING} "
            "AND (%s::text IS NULL OR account_id = %s) ORDER BY expires_at, position",
            (clock, account_id, account_id),
        )
        for expiry in ended:
            self._end(expiry.decision_id, expiry.account_id, expiry.expires_at)
        return ended

    def covered(
        self, account_id: str, rule_id: str, mode: str, effective_at: str, expires_at: str | None
    ) -> bool:
        """Does a decision of the same rule, in force (a shadow one: not reversed), already
        cover a freeze from `effective_at` to `expires_at` (None: no end)?"""
        row = self._db.one(
            "SELECT 1 FROM decisions WHERE account_id = %(a)s AND rule_id = %(r)s "
            "AND mode = %(m)s AND reversed_by IS NULL AND (mode = 'shadow' OR ended_at IS NULL) "
            "AND effective_at <= %(at)s AND (expires_at IS NULL OR "
            "(%(until)s::text IS NOT NULL AND expires_at >= %(until)s)) LIMIT 1",
            {"a": account_id, "r": rule_id, "m": mode, "at": effective_at, "until": expires_at},
        )
        return row is not None
