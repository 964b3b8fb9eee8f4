"""SQLite store: account state, decisions, processed events and the audit trail in one file.

SQLite is the embedded default (standard library). `":memory:"` gives a private in-memory db.
Writes happen inside a transaction the engine commits in batches; every audit record is appended
in the same transaction as the state it explains, so a crash never leaves one without the other.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from .audit_crosscheck import (
    DEADLINE_CARRIED,
    DEADLINE_COLUMNS,
    DEADLINE_ROW,
    DECISION_CARRIED,
    DECISION_COLUMNS,
    DECISION_ENDED,
    ENTRY_CARRIED,
    ENTRY_COLUMNS,
    EVENT_COLUMNS,
    STATUS_CARRIED,
    VOUCHES,
    CrossCheck,
    Mismatch,
    carried_decision,
)
from .chain import FIELDS as CHAINED
from .chain import GENESIS, PURGE_KIND, AuditHead, Verdict, record_hash, verify
from .connection import BUSY_TIMEOUT, Connection, Transaction
from .decisions import CASCADE
from .errors import StoreError, StoreUnavailableError
from .events import declared_payload, from_micros, to_micros, utc_text
from .writer_lock import WriterLock

SCHEMA_VERSION = 7
"""2 added history, streams, deadlines and rejections; 3 identities and the blacklist; 4 the
audit chain (three columns); 5 withdrawn evidence and how a decision was reversed; 6 the clock
each event came at, and the ids of events a history purge removed; 7 two indexes, so that an
appeal reads only what it reaches: the events by account (`events_by_account`, the cascade's
replay) and the reversed decisions (`decisions_reversed`, the vetoes). An older db is upgraded
in place; its older audit records stay outside the chain, which starts with the first record
written after."""
AUDIT_RECORD_VERSION = 3
"""2: a decision's end is a record of its own (`decision_ended`), and an audit purge re-records
the rows whose records it removed (see `audit_crosscheck`); 3: a decision's record vouches for
its evidence events and the deadlines it started, and every other deadline change is a record."""

LOGGED_BY_ACCOUNT = frozenset({"identity_verification", "registration"})
"""Event types the events table indexes by account and time (`verifications_by_account`):
a stream of only these types can be read from the log instead of being kept twice."""
_BY_ACCOUNT = f"type IN ({', '.join(repr(t) for t in sorted(LOGGED_BY_ACCOUNT))})"
"""The index's condition, written out the same way in every query that should use it."""
_VERIFIED = (
    "(CASE type WHEN 'registration' THEN json_extract(payload, '$.verification.{0}') "
    "ELSE json_extract(payload, '$.{0}') END)"
)
"""A logged verification's status or reason, from the field its type declares (an extra field
of the same name elsewhere in a registration is not it)."""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rulesets (
    digest TEXT PRIMARY KEY, first_used_at TEXT NOT NULL, rules TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, type TEXT NOT NULL,
    occurred_us INTEGER NOT NULL, payload TEXT NOT NULL, clock_us INTEGER);
CREATE INDEX IF NOT EXISTS verifications_by_account ON events (account_id, occurred_us)
    WHERE {_BY_ACCOUNT};
CREATE INDEX IF NOT EXISTS events_by_account ON events (account_id);
CREATE TABLE IF NOT EXISTS accounts (account_id TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, event_id TEXT NOT NULL,
    action TEXT NOT NULL, mode TEXT NOT NULL, rule_id TEXT NOT NULL,
    effective_at TEXT NOT NULL, expires_at TEXT, end_condition TEXT,
    ended_at TEXT, reversed_by TEXT, record TEXT NOT NULL, reversed_how TEXT);
CREATE INDEX IF NOT EXISTS decisions_by_account ON decisions (account_id);
CREATE INDEX IF NOT EXISTS decisions_reversed ON decisions (reversed_how)
    WHERE reversed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS decisions_by_expiry ON decisions (expires_at)
    WHERE expires_at IS NOT NULL AND ended_at IS NULL AND reversed_by IS NULL;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, kind TEXT NOT NULL,
    account_id TEXT, event_id TEXT, decision_id TEXT, occurred_at TEXT,
    recorded_at TEXT NOT NULL, record TEXT NOT NULL,
    ruleset_digest TEXT, prev_hash TEXT, hash TEXT);
CREATE INDEX IF NOT EXISTS audit_by_account ON audit (account_id);
CREATE TABLE IF NOT EXISTS history (
    stream TEXT NOT NULL, account_id TEXT NOT NULL, occurred_us INTEGER NOT NULL,
    event_id TEXT NOT NULL, value,
    PRIMARY KEY (stream, account_id, occurred_us, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS history_by_value ON history (stream, account_id, value, occurred_us);
CREATE TABLE IF NOT EXISTS streams (key TEXT PRIMARY KEY, filled_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (digest TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS withdrawn (
    event_id TEXT PRIMARY KEY, by_event TEXT NOT NULL, decision_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS withdrawn_by_decision ON withdrawn (decision_id);
CREATE TABLE IF NOT EXISTS deadlines (
    rule_id TEXT NOT NULL, anchor_id TEXT NOT NULL, account_id TEXT NOT NULL,
    anchor_event_id TEXT NOT NULL, start_us INTEGER NOT NULL, due_us INTEGER NOT NULL,
    state TEXT NOT NULL, PRIMARY KEY (rule_id, anchor_id));
CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines (due_us) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deadlines_by_account ON deadlines (account_id)
    WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS identities (
    kind TEXT NOT NULL, fingerprint BLOB NOT NULL, account_id TEXT NOT NULL,
    event_id TEXT NOT NULL, registered_us INTEGER NOT NULL,
    PRIMARY KEY (kind, fingerprint, registered_us, account_id, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identities_by_account ON identities (account_id);
CREATE TABLE IF NOT EXISTS blacklist (
    kind TEXT NOT NULL, fingerprint TEXT NOT NULL, decision_id TEXT NOT NULL,
    account_id TEXT NOT NULL, rule_id TEXT NOT NULL, reason TEXT NOT NULL,
    entered_us INTEGER NOT NULL, ends_us INTEGER, removed_us INTEGER, removed_by TEXT,
    PRIMARY KEY (kind, fingerprint, decision_id));
CREATE INDEX IF NOT EXISTS blacklist_by_account ON blacklist (account_id);
CREATE TABLE IF NOT EXISTS notice_templates (digest TEXT PRIMARY KEY, files TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS purged_events (event_id TEXT PRIMARY KEY) WITHOUT ROWID;
"""
_ADDED_COLUMNS = (
    ("audit", "ruleset_digest TEXT"),
    ("audit", "prev_hash TEXT"),
    ("audit", "hash TEXT"),
    ("decisions", "reversed_how TEXT"),
    ("events", "clock_us INTEGER"),
)
_OLD_CLOCKS = (
    "UPDATE events SET clock_us = w.clock FROM (SELECT rowid AS arrival, MAX(occurred_us) "
    "OVER (ORDER BY rowid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS clock "
    "FROM events) AS w WHERE w.arrival = events.rowid"
)
"""Events logged before schema 6 came at the latest time of the events before them: what the
log can tell (moves of the clock without an event went unrecorded)."""
_KEPT = "event_id NOT IN (SELECT event_id FROM withdrawn)"
"""Events that still count: not withdrawn by the reversal of a decision taken on them."""
_ENTRY = "kind, fingerprint, decision_id, account_id, rule_id, reason, entered_us, ends_us"
_IN_FORCE = (
    "((? IS NULL AND removed_us IS NULL) OR (entered_us <= ? AND (ends_us IS NULL OR ends_us > ?) "
    "AND (removed_us IS NULL OR removed_us > ?)))"
)
"""An entry in force at a time given four times: entered, not ended, not yet removed (NULL:
not removed). A removal takes effect at its own event time, so a registration before it still
met the entry, in whatever order the two arrive."""

_STANDING = "mode = 'enforce' AND ended_at IS NULL AND reversed_by IS NULL"
_EVIDENCE = "SELECT value FROM decisions, json_each(decisions.record, '$.evidence')"
"""The ids of every decision's evidence."""
PURGED = "(purged)"
"""What `stored_payload_of` says of an event a history purge removed."""
_PERSONS = frozenset({"appeal_outcome", "review_decision"})
"""Events of a person's decision: kept whole by a history purge, as the evidence of decisions
is: notices, explanations and DSA statements read them."""
RETENTION_FLOOR = timedelta(days=180)
"""Audit records younger than this are never purged: the legal floor for logs."""
_KEPT_RECORD = "SELECT {0} FROM audit WHERE kind IN ({1}) AND {0} IS NOT NULL"
BARE_ROWS = (
    f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions WHERE decision_id NOT IN "
    f"({_KEPT_RECORD.format('decision_id', repr('decision') + ', ' + repr(DECISION_CARRIED))}) "
    "ORDER BY rowid",
    "SELECT account_id, status FROM accounts WHERE account_id NOT IN "
    f"({_KEPT_RECORD.format('account_id', repr('status_change') + ', ' + repr(STATUS_CARRIED))}) "
    "ORDER BY account_id",
    f"SELECT {', '.join(ENTRY_COLUMNS)} FROM blacklist WHERE "
    "json_array(kind, fingerprint, decision_id) NOT IN (SELECT json_array("
    "json_extract(record, '$.kind'), json_extract(record, '$.fingerprint'), decision_id) "
    "FROM audit WHERE kind IN ('blacklist_entry', 'blacklist_entry_removed', "
    f"'{ENTRY_CARRIED}')) ORDER BY kind, fingerprint, decision_id",
    f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines WHERE json_array(rule_id, anchor_id) "
    "NOT IN (SELECT json_array(json_extract(record, '$.rule_id'), json_extract(record, "
    f"'$.anchor_id')) FROM audit WHERE kind IN ('{DEADLINE_ROW}', '{DEADLINE_CARRIED}') UNION ALL "
    "SELECT json_array(json_extract(d.value, '$.rule_id'), json_extract(d.value, '$.anchor_id')) "
    f"FROM audit, json_each(audit.record, '$.{VOUCHES}.deadlines') d "
    "WHERE audit.kind = 'decision') ORDER BY rule_id, anchor_id",
)
"""The rows of the decisions, accounts, blacklist and deadlines tables no kept record vouches
for fully (a decision without its `decision` record, an account without a status change, an
entry without its entry record, a deadline without a `deadline` record or the decision record
that started it; what a purge carried counts): what a purge re-records. Each list is built
once (a temporary b-tree), never a correlated scan of the trail per row: the trail has no
index on `decision_id`."""
EVIDENCE_ROWS = (
    f"SELECT j.value, {', '.join('e.' + column for column in EVENT_COLUMNS[1:])}, "
    "EXISTS (SELECT 1 FROM purged_events p WHERE p.event_id = j.value) "
    "FROM json_each(?) j LEFT JOIN events e ON e.event_id = j.value"
)
"""Each id of a JSON list: its event's row (`EVENT_COLUMNS`; NULLs: not stored), then whether
a history purge removed it."""


@attrs.frozen
class HistoryPurge:
    """What a history purge did: its cut (events from before it are refused from now on),
    events removed, registrations and verifications kept past the windows' reach for the
    verified identity but reduced to their declared fields, and from when events are kept
    whole (None: nothing new was purged)."""

    cut: datetime
    removed: int
    reduced: int
    kept_from: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cut": utc_text(self.cut),
            "removed": self.removed,
            "reduced": self.reduced,
            "kept_from": utc_text(self.kept_from) if self.kept_from else None,
        }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class SQLiteStore:
    """The persistence behind one `Engine`; SQL lives here and nowhere else."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        read_only: bool = False,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        """Open (or create) the db. `read_only`: SQLite's `mode=ro`, nothing is ever written
        (see `connection`); `busy_timeout`: seconds to wait for another process's lock. The
        schema version is read before anything is written: a db of another version is
        refused untouched, an older one upgraded in place (never on a read-only open)."""
        self.path = str(path)
        self.read_only = read_only
        # One writer per db, from open to close (see `writer_lock`); taken before the db is
        # opened, so a writer refused has changed nothing.
        self._writer = None if read_only else WriterLock.take(self.path, busy_timeout)
        try:
            self._db = Connection(self.path, read_only=read_only, busy_timeout=busy_timeout)
        except BaseException:
            self._release_writer()
            raise
        self._digest: str | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        """The wall clock audit records are stamped with (and retention counts on)."""
        try:
            self._open_schema()
        except BaseException:
            self.close()
            raise
        cut = self.meta("history_cut_us")
        self._history_cut_us = int(cut) if cut else None
        self._data_version = self._version()
        self.written_elsewhere = False
        """Whether another connection committed between our last transaction and the one
        `begin()` opened: what memory mirrors of the db must then be read again."""

    def _open_schema(self) -> None:
        """Check the schema version, then (on a writable open) create or upgrade the schema."""
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        found = self.meta("schema_version") if has_meta else None
        older = ("1", "2", "3", "4", "5", "6")
        if found not in (None, *older, str(SCHEMA_VERSION)):
            raise StoreError(
                f"{self.path} has store schema {found}; this version reads {SCHEMA_VERSION}: "
                "nothing was changed"
            )
        if self.read_only:
            if found != str(SCHEMA_VERSION):
                raise StoreError(
                    f"{self.path} has store schema {found or 'none'}; opened read-only, it "
                    f"cannot be upgraded to {SCHEMA_VERSION}: open it for writing once (`run`)"
                )
            return
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # A larger page cache keeps the event-id index in memory as the db grows.
        self._db.execute("PRAGMA cache_size = -32768")
        self._db.executescript(_SCHEMA)  # writes nothing on a db of this version
        if found in older:  # columns added since
            for table, column in _ADDED_COLUMNS:
                columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if column.split()[0] not in columns:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
                    if (table, column) == ("events", "clock_us INTEGER"):  # (stored since 6)
                        self._db.execute(_OLD_CLOCKS)
            self._start_chain(found)
        if found != str(SCHEMA_VERSION):  # older versions lacked only the new parts
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _start_chain(self, found: str) -> None:
        """After the records of a db from before the chain (schema 3 or older), chain one at
        once: records without a hash and none with one after them are a break (their hashes
        were removed), so an upgraded db must not look like that even before its next run."""
        if found not in ("1", "2", "3"):
            return
        old = self._db.execute("SELECT count(*) FROM audit WHERE hash IS NULL").fetchone()[0]
        if old and self.meta("audit_head") is None:
            with self._db.begin():
                self.audit("chain_started", {"from_schema": int(found), "older_records": old})

    # --- transactions -------------------------------------------------------------------
    def begin(self) -> Transaction:
        """Open a write transaction: its owner commits or rolls it back (`with store.begin():`
        commits when the block ends normally). Transactions do not nest: a second `begin()`
        while one is open is a `StoreError`, so nobody commits another's writes."""
        transaction = self._db.begin()
        try:
            # Another process (`audit purge`, a second `run`) may have written since: it can
            # write only between our transactions.
            cut = self.meta("history_cut_us")
            version = self._version()
        except BaseException:
            transaction.rollback()
            raise
        self._history_cut_us = int(cut) if cut else None
        self.written_elsewhere = version != self._data_version
        self._data_version = version
        return transaction

    def _version(self) -> int:
        """SQLite's `data_version`: it changes when another connection commits, never for
        this one's own commits."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _transaction(self) -> Transaction:
        """The open transaction, which savepoints need."""
        current = self._db.transaction
        if current is None:
            raise StoreError(f"{self.path}: a savepoint needs an open transaction")
        return current

    def savepoint(self) -> None:
        self._transaction().savepoint()

    def release_savepoint(self) -> None:
        self._transaction().release_savepoint()

    def rollback_to_savepoint(self) -> None:
        """Undo what the current event wrote; the savepoint stays open until released."""
        self._transaction().rollback_to_savepoint()

    def close(self) -> None:
        """Close the db, then let the next writer in. A transaction still open is rolled back:
        closing commits nothing."""
        try:
            self._db.close()
        finally:
            self._release_writer()

    def _release_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()

    # --- meta and rulesets --------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def remember_ruleset(
        self,
        digest: str,
        rules: list[dict[str, Any]],
        notices: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the exact rule text (and notice templates) behind a digest, so any decision can
        be traced to it; the audit records written from now on carry the digest."""
        self._digest = digest
        self._db.execute(
            "INSERT OR IGNORE INTO rulesets VALUES (?, ?, ?)",
            (digest, datetime.now(UTC).isoformat(), _dumps(rules)),
        )
        if notices:
            self._db.execute(
                "INSERT OR IGNORE INTO notice_templates VALUES (?, ?)",
                (digest, _dumps(dict(notices))),
            )

    def notice_files(self, digest: str) -> dict[str, str]:
        """The notice template files (`notices/en.txt`: text) of a pack the db has used."""
        row = self._db.execute(
            "SELECT files FROM notice_templates WHERE digest = ?", (digest,)
        ).fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def check_key(self, check: str) -> bool:
        """Is this the db's identity key? A new db adopts the first key it is opened with for
        writing (a read-only open writes nothing: any key reads a db that has none)."""
        known = self.meta("identity_key_check")
        if known is None:
            if not self.read_only:
                self.set_meta("identity_key_check", check)
            return True
        return hmac.compare_digest(known, check)

    def ruleset_rules(self, digest: str) -> list[dict[str, Any]]:
        """The rule files (id, version, file, text) of a pack the db has used."""
        row = self._db.execute("SELECT rules FROM rulesets WHERE digest = ?", (digest,)).fetchone()
        return [] if row is None else list(json.loads(row[0]))

    def first_rejection(self, digest: str) -> bool:
        """Remember that an input was rejected, by its keyed digest (the input may hold
        identity values, so never the input itself); False when it was already."""
        cursor = self._db.execute("INSERT OR IGNORE INTO rejections VALUES (?)", (digest,))
        return cursor.rowcount == 1

    # --- events -------------------------------------------------------------------------
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
        payload already stored under that id. The log's order (rowid) is the order events came
        in: a VACUUM may renumber rows, but copies them in that order."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, account_id, type_, occurred_us, payload, clock_us),
        )
        if cursor.rowcount == 1:
            return None
        row = self._db.execute(
            "SELECT payload FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return str(row[0])

    def stored_payload_of(self, event_id: str) -> str | None:
        """The stored text of an event, `PURGED` if a history purge removed it, else None."""
        row = self._db.execute(
            "SELECT payload FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        if row is not None:
            return str(row[0])
        gone = self._db.execute(
            "SELECT 1 FROM purged_events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return PURGED if gone is not None else None

    def event_rows(self, event_ids: list[str]) -> list[tuple[Any, ...]]:
        """The rows (`EVENT_COLUMNS`) of the stored events among these ids."""
        marks = ", ".join("?" * len(event_ids))
        query = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE event_id IN ({marks})"
        return [tuple(row) for row in self._db.execute(query, event_ids)]

    def forget_event(self, event_id: str) -> None:
        self._db.execute("DELETE FROM events WHERE event_id = ?", (event_id,))

    def event_payload(self, event_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT payload FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # --- accounts and decisions ---------------------------------------------------------
    def flagged(self) -> list[tuple[str, str]]:
        """Accounts whose status is not `active`."""
        rows = self._db.execute("SELECT account_id, status FROM accounts WHERE status != 'active'")
        return [(str(row[0]), str(row[1])) for row in rows]

    def set_status(self, account_id: str, status: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?)", (account_id, status))

    def add_decision(
        self, record: dict[str, Any], event_id: str, effective_at: str, expires_at: str | None
    ) -> None:
        """Store a decision; the time columns are UTC text (see `utc_text`), so they compare."""
        self._db.execute(
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL)",
            (
                record["decision_id"],
                record["account_id"],
                event_id,
                record["action"],
                record["mode"],
                record["rule_id"],
                effective_at,
                expires_at,
                record["end_condition"],
                _dumps(record),
            ),
        )

    def decision(self, decision_id: str) -> tuple[dict[str, Any], str | None, str | None] | None:
        """A decision's record, with when it ended and what reversed it."""
        row = self._db.execute(
            "SELECT record, ended_at, reversed_by FROM decisions WHERE decision_id = ?",
            (decision_id,),
        ).fetchone()
        return None if row is None else (dict(json.loads(row[0])), row[1], row[2])

    def standing(
        self, account_id: str, clock: str | None, decided_by: str | None = None
    ) -> list[dict[str, Any]]:
        """Enforced decisions still in force: not reversed, not ended, freezes not expired;
        with `decided_by`, only those taken at or before that time."""
        rows = self._db.execute(
            f"SELECT record FROM decisions WHERE account_id = ? AND {_STANDING} "
            "AND (expires_at IS NULL OR ? IS NULL OR expires_at > ?) "
            "AND (? IS NULL OR effective_at <= ?) ORDER BY effective_at, rowid",
            (account_id, clock, clock, decided_by, decided_by),
        ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def enforced_decisions(self) -> Iterator[tuple[dict[str, Any], str | None, str | None]]:
        """Every enforced decision ever taken (ended and reversed ones too), in time order,
        with when it ended and what reversed it."""
        rows = self._db.execute(
            "SELECT record, ended_at, reversed_by FROM decisions WHERE mode = 'enforce' "
            "ORDER BY effective_at, rowid"
        )
        for row in rows:
            yield dict(json.loads(row[0])), row[1], row[2]

    def first_seen(self) -> dict[str, tuple[int | None, int]]:
        """Per account: its first registration's time (None: none stored) and its first
        event's time, in microseconds."""
        rows = self._db.execute(
            "SELECT account_id, min(CASE type WHEN 'registration' THEN occurred_us END), "
            "min(occurred_us) FROM events GROUP BY account_id"
        )
        return {str(row[0]): (row[1], int(row[2])) for row in rows}

    def decisions_of(self, account_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT record FROM decisions WHERE account_id = ? ORDER BY effective_at, rowid",
            (account_id,),
        ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def end_decisions(self, account_id: str, end_condition: str, at: str) -> list[str]:
        """End the account's standing freezes, decided at or before `at`, that wait for
        `end_condition`; their ids. A late event never ends what was decided after it."""
        rows = self._db.execute(
            f"SELECT decision_id FROM decisions WHERE account_id = ? AND end_condition = ? "
            f"AND effective_at <= ? AND {_STANDING}",
            (account_id, end_condition, at),
        ).fetchall()
        ids = [str(row[0]) for row in rows]
        for decision_id in ids:
            self._end(decision_id, account_id, at)
        return ids

    def logged_events(self, account_id: str, after_us: int, before_us: int) -> list[str]:
        """Payloads of the account's `LOGGED_BY_ACCOUNT` events with after < time < before.
        (The type test is written out so that SQLite uses the partial index.)"""
        rows = self._db.execute(
            f"SELECT payload FROM events WHERE account_id = ? AND {_BY_ACCOUNT} "
            f"AND occurred_us > ? AND occurred_us < ? AND {_KEPT} ORDER BY occurred_us, event_id",
            (account_id, after_us, before_us),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def passed_verification_since(self, account_id: str, since_us: int) -> tuple[str, int] | None:
        """The account's first passed verification at or after `since_us`: (event id, time).
        At the same moment counts, as it does for a passed verification that comes in order."""
        row = self._db.execute(
            "SELECT event_id, occurred_us FROM events "
            "WHERE account_id = ? AND occurred_us >= ? "
            f"AND {_BY_ACCOUNT} "
            f"AND {_VERIFIED.format('status')} = 'passed' AND {_KEPT} "
            "ORDER BY occurred_us LIMIT 1",
            (account_id, since_us),
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def account_events(self, account_id: str, types: tuple[str, ...], limit: int) -> list[str]:
        """Payloads of the account's latest events of these types, newest first (a scan: for
        explanations, not for the hot path)."""
        marks = ", ".join("?" * len(types))
        rows = self._db.execute(
            f"SELECT payload FROM events WHERE account_id = ? AND type IN ({marks}) "
            "ORDER BY occurred_us DESC, event_id DESC LIMIT ?",
            (account_id, *types, limit),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def listed_registration(self, event_id: str, at_us: int) -> bool:
        """Did this registration's ID number or phone match an entry in force at `at_us`?"""
        row = self._db.execute(
            "SELECT 1 FROM identities i JOIN blacklist b ON b.kind = i.kind "
            "AND b.fingerprint = lower(hex(i.fingerprint)) "
            f"WHERE i.event_id = ? AND {_IN_FORCE} LIMIT 1",
            (event_id, at_us, at_us, at_us, at_us),
        ).fetchone()
        return row is not None

    def shadow_decisions(self) -> list[dict[str, Any]]:
        """Every shadow decision not reversed, oldest first."""
        rows = self._db.execute(
            "SELECT record FROM decisions WHERE mode = 'shadow' AND reversed_by IS NULL "
            "ORDER BY effective_at, rowid"
        ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def lifts(self) -> dict[str, list[int]]:
        """Per account, the times of reviewers' lifts of all its decisions (no decision id)."""
        rows = self._db.execute(
            "SELECT account_id, occurred_us FROM events WHERE type = 'review_decision' "
            "AND json_extract(payload, '$.action') = 'lift' "
            "AND json_extract(payload, '$.decision_id') IS NULL"
        ).fetchall()
        found: dict[str, list[int]] = {}
        for account, at_us in rows:
            found.setdefault(str(account), []).append(int(at_us))
        return found

    def enforced_irreversible(self) -> int:
        """How many (account, action) cancel or blacklist outcomes are enforced and standing."""
        row = self._db.execute(
            "SELECT count(*) FROM (SELECT DISTINCT account_id, action FROM decisions "
            f"WHERE action IN ('cancel', 'blacklist') AND {_STANDING})"
        ).fetchone()
        return int(row[0])

    def decided_by_event(self, account_id: str, rule_id: str) -> dict[str, str]:
        """{event id: decision id} of the rule's decisions on the account."""
        rows = self._db.execute(
            "SELECT event_id, decision_id FROM decisions WHERE account_id = ? AND rule_id = ?",
            (account_id, rule_id),
        ).fetchall()
        return {str(row[0]): str(row[1]) for row in rows}

    def end_decision(self, decision_id: str, at: str) -> None:
        row = self._db.execute(
            "SELECT account_id FROM decisions WHERE decision_id = ?", (decision_id,)
        ).fetchone()
        if row is not None:
            self._end(decision_id, str(row[0]), at)

    def _end(self, decision_id: str, account_id: str, at: str) -> None:
        """End a decision at `at`, and say so in the trail: the record vouches for the
        `ended_at` column, which `status` and exports read (see `audit_crosscheck`)."""
        self._db.execute(
            "UPDATE decisions SET ended_at = ? WHERE decision_id = ?", (at, decision_id)
        )
        self.audit(
            DECISION_ENDED,
            {"decision_id": decision_id, "ended_at": at},
            account_id=account_id,
            decision_id=decision_id,
            occurred_at=at,
        )

    def reverse_decision(self, decision_id: str, by_event: str, how: str) -> None:
        """`how`: `appeal_outcome` or `review_decision` (a person reversed it), or `cascade`
        (it fell with what it depended on)."""
        self._db.execute(
            "UPDATE decisions SET reversed_by = ?, reversed_how = ? WHERE decision_id = ?",
            (by_event, how, decision_id),
        )

    def reversal_kind(self, decision_id: str) -> str | None:
        """How a reversed decision was reversed: `appeal_outcome`, `review_decision` or
        `cascade` (a db older than schema 5 knew no cascade: then what reversed it)."""
        row = self._db.execute(
            "SELECT COALESCE(d.reversed_how, e.type) FROM decisions d "
            "LEFT JOIN events e ON e.event_id = d.reversed_by WHERE d.decision_id = ?",
            (decision_id,),
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def vetoed(self, decision_ids: list[str] | None = None) -> dict[tuple[str, str, str], set[str]]:
        """Enforced decisions a person reversed, by (account, rule, effective time): the
        evidence withdrawn with each, else all its evidence (older dbs knew no cascade: every
        reversal was a person's). With `decision_ids`, only those among them (read by key:
        what one reversal adds to the vetoes); else all (through `decisions_reversed`)."""
        among = ", ".join("?" * len(decision_ids or ()))
        rows = self._db.execute(
            "SELECT d.account_id, d.rule_id, d.effective_at, d.record, "
            "(SELECT json_group_array(w.event_id) FROM withdrawn w "
            "WHERE w.decision_id = d.decision_id) FROM decisions d "
            "WHERE d.mode = 'enforce' AND d.reversed_by IS NOT NULL "
            f"AND COALESCE(d.reversed_how, '') != '{CASCADE}'"
            + ("" if decision_ids is None else f" AND d.decision_id IN ({among})"),
            decision_ids or (),
        )
        found: dict[tuple[str, str, str], set[str]] = {}
        for account, rule, at, record, withdrawn in rows:
            evidence = json.loads(withdrawn) or json.loads(record)["evidence"]
            found.setdefault((str(account), str(rule), str(at)), set()).update(evidence)
        return found

    def withdraw(self, event_id: str, by_event: str, decision_id: str) -> bool:
        """Withdraw the evidence a reversed decision was taken on; False if it already was."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO withdrawn VALUES (?, ?, ?)", (event_id, by_event, decision_id)
        )
        return cursor.rowcount == 1

    def withdrawn(self) -> set[str]:
        return {str(row[0]) for row in self._db.execute("SELECT event_id FROM withdrawn")}

    def events_of(self, event_ids: list[str]) -> list[tuple[str, str, str, int]]:
        """(event id, account, type, time) of the stored events among these ids."""
        marks = ", ".join("?" * len(event_ids))
        rows = self._db.execute(
            f"SELECT event_id, account_id, type, occurred_us FROM events "
            f"WHERE event_id IN ({marks})",
            event_ids,
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def linked_accounts(self, account_id: str, kinds: frozenset[str]) -> set[str]:
        """The account and every account joined to it by a shared identity value of these
        kinds, directly or through others: the accounts one person's decisions can reach
        (the blacklist, windows `by` an identity value)."""
        found, todo, seen = {account_id}, [account_id], set()
        while todo:  # each account and each value is read once
            for kind, fingerprint in self._db.execute(
                "SELECT DISTINCT kind, fingerprint FROM identities WHERE account_id = ?",
                (todo.pop(),),
            ).fetchall():
                if kind not in kinds or (kind, fingerprint) in seen:
                    continue
                seen.add((kind, fingerprint))
                for (other,) in self._db.execute(
                    "SELECT DISTINCT account_id FROM identities WHERE kind = ? AND fingerprint = ?",
                    (kind, fingerprint),
                ):
                    if other not in found:
                        found.add(str(other))
                        todo.append(str(other))
        return found

    def replay_of(self, accounts: set[str], from_arrival: int = 0) -> list[tuple[str, int | None]]:
        """The accounts' events that still count, in arrival order, each with the clock when it
        came (moved by any account, or by no event at all): (payload, clock). Not the persons'
        reversals (appeal outcomes, lifts): vetoes and withdrawals stand for them. With
        `from_arrival`, those that came from that log position on. Read through
        `events_by_account`: the linked accounts' events only, not the whole log."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            f"SELECT payload, clock_us FROM events WHERE account_id IN ({marks}) AND {_KEPT} "
            "AND type != 'appeal_outcome' AND rowid >= ? "
            "AND NOT (type = 'review_decision' AND json_extract(payload, '$.action') = 'lift') "
            "ORDER BY rowid",
            (*sorted(accounts), from_arrival),
        ).fetchall()
        return [(str(row[0]), None if row[1] is None else int(row[1])) for row in rows]

    def first_arrival_since(
        self, accounts: set[str], since_us: int
    ) -> tuple[int, int | None] | None:
        """Where the accounts' first event from `since_us` on came in the log, and the clock
        it came at (None: the db's first event); None when none has come."""
        marks = ", ".join("?" * len(accounts))
        row = self._db.execute(
            f"SELECT rowid, clock_us FROM events WHERE account_id IN ({marks}) "
            "AND occurred_us >= ? ORDER BY rowid LIMIT 1",
            (*sorted(accounts), since_us),
        ).fetchone()
        return None if row is None else (int(row[0]), None if row[1] is None else int(row[1]))

    def log_end(self) -> int:
        """The log position the next event will take."""
        return int(self._db.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0) + 1

    def seed_from(
        self, source: SQLiteStore, accounts: set[str], cut_us: int, boundary: int
    ) -> None:
        """Copy into this (scratch) store what `source` held of these accounts when their
        first event from the history cut on came (log position `boundary`): the events that
        came before it and still count, their registrations' fingerprints, the enforced
        decisions before the cut recorded by then (not reversed; ended before the cut, or
        not yet), the deadlines counting from them or those events, and the blacklist entries
        of those decisions (not yet removed at the cut)."""
        marks = ", ".join("?" * len(accounts))
        names = sorted(accounts)
        cut = utc_text(from_micros(cut_us))
        came = f"account_id IN ({marks}) AND occurred_us < ? AND rowid < ?"
        events = source._db.execute(
            "SELECT event_id, account_id, type, occurred_us, payload, clock_us FROM events "
            f"WHERE {came} AND {_KEPT}",
            (*names, cut_us, boundary),
        )
        self._db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
        identities = source._db.execute(
            f"SELECT * FROM identities WHERE event_id IN (SELECT event_id FROM events "
            f"WHERE {came})",
            (*names, cut_us, boundary),
        )
        self._db.executemany("INSERT OR IGNORE INTO identities VALUES (?, ?, ?, ?, ?)", identities)
        decisions = source._db.execute(
            "SELECT d.decision_id, d.account_id, d.event_id, d.action, d.mode, d.rule_id, "
            "d.effective_at, d.expires_at, d.end_condition, "
            "CASE WHEN d.ended_at < ? THEN d.ended_at END, NULL, d.record, NULL "
            "FROM decisions d LEFT JOIN events e ON e.event_id = d.event_id "
            f"WHERE d.account_id IN ({marks}) AND d.mode = 'enforce' AND d.reversed_by IS NULL "
            "AND d.effective_at < ? AND (e.rowid IS NULL OR e.rowid < ?) ORDER BY d.rowid",
            (cut, *names, cut, boundary),
        )
        self._db.executemany(
            f"INSERT OR IGNORE INTO decisions VALUES ({', '.join('?' * 13)})", decisions
        )
        seeded = "SELECT decision_id FROM decisions UNION SELECT event_id FROM events"
        keep = {str(row[0]) for row in self._db.execute(seeded)}
        of_accounts = f"WHERE account_id IN ({marks})"
        # Counting from what is seeded, as they are (the engine updates them); one that fired
        # from the cut on fires again in the replay, as its decision is not seeded.
        deadlines = [
            (*row[:6], "pending" if row[6] == "fired" and row[5] >= cut_us else row[6])
            for row in source._db.execute(f"SELECT * FROM deadlines {of_accounts}", names)
            if row[1] in keep
        ]
        self._db.executemany(
            f"INSERT OR IGNORE INTO deadlines VALUES ({', '.join('?' * 7)})", deadlines
        )
        entries = [  # of seeded decisions; a removal from the cut on is not yet made
            (*row[:8], *(row[8:] if row[8] is not None and row[8] < cut_us else (None, None)))
            for row in source._db.execute(f"SELECT * FROM blacklist {of_accounts}", names)
            if row[2] in keep
        ]
        self._db.executemany(
            f"INSERT OR IGNORE INTO blacklist VALUES ({', '.join('?' * 10)})", entries
        )

    def arrivals(self, event_ids: set[str]) -> dict[str, int]:
        """When each stored event came, as a position in arrival order."""
        marks = ", ".join("?" * len(event_ids))
        rows = self._db.execute(
            f"SELECT event_id, rowid FROM events WHERE event_id IN ({marks})", sorted(event_ids)
        ).fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    def recorded_by(self, decision_ids: list[str]) -> dict[str, str]:
        """The event each decision was recorded while processing."""
        marks = ", ".join("?" * len(decision_ids))
        rows = self._db.execute(
            f"SELECT decision_id, event_id FROM decisions WHERE decision_id IN ({marks})",
            decision_ids,
        ).fetchall()
        return {str(row[0]): str(row[1]) for row in rows}

    def prints_of(self, accounts: set[str]) -> dict[str, list[tuple[str, str]]]:
        """Per registration of these accounts, its (kind, fingerprint) pairs."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            f"SELECT event_id, kind, fingerprint FROM identities WHERE account_id IN ({marks})",
            sorted(accounts),
        ).fetchall()
        found: dict[str, list[tuple[str, str]]] = {}
        for event_id, kind, fingerprint in rows:
            found.setdefault(str(event_id), []).append((str(kind), bytes(fingerprint).hex()))
        return found

    def taken_of(self, accounts: set[str]) -> list[tuple[dict[str, Any], str | None, str]]:
        """The accounts' decisions not reversed (enforced and shadow), ended or not, in the
        order taken: (record, ended at, the event being processed when it was recorded)."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            f"SELECT record, ended_at, event_id FROM decisions WHERE account_id IN ({marks}) "
            "AND reversed_by IS NULL ORDER BY rowid",
            sorted(accounts),
        ).fetchall()
        return [(dict(json.loads(row[0])), row[1], str(row[2])) for row in rows]

    def deadlines_from(self, at_us: int) -> list[tuple[str, str, str, str, int, int]]:
        """(rule, anchor, account, anchor event, start, due) of the deadlines not void, due
        after `at_us`."""
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us "
            "FROM deadlines WHERE state != 'void' AND due_us > ?",
            (at_us,),
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5])) for r in rows]

    def pending_deadlines_of(self, accounts: set[str]) -> list[tuple[str, str, str, str, int, int]]:
        """(rule, anchor, account, anchor event, start, due) of the accounts' pending ones."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us "
            f"FROM deadlines WHERE state = 'pending' AND account_id IN ({marks})",
            sorted(accounts),
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5])) for r in rows]

    def next_expiry(self) -> str | None:
        row = self._db.execute(
            f"SELECT MIN(expires_at) FROM decisions WHERE expires_at IS NOT NULL AND {_STANDING}"
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def expire(self, clock: str) -> list[tuple[str, str, str]]:
        """End freezes whose time is up; returns (account_id, decision_id, expires_at)."""
        rows = self._db.execute(
            "SELECT account_id, decision_id, expires_at FROM decisions "
            f"WHERE expires_at IS NOT NULL AND expires_at <= ? AND {_STANDING} "
            "ORDER BY expires_at, rowid",
            (clock,),
        ).fetchall()
        for account_id, decision_id, expires_at in rows:
            self._end(str(decision_id), str(account_id), str(expires_at))
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def covered(
        self, account_id: str, rule_id: str, mode: str, effective_at: str, expires_at: str | None
    ) -> bool:
        """Does a decision of the same rule, in force (a shadow one: not reversed), already
        cover a freeze from `effective_at` to `expires_at` (None: no end)?"""
        row = self._db.execute(
            "SELECT 1 FROM decisions WHERE account_id = ? AND rule_id = ? AND mode = ? "
            "AND reversed_by IS NULL AND (mode = 'shadow' OR ended_at IS NULL) "
            "AND effective_at <= ? AND (expires_at IS NULL OR (? IS NOT NULL AND expires_at >= ?)) "
            "LIMIT 1",
            (account_id, rule_id, mode, effective_at, expires_at, expires_at),
        ).fetchone()
        return row is not None

    # --- history: the events each stream counts, per account -------------------------------
    def add_history(
        self, stream: str, account_id: str, occurred_us: int, event_id: str, value: object
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO history VALUES (?, ?, ?, ?, ?)",
            (stream, account_id, occurred_us, event_id, value),
        )

    def forget_history(self, stream: str, account_id: str, occurred_us: int, event_id: str) -> None:
        self._db.execute(
            "DELETE FROM history WHERE stream = ? AND account_id = ? AND occurred_us = ? "
            "AND event_id = ?",
            (stream, account_id, occurred_us, event_id),
        )

    def history(
        self, stream: str, account_id: str, after_us: int, before_us: int
    ) -> list[tuple[int, str, object]]:
        """(time, event id, value) of the stream's events with after < time < before."""
        rows = self._db.execute(
            "SELECT occurred_us, event_id, value FROM history WHERE stream = ? AND account_id = ? "
            "AND occurred_us > ? AND occurred_us < ? ORDER BY occurred_us, event_id",
            (stream, account_id, after_us, before_us),
        ).fetchall()
        return [(int(row[0]), str(row[1]), row[2]) for row in rows]

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
        return int(
            self._db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM history WHERE stream = ? AND account_id = ? "
                "AND occurred_us > ? AND occurred_us <= ? AND event_id IS NOT ? LIMIT ?)",
                (stream, account_id, after_us, until_us, without, limit),
            ).fetchone()[0]
        )

    def history_page(
        self,
        stream: str,
        account_id: str,
        key: tuple[int, str | None],
        bound_us: int,
        limit: int,
        *,
        newest_first: bool = False,
    ) -> list[tuple[int, str, object]]:
        """Up to `limit` rows past the key, in time order, before `bound_us` (newest first:
        after it): a window read a page at a time. The key is the last row read (time, event
        id), or (time, None) for the rows later than that time (newest first: at that time
        and earlier)."""
        time_us, event_id = key
        past, bound, order = ("<", ">", "DESC") if newest_first else (">", "<", "ASC")
        if event_id is None:
            since = f"occurred_us {'<=' if newest_first else '>'} ?"
            args: tuple[object, ...] = (time_us,)
        else:
            since = f"(occurred_us, event_id) {past} (?, ?)"
            args = (time_us, event_id)
        rows = self._db.execute(
            "SELECT occurred_us, event_id, value FROM history WHERE stream = ? AND account_id = ? "
            f"AND {since} AND occurred_us {bound} ? "
            f"ORDER BY occurred_us {order}, event_id {order} LIMIT ?",
            (stream, account_id, *args, bound_us, limit),
        ).fetchall()
        return [(int(row[0]), str(row[1]), row[2]) for row in rows]

    def history_first_other(
        self, stream: str, account_id: str, after_us: int, before_us: int, known: list[object]
    ) -> tuple[int, str, object] | None:
        """The first row with after < time < before and a value, not one of `known`."""
        marks = ", ".join("?" * len(known))
        row = self._db.execute(
            "SELECT occurred_us, event_id, value FROM history WHERE stream = ? AND account_id = ? "
            "AND occurred_us > ? AND occurred_us < ? AND value IS NOT NULL "
            f"AND value NOT IN ({marks}) ORDER BY occurred_us, event_id LIMIT 1",
            (stream, account_id, after_us, before_us, *known),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), row[2])

    def history_next_value(self, stream: str, account_id: str, above: object) -> object:
        """The least non-null value of the stream's rows above `above` (None: from the
        least), or None when there is none: the distinct values, one index seek each."""
        if above is None:
            query = "value IS NOT NULL"
            args: tuple[object, ...] = (stream, account_id)
        else:
            query = "value > ?"
            args = (stream, account_id, above)
        row = self._db.execute(
            f"SELECT value FROM history WHERE stream = ? AND account_id = ? AND {query} "
            "ORDER BY value LIMIT 1",
            args,
        ).fetchone()
        return None if row is None else row[0]

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
        row = self._db.execute(
            "SELECT 1 FROM history WHERE stream = ? AND account_id = ? AND value = ? "
            "AND occurred_us > ? AND occurred_us <= ? AND event_id IS NOT ? LIMIT 1",
            (stream, account_id, value, after_us, until_us, without),
        ).fetchone()
        return row is not None

    def prune_history(self, stream: str, up_to_us: int) -> int:
        """Forget the stream's events at or before `up_to_us`: no window can reach them."""
        return self._db.execute(
            "DELETE FROM history WHERE stream = ? AND occurred_us <= ?", (stream, up_to_us)
        ).rowcount

    def history_size(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM history").fetchone()[0])

    def filled_streams(self) -> set[str]:
        return {str(row[0]) for row in self._db.execute("SELECT key FROM streams")}

    def mark_stream_filled(self, key: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO streams VALUES (?, ?)", (key, datetime.now(UTC).isoformat())
        )

    def events_since(self, types: tuple[str, ...], after_us: int) -> Iterator[tuple[str, str]]:
        """(account id, payload) of stored events of these types later than `after_us`."""
        marks = ", ".join("?" * len(types))
        rows = self._db.execute(
            f"SELECT account_id, payload FROM events WHERE type IN ({marks}) AND occurred_us > ? "
            f"AND {_KEPT} ORDER BY occurred_us, event_id",
            (*types, after_us),
        )
        for row in rows.fetchall():
            yield str(row[0]), str(row[1])

    def registrations_since(self, kind: str, after_us: int) -> Iterator[tuple[str, str]]:
        """(fingerprint of `kind`, payload) of stored registrations later than `after_us`."""
        rows = self._db.execute(
            "SELECT i.fingerprint, e.payload FROM identities i JOIN events e USING (event_id) "
            "WHERE i.kind = ? AND i.registered_us > ? ORDER BY i.registered_us, e.event_id",
            (kind, after_us),
        )
        for row in rows.fetchall():
            yield bytes(row[0]).hex(), str(row[1])

    # --- deadlines ----------------------------------------------------------------------
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
        return bool(
            self._db.execute(
                "INSERT OR IGNORE INTO deadlines VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state),
            ).rowcount
        )

    def meet_deadlines(
        self, account_id: str, rule_ids: list[str], at_us: int
    ) -> list[tuple[Any, ...]]:
        """An `unless` event at `at_us` meets the pending deadlines whose span holds it;
        their rows (`DEADLINE_COLUMNS`)."""
        marks = ", ".join("?" * len(rule_ids))
        rows = self._db.execute(
            f"UPDATE deadlines SET state = 'met' WHERE account_id = ? AND state = 'pending' "
            f"AND rule_id IN ({marks}) AND start_us <= ? AND ? < due_us "
            f"RETURNING {', '.join(DEADLINE_COLUMNS)}",
            (account_id, *rule_ids, at_us, at_us),
        )
        return sorted(tuple(row) for row in rows)

    def waiting_accounts(self) -> set[str]:
        """Accounts with a pending deadline."""
        rows = self._db.execute("SELECT DISTINCT account_id FROM deadlines WHERE state = 'pending'")
        return {str(row[0]) for row in rows}

    def next_deadline(self) -> int | None:
        row = self._db.execute(
            "SELECT MIN(due_us) FROM deadlines WHERE state = 'pending'"
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def due_deadlines(self, clock_us: int) -> list[tuple[str, str, str, str, int]]:
        """Pending deadlines at or before the clock, in time order:
        (rule id, anchor id, account id, anchor event id, due)."""
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, account_id, anchor_event_id, due_us FROM deadlines "
            "WHERE state = 'pending' AND due_us <= ? ORDER BY due_us, rule_id, anchor_id",
            (clock_us,),
        ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4])) for r in rows]

    def set_deadline_state(
        self, rule_id: str, anchor_id: str, state: str
    ) -> tuple[Any, ...] | None:
        """The row (`DEADLINE_COLUMNS`) as it now is; None: there is none."""
        row = self._db.execute(
            "UPDATE deadlines SET state = ? WHERE rule_id = ? AND anchor_id = ? "
            f"RETURNING {', '.join(DEADLINE_COLUMNS)}",
            (state, rule_id, anchor_id),
        ).fetchone()
        return None if row is None else tuple(row)

    def prune_deadlines(self, up_to_us: int) -> int:
        return self._db.execute(
            "DELETE FROM deadlines WHERE state != 'pending' AND due_us <= ?", (up_to_us,)
        ).rowcount

    def deadlines_of(self, account_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT rule_id, anchor_id, start_us, due_us, state FROM deadlines "
            "WHERE account_id = ? ORDER BY due_us, rule_id",
            (account_id,),
        ).fetchall()
        keys = ("rule_id", "anchor_id", "start_us", "due_us", "state")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # --- identities and the blacklist: fingerprints only, never raw values --------------------
    def add_identity(
        self, kind: str, fingerprint: str, account_id: str, event_id: str, registered_us: int
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO identities VALUES (?, ?, ?, ?, ?)",
            (kind, bytes.fromhex(fingerprint), account_id, event_id, registered_us),
        )

    def identities_of(self, account_id: str) -> list[tuple[str, str]]:
        """(kind, fingerprint) of every identity value the account registered with."""
        rows = self._db.execute(
            "SELECT DISTINCT kind, fingerprint FROM identities WHERE account_id = ? "
            "ORDER BY kind, fingerprint",
            (account_id,),
        ).fetchall()
        return [(str(row[0]), bytes(row[1]).hex()) for row in rows]

    def registrations_with(
        self, kind: str, fingerprint: str, since_us: int, until_us: int | None
    ) -> list[tuple[str, str, int]]:
        """(account id, event id, time) of registrations with this value, since ≤ t < until."""
        rows = self._db.execute(
            "SELECT account_id, event_id, registered_us FROM identities WHERE kind = ? "
            "AND fingerprint = ? AND registered_us >= ? AND (? IS NULL OR registered_us < ?) "
            "ORDER BY registered_us, account_id, event_id",
            (kind, bytes.fromhex(fingerprint), since_us, until_us, until_us),
        ).fetchall()
        return [(str(row[0]), str(row[1]), int(row[2])) for row in rows]

    def has_verification(self, account_id: str, status: str, reason: str | None = None) -> bool:
        """Did the account ever have a verification (registration or separate) of this
        status, and with `reason`, this reason?"""
        row = self._db.execute(
            f"SELECT 1 FROM events WHERE account_id = ? AND {_BY_ACCOUNT} "
            f"AND {_VERIFIED.format('status')} = ? "
            f"AND (? IS NULL OR {_VERIFIED.format('reason')} = ?) AND {_KEPT} LIMIT 1",
            (account_id, status, reason, reason),
        ).fetchone()
        return row is not None

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
    ) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO blacklist ({_ENTRY}, removed_us, removed_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (kind, fingerprint, decision_id, account_id, rule_id, reason, entered_us, ends_us),
        )

    def remove_entry(
        self, kind: str, fingerprint: str, decision_id: str, at_us: int, by: str | None
    ) -> None:
        self._db.execute(
            "UPDATE blacklist SET removed_us = ?, removed_by = ? "
            "WHERE kind = ? AND fingerprint = ? AND decision_id = ?",
            (at_us, by, kind, fingerprint, decision_id),
        )

    def entries(self, account_id: str | None = None) -> list[tuple[Any, ...]]:
        """Entries not removed (of one account, or all), as `_ENTRY` columns."""
        query = f"SELECT {_ENTRY} FROM blacklist WHERE removed_us IS NULL"
        args: tuple[str, ...] = ()
        if account_id is not None:
            query, args = query + " AND account_id = ?", (account_id,)
        return [tuple(row) for row in self._db.execute(query + " ORDER BY entered_us", args)]

    def entries_at(self, kind: str, fingerprint: str, at_us: int | None) -> list[tuple[Any, ...]]:
        """Entries for this value in force at `at_us`: not removed, entered, not yet ended
        (None: every entry not removed)."""
        rows = self._db.execute(
            f"SELECT {_ENTRY} FROM blacklist WHERE kind = ? AND fingerprint = ? AND {_IN_FORCE} "
            "ORDER BY entered_us, decision_id",
            (kind, fingerprint, at_us, at_us, at_us, at_us),
        ).fetchall()
        return [tuple(row) for row in rows]

    def listed_spans(self) -> Iterator[tuple[str, int, int | None]]:
        """(fingerprint, entered, end) of every entry that was ever in force: a removal ends it
        (the earlier of its end and its removal)."""
        rows = self._db.execute(
            "SELECT fingerprint, entered_us, CASE WHEN removed_us IS NULL THEN ends_us "
            "WHEN ends_us IS NULL THEN removed_us ELSE min(ends_us, removed_us) END AS until "
            "FROM blacklist WHERE until IS NULL OR until > entered_us"
        )
        for row in rows:
            yield str(row[0]), int(row[1]), None if row[2] is None else int(row[2])

    # --- audit --------------------------------------------------------------------------
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
        values = (
            AUDIT_RECORD_VERSION,
            kind,
            account_id,
            event_id,
            decision_id,
            occurred_at,
            self.now().isoformat(),
            _dumps(record),
            self._digest,
        )
        head = self.meta("audit_head")
        count, previous = (
            (int(head.split(":", 1)[0]), head.split(":", 1)[1]) if head else (0, GENESIS)
        )
        digest = record_hash(values, previous)
        self._db.execute(
            f"INSERT INTO audit ({', '.join(CHAINED)}, prev_hash, hash, seq) "
            f"VALUES ({', '.join('?' * (len(CHAINED) + 3))})",
            (*values, previous, digest, seq),
        )
        self.set_meta("audit_head", f"{count + 1}:{digest}")

    @staticmethod
    def schema_of(path: str | Path) -> str | None:
        """The store schema version the file at `path` says it has, read without writing (not
        even a schema, as opening a store would): None when it has none, an empty file or
        another program's SQLite db. Raises `StoreError` when it is not readable as SQLite."""
        db = Connection(str(path), read_only=True)
        try:
            tables = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            if db.execute(tables).fetchone() is None:
                return None
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            db.close()
        return None if row is None else str(row[0])

    def verify_audit(self, expect_head: AuditHead | str | None = None) -> Verdict:
        """Re-compute the audit chain (from the purge checkpoint, if any); the first record
        that does not fit. With `expect_head` (an `AuditHead` or its `COUNT:HASH`, published
        earlier): record COUNT must still carry HASH, which a trail rewritten whole does not.
        Then the tables that decisions, exports and statuses read (decisions, accounts,
        blacklist, deadlines, the evidence events): each row must be what the chained records
        of it say (`audit_crosscheck`)."""
        if isinstance(expect_head, str):
            expect_head = AuditHead.parse(expect_head)
        # Damage that the queries below would not read (an index, a free page) is damage too.
        # (Its NOT NULL findings are left out: SQLite 3.40 reports NULLs in WITHOUT ROWID
        # tables that hold none.)
        problems = [
            str(row[0])
            for row in self._db.execute("PRAGMA quick_check(20)")
            if not str(row[0]).startswith(("ok", "NULL value in "))
        ]
        if problems:
            told = " ".join(problems[0].split())
            raise StoreUnavailableError(f"{self.path}: it is damaged ({told})")
        rows = self._db.execute(
            f"SELECT seq, {', '.join(CHAINED)}, prev_hash, hash FROM audit ORDER BY seq"
        )
        check = CrossCheck()
        verdict = verify(
            (check.see((row[0], row[1 : 1 + len(CHAINED)], row[-2], row[-1])) for row in rows),
            self.meta("audit_head"),
            self.meta("audit_checkpoint"),
            expect_head,
        )
        if not verdict.ok:
            return verdict
        found = check.compare(
            self._db.execute(f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions"),
            self._db.execute("SELECT account_id, status FROM accounts"),
            self._db.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM blacklist"),
            self._db.execute(f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines"),
            self._db.execute(EVIDENCE_ROWS, (json.dumps(check.evidence_ids()),)),
        )
        if isinstance(found, Mismatch):
            return attrs.evolve(verdict, ok=False, seq=found.seq, problem=found.problem)
        return attrs.evolve(verdict, unchecked=found)

    def retention(self) -> timedelta:
        """How long audit records are kept: the configured period, else `RETENTION_FLOOR`."""
        days = self.meta("audit_retention_days")
        return timedelta(days=int(days)) if days else RETENTION_FLOOR

    def retention_is_default(self) -> bool:
        """Whether no retention was configured (`retention` is then `RETENTION_FLOOR`)."""
        return self.meta("audit_retention_days") is None

    def set_retention(self, period: timedelta) -> None:
        """Configure how long audit records are kept (whole days, never under the floor);
        the change is itself an audit record."""
        if period % timedelta(days=1):
            raise StoreError(f"a retention is whole days: {period} is not")
        if period < RETENTION_FLOOR:
            raise StoreError(
                f"a retention of {period.days} days is under the legal floor for logs: "
                f"at least {RETENTION_FLOOR.days} days"
            )
        days = period.days
        previous = self.retention().days
        with self.begin():
            self.set_meta("audit_retention_days", str(days))
            self.audit("retention_set", {"days": days, "previous_days": previous})

    def _purge_cut(self, before: datetime | None, what: str) -> datetime:
        """`before`, or the retention ago; refused when younger than the retention."""
        kept_for = self.retention()
        limit = self.now() - kept_for
        if before is None:
            return limit
        if before > limit:
            floor = "the legal floor for logs" if kept_for == RETENTION_FLOOR else "as configured"
            raise StoreError(
                f"{what} younger than {kept_for.days} days are kept ({floor}): "
                f"purge before {limit.isoformat(timespec='seconds')} at the latest"
            )
        return before

    @property
    def history_cut_us(self) -> int | None:
        """The history cut (event time, µs): the events before it were purged or settled;
        None while no history was purged."""
        return self._history_cut_us

    def note_horizon(self, horizon_us: int) -> None:
        """Remember the longest reach back in time of any pack that ran on this db: a
        history purge keeps what windows that long can count."""
        if not self.read_only and horizon_us > int(self.meta("horizon_us") or 0):
            self.set_meta("horizon_us", str(horizon_us))

    def purge_history(self, before: datetime | None = None) -> HistoryPurge:
        """Purge the event history before `before` (default: the retention ago; never younger
        than the retention, counted on the wall clock and on event time alike).

        Before the cut, history is settled: an event from before it is refused (a resend of
        one the db had is a duplicate), and the reversal cascade re-evaluates nothing decided
        before it. Events within the longest window before the cut are kept whole (a replay's
        windows after the cut count them), as are those that came after the first event from
        the cut on and what their windows reach (see `_history_kept`). Older ones are removed
        (their ids are kept, to recognise resends), but for the evidence of every decision and
        persons' reviews and appeals, kept whole (what notices, DSA statements and explanations
        read), and each account's registrations and identity verifications (its verified
        identity), kept with only their declared fields. Decisions, the blacklist and the keyed
        fingerprints of registrations are account state and stay. The purge is an audit
        record."""
        before = self._purge_cut(before, "event history")
        clock = self.meta("clock")
        if clock is not None:  # no event younger than the retention either
            before = min(before, datetime.fromisoformat(clock) - self.retention())
        cut_us = to_micros(before)
        horizon = self.meta("horizon_us")
        if horizon is None:
            raise StoreError(
                f"{self.path}: how far back this db's rules reach is not recorded (it was written "
                "before history purges were): open it with an Engine of its rules first "
                "(`audit purge` does, with its --rules)"
            )
        transaction = self.begin()
        try:
            if self._history_cut_us is not None and cut_us <= self._history_cut_us:
                transaction.commit()
                return HistoryPurge(from_micros(self._history_cut_us), 0, 0, None)
            first, line = self._history_kept(cut_us, int(horizon))
            settled = f"occurred_us < ? AND rowid < {first}"
            gone = (
                f"{settled} AND NOT {_BY_ACCOUNT} "
                f"AND type NOT IN ({', '.join(repr(t) for t in sorted(_PERSONS))}) "
                f"AND event_id NOT IN ({_EVIDENCE})"
            )
            self._db.execute(
                f"INSERT OR IGNORE INTO purged_events SELECT event_id FROM events WHERE {gone}",
                (line,),
            )
            removed = self._db.execute(f"DELETE FROM events WHERE {gone}", (line,)).rowcount
            reduced = 0
            rows = self._db.execute(  # (evidence is kept whole: explanations show it)
                f"SELECT event_id, payload FROM events WHERE {settled} AND {_BY_ACCOUNT} "
                f"AND event_id NOT IN ({_EVIDENCE})",
                (line,),
            ).fetchall()
            for event_id, payload in rows:
                declared = declared_payload(payload)
                if declared != payload:
                    self._db.execute(
                        "UPDATE events SET payload = ? WHERE event_id = ?", (declared, event_id)
                    )
                    reduced += 1
            self.set_meta("history_cut_us", str(cut_us))
            self._history_cut_us = cut_us
            done = HistoryPurge(from_micros(cut_us), removed, reduced, from_micros(line))
            self.audit("history_purged", done.to_dict())
            transaction.commit()
        except BaseException:
            transaction.rollback()
            self._history_cut_us = int(self.meta("history_cut_us") or 0) or None
            raise
        return done

    def _history_kept(self, cut_us: int, horizon_us: int) -> tuple[int, int]:
        """What a history purge keeps however old: the events from the log position of the
        first event from the cut on (the cascade replays them: see `Engine._settle_into`),
        and those from the time returned on: the longest window before the cut, or before
        the oldest of those replayed that a window still counts (its windows reach back)."""
        (first,) = self._db.execute(
            "SELECT min(rowid) FROM events WHERE occurred_us >= ?", (cut_us,)
        ).fetchone()
        first = self.log_end() if first is None else int(first)
        line = cut_us - horizon_us
        (late,) = self._db.execute(
            "SELECT min(occurred_us) FROM events WHERE rowid >= ? AND occurred_us >= ?",
            (first, line),
        ).fetchone()
        return first, line if late is None else min(line, int(late) - horizon_us)

    def purge_audit(
        self, before: datetime | None = None, *, verify: bool = True
    ) -> tuple[int, int | None]:
        """Remove the audit records logged before `before` (default: the configured retention
        ago; a prefix of the trail) and leave a checkpoint, so what remains still verifies; the
        purge is itself an audit record. Refused for anything younger than the retention
        (never under `RETENTION_FLOOR`), or when the chain does not verify (`verify=False`:
        the caller has just verified it, as the CLI does to set its exit code). Returns
        (records removed, the first seq kept)."""
        before = self._purge_cut(before, "audit records")
        verdict = self.verify_audit() if verify else None
        if verdict is not None and not verdict.ok:
            raise StoreError(f"the audit trail does not verify ({verdict}); nothing purged")
        transaction = self.begin()
        try:
            row = self._db.execute(
                "SELECT min(seq) FROM audit WHERE recorded_at >= ?",
                (before.astimezone(UTC).isoformat(),),
            ).fetchone()
            last = self._db.execute("SELECT max(seq) FROM audit").fetchone()[0]
            cut = row[0] if row[0] is not None else (last or 0) + 1
            gone = self._db.execute(
                "SELECT count(*), count(hash) FROM audit WHERE seq < ?", (cut,)
            ).fetchone()
            if not gone[0]:
                transaction.commit()
                return 0, None
            kept = self._db.execute("SELECT prev_hash FROM audit WHERE seq = ?", (cut,)).fetchone()
            head = self.meta("audit_head") or f"0:{GENESIS}"
            old = json.loads(self.meta("audit_checkpoint") or '{"removed": 0}')
            checkpoint = {
                "seq": cut,
                # (None: the first record kept predates the chain, which starts later)
                "previous": (kept[0] if kept is not None else head.split(":", 1)[1]) or GENESIS,
                "removed": old["removed"] + gone[1],
                "before": before.isoformat(),
            }
            self._db.execute("DELETE FROM audit WHERE seq < ?", (cut,))
            self.set_meta("audit_checkpoint", json.dumps(checkpoint))
            # Numbered after what it removed, even when nothing is left to count on.
            seq = cut if row[0] is None else None
            bare = self._bare_rows()
            self.audit(
                PURGE_KIND, {**checkpoint, "records": gone[0], "carried": len(bare)}, seq=seq
            )
            for kind, record in bare:
                self.audit(
                    kind,
                    record,
                    account_id=record["account_id"],
                    decision_id=record.get("decision_id"),
                )
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
        return int(gone[0]), int(cut)

    def _bare_rows(self) -> list[tuple[str, dict[str, Any]]]:
        """The rows a purge has just left without their records (`BARE_ROWS`), as they stand,
        to be recorded again (`audit_crosscheck`)."""
        decisions, accounts, entries, deadlines = (
            self._db.execute(query).fetchall() for query in BARE_ROWS
        )
        found = [(DECISION_CARRIED, carried_decision(row, self.event_rows)) for row in decisions]
        found += [(STATUS_CARRIED, {"account_id": row[0], "status": row[1]}) for row in accounts]
        found += [(ENTRY_CARRIED, dict(zip(ENTRY_COLUMNS, row, strict=True))) for row in entries]
        found += [
            (DEADLINE_CARRIED, dict(zip(DEADLINE_COLUMNS, row, strict=True))) for row in deadlines
        ]
        return found

    def audit_records(self, account_id: str | None = None) -> Iterator[dict[str, Any]]:
        query = (
            "SELECT seq, version, kind, account_id, event_id, decision_id, occurred_at, "
            "recorded_at, record FROM audit"
        )
        args: tuple[str, ...] = ()
        if account_id is not None:
            query, args = query + " WHERE account_id = ?", (account_id,)
        for row in self._db.execute(query + " ORDER BY seq", args):
            yield {
                "seq": row[0],
                "version": row[1],
                "kind": row[2],
                "account_id": row[3],
                "event_id": row[4],
                "decision_id": row[5],
                "occurred_at": row[6],
                "recorded_at": row[7],
                "record": json.loads(row[8]),
            }
