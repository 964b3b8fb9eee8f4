"""The transactional outbox's two halves over any `Store`: `enqueue` writes decisions into the
outbox in the transaction that takes them; `Relay` publishes the committed ones to a sink and
then marks them sent. A crash between the publish and the mark publishes them again (at
least once; the decision id tells a repeat); no decision is published before it commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from blacklist_rules.model.decisions import Decision
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite.schema import dumps

from .sinks import DecisionSink


def now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def enqueue(store: Store, decisions: Iterable[Decision]) -> int:
    """Queue decisions (each as the JSON line `run` prints) in the store's open transaction;
    how many were new."""
    at = now_us()
    return sum(
        store.outbox_add(d.decision_id, d.account_id, dumps(d.to_dict()), at) for d in decisions
    )


class Relay:
    """Publishes the store's committed outbox rows to a sink, a batch per transaction: read
    (claimed, on PostgreSQL), sent, marked sent, committed. Give it a store of its own where
    other processes write the db (PostgreSQL): its transactions then never hide another
    writer's commit from the engine's store."""

    def __init__(self, store: Store, sink: DecisionSink, *, batch: int = 500) -> None:
        self.store = store
        self.sink = sink
        self.batch = batch
        self.sent = 0
        """Rows sent since this relay was made."""

    def drain(self) -> int:
        """Send every committed row waiting; how many were sent."""
        sent = 0
        while True:
            transaction = self.store.begin()
            try:
                rows = self.store.outbox_pending(self.batch)
                if rows:
                    self.sink.send(rows)
                    self.store.outbox_mark_sent([row.position for row in rows], now_us())
                transaction.commit()
            except BaseException:
                transaction.rollback()
                raise
            sent += len(rows)
            self.sent += len(rows)
            if len(rows) < self.batch:
                return sent
