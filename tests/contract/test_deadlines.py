"""Contract: a deadline is kept once per (rule, anchor); it is due at its time inclusive, met
by an event within [start, due), and read by state."""

from __future__ import annotations

from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import Deadline


def _add(store: Store, rule: str, anchor: str, start: int, due: int, account: str = "a") -> None:
    with store.begin():
        store.add_deadline(rule, anchor, account, f"ev-{anchor}", start, due, "pending")


def test_a_deadline_is_kept_once_per_rule_and_anchor(store: Store) -> None:
    """A second add of the same (rule, anchor) changes nothing."""
    _add(store, "r", "x", 0, 100)
    _add(store, "r", "x", 0, 500)
    assert store.deadlines_of("a") == [Deadline("r", "x", "a", "ev-x", 0, 100, "pending")]


def test_deadlines_are_due_at_their_time_in_order(store: Store) -> None:
    """`due_deadlines(clock)`: the pending ones due at or before the clock, by due time,
    rule, anchor; `next_deadline` the earliest pending."""
    _add(store, "r2", "x", 0, 100)
    _add(store, "r1", "y", 0, 100)
    _add(store, "r1", "x", 0, 100)
    _add(store, "r1", "z", 0, 101, "b")
    assert store.next_deadline() == 100
    assert store.due_deadlines(99) == []
    assert [(d.rule_id, d.anchor_id) for d in store.due_deadlines(100)] == [
        ("r1", "x"),
        ("r1", "y"),
        ("r2", "x"),
    ]
    assert store.waiting_accounts() == {"a", "b"}


def test_an_unless_event_meets_a_deadline_from_its_start_to_before_its_due(
    store: Store,
) -> None:
    """`meet_deadlines` at a time t meets the pending ones with start <= t < due, and gives
    back each one it met as it now is."""
    _add(store, "r", "x", 10, 20)
    with store.begin():
        assert store.meet_deadlines("a", ["r"], 20) == []
        assert store.meet_deadlines("a", ["r"], 9) == []
        assert store.meet_deadlines("a", ["other"], 10) == []
        [met] = store.meet_deadlines("a", ["r"], 10)
    assert (met.rule_id, met.anchor_id, met.start_us, met.due_us, met.state) == (
        "r",
        "x",
        10,
        20,
        "met",
    )
    assert [d.state for d in store.deadlines_of("a")] == ["met"]
    assert store.next_deadline() is None
    assert store.waiting_accounts() == set()


def test_reads_by_state(store: Store) -> None:
    """`deadlines_from(t)`: not void, due after t; `pending_deadlines_of`: pending only;
    `prune_deadlines(t)`: those not pending due at or before t."""
    _add(store, "r", "pending", 0, 10)
    _add(store, "r", "void", 0, 20)
    _add(store, "r", "fired", 0, 30)
    with store.begin():
        store.set_deadline_state("r", "void", "void")
        store.set_deadline_state("r", "fired", "fired")
    assert [d.anchor_id for d in store.deadlines_from(10)] == ["fired"]
    assert [d.anchor_id for d in store.deadlines_from(9)] == ["pending", "fired"]
    assert [d.anchor_id for d in store.pending_deadlines_of({"a"})] == ["pending"]
    with store.begin():
        assert store.prune_deadlines(20) == 1
    assert [d.anchor_id for d in store.deadlines_of("a")] == ["pending", "fired"]
