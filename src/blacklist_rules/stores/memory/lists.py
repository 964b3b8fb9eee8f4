"""In-memory list changes: per account, (time, event id, list) to the op."""

from __future__ import annotations

from blacklist_rules.stores.lists import ListChange, ListOp

from .base import MemoryBase


class MemoryLists(MemoryBase):
    """The `list_changes` table."""

    def add_list_change(
        self, account_id: str, list_name: str, op: ListOp, occurred_us: int, event_id: str
    ) -> None:
        rows = self._t.lists.setdefault(account_id, {})
        rows.setdefault((occurred_us, event_id, list_name), op)

    def list_changes(self, account_id: str, until_us: int | None = None) -> list[ListChange]:
        rows = self._t.lists.get(account_id, {})
        return [
            ListChange(name, op, at_us, event_id)
            for (at_us, event_id, name), op in sorted(rows.items())
            if until_us is None or at_us <= until_us
        ]
