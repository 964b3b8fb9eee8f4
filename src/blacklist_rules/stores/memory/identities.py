"""In-memory identities (keyed fingerprints, never raw values) and blacklist entries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from blacklist_rules.stores.records import (
    Fingerprint,
    GroupedPayload,
    ListedSpan,
    Registration,
    StoredEntry,
)

from .base import Entry, MemoryBase


def in_force(entry: Entry, at_us: int | None) -> bool:
    """Entered, not ended, not yet removed at `at_us` (None: not removed)."""
    if at_us is None:
        return entry.removed_us is None
    return (
        entry.entered_us <= at_us
        and (entry.ends_us is None or entry.ends_us > at_us)
        and (entry.removed_us is None or entry.removed_us > at_us)
    )


def stored_entry(e: Entry) -> StoredEntry:
    return StoredEntry(
        e.kind,
        e.fingerprint,
        e.decision_id,
        e.account_id,
        e.rule_id,
        e.reason,
        e.entered_us,
        e.ends_us,
    )


class MemoryIdentities(MemoryBase):
    """The `identities` set (kind, fingerprint, account, event, time) and the blacklist."""

    def add_identities(
        self, prints: Sequence[tuple[str, str]], account_id: str, event_id: str, at_us: int
    ) -> None:
        for kind, fingerprint in prints:
            value = bytes.fromhex(fingerprint).hex()
            self._t.identities.add((kind, value, account_id, event_id, at_us))

    def _sorted(self) -> list[tuple[str, str, str, str, int]]:
        """In the order of SQLite's key: kind, fingerprint, time, account, event."""
        return sorted(self._t.identities, key=lambda r: (r[0], r[1], r[4], r[2], r[3]))

    def identities_of(self, account_id: str) -> list[Fingerprint]:
        found = {(r[0], r[1]) for r in self._t.identities if r[2] == account_id}
        return [Fingerprint(kind, value) for kind, value in sorted(found)]

    def registrations_with(
        self, kind: str, fingerprint: str, since_us: int, until_us: int | None
    ) -> list[Registration]:
        value = bytes.fromhex(fingerprint).hex()
        found = [
            Registration(r[2], r[3], r[4])
            for r in self._t.identities
            if (r[0], r[1]) == (kind, value)
            and r[4] >= since_us
            and (until_us is None or r[4] < until_us)
        ]
        return sorted(found, key=lambda r: (r.registered_us, r.account_id, r.event_id))

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
        key = (kind, fingerprint, decision_id)
        self._t.blacklist.pop(key, None)  # replaced: the new row goes last, as in SQLite
        self._t.blacklist[key] = Entry(
            kind, fingerprint, decision_id, account_id, rule_id, reason, entered_us, ends_us
        )

    def remove_entry(
        self, kind: str, fingerprint: str, decision_id: str, at_us: int, by: str | None
    ) -> None:
        entry = self._t.blacklist.get((kind, fingerprint, decision_id))
        if entry is not None:
            entry.removed_us, entry.removed_by = at_us, by

    def entries(self, account_id: str | None = None) -> list[StoredEntry]:
        found = [
            e
            for e in self._t.blacklist.values()
            if e.removed_us is None and account_id in (None, e.account_id)
        ]
        return [stored_entry(e) for e in sorted(found, key=lambda e: e.entered_us)]

    def entries_at(self, kind: str, fingerprint: str, at_us: int | None) -> list[StoredEntry]:
        found = [
            e
            for e in self._t.blacklist.values()
            if (e.kind, e.fingerprint) == (kind, fingerprint) and in_force(e, at_us)
        ]
        return [stored_entry(e) for e in sorted(found, key=lambda e: (e.entered_us, e.decision_id))]

    def listed_spans(self) -> Iterator[ListedSpan]:
        for e in list(self._t.blacklist.values()):
            ends = [t for t in (e.ends_us, e.removed_us) if t is not None]
            until = min(ends) if ends else None
            if until is None or until > e.entered_us:
                yield ListedSpan(e.fingerprint, e.entered_us, until)

    def listed_registration(self, event_id: str, at_us: int) -> bool:
        prints = {(r[0], r[1]) for r in self._t.identities if r[3] == event_id}
        return any(
            (e.kind, e.fingerprint) in prints and in_force(e, at_us)
            for e in self._t.blacklist.values()
        )

    def linked_accounts(self, account_id: str, kinds: frozenset[str]) -> set[str]:
        found, todo, seen = {account_id}, [account_id], set()
        while todo:
            account = todo.pop()
            for kind, value in {(r[0], r[1]) for r in self._t.identities if r[2] == account}:
                if kind not in kinds or (kind, value) in seen:
                    continue
                seen.add((kind, value))
                for r in self._t.identities:
                    if (r[0], r[1]) == (kind, value) and r[2] not in found:
                        found.add(r[2])
                        todo.append(r[2])
        return found

    def prints_of(self, accounts: set[str]) -> dict[str, list[Fingerprint]]:
        found: dict[str, list[Fingerprint]] = {}
        for kind, value, account, event_id, _at in self._sorted():
            if account in accounts:
                found.setdefault(event_id, []).append(Fingerprint(kind, value))
        return found

    def registrations_since(self, kind: str, after_us: int) -> Iterator[GroupedPayload]:
        events = self._t.events
        found = sorted(
            (r[4], r[3], r[1])
            for r in self._t.identities
            if r[0] == kind and r[4] > after_us and r[3] in events
        )
        for _at, event_id, value in found:
            yield GroupedPayload(value, events[event_id].payload, events[event_id].clock_us)
