"""The event log: every event in arrival order, what still counts of it (withdrawn
evidence), and the reads of it by account, type and time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from blacklist_rules.stores.audit_crosscheck import EVENT_COLUMNS
from blacklist_rules.stores.records import (
    Arrival,
    EventRow,
    FirstSeen,
    GroupedPayload,
    LoggedEvent,
    PassedVerification,
    StoredEvent,
)

from .base import SQLiteBase
from .schema import (
    BY_ACCOUNT,
    KEPT,
    VERIFIED,
)

PURGED = "(purged)"
"""What `stored_payload_of` says of an event a history purge removed."""


class SQLiteEvents(SQLiteBase):
    """The `events`, `withdrawn` and `purged_events` tables."""

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

    def event_rows(self, event_ids: list[str]) -> list[EventRow]:
        """The rows (`EVENT_COLUMNS`) of the stored events among these ids."""
        marks = ", ".join("?" * len(event_ids))
        query = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE event_id IN ({marks})"
        return [EventRow(*row) for row in self._db.execute(query, event_ids)]

    def forget_event(self, event_id: str) -> None:
        self._db.execute("DELETE FROM events WHERE event_id = ?", (event_id,))

    def event_payload(self, event_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT payload FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def logged_events(self, account_id: str, after_us: int, before_us: int) -> list[str]:
        """Payloads of the account's `LOGGED_BY_ACCOUNT` events with after < time < before.
        (The type test is written out so that SQLite uses the partial index.)"""
        rows = self._db.execute(
            f"SELECT payload FROM events WHERE account_id = ? AND {BY_ACCOUNT} "
            f"AND occurred_us > ? AND occurred_us < ? AND {KEPT} ORDER BY occurred_us, event_id",
            (account_id, after_us, before_us),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def passed_verification_since(
        self, account_id: str, since_us: int
    ) -> PassedVerification | None:
        """The account's first passed verification at or after `since_us`.
        At the same moment counts, as it does for a passed verification that comes in order."""
        row = self._db.execute(
            "SELECT event_id, occurred_us FROM events "
            "WHERE account_id = ? AND occurred_us >= ? "
            f"AND {BY_ACCOUNT} "
            f"AND {VERIFIED.format('status')} = 'passed' AND {KEPT} "
            "ORDER BY occurred_us LIMIT 1",
            (account_id, since_us),
        ).fetchone()
        return None if row is None else PassedVerification(str(row[0]), int(row[1]))

    def account_events(
        self, account_id: str, types: tuple[str, ...], limit: int, *, kept: bool = False
    ) -> list[str]:
        """Payloads of the account's latest events of these types, newest first (a scan: for
        explanations, not for the hot path). With `kept`, only those that still count."""
        marks = ", ".join("?" * len(types))
        counting = f"AND {KEPT} " if kept else ""
        rows = self._db.execute(
            f"SELECT payload FROM events WHERE account_id = ? AND type IN ({marks}) {counting}"
            "ORDER BY occurred_us DESC, event_id DESC LIMIT ?",
            (account_id, *types, limit),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def has_verification(self, account_id: str, status: str, reason: str | None = None) -> bool:
        """Did the account ever have a verification (registration or separate) of this
        status, and with `reason`, this reason?"""
        row = self._db.execute(
            f"SELECT 1 FROM events WHERE account_id = ? AND {BY_ACCOUNT} "
            f"AND {VERIFIED.format('status')} = ? "
            f"AND (? IS NULL OR {VERIFIED.format('reason')} = ?) AND {KEPT} LIMIT 1",
            (account_id, status, reason, reason),
        ).fetchone()
        return row is not None

    def first_seen(self) -> dict[str, FirstSeen]:
        """Per account: its first registration's time (None: none stored) and its first
        event's time, in microseconds."""
        rows = self._db.execute(
            "SELECT account_id, min(CASE type WHEN 'registration' THEN occurred_us END), "
            "min(occurred_us) FROM events GROUP BY account_id"
        )
        return {str(row[0]): FirstSeen(row[1], int(row[2])) for row in rows}

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

    def events_of(self, event_ids: list[str]) -> list[StoredEvent]:
        """The stored events among these ids."""
        marks = ", ".join("?" * len(event_ids))
        rows = self._db.execute(
            f"SELECT event_id, account_id, type, occurred_us FROM events "
            f"WHERE event_id IN ({marks})",
            event_ids,
        ).fetchall()
        return [StoredEvent(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def replay_of(self, accounts: set[str], from_arrival: int = 0) -> list[LoggedEvent]:
        """The accounts' events that still count, in arrival order, each with the clock when it
        came (moved by any account, or by no event at all). Not the persons'
        reversals (appeal outcomes, lifts): vetoes and withdrawals stand for them. With
        `from_arrival`, those that came from that log position on. Read through
        `events_by_account`: the linked accounts' events only, not the whole log."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            f"SELECT payload, clock_us FROM events WHERE account_id IN ({marks}) AND {KEPT} "
            "AND type != 'appeal_outcome' AND rowid >= ? "
            "AND NOT (type = 'review_decision' AND json_extract(payload, '$.action') = 'lift') "
            "ORDER BY rowid",
            (*sorted(accounts), from_arrival),
        ).fetchall()
        return [LoggedEvent(str(row[0]), None if row[1] is None else int(row[1])) for row in rows]

    def first_arrival_since(self, accounts: set[str], since_us: int) -> Arrival | None:
        """Where the accounts' first event from `since_us` on came in the log, and the clock
        it came at (None: the db's first event); None when none has come."""
        marks = ", ".join("?" * len(accounts))
        row = self._db.execute(
            f"SELECT rowid, clock_us FROM events WHERE account_id IN ({marks}) "
            "AND occurred_us >= ? ORDER BY rowid LIMIT 1",
            (*sorted(accounts), since_us),
        ).fetchone()
        return (
            None if row is None else Arrival(int(row[0]), None if row[1] is None else int(row[1]))
        )

    def log_end(self) -> int:
        """The log position the next event will take."""
        return int(self._db.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0) + 1

    def arrivals(self, event_ids: set[str]) -> dict[str, int]:
        """When each stored event came, as a position in arrival order."""
        marks = ", ".join("?" * len(event_ids))
        rows = self._db.execute(
            f"SELECT event_id, rowid FROM events WHERE event_id IN ({marks})", sorted(event_ids)
        ).fetchall()
        return {str(row[0]): int(row[1]) for row in rows}

    def events_since(self, types: tuple[str, ...], after_us: int) -> Iterator[GroupedPayload]:
        """The stored events of these types later than `after_us`, grouped by account."""
        marks = ", ".join("?" * len(types))
        rows = self._db.execute(
            f"SELECT account_id, payload, clock_us FROM events WHERE type IN ({marks}) "
            f"AND occurred_us > ? AND {KEPT} ORDER BY occurred_us, event_id",
            (*types, after_us),
        )
        for row in rows.fetchall():
            yield GroupedPayload(str(row[0]), str(row[1]), row[2])

    def withdraw(self, event_id: str, by_event: str, decision_id: str) -> bool:
        """Withdraw the evidence a reversed decision was taken on; False if it already was."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO withdrawn VALUES (?, ?, ?)", (event_id, by_event, decision_id)
        )
        return cursor.rowcount == 1

    def withdrawn(self) -> set[str]:
        return {str(row[0]) for row in self._db.execute("SELECT event_id FROM withdrawn")}
