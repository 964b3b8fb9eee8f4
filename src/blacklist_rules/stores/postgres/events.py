"""The event log: every event in arrival order (`arrival`, an identity column), what still
counts of it (withdrawn evidence), and the reads of it by account, type and time."""

from __future__ import annotations

import json
import re
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
from blacklist_rules.stores.sqlite.events import PURGED

from .base import PostgresBase
from .schema import BY_ACCOUNT, KEPT, VERIFIED

_LIFT = "payload::jsonb ->> 'action' = 'lift'"
_ADD_MANY = (
    "INSERT INTO events (event_id, account_id, type, occurred_us, payload, clock_us) "
    "SELECT e, a, t, o, p, c FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], "
    "%b::text[], %b::bigint[]) WITH ORDINALITY AS r(e, a, t, o, p, c, n) ORDER BY n "
    "ON CONFLICT (event_id) DO NOTHING"
)
"""A batch's new events in one statement, in the order given (their `arrival`). The arrays
go in binary (`%b`): psycopg quotes every element of a text array with a regex, 16 µs a
row against 2 (500 rows, `execute`, process time)."""
_READS_EVENTS = re.compile(r"\bevents\b")
"""What a statement that must see the held events names (the table, not `purged_events`)."""


class PostgresEvents(PostgresBase):
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
        payload already stored under that id. The log's order is `arrival`. An event whose
        id was read ahead and found new (`claim_accounts`) is held for the next round trip,
        with the batch's other new events, as one statement; if another writer logged the
        same id first, that statement fails the transaction (`StoreConflictError`)."""
        expected = self._expected
        if event_id in expected:
            stored = expected[event_id]
            if stored is not None:
                return stored
            row = (event_id, account_id, type_, occurred_us, payload, clock_us)
            self._db.hold(_ADD_MANY, row, _READS_EVENTS, "the batch's events logged", kept=True)
            expected[event_id] = payload
            return None
        self._fresh.discard(account_id)  # (one of its events written alone)
        added = self._db.execute(
            "INSERT INTO events (event_id, account_id, type, occurred_us, payload, clock_us) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
            (event_id, account_id, type_, occurred_us, payload, clock_us),
        )
        if added == 1:
            return None
        return str(self._db.value("SELECT payload FROM events WHERE event_id = %s", (event_id,)))

    def stored_payload_of(self, event_id: str) -> str | None:
        """The stored text of an event, `PURGED` if a history purge removed it, else None."""
        row = self._db.one(
            "SELECT (SELECT payload FROM events WHERE event_id = %(id)s), "
            "EXISTS (SELECT 1 FROM purged_events WHERE event_id = %(id)s)",
            {"id": event_id},
        )
        if row is None:  # a SELECT without FROM always yields its one row
            return None
        if row[0] is not None:
            return str(row[0])
        return PURGED if row[1] else None

    def event_rows(self, event_ids: list[str]) -> list[EventRow]:
        """The rows (`EVENT_COLUMNS`) of the stored events among these ids. Those this
        transaction holds unsent come from memory (the held row is the row, in that order),
        so a decision vouching for its batch's events sends neither them nor, when they are
        all its evidence, a read."""
        wanted = set(event_ids)
        held = [EventRow(*row) for row in self._db.unsent(_ADD_MANY) if row[0] in wanted]
        rest = sorted(wanted.difference(row.event_id for row in held))
        if not rest:
            return held
        rows = self._db.all(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE event_id = ANY(%s)",
            (rest,),
            keep=_ADD_MANY,
        )
        return [*held, *(EventRow(*row) for row in rows)]

    def forget_event(self, event_id: str) -> None:
        self._fresh.clear()  # (whose it was is not known here)
        if event_id in self._expected:
            self._expected[event_id] = None
        self._db.execute("DELETE FROM events WHERE event_id = %s", (event_id,))

    def event_payload(self, event_id: str) -> dict[str, Any] | None:
        found = self._db.value("SELECT payload FROM events WHERE event_id = %s", (event_id,))
        return None if found is None else dict(json.loads(found))

    def logged_events(self, account_id: str, after_us: int, before_us: int) -> list[str]:
        """Payloads of the account's `LOGGED_BY_ACCOUNT` events with after < time < before."""
        rows = self._db.all(
            f"SELECT payload FROM events WHERE account_id = %s AND {BY_ACCOUNT} "
            f"AND occurred_us > %s AND occurred_us < %s AND {KEPT} ORDER BY occurred_us, event_id",
            (account_id, after_us, before_us),
        )
        return [str(row[0]) for row in rows]

    def passed_verification_since(
        self, account_id: str, since_us: int
    ) -> PassedVerification | None:
        """The account's first passed verification at or after `since_us`.
        At the same moment counts, as it does for a passed verification that comes in order."""
        row = self._db.one(
            "SELECT event_id, occurred_us FROM events "
            f"WHERE account_id = %s AND occurred_us >= %s AND {BY_ACCOUNT} "
            f"AND {VERIFIED.format('status')} = 'passed' AND {KEPT} "
            "ORDER BY occurred_us, arrival LIMIT 1",
            (account_id, since_us),
        )
        return None if row is None else PassedVerification(str(row[0]), int(row[1]))

    def account_events(
        self, account_id: str, types: tuple[str, ...], limit: int, *, kept: bool = False
    ) -> list[str]:
        """Payloads of the account's latest events of these types, newest first (a scan: for
        explanations, and for events behind the clock); with `kept`, only those that still
        count. An account claimed ahead with no event stored before (`_fresh`) is read from
        the rows this transaction held for it, without a round trip (none of them withdrawn:
        `withdraw` ends that)."""
        if account_id in self._fresh:  # (rows: event_id, account_id, type, occurred_us, …)
            held = self._db.written.get(_ADD_MANY, [])
            mine = [r for r in held if r[1] == account_id and r[2] in types]
            mine.sort(key=lambda row: (row[3], row[0]), reverse=True)
            return [str(row[4]) for row in mine[:limit]]
        counting = f"AND {KEPT} " if kept else ""
        rows = self._db.all(
            f"SELECT payload FROM events WHERE account_id = %s AND type = ANY(%s) {counting}"
            "ORDER BY occurred_us DESC, event_id DESC LIMIT %s",
            (account_id, list(types), limit),
        )
        return [str(row[0]) for row in rows]

    def has_verification(self, account_id: str, status: str, reason: str | None = None) -> bool:
        """Did the account ever have a verification (registration or separate) of this
        status, and with `reason`, this reason?"""
        row = self._db.one(
            f"SELECT 1 FROM events WHERE account_id = %(a)s AND {BY_ACCOUNT} "
            f"AND {VERIFIED.format('status')} = %(s)s "
            f"AND (%(r)s::text IS NULL OR {VERIFIED.format('reason')} = %(r)s) AND {KEPT} LIMIT 1",
            {"a": account_id, "s": status, "r": reason},
        )
        return row is not None

    def first_seen(self) -> dict[str, FirstSeen]:
        """Per account: its first registration's time (None: none stored) and its first
        event's time, in microseconds."""
        rows = self._db.all(
            "SELECT account_id, min(CASE WHEN type = 'registration' THEN occurred_us END), "
            "min(occurred_us) FROM events GROUP BY account_id"
        )
        return {str(row[0]): FirstSeen(row[1], int(row[2])) for row in rows}

    def lifts(self) -> dict[str, list[int]]:
        """Per account, the times of reviewers' lifts of all its decisions (no decision id)."""
        rows = self._db.all(
            f"SELECT account_id, occurred_us FROM events WHERE type = 'review_decision' "
            f"AND {_LIFT} AND payload::jsonb ->> 'decision_id' IS NULL ORDER BY arrival"
        )
        found: dict[str, list[int]] = {}
        for account, at_us in rows:
            found.setdefault(str(account), []).append(int(at_us))
        return found

    def events_of(self, event_ids: list[str]) -> list[StoredEvent]:
        """The stored events among these ids."""
        return self._db.rows(
            StoredEvent,
            "SELECT event_id, account_id, type, occurred_us FROM events "
            "WHERE event_id = ANY(%s) ORDER BY arrival",
            (event_ids,),
        )

    def replay_of(self, accounts: set[str], from_arrival: int = 0) -> list[LoggedEvent]:
        """The accounts' events that still count, in arrival order, each with the clock when it
        came (moved by any account, or by no event at all). Not the persons'
        reversals (appeal outcomes, lifts): vetoes and withdrawals stand for them. With
        `from_arrival`, those that came from that log position on."""
        return self._db.rows(
            LoggedEvent,
            f"SELECT payload, clock_us FROM events WHERE account_id = ANY(%s) AND {KEPT} "
            "AND type != 'appeal_outcome' AND arrival >= %s "
            f"AND NOT (type = 'review_decision' AND {_LIFT}) ORDER BY arrival",
            (sorted(accounts), from_arrival),
        )

    def first_arrival_since(self, accounts: set[str], since_us: int) -> Arrival | None:
        """Where the accounts' first event from `since_us` on came in the log, and the clock
        it came at (None: the db's first event); None when none has come."""
        found = self._db.rows(
            Arrival,
            "SELECT arrival AS position, clock_us FROM events WHERE account_id = ANY(%s) "
            "AND occurred_us >= %s ORDER BY arrival LIMIT 1",
            (sorted(accounts), since_us),
        )
        return found[0] if found else None

    def log_end(self) -> int:
        """The log position the next event will take (at least: arrival numbers may skip)."""
        return int(self._db.value("SELECT coalesce(max(arrival), 0) + 1 FROM events"))

    def arrivals(self, event_ids: set[str]) -> dict[str, int]:
        """When each stored event came, as a position in arrival order."""
        rows = self._db.all(
            "SELECT event_id, arrival FROM events WHERE event_id = ANY(%s)", (sorted(event_ids),)
        )
        return {str(row[0]): int(row[1]) for row in rows}

    def events_since(self, types: tuple[str, ...], after_us: int) -> Iterator[GroupedPayload]:
        """The stored events of these types later than `after_us`, grouped by account."""
        rows = self._db.all(
            "SELECT account_id, payload, clock_us FROM events "
            f"WHERE type = ANY(%s) AND occurred_us > %s AND {KEPT} ORDER BY occurred_us, event_id",
            (list(types), after_us),
        )
        for row in rows:
            yield GroupedPayload(str(row[0]), str(row[1]), row[2])

    def withdraw(self, event_id: str, by_event: str, decision_id: str) -> bool:
        """Withdraw the evidence a reversed decision was taken on; False if it already was.
        Whose event it was is not known here: no account is read from held rows after it."""
        self._fresh.clear()
        added = self._db.execute(
            "INSERT INTO withdrawn VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (event_id, by_event, decision_id),
        )
        return added == 1

    def withdrawn(self) -> set[str]:
        return {str(row[0]) for row in self._db.all("SELECT event_id FROM withdrawn")}
