"""Contract: a scratch world's seed is what a store held of some accounts at one point of its
log, as typed rows (`export_for`); any implementation loads any other's (`load_seed`), so the
reversal cascade can replay on the in-memory store whatever store the engine runs on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from blacklist_rules.model.events import from_micros, utc_text
from blacklist_rules.stores import open_store
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import (
    Deadline,
    EventRow,
    Seed,
    SeedDecision,
    SeedEntry,
    SeedIdentity,
    SeedListChange,
)
from blacklist_rules.stores.records import (
    decision_record as decision_record_of,
)
from tests.support import decision_record

from .conftest import MAKERS

DAY = 86_400_000_000
CUT = 10 * DAY
ACCOUNTS = {"a", "b"}
PRINT, PHONE_PRINT, OTHER_PRINT = "ab" * 16, "cd" * 16, "ef" * 16


def _at(days: int) -> str:
    return utc_text(from_micros(days * DAY))


def _event(store: Store, event_id: str, account: str, days: int) -> None:
    payload = json.dumps({"event_id": event_id, "account_id": account, "type": "rumor_flag"})
    store.add_event(event_id, account, "rumor_flag", days * DAY, payload, days * DAY)


def _decide(store: Store, decision_id: str, account: str, event_id: str, days: int) -> None:
    mode = "shadow" if decision_id == "d-shadow" else "enforce"
    record = decision_record(decision_id, account, _at(days), mode=mode, evidence=(event_id,))
    store.add_decision(record, event_id, _at(days), None)


def _fill(store: Store) -> int:
    """Accounts a and b before and after the cut, c beside them; the log position of their
    first event from the cut on (the seed's boundary)."""
    with store.begin():
        _event(store, "reg-a", "a", 1)
        store.add_identities([("id_number", PRINT)], "a", "reg-a", 1 * DAY)
        _event(store, "s1", "a", 2)
        _event(store, "s2", "a", 3)
        store.withdraw("s2", "ap", "d-x")  # no longer counts
        _event(store, "c1", "c", 2)
        _event(store, "late", "a", 11)  # the first from the cut on: the boundary
        _event(store, "b1", "b", 4)  # came after the boundary
        for decision_id, account, event_id, days in (
            ("d-a", "a", "s1", 2),
            ("d-ended", "a", "reg-a", 1),
            ("d-shadow", "a", "s1", 2),
            ("d-rev", "a", "s1", 2),
            ("d-after", "a", "late", 11),
            ("d-late-event", "b", "b1", 4),
            ("d-purged", "b", "gone", 3),  # its event is not in the log
        ):
            _decide(store, decision_id, account, event_id, days)
        store.end_decision("d-a", _at(12))  # after the cut: standing then
        store.end_decision("d-ended", _at(5))
        store.reverse_decision("d-rev", "ap", "appeal_outcome")
        store.add_deadline("r1", "d-a", "a", "s1", 2 * DAY, 12 * DAY, "fired")
        store.add_deadline("r2", "reg-a", "a", "reg-a", 1 * DAY, 5 * DAY, "fired")
        store.add_deadline("r3", "d-shadow", "a", "s1", 2 * DAY, 12 * DAY, "pending")
        store.add_deadline("r4", "c1", "c", "c1", 2 * DAY, 12 * DAY, "pending")
        store.enter("id_number", PRINT, "d-a", "a", "r", "why", 2 * DAY, None)
        store.remove_entry("id_number", PRINT, "d-a", 12 * DAY, "rv")  # after the cut
        store.enter("phone", PHONE_PRINT, "d-ended", "a", "r", "why", 1 * DAY, 5 * DAY)
        store.remove_entry("phone", PHONE_PRINT, "d-ended", 4 * DAY, "rv")
        store.enter("id_number", OTHER_PRINT, "d-rev", "a", "r", "why", 2 * DAY, None)
    first = store.first_arrival_since(ACCOUNTS, CUT)
    assert first is not None
    return first.position


Parts = tuple[
    list[EventRow],
    list[SeedIdentity],
    list[SeedDecision],
    list[Deadline],
    list[SeedEntry],
    list[SeedListChange],
]


def _sorted(seed: Seed) -> Parts:
    """The seed's parts in a fixed order (a store may give rows in its own scan order)."""
    return (
        sorted(seed.events, key=lambda e: e.event_id),
        sorted(seed.identities, key=lambda i: (i.kind, i.fingerprint, i.event_id)),
        sorted(seed.decisions, key=lambda d: d.decision_id),
        sorted(seed.deadlines, key=lambda d: (d.rule_id, d.anchor_id)),
        sorted(seed.entries, key=lambda e: (e.entry.kind, e.entry.decision_id)),
        sorted(seed.lists, key=lambda c: (c.account_id, c.occurred_us, c.event_id, c.list)),
    )


@pytest.fixture(params=[*sorted(MAKERS), pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new, empty store of each implementation, to seed (PostgreSQL's in a database of its
    own, as the source may be the run's)."""
    if request.param == "postgres":
        from tests.postgres import fresh_database

        with fresh_database() as url:
            made = open_store(url)
            try:
                yield made
            finally:
                made.close()
        return
    folder = tmp_path / "target"
    folder.mkdir()
    made = MAKERS[request.param](folder)
    try:
        yield made
    finally:
        made.close()


def test_a_seed_holds_what_the_accounts_held_before_the_cut_and_the_boundary(
    store: Store,
) -> None:
    """Events before the cut that came before the boundary and still count, with their
    fingerprints; enforced decisions before the cut, not reversed, on an event that came
    before the boundary or is gone (an end from the cut on is not yet made); the deadlines
    counting from those (one fired from the cut on is pending again); their blacklist entries
    (a removal from the cut on not yet made). Nothing of another account."""
    seed = store.export_for(ACCOUNTS, CUT, _fill(store))
    events, identities, decisions, deadlines, entries, _ = _sorted(seed)
    assert [e.event_id for e in events] == ["reg-a", "s1"]
    assert [(i.kind, i.fingerprint, i.event_id) for i in identities] == [
        ("id_number", PRINT, "reg-a")
    ]
    assert [(d.decision_id, d.ended_at) for d in decisions] == [
        ("d-a", None),
        ("d-ended", _at(5)),
        ("d-purged", None),
    ]
    assert decision_record_of(decisions[0].record).decision.evidence == ("s1",)
    assert [(d.rule_id, d.state) for d in deadlines] == [("r1", "pending"), ("r2", "fired")]
    assert [(e.entry.kind, e.removed_us, e.removed_by) for e in entries] == [
        ("id_number", None, None),
        ("phone", 4 * DAY, "rv"),
    ]


def test_any_store_loads_any_stores_seed_as_it_was(store: Store, target: Store) -> None:
    """Seeded into a store of any implementation, the same seed reads back out of it (every
    row of it was before the cut and the new log's end); seeding again changes nothing;
    `seed_from` is `load_seed` of the source's `export_for`."""
    boundary = _fill(store)
    seed = store.export_for(ACCOUNTS, CUT, boundary)
    with target.begin():
        target.seed_from(store, ACCOUNTS, CUT, boundary)
        target.load_seed(seed)
    again = target.export_for(ACCOUNTS, CUT, target.log_end())
    assert _sorted(again) == _sorted(seed)
    assert sorted(d.rule_id for d in target.deadlines_of("a")) == ["r1", "r2"]
    assert [e.kind for e in target.entries("a")] == ["id_number"]  # the other was removed


def _list_update(store: Store, event_id: str, account: str, days: int, op: str) -> None:
    payload = json.dumps({"event_id": event_id, "account_id": account, "type": "list_update"})
    store.add_event(event_id, account, "list_update", days * DAY, payload, days * DAY)
    store.add_list_change(account, "official", op, days * DAY, event_id)  # type: ignore[arg-type]


def test_a_seed_carries_the_list_changes_made_before_the_cut_and_the_boundary(
    store: Store, target: Store
) -> None:
    """The accounts' list changes before the cut whose events came before the boundary, or
    whose events a history purge removed, are in the seed (a replay after a purge sees the
    lists set before the cut); not one at the cut or after it, nor one whose event came
    after the boundary, nor another account's. Any store loads them as they were."""
    with store.begin():
        _list_update(store, "lu-a", "a", 2, "add")
        _list_update(store, "lu-edge", "a", 9, "remove")  # one step before the cut
        store.add_list_change("b", "official", "add", 3 * DAY, "lu-purged")  # event gone
        _list_update(store, "lu-c", "c", 2, "add")  # another account
        _list_update(store, "first", "a", 10, "add")  # at the cut: the boundary
        _list_update(store, "lu-after", "b", 4, "add")  # came after the boundary
    first = store.first_arrival_since(ACCOUNTS, CUT)
    assert first is not None
    seed = store.export_for(ACCOUNTS, CUT, first.position)
    found = _sorted(seed)[5]
    assert [(c.account_id, c.event_id, c.op, c.occurred_us) for c in found] == [
        ("a", "lu-a", "add", 2 * DAY),
        ("a", "lu-edge", "remove", 9 * DAY),
        ("b", "lu-purged", "add", 3 * DAY),
    ]
    with target.begin():
        target.load_seed(seed)
        target.load_seed(seed)  # again: nothing more
    assert [c.event_id for c in target.list_changes("a")] == ["lu-a", "lu-edge"]
    assert [(c.event_id, c.op) for c in target.list_changes("b")] == [("lu-purged", "add")]
    assert target.list_changes("c") == []
