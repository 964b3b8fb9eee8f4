"""The typed rows the store protocols return: frozen attrs records, never positional tuples
or string-keyed dicts (`to_dict()` only where a record leaves as JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from blacklist_rules.model.events import utc_text


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


@attrs.frozen
class StoredEvent:
    """Where and when a logged event happened (`EventLog.events_of`)."""

    event_id: str
    account_id: str
    type: str
    occurred_us: int


@attrs.frozen
class LoggedEvent:
    """An event's stored text and the clock when it came (None: no event before it)."""

    payload: str
    clock_us: int | None


@attrs.frozen
class Arrival:
    """An event's position in arrival order and the clock when it came."""

    position: int
    clock_us: int | None


@attrs.frozen
class PassedVerification:
    """The event of a passed verification and its time."""

    event_id: str
    occurred_us: int


@attrs.frozen
class FirstSeen:
    """An account's first registration (None: none stored) and first event, in µs."""

    registered_us: int | None
    first_us: int


@attrs.frozen
class AccountStatus:
    account_id: str
    status: str


@attrs.frozen
class StoredDecision:
    """A decision's record, when it ended (UTC text) and the event that reversed it."""

    record: dict[str, Any]
    ended_at: str | None
    reversed_by: str | None


@attrs.frozen
class TakenDecision:
    """A decision's record, when it ended, and the event being processed when it was
    recorded."""

    record: dict[str, Any]
    ended_at: str | None
    event_id: str


@attrs.frozen
class Expiry:
    """A freeze ended because its time was up."""

    account_id: str
    decision_id: str
    expires_at: str


@attrs.frozen
class Deadline:
    """A rule's deadline counting from an anchor (an event, or a decision's id): pending,
    `met` (an `unless` event came in its span), `fired` or `void` (its anchor reversed)."""

    rule_id: str
    anchor_id: str
    account_id: str
    anchor_event_id: str
    start_us: int
    due_us: int
    state: str


@attrs.frozen
class Fingerprint:
    """A keyed fingerprint (hex) of one kind of identity value."""

    kind: str
    fingerprint: str


@attrs.frozen
class Registration:
    """A registration that carried an identity value."""

    account_id: str
    event_id: str
    registered_us: int


@attrs.frozen
class StoredEntry:
    """A blacklist entry as stored: one identity value under one decision, from when it
    entered until it ends (None: no end)."""

    kind: str
    fingerprint: str
    decision_id: str
    account_id: str
    rule_id: str
    reason: str
    entered_us: int
    ends_us: int | None


@attrs.frozen
class ListedSpan:
    """When an identity value was listed: from entry to the earlier of its end and its
    removal (None: still in force, no end)."""

    fingerprint: str
    entered_us: int
    until_us: int | None


@attrs.frozen
class SeedEvent:
    """A logged event's row, to be logged again elsewhere as it is."""

    event_id: str
    account_id: str
    type: str
    occurred_us: int
    payload: str
    clock_us: int | None


@attrs.frozen
class SeedIdentity:
    """A registration's keyed fingerprint (hex) of one kind of identity value."""

    kind: str
    fingerprint: str
    account_id: str
    event_id: str
    registered_us: int


@attrs.frozen
class SeedDecision:
    """A decision's row: its columns, when it ended (None: standing) and its record."""

    decision_id: str
    account_id: str
    event_id: str
    action: str
    mode: str
    rule_id: str
    effective_at: str
    expires_at: str | None
    end_condition: str | None
    ended_at: str | None
    record: dict[str, Any]


@attrs.frozen
class SeedEntry:
    """A blacklist entry's row with its removal (None: not removed)."""

    entry: StoredEntry
    removed_us: int | None
    removed_by: str | None


@attrs.frozen
class Seed:
    """What a store held of some accounts at one point of its log (`Seeding.export_for`), in
    the order it came: what a scratch world starts from, whatever store holds each side."""

    events: tuple[SeedEvent, ...]
    identities: tuple[SeedIdentity, ...]
    decisions: tuple[SeedDecision, ...]
    deadlines: tuple[Deadline, ...]
    entries: tuple[SeedEntry, ...]


def seeded_deadline(due: Deadline, cut_us: int) -> Deadline:
    """A deadline as a seed carries it: one fired from the cut on is pending again (its
    decision is not seeded; it fires again in the replay)."""
    if due.state == "fired" and due.due_us >= cut_us:
        return attrs.evolve(due, state="pending")
    return due


def seed_removal(at_us: int | None, by: str | None, cut_us: int) -> tuple[int | None, str | None]:
    """An entry's removal as it stood before the cut: one from the cut on is not yet made."""
    return (at_us, by) if at_us is not None and at_us < cut_us else (None, None)


@attrs.frozen
class OutboxRow:
    """A decision waiting in the outbox (`Outbox`): its place in the outbox's order, its id,
    account, the decision as its JSON line, and when it was queued (wall clock, µs)."""

    position: int
    decision_id: str
    account_id: str
    payload: str
    created_us: int
