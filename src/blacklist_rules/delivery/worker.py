"""A worker: events from an `EventSource` through an `Engine`, its partitions merged in
event-time order (`merge.EventTimeMerge`), each batch inside one engine batch (one commit),
acknowledged only once committed; decisions out through the transactional outbox when a
sink is given. On a shared db its progress holds the low watermark by its partitions
(`Engine.consume`), idle ones (nothing at the broker) holding nothing.

At least once from the source plus idempotent processing by event id is effectively once: a
worker killed after its commit and before its acknowledgements gets the batch again, and the
engine ignores the events it has (`Outcome.duplicate`), so nothing is decided twice; one
killed before its commit lost nothing, as nothing was acknowledged. `stop()` (the CLI calls
it on SIGTERM) ends the loop after the batch in hand, committed and acknowledged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs

from blacklist_rules.engine.context import Outcome
from blacklist_rules.engine.facade import Engine
from blacklist_rules.engine.loading import load_ruleset
from blacklist_rules.errors import StoreUnavailableError
from blacklist_rules.model.decisions import Decision
from blacklist_rules.stores import is_postgres, open_store
from blacklist_rules.stores.protocols import Store

from .merge import EventTimeMerge
from .relay import Relay, enqueue
from .sinks import DecisionSink
from .source import Delivery, EventSource

_log = logging.getLogger(__name__)
_GLANCE = 0.05
"""Seconds a fetch waits for the empty partitions while events of others are held."""


@attrs.define
class WorkerTally:
    """What a worker did: batches committed, events by outcome, decisions queued and sent."""

    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    decisions: int = 0
    sent: int = 0
    retried: int = 0
    """Batches tried again after the store could not do them (deadlock, lock timeout)."""

    @property
    def events(self) -> int:
        return self.accepted + self.duplicates + self.rejected + self.failed

    def count(self, outcome: Outcome) -> None:
        if outcome.rejection is not None:
            self.rejected += 1
        elif outcome.failure is not None:
            self.failed += 1
        elif outcome.duplicate:
            self.duplicates += 1
        else:
            self.accepted += 1
        self.decisions += len(outcome.decisions)

    def to_dict(self) -> dict[str, int]:
        return {**attrs.asdict(self), "events": self.events}


class Worker:
    """Runs an engine over an event source until stopped (or, with `until_idle`, until a
    fetch finds nothing). `sink`: where decisions go, through the store's outbox, written in
    the batch's transaction and relayed once it has committed; `relay_store`: the store the
    relay marks rows sent in (default the engine's; give it its own on PostgreSQL)."""

    def __init__(
        self,
        engine: Engine[Any],
        source: EventSource,
        sink: DecisionSink | None = None,
        *,
        relay_store: Store | None = None,
        batch_size: int = 500,
        poll: float = 1.0,
        name: str = "worker",
        on_outcome: Callable[[Outcome], None] | None = None,
        retries: int = 5,
    ) -> None:
        self.engine = engine
        self.source = source
        self.batch_size = batch_size
        self.poll = poll
        self.name = name
        self.on_outcome = on_outcome
        """Called with each outcome (rejections and failures to report, say)."""
        self.retries = retries
        self.relay = None if sink is None else Relay(relay_store or engine.store, sink)
        self.tally = WorkerTally()
        self._stopping = False
        self._queued: list[Decision] = []
        self._merge = EventTimeMerge(source.partitions)
        self._idle: set[int] = set()  # partitions told idle to the store
        engine.consume(source.log, source.count, source.partitions)
        engine.commit_every = max(engine.commit_every, batch_size)
        if self.relay is not None:
            engine.before_commit = self._enqueue

    def stop(self) -> None:
        """Stop after the batch in hand (safe to call from a signal handler)."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run(self, *, until_idle: bool = False) -> WorkerTally:
        """Fetch, process, commit, acknowledge, relay; again until stopped. What the outbox
        held from before (a crash after a commit) is relayed first."""
        self._relay()
        while not self._stopping:
            if not self.step() and until_idle:
                break
        return self.tally

    def step(self) -> int:
        """One batch: how many events it had (0: none came within `poll`)."""
        deliveries = self._next()
        if not deliveries:
            return 0
        self._process(deliveries)
        self.source.ack(deliveries)  # only now: the batch is committed
        self.tally.batches += 1
        self._relay()
        return len(deliveries)

    def _next(self) -> list[Delivery]:
        """The next batch, the worker's partitions merged in event-time order
        (`EventTimeMerge`): fetch for the partitions holding nothing, and hand out while
        each holds an event or is idle; [] when nothing is held and none came within `poll`
        (or on `stop()`)."""
        merge = self._merge
        while True:
            empty = merge.empty()
            if empty:
                # Waiting `poll` only when nothing is held: else what is held may go on.
                wait = self.poll if not merge.held else min(self.poll, _GLANCE)
                fetched = self.source.fetch(self.batch_size, wait, empty)
                self._tell_idle(self._idle & {d.partition for d in fetched}, idle=False)
                merge.add(fetched)
                empty = merge.empty()
            idle: set[int] = set()
            if empty:
                idle = {p for p, n in self.source.pending(empty).items() if n == 0}
                self._tell_idle(idle - self._idle, idle=True)
            if not merge.held:
                return []
            taken = merge.take(self.batch_size, idle)
            if taken or self._stopping:
                return taken

    def _tell_idle(self, partitions: set[int], *, idle: bool) -> None:
        """Tell the store that partitions went idle (they hold the watermark no more), or
        have events again."""
        for partition in sorted(partitions):
            self.engine.partition_idle(self.source.log, partition, idle)
        if idle:
            self._idle |= partitions
        else:
            self._idle -= partitions

    def _process(self, deliveries: list[Delivery]) -> None:
        """The batch in one engine batch, committed when `run` ends. A store that cannot do
        it now (a deadlock, a serialisation failure, a lock held too long) drops the whole
        transaction: the batch is tried again, up to `retries` times, then the error goes up
        (nothing acknowledged: the events come again to whoever takes the partition)."""
        texts = [delivery.text for delivery in deliveries]
        for attempt in range(1, self.retries + 1):
            self._queued = []
            outcomes: list[Outcome] = []
            try:
                for outcome in self.engine.run(texts, source=self.name, failures="outcome"):
                    outcomes.append(outcome)
                    self._queued.extend(outcome.decisions)
            except StoreUnavailableError as exc:
                if attempt == self.retries:
                    raise
                self.tally.retried += 1
                _log.warning(
                    "%s: batch tried again (%s/%s): %s", self.name, attempt, self.retries, exc
                )
                time.sleep(0.05 * attempt)
                continue
            break
        # `run` has committed (its batch ended), the outbox rows with it.
        for outcome in outcomes:
            self.tally.count(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)

    def _enqueue(self) -> None:
        """Before each commit, in its transaction: the decisions taken since the last one."""
        queued, self._queued = self._queued, []
        enqueue(self.engine.store, queued)

    def _relay(self) -> None:
        if self.relay is not None:
            self.tally.sent += self.relay.drain()


def open_engine(
    rules: str | None,
    db: str,
    *,
    max_lead: timedelta | None,
    busy_timeout: float,
    create_key: bool = True,
    worker_id: str | None = None,
) -> Engine[Any]:
    """An engine over the db a worker names: a SQLite path (`Engine.from_path`, the key file
    beside it made on first use) or a PostgreSQL URL (the key from the environment), there
    one of the db's workers as `worker_id` (default `host:pid`)."""
    if not is_postgres(db):
        return Engine.from_path(
            rules, db=db, create_key=create_key, max_lead=max_lead, busy_timeout=busy_timeout
        )
    ruleset = load_ruleset(rules)
    store = open_store(db, busy_timeout=busy_timeout)
    try:
        return Engine(ruleset, store, max_lead=max_lead, worker_id=worker_id)
    except BaseException:
        store.close()
        raise
