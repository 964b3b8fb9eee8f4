"""PostgreSQL store: the SQLite store's tables, reads and audit trail in a server database that
several processes can open at once.

Opened by URL (`postgresql://user@host:port/dbname`; any libpq connection string works). The
schema is migrated before anything else is read (`schema.migrate`): a db of a newer version is
refused untouched. Writes that belong together happen in one explicit transaction
(`begin()`), with savepoints inside it; every audit record is appended in the same transaction
as the state it explains.

What this store does not yet give several writers (issue 16): events are processed once by id
(the primary key), but nothing serialises the work on one account, nor shares the clock,
deadlines or expiries between writers; `written_elsewhere` tells a writer that another one
committed, so its memory mirrors can be read again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from blacklist_rules.stores.sqlite.connection import BUSY_TIMEOUT

from .deadlines import PostgresDeadlines
from .decisions import PostgresDecisions
from .driver import PgConnection
from .history import PostgresHistory
from .identities import PostgresIdentities
from .lists import PostgresLists
from .meta import PostgresMeta
from .outbox import PostgresOutbox
from .retention import PostgresRetention
from .schema import migrate
from .seed import PostgresSeeding
from .workers import PostgresWorkers


class PostgresStore(
    PostgresRetention,
    PostgresDecisions,
    PostgresHistory,
    PostgresDeadlines,
    PostgresIdentities,
    PostgresMeta,
    PostgresSeeding,
    PostgresWorkers,
    PostgresOutbox,
    PostgresLists,
):
    """The persistence behind an `Engine`, in PostgreSQL; SQL lives in this package."""

    def __init__(
        self, url: str, *, read_only: bool = False, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        """Connect and migrate. `read_only`: every transaction of the session is read-only
        and `begin()` is refused; `busy_timeout`: seconds to wait to connect, and for a lock
        another writer holds, before `StoreUnavailableError`."""
        self._db = PgConnection(url, read_only=read_only, busy_timeout=busy_timeout)
        self.path = self._db.path
        self.read_only = read_only
        self._digest: str | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        """The wall clock audit records are stamped with (and retention counts on)."""
        try:
            migrate(self._db)
            cut = self.meta("history_cut_us")
            self._seen = int(self._db.value("SELECT version FROM commits"))
        except BaseException:
            self._db.close()
            raise
        self._history_cut_us = int(cut) if cut else None
        self._began_at: int | None = None
        self._claimed: set[str] = set()
        self._expected: dict[str, str | None] = {}
        self._fresh: set[str] = set()
        self._history = {}
        self._taken, self._deadlines, self._lasting = {}, {}, set()
        self.shared = True
        self._pending_audit: list[tuple[tuple[Any, ...], int | None]] = []
        self._audit_mark = 0
        self._db.before_commit = self._before_commit
        self.written_elsewhere = False
        """Whether another writer committed between our last transaction and the one
        `begin()` opened, or while ours was open: what memory mirrors must read again."""
