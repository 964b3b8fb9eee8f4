"""The store's concerns, one `Protocol` each: what the engine, replay, DSA export, cases,
notices and explanations may ask of a store, whatever holds the data.

`Store` is all of them: what an `Engine` runs on. A tool that needs less names less (windows
read only a `HistoryStore`). Every implementation passes the one contract suite in
tests/contract/. Times are integer microseconds (UTC) where a name ends in `_us`; decision
times (`effective_at`, `expires_at`, `ended_at`, a clock) are UTC text (`events.utc_text`),
which compares in time order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from blacklist_rules.model.chain import AuditHead, Verdict
from blacklist_rules.model.decisions import DecisionRecord
from blacklist_rules.model.history import HistoryRow
from blacklist_rules.stores.lists import Lists
from blacklist_rules.stores.records import (
    AccountStatus,
    Arrival,
    AuditPurge,
    AuditRecord,
    Deadline,
    EventRow,
    Expiry,
    Fingerprint,
    FirstSeen,
    GroupedPayload,
    HistoryPurge,
    ListedSpan,
    LoggedEvent,
    PassedVerification,
    RecordedRule,
    Registration,
    RuleFile,
    Seed,
    StoredDecision,
    StoredEntry,
    StoredEvent,
    TakenDecision,
    Veto,
)
from blacklist_rules.stores.sharing import Claims, Outbox, Workers


class Transaction(Protocol):
    """One write transaction, owned by whoever began it: `commit()` or `rollback()` ends it
    (as a context manager: commit when the block ends normally, else roll back). Savepoints
    nest inside it (one event's writes, undone alone)."""

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """End the transaction and drop what it wrote (a no-op once it has ended)."""

    def savepoint(self) -> None: ...

    def release_savepoint(self) -> None: ...

    def rollback_to_savepoint(self) -> None:
        """Undo what was written since the savepoint; it stays open until released."""

    def __enter__(self) -> Transaction: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class EventLog(Protocol):
    """The event log: every event once, in arrival order; what still counts of it (evidence
    withdrawn with a reversed decision does not); reads by account, type and time."""

    def add_event(
        self,
        event_id: str,
        account_id: str,
        type_: str,
        occurred_us: int,
        payload: str,
        clock_us: int | None,
    ) -> str | None:
        """Record an event, with the clock when it came (None: none yet); returns None, or the
        payload already stored under that id. The log's order is the order events came in."""

    def stored_payload_of(self, event_id: str) -> str | None:
        """The stored text of an event, `PURGED` if a history purge removed it, else None."""

    def event_rows(self, event_ids: list[str]) -> list[EventRow]:
        """The rows (`audit_crosscheck.EVENT_COLUMNS`) of the stored events among these ids:
        what a decision's audit record vouches for."""

    def forget_event(self, event_id: str) -> None: ...

    def event_payload(self, event_id: str) -> dict[str, Any] | None: ...

    def logged_events(self, account_id: str, after_us: int, before_us: int) -> list[str]:
        """Payloads of the account's `LOGGED_BY_ACCOUNT` events with after < time < before."""

    def passed_verification_since(
        self, account_id: str, since_us: int
    ) -> PassedVerification | None:
        """The account's first passed verification at or after `since_us`.
        At the same moment counts, as it does for a passed verification that comes in order."""

    def account_events(
        self, account_id: str, types: tuple[str, ...], limit: int, *, kept: bool = False
    ) -> list[str]:
        """Payloads of the account's latest events of these types, newest first (a scan: for
        explanations, not for the hot path). With `kept`, only those that still count (not
        withdrawn): what the engine may decide again."""

    def has_verification(self, account_id: str, status: str, reason: str | None = None) -> bool:
        """Did the account ever have a verification (registration or separate) of this
        status, and with `reason`, this reason?"""

    def first_seen(self) -> dict[str, FirstSeen]:
        """Per account: its first registration's time (None: none stored) and its first
        event's time, in microseconds."""

    def lifts(self) -> dict[str, list[int]]:
        """Per account, the times of reviewers' lifts of all its decisions (no decision id)."""

    def events_of(self, event_ids: list[str]) -> list[StoredEvent]:
        """The stored events among these ids."""

    def replay_of(self, accounts: set[str], from_arrival: int = 0) -> list[LoggedEvent]:
        """The accounts' events that still count, in arrival order, each with the clock when it
        came (moved by any account, or by no event at all). Not the persons'
        reversals (appeal outcomes, lifts): vetoes and withdrawals stand for them. With
        `from_arrival`, those that came from that log position on (see `log_end`)."""

    def first_arrival_since(self, accounts: set[str], since_us: int) -> Arrival | None:
        """Where the accounts' first event from `since_us` on came in the log, and the clock
        it came at (None: the db's first event); None when none has come."""

    def log_end(self) -> int:
        """The log position the next event will take."""

    def arrivals(self, event_ids: set[str]) -> dict[str, int]:
        """When each stored event came, as a position in arrival order."""

    def events_since(self, types: tuple[str, ...], after_us: int) -> Iterator[GroupedPayload]:
        """The stored events of these types later than `after_us`, grouped by account."""

    def withdraw(self, event_id: str, by_event: str, decision_id: str) -> bool:
        """Withdraw the evidence a reversed decision was taken on; False if it already was."""

    def withdrawn(self) -> set[str]: ...


class DecisionStore(Protocol):
    """Decisions and account statuses: added once, ended or reversed, never deleted."""

    def flagged(self) -> list[AccountStatus]:
        """Accounts whose status is not `active`."""

    def set_status(self, account_id: str, status: str) -> None: ...

    def add_decision(
        self, record: DecisionRecord, event_id: str, effective_at: str, expires_at: str | None
    ) -> None:
        """Store a decision; the time columns are UTC text (see `utc_text`), so they compare."""

    def decision(self, decision_id: str) -> StoredDecision | None:
        """A decision's record, with when it ended and what reversed it."""

    def standing(
        self, account_id: str, clock: str | None, decided_by: str | None = None
    ) -> list[StoredDecision]:
        """Enforced decisions still in force: not reversed, not ended, freezes not expired;
        with `decided_by`, only those taken at or before that time."""

    def enforced_decisions(self) -> Iterator[StoredDecision]:
        """Every enforced decision ever taken (ended and reversed ones too), in time order,
        with when it ended and what reversed it."""

    def decisions_of(self, account_id: str) -> list[StoredDecision]: ...

    def end_decisions(self, account_id: str, end_condition: str, at: str) -> list[str]:
        """End the account's standing freezes, decided at or before `at`, that wait for
        `end_condition`; their ids. A late event never ends what was decided after it."""

    def shadow_decisions(self) -> list[StoredDecision]:
        """Every shadow decision not reversed, oldest first."""

    def enforced_irreversible(self) -> int:
        """How many (account, action) cancel or blacklist outcomes are enforced and standing."""

    def decided_by_event(self, account_id: str, rule_id: str) -> dict[str, str]:
        """{event id: decision id} of the rule's decisions on the account."""

    def end_decision(self, decision_id: str, at: str) -> None: ...

    def reverse_decision(self, decision_id: str, by_event: str, how: str) -> None:
        """`how`: `appeal_outcome` or `review_decision` (a person reversed it), or `cascade`
        (it fell with what it depended on)."""

    def reversal_kind(self, decision_id: str) -> str | None:
        """How a reversed decision was reversed: `appeal_outcome`, `review_decision` or
        `cascade` (a db older than schema 5 knew no cascade: then what reversed it)."""

    def vetoed(self, decision_ids: list[str] | None = None) -> dict[Veto, set[str]]:
        """Enforced decisions a person reversed, by (account, rule, effective time): the
        evidence withdrawn with each, else all its evidence (older dbs knew no cascade: every
        reversal was a person's). With `decision_ids`, only those among them (read by key:
        what one reversal adds to the vetoes); else all."""

    def recorded_by(self, decision_ids: list[str]) -> dict[str, str]:
        """The event each decision was recorded while processing."""

    def taken_of(self, accounts: set[str]) -> list[TakenDecision]:
        """The accounts' decisions not reversed (enforced and shadow), ended or not, in the
        order taken."""

    def next_expiry(self) -> str | None: ...

    def expire(self, clock: str, account_id: str | None = None) -> list[Expiry]:
        """End freezes whose time is up (with `account_id`: only that account's); the
        freezes ended."""

    def covered(
        self, account_id: str, rule_id: str, mode: str, effective_at: str, expires_at: str | None
    ) -> bool:
        """Does a decision of the same rule, in force (a shadow one: not reversed), already
        cover a freeze from `effective_at` to `expires_at` (None: no end)?"""


class HistoryStore(Protocol):
    """Each stream's history per group (an account or a fingerprint): what windows count."""

    def add_history(
        self, stream: str, account_id: str, occurred_us: int, event_id: str, value: object
    ) -> None: ...

    def forget_history(
        self, stream: str, account_id: str, occurred_us: int, event_id: str
    ) -> None: ...

    def history(
        self, stream: str, account_id: str, after_us: int, before_us: int
    ) -> list[HistoryRow]:
        """(time, event id, value) of the stream's events with after < time < before."""

    def history_count(
        self,
        stream: str,
        account_id: str,
        after_us: int,
        until_us: int,
        limit: int,
        without: str | None,
    ) -> int:
        """Rows with after < time <= until, but the event `without`, counted up to `limit`."""

    def history_page(
        self,
        stream: str,
        account_id: str,
        key: tuple[int, str | None],
        bound_us: int,
        limit: int,
        *,
        newest_first: bool = False,
    ) -> list[HistoryRow]:
        """Up to `limit` rows past the key, in time order, before `bound_us` (newest first:
        after it): a window read a page at a time. The key is the last row read (time, event
        id), or (time, None) for the rows later than that time (newest first: at that time
        and earlier)."""

    def history_first_other(
        self, stream: str, account_id: str, after_us: int, before_us: int, known: list[object]
    ) -> HistoryRow | None:
        """The first row with after < time < before and a value, not one of `known`."""

    def history_next_value(self, stream: str, account_id: str, above: object) -> object:
        """The least non-null value of the stream's rows above `above` (None: from the
        least), or None when there is none: the distinct values, one at a time."""

    def history_has_value(
        self,
        stream: str,
        account_id: str,
        value: object,
        after_us: int,
        until_us: int,
        without: str | None,
    ) -> bool:
        """Does a row but the event `without` have `value` and after < time <= until?"""

    def prune_history(self, stream: str, up_to_us: int) -> int:
        """Forget the stream's events at or before `up_to_us`: no window can reach them."""

    def history_size(self) -> int: ...

    def filled_streams(self) -> set[str]: ...

    def mark_stream_filled(self, key: str) -> None: ...


class DeadlineStore(Protocol):
    """Deadlines by (rule, anchor): pending until met, fired or void."""

    def add_deadline(
        self,
        rule_id: str,
        anchor_id: str,
        account_id: str,
        anchor_event_id: str,
        start_us: int,
        due_us: int,
        state: str,
    ) -> bool:
        """False: the deadline was there already (it stays as it is)."""

    def meet_deadlines(self, account_id: str, rule_ids: list[str], at_us: int) -> list[Deadline]:
        """An `unless` event at `at_us` meets the pending deadlines whose span holds it; the
        deadlines it met, as they now are, in (rule, anchor) order."""

    def waiting_accounts(self) -> set[str]:
        """Accounts with a pending deadline."""

    def next_deadline(self) -> int | None: ...

    def due_deadlines(self, clock_us: int, account_id: str | None = None) -> list[Deadline]:
        """Pending deadlines at or before the clock, in time order (with `account_id`: only
        that account's)."""

    def set_deadline_state(self, rule_id: str, anchor_id: str, state: str) -> Deadline | None:
        """The deadline as it now is; None: there is none."""

    def prune_deadlines(self, up_to_us: int) -> int: ...

    def deadlines_of(self, account_id: str) -> list[Deadline]:
        """The account's deadlines in every state, by due time."""

    def deadlines_from(self, at_us: int) -> list[Deadline]:
        """The deadlines not void, due after `at_us`."""

    def pending_deadlines_of(self, accounts: set[str]) -> list[Deadline]:
        """The accounts' pending deadlines."""


class IdentityStore(Protocol):
    """Identities (keyed fingerprints of registrations, never raw values) and the blacklist
    entries over them."""

    def add_identities(
        self, prints: Sequence[tuple[str, str]], account_id: str, event_id: str, at_us: int
    ) -> None:
        """A registration's values, (kind, fingerprint) each, at its time; a repeat changes
        nothing. (One statement for them all where the store can: issue 19.)"""

    def identities_of(self, account_id: str) -> list[Fingerprint]:
        """Every identity value the account registered with, by kind and fingerprint."""

    def registrations_with(
        self, kind: str, fingerprint: str, since_us: int, until_us: int | None
    ) -> list[Registration]:
        """The registrations with this value, since ≤ time < until."""

    def enter(
        self,
        kind: str,
        fingerprint: str,
        decision_id: str,
        account_id: str,
        rule_id: str,
        reason: str,
        entered_us: int,
        ends_us: int | None,
    ) -> None: ...

    def remove_entry(
        self, kind: str, fingerprint: str, decision_id: str, at_us: int, by: str | None
    ) -> None: ...

    def entries(self, account_id: str | None = None) -> list[StoredEntry]:
        """Entries not removed (of one account, or all)."""

    def entries_at(self, kind: str, fingerprint: str, at_us: int | None) -> list[StoredEntry]:
        """Entries for this value in force at `at_us`: not removed, entered, not yet ended
        (None: every entry not removed)."""

    def listed_spans(self) -> Iterator[ListedSpan]:
        """Every entry that was ever in force: a removal ends it (the earlier of its end and
        its removal)."""

    def listed_registration(self, event_id: str, at_us: int) -> bool:
        """Did this registration's ID number or phone match an entry in force at `at_us`?"""

    def linked_accounts(self, account_id: str, kinds: frozenset[str]) -> set[str]:
        """The account and every account joined to it by a shared identity value of these
        kinds, directly or through others: the accounts one person's decisions can reach
        (the blacklist, windows `by` an identity value)."""

    def prints_of(self, accounts: set[str]) -> dict[str, list[Fingerprint]]:
        """Per registration of these accounts, its fingerprints."""

    def registrations_since(self, kind: str, after_us: int) -> Iterator[GroupedPayload]:
        """The stored registrations later than `after_us`, grouped by their `kind` fingerprint."""


class AuditTrail(Protocol):
    """The audit trail: records appended in a hash chain, never updated; verified and read."""

    def audit(
        self,
        kind: str,
        record: dict[str, Any],
        *,
        account_id: str | None = None,
        event_id: str | None = None,
        decision_id: str | None = None,
        occurred_at: str | None = None,
        seq: int | None = None,
    ) -> None:
        """Append one audit record, chained to the one before it (see `chain`); never updated,
        never deleted. The previous hash is read from the db, not memory, so a rolled-back
        event never leaves the chain pointing at a record that is gone. `seq`: its number, when
        the trail cannot tell (a purge that removed every record)."""

    def verify_audit(self, expect_head: AuditHead | str | None = None) -> Verdict:
        """Re-compute the audit chain (from the purge checkpoint, if any); the first record
        that does not fit. With `expect_head` (an `AuditHead` or its `COUNT:HASH`, published
        earlier): record COUNT must still carry HASH, which a trail rewritten whole does not.
        Then the tables that decisions, exports and statuses read (decisions, accounts,
        blacklist): each row must be what the chained records of it say (`audit_crosscheck`)."""

    def audit_records(self, account_id: str | None = None) -> Iterator[AuditRecord]:
        """The trail's records (an account's, or all), in order."""


class Settings(Protocol):
    """What the db keeps about itself: settings (`meta`), the rule packs and notice templates
    that wrote it, its identity key check and the inputs it rejected."""

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def remember_ruleset(
        self, digest: str, rules: Sequence[RuleFile], notices: Mapping[str, str] | None = None
    ) -> None:
        """Keep the exact rule text (and notice templates) behind a digest, so any decision can
        be traced to it; the audit records written from now on carry the digest."""

    def notice_files(self, digest: str) -> dict[str, str]:
        """The notice template files (`notices/en.txt`: text) of a pack the db has used."""

    def check_key(self, check: str) -> bool:
        """Is this the db's identity key? A new db adopts the first key it is opened with for
        writing (a read-only open writes nothing: any key reads a db that has none)."""

    def ruleset_rules(self, digest: str) -> list[RuleFile]:
        """The rule files (id, version, file, text) of a pack the db has used."""

    def recorded_rules(self) -> list[RecordedRule]:
        """Every rule file of every pack the db has used, the packs in the order they were
        first used (a rule id and version may stand in several)."""

    def first_rejection(self, digest: str) -> bool:
        """Remember that an input was rejected, by its keyed digest (the input may hold
        identity values, so never the input itself); False when it was already."""


class Retention(Protocol):
    """How long audit records are kept, and the purges of the history and of the trail."""

    def retention(self) -> timedelta:
        """How long audit records are kept: the configured period, else `RETENTION_FLOOR`."""

    def retention_is_default(self) -> bool:
        """Whether no retention was configured (`retention` is then `RETENTION_FLOOR`)."""

    def set_retention(self, period: timedelta) -> None:
        """Configure how long audit records are kept (whole days, never under the floor);
        the change is itself an audit record."""

    @property
    def history_cut_us(self) -> int | None:
        """The history cut (event time, µs): the events before it were purged or settled;
        None while no history was purged."""

    def note_horizon(self, horizon_us: int) -> None:
        """Remember the longest reach back in time of any pack that ran on this db: a
        history purge keeps what windows that long can count."""

    def purge_history(self, before: datetime | None = None) -> HistoryPurge:
        """Purge the event history before `before` (default: the retention ago; never younger
        than the retention, counted on the wall clock and on event time alike).

        Before the cut, history is settled: an event from before it is refused (a resend of
        one the db had is a duplicate), and the reversal cascade re-evaluates nothing decided
        before it. Events within the longest window before the cut are kept whole (a replay's
        windows after the cut count them), as are those that came after the first event from
        the cut on and what their windows reach. Older ones are removed
        (their ids are kept, to recognise resends), but for the evidence of every decision and
        persons' reviews and appeals, kept whole (what notices, DSA statements and explanations
        read), and each account's registrations and identity verifications (its verified
        identity), kept with only their declared fields. Decisions, the blacklist and the keyed
        fingerprints of registrations are account state and stay. The purge is an audit
        record."""

    def purge_audit(self, before: datetime | None = None, *, verify: bool = True) -> AuditPurge:
        """Remove the audit records logged before `before` (default: the configured retention
        ago; a prefix of the trail) and leave a checkpoint, so what remains still verifies; the
        purge is itself an audit record. Refused for anything younger than the retention
        (never under `RETENTION_FLOOR`), or when the chain does not verify (`verify=False`:
        the caller has just verified it, as the CLI does to set its exit code). Returns
        (records removed, the first seq kept)."""


class Seeding(Protocol):
    """A scratch world's start (the reversal cascade's replay): what one store held of some
    accounts at one point of its log, read through its protocol and written into another,
    so any two implementations seed each other."""

    def export_for(self, accounts: set[str], cut_us: int, boundary: int) -> Seed:
        """What these accounts held when their first event from the history cut `cut_us` on
        came (log position `boundary`): the events that came before it and still count, with
        their registrations' fingerprints; the enforced decisions before the cut recorded by
        then (not reversed; ended before the cut, or else standing); the deadlines counting
        from them or those events (one fired from the cut on is pending again: it fires again
        in the replay); the blacklist entries of those decisions (a removal from the cut on
        not yet made)."""

    def load_seed(self, seed: Seed) -> None:
        """Write a seed into this (scratch) store, rows it has already left as they are."""

    def seed_from(self, source: Seeding, accounts: set[str], cut_us: int, boundary: int) -> None:
        """`load_seed(source.export_for(accounts, cut_us, boundary))`."""


class Transactional(Protocol):
    """The store's lifecycle and its write transactions (one open at a time, never nested)."""

    path: str
    read_only: bool
    now: Callable[[], datetime]
    """The wall clock audit records are stamped with (and retention counts on)."""
    written_elsewhere: bool
    """Whether another writer committed between our last transaction and the one
    `begin()` opened: what memory mirrors of the store must then be read again. A
    transaction the store opens for itself (`join_worker`, `leave_worker`, ...) is not
    "our last": a commit it finds is still news at the caller's next `begin()`."""
    shared: bool
    """Whether other processes may write this store at the same time (PostgreSQL): an
    engine then commits every event on its own and `claim`s each account before it reads
    or writes that account's state."""

    def claim(self, account_id: str, identities: Iterable[tuple[str, str]] = ()) -> bool:
        """Serialise the open transaction, until it ends, with every other writer's that
        claims the same account or the same identity value (kind, fingerprint). True when
        another writer committed since this transaction began or last claimed: what memory
        holds of the store must be read again. A store with one writer holds nothing: False."""

    def begin(self) -> Transaction:
        """Open a write transaction: its owner commits or rolls it back (`with store.begin():`
        commits when the block ends normally). Transactions do not nest: a second `begin()`
        while one is open is a `StoreError`, so nobody commits another's writes."""

    def savepoint(self) -> None: ...

    def release_savepoint(self) -> None: ...

    def rollback_to_savepoint(self) -> None:
        """Undo what the current event wrote; the savepoint stays open until released."""

    def close(self) -> None:
        """Close the db, then let the next writer in. A transaction still open is rolled back:
        closing commits nothing."""


class Store(
    Transactional,
    EventLog,
    DecisionStore,
    HistoryStore,
    DeadlineStore,
    IdentityStore,
    AuditTrail,
    Settings,
    Retention,
    Seeding,
    Workers,
    Claims,
    Outbox,
    Lists,
    Protocol,
):
    """Every concern: what an `Engine` runs on."""
