"""Contract: the transactional outbox. A decision queued in a transaction is there once it
commits and gone with a rollback or a savepoint undone; queued once by id; read in the order
queued; marked sent once; the backlog counts what waits; sent rows can be pruned."""

from __future__ import annotations

from blacklist_rules.stores.protocols import Store


def _queue(store: Store, *ids: str) -> None:
    with store.begin():
        for n, decision_id in enumerate(ids):
            store.outbox_add(decision_id, f"acct-{decision_id}", f'{{"id":"{decision_id}"}}', n)


def test_committed_rows_wait_in_the_order_queued(store: Store) -> None:
    """Rows queued and committed are pending, oldest first, each with what was queued."""
    _queue(store, "d-b", "d-a", "d-c")
    pending = store.outbox_pending(10)
    assert [row.decision_id for row in pending] == ["d-b", "d-a", "d-c"]
    assert [row.position for row in pending] == sorted(row.position for row in pending)
    assert pending[1].account_id == "acct-d-a"
    assert pending[1].payload == '{"id":"d-a"}'
    assert store.outbox_backlog() == 3
    assert [row.decision_id for row in store.outbox_pending(2)] == ["d-b", "d-a"]


def test_a_rolled_back_decision_is_never_queued(store: Store) -> None:
    """Queued in a transaction that rolls back: nothing waits, nothing is ever published."""
    transaction = store.begin()
    store.outbox_add("d-1", "acct-1", "{}", 0)
    transaction.rollback()
    assert store.outbox_pending(10) == []
    assert store.outbox_backlog() == 0


def test_an_event_undone_takes_its_queued_decision_with_it(store: Store) -> None:
    """A savepoint rolled back undoes the rows queued since, and keeps those before."""
    with store.begin():
        store.outbox_add("d-1", "acct-1", "{}", 0)
        store.savepoint()
        store.outbox_add("d-2", "acct-2", "{}", 0)
        store.rollback_to_savepoint()
        store.release_savepoint()
    assert [row.decision_id for row in store.outbox_pending(10)] == ["d-1"]


def test_a_decision_is_queued_once(store: Store) -> None:
    """A second `outbox_add` of the same decision id changes nothing and says so."""
    with store.begin():
        assert store.outbox_add("d-1", "acct-1", "{}", 0)
        assert not store.outbox_add("d-1", "acct-1", "{}", 0)
    assert store.outbox_backlog() == 1


def test_rows_marked_sent_no_longer_wait(store: Store) -> None:
    """Marked sent, a row leaves the pending list; marking it again counts nothing."""
    _queue(store, "d-1", "d-2", "d-3")
    first = store.outbox_pending(10)[0]
    with store.begin():
        assert store.outbox_mark_sent([first.position], 100) == 1
    with store.begin():
        assert store.outbox_mark_sent([first.position], 200) == 0
    assert [row.decision_id for row in store.outbox_pending(10)] == ["d-2", "d-3"]
    assert store.outbox_backlog() == 2


def test_a_mark_rolled_back_leaves_the_row_pending(store: Store) -> None:
    """A relay that fails before its mark commits publishes the row again next time."""
    _queue(store, "d-1")
    row = store.outbox_pending(10)[0]
    transaction = store.begin()
    store.outbox_mark_sent([row.position], 100)
    transaction.rollback()
    assert store.outbox_pending(10) == [row]


def test_prune_removes_only_rows_sent_before_the_time(store: Store) -> None:
    """Pruning forgets sent rows older than the cut; unsent and newer ones stay."""
    _queue(store, "d-1", "d-2", "d-3")
    one, two, _ = store.outbox_pending(10)
    with store.begin():
        store.outbox_mark_sent([one.position], 100)
        store.outbox_mark_sent([two.position], 300)
    with store.begin():
        assert store.outbox_prune(200) == 1
    assert store.outbox_backlog() == 1
    with store.begin():
        assert store.outbox_prune(1000) == 1
    assert [row.decision_id for row in store.outbox_pending(10)] == ["d-3"]
