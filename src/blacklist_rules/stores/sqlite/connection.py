"""sqlite3 behind one seam: every call's errors mapped to ours, transactions as objects.

Every statement the store runs goes through `Connection`, and every row it reads through
`Cursor`, so no `sqlite3` error reaches the engine or the CLI: what the environment causes
(a lock held past the busy timeout, a full disk, a read-only or damaged file) becomes
`StoreUnavailableError`, anything else `StoreError`, each with a one-line message.

A write happens only inside a `Transaction` (`BEGIN IMMEDIATE`): its owner commits or rolls it
back, and a second `begin()` while one is open is an error, never a silent join (a purge would
otherwise commit a caller's open batch). A read-only connection (`read_only=True`) is opened
with SQLite's `mode=ro`: no statement of it can write the db or its WAL. In WAL mode SQLite
still needs the `-shm` and `-wal` files beside the db to read it; when they are missing (the
last writer removed them) a read-only connection creates them empty and leaves them, as data
nobody reads twice (the next writer reuses and removes them). In a directory nobody may write,
a WAL db without them cannot be opened for reading at all (`StoreUnavailableError`).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from blacklist_rules.errors import StoreError, StoreUnavailableError

BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another process's lock before giving up: long enough for a
`status` or `audit show` beside a `run`, or for one `run`'s batch to commit. A writer also
waits this long for the db's writer lock (`writer_lock`)."""

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL)
_UNAVAILABLE = {
    sqlite3.SQLITE_FULL: "the disk is full, or the db reached its size limit",
    sqlite3.SQLITE_READONLY: "it cannot be written (a read-only file, directory or open)",
    sqlite3.SQLITE_CORRUPT: "it is damaged",
    sqlite3.SQLITE_NOTADB: "it is not a database",
    sqlite3.SQLITE_CANTOPEN: "it cannot be opened",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_PERM: "access denied",
}
"""What each SQLite primary result code outside our control says (the extended codes share
the low byte with their primary code)."""


def map_error(exc: sqlite3.Error, path: str, timeout: float) -> StoreError:
    """The error of ours that stands for a sqlite3 one; its message fits on one line."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    told = " ".join(str(exc).split()) or type(exc).__name__
    if primary in _BUSY:
        return StoreUnavailableError(
            f"{path} is locked by another process (waited {timeout:g} s; {told}): "
            "nothing was committed, run again when it is done"
        )
    if primary in _UNAVAILABLE:
        return StoreUnavailableError(f"{path}: {_UNAVAILABLE[primary]} ({told})")
    return StoreError(f"{path}: {told}")


class Cursor:
    """The rows of one statement; reading them maps errors too (a row is read from disk)."""

    __slots__ = ("_owner", "_raw")

    def __init__(self, raw: sqlite3.Cursor, owner: Connection) -> None:
        self._raw = raw
        self._owner = owner

    @property
    def rowcount(self) -> int:
        return self._raw.rowcount

    def fetchone(self) -> Any:
        try:
            return self._raw.fetchone()
        except sqlite3.Error as exc:
            raise self._owner.mapped(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return self._raw.fetchall()
        except sqlite3.Error as exc:
            raise self._owner.mapped(exc) from exc

    def __iter__(self) -> Iterator[Any]:
        rows = iter(self._raw)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except sqlite3.Error as exc:
                raise self._owner.mapped(exc) from exc
            yield row


class TransactionOwner(Protocol):
    """What a `Transaction` needs of the connection it belongs to (this module's, or the
    PostgreSQL store's): the same statements end it and mark its savepoints in both."""

    path: str

    def execute(self, sql: str, args: Sequence[Any] = ()) -> object: ...

    def ended(self, transaction: Transaction) -> None: ...

    def commit_raw(self) -> None: ...

    def rollback_raw(self) -> None: ...


class Transaction:
    """One write transaction, owned by whoever began it: `commit()` or `rollback()` ends it
    (as a context manager: commit when the block ends normally, else roll back). Savepoints
    nest inside it (one event's writes, undone alone)."""

    def __init__(self, connection: TransactionOwner) -> None:
        self._connection = connection
        self.open = True

    def _check_open(self) -> None:
        if not self.open:
            raise StoreError(f"{self._connection.path}: this transaction has already ended")

    def commit(self) -> None:
        self._check_open()
        self.open = False
        self._connection.ended(self)
        try:
            self._connection.commit_raw()
        except StoreError:
            self._connection.rollback_raw()
            raise

    def rollback(self) -> None:
        """End the transaction and drop what it wrote (a no-op once it has ended)."""
        if self.open:
            self.open = False
            self._connection.ended(self)
            self._connection.rollback_raw()

    def savepoint(self) -> None:
        self._check_open()
        self._connection.execute("SAVEPOINT event")

    def release_savepoint(self) -> None:
        self._check_open()
        self._connection.execute("RELEASE event")

    def rollback_to_savepoint(self) -> None:
        """Undo what was written since the savepoint; it stays open until released."""
        self._check_open()
        self._connection.execute("ROLLBACK TO event")

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.rollback()


class SQLiteTransaction(Transaction):
    """A transaction of this module's `Connection`, whose savepoints are sent lazily: a
    `SAVEPOINT` only before the first statement inside it that may write (any but a
    `SELECT`), `RELEASE` and `ROLLBACK TO` only when it was sent (nothing written since an
    unsent mark: nothing to undo). Issue 19: `SAVEPOINT`/`RELEASE` were 0.344 of `run`'s
    2.010 statements an event; an event whose effects write nothing sends neither."""

    _connection: Connection

    def savepoint(self) -> None:
        self._check_open()
        self._connection.unsent += 1

    def release_savepoint(self) -> None:
        self._check_open()
        self._connection.release_mark()

    def rollback_to_savepoint(self) -> None:
        self._check_open()
        if not self._connection.unsent:
            self._connection.execute("ROLLBACK TO event")


_TEMPLATES: dict[str, sqlite3.Connection] = {}
"""In-memory dbs made by a script, by script: what `Connection.fill_from` copies."""
_TEMPLATES_LOCK = threading.Lock()


class Connection:
    """One sqlite3 connection in autocommit mode; writes happen in `begin()`'s transactions."""

    def __init__(
        self, path: str, *, read_only: bool = False, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.busy_timeout = busy_timeout
        self._current: Transaction | None = None
        self.unsent = 0
        """Savepoints taken and not sent yet (the innermost ones: a write sends them all)."""
        target, uri = path, False
        if read_only and path != ":memory:":
            target, uri = f"{Path(path).absolute().as_uri()}?mode=ro", True
        try:
            self._raw = sqlite3.connect(target, uri=uri, timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self.mapped(exc) from exc

    def mapped(self, exc: sqlite3.Error) -> StoreError:
        return map_error(exc, self.path, self.busy_timeout)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        if self.unsent and not sql.startswith("SELECT"):
            self._send_marks()
        try:
            return Cursor(self._raw.execute(sql, args), self)
        except sqlite3.Error as exc:
            raise self.mapped(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        if self.unsent:
            self._send_marks()
        try:
            return Cursor(self._raw.executemany(sql, rows), self)
        except sqlite3.Error as exc:
            raise self.mapped(exc) from exc

    def executescript(self, script: str) -> None:
        if self.unsent:
            self._send_marks()
        try:
            self._raw.executescript(script)
        except sqlite3.Error as exc:
            raise self.mapped(exc) from exc

    def _send_marks(self) -> None:
        """Send the savepoints taken since the last write, outermost first."""
        marks, self.unsent = self.unsent, 0
        try:
            for _ in range(marks):
                self._raw.execute("SAVEPOINT event")
        except sqlite3.Error as exc:
            raise self.mapped(exc) from exc

    def release_mark(self) -> None:
        """Drop the innermost savepoint: sent, its `RELEASE`; not sent, nothing."""
        if self.unsent:
            self.unsent -= 1
        else:
            self.execute("RELEASE event")

    def fill_from(self, script: str) -> None:
        """Fill this new in-memory db with what `script` makes, copied (SQLite's backup API)
        from a template db that ran it once. Measured for issue 19: 0.03 ms, where running
        the schema's script takes about 1 ms, a third of an appeal's scratch world."""
        with _TEMPLATES_LOCK:
            template = _TEMPLATES.get(script)
            if template is None:
                template = sqlite3.connect(":memory:", check_same_thread=False)
                template.executescript(script)
                _TEMPLATES[script] = template
            try:
                template.backup(self._raw)
            except sqlite3.Error as exc:
                raise self.mapped(exc) from exc

    def trace(self, callback: Callable[[str], object] | None) -> None:
        """Call `callback` with every statement this connection runs, parameters bound (None:
        stop): SQLite's own trace, for tests that check which statements a step runs."""
        self._raw.set_trace_callback(callback)

    @property
    def transaction(self) -> Transaction | None:
        """The transaction open on this connection, if any."""
        return self._current

    def begin(self) -> Transaction:
        """Open a write transaction (`BEGIN IMMEDIATE`: the write lock now, waiting up to the
        busy timeout). Refused on a read-only connection, and while one is open: transactions
        do not nest, so nobody commits another's writes."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only: nothing can be written")
        if self._current is not None:
            raise StoreError(
                f"{self.path}: a transaction is already open (transactions do not nest: "
                "commit or roll back the open one first)"
            )
        self.execute("BEGIN IMMEDIATE")
        self._current = SQLiteTransaction(self)
        return self._current

    def ended(self, transaction: Transaction) -> None:
        if self._current is transaction:
            self._current = None
            self.unsent = 0  # (its end ends its savepoints)

    def commit_raw(self) -> None:
        self.execute("COMMIT")

    def rollback_raw(self) -> None:
        """Roll back whatever SQLite still holds open (a busy or full error may have rolled it
        back already)."""
        if self._raw.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        """Close; a transaction still open is rolled back, never committed by closing."""
        if self._current is not None:
            self._current.rollback()
        try:
            self._raw.close()
        except sqlite3.Error as exc:
            raise self.mapped(exc) from exc


class _Owner(Protocol):
    def _abandon(self) -> None: ...


_O = TypeVar("_O", bound=_Owner)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def whole_or_nothing(
    method: Callable[Concatenate[_O, _P], _R],
) -> Callable[Concatenate[_O, _P], _R]:
    """A method after which a `StoreUnavailableError` leaves nothing half done: its owner's
    `_abandon()` drops the whole open transaction (a batch, not only the current event), so
    a rerun processes everything that was not committed."""

    @functools.wraps(method)
    def guarded(owner: _O, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(owner, *args, **kwargs)
        except StoreUnavailableError:
            owner._abandon()
            raise

    return guarded
