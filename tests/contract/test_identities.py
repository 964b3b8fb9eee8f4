"""Contract: identities are keyed fingerprints kept once per registration; blacklist entries
are in force from entry to the earlier of their end and their removal."""

from __future__ import annotations

import pytest

from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import Fingerprint, ListedSpan, Registration

F1, F2, F3 = "aa" * 16, "bb" * 16, "cc" * 16


def _register(
    store: Store, account: str, event_id: str, at_us: int, *prints: tuple[str, str]
) -> None:
    with store.begin():
        store.add_identities(prints, account, event_id, at_us)
        store.add_identities(prints, account, event_id, at_us)  # kept once
        for kind, fingerprint in prints:
            store.add_identities([(kind, fingerprint)], account, event_id, at_us)  # once


def _enter(store: Store, decision: str, entered: int, ends: int | None) -> None:
    with store.begin():
        store.enter("id_number", F1, decision, "a", "r", "why", entered, ends)


def test_identities_of_an_account_are_distinct_and_sorted(store: Store) -> None:
    """`identities_of`: each (kind, fingerprint) once, sorted; `prints_of` per registration."""
    _register(store, "a", "r1", 10, ("phone", F2), ("id_number", F1))
    _register(store, "a", "r2", 20, ("id_number", F1))
    assert store.identities_of("a") == [Fingerprint("id_number", F1), Fingerprint("phone", F2)]
    prints = store.prints_of({"a"})
    assert sorted(prints["r1"], key=str) == [Fingerprint("id_number", F1), Fingerprint("phone", F2)]
    assert prints["r2"] == [Fingerprint("id_number", F1)]


def test_registrations_with_a_value_count_from_since_to_before_until(store: Store) -> None:
    """`registrations_with`: since <= time < until (None: no end), by time."""
    _register(store, "b", "rb", 20, ("id_number", F1))
    _register(store, "a", "ra", 10, ("id_number", F1))
    _register(store, "c", "rc", 30, ("id_number", F1))
    assert store.registrations_with("id_number", F1, 10, 30) == [
        Registration("a", "ra", 10),
        Registration("b", "rb", 20),
    ]
    assert [r.account_id for r in store.registrations_with("id_number", F1, 11, None)] == ["b", "c"]


def test_linked_accounts_follow_shared_values_of_the_kinds_asked(store: Store) -> None:
    """Accounts joined by a shared value, directly or through others; other kinds do not
    link."""
    _register(store, "a", "ra", 1, ("device", F1))
    _register(store, "b", "rb", 2, ("device", F1), ("phone", F2))
    _register(store, "c", "rc", 3, ("phone", F2))
    _register(store, "d", "rd", 4, ("id_number", F2))
    assert store.linked_accounts("a", frozenset({"device", "phone"})) == {"a", "b", "c"}
    assert store.linked_accounts("a", frozenset({"device"})) == {"a", "b"}
    assert store.linked_accounts("d", frozenset({"device", "phone"})) == {"d"}


@pytest.mark.parametrize(
    ("at_us", "in_force"), [(99, False), (100, True), (149, True), (150, False), (None, True)]
)
def test_an_entry_is_in_force_from_entry_until_before_its_end(
    store: Store, at_us: int | None, in_force: bool
) -> None:
    """`entries_at`: entered <= t < end; None asks for every entry not removed."""
    _enter(store, "d", 100, 150)
    assert bool(store.entries_at("id_number", F1, at_us)) is in_force


def test_a_removal_ends_an_entry_from_its_own_time(store: Store) -> None:
    """Removed at 120: in force before, not from then; not among `entries`; its span ends at
    the earlier of end and removal."""
    _enter(store, "d", 100, 150)
    with store.begin():
        store.remove_entry("id_number", F1, "d", 120, "ev")
    assert store.entries_at("id_number", F1, 119)
    assert not store.entries_at("id_number", F1, 120)
    assert not store.entries_at("id_number", F1, None)
    assert store.entries() == []
    assert list(store.listed_spans()) == [ListedSpan(F1, 100, 120)]


def test_entries_read_back_whole_and_a_new_entry_replaces_a_removed_one(store: Store) -> None:
    """`entries` gives each field as entered; entering the same (value, decision) again
    replaces the row, its removal cleared; an entry removed at its entry never was."""
    _enter(store, "d", 100, None)
    with store.begin():
        store.remove_entry("id_number", F1, "d", 100, None)
    assert list(store.listed_spans()) == []
    _enter(store, "d", 100, None)
    (entry,) = store.entries("a")
    assert (entry.kind, entry.fingerprint, entry.decision_id, entry.account_id) == (
        "id_number",
        F1,
        "d",
        "a",
    )
    assert (entry.rule_id, entry.reason, entry.entered_us, entry.ends_us) == ("r", "why", 100, None)
    assert store.entries("b") == []
    assert list(store.listed_spans()) == [ListedSpan(F1, 100, None)]


def test_a_registration_is_listed_when_its_value_was_in_force_then(store: Store) -> None:
    """`listed_registration`: one of its values matched an entry in force at that time."""
    _register(store, "b", "rb", 120, ("id_number", F1), ("phone", F3))
    _enter(store, "d", 100, 150)
    assert store.listed_registration("rb", 120)
    assert not store.listed_registration("rb", 150)
    assert not store.listed_registration("unknown", 120)


def test_add_identities_keeps_each_value_once_and_none_for_no_values(store: Store) -> None:
    """`add_identities`: a value given twice in one call is kept once; no values, no row."""
    with store.begin():
        store.add_identities([], "z", "rz", 5)
        store.add_identities([("phone", F3), ("phone", F3), ("id_number", F1)], "y", "ry", 6)
    assert store.identities_of("z") == []
    assert store.registrations_with("phone", F3, 0, None) == [Registration("y", "ry", 6)]
    assert store.identities_of("y") == [Fingerprint("id_number", F1), Fingerprint("phone", F3)]
