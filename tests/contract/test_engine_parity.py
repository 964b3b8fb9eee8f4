"""The in-memory and PostgreSQL stores behind an `Engine` give what SQLite gives: the same
decisions, statuses and audit trail over a synthetic feed."""

from __future__ import annotations

from typing import Any, cast

import pytest

from blacklist_rules import Engine, load_ruleset
from blacklist_rules.stores import open_store
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite import SQLiteStore
from blacklist_rules.testing import generate_events

EVENTS = list(generate_events(300, n_accounts=37, seed=3, benign_share=0.5))


def _outcome(store: Store) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    # The Engine still names SQLiteStore: its cascade's scratch world is a SQLite store,
    # seeded from the store only once history was purged (never here).
    with Engine(load_ruleset(), cast(SQLiteStore, store), max_lead=None) as engine:
        decided = [d.to_dict() for e in EVENTS for d in engine.process(e).decisions]
        statuses = [str(engine.status(a)) for a in sorted({e["account_id"] for e in EVENTS})]
        trail = [{**r, "recorded_at": None} for r in engine.audit_records()]
    return decided, statuses, trail


def test_the_memory_store_decides_as_sqlite_does() -> None:
    """Decisions, statuses and audit records (but their wall-clock stamp) are equal, a
    reversal's cascade included."""
    assert any(e["type"] == "appeal_outcome" for e in EVENTS)  # a cascade runs too
    sqlite, memory = _outcome(SQLiteStore()), _outcome(MemoryStore())
    assert sqlite[0]
    assert memory == sqlite


@pytest.mark.postgres
def test_the_postgres_store_decides_as_sqlite_does(postgres_url: str) -> None:
    """The same over PostgreSQL, and its trail verifies."""
    from tests.postgres import empty_tables

    try:
        postgres = _outcome(open_store(postgres_url))  # (the engine closes it)
        reader = open_store(postgres_url, read_only=True)
        try:
            assert reader.verify_audit().ok
        finally:
            reader.close()
    finally:
        empty_tables(postgres_url)
    assert postgres == _outcome(SQLiteStore())
