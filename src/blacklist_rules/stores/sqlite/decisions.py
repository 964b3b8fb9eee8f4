"""Decisions and account statuses: adding, ending, reversing, and the reads that decide
what still stands."""

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

from .audit import SQLiteAudit
from .schema import (
    STANDING,
)

_ROWS = "SELECT record, ended_at, reversed_by FROM decisions"
"""The columns of `StoredDecision.from_row`."""


class SQLiteDecisions(SQLiteAudit):
    """The `decisions` and `accounts` tables (ending a decision is an audit record too)."""

    def flagged(self) -> list[AccountStatus]:
        """Accounts whose status is not `active`."""
        rows = self._db.execute("SELECT account_id, status FROM accounts WHERE status != 'active'")
        return [AccountStatus(str(row[0]), str(row[1])) for row in rows]

    def set_status(self, account_id: str, status: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?)", (account_id, status))

    def add_decision(
        self, record: DecisionRecord, event_id: str, effective_at: str, expires_at: str | None
    ) -> None:
        """Store a decision; the time columns are UTC text (see `utc_text`), so they compare."""
        d = record.decision
        self._db.execute(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL)",
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
        row = self._db.execute(
            f"{_ROWS} WHERE decision_id = ?",
            (decision_id,),
        ).fetchone()
        return None if row is None else StoredDecision.from_row(row)

    def standing(
        self, account_id: str, clock: str | None, decided_by: str | None = None
    ) -> list[StoredDecision]:
        """Enforced decisions still in force: not reversed, not ended, freezes not expired;
        with `decided_by`, only those taken at or before that time."""
        rows = self._db.execute(
            f"{_ROWS} WHERE account_id = ? AND {STANDING} "
            "AND (expires_at IS NULL OR ? IS NULL OR expires_at > ?) "
            "AND (? IS NULL OR effective_at <= ?) ORDER BY effective_at, rowid",
            (account_id, clock, clock, decided_by, decided_by),
        ).fetchall()
        return [StoredDecision.from_row(row) for row in rows]

    def enforced_decisions(self) -> Iterator[StoredDecision]:
        """Every enforced decision ever taken (ended and reversed ones too), in time order,
        with when it ended and what reversed it."""
        rows = self._db.execute(f"{_ROWS} WHERE mode = 'enforce' ORDER BY effective_at, rowid")
        for row in rows:
            yield StoredDecision.from_row(row)

    def decisions_of(self, account_id: str) -> list[StoredDecision]:
        rows = self._db.execute(
            f"{_ROWS} WHERE account_id = ? ORDER BY effective_at, rowid",
            (account_id,),
        ).fetchall()
        return [StoredDecision.from_row(row) for row in rows]

    def end_decisions(self, account_id: str, end_condition: str, at: str) -> list[str]:
        """End the account's standing freezes, decided at or before `at`, that wait for
        `end_condition`; their ids. A late event never ends what was decided after it."""
        rows = self._db.execute(
            f"SELECT decision_id FROM decisions WHERE account_id = ? AND end_condition = ? "
            f"AND effective_at <= ? AND {STANDING}",
            (account_id, end_condition, at),
        ).fetchall()
        ids = [str(row[0]) for row in rows]
        for decision_id in ids:
            self._end(decision_id, account_id, at)
        return ids

    def shadow_decisions(self) -> list[StoredDecision]:
        """Every shadow decision not reversed, oldest first."""
        rows = self._db.execute(
            f"{_ROWS} WHERE mode = 'shadow' AND reversed_by IS NULL ORDER BY effective_at, rowid"
        ).fetchall()
        return [StoredDecision.from_row(row) for row in rows]

    def enforced_irreversible(self) -> int:
        """How many (account, action) cancel or blacklist outcomes are enforced and standing."""
        row = self._db.execute(
            "SELECT count(*) FROM (SELECT DISTINCT account_id, action FROM decisions "
            f"WHERE action IN ('cancel', 'blacklist') AND {STANDING})"
        ).fetchone()
        return int(row[0])

    def decided_by_event(self, account_id: str, rule_id: str) -> dict[str, str]:
        """{event id: decision id} of the rule's decisions on the account."""
        rows = self._db.execute(
            "SELECT event_id, decision_id FROM decisions WHERE account_id = ? AND rule_id = ?",
            (account_id, rule_id),
        ).fetchall()
        return {str(row[0]): str(row[1]) for row in rows}

    def end_decision(self, decision_id: str, at: str) -> None:
        row = self._db.execute(
            "SELECT account_id FROM decisions WHERE decision_id = ?", (decision_id,)
        ).fetchone()
        if row is not None:
            self._end(decision_id, str(row[0]), at)

    def _end(self, decision_id: str, account_id: str, at: str) -> None:
        """End a decision at `at`, and say so in the trail: the record vouches for the
        `ended_at` column, which `status` and exports read (see `audit_crosscheck`)."""
        self._db.execute(
            "UPDATE decisions SET ended_at = ? WHERE decision_id = ?", (at, decision_id)
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
        self._db.execute(
            "UPDATE decisions SET reversed_by = ?, reversed_how = ? WHERE decision_id = ?",
            (by_event, how, decision_id),
        )

    def reversal_kind(self, decision_id: str) -> str | None:
        """How a reversed decision was reversed: `appeal_outcome`, `review_decision` or
        `cascade` (a db older than schema 5 knew no cascade: then what reversed it)."""
        row = self._db.execute(
            "SELECT COALESCE(d.reversed_how, e.type) FROM decisions d "
            "LEFT JOIN events e ON e.event_id = d.reversed_by WHERE d.decision_id = ?",
            (decision_id,),
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def vetoed(self, decision_ids: list[str] | None = None) -> dict[Veto, set[str]]:
        """Enforced decisions a person reversed, by (account, rule, effective time): the
        evidence withdrawn with each, else all its evidence (older dbs knew no cascade: every
        reversal was a person's). With `decision_ids`, only those among them (read by key:
        what one reversal adds to the vetoes); else all (through `decisions_reversed`)."""
        among = ", ".join("?" * len(decision_ids or ()))
        rows = self._db.execute(
            "SELECT d.account_id, d.rule_id, d.effective_at, d.record, "
            "(SELECT json_group_array(w.event_id) FROM withdrawn w "
            "WHERE w.decision_id = d.decision_id) FROM decisions d "
            "WHERE d.mode = 'enforce' AND d.reversed_by IS NOT NULL "
            f"AND COALESCE(d.reversed_how, '') != '{CASCADE}'"
            + ("" if decision_ids is None else f" AND d.decision_id IN ({among})"),
            decision_ids or (),
        )
        found: dict[Veto, set[str]] = {}
        for account, rule, at, record, withdrawn in rows:
            evidence = json.loads(withdrawn) or json.loads(record)["evidence"]
            found.setdefault(Veto(str(account), str(rule), str(at)), set()).update(evidence)
        return found

    def recorded_by(self, decision_ids: list[str]) -> dict[str, str]:
        """The event each decision was recorded while processing."""
        marks = ", ".join("?" * len(decision_ids))
        rows = self._db.execute(
            f"SELECT decision_id, event_id FROM decisions WHERE decision_id IN ({marks})",
            decision_ids,
        ).fetchall()
        return {str(row[0]): str(row[1]) for row in rows}

    def taken_of(self, accounts: set[str]) -> list[TakenDecision]:
        """The accounts' decisions not reversed (enforced and shadow), ended or not, in the
        order taken."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            f"SELECT record, ended_at, event_id FROM decisions WHERE account_id IN ({marks}) "
            "AND reversed_by IS NULL ORDER BY rowid",
            sorted(accounts),
        ).fetchall()
        return [TakenDecision(decision_record(row[0]), row[1], str(row[2])) for row in rows]

    def next_expiry(self) -> str | None:
        row = self._db.execute(
            f"SELECT MIN(expires_at) FROM decisions WHERE expires_at IS NOT NULL AND {STANDING}"
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def expire(self, clock: str, account_id: str | None = None) -> list[Expiry]:
        """End freezes whose time is up (one account's, or all); the freezes ended."""
        rows = self._db.execute(
            "SELECT account_id, decision_id, expires_at FROM decisions "
            f"WHERE expires_at IS NOT NULL AND expires_at <= ? AND {STANDING} "
            "AND (? IS NULL OR account_id = ?) ORDER BY expires_at, rowid",
            (clock, account_id, account_id),
        ).fetchall()
        for account_id, decision_id, expires_at in rows:
            self._end(str(decision_id), str(account_id), str(expires_at))
        return [Expiry(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def covered(
        self, account_id: str, rule_id: str, mode: str, effective_at: str, expires_at: str | None
    ) -> bool:
        """Does a decision of the same rule, in force (a shadow one: not reversed), already
        cover a freeze from `effective_at` to `expires_at` (None: no end)?"""
        row = self._db.execute(
            "SELECT 1 FROM decisions WHERE account_id = ? AND rule_id = ? AND mode = ? "
            "AND reversed_by IS NULL AND (mode = 'shadow' OR ended_at IS NULL) "
            "AND effective_at <= ? AND (expires_at IS NULL OR (? IS NOT NULL AND expires_at >= ?)) "
            "LIMIT 1",
            (account_id, rule_id, mode, effective_at, expires_at, expires_at),
        ).fetchone()
        return row is not None
