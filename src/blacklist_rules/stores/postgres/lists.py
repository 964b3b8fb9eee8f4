"""Each account's list changes (`list_changes`, migration 5)."""

from __future__ import annotations

from typing import cast

from blacklist_rules.stores.lists import ListChange, ListOp

from .base import PostgresBase

_END = 2**63 - 1


class PostgresLists(PostgresBase):
    """The `list_changes` table."""

    def add_list_change(
        self, account_id: str, list_name: str, op: ListOp, occurred_us: int, event_id: str
    ) -> None:
        self._db.execute(
            "INSERT INTO list_changes VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (account_id, list_name, occurred_us, event_id, op),
        )

    def list_changes(self, account_id: str, until_us: int | None = None) -> list[ListChange]:
        rows = self._db.all(
            "SELECT list, op, occurred_us, event_id FROM list_changes WHERE account_id = %s "
            "AND occurred_us <= %s ORDER BY occurred_us, event_id, list",
            (account_id, _END if until_us is None else until_us),
        )
        return [ListChange(str(r[0]), cast(ListOp, r[1]), int(r[2]), str(r[3])) for r in rows]
