"""SQLite store: account state, decisions, processed events and the audit trail in one file.

SQLite is the embedded default (standard library). `":memory:"` gives a private in-memory db.
Writes happen inside a transaction the engine commits in batches; every audit record is appended
in the same transaction as the state it explains, so a crash never leaves one without the other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import StoreError

SCHEMA_VERSION = 1
AUDIT_RECORD_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rulesets (
    digest TEXT PRIMARY KEY, first_used_at TEXT NOT NULL, rules TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, type TEXT NOT NULL,
    occurred_us INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS verifications_by_account ON events (account_id, occurred_us)
    WHERE type IN ('identity_verification', 'registration');
CREATE TABLE IF NOT EXISTS accounts (account_id TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, event_id TEXT NOT NULL,
    action TEXT NOT NULL, mode TEXT NOT NULL, rule_id TEXT NOT NULL,
    effective_at TEXT NOT NULL, expires_at TEXT, end_condition TEXT,
    ended_at TEXT, reversed_by TEXT, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_by_account ON decisions (account_id);
CREATE INDEX IF NOT EXISTS decisions_by_expiry ON decisions (expires_at)
    WHERE expires_at IS NOT NULL AND ended_at IS NULL AND reversed_by IS NULL;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, kind TEXT NOT NULL,
    account_id TEXT, event_id TEXT, decision_id TEXT, occurred_at TEXT,
    recorded_at TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_account ON audit (account_id);
"""

_STANDING = "mode = 'enforce' AND ended_at IS NULL AND reversed_by IS NULL"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class SQLiteStore:
    """The persistence behind one `Engine`; SQL lives here and nowhere else."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode = WAL" if self.path != ":memory:" else "SELECT 1")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # A larger page cache keeps the event-id index in memory as the db grows.
            self._db.execute("PRAGMA cache_size = -32768")
            self._db.executescript(_SCHEMA)
            found = self.meta("schema_version")
            if found is None:
                self._db.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif found != str(SCHEMA_VERSION):
                raise StoreError(
                    f"{self.path} has store schema {found}; this version reads {SCHEMA_VERSION}"
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        self._in_tx = False

    # --- transactions -------------------------------------------------------------------
    def begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            self._db.execute("COMMIT")
            self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx:
            self._db.execute("ROLLBACK")
            self._in_tx = False

    def savepoint(self) -> None:
        self._db.execute("SAVEPOINT event")

    def release_savepoint(self) -> None:
        self._db.execute("RELEASE event")

    def rollback_to_savepoint(self) -> None:
        """Undo what the current event wrote; the savepoint stays open until released."""
        self._db.execute("ROLLBACK TO event")

    def close(self) -> None:
        self.commit()
        self._db.close()

    # --- meta and rulesets --------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def remember_ruleset(self, digest: str, rules: list[dict[str, Any]]) -> None:
        """Keep the exact rule text behind a digest, so any decision can be traced to it."""
        self._db.execute(
            "INSERT OR IGNORE INTO rulesets VALUES (?, ?, ?)",
            (digest, datetime.now(UTC).isoformat(), _dumps(rules)),
        )

    # --- events -------------------------------------------------------------------------
    def add_event(
        self, event_id: str, account_id: str, type_: str, occurred_us: int, payload: str
    ) -> str | None:
        """Record an event; returns None, or the payload already stored under that id."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
            (event_id, account_id, type_, occurred_us, payload),
        )
        if cursor.rowcount == 1:
            return None
        row = self._db.execute(
            "SELECT payload FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return str(row[0])

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
            "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
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
        self._db.executemany(
            "UPDATE decisions SET ended_at = ? WHERE decision_id = ?", [(at, i) for i in ids]
        )
        return ids

    def passed_verification_after(self, account_id: str, after_us: int) -> tuple[str, int] | None:
        """The account's first passed verification later than `after_us`: (event id, time)."""
        row = self._db.execute(
            "SELECT event_id, occurred_us FROM events "
            "WHERE account_id = ? AND occurred_us > ? "
            "AND type IN ('identity_verification', 'registration') "
            "AND coalesce(json_extract(payload, '$.status'), "
            "             json_extract(payload, '$.verification.status')) = 'passed' "
            "ORDER BY occurred_us LIMIT 1",
            (account_id, after_us),
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def end_decision(self, decision_id: str, at: str) -> None:
        self._db.execute(
            "UPDATE decisions SET ended_at = ? WHERE decision_id = ?", (at, decision_id)
        )

    def reverse_decision(self, decision_id: str, by_event: str) -> None:
        self._db.execute(
            "UPDATE decisions SET reversed_by = ? WHERE decision_id = ?", (by_event, decision_id)
        )

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
        self._db.executemany(
            "UPDATE decisions SET ended_at = expires_at WHERE decision_id = ?",
            [(row[1],) for row in rows],
        )
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

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
    ) -> None:
        """Append one audit record; never updated, never deleted."""
        self._db.execute(
            "INSERT INTO audit (version, kind, account_id, event_id, decision_id, occurred_at, "
            "recorded_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                AUDIT_RECORD_VERSION,
                kind,
                account_id,
                event_id,
                decision_id,
                occurred_at,
                datetime.now(UTC).isoformat(),
                _dumps(record),
            ),
        )

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
