"""What the PostgreSQL store adds to the contract suite: its migrations, its errors, a second
writer's commits, one audit chain for every writer, and tampering found on the real server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from blacklist_rules import StoreError, StoreUnavailableError
from blacklist_rules.stores import open_store
from blacklist_rules.stores.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresStore
from blacklist_rules.stores.sqlite import SQLiteStore

from .postgres import empty_tables, execute, fresh_database
from .support import decision_record


@pytest.fixture
def url(postgres_url: str) -> Iterator[str]:
    """The run's database, emptied after the test."""
    try:
        yield postgres_url
    finally:
        empty_tables(postgres_url)


def test_an_unreachable_server_is_unavailable() -> None:
    """No server at the address: `StoreUnavailableError`, naming the db without a password."""
    with pytest.raises(StoreUnavailableError, match="the server cannot do this now") as caught:
        PostgresStore("postgresql://someone:secret@127.0.0.1:1/nowhere", busy_timeout=1)
    assert "postgresql://someone@127.0.0.1:1/nowhere" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_open_store_picks_the_implementation_by_its_target(tmp_path: object) -> None:
    """A path is SQLite, a `postgresql://` URL PostgreSQL (here refused: nobody listens)."""
    store = open_store(":memory:")
    assert isinstance(store, SQLiteStore)
    store.close()
    with pytest.raises(StoreUnavailableError):
        open_store("postgresql://127.0.0.1:1/nowhere", busy_timeout=1)


def test_migrations_are_numbered_in_order() -> None:
    """Versions 1, 2, … with nothing skipped or repeated; the last is the schema version."""
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == SCHEMA_VERSION


@pytest.mark.postgres
def test_a_new_db_is_migrated_once_and_a_newer_one_refused_untouched() -> None:
    """The first open applies every migration (recorded in `schema_migrations`), the next
    applies none; a db of a newer version is refused, and a read-only open of an empty db
    creates nothing."""
    with fresh_database() as url:
        with pytest.raises(StoreError, match="opened read-only, it cannot be migrated"):
            PostgresStore(url, read_only=True)
        PostgresStore(url).close()
        PostgresStore(url).close()
        reader = PostgresStore(url, read_only=True)
        with pytest.raises(StoreError, match="open read-only"):
            reader.begin()
        reader.close()
        execute(url, "INSERT INTO schema_migrations (version, does) VALUES (99, 'later')")
        with pytest.raises(StoreError, match="has store schema 99; this version reads"):
            PostgresStore(url)


@pytest.mark.postgres
def test_a_failed_statement_makes_the_transaction_fail_whole(url: str) -> None:
    """After a statement failed, the transaction cannot commit: nothing of it stays."""
    record = decision_record("d", "a", "2026-01-01T00:00:00+00:00")
    store = PostgresStore(url)
    try:
        transaction = store.begin()
        store.set_meta("k", "v")
        store.add_decision(record, "e", "t", None)
        with pytest.raises(StoreError, match="already exists"):
            store.add_decision(record, "e", "t", None)
        with pytest.raises(StoreError, match="nothing was committed"):
            transaction.commit()
        assert (store.meta("k"), store.decision("d")) == (None, None)
    finally:
        store.close()


@pytest.mark.postgres
def test_another_writers_commit_is_seen_at_the_next_begin(url: str) -> None:
    """`written_elsewhere` is true after another store committed, between our transactions
    or during one of ours; false when only we wrote."""
    first, second = PostgresStore(url), PostgresStore(url)
    try:
        with first.begin():
            assert not first.written_elsewhere
        with second.begin():
            assert second.written_elsewhere  # first's commit
        with first.begin():
            assert first.written_elsewhere  # second's
            with second.begin():
                pass
        with first.begin():
            assert first.written_elsewhere  # second committed while ours was open
        with first.begin():
            assert not first.written_elsewhere
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "own",
    [
        lambda store: store.join_worker("w"),
        lambda store: store.leave_worker("w"),
        lambda store: store.add_partitions(["p"]),
        lambda store: store.audit("note", {}),
    ],
    ids=["join", "leave", "partitions", "audit"],
)
def test_a_transaction_of_the_stores_own_keeps_another_writers_commit_news(
    url: str, own: Callable[[PostgresStore], None]
) -> None:
    """A transaction the store opens for itself (a worker joining or leaving, partitions,
    an audit record alone) is not the caller's: another writer's commit before it is still
    `written_elsewhere` at the caller's next `begin`; with no other
    writer, its own commit is not. (Taken as seen, the last worker to leave kept a stale next
    due moment and left a freeze another worker committed unended.)"""
    first, second = PostgresStore(url), PostgresStore(url)
    try:
        with first.begin():
            pass
        own(first)
        with first.begin():
            assert not first.written_elsewhere  # only ours
        with second.begin():
            pass
        own(first)
        with first.begin():
            assert first.written_elsewhere  # second's, before our own transaction
        with first.begin():
            assert not first.written_elsewhere
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_writers_append_to_one_chain_in_commit_order(url: str) -> None:
    """A transaction's records join the chain at its commit, not before: another writer's
    transaction that commits meanwhile is not held up by ours, its record comes first, ours
    follow it in the order written, and the one chain verifies."""
    first, second = PostgresStore(url), PostgresStore(url)
    try:
        transaction = first.begin()
        first.audit("note", {"by": "first"})
        appended = threading.Thread(target=_audit_in_a_transaction, args=(second,))
        appended.start()
        appended.join(timeout=30)
        assert not appended.is_alive()  # (it waited for nothing of ours)
        first.audit("note", {"by": "first", "n": 2})
        transaction.commit()
        records = [(r.record["by"], r.record.get("n")) for r in first.audit_records()]
        assert records == [("second", None), ("first", None), ("first", 2)]
        assert first.verify_audit().ok
    finally:
        first.close()
        second.close()


def _audit_in_a_transaction(store: PostgresStore) -> None:
    with store.begin():
        store.audit("note", {"by": "second"})


@pytest.mark.postgres
def test_a_chain_held_past_the_busy_timeout_is_unavailable(url: str) -> None:
    """A writer that waits for the chain longer than its busy timeout gives up (at its
    commit, where its records join the chain): nothing of its transaction is committed."""
    first, second = PostgresStore(url), PostgresStore(url, busy_timeout=0.1)
    try:
        with first.begin():
            first.audit("note", {"by": "first"})
            assert len(list(first.audit_records())) == 1  # appended: the chain held to the end
            transaction = second.begin()
            second.audit("note", {"by": "second"})
            with pytest.raises(StoreUnavailableError, match="busy timeout"):
                transaction.commit()
        assert [r.record["by"] for r in second.audit_records()] == ["first"]
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE audit SET record = '{\"n\":9}' WHERE seq = 2", "its content was changed"),
        ("DELETE FROM audit WHERE seq = 2", "one was removed or they were reordered"),
        (
            "UPDATE audit SET seq = -seq WHERE seq IN (2, 3); "
            "UPDATE audit SET seq = 5 + seq WHERE seq < 0",
            "one was removed or they",
        ),
        ("DELETE FROM audit WHERE seq = 4", "records were removed"),
    ],
)
@pytest.mark.postgres
def test_verify_finds_changed_removed_and_reordered_records(
    url: str, tamper: str, problem: str
) -> None:
    """A record changed, removed from the middle or the end, or two swapped, behind the
    store's back: the chain no longer verifies, and says where."""
    store = PostgresStore(url)
    try:
        with store.begin():
            for n in range(1, 5):
                store.audit("note", {"n": n})
        assert store.verify_audit().ok
        execute(url, tamper)
        verdict = store.verify_audit()
        assert not verdict.ok
        assert problem in str(verdict)
    finally:
        store.close()
