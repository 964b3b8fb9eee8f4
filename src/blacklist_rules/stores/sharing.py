"""The concerns of a db that several processes share (issue 16): the workers' event-time
progress behind the low watermark, and the transactional outbox of decisions. Part of
`protocols.Store`; kept apart so that the single-writer concerns read on their own."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from blacklist_rules.stores.records import OutboxRow, Watermark


class Workers(Protocol):
    """The writers of a shared db and their event-time progress (issue 16 item 3): deadlines
    of other accounts fire and their freezes end by the low watermark, the least progress of
    the live running workers. A store with one writer has no workers: no watermark."""

    def join_worker(self, worker_id: str) -> None:
        """Count this worker among the running ones (again, after a restart), in a
        transaction of its own. A partition of a log is a worker too (`partition_holder`):
        its progress stays in the db whoever consumes it."""

    def add_partitions(self, holders: Sequence[str]) -> None:
        """Count these partitions (`partition_holder` names) among the running ones, those
        the db does not know yet, without progress: a partition without progress holds the
        watermark at the beginning of time until a worker consuming it makes some, never
        declared gone (its events are all still to come). Own transaction."""

    def report_progress(self, worker_id: str, progress_us: int) -> None:
        """Inside the open transaction: the worker has processed every event of its share up
        to `progress_us`, and is alive now (its heartbeat)."""

    def leave_worker(self, worker_id: str) -> None:
        """The worker is done: it no longer holds the watermark (own transaction)."""

    def watermark(self, idle_seconds: float, besides: Collection[str] = ()) -> Watermark | None:
        """The least progress of the running workers heard from within `idle_seconds` (but
        `besides`: the asking worker and its partitions, whose progress it knows), and who
        holds it; None when none runs (every deadline up to the clock may fire)."""

    def commits(self) -> int:
        """How many transactions any writer has committed to the db: while it stays the
        same, what memory derived from the committed state still holds. In a transaction, a
        store may give the count as it last read it (its begin, its last claim): another
        writer's commit is then seen later, never one that did not happen."""


class Claims(Protocol):
    """Claims made ahead (issue 16 item 5): a writer that knows the accounts of the events it
    is about to process holds them all at once, in one round trip, rather than one by one
    as each event comes (`Transactional.claim`, which then finds them held)."""

    def claim_accounts(
        self,
        account_ids: Collection[str],
        event_ids: Collection[str] = (),
        identities: Collection[tuple[str, str]] = (),
        history: Collection[tuple[str, str]] = (),
    ) -> bool:
        """`claim` each account and identity value (kind, fingerprint), in one order, in the
        open transaction: True when another writer committed since it began or last claimed
        (memory must be read again). A store with one writer holds nothing: False.
        `event_ids`: those of the events to come, which a store may look up now, all at
        once, rather than one by one as each is logged (a hint: any other event is logged as
        ever). `history`: (stream, group) pairs whose group (an account, or a fingerprint)
        is claimed here and whose rows only a writer holding it adds, which a store may read
        now (a hint too: a pair not read ahead is read as ever)."""


class Outbox(Protocol):
    """The transactional outbox: decisions queued in the transaction that takes them, so one
    is published once it is committed and never before; a relay reads the committed rows,
    publishes them, then marks them sent (a crash in between publishes them again: at least
    once, each with its decision id for the reader to drop repeats)."""

    def outbox_add(self, decision_id: str, account_id: str, payload: str, created_us: int) -> bool:
        """Queue a decision (its JSON line) in the open transaction; False when that decision
        is already queued (by id), which changes nothing."""

    def outbox_pending(self, limit: int) -> list[OutboxRow]:
        """Up to `limit` committed rows not yet marked sent, in the order queued. Inside a
        transaction, on a store other processes write, the rows read are held until it ends:
        another relay skips them (PostgreSQL's `FOR UPDATE SKIP LOCKED`)."""

    def outbox_mark_sent(self, positions: list[int], sent_us: int) -> int:
        """Mark rows sent (by position); how many were not already."""

    def outbox_backlog(self) -> int:
        """How many rows wait to be sent: what to monitor."""

    def outbox_prune(self, sent_before_us: int) -> int:
        """Delete rows sent before a time (wall clock, µs); how many."""
