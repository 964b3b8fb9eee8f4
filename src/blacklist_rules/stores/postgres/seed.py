"""A scratch world's seed (`protocols.Seeding`) out of and into the PostgreSQL tables, so the
reversal cascade replays on a scratch store whatever store the engine runs on."""

from __future__ import annotations

from typing import Any

import attrs

from blacklist_rules.model.events import from_micros, utc_text
from blacklist_rules.stores.protocols import Seeding
from blacklist_rules.stores.records import (
    Deadline,
    EventRow,
    Seed,
    SeedDecision,
    SeedEntry,
    SeedIdentity,
    SeedListChange,
    StoredEntry,
    seed_removal,
    seeded_deadline,
)

from .base import PostgresBase
from .schema import ENTRY, KEPT

_CAME = "account_id = ANY(%(names)s) AND occurred_us < %(cut_us)s AND arrival < %(boundary)s"
"""The accounts' events before the cut that came before the boundary."""
_DEADLINE = "rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state"


def _decision(row: tuple[Any, ...]) -> SeedDecision:
    """A decision's columns (its record last, as stored) as a seed's row."""
    decision_id, account_id, event_id, action, mode, rule_id = row[:6]
    effective_at, expires_at, end_condition, ended_at, record = row[6:]
    return SeedDecision(
        *(decision_id, account_id, event_id, action, mode, rule_id),
        *(effective_at, expires_at, end_condition, ended_at),
        record=record,
    )


class PostgresSeeding(PostgresBase):
    """The seed of a scratch world; arrival order is `events.arrival`, the decisions'
    `position`."""

    def export_for(self, accounts: set[str], cut_us: int, boundary: int) -> Seed:
        """See `Seeding.export_for`."""
        args = {
            "names": sorted(accounts),
            "cut_us": cut_us,
            "boundary": boundary,
            "cut": utc_text(from_micros(cut_us)),
        }
        events = tuple(
            EventRow(*row)
            for row in self._db.all(
                "SELECT event_id, account_id, type, occurred_us, payload, clock_us FROM events "
                f"WHERE {_CAME} AND {KEPT} ORDER BY arrival",
                args,
            )
        )
        identities = tuple(
            SeedIdentity(kind, bytes(fingerprint).hex(), account, event, at_us)
            for kind, fingerprint, account, event, at_us in self._db.all(
                "SELECT kind, fingerprint, account_id, event_id, registered_us FROM identities "
                f"WHERE event_id IN (SELECT event_id FROM events WHERE {_CAME}) "
                "ORDER BY kind, fingerprint, registered_us, account_id, event_id",
                args,
            )
        )
        decisions = tuple(
            _decision(row)
            for row in self._db.all(
                "SELECT d.decision_id, d.account_id, d.event_id, d.action, d.mode, d.rule_id, "
                "d.effective_at, d.expires_at, d.end_condition, "
                "CASE WHEN d.ended_at < %(cut)s THEN d.ended_at END, d.record "
                "FROM decisions d LEFT JOIN events e ON e.event_id = d.event_id "
                "WHERE d.account_id = ANY(%(names)s) AND d.mode = 'enforce' "
                "AND d.reversed_by IS NULL AND d.effective_at < %(cut)s "
                "AND (e.arrival IS NULL OR e.arrival < %(boundary)s) ORDER BY d.position",
                args,
            )
        )
        keep = {e.event_id for e in events} | {d.decision_id for d in decisions}
        deadlines = tuple(
            seeded_deadline(due, cut_us)
            for due in self._db.rows(
                Deadline,
                f"SELECT {_DEADLINE} FROM deadlines WHERE account_id = ANY(%(names)s) "
                "ORDER BY rule_id, anchor_id",
                args,
            )
            if due.anchor_id in keep
        )
        entries = tuple(  # a removal from the cut on is not yet made
            SeedEntry(StoredEntry(*row[:8]), *seed_removal(row[8], row[9], cut_us))
            for row in self._db.all(
                f"SELECT {ENTRY}, removed_us, removed_by FROM blacklist "
                "WHERE account_id = ANY(%(names)s) ORDER BY position",
                args,
            )
            if row[2] in keep
        )
        lists = self._list_changes(args)
        return Seed(events, identities, decisions, deadlines, entries, lists)

    def _list_changes(self, args: dict[str, Any]) -> tuple[SeedListChange, ...]:
        """The accounts' list changes before the cut whose events came before the boundary
        (or were purged)."""
        return tuple(
            SeedListChange(*row)
            for row in self._db.all(
                "SELECT c.account_id, c.list, c.op, c.occurred_us, c.event_id "
                "FROM list_changes c LEFT JOIN events e ON e.event_id = c.event_id "
                "WHERE c.account_id = ANY(%(names)s) AND c.occurred_us < %(cut_us)s "
                "AND (e.arrival IS NULL OR e.arrival < %(boundary)s) "
                "ORDER BY c.account_id, c.occurred_us, c.event_id, c.list",
                args,
            )
        )

    def load_seed(self, seed: Seed) -> None:
        """See `Seeding.load_seed`: one batched `INSERT … ON CONFLICT DO NOTHING` per table,
        in the seed's order (so arrival and positions follow it)."""
        self._changed(None, decisions=True, deadlines=True)
        self._db.run_many(
            "INSERT INTO events (event_id, account_id, type, occurred_us, payload, clock_us) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [attrs.astuple(e) for e in seed.events],
        )
        self._db.run_many(
            "INSERT INTO identities VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (i.kind, bytes.fromhex(i.fingerprint), i.account_id, i.event_id, i.registered_us)
                for i in seed.identities
            ],
        )
        self._db.run_many(
            "INSERT INTO decisions (decision_id, account_id, event_id, action, mode, rule_id, "
            "effective_at, expires_at, end_condition, ended_at, record) "
            f"VALUES ({', '.join(['%s'] * 11)}) ON CONFLICT DO NOTHING",
            [(*attrs.astuple(d)[:10], d.record) for d in seed.decisions],
        )
        self._db.run_many(
            f"INSERT INTO deadlines ({_DEADLINE}) VALUES ({', '.join(['%s'] * 7)}) "
            "ON CONFLICT DO NOTHING",
            [attrs.astuple(d) for d in seed.deadlines],
        )
        self._db.run_many(
            f"INSERT INTO blacklist ({ENTRY}, removed_us, removed_by) "
            f"VALUES ({', '.join(['%s'] * 10)}) ON CONFLICT DO NOTHING",
            [(*attrs.astuple(e.entry), e.removed_us, e.removed_by) for e in seed.entries],
        )
        self._db.run_many(
            "INSERT INTO list_changes (account_id, list, occurred_us, event_id, op) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(c.account_id, c.list, c.occurred_us, c.event_id, c.op) for c in seed.lists],
        )

    def seed_from(self, source: Seeding, accounts: set[str], cut_us: int, boundary: int) -> None:
        """See `Seeding.seed_from`."""
        self.load_seed(source.export_for(accounts, cut_us, boundary))
