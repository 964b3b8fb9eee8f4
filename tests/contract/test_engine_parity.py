"""The in-memory and PostgreSQL stores behind an `Engine` give what SQLite gives: the same
decisions, statuses and audit trail over a synthetic feed."""

from __future__ import annotations

from typing import Any

import pytest

from blacklist_rules import Engine, dsa_statements, load_ruleset
from blacklist_rules.stores import open_store
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite import SQLiteStore
from blacklist_rules.testing import generate_events
from tests.support import T0
from tests.test_cascade import DAY, FREEZE_RUMOURS, LI, only, overturn, registered, strike

EVENTS = list(generate_events(300, n_accounts=37, seed=3, benign_share=0.5))


def _outcome(store: Store) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    # The cascade's scratch world is a SQLite store, seeded through the protocols once
    # history was purged (not here).
    with Engine(load_ruleset(), store, max_lead=None) as engine:
        decided = [d.to_dict() for e in EVENTS for d in engine.process(e).decisions]
        statuses = [str(engine.status(a)) for a in sorted({e["account_id"] for e in EVENTS})]
        trail = [{**r.to_dict(), "recorded_at": None} for r in engine.audit_records()]
    return decided, statuses, trail


def test_the_memory_store_decides_as_sqlite_does() -> None:
    """Decisions, statuses and audit records (but their wall-clock stamp) are equal, a
    reversal's cascade included."""
    assert any(e["type"] == "appeal_outcome" for e in EVENTS)  # a cascade runs too
    sqlite, memory = _outcome(SQLiteStore()), _outcome(MemoryStore())
    assert sqlite[0]
    assert memory == sqlite


def _after_a_purge(store: Store) -> tuple[list[dict[str, Any]], list[Any], list[dict[str, Any]]]:
    """Strikes on days 10, 20, 200, 300 (a freeze) and 350; the history before day 250 is
    purged, then the freeze is overturned: the cascade's world is seeded from `store`."""
    store.now = lambda: T0 + 1000 * DAY  # the wall clock the retention counts on
    with Engine(load_ruleset(), store, max_lead=None) as engine:
        engine.process(registered("a", 0 * DAY, "reg", LI))
        for day, event_id in ((10, "s0"), (20, "s00"), (200, "s1"), (300, "s2"), (350, "s3")):
            decided = engine.process(strike("a", day * DAY, event_id, f"c-{event_id}")).decisions
            if event_id == "s2":
                freeze = only(decided, FREEZE_RUMOURS)
        engine.advance_to(T0 + 430 * DAY)
        store.purge_history(T0 + 250 * DAY)
        again = engine.process(overturn("a", 431 * DAY, "ap", freeze.decision_id)).decisions
        trail = [{**r.to_dict(), "recorded_at": None} for r in engine.audit_records()]
        return [d.to_dict() for d in again], dsa_statements(store), trail


def test_a_cascade_after_a_purge_replays_alike_on_either_store() -> None:
    """After a history purge an appeal's cascade seeds its scratch world from the store
    (`seed_from`, through the protocols): from the in-memory store as from SQLite, it
    decides the same, and the statements of reasons and the trail are the same."""
    sqlite, memory = _after_a_purge(SQLiteStore()), _after_a_purge(MemoryStore())
    assert [d["rule_id"] for d in sqlite[0]] == [FREEZE_RUMOURS]
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


@pytest.mark.postgres
def test_a_cascade_after_a_purge_replays_alike_on_postgres(postgres_url: str) -> None:
    """After a history purge on PostgreSQL, an appeal's cascade seeds its scratch world from
    the PostgreSQL store (`PostgresSeeding.export_for`): the same decisions, statements of
    reasons and trail as over SQLite."""
    from tests.postgres import empty_tables

    try:
        postgres = _after_a_purge(open_store(postgres_url))
    finally:
        empty_tables(postgres_url)
    assert [d["rule_id"] for d in postgres[0]] == [FREEZE_RUMOURS]
    assert postgres == _after_a_purge(SQLiteStore())
