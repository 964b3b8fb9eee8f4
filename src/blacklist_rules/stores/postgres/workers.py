"""The writers of a shared db and their event-time progress (`protocols.Workers`): the low
watermark by which other accounts' deadlines fire and freezes end (issue 16 item 3)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from blacklist_rules.stores.records import PARTITION, Watermark

from .base import PostgresBase


class PostgresWorkers(PostgresBase):
    """The `workers` table: one row per worker id, `running` or `finished`."""

    def join_worker(self, worker_id: str) -> None:
        """See `Workers.join_worker`: a restarted worker keeps its progress."""
        with self._own_transaction():
            self._db.execute(
                "INSERT INTO workers (worker_id, state) VALUES (%s, 'running') "
                "ON CONFLICT (worker_id) DO UPDATE SET state = 'running', heartbeat = now()",
                (worker_id,),
            )

    def add_partitions(self, holders: Sequence[str]) -> None:
        """See `Workers.add_partitions`: one statement; those known are left as they are."""
        with self._own_transaction():
            self._db.execute(
                "INSERT INTO workers (worker_id, state) SELECT unnest(%s::text[]), 'running' "
                "ON CONFLICT (worker_id) DO NOTHING",
                (list(holders),),
            )

    def report_progress(self, worker_id: str, progress_us: int) -> None:
        """See `Workers.report_progress`: progress never moves back."""
        self._db.execute(
            "UPDATE workers SET progress_us = GREATEST(progress_us, %s), heartbeat = now() "
            "WHERE worker_id = %s",
            (progress_us, worker_id),
        )

    def leave_worker(self, worker_id: str) -> None:
        """See `Workers.leave_worker`."""
        with self._own_transaction():
            self._db.execute(
                "UPDATE workers SET state = 'finished', heartbeat = now() WHERE worker_id = %s",
                (worker_id,),
            )

    def commits(self) -> int:
        """See `Workers.commits`: the count every commit moves (`_count_commit`). In a
        transaction, the count as of its `begin` or its last claim that found it moved
        (`_began_at`), without a round trip: another writer's commit since is seen at our
        next claim or transaction, as if it had come that much later (what memory derived
        from it, the next due moment and the low watermark, then only acts later, never
        early: the watermark read stays a lower bound of every worker's progress)."""
        if self._db.transaction is not None and self._began_at is not None:
            return self._began_at
        return int(self._db.value("SELECT version FROM commits"))

    def watermark(self, idle_seconds: float, besides: Collection[str] = ()) -> Watermark | None:
        """See `Workers.watermark`. A running worker without progress yet holds it at the
        beginning of time; one silent for `idle_seconds` is gone and holds nothing. A
        partition without progress yet holds it until a worker makes some (its events are
        all still to come), however long that takes."""
        row = self._db.one(
            "SELECT coalesce(progress_us, 0), worker_id FROM workers WHERE state = 'running' "
            "AND (heartbeat > now() - make_interval(secs => %s) "
            "OR (progress_us IS NULL AND starts_with(worker_id, %s))) "
            "AND NOT worker_id = ANY(%s::text[]) "
            "ORDER BY progress_us NULLS FIRST, worker_id LIMIT 1",
            (idle_seconds, PARTITION, list(besides)),
        )
        return None if row is None else Watermark(int(row[0]), str(row[1]))
