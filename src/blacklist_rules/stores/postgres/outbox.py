"""The transactional outbox in PostgreSQL: decisions queued in the transaction that takes
them, read by relays (each claiming rows with `FOR UPDATE SKIP LOCKED`, so two relays never
hold the same row) and marked sent once published (see `protocols.Outbox`)."""

from __future__ import annotations

from blacklist_rules.stores.records import OutboxRow

from .base import PostgresBase

_T = 'TEXT COLLATE "C"'
OUTBOX_MIGRATION = f"""
CREATE TABLE outbox (
    decision_id {_T} PRIMARY KEY, account_id {_T} NOT NULL, payload {_T} NOT NULL,
    created_us BIGINT NOT NULL, sent_us BIGINT,
    position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE);
CREATE INDEX outbox_pending ON outbox (position) WHERE sent_us IS NULL;
"""
"""Migration 2: the table, its order an identity column (numbered at insert: a row committed
later may have a lower position than one already sent, which the relay's `WHERE sent_us IS
NULL` still finds)."""

_COLUMNS = "position, decision_id, account_id, payload, created_us"


class PostgresOutbox(PostgresBase):
    """The `outbox` table."""

    def outbox_add(self, decision_id: str, account_id: str, payload: str, created_us: int) -> bool:
        added = self._db.execute(
            "INSERT INTO outbox (decision_id, account_id, payload, created_us) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (decision_id, account_id, payload, created_us),
        )
        return added == 1

    def outbox_pending(self, limit: int) -> list[OutboxRow]:
        claim = " FOR UPDATE SKIP LOCKED" if self._db.transaction is not None else ""
        return self._db.rows(
            OutboxRow,
            f"SELECT {_COLUMNS} FROM outbox WHERE sent_us IS NULL ORDER BY position "
            f"LIMIT %s{claim}",
            (limit,),
        )

    def outbox_mark_sent(self, positions: list[int], sent_us: int) -> int:
        return self._db.execute(
            "UPDATE outbox SET sent_us = %s WHERE position = ANY(%s) AND sent_us IS NULL",
            (sent_us, positions),
        )

    def outbox_backlog(self) -> int:
        return int(self._db.value("SELECT count(*) FROM outbox WHERE sent_us IS NULL"))

    def outbox_prune(self, sent_before_us: int) -> int:
        return self._db.execute(
            "DELETE FROM outbox WHERE sent_us IS NOT NULL AND sent_us < %s", (sent_before_us,)
        )
