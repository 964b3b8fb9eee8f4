"""The unit of work: one event (or one clock move) all or nothing, inside a transaction that
holds a batch of them; commits, savepoints, and what a failure undoes and records."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from time import perf_counter
from typing import NoReturn

from blacklist_rules.errors import EvaluationError, StoreError, StoreUnavailableError
from blacklist_rules.model.events import Registration, input_text, utc_text
from blacklist_rules.pack.compiler import CompiledRule
from blacklist_rules.stores.protocols import Transaction
from blacklist_rules.stores.records import RuleFile
from blacklist_rules.stores.sqlite.connection import whole_or_nothing

from . import retention
from .context import EventContext, Outcome
from .core import Core
from .hooks import Done, Hooks, log
from .mirrors import due


class UnitOfWork:
    """The engine's open transaction (its batch) and how each event is kept whole in it."""

    __slots__ = (
        "alone",
        "before_commit",
        "closed",
        "commit_every",
        "core",
        "depth",
        "done",
        "hooks",
        "pending",
        "remembered",
        "remembered_before",
        "retryable",
        "stale",
        "tx",
    )

    def __init__(self, core: Core, commit_every: int, hooks: Hooks) -> None:
        self.core = core
        self.hooks = hooks
        self.done: list[Done] = []  # outcomes since the last commit, for `hooks`
        self.commit_every = commit_every
        self.before_commit: Callable[[], None] | None = None
        self.depth = 0  # nested `batch()` blocks
        self.pending = 0  # units of work since the last commit
        self.tx: Transaction | None = None  # the open transaction: the batch
        self.stale = False  # memory may hold what a dropped transaction wrote: reload
        self.remembered = False  # the pack is kept in the store, new streams filled
        self.remembered_before = False  # `remembered` when the open transaction began
        self.alone = False
        """Whether the open transaction holds one unit of work alone (begun outside a batch on
        a store one writer holds): the unit's undo is then the transaction's rollback."""
        self.closed = False
        self.retryable = False
        """Whether a failure drops only the current unit's transaction, nothing handed out:
        on a shared store (one unit a commit) unless the failure was a commit's."""

    @whole_or_nothing
    def flush(self) -> None:
        """Commit the open transaction, with the clock; without one nothing is written."""
        if self.closed or self.tx is None:
            return
        self.retryable = False  # (a failed commit loses what was handed out: never rerun)
        if self.before_commit is not None:
            self.before_commit()
        core = self.core
        if core.mirrors.clock is not None:
            core.store.set_meta("clock", core.mirrors.clock.isoformat())
            retention.prune_history(core)
        if core.progress_us:
            for holder in core.holds:
                core.store.report_progress(holder, core.progress_us)
        self.tx.commit()
        self.tx = None
        self.pending = 0
        if self.done:  # told only now: nothing told is ever rolled back
            done, self.done = self.done, []
            self.hooks.dispatch(done)

    def abandon(self) -> None:
        """Drop the whole open transaction after the store failed (locked, full, …): none of
        the batch is committed, and memory is reloaded from the store before the next write."""
        transaction, self.tx = self.tx, None
        if transaction is not None and not self.hooks.mute:
            log.error(
                "the store failed: the open batch is dropped (%d event(s) not committed, to "
                "be run again)",
                self.pending,
                extra={"dropped": self.pending},
            )
            self.hooks.failed("store")
        self.stale, self.pending, self.done = True, 0, []
        if transaction is not None:
            with suppress(StoreError):  # the failure that brought us here is the one to tell
                transaction.rollback()

    _abandon = abandon  # (what `whole_or_nothing` calls)

    def begin(self) -> None:
        """Open the transaction, first committing a full batch whose outcomes were handed out."""
        if self.pending >= self.commit_every:
            self.flush()
        core = self.core
        if self.tx is None:
            self.tx = core.store.begin()  # (a read-only store refuses)
            self.retryable = core.store.shared and self.commit_every == 1
            # After this unit, `after_write` commits (depth 0). On a shared store the claims
            # are held to the commit: a rollback would let them go, so savepoints stay there.
            self.alone = self.depth == 0 and not core.store.shared
            if self.stale or core.store.written_elsewhere:
                core.mirrors.reload(core.store)
                # (on a shared store another writer's commit undoes none of our own)
                self.remembered = self.remembered and core.store.shared and not self.stale
                self.stale = False
            self.remembered_before = self.remembered
        else:  # (opened by an earlier unit, or by `Seed.resume_at`: not this unit's alone)
            self.alone = False
        if not self.remembered:  # the first write: keep the rules, fill new streams
            rules = [_rule_record(rule) for rule in core.ruleset.rules]
            notices = core.ruleset.notices.files if core.ruleset.notices else None
            core.store.remember_ruleset(core.ruleset.digest, rules, notices)
            retention.fill_streams(core)
            self.remembered = True

    def queue(self, ctx: EventContext, outcome: Outcome, *, clock: bool = False) -> None:
        """Keep the outcome for the hooks, told once its batch commits (if anyone listens)."""
        if self.hooks.wanted(outcome):
            self.done.append(Done(outcome, perf_counter() - ctx.started, clock))

    def after_write(self) -> None:
        self.pending += 1
        if self.depth == 0:
            self.flush()

    def savepoint(self, ctx: EventContext) -> None:
        """Guard the event's further writes: a failure undoes them all. A unit alone in its
        transaction takes no savepoint (`SAVEPOINT` and `RELEASE`: two statements of the
        eight to nine of a `process()` call, issue 19): its undo rolls the transaction back."""
        if not ctx.saved:
            if not self.alone:
                self.core.store.savepoint()
            ctx.saved = True

    def release(self, ctx: EventContext) -> None:
        """The unit's writes are kept: its savepoint, if it took one, is released."""
        if ctx.saved and not self.alone:
            self.core.store.release_savepoint()
        ctx.saved = False

    def _restart(self) -> None:
        """Roll back the transaction a unit held alone, and open the next one for what the
        undo records (a rejection, a failure). What its first write kept (the pack, new
        streams: `begin`) went with it, and is kept again."""
        transaction, self.tx = self.tx, None
        if transaction is not None:
            transaction.rollback()
        self.remembered = self.remembered_before
        self.begin()

    def undo(self, ctx: EventContext, clock: datetime | None) -> None:
        """Undo what the event wrote (its savepoint if it took one, and its row); what memory
        holds beside the store follows it back. The mirrors (statuses, the blacklist listing,
        waiting accounts, vetoes) are read again only when the event changed one: each
        change sets `ctx.moved` where it is made (`record.set_status`, `registry.sync`,
        `deadlines.schedule`, `cascade`). A refused event (an appeal of an unknown decision)
        changed none: its undo costs nothing in the size of the store, where a full read of
        100,000 blacklist entries took 280 ms."""
        store, mirrors = self.core.store, self.core.mirrors
        if ctx.saved and self.alone:  # the transaction was the unit's: all of it goes
            self._restart()
        else:
            if ctx.saved:
                store.rollback_to_savepoint()
                store.release_savepoint()
            if ctx.inserted and ctx.event is not None:
                store.forget_event(ctx.event.event_id)
            for row in ctx.fed:  # written before any savepoint
                store.forget_history(*row)
        ctx.saved = False
        ctx.fed = []
        mirrors.clock = clock
        mirrors.next_due = due(store)
        if not ctx.moved:
            return
        ctx.moved = False
        mirrors.reread(store)

    def fail(
        self,
        ctx: EventContext,
        exc: Exception,
        clock: datetime | None,
        line: int | None,
        source: str | None,
        what: str,
    ) -> NoReturn:
        """Undo the unit of work, record the failure, raise it as `EvaluationError` (naming
        the event, its account and line when known; its outcome goes to the hooks). A store
        that failed is no event's failure: the whole batch is dropped (`whole_or_nothing`)."""
        if isinstance(exc, StoreUnavailableError):
            raise exc
        self.undo(ctx, clock)
        self._record_failure(ctx, exc, line, source)
        error = (
            exc
            if isinstance(exc, EvaluationError)
            else EvaluationError(f"{what} failed, nothing decided: {told(ctx, exc)}")
        )
        event = ctx.event
        if event is not None:
            error.event_id = error.event_id or event.event_id
            error.account_id = error.account_id or event.account_id
        error.line = error.line if error.line is not None else line
        self.queue(ctx, Outcome.failed(error), clock=what == "moving the clock")
        self.after_write()
        if error is exc:
            raise error
        raise error from exc

    def _record_failure(
        self, ctx: EventContext, exc: Exception, line: int | None, source: str | None
    ) -> None:
        event = ctx.event
        self.core.store.audit(
            "evaluation_failed",
            {
                "event_id": event.event_id if event else None,
                "line": line,
                "source": source,
                "error": told(ctx, exc),
                "ruleset_digest": self.core.digest,
            },
            account_id=event.account_id if event else None,
            event_id=event.event_id if event else None,
            occurred_at=utc_text(event.occurred_at) if event else None,
        )


def told(ctx: EventContext, exc: Exception) -> str:
    """What a failure may say: an unexpected error while the input held identity values
    might quote them, so then only its type is told."""
    if isinstance(exc, EvaluationError):
        return str(exc)
    if "identity" in input_text(ctx.input) or isinstance(ctx.event, Registration):
        return f"{type(exc).__name__} (its message is withheld: the input holds identity values)"
    return repr(exc)


def _rule_record(rule: CompiledRule) -> RuleFile:
    """What the store keeps of each rule under the pack's digest: the file as written, and
    its `dsa` block as read (the statement export needs no YAML)."""
    return RuleFile(rule.id, rule.version, rule.source, rule.text, dict(rule.dsa))
