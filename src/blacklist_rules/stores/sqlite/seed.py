"""A scratch world's seed (`protocols.Seeding`): read out of one store as typed rows, written
into another, so the two need not be the same implementation."""

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

from .base import SQLiteBase
from .schema import KEPT


def _decision(row: Any) -> SeedDecision:
    """A decision's columns (its record last, as stored) as a seed's row."""
    return SeedDecision(
        decision_id=row[0],
        account_id=row[1],
        event_id=row[2],
        action=row[3],
        mode=row[4],
        rule_id=row[5],
        effective_at=row[6],
        expires_at=row[7],
        end_condition=row[8],
        ended_at=row[9],
        record=row[10],
    )


class SQLiteSeeding(SQLiteBase):
    """The seed of a scratch world, out of and into the SQLite tables."""

    def export_for(self, accounts: set[str], cut_us: int, boundary: int) -> Seed:
        """See `Seeding.export_for`; arrival order is `rowid`."""
        marks = ", ".join("?" * len(accounts))
        names = sorted(accounts)
        cut = utc_text(from_micros(cut_us))
        came = f"account_id IN ({marks}) AND occurred_us < ? AND rowid < ?"
        events = tuple(
            EventRow(*row)
            for row in self._db.execute(
                "SELECT event_id, account_id, type, occurred_us, payload, clock_us FROM events "
                f"WHERE {came} AND {KEPT}",
                (*names, cut_us, boundary),
            )
        )
        identities = tuple(
            SeedIdentity(kind, bytes(fingerprint).hex(), account, event, at_us)
            for kind, fingerprint, account, event, at_us in self._db.execute(
                f"SELECT * FROM identities WHERE account_id IN ({marks}) AND event_id IN "
                f"(SELECT event_id FROM events WHERE {came})",  # by account: no scan (issue 19)
                (*names, *names, cut_us, boundary),
            )
        )
        decisions = tuple(
            _decision(row)
            for row in self._db.execute(
                "SELECT d.decision_id, d.account_id, d.event_id, d.action, d.mode, d.rule_id, "
                "d.effective_at, d.expires_at, d.end_condition, "
                "CASE WHEN d.ended_at < ? THEN d.ended_at END, d.record "
                "FROM decisions d LEFT JOIN events e ON e.event_id = d.event_id "
                f"WHERE d.account_id IN ({marks}) AND d.mode = 'enforce' "
                "AND d.reversed_by IS NULL AND d.effective_at < ? "
                "AND (e.rowid IS NULL OR e.rowid < ?) ORDER BY d.rowid",
                (cut, *names, cut, boundary),
            )
        )
        keep = {e.event_id for e in events} | {d.decision_id for d in decisions}
        of_accounts = f"WHERE account_id IN ({marks})"
        deadlines = tuple(
            seeded_deadline(Deadline(*row), cut_us)
            for row in self._db.execute(f"SELECT * FROM deadlines {of_accounts}", names)
            if row[1] in keep
        )
        entries = tuple(  # a removal from the cut on is not yet made
            SeedEntry(StoredEntry(*row[:8]), *seed_removal(row[8], row[9], cut_us))
            for row in self._db.execute(f"SELECT * FROM blacklist {of_accounts}", names)
            if row[2] in keep
        )
        lists = tuple(
            SeedListChange(*row)
            for row in self._db.execute(
                "SELECT c.account_id, c.list, c.op, c.occurred_us, c.event_id "
                "FROM list_changes c LEFT JOIN events e ON e.event_id = c.event_id "
                f"WHERE c.account_id IN ({marks}) AND c.occurred_us < ? "
                "AND (e.rowid IS NULL OR e.rowid < ?) "
                "ORDER BY c.account_id, c.occurred_us, c.event_id, c.list",
                (*names, cut_us, boundary),
            )
        )
        return Seed(events, identities, decisions, deadlines, entries, lists)

    def load_seed(self, seed: Seed) -> None:
        """See `Seeding.load_seed`: one `INSERT OR IGNORE` per table."""
        self._db.executemany(
            "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)",
            (attrs.astuple(e) for e in seed.events),
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO identities VALUES (?, ?, ?, ?, ?)",
            (
                (i.kind, bytes.fromhex(i.fingerprint), i.account_id, i.event_id, i.registered_us)
                for i in seed.identities
            ),
        )
        self._db.executemany(
            f"INSERT OR IGNORE INTO decisions VALUES ({', '.join('?' * 13)})",
            ((*attrs.astuple(d)[:10], None, d.record, None) for d in seed.decisions),
        )
        self._db.executemany(
            f"INSERT OR IGNORE INTO deadlines VALUES ({', '.join('?' * 7)})",
            (attrs.astuple(d) for d in seed.deadlines),
        )
        self._db.executemany(
            f"INSERT OR IGNORE INTO blacklist VALUES ({', '.join('?' * 10)})",
            ((*attrs.astuple(e.entry), e.removed_us, e.removed_by) for e in seed.entries),
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO list_changes VALUES (?, ?, ?, ?, ?)",
            ((c.account_id, c.list, c.occurred_us, c.event_id, c.op) for c in seed.lists),
        )

    def seed_from(self, source: Seeding, accounts: set[str], cut_us: int, boundary: int) -> None:
        """See `Seeding.seed_from`."""
        self.load_seed(source.export_for(accounts, cut_us, boundary))
