"""What every part of the SQLite store shares: the connection, its transactions, and the
`meta` table of settings."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from blacklist_rules.errors import StoreError
from blacklist_rules.stores.sqlite.connection import Connection, Transaction
from blacklist_rules.stores.sqlite.writer_lock import WriterLock


class SQLiteBase:
    """The connection and its transactions; each concern of `SQLiteStore` is a mixin over it
    (one connection, one transaction for all of them)."""

    path: str
    read_only: bool
    now: Callable[[], datetime]
    """The wall clock audit records are stamped with (and retention counts on)."""
    written_elsewhere: bool
    shared: bool
    """Whether another connection committed between our last transaction and the one
    `begin()` opened: what memory mirrors of the db must then be read again."""
    _db: Connection
    _writer: WriterLock | None
    _digest: str | None
    _history_cut_us: int | None
    _data_version: int

    @property
    def connection(self) -> Connection:
        """This store's SQLite connection (its errors mapped to `StoreError`), for what only
        SQLite has: PRAGMAs, query plans, a dump of the tables in a test or a bench. Not part
        of any store protocol: what every store can answer goes through those."""
        return self._db

    def begin(self) -> Transaction:
        """Open a write transaction: its owner commits or rolls it back (`with store.begin():`
        commits when the block ends normally). Transactions do not nest: a second `begin()`
        while one is open is a `StoreError`, so nobody commits another's writes."""
        transaction = self._db.begin()
        try:
            # Another process (`audit purge`, a second `run`) may have written since: it can
            # write only between our transactions, and then `data_version` moved. Our own
            # purge keeps `_history_cut_us` itself; the cut is read again only when another
            # connection committed (issue 19: one statement less per transaction).
            version = self._version()
            elsewhere = version != self._data_version
            cut = self.meta("history_cut_us") if elsewhere else None
        except BaseException:
            transaction.rollback()
            raise
        if elsewhere:
            self._history_cut_us = int(cut) if cut else None
        self.written_elsewhere = elsewhere
        self._data_version = version
        return transaction

    def claim_accounts(
        self,
        account_ids: Collection[str],
        event_ids: Collection[str] = (),
        identities: Collection[tuple[str, str]] = (),
        history: Collection[tuple[str, str]] = (),
    ) -> bool:
        """See `Claims.claim_accounts`: one writer at a time holds the whole db."""
        return False

    def claim(self, account_id: str, identities: Iterable[tuple[str, str]] = ()) -> bool:
        """See `Transactional.claim`: one writer at a time holds the whole db (`writer_lock`),
        so nothing more is held."""
        return False

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

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
