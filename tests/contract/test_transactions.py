"""Contract: transactions are objects, commit or roll back as a whole, never nest; a
savepoint undoes one event's writes alone."""

from __future__ import annotations

import pytest

from blacklist_rules import StoreError
from blacklist_rules.stores.protocols import Store


def test_a_committed_write_stays(store: Store) -> None:
    """What a transaction wrote is there once it commits."""
    with store.begin():
        store.set_meta("k", "v")
    assert store.meta("k") == "v"


def test_a_rolled_back_transaction_leaves_nothing(store: Store) -> None:
    """`rollback()` drops every write of the transaction, the audit record included."""
    transaction = store.begin()
    store.set_meta("k", "v")
    store.audit("note", {"n": 1})
    transaction.rollback()
    assert store.meta("k") is None
    assert list(store.audit_records()) == []


def test_an_exception_in_the_block_rolls_back(store: Store) -> None:
    """As a context manager, a transaction whose block raises is rolled back."""

    def write_then_fail() -> None:
        with store.begin():
            store.set_meta("k", "v")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        write_then_fail()
    assert store.meta("k") is None


def test_transactions_do_not_nest(store: Store) -> None:
    """A second `begin()` while one is open is refused; the open one goes on."""
    with store.begin():
        with pytest.raises(StoreError, match="do not nest"):
            store.begin()
        store.set_meta("k", "v")
    assert store.meta("k") == "v"


def test_an_ended_transaction_cannot_commit(store: Store) -> None:
    """A transaction commits once; a rollback after its end does nothing."""
    transaction = store.begin()
    transaction.commit()
    transaction.rollback()
    with pytest.raises(StoreError, match="already ended"):
        transaction.commit()


def test_a_savepoint_undoes_only_what_came_after_it(store: Store) -> None:
    """`rollback_to_savepoint` drops the writes since the savepoint, keeps those before."""
    with store.begin():
        store.set_meta("before", "1")
        store.savepoint()
        store.set_meta("after", "2")
        store.rollback_to_savepoint()
        store.release_savepoint()
    assert (store.meta("before"), store.meta("after")) == ("1", None)


def test_a_savepoint_needs_a_transaction(store: Store) -> None:
    """Outside a transaction there is nothing to mark."""
    with pytest.raises(StoreError, match="savepoint needs an open transaction"):
        store.savepoint()
