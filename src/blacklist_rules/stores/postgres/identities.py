"""Identities and the blacklist: keyed fingerprints only, never raw values."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from blacklist_rules.stores.records import (
    Fingerprint,
    GroupedPayload,
    ListedSpan,
    Registration,
    StoredEntry,
)

from .base import PostgresBase
from .schema import ENTRY, IN_FORCE

_LINKED = """
WITH RECURSIVE linked(account_id) AS (
    SELECT %(account)s::text COLLATE "C"
    UNION
    SELECT j.account_id FROM linked l
    JOIN identities i ON i.account_id = l.account_id AND i.kind = ANY(%(kinds)s)
    JOIN identities j ON j.kind = i.kind AND j.fingerprint = i.fingerprint
)
SELECT account_id FROM linked
"""
"""The accounts joined to one by shared values, to any depth, in one statement (`UNION`
keeps each account once, so the walk ends)."""


_ADD_MANY = (
    "INSERT INTO identities SELECT * FROM unnest(%b::text[], %b::bytea[], %b::text[], "
    "%b::text[], %b::bigint[]) ON CONFLICT DO NOTHING"
)
"""Identity values held (`add_identities`), in one statement; a repeat changes nothing."""
_READS_IDENTITIES = re.compile(r"\bidentities\b")


class PostgresIdentities(PostgresBase):
    """The `identities` and `blacklist` tables (identities keep fingerprints as bytes)."""

    def add_identities(
        self, prints: Sequence[tuple[str, str]], account_id: str, event_id: str, at_us: int
    ) -> None:
        """Held for the next statement that reads `identities`, a rollback or the commit,
        with the other values held (one statement: `PgConnection.hold`)."""
        for kind, fingerprint in prints:
            row = (kind, bytes.fromhex(fingerprint), account_id, event_id, at_us)
            self._db.hold(_ADD_MANY, row, _READS_IDENTITIES, "identity values kept", exact=False)

    def identities_of(self, account_id: str) -> list[Fingerprint]:
        """Every identity value the account registered with, by kind and fingerprint."""
        return self._db.rows(
            Fingerprint,
            "SELECT kind, encode(print, 'hex') AS fingerprint FROM (SELECT DISTINCT kind, "
            "fingerprint AS print FROM identities WHERE account_id = %s) AS found "
            "ORDER BY kind, print",
            (account_id,),
        )

    def registrations_with(
        self, kind: str, fingerprint: str, since_us: int, until_us: int | None
    ) -> list[Registration]:
        """The registrations with this value, since ≤ time < until."""
        return self._db.rows(
            Registration,
            "SELECT account_id, event_id, registered_us FROM identities WHERE kind = %(k)s "
            "AND fingerprint = %(f)s AND registered_us >= %(since)s "
            "AND (%(until)s::bigint IS NULL OR registered_us < %(until)s) "
            "ORDER BY registered_us, account_id, event_id",
            {"k": kind, "f": bytes.fromhex(fingerprint), "since": since_us, "until": until_us},
        )

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
        """Enter a value under a decision; entering it again replaces the entry (its removal
        cleared, and it moves to the end of the blacklist's order, as a new row would)."""
        self._db.execute(
            f"INSERT INTO blacklist ({ENTRY}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (kind, fingerprint, decision_id) DO UPDATE SET "
            "account_id = excluded.account_id, rule_id = excluded.rule_id, "
            "reason = excluded.reason, entered_us = excluded.entered_us, "
            "ends_us = excluded.ends_us, removed_us = NULL, removed_by = NULL, "
            "position = DEFAULT",
            (kind, fingerprint, decision_id, account_id, rule_id, reason, entered_us, ends_us),
        )

    def remove_entry(
        self, kind: str, fingerprint: str, decision_id: str, at_us: int, by: str | None
    ) -> None:
        self._db.execute(
            "UPDATE blacklist SET removed_us = %s, removed_by = %s "
            "WHERE kind = %s AND fingerprint = %s AND decision_id = %s",
            (at_us, by, kind, fingerprint, decision_id),
        )

    def entries(self, account_id: str | None = None) -> list[StoredEntry]:
        """Entries not removed (of one account, or all)."""
        return self._db.rows(
            StoredEntry,
            f"SELECT {ENTRY} FROM blacklist WHERE removed_us IS NULL "
            "AND (%(a)s::text IS NULL OR account_id = %(a)s) ORDER BY entered_us, position",
            {"a": account_id},
        )

    def entries_at(self, kind: str, fingerprint: str, at_us: int | None) -> list[StoredEntry]:
        """Entries for this value in force at `at_us`: not removed, entered, not yet ended
        (None: every entry not removed)."""
        return self._db.rows(
            StoredEntry,
            f"SELECT {ENTRY} FROM blacklist WHERE kind = %(k)s AND fingerprint = %(f)s "
            f"AND {IN_FORCE} ORDER BY entered_us, decision_id",
            {"k": kind, "f": fingerprint, "at": at_us},
        )

    def listed_spans(self) -> Iterator[ListedSpan]:
        """Every entry that was ever in force: a removal ends it (the earlier of its end and
        its removal)."""
        spans = self._db.rows(
            ListedSpan,
            "SELECT fingerprint, entered_us, until_us FROM (SELECT fingerprint, entered_us, "
            "position, CASE WHEN removed_us IS NULL THEN ends_us WHEN ends_us IS NULL "
            "THEN removed_us ELSE least(ends_us, removed_us) END AS until_us FROM blacklist) "
            "AS spans WHERE until_us IS NULL OR until_us > entered_us ORDER BY position",
        )
        yield from spans

    def listed_registration(self, event_id: str, at_us: int) -> bool:
        """Did this registration's ID number or phone match an entry in force at `at_us`?"""
        row = self._db.one(
            "SELECT 1 FROM identities i JOIN blacklist b ON b.kind = i.kind "
            "AND b.fingerprint = encode(i.fingerprint, 'hex') "
            f"WHERE i.event_id = %(e)s AND {IN_FORCE} LIMIT 1",
            {"e": event_id, "at": at_us},
        )
        return row is not None

    def linked_accounts(self, account_id: str, kinds: frozenset[str]) -> set[str]:
        """The account and every account joined to it by a shared identity value of these
        kinds, directly or through others: the accounts one person's decisions can reach
        (the blacklist, windows `by` an identity value)."""
        rows = self._db.all(_LINKED, {"account": account_id, "kinds": sorted(kinds)})
        return {str(row[0]) for row in rows}

    def prints_of(self, accounts: set[str]) -> dict[str, list[Fingerprint]]:
        """Per registration of these accounts, its fingerprints."""
        rows = self._db.all(
            "SELECT event_id, kind, encode(fingerprint, 'hex') FROM identities "
            "WHERE account_id = ANY(%s) ORDER BY event_id, kind, fingerprint",
            (sorted(accounts),),
        )
        found: dict[str, list[Fingerprint]] = {}
        for event_id, kind, fingerprint in rows:
            found.setdefault(str(event_id), []).append(Fingerprint(str(kind), str(fingerprint)))
        return found

    def registrations_since(self, kind: str, after_us: int) -> Iterator[GroupedPayload]:
        """The stored registrations later than `after_us`, grouped by their `kind` fingerprint."""
        rows = self._db.all(
            "SELECT encode(i.fingerprint, 'hex'), e.payload, e.clock_us FROM identities i "
            "JOIN events e USING (event_id) WHERE i.kind = %s AND i.registered_us > %s "
            "ORDER BY i.registered_us, e.event_id",
            (kind, after_us),
        )
        for row in rows:
            yield GroupedPayload(str(row[0]), str(row[1]), row[2])
