"""What every part of the in-memory store shares: its tables (plain Python containers), its
transactions (a copy of the tables to go back to), settings and rule packs."""

from __future__ import annotations

import copy
import hmac
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import attrs

from blacklist_rules.errors import StoreError
from blacklist_rules.stores.records import OutboxRow, RecordedRule, RuleFile, recorded_rules_of
from blacklist_rules.stores.sqlite.schema import dumps

PATH = ":memory:"


@attrs.define
class Event:
    event_id: str
    account_id: str
    type: str
    occurred_us: int
    payload: str
    clock_us: int | None
    position: int
    """Arrival order, an explicit column: the next position is the last one's plus one."""


@attrs.define
class Decision:
    """A row of decisions: the names of `audit_crosscheck.DECISION_COLUMNS`."""

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
    reversed_by: str | None
    record: str
    reversed_how: str | None


@attrs.define
class Entry:
    """A row of the blacklist: the names of `audit_crosscheck.ENTRY_COLUMNS`, then removal."""

    kind: str
    fingerprint: str
    decision_id: str
    account_id: str
    rule_id: str
    reason: str
    entered_us: int
    ends_us: int | None
    removed_us: int | None = None
    removed_by: str | None = None


@attrs.define
class Queued:
    """A row of the outbox: the decision queued, and when it was marked sent (None: not yet)."""

    row: OutboxRow
    sent_us: int | None = None


@attrs.define
class Tables:
    """Every table; dicts keep insertion order, which stands for the SQLite scan order."""

    meta: dict[str, str] = attrs.Factory(dict)
    rulesets: dict[str, str] = attrs.Factory(dict)
    notices: dict[str, str] = attrs.Factory(dict)
    rejections: set[str] = attrs.Factory(set)
    events: dict[str, Event] = attrs.Factory(dict)
    withdrawn: dict[str, tuple[str, str]] = attrs.Factory(dict)
    purged: set[str] = attrs.Factory(set)
    accounts: dict[str, str] = attrs.Factory(dict)
    decisions: dict[str, Decision] = attrs.Factory(dict)
    history: dict[tuple[str, str], dict[tuple[int, str], object]] = attrs.Factory(dict)
    streams: dict[str, str] = attrs.Factory(dict)
    deadlines: dict[tuple[str, str], list[Any]] = attrs.Factory(dict)
    identities: set[tuple[str, str, str, str, int]] = attrs.Factory(set)
    blacklist: dict[tuple[str, str, str], Entry] = attrs.Factory(dict)
    audit: list[dict[str, Any]] = attrs.Factory(list)
    outbox: dict[str, Queued] = attrs.Factory(dict)
    lists: dict[str, dict[tuple[int, str, str], Any]] = attrs.Factory(dict)
    """Per account: (time, event id, list) to the change's op (`list_changes`)."""


class MemoryTransaction:
    """One write transaction over the tables: a copy taken when it began (and one per open
    savepoint) is what a rollback restores."""

    def __init__(self, owner: MemoryBase) -> None:
        self._owner = owner
        self._start = copy.deepcopy(owner._t)
        self._savepoints: list[Tables] = []
        self.open = True

    def _check_open(self) -> None:
        if not self.open:
            raise StoreError(f"{PATH}: this transaction has already ended")

    def commit(self) -> None:
        self._check_open()
        self.open = False
        self._owner._current = None

    def rollback(self) -> None:
        """End the transaction and drop what it wrote (a no-op once it has ended)."""
        if self.open:
            self.open = False
            self._owner._current = None
            self._owner._t = self._start

    def savepoint(self) -> None:
        self._check_open()
        self._savepoints.append(copy.deepcopy(self._owner._t))

    def release_savepoint(self) -> None:
        self._check_open()
        self._savepoints.pop()

    def rollback_to_savepoint(self) -> None:
        """Undo what was written since the savepoint; it stays open until released."""
        self._check_open()
        self._owner._t = copy.deepcopy(self._savepoints[-1])

    def __enter__(self) -> MemoryTransaction:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.rollback()


class MemoryBase:
    """The tables and their transactions; each concern of `MemoryStore` is a mixin over it."""

    def __init__(self) -> None:
        self.path = PATH
        self.read_only = False
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        """The wall clock audit records are stamped with (and retention counts on)."""
        self.written_elsewhere = False
        """Never: nothing else writes these tables."""
        self.shared = False
        """One writer: `claim` holds nothing."""
        self._t = Tables()
        self._t.meta["schema_version"] = "memory"
        self._current: MemoryTransaction | None = None
        self._digest: str | None = None
        self._history_cut_us: int | None = None

    def claim_accounts(
        self,
        account_ids: Collection[str],
        event_ids: Collection[str] = (),
        identities: Collection[tuple[str, str]] = (),
        history: Collection[tuple[str, str]] = (),
    ) -> bool:
        """See `Claims.claim_accounts`: nobody else writes these tables."""
        return False

    def claim(self, account_id: str, identities: Iterable[tuple[str, str]] = ()) -> bool:
        """See `Transactional.claim`: nobody else writes these tables."""
        return False

    def begin(self) -> MemoryTransaction:
        """Open a write transaction; transactions do not nest."""
        if self._current is not None:
            raise StoreError(
                f"{PATH}: a transaction is already open (transactions do not nest: "
                "commit or roll back the open one first)"
            )
        self._current = MemoryTransaction(self)
        return self._current

    def _transaction(self) -> MemoryTransaction:
        if self._current is None:
            raise StoreError(f"{PATH}: a savepoint needs an open transaction")
        return self._current

    def savepoint(self) -> None:
        self._transaction().savepoint()

    def release_savepoint(self) -> None:
        self._transaction().release_savepoint()

    def rollback_to_savepoint(self) -> None:
        self._transaction().rollback_to_savepoint()

    def close(self) -> None:
        """A transaction still open is rolled back: closing commits nothing."""
        if self._current is not None:
            self._current.rollback()

    def meta(self, key: str) -> str | None:
        return self._t.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._t.meta[key] = value

    def remember_ruleset(
        self, digest: str, rules: Sequence[RuleFile], notices: Mapping[str, str] | None = None
    ) -> None:
        self._digest = digest
        self._t.rulesets.setdefault(digest, dumps([rule.to_dict() for rule in rules]))
        if notices:
            self._t.notices.setdefault(digest, dumps(dict(notices)))

    def notice_files(self, digest: str) -> dict[str, str]:
        found = self._t.notices.get(digest)
        return {} if found is None else dict(json.loads(found))

    def check_key(self, check: str) -> bool:
        known = self.meta("identity_key_check")
        if known is None:
            self.set_meta("identity_key_check", check)
            return True
        return hmac.compare_digest(known, check)

    def ruleset_rules(self, digest: str) -> list[RuleFile]:
        found = self._t.rulesets.get(digest)
        return [] if found is None else [RuleFile.from_dict(d) for d in json.loads(found)]

    def recorded_rules(self) -> list[RecordedRule]:
        return [
            rule
            for digest, rules in self._t.rulesets.items()  # (in the order first used)
            for rule in recorded_rules_of(digest, rules)
        ]

    def first_rejection(self, digest: str) -> bool:
        if digest in self._t.rejections:
            return False
        self._t.rejections.add(digest)
        return True
