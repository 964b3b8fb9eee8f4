"""The in-memory event log: events by id, each with its arrival position."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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
from blacklist_rules.stores.sqlite.schema import LOGGED_BY_ACCOUNT

from .base import Event, MemoryBase


def field(payload: str, *path: str) -> Any:
    """What `json_extract(payload, '$.a.b')` gives: the value, or None where the path ends."""
    found: Any = json.loads(payload)
    for name in path:
        found = found.get(name) if isinstance(found, dict) else None
    return found


def verified(event: Event, name: str) -> Any:
    """A logged verification's status or reason, from the field its type declares."""
    if event.type == "registration":
        return field(event.payload, "verification", name)
    return field(event.payload, name)


class MemoryEvents(MemoryBase):
    """The `events`, `withdrawn` and `purged_events` tables."""

    def _kept(self) -> Iterator[Event]:
        return (e for e in self._t.events.values() if e.event_id not in self._t.withdrawn)

    def _logged(self, account_id: str) -> Iterator[Event]:
        return (
            e for e in self._kept() if e.account_id == account_id and e.type in LOGGED_BY_ACCOUNT
        )

    def add_event(
        self,
        event_id: str,
        account_id: str,
        type_: str,
        occurred_us: int,
        payload: str,
        clock_us: int | None,
    ) -> str | None:
        known = self._t.events.get(event_id)
        if known is not None:
            return known.payload
        self._t.events[event_id] = Event(
            event_id, account_id, type_, occurred_us, payload, clock_us, self.log_end()
        )
        return None

    def stored_payload_of(self, event_id: str) -> str | None:
        known = self._t.events.get(event_id)
        if known is not None:
            return known.payload
        return PURGED if event_id in self._t.purged else None

    def event_rows(self, event_ids: list[str]) -> list[EventRow]:
        """The rows (`EVENT_COLUMNS`) of the stored events among these ids."""
        found = (self._t.events.get(event_id) for event_id in dict.fromkeys(event_ids))
        return [
            EventRow(e.event_id, e.account_id, e.type, e.occurred_us, e.payload, e.clock_us)
            for e in found
            if e is not None
        ]

    def forget_event(self, event_id: str) -> None:
        self._t.events.pop(event_id, None)

    def event_payload(self, event_id: str) -> dict[str, Any] | None:
        known = self._t.events.get(event_id)
        return None if known is None else dict(json.loads(known.payload))

    def logged_events(self, account_id: str, after_us: int, before_us: int) -> list[str]:
        found = [e for e in self._logged(account_id) if after_us < e.occurred_us < before_us]
        return [e.payload for e in sorted(found, key=lambda e: (e.occurred_us, e.event_id))]

    def passed_verification_since(
        self, account_id: str, since_us: int
    ) -> PassedVerification | None:
        found = [
            e
            for e in self._logged(account_id)
            if e.occurred_us >= since_us and verified(e, "status") == "passed"
        ]
        if not found:
            return None
        first = min(found, key=lambda e: (e.occurred_us, e.position))
        return PassedVerification(first.event_id, first.occurred_us)

    def account_events(
        self, account_id: str, types: tuple[str, ...], limit: int, *, kept: bool = False
    ) -> list[str]:
        events = self._kept() if kept else iter(self._t.events.values())
        found = [e for e in events if e.account_id == account_id]
        found = [e for e in found if e.type in types]
        found.sort(key=lambda e: (e.occurred_us, e.event_id), reverse=True)
        return [e.payload for e in found[:limit]]

    def has_verification(self, account_id: str, status: str, reason: str | None = None) -> bool:
        return any(
            verified(e, "status") == status and (reason is None or verified(e, "reason") == reason)
            for e in self._logged(account_id)
        )

    def first_seen(self) -> dict[str, FirstSeen]:
        found: dict[str, FirstSeen] = {}
        for e in self._t.events.values():
            seen = found.get(e.account_id, FirstSeen(None, e.occurred_us))
            registered = seen.registered_us
            if e.type == "registration" and (registered is None or e.occurred_us < registered):
                registered = e.occurred_us
            found[e.account_id] = FirstSeen(registered, min(seen.first_us, e.occurred_us))
        return found

    def lifts(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for e in self._t.events.values():
            lift = e.type == "review_decision" and field(e.payload, "action") == "lift"
            if lift and field(e.payload, "decision_id") is None:
                found.setdefault(e.account_id, []).append(e.occurred_us)
        return found

    def events_of(self, event_ids: list[str]) -> list[StoredEvent]:
        found = (self._t.events.get(event_id) for event_id in sorted(set(event_ids)))
        return [StoredEvent(e.event_id, e.account_id, e.type, e.occurred_us) for e in found if e]

    def replay_of(self, accounts: set[str], from_arrival: int = 0) -> list[LoggedEvent]:
        return [
            LoggedEvent(e.payload, e.clock_us)
            for e in self._kept()
            if e.account_id in accounts
            and e.position >= from_arrival
            and e.type != "appeal_outcome"
            and not (e.type == "review_decision" and field(e.payload, "action") == "lift")
        ]

    def first_arrival_since(self, accounts: set[str], since_us: int) -> Arrival | None:
        for e in self._t.events.values():
            if e.account_id in accounts and e.occurred_us >= since_us:
                return Arrival(e.position, e.clock_us)
        return None

    def log_end(self) -> int:
        return max((e.position for e in self._t.events.values()), default=0) + 1

    def arrivals(self, event_ids: set[str]) -> dict[str, int]:
        events = self._t.events
        return {i: events[i].position for i in sorted(event_ids) if i in events}

    def events_since(self, types: tuple[str, ...], after_us: int) -> Iterator[GroupedPayload]:
        found = [e for e in self._kept() if e.type in types and e.occurred_us > after_us]
        for e in sorted(found, key=lambda e: (e.occurred_us, e.event_id)):
            yield GroupedPayload(e.account_id, e.payload, e.clock_us)

    def withdraw(self, event_id: str, by_event: str, decision_id: str) -> bool:
        if event_id in self._t.withdrawn:
            return False
        self._t.withdrawn[event_id] = (by_event, decision_id)
        return True

    def withdrawn(self) -> set[str]:
        return set(self._t.withdrawn)
