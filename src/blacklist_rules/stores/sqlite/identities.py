"""Identities and the blacklist: keyed fingerprints only, never raw values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache

from blacklist_rules.stores.records import (
    Fingerprint,
    GroupedPayload,
    ListedSpan,
    Registration,
    StoredEntry,
)

from .base import SQLiteBase
from .schema import (
    ENTRY,
    IN_FORCE,
)


@cache
def _add_rows(count: int) -> str:
    """The `INSERT` of `count` identity rows (one text per count: SQLite's statement cache
    keeps each prepared)."""
    return "INSERT OR IGNORE INTO identities VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * count)


class SQLiteIdentities(SQLiteBase):
    """The `identities` and `blacklist` tables."""

    def add_identities(
        self, prints: Sequence[tuple[str, str]], account_id: str, event_id: str, at_us: int
    ) -> None:
        """One multi-row `INSERT` for all of a registration's values: callgrind, 3 values,
        84,000 instructions where three statements took 99,000 and `executemany` 94,000."""
        if not prints:
            return
        args: list[str | bytes | int] = []
        for kind, fingerprint in prints:
            args += (kind, bytes.fromhex(fingerprint), account_id, event_id, at_us)
        self._db.execute(_add_rows(len(prints)), args)

    def identities_of(self, account_id: str) -> list[Fingerprint]:
        """Every identity value the account registered with, by kind and fingerprint."""
        rows = self._db.execute(
            "SELECT DISTINCT kind, fingerprint FROM identities WHERE account_id = ? "
            "ORDER BY kind, fingerprint",
            (account_id,),
        ).fetchall()
        return [Fingerprint(str(row[0]), bytes(row[1]).hex()) for row in rows]

    def registrations_with(
        self, kind: str, fingerprint: str, since_us: int, until_us: int | None
    ) -> list[Registration]:
        """The registrations with this value, since ≤ time < until."""
        rows = self._db.execute(
            "SELECT account_id, event_id, registered_us FROM identities WHERE kind = ? "
            "AND fingerprint = ? AND registered_us >= ? AND (? IS NULL OR registered_us < ?) "
            "ORDER BY registered_us, account_id, event_id",
            (kind, bytes.fromhex(fingerprint), since_us, until_us, until_us),
        ).fetchall()
        return [Registration(str(row[0]), str(row[1]), int(row[2])) for row in rows]

    def enter(
        self,
        kind: str,
        fingerprint: str,
        decision_id: str,
        account_id: str,
        rule_id: str,
        reason: str,
        entered_us: int,
        ends_us: int | None,
    ) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO blacklist ({ENTRY}, removed_us, removed_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (kind, fingerprint, decision_id, account_id, rule_id, reason, entered_us, ends_us),
        )

    def remove_entry(
        self, kind: str, fingerprint: str, decision_id: str, at_us: int, by: str | None
    ) -> None:
        self._db.execute(
            "UPDATE blacklist SET removed_us = ?, removed_by = ? "
            "WHERE kind = ? AND fingerprint = ? AND decision_id = ?",
            (at_us, by, kind, fingerprint, decision_id),
        )

    def entries(self, account_id: str | None = None) -> list[StoredEntry]:
        """Entries not removed (of one account, or all)."""
        query = f"SELECT {ENTRY} FROM blacklist WHERE removed_us IS NULL"
        args: tuple[str, ...] = ()
        if account_id is not None:
            query, args = query + " AND account_id = ?", (account_id,)
        return [StoredEntry(*row) for row in self._db.execute(query + " ORDER BY entered_us", args)]

    def entries_at(self, kind: str, fingerprint: str, at_us: int | None) -> list[StoredEntry]:
        """Entries for this value in force at `at_us`: not removed, entered, not yet ended
        (None: every entry not removed)."""
        rows = self._db.execute(
            f"SELECT {ENTRY} FROM blacklist WHERE kind = ? AND fingerprint = ? AND {IN_FORCE} "
            "ORDER BY entered_us, decision_id",
            (kind, fingerprint, at_us, at_us, at_us, at_us),
        ).fetchall()
        return [StoredEntry(*row) for row in rows]

    def listed_spans(self) -> Iterator[ListedSpan]:
        """Every entry that was ever in force: a removal ends it (the earlier of its end and
        its removal)."""
        rows = self._db.execute(
            "SELECT fingerprint, entered_us, CASE WHEN removed_us IS NULL THEN ends_us "
            "WHEN ends_us IS NULL THEN removed_us ELSE min(ends_us, removed_us) END AS until "
            "FROM blacklist WHERE until IS NULL OR until > entered_us"
        )
        for row in rows:
            yield ListedSpan(str(row[0]), int(row[1]), None if row[2] is None else int(row[2]))

    def listed_registration(self, event_id: str, at_us: int) -> bool:
        """Did this registration's ID number or phone match an entry in force at `at_us`?"""
        row = self._db.execute(
            "SELECT 1 FROM identities i JOIN blacklist b ON b.kind = i.kind "
            "AND b.fingerprint = lower(hex(i.fingerprint)) "
            f"WHERE i.event_id = ? AND {IN_FORCE} LIMIT 1",
            (event_id, at_us, at_us, at_us, at_us),
        ).fetchone()
        return row is not None

    def linked_accounts(self, account_id: str, kinds: frozenset[str]) -> set[str]:
        """The account and every account joined to it by a shared identity value of these
        kinds, directly or through others: the accounts one person's decisions can reach
        (the blacklist, windows `by` an identity value)."""
        found, todo, seen = {account_id}, [account_id], set()
        while todo:  # each account and each value is read once
            for kind, fingerprint in self._db.execute(
                "SELECT DISTINCT kind, fingerprint FROM identities WHERE account_id = ?",
                (todo.pop(),),
            ).fetchall():
                if kind not in kinds or (kind, fingerprint) in seen:
                    continue
                seen.add((kind, fingerprint))
                for (other,) in self._db.execute(
                    "SELECT DISTINCT account_id FROM identities WHERE kind = ? AND fingerprint = ?",
                    (kind, fingerprint),
                ):
                    if other not in found:
                        found.add(str(other))
                        todo.append(str(other))
        return found

    def prints_of(self, accounts: set[str]) -> dict[str, list[Fingerprint]]:
        """Per registration of these accounts, its fingerprints."""
        marks = ", ".join("?" * len(accounts))
        rows = self._db.execute(
            f"SELECT event_id, kind, fingerprint FROM identities WHERE account_id IN ({marks})",
            sorted(accounts),
        ).fetchall()
        found: dict[str, list[Fingerprint]] = {}
        for event_id, kind, fingerprint in rows:
            found.setdefault(str(event_id), []).append(
                Fingerprint(str(kind), bytes(fingerprint).hex())
            )
        return found

    def registrations_since(self, kind: str, after_us: int) -> Iterator[GroupedPayload]:
        """The stored registrations later than `after_us`, grouped by their `kind` fingerprint."""
        rows = self._db.execute(
            "SELECT i.fingerprint, e.payload, e.clock_us FROM identities i "
            "JOIN events e USING (event_id) WHERE i.kind = ? AND i.registered_us > ? "
            "ORDER BY i.registered_us, e.event_id",
            (kind, after_us),
        )
        for row in rows.fetchall():
            yield GroupedPayload(bytes(row[0]).hex(), str(row[1]), row[2])
