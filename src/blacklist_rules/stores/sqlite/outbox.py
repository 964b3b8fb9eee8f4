"""The transactional outbox in SQLite: decisions queued in the transaction that takes them,
read and marked sent by a relay once committed (see `protocols.Outbox`)."""

from __future__ import annotations

from blacklist_rules.stores.records import OutboxRow

from .base import SQLiteBase

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    decision_id TEXT PRIMARY KEY, position INTEGER NOT NULL UNIQUE, account_id TEXT NOT NULL,
    payload TEXT NOT NULL, created_us INTEGER NOT NULL, sent_us INTEGER);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (position) WHERE sent_us IS NULL;
"""
"""The table (schema 8): the position is numbered by us (one writer at a time), never the
row id."""


class SQLiteOutbox(SQLiteBase):
    """The `outbox` table."""

    def outbox_add(self, decision_id: str, account_id: str, payload: str, created_us: int) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO outbox (decision_id, position, account_id, payload, "
            "created_us) SELECT ?, coalesce(max(position), 0) + 1, ?, ?, ? FROM outbox",
            (decision_id, account_id, payload, created_us),
        )
        return cursor.rowcount == 1

    def outbox_pending(self, limit: int) -> list[OutboxRow]:
        rows = self._db.execute(
            "SELECT position, decision_id, account_id, payload, created_us FROM outbox "
            "WHERE sent_us IS NULL ORDER BY position LIMIT ?",
            (limit,),
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def outbox_mark_sent(self, positions: list[int], sent_us: int) -> int:
        marked = 0
        for position in positions:
            cursor = self._db.execute(
                "UPDATE outbox SET sent_us = ? WHERE position = ? AND sent_us IS NULL",
                (sent_us, position),
            )
            marked += cursor.rowcount
        return marked

    def outbox_backlog(self) -> int:
        row = self._db.execute("SELECT count(*) FROM outbox WHERE sent_us IS NULL").fetchone()
        return int(row[0])

    def outbox_prune(self, sent_before_us: int) -> int:
        cursor = self._db.execute(
            "DELETE FROM outbox WHERE sent_us IS NOT NULL AND sent_us < ?", (sent_before_us,)
        )
        return int(cursor.rowcount)
