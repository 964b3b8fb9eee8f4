"""A scratch world's seed (`protocols.Seeding`) out of and into the in-memory tables."""

from __future__ import annotations

from typing import cast

import attrs

from blacklist_rules.model.events import from_micros, utc_text
from blacklist_rules.stores.lists import ListOp
from blacklist_rules.stores.protocols import Seeding
from blacklist_rules.stores.records import (
    Deadline,
    EventRow,
    Seed,
    SeedDecision,
    SeedEntry,
    SeedIdentity,
    SeedListChange,
    seed_removal,
    seeded_deadline,
)

from .base import Decision, Entry, Event
from .events import MemoryEvents
from .identities import stored_entry


class MemorySeeding(MemoryEvents):
    """The seed of a scratch world; arrival order is each event's `position`."""

    def export_for(self, accounts: set[str], cut_us: int, boundary: int) -> Seed:
        """See `Seeding.export_for`."""
        t = self._t
        cut = utc_text(from_micros(cut_us))
        came = [
            e
            for e in t.events.values()
            if e.account_id in accounts and e.occurred_us < cut_us and e.position < boundary
        ]
        events = tuple(
            EventRow(e.event_id, e.account_id, e.type, e.occurred_us, e.payload, e.clock_us)
            for e in came
            if e.event_id not in t.withdrawn
        )
        ids = {e.event_id for e in came}
        identities = tuple(SeedIdentity(*row) for row in sorted(t.identities) if row[3] in ids)
        decisions = tuple(
            SeedDecision(
                *(d.decision_id, d.account_id, d.event_id, d.action, d.mode, d.rule_id),
                *(d.effective_at, d.expires_at, d.end_condition),
                d.ended_at if d.ended_at is not None and d.ended_at < cut else None,
                d.record,
            )
            for d in t.decisions.values()
            if d.account_id in accounts
            and d.mode == "enforce"
            and d.reversed_by is None
            and d.effective_at < cut
            and _came_before(t.events.get(d.event_id), boundary)
        )
        keep = {e.event_id for e in events} | {d.decision_id for d in decisions}
        deadlines = tuple(
            seeded_deadline(due, cut_us)
            for due in (Deadline(*row) for row in t.deadlines.values())
            if due.account_id in accounts and due.anchor_id in keep
        )
        entries = tuple(
            SeedEntry(stored_entry(e), *seed_removal(e.removed_us, e.removed_by, cut_us))
            for e in t.blacklist.values()
            if e.account_id in accounts and e.decision_id in keep
        )
        lists = tuple(
            SeedListChange(account, name, op, at_us, event_id)
            for account in sorted(accounts)
            for (at_us, event_id, name), op in sorted(t.lists.get(account, {}).items())
            if at_us < cut_us and _came_before(t.events.get(event_id), boundary)
        )
        return Seed(events, identities, decisions, deadlines, entries, lists)

    def load_seed(self, seed: Seed) -> None:
        """See `Seeding.load_seed`."""
        t = self._t
        position = self.log_end()
        for e in seed.events:
            if e.event_id not in t.events:
                row = (e.event_id, e.account_id, e.type, e.occurred_us, e.payload, e.clock_us)
                t.events[e.event_id] = Event(*row, position=position)
                position += 1
        t.identities.update(attrs.astuple(i) for i in seed.identities)
        for d in seed.decisions:
            t.decisions.setdefault(d.decision_id, _decision(d))
        for due in seed.deadlines:
            t.deadlines.setdefault((due.rule_id, due.anchor_id), list(attrs.astuple(due)))
        for s in seed.entries:
            key = (s.entry.kind, s.entry.fingerprint, s.entry.decision_id)
            entry = Entry(**attrs.asdict(s.entry), removed_us=s.removed_us, removed_by=s.removed_by)
            t.blacklist.setdefault(key, entry)
        for c in seed.lists:
            rows = t.lists.setdefault(c.account_id, {})
            rows.setdefault((c.occurred_us, c.event_id, c.list), cast(ListOp, c.op))

    def seed_from(self, source: Seeding, accounts: set[str], cut_us: int, boundary: int) -> None:
        """See `Seeding.seed_from`."""
        self.load_seed(source.export_for(accounts, cut_us, boundary))


def _decision(d: SeedDecision) -> Decision:
    """A seed's decision as a row of the table: not reversed."""
    return Decision(
        decision_id=d.decision_id,
        account_id=d.account_id,
        event_id=d.event_id,
        action=d.action,
        mode=d.mode,
        rule_id=d.rule_id,
        effective_at=d.effective_at,
        expires_at=d.expires_at,
        end_condition=d.end_condition,
        ended_at=d.ended_at,
        reversed_by=None,
        record=d.record,
        reversed_how=None,
    )


def _came_before(event: Event | None, boundary: int) -> bool:
    """A decision's event is not in the log (purged), or came before the boundary."""
    return event is None or event.position < boundary
