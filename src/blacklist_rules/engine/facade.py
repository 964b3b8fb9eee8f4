"""The engine: event → validate → match → decide → record → outcome (DESIGN §4).

One `Engine` holds one compiled rule pack and one store. Time is event time: the clock is the
latest `occurred_at` accepted (at most `max_lead` ahead of the wall clock: see `clock`), and a
freeze whose end the clock passes ends in the outcome of the event that moved it. A rule that
fails to evaluate never means "allow": the failure is recorded and `EvaluationError` is raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from blacklist_rules.audit_crosscheck import (
    DEADLINE_COLUMNS,
    DEADLINE_ROW,
    DEADLINES_PRUNED,
    vouched,
)
from blacklist_rules.checks import check_rules
from blacklist_rules.clock import DEFAULT_MAX_LEAD, TimeBound
from blacklist_rules.compiler import (
    DEADLINE,
    CompiledRule,
    CompiledRuleset,
    Listener,
    compile_rules,
    trace,
)
from blacklist_rules.connection import BUSY_TIMEOUT, Transaction, whole_or_nothing
from blacklist_rules.decisions import (
    CASCADE,
    HUMAN_REVIEW,
    Action,
    ConditionTrace,
    Decision,
    Mode,
    Reversal,
    RuleMatch,
    Status,
    StatusChange,
    decision_from_dict,
    decision_id,
)
from blacklist_rules.errors import (
    EvaluationError,
    EventError,
    IdentityKeyError,
    RuleFileError,
    RuleLoadError,
    StoreError,
    StoreUnavailableError,
)
from blacklist_rules.events import (
    BLACKLISTED_IDENTITY,
    IDENTITY_DIGEST,
    AppealOutcome,
    Event,
    IdentityVerification,
    ParsedLine,
    Registration,
    ReviewDecision,
    Verification,
    declared_payload,
    flatten,
    from_micros,
    input_text,
    mask_extras,
    parse_event,
    parse_time,
    stored_payload,
    stored_text,
    to_micros,
    utc_text,
)
from blacklist_rules.identity import (
    DEVICE,
    GENERATED,
    ID_NUMBER,
    INVALID_ID_NUMBER,
    LISTED_KINDS,
    PHONE,
    BlacklistEntry,
    Fingerprints,
    IdentityKey,
    Listing,
    fingerprints,
    load_key,
    lookup_prints,
)
from blacklist_rules.loader import RuleSource, read_rules
from blacklist_rules.matching.durable import DurableMatcher, build_problems
from blacklist_rules.matching.protocol import Matcher
from blacklist_rules.notice_templates import check_rule_notices, read_notice_pack
from blacklist_rules.spec import comparisons
from blacklist_rules.stores.records import Deadline, StoredEntry, TakenDecision
from blacklist_rules.stores.sqlite import LOGGED_BY_ACCOUNT, PURGED, SQLiteStore
from blacklist_rules.windows import StreamWindow, WindowEvidence, feature_caps

if TYPE_CHECKING:  # the notices report is a layer above: imported where it is used
    from blacklist_rules.notices import Notice

_log = logging.getLogger("blacklist_rules")
VERIFICATION_PASSED = "verification_passed"
VICTIM = "identity_of_another_person"
"""A failed verification with this reason: the ID number is the victim's, never blacklisted."""
_FELL = "re-evaluated without the reversed decision and its evidence: no longer taken"
HISTORY_CUT = "the state at the history cut"
"""The cause of a replay's statuses at its start, when the history before it was purged."""
_GONE = frozenset({Status.CANCELLED, Status.BLACKLISTED})
"""Statuses of accounts that are no longer live (for windows `by` an identity value)."""
_TYPES_WITH_EFFECTS = frozenset(
    {"identity_verification", "registration", "review_decision", "appeal_outcome"}
)
"""Event types that can change state by themselves (end a freeze, decide, reverse)."""
_REVERSING = frozenset({"review_decision", "appeal_outcome"})
"""Event types whose reversals withdraw events from windows: a window they feed is read before."""


def default_rules_path() -> Path:
    """The packaged default rule pack (the repository's `rules/` in a source checkout)."""
    packaged = resources.files("blacklist_rules") / "rules"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "rules"


def load_ruleset(location: str | Path | None = None) -> CompiledRuleset:
    """Load, check and compile a rule pack; raises `RuleLoadError` with every error found."""
    folder = Path(location) if location is not None else default_rules_path()
    rules, errors = read_rules(folder)
    notices, found = read_notice_pack(folder)
    errors.extend(found)
    errors.extend(check_rules(rules))
    errors.extend(check_rule_notices(rules, notices))
    if errors:
        raise RuleLoadError(errors)
    ruleset = compile_rules(rules, notices)
    errors = engine_problems(rules, ruleset)
    if errors:
        raise RuleLoadError(errors)
    return ruleset


def engine_problems(rules: list[RuleSource], ruleset: CompiledRuleset) -> list[RuleFileError]:
    """Rules that pass every check but that durable-rules cannot build (or not in time): the
    rule itself and the filters feeding its windows and deadlines."""
    hint = "split it into several rules, or simplify nested `not`/`any`"
    parts: list[tuple[RuleSource, str, tuple[str, ...]]] = []
    for source in rules:
        compiled = ruleset.rule(source.spec.id)
        if compiled.deadline is None:
            parts.append((source, compiled.id, ("when",)))
            continue
        deadline = compiled.deadline
        parts += [(source, f"stream:{key}", ("deadline", "unless")) for key in deadline.unless]
        if deadline.after_listener:
            parts.append((source, deadline.after_listener, ("deadline", "after")))
    problems = build_problems(ruleset, [name for _, name, _ in parts])
    return [
        source.error(at, "E-ENGINE", f"rule `{source.spec.id}`: {problems[name]}", hint)
        for source, name, at in parts
        if name in problems
    ]


@attrs.frozen
class Outcome:
    """What one event did. `decisions` holds enforced and shadow decisions alike."""

    event_id: str | None
    account_id: str | None
    decisions: tuple[Decision, ...] = ()
    status_changes: tuple[StatusChange, ...] = ()
    status: Status | None = None
    reversals: tuple[Reversal, ...] = ()
    """Decisions the event reversed: the one an appeal or lift names, and the cascade's."""
    duplicate: bool = False
    rejection: EventError | None = None
    failure: EvaluationError | None = None
    line: int | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None and self.failure is None and not self.duplicate


@attrs.frozen
class _Occasion:
    """A moment at which rules matched for one account: an event's own time, a later moment a
    late event completed a window at, or a deadline's end."""

    at: datetime
    key: str
    """Seed of the decision id: the same events give the same ids on every replay."""
    event_id: str
    matches: tuple[RuleMatch, ...]
    evidence: MutableMapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Per rule, when the evidence is more than `event_id`: a window's events."""
    anchor: str | None = None
    windows: Mapping[str, StreamWindow] = attrs.field(factory=dict)
    """The windows its window counts were read from (capped: see `_exact`)."""


class Engine:
    """Applies a compiled rule pack to account events, keeping state in a store."""

    def __init__(
        self,
        ruleset: CompiledRuleset,
        store: SQLiteStore,
        *,
        prefilter: bool = True,
        commit_every: int = 1000,
        prune: bool = True,
        identity_key: IdentityKey | None = None,
        max_lead: timedelta | None = DEFAULT_MAX_LEAD,
    ) -> None:
        self.ruleset = ruleset
        self.store = store
        in_memory = store.path == ":memory:"
        self.identity_key = identity_key or load_key(None if in_memory else store.path)
        """The secret behind fingerprints; `.source` says where it came from."""
        if not store.check_key(self.identity_key.check):
            raise IdentityKeyError(
                f"{store.path} was written under another identity key than the one from "
                f"{self.identity_key.source}: its fingerprints would never match"
            )
        if self.identity_key.source == GENERATED:
            _log.warning(
                "identity key %s: fingerprints and blacklist entries die with it",
                self.identity_key.source,
            )
        self.prefilter = prefilter
        self.commit_every = commit_every
        self.time_bound = TimeBound(max_lead)
        """How far event time may lead the wall clock, `store.now` (see `clock`)."""
        self.before_commit: Callable[[], None] | None = None
        """Called before each commit: deliver what was handed out (`sys.stdout.flush`), so no
        decision is committed undelivered. When it raises, nothing is committed."""
        self.prune = prune
        """Forget history no window can reach any more (off only to check that it changes
        nothing)."""
        # Which deadline rules an enforced decision of a rule starts, and which an event
        # of a stream meets.
        self._anchored: dict[str, list[CompiledRule]] = {}
        self._unless: dict[str, list[str]] = {}
        for rule in ruleset.rules:
            if rule.deadline is not None:
                for name in rule.deadline.after_rules:
                    self._anchored.setdefault(name, []).append(rule)
                for key in rule.deadline.unless:
                    self._unless.setdefault(key, []).append(rule.id)
        self._after = {
            rule.deadline.after_listener: rule
            for rule in ruleset.rules
            if rule.deadline is not None and rule.deadline.after_listener
        }
        # Streams of verifications only, and read by no window (a deadline's `unless`): the
        # events table already indexes those by account and time, so they are read from there.
        self._from_log = {
            key
            for key, stream in ruleset.streams.items()
            if key not in ruleset.windows and set(stream.listener.types) <= LOGGED_BY_ACCOUNT
        }
        self._caps = feature_caps(ruleset)  # see windows.py
        self._without_windows = {
            name: tuple(rule for rule in rules if rule.window is None)
            for name, rules in ruleset.by_type.items()
        }
        self._matcher: Matcher = DurableMatcher.for_plan(ruleset)
        store.note_horizon(ruleset.horizon_us)  # what a history purge must keep
        self._batch_depth = 0
        self._pending = 0
        self._tx: Transaction | None = None  # the engine's open transaction: its batch
        self._stale = False  # memory may hold what a dropped transaction wrote: reload
        clock = store.meta("clock")
        self._clock: datetime | None = datetime.fromisoformat(clock) if clock else None
        self._next_due = self._due()
        pruned = store.meta("pruned_at_us")
        self._pruned_at_us = int(pruned) if pruned else None
        # Only accounts that are not active are kept in memory: few, and read on every event.
        self._statuses = {row.account_id: Status(row.status) for row in store.flagged()}
        self._changes: list[StatusChange] = []
        self._reversals: list[Reversal] = []
        self._decided: list[Decision] = []  # by deadlines, while the current event moved time
        self._remembered = False
        self._closed = False
        self._current: Event | None = None
        self._inserted = False  # the current event's row was written
        self._saved = False  # a savepoint guards the current event's further writes
        self._moved = False  # the current event changed a mirror: see `_undo_event`
        self._input: object = None  # what the caller handed in, for refusing it only once
        self._at_us = 0  # the current event's time in µs
        self._fed: list[tuple[str, str, int, str]] = []  # the current event's history rows
        # Accounts with a pending deadline (few: an `unless` event of any other account
        # has nothing to meet).
        self._waiting = store.waiting_accounts()
        self._listed = self._load_listed()  # read by every pre-registration check
        self._prints: Fingerprints | None = None  # the current registration's
        self._elsewhere: list[tuple[int, str, str, frozenset[str]]] = []  # see _late_elsewhere
        self._rows: dict[str, StreamWindow] = {}  # the current event's windows
        self._hits: list[BlacklistEntry] = []  # entries the current registration matches
        self._rules = {rule.id: rule for rule in ruleset.rules}
        # The identity values through which one account's decisions reach another's: those
        # the blacklist lists, and those some window groups registrations by.
        self._linking = frozenset(LISTED_KINDS).union(
            stream.by for stream in ruleset.streams.values() if stream.by is not None
        )
        self.observe: Callable[[Event, dict[str, Any]], None] | None = None
        """Called with each event and the snapshot its rules are matched on (fields, derived
        fields, window counts): what coverage and explanations read. Must not change it."""
        self._inherited: dict[tuple[str, str, str], set[str]] = {}  # see `_world_without`
        self._vetoed = self._load_vetoes()  # see `_decide`
        self._given: dict[str, Fingerprints] = {}  # see `_world_without`
        self._reads_blacklist = frozenset(
            rule.id
            for rule in ruleset.rules
            if any(t.field == BLACKLISTED_IDENTITY for t in comparisons(rule.condition))
        )

    @classmethod
    def from_path(
        cls,
        rules: str | Path | None = None,
        db: str | Path | None = None,
        *,
        prefilter: bool = True,
        prune: bool = True,
        identity_key: IdentityKey | None = None,
        create_key: bool = False,
        max_lead: timedelta | None = DEFAULT_MAX_LEAD,
        read_only: bool = False,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> Engine:
        """An engine over a rule folder (default: the packaged pack) and a db (default: memory).

        The identity key: `identity_key`, else `$BLACKLIST_RULES_IDENTITY_KEY`, else the key
        file `<db>.key` (`create_key` makes one, mode 0600); an in-memory db without one gets a
        generated key (logged). A persistent db never opens without a key, nor with another.
        `max_lead`: how far an event may lead the wall clock (`None`: unbounded).

        `read_only`: for queries (`status`, `explain`, …): the db is opened with SQLite's
        `mode=ro` and nothing is ever written, not even the clock on close; processing is a
        `StoreError`. Otherwise the engine holds the db's writer lock until `close()`: one
        writer per db (`writer_lock`). `busy_timeout`: seconds to wait for another process's
        lock, then `StoreUnavailableError`.
        """
        ruleset = load_ruleset(rules)
        store = SQLiteStore(
            db if db is not None else ":memory:", read_only=read_only, busy_timeout=busy_timeout
        )
        try:
            if identity_key is None and db is not None and str(db) != ":memory:":
                # A db already written under a key never gets a new one: it needs its own.
                fresh = store.meta("identity_key_check") is None
                identity_key = load_key(db, create=create_key and fresh)
            return cls(
                ruleset,
                store,
                prefilter=prefilter,
                prune=prune,
                identity_key=identity_key,
                max_lead=max_lead,
            )
        except BaseException:
            store.close()
            raise

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def digest(self) -> str:
        return self.ruleset.digest

    @property
    def clock(self) -> datetime | None:
        """Event time: the latest `occurred_at` processed."""
        return self._clock

    @whole_or_nothing
    def flush(self) -> None:
        """Commit the engine's open transaction (its batch), with the clock; `process` does
        this itself outside `batch()`. With none open nothing is written: an engine that only
        read (or whose events are all committed) never writes its clock back over one another
        process has moved since."""
        if self._closed or self._tx is None:
            return
        if self.before_commit is not None:
            self.before_commit()
        if self._clock is not None:
            self.store.set_meta("clock", self._clock.isoformat())
            self._prune_history()
        self._tx.commit()
        self._tx = None
        self._pending = 0

    def close(self) -> None:
        """Commit a batch still open (its outcomes were handed out: see `batch`), then close;
        without one, closing writes nothing."""
        if not self._closed:
            try:
                self.flush()
            finally:
                self._closed = True
                self._matcher.close()
                self.store.close()

    def _abandon(self) -> None:
        """Drop the whole open transaction after the store failed (locked, full, …): none of
        the batch is committed, and memory is reloaded from the db before the next write."""
        transaction, self._tx = self._tx, None
        self._stale, self._pending = True, 0
        if transaction is not None:
            with suppress(StoreError):  # the failure that brought us here is the one to tell
                transaction.rollback()

    def _reload(self) -> None:
        """What memory mirrors of the db, read again: after a dropped transaction, or when
        another connection (a second writer) committed since our last transaction."""
        clock = self.store.meta("clock")
        self._clock = datetime.fromisoformat(clock) if clock else None
        pruned = self.store.meta("pruned_at_us")
        self._pruned_at_us = int(pruned) if pruned else None
        self._saved, self._inserted, self._fed = False, False, []  # (no event of ours is open)
        self._moved = True  # memory may hold anything: read it all again
        self._undo_event(self._clock)  # (reloads the rest)
        self._remembered = self._stale = False

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """On an exception, what was not committed is dropped: those events run again next
        time (their outcomes may then be delivered twice: at least once, never lost)."""
        if kind is not None and not self._closed:
            self._abandon()
            self._closed = True  # nothing more is written, not even the clock
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
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            self._batch_depth -= 1
            raise
        self._batch_depth -= 1
        if self._batch_depth == 0:
            self.flush()

    # --- queries ------------------------------------------------------------------------
    def status(self, account_id: str) -> Status:
        return self._statuses.get(account_id, Status.ACTIVE)

    def standing(self, account_id: str) -> list[Decision]:
        """The enforced decisions behind the account's status."""
        clock = utc_text(self._clock) if self._clock else None
        return [decision_from_dict(d) for d in self.store.standing(account_id, clock)]

    def decisions(self, account_id: str) -> list[Decision]:
        """Every decision ever taken on the account, enforced and shadow, oldest first."""
        return [decision_from_dict(d) for d in self.store.decisions_of(account_id)]

    def deadlines(self, account_id: str) -> list[dict[str, Any]]:
        """The account's deadlines: rule, anchor, start and due time (event time), and state:
        `pending`, `met` (an `unless` event came), `fired` or `void` (anchor reversed)."""
        return [
            {
                "rule_id": row.rule_id,
                "anchor": row.anchor_id,
                "starts_at": from_micros(row.start_us),
                "due_at": from_micros(row.due_us),
                "state": row.state,
            }
            for row in self.store.deadlines_of(account_id)
        ]

    def audit_records(self, account_id: str | None = None) -> Iterator[dict[str, Any]]:
        return self.store.audit_records(account_id)

    def is_blacklisted(
        self, identity: Mapping[str, object], *, at: datetime | str | None = None
    ) -> bool:
        """Does this ID number or phone match a blacklist entry in force? For operators to ask
        before they create an account. `identity` is `{"id_number": …, "phone": …}` (either);
        `at` defaults to the engine's clock. Unknown keys or non-text values: `EventError`."""
        prints, at_us = self._lookup(identity, at)
        return any(self._listed.in_force(fingerprint, at_us) for _, fingerprint in prints)

    def blacklist_match(
        self, identity: Mapping[str, object], *, at: datetime | str | None = None
    ) -> BlacklistEntry | None:
        """The entry `is_blacklisted` found (the earliest entered), or None."""
        prints, at_us = self._lookup(identity, at)
        found = self._entries_at(prints, at_us)
        return min(found, key=lambda e: (e.entered_at, e.decision_id), default=None)

    def _lookup(
        self, identity: Mapping[str, object], at: datetime | str | None
    ) -> tuple[list[tuple[str, str]], int | None]:
        try:
            prints = lookup_prints(identity, self.identity_key)
        except ValueError as exc:
            raise EventError(str(exc), path="identity") from None
        moment = parse_time(at) if at is not None else self._clock
        return prints, to_micros(moment) if moment is not None else None

    def blacklist_entries(self, account_id: str | None = None) -> list[BlacklistEntry]:
        """Blacklist entries not removed: an account's, or all (fingerprints, never values)."""
        return [_entry(row) for row in self.store.entries(account_id)]

    def notice(self, decision_id: str, lang: str = "zh", tz: str = "UTC") -> Notice:
        """What the user is told about a decision, in `lang`, its times in the zone `tz`;
        from the pack that decided, as kept in the db (see `render_notice`)."""
        # Imported here: rendering is a report over the store, a layer above the engine.
        from blacklist_rules.notices import render_notice

        return render_notice(self.store, decision_id, lang=lang, tz=tz)

    # --- processing ---------------------------------------------------------------------
    @whole_or_nothing
    def advance_to(self, moment: datetime | str, *, force: bool = False) -> Outcome:
        """Move event time forward without an event (say, at the end of a day's log): every
        freeze whose time is up ends and every deadline that passes acts. The clock never goes
        back: an earlier time does nothing. A move beyond the wall clock plus `max_lead` raises
        `ClockError` and moves nothing, unless `force` (then an audit record says so)."""
        when = parse_time(moment)
        wall = self.store.now()
        beyond = self._clock is None or when > self._clock
        if beyond and not force:
            self.time_bound.refuse_move(when, wall)
        self._begin()
        self._changes, self._decided, self._reversals = [], [], []
        self._current, self._inserted, self._fed, clock = None, False, [], self._clock
        self._saved = self._moved = False
        self._savepoint()
        try:
            if beyond and self.time_bound.exceeded(when, wall):
                forced = self.time_bound.forced_record(self._clock, when, wall)
                self.store.audit("clock_forced", forced, occurred_at=utc_text(when))
            self._advance(when, None)
        except Exception as exc:  # all or nothing, like an event
            self._fail(exc, clock, None, None, "moving the clock")
        self.store.release_savepoint()
        self._saved = False
        self._after_write()
        return Outcome(None, None, tuple(self._decided), tuple(self._changes))

    def run(self, items: Iterable[object], *, source: str | None = None) -> Iterator[Outcome]:
        """Process many events (models, dicts, JSON lines or `ParsedLine`s), batching commits.

        Rejected and failed events come back as outcomes; the run goes on.
        """
        with self.batch():
            for item in items:
                try:
                    if isinstance(item, ParsedLine):
                        event = item.event if item.event else item.error
                        yield self._guarded(event, item.line, source, item.text)
                    else:
                        yield self._guarded(item, None, source, None)
                except EvaluationError as exc:
                    yield Outcome(
                        None,
                        None,
                        failure=exc,
                        line=item.line if isinstance(item, ParsedLine) else None,
                    )

    def process(
        self, event: object, *, line: int | None = None, source: str | None = None
    ) -> Outcome:
        """Process one event. A malformed one is recorded and returned as a rejection."""
        return self._guarded(event, line, source, None)

    @whole_or_nothing
    def _guarded(
        self, event: object, line: int | None, source: str | None, received: str | None
    ) -> Outcome:
        """One event, all or nothing: on a failure only this event is undone, the failure is
        recorded and `EvaluationError` raised. In a batch, the commit comes before the next
        event, once the caller has had the outcomes and `before_commit` has passed them on, so
        none is committed undelivered."""
        self._begin()
        self._input = event if received is None else received
        self._current, self._inserted, self._saved, clock = None, False, False, self._clock
        self._fed, self._moved = [], False
        try:
            outcome = self._process(event, line, source, received)
        except EventError as exc:  # refused for what it asks (an unknown decision, …)
            self._undo_event(clock)
            outcome = self._reject(exc, line, source, self._current_account())
        except Exception as exc:
            self._fail(exc, clock, line, source, "processing")
        if self._saved:
            self.store.release_savepoint()
        self._after_write()
        return outcome

    def _fail(
        self,
        exc: Exception,
        clock: datetime | None,
        line: int | None,
        source: str | None,
        what: str,
    ) -> NoReturn:
        """Undo the unit of work, record the failure, raise it as `EvaluationError`. A store
        that failed is no event's failure: the whole batch is dropped (`whole_or_nothing`)."""
        if isinstance(exc, StoreUnavailableError):
            raise exc
        self._undo_event(clock)
        self._record_failure(exc, line, source)
        self._after_write()
        if isinstance(exc, EvaluationError):
            raise exc
        raise EvaluationError(f"{what} failed, nothing decided: {self._told(exc)}") from exc

    def _told(self, exc: Exception) -> str:
        """What a failure may say: an unexpected error while the input held identity values
        might quote them, so then only its type is told."""
        if isinstance(exc, EvaluationError):
            return str(exc)
        if "identity" in input_text(self._input) or isinstance(self._current, Registration):
            return (
                f"{type(exc).__name__} (its message is withheld: the input holds identity values)"
            )
        return repr(exc)

    def _undo_event(self, clock: datetime | None) -> None:
        """Undo what the event wrote (its savepoint if it took one, and its row); what memory
        holds beside the db follows it back. The mirrors (statuses, the blacklist listing,
        waiting accounts, vetoes) are read again only when the event changed one: each
        change sets `_moved` where it is made (`_set_status`, `_sync_registry`, `_schedule`,
        `_cascade`). A refused event (an appeal of an unknown decision) changed none: its
        undo costs nothing in the size of the db, where a full read of 100,000 blacklist
        entries took 280 ms."""
        if self._saved:
            self.store.rollback_to_savepoint()
            self.store.release_savepoint()
            self._saved = False
        if self._inserted and self._current is not None:
            self.store.forget_event(self._current.event_id)
        for row in self._fed:  # written before any savepoint
            self.store.forget_history(*row)
        self._fed = []
        self._clock = clock
        self._next_due = self._due()
        if not self._moved:
            return
        self._moved = False
        self._waiting = self.store.waiting_accounts()
        self._statuses = {row.account_id: Status(row.status) for row in self.store.flagged()}
        self._listed = self._load_listed()
        self._vetoed = self._load_vetoes()

    def _load_vetoes(self) -> dict[tuple[str, str, str], set[str]]:
        """Decisions never taken again: those reversed by a person in this db, and those a
        scratch engine was given by the engine it replays for."""
        return {**self._inherited, **self.store.vetoed()}

    def _current_account(self) -> str | None:
        return self._current.account_id if self._current is not None else None

    def _record_failure(self, exc: Exception, line: int | None, source: str | None) -> None:
        event = self._current
        self.store.audit(
            "evaluation_failed",
            {
                "event_id": event.event_id if event else None,
                "line": line,
                "source": source,
                "error": self._told(exc),
                "ruleset_digest": self.digest,
            },
            account_id=event.account_id if event else None,
            event_id=event.event_id if event else None,
            occurred_at=utc_text(event.occurred_at) if event else None,
        )

    def _begin(self) -> None:
        """Open the transaction, first committing a full batch whose outcomes were handed out."""
        if self._pending >= self.commit_every:
            self.flush()
        if self._tx is None:
            self._tx = self.store.begin()  # (a read-only store refuses)
            if self._stale or self.store.written_elsewhere:
                self._reload()
        if not self._remembered:  # the first write: keep the rules, fill new streams
            rules = [_rule_record(rule) for rule in self.ruleset.rules]
            notices = self.ruleset.notices.files if self.ruleset.notices else None
            self.store.remember_ruleset(self.ruleset.digest, rules, notices)
            self._fill_streams()
            self._remembered = True

    def _after_write(self) -> None:
        self._pending += 1
        if self._batch_depth == 0:
            self.flush()

    def _process(
        self, raw: object, line: int | None, source: str | None, received: str | None
    ) -> Outcome:
        try:
            if isinstance(raw, EventError):
                raise raw
            event = parse_event(raw)
            self.time_bound.admit(
                event.occurred_at,
                self.store.now(),
                event_id=event.event_id,
                account_id=event.account_id,
            )
        except EventError as exc:
            return self._reject(exc, line, source)
        self._prints, self._hits = None, []
        event = mask_extras(event, self.identity_key)  # no raw identity value in evidence
        if isinstance(event, Registration):
            event = self._identify(event)
        self._current = event
        text = stored_text(event, received)
        micros = self._at_us = to_micros(event.occurred_at)
        cut_us = self.store.history_cut_us
        if cut_us is not None and micros < cut_us:  # settled: a resend, or refused
            known = self.store.stored_payload_of(event.event_id)
            if known is not None and (
                known == PURGED
                or _same_event(known, text, event)
                or known == declared_payload(text)
            ):
                return self._resent(event, line)
            raise EventError(
                f"occurred before the history cut {utc_text(from_micros(cut_us))}: the history "
                "it would be weighed with is purged",
                path="occurred_at",
                event_id=event.event_id,
            )
        clock_us = to_micros(self._clock) if self._clock is not None else None
        known = self.store.add_event(
            event.event_id, event.account_id, event.type, micros, text, clock_us
        )
        if known is not None and _same_event(known, text, event):
            return self._resent(event, line)
        if known is not None:
            return self._reject(
                EventError(
                    "event_id was already used by a different event",
                    path="event_id",
                    event_id=event.event_id,
                ),
                line,
                source,
                event.account_id,
            )
        self._inserted = True
        self._changes, self._decided, self._reversals = [], [], []
        occasions, listening = self._match(event)
        matched = any(occasion.matches for occasion in occasions)
        quiet = (
            not matched
            and event.type not in _TYPES_WITH_EFFECTS
            and not self._meets_or_starts(event, listening)
        )
        if quiet and (self._next_due is None or self._next_due > event.occurred_at):
            # The common case: nothing matched, nothing changes, no freeze ends: one write
            # (and the event's history rows, if it feeds a window).
            if self._clock is None or event.occurred_at > self._clock:
                self._clock = event.occurred_at
            return Outcome(
                event.event_id, event.account_id, status=self.status(event.account_id), line=line
            )
        # More than one write may follow: under a savepoint, so a failure undoes them all.
        self._savepoint()
        if self._prints is not None:
            for kind, fingerprint in self._prints.all():
                self.store.add_identity(kind, fingerprint, event.account_id, event.event_id, micros)
        self._advance(event.occurred_at, event.event_id)
        self._listen(event, listening)
        human = self._apply_event(event)  # may refuse the event: EventError, see _guarded
        decisions = list(human)
        for decision in human:
            self._record(decision, event.event_id)
        for occasion in occasions:
            # One decision per event and account: a reviewer's decision is the event's decision.
            own = human and occasion.key == event.event_id
            for mode in (Mode.SHADOW,) if own else (Mode.ENFORCE, Mode.SHADOW):
                # Recorded before the next occasion is decided: each sees the status the
                # earlier ones left (a late event's blacklist stops its later freezes).
                chosen = self._decide(event.account_id, occasion, mode)
                if chosen is None:
                    continue
                decisions.append(chosen)
                self._record(chosen, event.event_id)
                if chosen.end_condition == VERIFICATION_PASSED and chosen.mode == Mode.ENFORCE:
                    self._end_if_already_verified(chosen, event.event_id)
        for at_us, firing_id, account_id, rule_ids in self._elsewhere:
            # A later registration of the group whose window this (late) one completed.
            rules = [rule for rule in self.ruleset.rules if rule.id in rule_ids]
            rows = {
                rule.window.stream: self._rows[rule.window.stream] for rule in rules if rule.window
            }
            self._decide_stored(
                firing_id,
                account_id,
                at_us,
                _features(self.ruleset, rows, at_us, None),
                rule_ids,
                event.event_id,
                dict(_window_evidence(rules, rows, at_us)),
                event.event_id,
            )
        if self._next_due is not None and self._clock and self._next_due <= self._clock:
            self._advance(event.occurred_at, event.event_id)  # a freeze already over ends now
        return Outcome(
            event.event_id,
            event.account_id,
            (*decisions, *self._decided),
            tuple(self._changes),
            self.status(event.account_id),
            line=line,
            reversals=tuple(self._reversals),
        )

    def _resent(self, event: Event, line: int | None) -> Outcome:
        """A repeat of an event the db had: ignored, and reported as a duplicate."""
        return Outcome(
            event.event_id,
            event.account_id,
            duplicate=True,
            line=line,
            status=self.status(event.account_id),
        )

    def _reject(
        self, error: EventError, line: int | None, source: str | None, account_id: str | None = None
    ) -> Outcome:
        """Record why an event was refused (once: the same input refused again, say by a rerun
        over the same file, is reported but not recorded again); identity values never reach
        the record. The account is the one the event names, else the input's own if usable."""
        account_id = account_id or error.account_id
        digest = self.identity_key.fingerprint("rejected", input_text(self._input))
        if not self.store.first_rejection(digest):
            return Outcome(error.event_id, account_id, rejection=error, line=line)
        record = {
            "line": line,
            "source": source,
            "event_id": error.event_id,
            "account_id": account_id,
            "path": error.path,
            "reason": error.reason,
        }
        self.store.audit("rejected_event", record, account_id=account_id, event_id=error.event_id)
        return Outcome(error.event_id, account_id, rejection=error, line=line)

    # --- matching -----------------------------------------------------------------------
    def _match(self, event: Event) -> tuple[list[_Occasion], list[Listener]]:
        """Rules that hold for the event: the guard picks them, durable-rules must agree.

        Events that feed a stream enter history first, so the snapshot carries each window's
        count. The first occasion is the event's own; a late event adds the later moments
        whose windows it completed.
        """
        ruleset, at_us = self.ruleset, self._at_us
        snapshot = ruleset.snapshot(flatten(event), event.type)
        if event.type == "registration":
            self._hits = self._entries_at(self._prints.listed() if self._prints else [], at_us)
            snapshot[BLACKLISTED_IDENTITY] = bool(self._hits)
        listening = [it for it in ruleset.listeners.get(event.type, ()) if it.guard(snapshot)]
        rows = self._observe(event, snapshot, listening) if listening else {}
        if self.observe is not None:
            self.observe(event, snapshot)
        candidates = ruleset.by_type.get(event.type, ())
        # A window rule can hold only when the event fed its stream (its count is there).
        checked = candidates if rows else self._without_windows.get(event.type, ())
        guarded = [rule for rule in checked if rule.guard(snapshot)]
        # Only an event behind the clock can have history after it (no query otherwise).
        behind = rows and self._clock is not None and at_us < to_micros(self._clock)
        late = self._late(event, rows) if behind else {}
        self._elsewhere = self._late_elsewhere(event, rows) if behind else []
        self._rows = rows
        names = [it.name for it in listening]
        if guarded or not self.prefilter:
            self._agree(event.event_id, snapshot, [rule.id for rule in guarded] + names)
        elif not late:
            # The prefilter's contract: no rule can hold, so durable-rules is not asked. What
            # enters history is then the guard's call alone (proven equal to durable-rules by
            # the differential tests; prefilter=False checks it on every event).
            return [], listening
        evidence = _window_evidence(guarded, rows, at_us)
        for rule in guarded:
            if rule.id in self._reads_blacklist and self._hits:
                # The earlier decisions behind the entries it matched are evidence too.
                earlier = dict.fromkeys(entry.decision_id for entry in self._hits)
                evidence[rule.id] = (*evidence.get(rule.id, (event.event_id,)), *earlier)
        occasions = [
            _Occasion(
                event.occurred_at,
                event.event_id,
                event.event_id,
                tuple(_match_of(rule, snapshot) for rule in guarded),
                evidence,
                windows=rows,
            )
        ]
        for moment, (firing_event, rule_ids) in sorted(late.items()):
            later = {**snapshot, **_features(ruleset, rows, moment, self._caps)}
            held = [rule for rule in candidates if rule.guard(later)]
            self._agree(event.event_id, later, [rule.id for rule in held] + names)
            new = [rule for rule in held if rule.id in rule_ids]
            occasions.append(
                _Occasion(
                    from_micros(moment),
                    f"{event.event_id}@{firing_event}",
                    event.event_id,
                    tuple(_match_of(rule, later) for rule in new),
                    _window_evidence(new, rows, moment),
                    windows=rows,
                )
            )
        if event.type in _REVERSING and rows:
            occasions = [self._settle(occasion) for occasion in occasions]
        return occasions, listening

    def _settle(self, occasion: _Occasion) -> _Occasion:
        """The occasion with its windows read whole now: the event's reversals may withdraw
        events from them before it is decided."""
        if isinstance(occasion.evidence, WindowEvidence):
            occasion.evidence.settle()
        matches = tuple(self._exact(match, occasion) for match in occasion.matches)
        return attrs.evolve(occasion, matches=matches, windows={})

    def _agree(self, what: str, snapshot: dict[str, Any], expected: list[str]) -> None:
        fired = self._matcher.match(snapshot)
        if sorted(fired) != sorted(expected):
            raise EvaluationError(
                f"rule engines disagree on {what}: durable-rules fired "
                f"{sorted(fired)}, the guard {sorted(expected)}"
            )

    def _observe(
        self, event: Event, snapshot: dict[str, Any], listening: list[Listener]
    ) -> dict[str, StreamWindow]:
        """Add the event to the streams it feeds; put each window's count in the snapshot.

        An event more than the horizon (the longest window or deadline) behind the clock is
        too late to count: it is kept in the log but enters no stream.
        """
        at_us = self._at_us
        clock_us = max(to_micros(self._clock), at_us) if self._clock else at_us
        if at_us < clock_us - self.ruleset.horizon_us:
            return {}
        found: dict[str, StreamWindow] = {}
        for listener in listening:
            if listener.stream is None or listener.stream in self._from_log:
                continue
            stream = self.ruleset.streams[listener.stream]
            group = event.account_id
            if stream.by is not None:  # grouped by an identity value: its fingerprint
                shared = dict(self._prints.all()).get(stream.by) if self._prints else None
                if shared is None:
                    continue
                group = shared
            value = snapshot.get(stream.distinct) if stream.distinct else None
            self.store.add_history(stream.key, group, at_us, event.event_id, value)
            self._fed.append((stream.key, group, at_us, event.event_id))
            if self.ruleset.windows.get(stream.key):
                live = self._was_live if stream.by is not None else None  # live accounts count
                distinct = stream.distinct is not None
                fed = (at_us, event.event_id, value)
                found[stream.key] = StreamWindow(self.store, stream.key, group, distinct, live, fed)
        snapshot.update(_features(self.ruleset, found, at_us, self._caps))
        return found

    def _was_live(self, account: object) -> bool:
        """Was the account live when the event was matched? (Its decisions, and what its
        reversals cascade to, may change statuses before a window is read again.)"""
        for change in self._changes:
            if change.account_id == account:
                return change.status_before not in _GONE
        return self.status(str(account)) not in _GONE

    def _late(self, event: Event, rows: dict[str, StreamWindow]) -> dict[int, tuple[str, set[str]]]:
        """Later moments whose windows the (late) event completes, and the rules firing then."""
        at_us = self._at_us
        moments: dict[int, tuple[str, set[str]]] = {}
        later: dict[str, bool] = {}  # has the stream rows after the event?
        for rule in self.ruleset.by_type.get(event.type, ()):
            test = rule.window
            if test is None or test.stream not in rows or self.ruleset.streams[test.stream].by:
                continue  # (windows `by` an identity: `_late_elsewhere`)
            window = rows[test.stream]
            if test.stream not in later:
                later[test.stream] = window.has_after(at_us)
            if not later[test.stream]:
                continue  # in time order: nothing after it
            for firing in window.late_firings(test.span_us, test.count):
                moments.setdefault(firing.at_us, (firing.event_id, set()))[1].add(rule.id)
        return moments

    def _meets_or_starts(self, event: Event, listening: list[Listener]) -> bool:
        """Would `_listen` write: start a deadline, or meet one of the account's?"""
        for listener in listening:
            if listener.name in self._after:
                return True
            if listener.stream in self._unless and event.account_id in self._waiting:
                return True
        return False

    def _listen(self, event: Event, listening: list[Listener]) -> None:
        """The event meets the deadlines it is an `unless` of, and starts those it anchors."""
        at_us = self._at_us
        for listener in listening:
            rule = self._after.get(listener.name)
            if rule is not None:
                self._audit_deadline(
                    self._schedule(rule, event.account_id, event.event_id, event.event_id, at_us)
                )
            waiting = self._unless.get(listener.stream) if listener.stream else None
            if waiting and event.account_id in self._waiting:
                for row in self.store.meet_deadlines(event.account_id, waiting, at_us):
                    self._audit_deadline(row)

    # --- deciding -----------------------------------------------------------------------
    def _decide(self, account_id: str, occasion: _Occasion, mode: Mode) -> Decision | None:
        """The most severe match that takes effect: automation never lowers a status."""
        matches = sorted((m for m in occasion.matches if m.mode == mode), key=_precedence)
        if mode == Mode.ENFORCE and self._vetoed:
            at = utc_text(occasion.at)
            for m in matches:
                vetoed = self._vetoed.get((account_id, m.rule_id, at))
                evidence = occasion.evidence.get(m.rule_id, (occasion.event_id,))
                if vetoed is not None and vetoed.intersection(evidence):
                    return None  # a person reversed this decision: it is never taken again
        before = self.status(account_id)
        for best in matches:
            rule = self.ruleset.rule(best.rule_id)
            expires = occasion.at + rule.duration if rule.duration else None
            if self._takes_effect(account_id, best, occasion.at, expires, before):
                break
        else:
            return None
        enforce = best.mode == Mode.ENFORCE
        return Decision(
            decision_id=decision_id(occasion.key, account_id, best.mode),
            account_id=account_id,
            action=best.action,
            rule_id=best.rule_id,
            rule_version=best.rule_version,
            ruleset_digest=self.digest,
            evidence=occasion.evidence.get(best.rule_id, (occasion.event_id,)),
            reason=best.reason,
            mode=best.mode,
            effective_at=occasion.at,
            expires_at=expires,
            status_before=before,
            status_after=max(before, best.action.status, key=lambda s: s.severity)
            if enforce
            else before,
            end_condition=rule.until if best.action == Action.FREEZE else None,
            matched=tuple(self._exact(m, occasion) for m in matches),
            anchor=occasion.anchor,
        )

    def _exact(self, match: RuleMatch, occasion: _Occasion) -> RuleMatch:
        """The match with its window's whole count, where the snapshot's count stopped at the
        largest a rule asks (see windows.py): read only for a decision."""
        test = self.ruleset.rule(match.rule_id).window
        seen = match.conditions[-1].seen if test is not None and match.conditions else None
        if test is None or test.stream not in occasion.windows or seen != self._caps[test.key]:
            return match
        window = occasion.windows[test.stream]
        exact = window.exact(to_micros(occasion.at), test.span_us)
        last = attrs.evolve(match.conditions[-1], seen=exact)
        return attrs.evolve(match, conditions=(*match.conditions[:-1], last))

    def _takes_effect(
        self,
        account_id: str,
        match: RuleMatch,
        at: datetime,
        expires: datetime | None,
        status: Status,
    ) -> bool:
        """Above the status, or a freeze of a frozen account that no freeze of the same rule
        already covers: freezes end on their own terms, so each reason stands on its own."""
        if match.action.status.severity > status.severity:
            return True
        if match.action != Action.FREEZE or status != Status.FROZEN:
            return False
        until = utc_text(expires) if expires else None
        return not self.store.covered(account_id, match.rule_id, match.mode, utc_text(at), until)

    def _apply_event(self, event: Event) -> list[Decision]:
        """Effects of the event itself: passed verifications, human reviews, appeals."""
        if isinstance(event, IdentityVerification | Registration):
            passed = (
                event.status
                if isinstance(event, IdentityVerification)
                else event.verification.status
                if event.verification
                else None
            )
            if passed == "passed" and event.account_id in self._statuses:
                ended = self.store.end_decisions(
                    event.account_id, VERIFICATION_PASSED, utc_text(event.occurred_at)
                )
                if ended:
                    self._recompute(
                        event.account_id,
                        f"verification passed: {', '.join(ended)}",
                        event.occurred_at,
                        event.event_id,
                    )
            if self.status(event.account_id) == Status.BLACKLISTED:
                # What passed (or was found to be a victim's) changes what is listed.
                self._sync_registry(event.account_id, event.occurred_at, event.event_id)
            return []
        if isinstance(event, ReviewDecision):
            return self._review(event)
        if isinstance(event, AppealOutcome):
            self._appeal(event)
        return []

    def _review(self, event: ReviewDecision) -> list[Decision]:
        if event.action != "lift":
            action = Action(event.action)
            before = self.status(event.account_id)
            after = max(before, action.status, key=lambda s: s.severity)
            return [
                Decision(
                    decision_id=decision_id(event.event_id, event.account_id, Mode.ENFORCE),
                    account_id=event.account_id,
                    action=action,
                    rule_id=HUMAN_REVIEW,
                    rule_version=0,
                    ruleset_digest=self.digest,
                    evidence=(event.event_id,),
                    reason=event.reason,
                    mode=Mode.ENFORCE,
                    effective_at=event.occurred_at,
                    expires_at=None,
                    status_before=before,
                    status_after=after,
                )
            ]
        if event.decision_id is not None:
            self._reverse(self._standing_decision(event, event.decision_id), event)
        else:
            # Every decision standing when the reviewer lifted (not those taken after a late
            # lift), reversed together: one status change, from the status to what remains.
            clock = utc_text(self._clock) if self._clock else None
            lifted = self.store.standing(event.account_id, clock, utc_text(event.occurred_at))
            for record in lifted:
                self._mark_reversed(record, event)
            if lifted:
                reversed_ids = ", ".join(record["decision_id"] for record in lifted)
                self._cascade(lifted, event, f"review_decision lifted {reversed_ids}")
        return []

    def _standing_decision(
        self, event: ReviewDecision | AppealOutcome, wanted: str
    ) -> dict[str, Any]:
        found = self.store.decision(wanted)
        if found is None or found.record["account_id"] != event.account_id:
            raise EventError(
                f"no decision {wanted} on account {event.account_id}",
                path="decision_id",
                event_id=event.event_id,
            )
        record = found.record
        if found.reversed_by is not None:
            raise EventError(
                f"decision {wanted} was already reversed by {found.reversed_by}",
                path="decision_id",
                event_id=event.event_id,
            )
        if record["mode"] != Mode.ENFORCE:
            raise EventError(
                f"decision {wanted} is a shadow decision: it never took effect",
                path="decision_id",
                event_id=event.event_id,
            )
        return record

    def _appeal(self, event: AppealOutcome) -> None:
        record = self._standing_decision(event, event.decision_id)
        if event.outcome == "overturned":
            self._reverse(record, event)
        else:
            self.store.audit(
                "appeal_upheld",
                {
                    "decision_id": event.decision_id,
                    "event_id": event.event_id,
                    "reviewer_id": event.reviewer_id,
                    "reason": event.reason,
                },
                account_id=event.account_id,
                event_id=event.event_id,
                decision_id=event.decision_id,
                occurred_at=utc_text(event.occurred_at),
            )

    def _reverse(self, record: dict[str, Any], event: ReviewDecision | AppealOutcome) -> None:
        self._mark_reversed(record, event)
        self._cascade([record], event, f"{event.type} reversed {record['decision_id']}")

    def _mark_reversed(self, record: dict[str, Any], event: ReviewDecision | AppealOutcome) -> None:
        self.store.reverse_decision(record["decision_id"], event.event_id, event.type)
        self._reversals.append(
            Reversal(record["decision_id"], record["account_id"], event.type, event.event_id)
        )
        self.store.audit(
            "reversal",
            {
                "decision_id": record["decision_id"],
                "by_event": event.event_id,
                "by": event.type,
                "reviewer_id": event.reviewer_id,
                "reason": event.reason,
            },
            account_id=event.account_id,
            event_id=event.event_id,
            decision_id=record["decision_id"],
            occurred_at=utc_text(event.occurred_at),
        )

    def _end_if_already_verified(self, decision: Decision, event_id: str) -> None:
        """A freeze decided on a late event ends at once if a verification passed after it:
        in time order that check would have ended it, so arrival order changes nothing."""
        since = to_micros(decision.effective_at)
        passed = self.store.passed_verification_since(decision.account_id, since)
        if passed is None:
            return
        passed_id, passed_us = passed.event_id, passed.occurred_us
        at = from_micros(passed_us)
        self.store.end_decision(decision.decision_id, utc_text(at))
        self._recompute(
            decision.account_id,
            f"verification passed: {decision.decision_id} (by {passed_id}, which came earlier)",
            at,
            event_id,
        )

    # --- the reversal cascade ----------------------------------------------------------
    def _cascade(
        self,
        reversed_records: list[dict[str, Any]],
        event: ReviewDecision | AppealOutcome,
        cause: str,
    ) -> None:
        """Re-evaluate what the reversed decisions reached, as if their evidence never came.

        The evidence each was taken on is withdrawn (it stops counting in every window). The
        accounts linked to this one are replayed without it on a scratch engine, in the order
        their events came and under the clock each came at, with every decision a person
        reversed vetoed. From the first event and moment the reversal touches, the two are
        reconciled: an automatic decision the replay no longer takes is reversed in its own
        record, linked to the cause; one it takes that was never taken (a freeze a blacklist
        had made pointless, a late strike's blacklist) is recorded as re-evaluated; shadow
        decisions alike, so a shadow rule is judged on the evidence that stands. Statuses
        and blacklist entries follow. The replay runs the pack in force, as late events do.
        """
        withdrawn = self._withdraw(reversed_records, event)
        fallen = sorted(record["decision_id"] for record in reversed_records)
        self._moved = True
        for key, evidence in self.store.vetoed(fallen).items():  # theirs join the vetoes
            self._vetoed.setdefault(key, set()).update(evidence)
        touched = {*withdrawn, *self.store.recorded_by(fallen).values()}
        accounts = self.store.linked_accounts(event.account_id, self._linking)
        world, boundary = self._world_without(accounts)
        try:
            found = world.store.taken_of(accounts)
            waiting = world.store.pending_deadlines_of(accounts)
        finally:
            world.close()
        old = self.store.taken_of(accounts)
        arrival = self.store.arrivals({*touched, *(row.event_id for row in (*old, *found))})
        start = min((arrival[e] for e in touched if e in arrival), default=0)
        since = min(
            [utc_text(_time(record)) for record in reversed_records]
            + [utc_text(from_micros(at_us)) for at_us in withdrawn.values()]
        )

        cut = self.store.history_cut_us
        settled = utc_text(from_micros(cut)) if cut is not None else ""
        if since < settled:  # say so: what followed before the cut stays as it was
            self.store.audit(
                "cascade_settled",
                {"by_event": event.event_id, "cascade_of": fallen, "history_cut": settled},
                account_id=event.account_id,
                event_id=event.event_id,
                occurred_at=utc_text(event.occurred_at),
            )

        def reached(row: TakenDecision) -> bool:
            """Automatic, not settled by a history cut (taken before it, on an event that came
            before the replay's start), and taken on an event that came after the first one
            the reversal touches, or at a moment after it: what lies before both cannot
            depend on it."""
            if row.record["rule_id"] == HUMAN_REVIEW:
                return False
            taken = utc_text(_time(row.record))
            if taken < settled and arrival.get(row.event_id, 0) < boundary:
                return False
            return arrival.get(row.event_id, start) >= start or taken >= since

        twins: dict[tuple[str, ...], list[TakenDecision]] = {}
        for row in found:
            twins.setdefault(_content(row.record), []).append(row)
        link = {"by_event": event.event_id, "cascade_of": fallen}
        gone = {*withdrawn, *fallen}
        ids: dict[str, str] = {}  # the replay's decision ids -> ours
        at_text = utc_text(event.occurred_at)
        pairs = []  # each of ours with the same decision in the replay, if it has one
        for row in old:
            same = twins.get(_content(row.record))
            twin = same.pop(0).record if same else None
            if twin is not None:
                ids[twin["decision_id"]] = row.record["decision_id"]
            if reached(row):
                pairs.append((row.record, twin))
        gone.update(record["decision_id"] for record, twin in pairs if twin is None)
        added = [row for row in found if row.record["decision_id"] not in ids and reached(row)]
        for record in (row.record for row in added):
            seed = f"{record['decision_id']}@{event.event_id}"
            mode = Mode(record["mode"])
            ids[record["decision_id"]] = decision_id(seed, record["account_id"], mode)
        for record, twin in pairs:
            decision = record["decision_id"]
            if twin is None:
                self.store.reverse_decision(decision, event.event_id, CASCADE)
                self._reversals.append(
                    Reversal(decision, record["account_id"], CASCADE, event.event_id)
                )
                kind, what = "reversal", {"by": CASCADE, **link, "reason": _FELL}
            elif gone.intersection(record["evidence"]):
                supported = [ids.get(item, item) for item in twin["evidence"]]
                kind, what = "re_evaluation", {"still_supported_by": supported, **link}
            else:
                continue
            self.store.audit(
                kind,
                {"decision_id": decision, **what},
                account_id=record["account_id"],
                event_id=event.event_id,
                decision_id=decision,
                occurred_at=at_text,
            )
        for record, ended in ((row.record, row.ended_at) for row in added):
            anchor = record.get("anchor")
            decision = decision_from_dict(
                {
                    **record,
                    "decision_id": ids[record["decision_id"]],
                    "evidence": [ids.get(item, item) for item in record["evidence"]],
                    "anchor": ids.get(anchor, anchor) if anchor else None,
                }
            )
            # Decided now, dated at its past moment: `decided_at` says when it was decided.
            stored = {**decision.to_dict(), "re_evaluated": {**link, "decided_at": at_text}}
            expires = utc_text(decision.expires_at) if decision.expires_at else None
            at = utc_text(decision.effective_at)
            self.store.add_decision(stored, event.event_id, at, expires)
            self.store.audit(
                "decision",
                self._vouched(stored),
                account_id=decision.account_id,
                event_id=event.event_id,
                decision_id=decision.decision_id,
                occurred_at=at,
            )
            if ended is not None:
                self.store.end_decision(decision.decision_id, ended)
            self._decided.append(decision)
        for due in waiting:
            # (One we already have, pending or not, stays as it is.)
            kept = (
                due.rule_id,
                ids.get(due.anchor_id, due.anchor_id),
                due.account_id,
                due.anchor_event_id,
                due.start_us,
                due.due_us,
            )
            if self.store.add_deadline(*kept, "pending"):
                self._audit_deadline((*kept, "pending"))
            self._waiting.add(due.account_id)
        for due in self.store.pending_deadlines_of(accounts):
            if due.anchor_id in withdrawn:  # counted from an event that no longer counts
                self._audit_deadline(
                    self.store.set_deadline_state(due.rule_id, due.anchor_id, "void")
                )
        for account in sorted(accounts):
            self._recompute(account, cause, event.occurred_at, event.event_id)
        for account in sorted(accounts):
            self._sync_registry(account, event.occurred_at, event.event_id)
        self._next_due = self._due()

    def _withdraw(
        self, reversed_records: list[dict[str, Any]], event: ReviewDecision | AppealOutcome
    ) -> dict[str, int]:
        """Withdraw the evidence each reversed decision was taken on: the events of its evidence
        at its own moment (the strike that completed a window, the report, the reviewer's own
        event), never a registration (the account's identity stays), nothing for a deadline's
        decision. They leave every window; their ids and times."""
        found: dict[str, int] = {}
        for record in reversed_records:
            at_us = to_micros(_time(record))
            for logged in self.store.events_of(record["evidence"]):
                event_id, account, occurred_us = (
                    logged.event_id,
                    logged.account_id,
                    logged.occurred_us,
                )
                if (
                    logged.type == "registration"
                    or occurred_us != at_us
                    or account != record["account_id"]
                ):
                    continue
                if not self.store.withdraw(event_id, event.event_id, record["decision_id"]):
                    continue
                for key in self.ruleset.streams:
                    self.store.forget_history(key, account, occurred_us, event_id)
                self.store.audit(
                    "evidence_withdrawn",
                    {
                        "event_id": event_id,
                        "decision_id": record["decision_id"],
                        "by_event": event.event_id,
                    },
                    account_id=account,
                    event_id=event.event_id,
                    decision_id=record["decision_id"],
                    occurred_at=utc_text(event.occurred_at),
                )
                found[event_id] = occurred_us
        return found

    def _world_without(self, accounts: set[str]) -> tuple[Engine, int]:
        """The accounts replayed on a scratch engine from their events that still count, with
        every decision a person reversed vetoed, up to our clock; and the log position the
        replay starts at (0, unless history was purged: see `_settle_into`)."""
        key = attrs.evolve(self.identity_key, source=f"{self.identity_key.source} (replay)")
        world = Engine(
            self.ruleset,
            SQLiteStore(),
            prefilter=self.prefilter,
            prune=False,
            identity_key=key,
            max_lead=None,  # it replays what this engine admitted
        )
        try:
            boundary = self._replay_into(world, accounts)
        except BaseException:
            world.close()
            raise
        return world, boundary

    def _replay_into(self, world: Engine, accounts: set[str]) -> int:
        world._vetoed = world._inherited = self._vetoed
        for event_id, pairs in self.store.prints_of(accounts).items():
            found = {pair.kind: pair.fingerprint for pair in pairs}
            world._given[event_id] = Fingerprints(
                id_number=found.get(ID_NUMBER), phone=found.get(PHONE), device=found.get(DEVICE)
            )
        cut_us = self.store.history_cut_us
        with world.batch():
            boundary = 0 if cut_us is None else self._settle_into(world, accounts, cut_us)
            for logged in self.store.replay_of(accounts, boundary):
                payload, clock_us = logged.payload, logged.clock_us
                if clock_us is not None and (
                    world.clock is None or world.clock < from_micros(clock_us)
                ):
                    world.advance_to(from_micros(clock_us))  # time other accounts moved
                world.process(payload)
            if self._clock is not None:
                world.advance_to(self._clock)
        return boundary

    def _settle_into(self, world: Engine, accounts: set[str], cut_us: int) -> int:
        """Start the replay where history is no longer settled: at the accounts' first event
        from the history cut on, from their state when it came (the events before it, the
        decisions before the cut recorded by then, their deadlines and blacklist entries,
        statuses). Returns that event's position in the log: the replay goes on from it."""
        first = self.store.first_arrival_since(accounts, cut_us)
        if first is None:  # none came yet: their state now
            boundary, clock = self.store.log_end(), self._clock
        else:
            boundary = first.position
            clock = from_micros(first.clock_us) if first.clock_us is not None else None
        world.store.seed_from(self.store, accounts, cut_us, boundary)
        world._clock = clock
        world._begin()  # fills the windows from the events seeded
        for due in world.store.deadlines_from(
            to_micros(clock) if clock else cut_us
        ):  # not yet due then: met by what had come, or pending
            rule = self._rules.get(due.rule_id)
            if rule is None or rule.deadline is None:  # a rule the pack in force lacks
                continue
            keys = rule.deadline.unless
            met = any(world._seen(key, due.account_id, due.start_us, due.due_us) for key in keys)
            world.store.set_deadline_state(due.rule_id, due.anchor_id, "met" if met else "pending")
        world._waiting = world.store.waiting_accounts()
        world._listed = world._load_listed()
        for account in sorted(accounts):
            world._recompute(account, HISTORY_CUT, clock or from_micros(cut_us), None)
        world._next_due = world._due()
        return boundary

    # --- recording ----------------------------------------------------------------------
    def _record(self, decision: Decision, event_id: str) -> None:
        record = decision.to_dict()
        expires = utc_text(decision.expires_at) if decision.expires_at else None
        self.store.add_decision(record, event_id, utc_text(decision.effective_at), expires)
        started = []  # the deadlines it starts: its audit record vouches for them
        if decision.mode == Mode.ENFORCE:
            start_us = to_micros(decision.effective_at)
            for rule in self._anchored.get(decision.rule_id, ()):
                row = self._schedule(
                    rule, decision.account_id, decision.decision_id, event_id, start_us
                )
                if row is not None:
                    started.append(dict(zip(DEADLINE_COLUMNS, row, strict=True)))
        self.store.audit(
            "decision",
            self._vouched(record, started),
            account_id=decision.account_id,
            event_id=event_id,
            decision_id=decision.decision_id,
            occurred_at=utc_text(decision.effective_at),
        )
        if decision.expires_at is not None:
            self._due_by(decision.expires_at)
        if decision.mode == Mode.ENFORCE and decision.status_after != decision.status_before:
            self._set_status(
                decision.account_id,
                decision.status_before,
                decision.status_after,
                f"decision {decision.decision_id}",
                decision.effective_at,
                event_id,
                decision.decision_id,
            )
        if decision.mode == Mode.ENFORCE and decision.action == Action.BLACKLIST:
            self._sync_registry(decision.account_id, decision.effective_at, event_id)

    def _vouched(
        self, record: dict[str, Any], started: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        """A decision's audit record: it vouches for its evidence events as stored and the
        deadlines it started (`audit_crosscheck.vouched`); its row and output are the record."""
        evidence = list(record["evidence"])
        return vouched(record, self.store.event_rows(evidence) if evidence else (), started)

    def _audit_deadline(self, row: Deadline | Sequence[Any] | None) -> None:
        """Say in the trail what a deadline row (`DEADLINE_COLUMNS`) now is, when no decision's
        record says so: `audit verify` checks the row against it."""
        if row is not None:
            values = attrs.astuple(row) if isinstance(row, Deadline) else row
            record = dict(zip(DEADLINE_COLUMNS, values, strict=True))
            self.store.audit(DEADLINE_ROW, record, account_id=str(record["account_id"]))

    def _set_status(
        self,
        account_id: str,
        before: Status,
        after: Status,
        cause: str,
        at: datetime,
        event_id: str | None,
        decision: str | None = None,
    ) -> None:
        self.store.set_status(account_id, after)
        self._moved = True
        if after == Status.ACTIVE:
            self._statuses.pop(account_id, None)
        else:
            self._statuses[account_id] = after
        change = StatusChange(account_id, before, after, cause, at, event_id, decision)
        self.store.audit(
            "status_change",
            change.to_dict(),
            account_id=account_id,
            event_id=event_id,
            decision_id=decision,
            occurred_at=utc_text(at),
        )
        self._changes.append(change)

    def _recompute(self, account_id: str, cause: str, at: datetime, event_id: str | None) -> None:
        """Status from the decisions still standing; `active` when none stands."""
        clock = utc_text(self._clock) if self._clock else None
        standing = self.store.standing(account_id, clock)
        after = max(
            (Action(d["action"]).status for d in standing),
            key=lambda s: s.severity,
            default=Status.ACTIVE,
        )
        before = self.status(account_id)
        if after != before:
            self._set_status(account_id, before, after, cause, at, event_id)

    def _advance(self, moment: datetime, event_id: str | None) -> None:
        """Move the clock to `moment` (never back): deadlines that pass act, freezes whose
        time is up end. A deadline's decision may start another deadline: repeat until none
        is due (deadlines form no cycle: checked at load)."""
        if self._clock is None or moment > self._clock:
            self._clock = moment
        while self._next_due is not None and self._next_due <= self._clock:
            acted = False
            for due in self.store.due_deadlines(to_micros(self._clock)):
                self._fire(
                    due.rule_id, due.anchor_id, due.account_id, due.anchor_event_id, due.due_us
                )
                acted = True
            for ended in self.store.expire(utc_text(self._clock)):
                self._recompute(
                    ended.account_id,
                    f"freeze {ended.decision_id} ended",
                    datetime.fromisoformat(ended.expires_at),
                    event_id,
                )
                acted = True
            self._next_due = self._due()
            # Nothing acted, so the store is as it was: a moment still due would be forever.
            if not acted and self._next_due is not None and self._next_due <= self._clock:
                raise EvaluationError(f"{self._next_due} is due but nothing acts on it")

    # --- identities and the blacklist ------------------------------------------------------
    def _identify(self, event: Registration) -> Registration:
        """Fingerprint the registration's identity (kept in `_prints`; the raw values are never
        stored; a keyed digest of them is, as `identity_digest`). A value that fails its check
        makes the verification a failed one: an invalid ID number always (reason
        `invalid_id_number`, whatever was sent), another problem unless a failure was already
        sent. What was sent is kept as `verification_received`."""
        given = self._given.get(event.event_id)
        if given is not None:  # a stored registration replayed: fingerprinted when it came
            self._prints = given
            return event
        values = event.identity.model_dump(exclude_none=True)
        if not values:
            return event
        self._prints = found = fingerprints(values, self.identity_key, event.occurred_at.date())
        # A keyed digest of the whole identity stands for it in the stored event: a resend
        # with another identity is then a clash of event ids, not a duplicate.
        canonical = json.dumps(values, sort_keys=True, ensure_ascii=False)
        update: dict[str, Any] = {
            IDENTITY_DIGEST: self.identity_key.fingerprint("identity", canonical)
        }
        sent = event.verification
        if found.problems and (
            INVALID_ID_NUMBER in found.problems or sent is None or sent.status != "failed"
        ):
            reason = INVALID_ID_NUMBER if INVALID_ID_NUMBER in found.problems else found.problems[0]
            update["verification"] = Verification(status="failed", reason=reason)
            if sent is not None:
                update["verification_received"] = sent.model_dump(exclude_none=True)
        return event.model_copy(update=update)

    def _entries_at(self, prints: list[tuple[str, str]], at_us: int | None) -> list[BlacklistEntry]:
        """Entries in force at `at_us` for these fingerprints: the listing in memory answers,
        the store gives the details of what it finds."""
        return [
            _entry(row)
            for kind, fingerprint in prints
            if self._listed.in_force(fingerprint, at_us)
            for row in self.store.entries_at(kind, fingerprint, at_us)
        ]

    def _load_listed(self) -> Listing:
        listed = Listing()
        for span in self.store.listed_spans():
            listed.add(span.fingerprint, span.entered_us, span.until_us)
        return listed

    def _sync_registry(self, account_id: str, at: datetime, event_id: str | None) -> None:
        """Make the account's blacklist entries what its standing blacklist decisions and
        verified identity call for: each verified ID number and phone under each standing
        blacklist decision. Only what passed verification is listed, and never an ID number
        found to be someone else's (the victim's). Every change is an audit record."""
        clock = utc_text(self._clock) if self._clock else None
        standing = [
            decision_from_dict(d)
            for d in self.store.standing(account_id, clock)
            if d["action"] == Action.BLACKLIST
        ]
        wanted: dict[tuple[str, str, str], BlacklistEntry] = {}
        if standing and self.store.has_verification(account_id, "passed"):
            victim = self.store.has_verification(account_id, "failed", VICTIM)
            for value in self.store.identities_of(account_id):
                kind, fingerprint = value.kind, value.fingerprint
                if kind not in LISTED_KINDS or (kind == ID_NUMBER and victim):
                    continue
                for decision in standing:
                    rule = self._rules.get(decision.rule_id)
                    listed_for = rule.listed_for if rule is not None else None
                    wanted[(kind, fingerprint, decision.decision_id)] = BlacklistEntry(
                        kind=kind,
                        decision_id=decision.decision_id,
                        account_id=account_id,
                        rule_id=decision.rule_id,
                        reason=decision.reason,
                        entered_at=decision.effective_at,
                        ends_at=decision.effective_at + listed_for if listed_for else None,
                        fingerprint=fingerprint,
                    )
        held = {
            (row.kind, row.fingerprint, row.decision_id): _entry(row)
            for row in self.store.entries(account_id)
        }
        at_text = utc_text(at)
        for key in sorted(held.keys() - wanted.keys()):
            entry = held[key]
            start, end = _span(entry)
            # In force until its removal (a registration before it still met it), unless its
            # decision was reversed: then it never was, whatever arrives later.
            found = self.store.decision(entry.decision_id)
            void = found is not None and found.reversed_by is not None
            removed_us = start if void else to_micros(at)
            self.store.remove_entry(*key, removed_us, event_id)
            self._moved = True
            self._listed.remove(entry.fingerprint, start, end)
            if removed_us > start:
                self._listed.add(entry.fingerprint, start, min(end or removed_us, removed_us))
            record = {
                **entry.to_dict(),
                "removed_at": at_text,
                "by_event": event_id,
                "void_from_start": void,
            }
            self.store.audit(
                "blacklist_entry_removed",
                record,
                account_id=account_id,
                event_id=event_id,
                decision_id=entry.decision_id,
                occurred_at=at_text,
            )
        for key in sorted(wanted.keys() - held.keys()):
            entry = wanted[key]
            ends_us = to_micros(entry.ends_at) if entry.ends_at else None
            self.store.enter(
                entry.kind,
                entry.fingerprint,
                entry.decision_id,
                account_id,
                entry.rule_id,
                entry.reason,
                to_micros(entry.entered_at),
                ends_us,
            )
            self._moved = True
            self._listed.add(entry.fingerprint, *_span(entry))
            self.store.audit(
                "blacklist_entry",
                entry.to_dict(),
                account_id=account_id,
                event_id=event_id,
                decision_id=entry.decision_id,
                occurred_at=utc_text(entry.entered_at),
            )
            self._catch_up(entry, event_id)

    def _catch_up(self, entry: BlacklistEntry, event_id: str | None) -> None:
        """Registrations with the entry's value, later in event time but processed before it:
        in time order they would have matched it, so they are decided now (in the outcome of
        the event that made the entry), and arrival order changes nothing."""
        if not self._reads_blacklist:
            return
        ends_us = to_micros(entry.ends_at) if entry.ends_at else None
        found = self.store.registrations_with(
            entry.kind, entry.fingerprint, to_micros(entry.entered_at), ends_us
        )
        for row in found:
            account_id, registration_id, at_us = row.account_id, row.event_id, row.registered_us
            if account_id == entry.account_id or self.status(account_id) == Status.BLACKLISTED:
                continue
            self._decide_stored(
                registration_id,
                account_id,
                at_us,
                {BLACKLISTED_IDENTITY: True},
                self._reads_blacklist,
                entry.decision_id,
                dict.fromkeys(self._reads_blacklist, (registration_id, entry.decision_id)),
                event_id or registration_id,
            )

    def _late_elsewhere(
        self, event: Event, rows: dict[str, StreamWindow]
    ) -> list[tuple[int, str, str, frozenset[str]]]:
        """Later registrations (of any account) whose window `by` an identity value the late
        event completes: (time, event id, account, rule ids). The rows' values are accounts."""
        found: dict[tuple[int, str], tuple[str, set[str]]] = {}
        for rule in self.ruleset.by_type.get(event.type, ()):
            test = rule.window
            if test is None or test.stream not in rows or not self.ruleset.streams[test.stream].by:
                continue
            window = rows[test.stream]
            if not self._was_live(window.fed[2]) or not window.has_after(window.fed[0]):
                continue
            for firing in window.late_firings(test.span_us, test.count):
                key = (firing.at_us, firing.event_id)
                found.setdefault(key, (str(firing.value), set()))[1].add(rule.id)
        return [
            (at_us, event_id, account, frozenset(ids))
            for (at_us, event_id), (account, ids) in sorted(found.items())
        ]

    def _decide_stored(
        self,
        registration_id: str,
        account_id: str,
        at_us: int,
        derived: dict[str, Any],
        rule_ids: frozenset[str],
        cause: str,
        evidence: Mapping[str, tuple[str, ...]],
        event_id: str,
    ) -> None:
        """Decide a stored event again with what it could not see when it came (a blacklist
        entry, a window a late event completed): only the rules `rule_ids` may decide, the
        decisions come in the outcome of the event being processed (`event_id`)."""
        payload = self.store.event_payload(registration_id)
        if payload is None:
            raise EvaluationError(f"the stored event {registration_id} is gone")
        stored = parse_event(payload)
        snapshot = {**self.ruleset.snapshot(flatten(stored), stored.type), **derived}
        held = [r for r in self.ruleset.by_type.get(stored.type, ()) if r.guard(snapshot)]
        names = [
            it.name for it in self.ruleset.listeners.get(stored.type, ()) if it.guard(snapshot)
        ]
        self._agree(f"{registration_id} again ({cause})", snapshot, [r.id for r in held] + names)
        new = [rule for rule in held if rule.id in rule_ids]
        occasion = _Occasion(
            from_micros(at_us),
            f"{registration_id}@{cause}",
            registration_id,
            tuple(_match_of(rule, snapshot) for rule in new),
            {rule.id: evidence[rule.id] for rule in new},
        )
        self._decide_aside(account_id, occasion, event_id)

    def _decide_aside(self, account_id: str, occasion: _Occasion, event_id: str) -> bool:
        """Decide an occasion that is not the current event's own (a deadline, a stored
        registration decided again): recorded at once, returned in the outcome's decisions.
        Whether any was."""
        recorded = False
        for mode in (Mode.ENFORCE, Mode.SHADOW):
            decision = self._decide(account_id, occasion, mode)
            if decision is not None:
                self._record(decision, event_id)
                self._decided.append(decision)
                recorded = True
        return recorded

    # --- deadlines and history ------------------------------------------------------------
    def _due(self) -> datetime | None:
        """The next moment something happens by itself: a freeze ends or a deadline passes."""
        expiry = _parse_time(self.store.next_expiry())
        deadline_us = self.store.next_deadline()
        deadline = from_micros(deadline_us) if deadline_us is not None else None
        return min((t for t in (expiry, deadline) if t is not None), default=None)

    def _due_by(self, moment: datetime) -> None:
        if self._next_due is None or moment < self._next_due:
            self._next_due = moment

    def _schedule(
        self, rule: CompiledRule, account_id: str, anchor: str, event_id: str, start_us: int
    ) -> tuple[Any, ...] | None:
        """Start the deadline `rule` counts from `anchor` (a decision or event id). One older
        than the horizon is not started: history that could meet it may be gone. The row
        (`DEADLINE_COLUMNS`) when one was written."""
        if rule.deadline is None:
            raise EvaluationError(f"rule {rule.id} has no deadline to start")
        clock_us = to_micros(self._clock) if self._clock else start_us
        if start_us < clock_us - self.ruleset.horizon_us:
            return None
        due_us = start_us + rule.deadline.span_us
        met = any(self._seen(key, account_id, start_us, due_us) for key in rule.deadline.unless)
        row = (rule.id, anchor, account_id, event_id, start_us, due_us, "met" if met else "pending")
        written = self.store.add_deadline(*row)
        if not met:
            self._moved = True
            self._waiting.add(account_id)
            self._due_by(from_micros(due_us))
        return row if written else None

    def _seen(self, key: str, account_id: str, start_us: int, due_us: int) -> bool:
        """Did an event of the stream come at or after start and before due?"""
        if key not in self._from_log:
            return bool(self.store.history(key, account_id, start_us - 1, due_us))
        listener = self.ruleset.streams[key].listener
        logged = self.store.logged_events(account_id, start_us - 1, due_us)
        return any(self._stored_match(payload, listener) for payload in logged)

    def _stored_match(
        self, payload: str, listener: Listener
    ) -> tuple[Event, dict[str, Any]] | None:
        """A stored event and its snapshot, if the listener's filter holds for it: the guard
        decides and durable-rules must agree (fail closed), as for a live event."""
        event = parse_event(payload)
        snapshot = self.ruleset.snapshot(flatten(event), event.type)
        held = event.type in listener.types and listener.guard(snapshot)
        if held != (listener.name in self._matcher.match(snapshot)):
            raise EvaluationError(f"rule engines disagree on {event.event_id} ({listener.name})")
        return (event, snapshot) if held else None

    def _fire(self, rule_id: str, anchor: str, account_id: str, event_id: str, due_us: int) -> None:
        """A deadline passed with nothing to meet it: durable-rules matches the deadline's
        snapshot like an event's, and the rule decides. A reversed anchor decision voids it."""
        rule = self.ruleset.rule(rule_id)
        if rule.deadline is None:
            raise EvaluationError(f"rule {rule_id} has no deadline to fire")
        evidence: tuple[str, ...] = (event_id,)
        if rule.deadline.after_rules:
            found = self.store.decision(anchor)
            if found is None or found.reversed_by is not None:
                self._audit_deadline(self.store.set_deadline_state(rule_id, anchor, "void"))
                return
            evidence = tuple(found.record["evidence"])
        fired = self.store.set_deadline_state(rule_id, anchor, "fired")
        snapshot: dict[str, Any] = {"type": DEADLINE, DEADLINE: rule_id}
        held = [r for r in self.ruleset.by_type.get(DEADLINE, ()) if r.guard(snapshot)]
        self._agree(f"deadline {rule_id} of {anchor}", snapshot, [r.id for r in held])
        at = from_micros(due_us)
        passed = ConditionTrace(rule.deadline.label, "passed", None, utc_text(at), True)
        occasion = _Occasion(
            at,
            f"{DEADLINE}:{rule_id}:{anchor}",
            event_id,
            tuple(attrs.evolve(_match_of(r, snapshot), conditions=(passed,)) for r in held),
            {rule_id: evidence},
            anchor,
        )
        if not self._decide_aside(account_id, occasion, event_id):
            self._audit_deadline(fired)  # (a deadline's decision says it fired)

    def _savepoint(self) -> None:
        if not self._saved:
            self.store.savepoint()
            self._saved = True

    def _fill_streams(self) -> None:
        """A stream new to this db (a rule added since) starts from the events already in the
        log, back to the horizon; its rules decide nothing about the past."""
        filled = self.store.filled_streams()
        clock_us = to_micros(self._clock) if self._clock else None
        for key, stream in sorted(self.ruleset.streams.items()):
            if key in filled or key in self._from_log:
                continue
            if clock_us is not None:
                since = clock_us - self.ruleset.horizon_us - stream.span_us
                if stream.by is not None:  # grouped by the registrations' fingerprints
                    logged = self.store.registrations_since(stream.by, since)
                else:
                    logged = self.store.events_since(stream.listener.types, since)
                for group, payload in logged:
                    found = self._stored_match(payload, stream.listener)
                    if found is not None:
                        event, snapshot = found
                        value = snapshot.get(stream.distinct) if stream.distinct else None
                        at_us = to_micros(event.occurred_at)
                        self.store.add_history(key, group, at_us, event.event_id, value)
            self.store.mark_stream_filled(key)

    def _prune_history(self) -> None:
        """Forget what no window can reach: events more than the horizon plus their stream's
        span behind the clock. Pruning steps on a fixed grid of event time (an eighth of the
        horizon), so what is kept depends on the clock only, never on where commits fell."""
        if not self.prune or self._clock is None or not self.ruleset.horizon_us:
            return
        horizon = self.ruleset.horizon_us
        step = max(horizon // 8, 1)
        mark = to_micros(self._clock) // step * step
        if self._pruned_at_us is not None and mark <= self._pruned_at_us:
            return
        for key, stream in self.ruleset.streams.items():
            self.store.prune_history(key, mark - horizon - stream.span_us)
        if self.store.prune_deadlines(mark - 2 * horizon):
            self.store.audit(DEADLINES_PRUNED, {"due_up_to_us": mark - 2 * horizon})
        self._pruned_at_us = mark
        self.store.set_meta("pruned_at_us", str(mark))


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _same_event(stored: str, text: str, event: Event) -> bool:
    """A resend of the stored event, however its JSON was formatted?"""
    return stored == text or stored_payload(parse_event(stored)) == stored_payload(event)


def _precedence(match: RuleMatch) -> tuple[int, int, str]:
    """Most severe first; then the lower priority number; then the rule id, for determinism."""
    return (-match.action.severity, match.priority, match.rule_id)


def _match_of(rule: CompiledRule, snapshot: dict[str, Any]) -> RuleMatch:
    conditions = trace(rule.condition, snapshot)
    if rule.window is not None:
        seen = snapshot.get(rule.window.key)
        held = seen is not None and seen >= rule.window.count
        test = ConditionTrace(rule.window.label, "gte", rule.window.count, seen, held)
        conditions = (*conditions, test)
    return RuleMatch(
        rule.id,
        rule.version,
        rule.action,
        rule.mode,
        rule.priority,
        rule.reason,
        conditions,
    )


def _features(
    ruleset: CompiledRuleset,
    rows: Mapping[str, StreamWindow],
    at_us: int,
    caps: Mapping[str, int] | None,
) -> dict[str, int]:
    """Each window's count at `at_us`, for the streams the event fed, up to the largest
    count a rule asks of it (`_exact` reads the whole count for a decision); `caps` None:
    the whole counts."""
    return {
        test.key: window.exact(at_us, test.span_us)
        if caps is None
        else window.count(at_us, test.span_us, caps.get(test.key, 0))
        for key, window in rows.items()
        for test in ruleset.windows.get(key, ())
    }


def _window_evidence(
    rules: list[CompiledRule], rows: Mapping[str, StreamWindow], at_us: int
) -> WindowEvidence:
    """For each window rule, the events in its window: the evidence of its decision."""
    return WindowEvidence(rules, rows, at_us)


def _time(record: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(record["effective_at"])


def _content(record: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two worlds' decisions the same decision, whatever their ids."""
    expires = record["expires_at"]
    return (
        record["account_id"],
        record["mode"],
        record["rule_id"],
        record["action"],
        utc_text(_time(record)),
        utc_text(datetime.fromisoformat(expires)) if expires else "",
    )


def _rule_record(rule: CompiledRule) -> dict[str, Any]:
    """What the store keeps of each rule under the pack's digest: the file as written, and
    its `dsa` block as read (the statement export needs no YAML)."""
    return {
        "id": rule.id,
        "version": rule.version,
        "file": rule.source,
        "text": rule.text,
        "dsa": dict(rule.dsa),
    }


def _entry(row: StoredEntry) -> BlacklistEntry:
    """A blacklist entry from the store's row of it."""
    return BlacklistEntry(
        kind=row.kind,
        decision_id=row.decision_id,
        account_id=row.account_id,
        rule_id=row.rule_id,
        reason=row.reason,
        entered_at=from_micros(row.entered_us),
        ends_at=from_micros(row.ends_us) if row.ends_us is not None else None,
        fingerprint=row.fingerprint,
    )


def _span(entry: BlacklistEntry) -> tuple[int, int | None]:
    return to_micros(entry.entered_at), to_micros(entry.ends_at) if entry.ends_at else None
