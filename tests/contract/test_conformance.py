"""Which implementation satisfies which store protocol: checked by mypy (the assignments
below are typed), and at run time that every protocol member exists."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.postgres import PostgresStore
from blacklist_rules.stores.protocols import (
    AuditTrail,
    DeadlineStore,
    DecisionStore,
    EventLog,
    HistoryStore,
    IdentityStore,
    Retention,
    Seeding,
    Settings,
    Store,
    Transactional,
)
from blacklist_rules.stores.sqlite import SQLiteStore


@pytest.mark.parametrize("make", [SQLiteStore, MemoryStore])
def test_each_store_is_every_concern(make: Callable[[], SQLiteStore | MemoryStore]) -> None:
    """`SQLiteStore` and `MemoryStore` are each a `Store` and each concern's protocol (mypy
    checks the annotations); and each has every member the protocols name."""
    _check(make())


@pytest.mark.postgres
def test_the_postgres_store_is_every_concern(postgres_url: str) -> None:
    """So is `PostgresStore`."""
    _check(PostgresStore(postgres_url))


def _check(store: SQLiteStore | MemoryStore | PostgresStore) -> None:
    try:
        whole: Store = store
        parts: tuple[
            Transactional,
            EventLog,
            DecisionStore,
            HistoryStore,
            DeadlineStore,
            IdentityStore,
            AuditTrail,
            Settings,
            Retention,
            Seeding,
        ] = (store, store, store, store, store, store, store, store, store, store)
        assert whole is store
        assert all(part is store for part in parts)
        members = _members(Store)
        assert {"begin", "add_event", "decision", "history", "due_deadlines"} <= members
        assert [name for name in sorted(members) if not hasattr(store, name)] == []
    finally:
        store.close()


def _members(protocol: type) -> set[str]:
    """The names a protocol declares (methods, properties, attributes), its bases' too."""
    found: set[str] = set()
    for cls in protocol.__mro__:
        if cls is object or cls.__name__ in ("Protocol", "Generic"):
            continue
        found.update(name for name in vars(cls) if not name.startswith("_"))
        found.update(getattr(cls, "__annotations__", {}))
    return found
