"""The transactional outbox in memory: decisions queued in the transaction that takes them
(undone with it), read and marked sent by a relay (see `protocols.Outbox`)."""

from __future__ import annotations

from blacklist_rules.stores.records import OutboxRow

from .base import MemoryBase, Queued


class MemoryOutbox(MemoryBase):
    """The outbox table: a dict by decision id, in the order queued."""

    def outbox_add(self, decision_id: str, account_id: str, payload: str, created_us: int) -> bool:
        table = self._t.outbox
        if decision_id in table:
            return False
        position = max((q.row.position for q in table.values()), default=0) + 1
        table[decision_id] = Queued(
            OutboxRow(position, decision_id, account_id, payload, created_us)
        )
        return True

    def outbox_pending(self, limit: int) -> list[OutboxRow]:
        waiting = [q.row for q in self._t.outbox.values() if q.sent_us is None]
        return sorted(waiting, key=lambda row: row.position)[:limit]

    def outbox_mark_sent(self, positions: list[int], sent_us: int) -> int:
        wanted, marked = set(positions), 0
        for queued in self._t.outbox.values():
            if queued.row.position in wanted and queued.sent_us is None:
                queued.sent_us = sent_us
                marked += 1
        return marked

    def outbox_backlog(self) -> int:
        return sum(1 for q in self._t.outbox.values() if q.sent_us is None)

    def outbox_prune(self, sent_before_us: int) -> int:
        table = self._t.outbox
        gone = [k for k, q in table.items() if q.sent_us is not None and q.sent_us < sent_before_us]
        for key in gone:
            del table[key]
        return len(gone)
