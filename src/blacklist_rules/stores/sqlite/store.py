"""SQLite store: account state, decisions, processed events and the audit trail in one file.

SQLite is the embedded default (standard library). `":memory:"` gives a private in-memory db.
Writes happen inside a transaction the engine commits in batches; every audit record is appended
in the same transaction as the state it explains, so a crash never leaves one without the other.

Each concern (see `..protocols`) is a mixin over one connection (`SQLiteBase`): the concerns
share one transaction, and some statements join their tables (a listed registration, how a
decision was reversed, a purge, the seed of a scratch world), so they stay one object; the
mixins keep each concern's SQL in a module of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from blacklist_rules.errors import StoreError
from blacklist_rules.stores.one_writer import OneWriter
from blacklist_rules.stores.sqlite.connection import BUSY_TIMEOUT, Connection
from blacklist_rules.stores.sqlite.writer_lock import WriterLock

from .deadlines import SQLiteDeadlines
from .decisions import SQLiteDecisions
from .events import SQLiteEvents
from .history import SQLiteHistory
from .identities import SQLiteIdentities
from .lists import SQLiteLists
from .meta import SQLiteMeta
from .outbox import OUTBOX_SCHEMA, SQLiteOutbox
from .retention import SQLiteRetention
from .schema import (
    SCHEMA,
    SCHEMA_VERSION,
    add_columns,
)
from .seed import SQLiteSeeding


class SQLiteStore(
    SQLiteRetention,
    SQLiteDecisions,
    SQLiteEvents,
    SQLiteHistory,
    SQLiteDeadlines,
    SQLiteIdentities,
    SQLiteMeta,
    SQLiteSeeding,
    OneWriter,
    SQLiteOutbox,
    SQLiteLists,
):
    """The persistence behind one `Engine`; SQL lives in this package and nowhere else."""

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
        self._data_version = self._version()  # first: a commit after it is seen by `begin`
        cut = self.meta("history_cut_us")
        self._history_cut_us = int(cut) if cut else None
        self.written_elsewhere = False
        """Whether another connection committed between our last transaction and the one
        `begin()` opened: what memory mirrors of the db must then be read again."""
        self.shared = False
        """One writer at a time (the writer lock): `claim` holds nothing."""

    def _open_schema(self) -> None:
        """Check the schema version, then (on a writable open) create or upgrade the schema."""
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        found = self.meta("schema_version") if has_meta else None
        older = ("1", "2", "3", "4", "5", "6", "7")
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
            # Checkpoint every 10,000 pages (about 40 MiB of WAL) instead of SQLite's 1,000:
            # on a large file each checkpoint writes scattered pages, so fewer, larger ones
            # stall a run less often (issue 19, bench/README.md "Flat cost").
            self._db.execute("PRAGMA wal_autocheckpoint = 10000")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # A larger page cache keeps the event-id index in memory as the db grows.
        self._db.execute("PRAGMA cache_size = -32768")
        if found is None and self.path == ":memory:":
            self._db.fill_from(
                SCHEMA + OUTBOX_SCHEMA
            )  # a scratch world per appeal: copied, not built
        else:
            self._db.executescript(SCHEMA + OUTBOX_SCHEMA)  # writes nothing on a db of this version
        if found in older:  # columns added since
            add_columns(self._db)
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
