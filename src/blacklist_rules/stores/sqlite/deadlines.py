"""Deadlines: a rule's `unless` waiting for an event, pending, met, fired or void."""

from __future__ import annotations

from typing import Any

from blacklist_rules.stores.records import Deadline

from .base import SQLiteBase

_COLUMNS = "rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state"


def _deadline(row: Any) -> Deadline:
    """A deadline from its `_COLUMNS`."""
    return Deadline(*row)


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
    ) -> bool:
        """False: the deadline was there already (it stays as it is)."""
        return bool(
            self._db.execute(
                "INSERT OR IGNORE INTO deadlines VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state),
            ).rowcount
        )

    def meet_deadlines(self, account_id: str, rule_ids: list[str], at_us: int) -> list[Deadline]:
        """An `unless` event at `at_us` meets the pending deadlines whose span holds it; the
        deadlines it met, as they now are, in (rule, anchor) order."""
        marks = ", ".join("?" * len(rule_ids))
        rows = self._db.execute(
            f"UPDATE deadlines SET state = 'met' WHERE account_id = ? AND state = 'pending' "
            f"AND rule_id IN ({marks}) AND start_us <= ? AND ? < due_us RETURNING {_COLUMNS}",
            (account_id, *rule_ids, at_us, at_us),
        ).fetchall()
        return sorted((_deadline(row) for row in rows), key=lambda d: (d.rule_id, d.anchor_id))

    def waiting_accounts(self) -> set[str]:
        """Accounts with a pending deadline."""
        rows = self._db.execute("SELECT DISTINCT account_id FROM deadlines WHERE state = 'pending'")
        return {str(row[0]) for row in rows}

    def next_deadline(self) -> int | None:
        row = self._db.execute(
            "SELECT MIN(due_us) FROM deadlines WHERE state = 'pending'"
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def due_deadlines(self, clock_us: int, account_id: str | None = None) -> list[Deadline]:
        """Pending deadlines at or before the clock, in time order (one account's, or all)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM deadlines WHERE state = 'pending' AND due_us <= ? "
            "AND (? IS NULL OR account_id = ?) ORDER BY due_us, rule_id, anchor_id",
            (clock_us, account_id, account_id),
        ).fetchall()
        return [_deadline(row) for row in rows]

    def set_deadline_state(self, rule_id: str, anchor_id: str, state: str) -> Deadline | None:
        """The deadline as it now is; None: there is none."""
        row = self._db.execute(
            "UPDATE deadlines SET state = ? WHERE rule_id = ? AND anchor_id = ? "
            f"RETURNING {_COLUMNS}",
            (state, rule_id, anchor_id),
        ).fetchone()
        return None if row is None else _deadline(row)

    def prune_deadlines(self, up_to_us: int) -> int:
        return self._db.execute(
            "DELETE FROM deadlines WHERE state != 'pending' AND due_us <= ?", (up_to_us,)
        ).rowcount

    def deadlines_of(self, account_id: str) -> list[Deadline]:
        """The account's deadlines in every state, by due time."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM deadlines WHERE account_id = ? ORDER BY due_us, rule_id",
            (account_id,),
        ).fetchall()
        return [_deadline(row) for row in rows]

    def deadlines_from(self, at_us: int) -> list[Deadline]:
        """The deadlines not void, due after `at_us`."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM deadlines WHERE state != 'void' AND due_us > ?",
            (at_us,),
        ).fetchall()
        return [_deadline(row) for row in rows]

    def pending_deadlines_of(self, accounts: set[str]) -> list[Deadline]:
        """The accounts' pending deadlines."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM deadlines WHERE state = 'pending' AND account_id IN ({marks})",
            sorted(accounts),
        ).fetchall()
        return [_deadline(row) for row in rows]
