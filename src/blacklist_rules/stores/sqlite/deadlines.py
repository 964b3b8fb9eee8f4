"""Deadlines: a rule's `unless` waiting for an event, pending, met, fired or void."""

from __future__ import annotations

from typing import Any

from .base import SQLiteBase


class SQLiteDeadlines(SQLiteBase):
    """The `deadlines` table."""

    def add_deadline(
        self,
        rule_id: str,
        anchor_id: str,
        account_id: str,
        anchor_event_id: str,
        start_us: int,
        due_us: int,
        state: str,
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO deadlines VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state),
        )

    def meet_deadlines(self, account_id: str, rule_ids: list[str], at_us: int) -> int:
        """An `unless` event at `at_us` meets the pending deadlines whose span holds it."""
        marks = ", ".join("?" * len(rule_ids))
        return self._db.execute(
            f"UPDATE deadlines SET state = 'met' WHERE account_id = ? AND state = 'pending' "
            f"AND rule_id IN ({marks}) AND start_us <= ? AND ? < due_us",
            (account_id, *rule_ids, at_us, at_us),
        ).rowcount

    def waiting_accounts(self) -> set[str]:
        """Accounts with a pending deadline."""
        rows = self._db.execute("SELECT DISTINCT account_id FROM deadlines WHERE state = 'pending'")
        return {str(row[0]) for row in rows}

    def next_deadline(self) -> int | None:
        row = self._db.execute(
            "SELECT MIN(due_us) FROM deadlines WHERE state = 'pending'"
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def due_deadlines(self, clock_us: int) -> list[tuple[str, str, str, str, int]]:
        """Pending deadlines at or before the clock, in time order:
        (rule id, anchor id, account id, anchor event id, due)."""
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, account_id, anchor_event_id, due_us FROM deadlines "
            "WHERE state = 'pending' AND due_us <= ? ORDER BY due_us, rule_id, anchor_id",
            (clock_us,),
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]

    def set_deadline_state(self, rule_id: str, anchor_id: str, state: str) -> None:
        self._db.execute(
            "UPDATE deadlines SET state = ? WHERE rule_id = ? AND anchor_id = ?",
            (state, rule_id, anchor_id),
        )

    def prune_deadlines(self, up_to_us: int) -> int:
        return self._db.execute(
            "DELETE FROM deadlines WHERE state != 'pending' AND due_us <= ?", (up_to_us,)
        ).rowcount

    def deadlines_of(self, account_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, start_us, due_us, state FROM deadlines "
            "WHERE account_id = ? ORDER BY due_us, rule_id",
            (account_id,),
        ).fetchall()
        keys = ("rule_id", "anchor_id", "start_us", "due_us", "state")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def deadlines_from(self, at_us: int) -> list[tuple[str, str, str, str, int, int]]:
        """(rule, anchor, account, anchor event, start, due) of the deadlines not void, due
        after `at_us`."""
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us "
            "FROM deadlines WHERE state != 'void' AND due_us > ?",
            (at_us,),
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5])) for r in rows]

    def pending_deadlines_of(self, accounts: set[str]) -> list[tuple[str, str, str, str, int, int]]:
        """(rule, anchor, account, anchor event, start, due) of the accounts' pending ones."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us "
            f"FROM deadlines WHERE state = 'pending' AND account_id IN ({marks})",
            sorted(accounts),
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5])) for r in rows]
