"""The engine's facade (DESIGN §4): lifecycle, `process` / `run` / `advance_to`, queries, and
the seed/replay API; the work is the stages' (`pipeline` runs them in order). Time is event
time: the clock is the latest `occurred_at` accepted (at most `max_lead` ahead of the wall
clock: see `clock`). A rule that fails to evaluate never means "allow": the failure is
recorded and `EvaluationError` is raised (or, asked for, returned as a failed outcome). An
engine belongs to the thread that made it (`EngineThreadError`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal

from typing_extensions import TypeVar

from blacklist_rules.errors import (
    EngineError,
    EngineThreadError,
    EvaluationError,
    EventError,
    StoreConflictError,
)
from blacklist_rules.matching.durable import DurableMatcher, host_thread
from blacklist_rules.matching.protocol import Matcher
from blacklist_rules.model.clock import DEFAULT_MAX_LEAD, TimeBound
from blacklist_rules.model.events import Event, ParsedLine, parse_time, utc_text
from blacklist_rules.model.identity import IdentityKey, load_key
from blacklist_rules.pack.compiler import CompiledRuleset
from blacklist_rules.stores.factory import is_postgres, open_store
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite.connection import BUSY_TIMEOUT, whole_or_nothing

from . import ahead, deadlines, intake, pipeline, registry, workers
from .context import EventContext, Outcome
from .core import WORKER_IDLE_TIMEOUT, Core
from .hooks import Hooks, kind_of, log
from .loading import load_ruleset, refuse_restated
from .mirrors import Mirrors
from .queries import Queries, thread_name
from .seed import Seed
from .unit import UnitOfWork

CONFLICT_RETRIES = 5
"""How many times an event runs when its transaction keeps conflicting with other writers'."""

StoreT = TypeVar("StoreT", bound=Store, default=Store, covariant=True)
"""The store an engine runs on: a SQLite one unless it says otherwise (`Engine[MemoryStore]`)."""

Failures = Literal["raise", "outcome"]
"""What `process` and `run` do with an event whose evaluation failed: raise its
`EvaluationError` (the default), or return it as an outcome with `ok` False and `failure` set."""


class Engine(Queries, Generic[StoreT]):
    """Applies one compiled rule pack to account events, keeping state in one store: any
    `Store` (`stores.protocols`); `Engine.from_path` opens a SQLite one. A freeze whose end
    the clock passes ends in the outcome of the event that moved it."""

    def __init__(
        self,
        ruleset: CompiledRuleset,
        store: StoreT,
        *,
        prefilter: bool = True,
        commit_every: int = 1000,
        prune: bool = True,
        identity_key: IdentityKey | None = None,
        max_lead: timedelta | None = DEFAULT_MAX_LEAD,
        matcher: Matcher | None = None,
        worker_id: str | None = None,
        idle_timeout: float = WORKER_IDLE_TIMEOUT,
    ) -> None:
        """`matcher`: what evaluates the rules (default: durable-rules over `ruleset`). On a
        shared store the engine is one of the db's workers (`worker_id`; a restarted one
        gives its old id), silent ones gone after `idle_timeout` s (`workers.join`)."""
        self._owner = here = threading.current_thread()
        if matcher is None and (owner := host_thread()) not in (None, here):
            raise EngineThreadError(
                thread_name(owner), thread_name(here), "durable-rules (one per process)"
            )
        if not store.read_only:  # a writer records the pack: one text per rule version
            refuse_restated(ruleset, store, store.path)
        self.ruleset = ruleset
        self.store = store
        self.identity_key = registry.key_for(store, identity_key)
        """The secret behind fingerprints; `.source` says where it came from."""
        self.time_bound = TimeBound(max_lead)
        """How far event time may lead the wall clock, `store.now` (see `clock`)."""
        self._matcher = DurableMatcher.for_plan(ruleset) if matcher is None else matcher
        store.note_horizon(ruleset.horizon_us)  # what a history purge must keep
        self._core = Core(
            ruleset,
            store,
            self.identity_key,
            self._matcher,
            prefilter=prefilter,
            prune=prune,
            time_bound=self.time_bound,
        )
        self.hooks = Hooks()
        """Callbacks told of decisions, failures and rejections once committed (see `Hooks`)."""
        self._unit = UnitOfWork(self._core, 1 if store.shared else commit_every, self.hooks)
        self._input: object = None  # the last input: what a clock move's failure may quote
        workers.join(self._core, worker_id, idle_timeout)

    @classmethod
    def from_path(
        cls,
        rules: str | Path | None = None,
        db: str | Path | None = None,
        *,
        prefilter: bool = True,
        prune: bool = True,
        identity_key: IdentityKey | None = None,
        key_file: str | Path | None = None,
        create_key: bool = False,
        max_lead: timedelta | None = DEFAULT_MAX_LEAD,
        read_only: bool = False,
        busy_timeout: float = BUSY_TIMEOUT,
        worker_id: str | None = None,
    ) -> Engine[Store]:
        """An engine over a rule folder (default: the packaged pack) and a db (default: memory):
        a SQLite file, or a PostgreSQL db named by URL (`postgresql://user@host/dbname`).

        The identity key: `identity_key`, else `$BLACKLIST_RULES_IDENTITY_KEY`, else the key
        file `key_file`, else (a SQLite file) `<db>.key` beside it; `create_key` makes the key
        file (mode 0600) when the db is new. A PostgreSQL db has no file beside it: without
        the environment's key or `key_file` it is an `IdentityKeyError`. An in-memory db
        without one gets a generated key (logged). A persistent db never opens without a key,
        nor with another.
        `max_lead`: how far an event may lead the wall clock (`None`: unbounded).

        `read_only`: for queries (`status`, `explain`, …): nothing is ever written, not even
        the clock on close; processing is a `StoreError`. Otherwise a SQLite engine holds the
        db's writer lock until `close()`: one writer per SQLite db (`writer_lock`).
        `busy_timeout`: seconds to wait for another process's lock, then
        `StoreUnavailableError`. `worker_id`: on PostgreSQL, this engine's name among the
        db's workers (see `Engine`).
        """
        ruleset = load_ruleset(rules)
        store = open_store(
            db if db is not None else ":memory:", read_only=read_only, busy_timeout=busy_timeout
        )
        try:
            if identity_key is None and db is not None and str(db) != ":memory:":
                # A db already written under a key never gets a new one: it needs its own.
                fresh = store.meta("identity_key_check") is None
                identity_key = load_key(
                    store.path if is_postgres(db) else db,
                    create=create_key and fresh,
                    key_file=key_file,
                    beside=not is_postgres(db),
                )
            return Engine(
                ruleset,
                store,
                prefilter=prefilter,
                prune=prune,
                identity_key=identity_key,
                max_lead=max_lead,
                worker_id=worker_id,
            )
        except BaseException:
            store.close()
            raise

    # --- settings -----------------------------------------------------------------------
    @property
    def digest(self) -> str:
        return self.ruleset.digest

    @property
    def mirrors(self) -> Mirrors:
        """What memory holds of the store beside it (see `mirrors`): for checks, read only."""
        return self._core.mirrors

    @property
    def prefilter(self) -> bool:
        """Skip the matcher when no guard holds (off: ask it for every event, to check)."""
        return self._core.prefilter

    @prefilter.setter
    def prefilter(self, value: bool) -> None:
        self._core.prefilter = value

    @property
    def prune(self) -> bool:
        """Forget history no window can reach any more (off only to check that it changes
        nothing)."""
        return self._core.prune

    @prune.setter
    def prune(self, value: bool) -> None:
        self._core.prune = value

    @property
    def commit_every(self) -> int:
        """Events per commit inside `batch()` / `run`. 1 by default on a store other writers
        share (`Store.shared`). Set higher there only by a caller that runs a whole batch
        again when the store refuses it (`StoreConflictError`: a deadlock between writers
        drops the batch's transaction, every event of it) and hands its outcomes on only
        after the commit, as `Worker` and `run` on a shared db (`cli/run.py`) do: the accounts
        claimed stay held until the commit."""
        return self._unit.commit_every

    @commit_every.setter
    def commit_every(self, value: int) -> None:
        self._unit.commit_every = value

    @property
    def before_commit(self) -> Callable[[], None] | None:
        """Called before each commit: deliver what was handed out (`sys.stdout.flush`), so no
        decision is committed undelivered. When it raises, nothing is committed."""
        return self._unit.before_commit

    @before_commit.setter
    def before_commit(self, value: Callable[[], None] | None) -> None:
        self._unit.before_commit = value

    @property
    def observe(self) -> Callable[[Event, dict[str, Any]], None] | None:
        """Called with each event and the snapshot its rules are matched on (fields, derived
        fields, window counts): what coverage and explanations read. Must not change it."""
        return self._core.observe

    @observe.setter
    def observe(self, value: Callable[[Event, dict[str, Any]], None] | None) -> None:
        self._core.observe = value

    # --- lifecycle ----------------------------------------------------------------------
    def _check(self) -> None:  # and no write from inside a hook
        self._owned()
        if self.hooks.dispatching:
            raise EngineError("a hook may query the engine, not process, flush or close it")

    def flush(self) -> None:
        """Commit the engine's open transaction (its batch), with the clock; `process` does
        this itself outside `batch()`. With none open nothing is written: an engine that only
        read (or whose events are all committed) never writes its clock back over one another
        process has moved since."""
        self._check()
        self._unit.flush()

    def close(self) -> None:
        """Commit a batch still open (its outcomes were handed out: see `batch`), then close;
        without one, closing writes nothing. A worker of a shared db leaves its workers; the
        last to leave moves event time to the db's clock (deadlines and freezes that no
        worker is behind on any more act)."""
        if not self._unit.closed:
            self._check()
            try:
                self.flush()
                if (clock := workers.leave(self._core)) is not None:
                    self.advance_to(clock)
                    self.flush()
            finally:
                self._unit.closed = True
                self._matcher.close()
                self.store.close()

    def _abandon(self) -> None:
        """Drop the whole open transaction after the store failed (see `UnitOfWork`)."""
        self._unit.abandon()

    def __enter__(self) -> Engine[StoreT]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """On an exception, what was not committed is dropped: those events run again next
        time (their outcomes may then be delivered twice: at least once, never lost)."""
        if kind is not None and not self._unit.closed:
            self._unit.abandon()
            self._unit.closed = True  # nothing more is written, not even the clock
            self._matcher.close()
            self.store.close()
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commit every `commit_every` events instead of every event: the fast path for runs.

        The last batch is committed when the block ends normally. When it ends with an exception,
        or a `run` is abandoned, it is left to `close()` (commit) or `__exit__` with an
        exception (drop): outcomes never delivered are then never committed.
        """
        self._check()
        unit = self._unit
        unit.depth += 1
        try:
            yield
        except BaseException:
            unit.depth -= 1
            raise
        unit.depth -= 1
        if unit.depth == 0:
            self.flush()

    # --- processing ---------------------------------------------------------------------
    @whole_or_nothing
    def advance_to(self, moment: datetime | str, *, force: bool = False) -> Outcome:
        """Move event time forward without an event (say, at the end of a day's log): every
        freeze whose time is up ends and every deadline that passes acts. The clock never goes
        back: an earlier time does nothing. A move beyond the wall clock plus `max_lead` raises
        `ClockError` and moves nothing, unless `force` (then an audit record says so). A
        failure raises `EvaluationError` and moves nothing."""
        self._check()
        when = parse_time(moment)
        wall = self.store.now()
        beyond = self.clock is None or when > self.clock
        if beyond and not force:
            self.time_bound.refuse_move(when, wall)
        unit = self._unit
        unit.begin()
        ctx = EventContext(input=self._input)
        clock = self.clock
        unit.savepoint(ctx)
        try:
            if beyond and self.time_bound.exceeded(when, wall):
                forced = self.time_bound.forced_record(self.clock, when, wall)
                self.store.audit("clock_forced", forced, occurred_at=utc_text(when))
            deadlines.advance(self._core, ctx, when, None)
        except Exception as exc:  # all or nothing, like an event
            unit.fail(ctx, exc, clock, None, None, "moving the clock")
        unit.release(ctx)
        outcome = Outcome(None, None, tuple(ctx.decided), tuple(ctx.changes))
        unit.queue(ctx, outcome, clock=True)
        unit.after_write()
        return outcome

    def run(
        self,
        items: Iterable[object],
        *,
        source: str | None = None,
        failures: Failures = "raise",
    ) -> Iterator[Outcome]:
        """Process many events (models, dicts, JSON lines or `ParsedLine`s), batching commits.
        Rejected events come back as outcomes. A failed evaluation raises `EvaluationError` and
        ends the run (the open batch: see `batch`), or with `failures="outcome"` comes back as
        an outcome with `ok` False and the run goes on."""
        tally: dict[str, int] | None = {} if log.isEnabledFor(logging.INFO) else None
        with self.batch():
            size = self._unit.commit_every if self.store.shared else 1
            for item in ahead.claimed_ahead(items, size, self.claim_ahead):
                event: object
                if isinstance(item, ParsedLine):
                    event, line, text = (item.event or item.error), item.line, item.text
                else:
                    event, line, text = item, None, None
                outcome = _one(self._retrying, failures, event, line, source, text)
                if tally is not None:
                    kind = kind_of(outcome)
                    tally[kind] = tally.get(kind, 0) + 1
                yield outcome
        if tally is not None:
            log.info("run of %s: %s", source or "events", tally, extra={"tally": tally})

    @whole_or_nothing
    def claim_ahead(self, items: Iterable[object]) -> None:
        """On a store other writers share, hold the accounts of the events about to be
        processed (items as `run` takes them) in the open batch, all in one round trip,
        rather than one claim an event (`Claims.claim_accounts`); nothing elsewhere. `run`
        does it for each batch when `commit_every` is above 1."""
        self._check()
        if self.store.shared:
            self._unit.begin()
            ahead.claim(self._core, list(items))

    def process(
        self,
        event: object,
        *,
        line: int | None = None,
        source: str | None = None,
        failures: Failures = "raise",
    ) -> Outcome:
        """Process one event. A malformed one is recorded and returned as a rejection; a failed
        evaluation is recorded and raises `EvaluationError` (or, `failures="outcome"`, returns
        an outcome with `ok` False). On a shared store, an event whose transaction conflicted
        with another writer's (rolled back whole: `StoreConflictError`) runs again, up to
        `CONFLICT_RETRIES` times."""
        return _one(self._retrying, failures, event, line, source, None)

    def _retrying(
        self, event: object, line: int | None, source: str | None, received: str | None
    ) -> Outcome:
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                return self._guarded(event, line, source, received)
            except StoreConflictError:
                # Only the event's own transaction was dropped (one event a commit on a
                # shared store), not one that held outcomes already handed out.
                if attempt == CONFLICT_RETRIES or not self._unit.retryable:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @whole_or_nothing
    def _guarded(
        self, event: object, line: int | None, source: str | None, received: str | None
    ) -> Outcome:
        """One event, all or nothing: on a failure only this event is undone, the failure is
        recorded and `EvaluationError` raised. In a batch, the commit comes before the next
        event, once the caller has had the outcomes and `before_commit` has passed them on, so
        none is committed undelivered."""
        self._check()
        core, unit = self._core, self._unit
        unit.begin()
        self._input = event if received is None else received
        ctx = EventContext(input=self._input)
        clock = core.mirrors.clock
        try:
            outcome = pipeline.process(core, unit, ctx, event, line, source, received)
        except EventError as exc:  # refused for what it asks (an unknown decision, …)
            unit.undo(ctx, clock)
            account = ctx.event.account_id if ctx.event is not None else None
            outcome = intake.reject(core, ctx, exc, line, source, account)
        except Exception as exc:
            unit.fail(ctx, exc, clock, line, source, "processing")
        unit.release(ctx)
        unit.queue(ctx, outcome)
        unit.after_write()
        return outcome

    # --- the seed/replay API ---------------------------------------------------------
    def consume(self, log: str, count: int, partitions: Sequence[int]) -> None:
        """This engine consumes `partitions` of a partitioned log of `count` (a broker's
        stream; a `Worker` says so): on a shared db its progress then holds the low
        watermark by those partitions, kept in the db whoever consumes them next, and every
        partition of the log nobody consumed yet holds it at the beginning of time until a
        worker consumes it. Nothing on a store with one writer."""
        self._check()
        workers.take_partitions(self._core, log, count, partitions)

    def partition_idle(self, log: str, partition: int, idle: bool) -> None:
        """A partition this engine consumes has nothing more for now (`idle`: it holds the
        watermark no more, Flink's idle source), or has events again."""
        self._check()
        workers.partition_idle(self._core, log, partition, idle)

    @property
    def seed(self) -> Seed:
        """How a scratch engine is driven (`scratch`): seeded, given vetoes and fingerprints."""
        return Seed(self._core, self._unit)


def _one(
    guarded: Callable[[object, int | None, str | None, str | None], Outcome],
    failures: Failures,
    *args: Any,
) -> Outcome:
    """One event through `_guarded`, its failure raised or returned as `failures` says."""
    if failures == "raise":
        return guarded(*args)
    if failures != "outcome":
        raise ValueError(f"failures must be 'raise' or 'outcome', not {failures!r}")
    try:
        return guarded(*args)
    except EvaluationError as exc:
        return Outcome.failed(exc)
