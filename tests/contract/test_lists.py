"""Contract: each account's list changes (`list_update` events), kept in event time whatever
order they come in, read up to a time (inclusive), once however often added."""

from __future__ import annotations

from blacklist_rules.stores.lists import ListChange, on_lists
from blacklist_rules.stores.protocols import Store


def _fill(store: Store) -> None:
    with store.begin():
        store.add_list_change("a", "official", "remove", 30, "u3")  # out of order
        store.add_list_change("a", "official", "add", 10, "u1")
        store.add_list_change("a", "official", "add", 10, "u1")  # a resend: once
        store.add_list_change("a", "press", "add", 20, "u2")
        store.add_list_change("b", "official", "add", 5, "v1")


def test_changes_are_read_in_event_time_up_to_a_time(store: Store) -> None:
    """By (time, event id); `until_us` inclusive; another account's never."""
    _fill(store)
    assert store.list_changes("a") == [
        ListChange("official", "add", 10, "u1"),
        ListChange("press", "add", 20, "u2"),
        ListChange("official", "remove", 30, "u3"),
    ]
    assert [c.event_id for c in store.list_changes("a", 20)] == ["u1", "u2"]
    assert store.list_changes("a", 9) == []
    assert store.list_changes("c") == []


def test_membership_at_a_time_follows_the_last_change_then(store: Store) -> None:
    """On a list from its add (the very moment included) until its remove."""
    _fill(store)
    changes = store.list_changes("a")
    assert on_lists(changes, 9) == frozenset()
    assert on_lists(changes, 10) == {"official"}
    assert on_lists(changes, 29) == {"official", "press"}
    assert on_lists(changes, 30) == {"press"}


def test_a_rollback_forgets_the_changes(store: Store) -> None:
    """Written in the event's transaction: a rollback leaves nothing."""
    tx = store.begin()
    store.add_list_change("a", "official", "add", 10, "u1")
    tx.rollback()
    assert store.list_changes("a") == []
