"""Each account's list changes (`list_changes`, schema 10)."""

from __future__ import annotations

from typing import cast

from blacklist_rules.stores.lists import ListChange, ListOp

from .base import SQLiteBase

_END = 2**63 - 1


class SQLiteLists(SQLiteBase):
    """The `list_changes` table."""

    def add_list_change(
        self, account_id: str, list_name: str, op: ListOp, occurred_us: int, event_id: str
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO list_changes VALUES (?, ?, ?, ?, ?)",
            (account_id, list_name, occurred_us, event_id, op),
        )

    def list_changes(self, account_id: str, until_us: int | None = None) -> list[ListChange]:
        rows = self._db.execute(
            "SELECT list, op, occurred_us, event_id FROM list_changes WHERE account_id = ? "
            "AND occurred_us <= ? ORDER BY occurred_us, event_id, list",
            (account_id, _END if until_us is None else until_us),
        ).fetchall()
        return [ListChange(str(r[0]), cast(ListOp, r[1]), int(r[2]), str(r[3])) for r in rows]
