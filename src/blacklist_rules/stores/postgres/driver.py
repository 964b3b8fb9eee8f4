"""psycopg 3 behind one seam: every statement's errors mapped to ours, transactions as objects.

Every statement the PostgreSQL store runs goes through `PgConnection`, so no psycopg error
reaches the engine or the CLI: what the environment causes (a server that cannot be reached,
went away, or refused the work for now: a lock held past the busy timeout, a serialisation
failure, a deadlock, a full disk, a read-only server) becomes `StoreUnavailableError`,
anything else `StoreError`, each with a one-line message that names the db without its
password.

The connection is in autocommit mode: writes that belong together happen inside a
`Transaction` (`BEGIN` ... `COMMIT`; the SQLite connection's class, as the statements that end
it and mark its savepoints are the same), owned by whoever began it; a second `begin()` while
one is open is an error, never a silent join. A transaction in which a statement failed cannot
commit: PostgreSQL would silently roll it back, so `commit()` says so (`StoreError`) after
rolling back.

Rows whose write nobody waits for (a batch's new events, registrations' identity values, history
rows) can be *held* (`hold`): sent later as one statement a table, before the first statement
that reads their table (`before`) or the commit (a read that merges them itself, as
`history_page`, leaves them held: `all(..., keep=)`); so no read misses them and the events are
in the log in the order held. A savepoint keeps what was held when it was taken: rolled back to,
the held rows are what they were then (rows sent since, the server undid). A savepoint is sent
lazily, just before the first statement inside it that writes (held rows included; a plain read
changes nothing to undo): one inside which nothing was written costs no round trip, its
`RELEASE` and `ROLLBACK TO` none either. A read that fails inside a savepoint not sent leaves
nothing to roll back to: the transaction fails (`StoreUnavailableError`). A held write that
fails fails the transaction (`StoreUnavailableError`), never an event's own failure, as it may
be another event's; held events of which fewer were logged than held (another writer logged one
first) are a `StoreConflictError`: the transaction must run again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs
import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row, tuple_row
from psycopg.types.json import Jsonb

from blacklist_rules.errors import StoreConflictError, StoreError, StoreUnavailableError
from blacklist_rules.stores.sqlite.connection import Transaction

T = TypeVar("T")
Params = Sequence[Any] | dict[str, Any]

_UNAVAILABLE_STATES = (errors.ReadOnlySqlTransaction, errors.DiskFull, errors.OutOfMemory)
"""Errors psycopg does not class as operational that the environment causes all the same."""


_ENDS_SCOPE = re.compile(r"\s*(ROLLBACK|COMMIT)\b", re.IGNORECASE)
"""Statements before which whatever is held is sent, whatever it is."""


@attrs.define
class Held:
    """Rows held for one statement (its parameters: each column as an array, which it
    `unnest`s). `before`: what a statement that must see them reads (they are sent ahead
    of it). `exact`: every row must change one row (else another writer wrote one first).
    `rows` only grows while held (a savepoint notes its length, `Mark`), so a row held costs
    an append, not a copy of those before it."""

    query: str
    rows: list[tuple[Any, ...]]
    before: re.Pattern[str]
    what: str
    exact: bool

    def args(self) -> list[list[Any]]:
        return [list(column) for column in zip(*self.rows, strict=True)]


@attrs.define
class Mark:
    """An open savepoint: its statement, what was held when it was taken (each statement's
    rows and how many it had then), how many rows `written` had then (per statement), and
    whether the server has it yet (`sent`: a write went inside it)."""

    statement: str
    held: list[tuple[Held, int]]
    written: dict[str, int]
    sent: bool = False


_READS = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_TAKES = re.compile(
    r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY|KEY)\b|\bpg_advisory|\bblacklist_\w*\(|\b(next|set)val\(",
    re.IGNORECASE,
)
"""A plain read (`_READS` and not `_TAKES`: no lock taken, no function of ours that writes)
changes nothing a rollback to a savepoint must undo: no savepoint is sent before it."""

_MARKS = ("SAVEPOINT", "RELEASE", "ROLLBACK TO")
"""The statements that open, close and roll back to a savepoint: kept here, sent lazily."""


def json_value(value: object) -> Jsonb | None:
    """A Python value as a JSONB parameter; None stays SQL NULL (no value), not JSON null."""
    return None if value is None else Jsonb(value)


def json_read(param: object) -> object:
    """A JSONB parameter (`json_value`'s) as reading it back from the server gives it."""
    if not isinstance(param, Jsonb):
        return None
    value = param.obj
    if value is None or isinstance(value, str | bool | int):
        return value
    return json.loads(json.dumps(value))


def label(url: str) -> str:
    """The db as messages name it: `postgresql://user@host:port/dbname`, never a password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(an unreadable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def map_error(exc: psycopg.Error, where: str) -> StoreError:
    """The error of ours that stands for a psycopg one; its message fits on one line."""
    told = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure):
        return StoreConflictError(
            f"{where}: another writer's transaction and ours conflicted ({told}): ours was "
            "rolled back, nothing of it was committed"
        )
    if isinstance(exc, errors.LockNotAvailable | errors.QueryCanceled):
        return StoreUnavailableError(
            f"{where}: another writer holds what this needs past the busy timeout ({told}): "
            "nothing was committed, run again when it is done"
        )
    if isinstance(exc, (psycopg.OperationalError, *_UNAVAILABLE_STATES)):
        return StoreUnavailableError(f"{where}: the server cannot do this now ({told})")
    return StoreError(f"{where}: {told}")


class PgConnection:
    """One psycopg connection in autocommit mode; writes that belong together happen in
    `begin()`'s transactions. `busy_timeout` (seconds) bounds the wait to connect and for
    another writer's locks (`lock_timeout`)."""

    def __init__(self, url: str, *, read_only: bool, busy_timeout: float) -> None:
        self.path = label(url)
        self.read_only = read_only
        self.before_commit: Callable[[], None] = lambda: None
        """Run inside each transaction just before it commits (the store's commit count)."""
        self._current: Transaction | None = None
        self._held: list[Held] = []
        self._marks: list[Mark] = []
        """The open savepoints, innermost last."""
        self.written: dict[str, list[tuple[Any, ...]]] = {}
        """The rows held with `kept` in the open transaction, sent or not, per statement in
        the order held; a rollback to a savepoint drops those held after it (as the server
        undoes them): what this transaction wrote of them, readable without a round trip."""
        try:
            self._raw = psycopg.connect(
                url, autocommit=True, connect_timeout=max(1, round(busy_timeout))
            )
        except psycopg.Error as exc:
            raise self.mapped(exc) from exc
        self._cursor: psycopg.Cursor[Any] = self._raw.cursor()
        """Every statement's cursor (one made a statement cost 7 µs of process time)."""
        timeout = sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{busy_timeout:g}s"))
        self.execute(timeout)
        if read_only:
            self.execute("SET default_transaction_read_only = on")

    def mapped(self, exc: psycopg.Error) -> StoreError:
        return map_error(exc, self.path)

    @property
    def status(self) -> TransactionStatus:
        return self._raw.info.transaction_status

    def hold(
        self,
        query: str,
        row: tuple[Any, ...],
        before: re.Pattern[str],
        what: str,
        *,
        exact: bool = True,
        kept: bool = False,
    ) -> None:
        """Hold a row for `query`, sent with the other rows held for it (one statement)
        ahead of the first statement `before` matches or the commit (a rollback drops
        them: to a savepoint, those held since it was taken). Rows of different statements
        may go in another order than held: they must not depend on each other (no key of
        one table refers to another's). `kept`: the row also stays in `written`."""
        if kept:
            self.written.setdefault(query, []).append(row)
        for item in self._held:
            if item.query == query:
                item.rows.append(row)
                return
        self._held.append(Held(query, [row], before, what, exact))

    def unsent(self, query: str) -> list[tuple[Any, ...]]:
        """The rows held for `query` and not sent yet, in the order held (a read that leaves
        them unsent, `all(..., keep=query)`, merges them into what it read)."""
        return next((list(item.rows) for item in self._held if item.query == query), [])

    def _send_held(self, query: str | sql.Composed, keep: str | None = None) -> None:
        """Send what is held if `query` must come after it (but the rows held for `keep`,
        which its caller reads from memory, unless others go); before that and before any
        statement but a plain read, the savepoints not sent yet (what is written inside one
        is undone with it, so it goes first; not before the end of the transaction, which
        ends them too)."""
        text = query if isinstance(query, str) else ""
        ends = bool(text) and _ENDS_SCOPE.match(text) is not None
        flush = bool(self._held) and (
            not text
            or ends
            or any(item.query != keep and item.before.search(text) for item in self._held)
        )
        read = bool(text) and _READS.match(text) is not None and not _TAKES.search(text)
        if not ends and (flush or not read):
            for mark in self._marks:
                if not mark.sent:
                    self._send_mark(mark.statement)
                    mark.sent = True
        if flush:
            held, self._held = self._held, []
            for item in held:
                self._write_held(item)

    def _write_held(self, item: Held) -> None:
        try:
            changed = self._raw.execute(item.query, item.args()).rowcount
        except psycopg.Error as exc:
            mapped = self.mapped(exc)
            if isinstance(mapped, StoreUnavailableError):
                raise mapped from exc
            raise StoreUnavailableError(
                f"{self.path}: {item.what} (held for the batch) failed ({mapped}): the "
                "transaction is dropped, nothing of it was committed"
            ) from exc
        if item.exact and changed != len(item.rows):
            raise StoreConflictError(
                f"{self.path}: {item.what}: another writer wrote one of these rows first; "
                "ours must run again (nothing of it is committed)"
            )

    def _marked(self, query: str) -> bool:
        """Keep a savepoint's statement (True) unless the server must have it. `SAVEPOINT`: a mark,
        sent before the next statement that writes. `RELEASE`: the mark dropped, sent
        only if the savepoint was. `ROLLBACK TO`: held again what was held at the mark;
        sent only if the savepoint was (nothing was written since otherwise), never
        after the held rows (the server would undo them at once)."""
        if query.startswith("SAVEPOINT"):
            held = [(item, len(item.rows)) for item in self._held]
            written = {key: len(rows) for key, rows in self.written.items()}
            self._marks.append(Mark(query, held, written))
            return True
        if not self._marks:
            return False  # (no savepoint of ours: the server says what is wrong)
        mark = self._marks[-1]
        if query.startswith("RELEASE"):
            self._marks.pop()
            if mark.sent:
                self._send_mark(query)
            return True
        if not mark.sent and self.status == TransactionStatus.INERROR:
            self._held, self._marks, self.written = [], [], {}
            raise StoreUnavailableError(
                f"{self.path}: a read failed inside a savepoint the server was not sent yet "
                "(nothing to roll back to): the transaction is dropped, nothing of it was "
                "committed"
            )
        self._held = []
        for item, count in mark.held:
            del item.rows[count:]
            self._held.append(item)
        for key, rows in self.written.items():
            del rows[mark.written.get(key, 0) :]
        if mark.sent:
            self._send_mark(query)
        return True

    def _send_mark(self, statement: str) -> None:
        """A savepoint's own statement, sent now: nothing held goes before it (held rows
        belong to the savepoint they were held in, `_marked`)."""
        self._run(statement, None, lambda cursor: None, send=False)

    def _run(
        self,
        query: str | sql.Composed,
        args: Params | None,
        read: Callable[[Any], T],
        record: type[Any] | None = None,
        *,
        send: bool = True,
    ) -> T:
        """One statement, after what is held if it must see it (`send`); `read` gets its
        cursor."""
        if send:
            self._send_held(query)
        cursor = self._cursor
        try:
            cursor.row_factory = class_row(record) if record is not None else tuple_row
            cursor.execute(query, args)
            found = read(cursor)
        except psycopg.Error as exc:
            raise self.mapped(exc) from exc
        return found

    def execute(self, query: str | sql.Composed, args: Params | None = None) -> int:
        """Execute one statement; how many rows it changed (0: a savepoint's, kept to send
        later or not at all)."""
        if isinstance(query, str) and query.startswith(_MARKS) and self._marked(query):
            return 0
        return self._run(query, args, lambda cursor: int(cursor.rowcount))

    def run_many(self, query: str, rows: Iterable[Params]) -> None:
        """Execute one statement per row (psycopg batches them in one round trip)."""
        self._send_held(query)
        try:
            with self._raw.cursor() as cursor:
                cursor.executemany(query, rows)
        except psycopg.Error as exc:
            raise self.mapped(exc) from exc

    def all(
        self, query: str, args: Params | None = None, *, keep: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Every row of one statement, as tuples. `keep`: a held statement whose rows this
        read does not need sent first (its caller merges `unsent(keep)` into the rows)."""
        if keep is not None:
            self._send_held(query, keep)
            return self._run(query, args, lambda cursor: list(cursor.fetchall()), send=False)
        return self._run(query, args, lambda cursor: list(cursor.fetchall()))

    def one(self, query: str, args: Params | None = None) -> tuple[Any, ...] | None:
        """The first row of one statement, or None."""
        found: tuple[Any, ...] | None = self._run(query, args, lambda cursor: cursor.fetchone())
        return found

    def value(self, query: str, args: Params | None = None) -> Any:
        """The first column of the first row (None: no row)."""
        row = self.one(query, args)
        return None if row is None else row[0]

    def rows(self, record: type[T], query: str, args: Params | None = None) -> list[T]:
        """Every row of one statement as a typed record (its columns by the record's names)."""
        return self._run(query, args, lambda cursor: list(cursor.fetchall()), record)

    @property
    def transaction(self) -> Transaction | None:
        """The transaction open on this connection, if any."""
        return self._current

    def begin(self) -> Transaction:
        """Open a write transaction. Refused on a read-only connection, and while one is open:
        transactions do not nest, so nobody commits another's writes."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only: nothing can be written")
        if self._current is not None:
            raise StoreError(
                f"{self.path}: a transaction is already open (transactions do not nest: "
                "commit or roll back the open one first)"
            )
        self._marks, self.written = [], {}  # (no savepoint outlives its transaction)
        self.execute("BEGIN")
        self._current = Transaction(self)
        return self._current

    def ended(self, transaction: Transaction) -> None:
        if self._current is transaction:
            self._current = None

    def commit_raw(self) -> None:
        """Commit, after the store's last word (`before_commit`). A transaction in which a
        statement failed is refused: PostgreSQL would roll it back and call that a commit."""
        if self.status == TransactionStatus.INERROR:
            raise StoreError(
                f"{self.path}: a statement of this transaction failed: it was rolled back, "
                "nothing was committed"
            )
        self.before_commit()
        self._marks = []  # (the commit ends the savepoints still open)
        self.execute("COMMIT")
        self.written = {}

    def rollback_raw(self) -> None:
        """Roll back whatever the server still holds open (a lost connection has nothing);
        what was held is dropped unsent."""
        self._held, self._marks, self.written = [], [], {}
        if self.status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            self.execute("ROLLBACK")

    def close(self) -> None:
        """Close; a transaction still open is rolled back, never committed by closing."""
        self._held, self._marks, self.written = [], [], {}
        try:
            if self._current is not None:
                self._current.rollback()
        finally:
            self._raw.close()
