"""Listing expiry and retention arithmetic at the edge: exactly, 1µs inside, 1µs outside.

A blacklist entry is in force at t when entered <= t < ends and t < removed (the store's
`_IN_FORCE`, and `Listing.in_force` in memory: the engine asks both). Retention: audit
records and history younger than the retention (never under the 180-day floor) are kept; a
purge exactly the retention back is allowed, 1µs younger is refused; a record written exactly
at the cut is kept; an event exactly at the history cut is accepted, 1µs before it refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine, SQLiteStore, StoreError
from blacklist_rules.model.events import to_micros
from blacklist_rules.model.identity import Listing
from blacklist_rules.stores.records import ListedSpan
from blacklist_rules.stores.sqlite import RETENTION_FLOOR

from .support import T0, default_pack_with, event

DAY = timedelta(days=1)
US = timedelta(microseconds=1)
EDGES = {"before": -US, "exact": timedelta(0), "after": US}
LI = "360426199101010071"
PHONE = "13800138000"
FINGERPRINT = "ab" * 32


# --- Listing.in_force, in memory ------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [(99, False), (100, True), (101, True), (199, True), (200, False), (201, False)],
)
def test_a_listing_with_an_end_is_in_force_from_entered_until_before_its_end(
    at: int, expected: bool
) -> None:
    """Entered at 100, ending at 200: in force at 100 … 199, not at 99 nor at 200."""
    listing = Listing()
    listing.add(FINGERPRINT, 100, 200)
    assert listing.in_force(FINGERPRINT, at) is expected
    assert listing.in_force(FINGERPRINT, None)


@pytest.mark.parametrize(("at", "expected"), [(99, False), (100, True), (101, True)])
def test_a_listing_without_an_end_is_in_force_from_entered(at: int, expected: bool) -> None:
    """Entered at 100 for ever (kept as a bare int): in force from 100, not at 99."""
    listing = Listing()
    listing.add(FINGERPRINT, 100, None)
    assert listing.in_force(FINGERPRINT, at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [(99, False), (100, True), (149, True), (150, False), (299, False), (300, True)],
)
def test_a_value_listed_twice_is_in_force_in_either_span(at: int, expected: bool) -> None:
    """Two spans [100, 150) and [300, ∞) of one value: each edge holds on its own."""
    listing = Listing()
    listing.add(FINGERPRINT, 100, 150)
    listing.add(FINGERPRINT, 300, None)
    assert listing.in_force(FINGERPRINT, at) is expected


# --- _IN_FORCE, in the store ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("removed", "at", "expected"),
    [
        (None, 99, False),
        (None, 100, True),
        (None, 199, True),
        (None, 200, False),
        (150, 149, True),
        (150, 150, False),
        (150, 151, False),
        (250, 199, True),
        (250, 200, False),
    ],
)
def test_the_store_says_in_force_at_the_same_edges(
    removed: int | None, at: int, expected: bool
) -> None:
    """An entry entered at 100 ending at 200, removed at `removed` (or not): in force when
    entered <= t < ends and t < removed; with no time given, whenever it is not removed."""
    store = SQLiteStore()
    store.enter("id_number", FINGERPRINT, "d-1", "li", "rule", "reason", 100, 200)
    if removed is not None:
        store.remove_entry("id_number", FINGERPRINT, "d-1", removed, "e-removal")
    assert bool(store.entries_at("id_number", FINGERPRINT, at)) is expected
    assert bool(store.entries_at("id_number", FINGERPRINT, None)) is (removed is None)
    store.close()


# --- through the engine: a blacklist listed for 30 days, a removal at its own time ----------


@pytest.fixture(scope="module")
def listed_for_30d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default pack, its impersonation blacklist listing the identity for 30 days."""
    folder = default_pack_with(tmp_path_factory.mktemp("pack") / "rules")
    path = folder / "impersonation" / "blacklist-confirmed-impersonation.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("  action: blacklist\n", "  action: blacklist\n  listed_for: 30d\n"),
        encoding="utf-8",
    )
    return folder


def registration(account: str, at: timedelta, event_id: str, **identity: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"identity": identity}
    if account == "li":
        fields["verification"] = {"status": "passed"}
    return event("registration", account, at, event_id, **fields)


def returning(at: timedelta) -> dict[str, Any]:
    """Another account registering with li's ID number, unverified."""
    return registration("again", at, "again", id_number=LI)


def insertions(chain: list[dict[str, Any]], item: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """`item` at every position of `chain` (whose own order is causal: a removal cannot
    come before what it removes)."""
    for index in range(len(chain) + 1):
        yield [*chain[:index], item, *chain[index:]]


def status_of_again(rules: Path, events: list[dict[str, Any]]) -> str:
    with Engine.from_path(rules, max_lead=None) as engine:
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
        return str(engine.status("again"))


LISTING = [
    registration("li", 0 * DAY, "reg-li", id_number=LI, phone=PHONE),
    event("impersonation_report", "li", 1 * DAY, "imp-li", reporter_id="r", confirmed=True),
]
"""li registers verified, then is blacklisted at T0 + 1d: li's ID number is listed from
T0 + 1d until T0 + 31d."""


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("where", ["entered", "ends"])
def test_a_registration_at_either_end_of_a_30_day_listing(
    listed_for_30d: Path, where: str, edge: str
) -> None:
    """A registration with li's ID number at the entry's start (T0 + 1d) or end (T0 + 31d),
    +- 1µs, arriving before, between or after li's events: blacklisted exactly when the entry
    was in force at its time (entered <= t < ends), in every arrival order."""
    at = (1 * DAY if where == "entered" else 31 * DAY) + EDGES[edge]
    in_force = 1 * DAY <= at < 31 * DAY
    for order in insertions(LISTING, returning(at)):
        expected = "blacklisted" if in_force else "active"
        assert status_of_again(listed_for_30d, order) == expected, [e["event_id"] for e in order]


@pytest.mark.parametrize("edge", EDGES)
def test_a_registration_at_the_moment_an_entry_is_removed(edge: str) -> None:
    """li's ID number is found to be someone else's at T0 + 5d: its entry is removed at that
    moment. A registration with it 1µs before met the entry, wherever it arrives among li's
    events (default pack, no end). Exactly at the removal or after, it did not: active when
    the removal arrived first. When the registration arrived before the removal, its
    blacklist was taken on the entry then in force and stands, as any decision does (README,
    "History": nothing undoes a decision taken; a reviewer can lift it)."""
    removal = event(
        "identity_verification",
        "li",
        5 * DAY,
        "victim",
        status="failed",
        reason="identity_of_another_person",
    )
    at = 5 * DAY + EDGES[edge]
    for order in insertions([*LISTING, removal], returning(at)):
        decided_first = order.index(removal) == len(order) - 1
        expected = "blacklisted" if edge == "before" or decided_first else "active"
        with Engine.from_path(max_lead=None) as engine:
            for outcome in engine.run(order):
                assert outcome.accepted, outcome
            assert str(engine.status("again")) == expected, [e["event_id"] for e in order]


@pytest.mark.parametrize("edge", EDGES)
def test_is_blacklisted_at_the_edges_of_a_listing(listed_for_30d: Path, edge: str) -> None:
    """`is_blacklisted` and `blacklist_match` (memory and store) at the entry's start and end
    +- 1µs: in force from T0 + 1d, until before T0 + 31d."""
    with Engine.from_path(listed_for_30d, max_lead=None) as engine:
        list(engine.run(LISTING))
        for start, end in ((1 * DAY, False), (31 * DAY, True)):
            at = T0 + start + EDGES[edge]
            expected = (edge != "before") is not end
            assert engine.is_blacklisted({"id_number": LI}, at=at) is expected, (start, edge)
            found = engine.blacklist_match({"id_number": LI}, at=at)
            assert (found is not None) is expected, (start, edge)


# --- retention: the floor, the purge cut, what a purge keeps -------------------------------

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[SQLiteStore]:
    """A store whose wall clock says NOW."""
    store = SQLiteStore()
    store.now = lambda: NOW
    yield store
    store.close()


@pytest.mark.parametrize(("days", "accepted"), [(179, False), (180, True), (181, True)])
def test_the_retention_floor_is_180_days(store: SQLiteStore, days: int, accepted: bool) -> None:
    """A retention of 179 days is refused, 180 and 181 accepted."""
    if accepted:
        store.set_retention(timedelta(days=days))
        assert store.retention() == timedelta(days=days)
    else:
        with pytest.raises(StoreError, match="under the legal floor"):
            store.set_retention(timedelta(days=days))
        assert store.retention() == RETENTION_FLOOR


def test_a_retention_of_part_of_a_day_is_refused(store: SQLiteStore) -> None:
    """180 days and 1µs is not whole days: refused (the floor alone would pass it)."""
    with pytest.raises(StoreError, match="whole days"):
        store.set_retention(RETENTION_FLOOR + US)


@pytest.mark.parametrize("days", [None, 200])
@pytest.mark.parametrize("edge", EDGES)
def test_an_audit_purge_exactly_the_retention_back_is_allowed(
    store: SQLiteStore, days: int | None, edge: str
) -> None:
    """A purge before NOW - retention (the floor, or 200 days) is allowed; 1µs younger is
    refused, and nothing is removed."""
    if days is not None:
        store.set_retention(timedelta(days=days))
    before = NOW - store.retention() + EDGES[edge]
    if edge == "after":
        with pytest.raises(StoreError, match="are kept"):
            store.purge_audit(before)
    else:
        store.purge_audit(before)


def test_an_audit_purge_keeps_the_record_written_exactly_at_its_cut(store: SQLiteStore) -> None:
    """Records written at C - 1µs, C and C + 1µs; a purge before C removes only the first."""
    cut = NOW - 400 * DAY
    for offset in (-US, timedelta(0), US):
        store.now = lambda offset=offset: cut + offset  # type: ignore[misc]
        store.audit("note", {"at": str(offset)})
    store.now = lambda: NOW
    removed, first_kept = store.purge_audit(cut)
    assert removed == 1
    kept = [r.record for r in store.audit_records() if r.kind == "note"]
    assert kept == [{"at": str(timedelta(0))}, {"at": str(US)}]
    assert first_kept == 2
    assert store.verify_audit().ok


@pytest.mark.parametrize("edge", EDGES)
def test_an_event_at_the_history_cut_is_accepted(edge: str) -> None:
    """After a history purge with its cut at C, an event at C or after is processed; one 1µs
    before C is refused (its history is settled)."""
    with Engine.from_path(max_lead=None) as engine:
        engine.store.now = lambda: T0 + 1000 * DAY
        engine.process(event("registration", "a", 0 * DAY, "reg"))
        engine.advance_to(T0 + 430 * DAY)
        cut = T0 + 250 * DAY
        assert engine.store.purge_history(cut).cut == cut
        assert engine.store.history_cut_us == to_micros(cut)
        outcome = engine.process(event("registration", "b", cut - T0 + EDGES[edge], "probe"))
        assert (outcome.rejection is not None) is (edge == "before")


@pytest.mark.parametrize("edge", EDGES)
def test_a_history_cut_keeps_the_retention_on_event_time(edge: str) -> None:
    """The cut asked for is capped at the latest event minus the retention (event time): a
    cut asked for 1µs before that cap stays as asked, exactly at it too, 1µs after is capped."""
    with Engine.from_path(max_lead=None) as engine:
        engine.store.now = lambda: T0 + 1000 * DAY
        engine.process(event("registration", "a", 430 * DAY, "reg"))
        cap = T0 + 430 * DAY - RETENTION_FLOOR
        asked = cap + EDGES[edge]
        assert engine.store.purge_history(asked).cut == min(asked, cap)


@pytest.mark.parametrize("edge", EDGES)
def test_a_second_history_purge_at_or_before_the_cut_does_nothing(edge: str) -> None:
    """A history purge with its cut at C, then another at C (+ edge): at or before C it is
    a no-op (no audit record, the cut stays); 1µs after C it is a purge of its own."""
    with Engine.from_path(max_lead=None) as engine:
        engine.store.now = lambda: T0 + 1000 * DAY
        engine.process(event("registration", "a", 430 * DAY, "reg"))
        cut = T0 + 200 * DAY
        engine.store.purge_history(cut)
        engine.store.purge_history(cut + EDGES[edge])
        purges = [r for r in engine.audit_records() if r.kind == "history_purged"]
        assert len(purges) == (2 if edge == "after" else 1)
        assert engine.store.history_cut_us == to_micros(max(cut, cut + EDGES[edge]))


@pytest.mark.parametrize(
    ("ends", "removed", "span"),
    [
        (200, None, (100, 200)),
        (None, None, (100, None)),
        (None, 150, (100, 150)),
        (200, 150, (100, 150)),
        (200, 250, (100, 200)),
        (200, 100, None),
        (None, 100, None),
        (None, 101, (100, 101)),
    ],
)
def test_the_listing_a_reopened_engine_loads_ends_at_the_earlier_of_end_and_removal(
    ends: int | None, removed: int | None, span: tuple[int, int | None] | None
) -> None:
    """What a reopened engine loads into memory (`listed_spans`): an entry entered at 100 is
    in force until the earlier of its end and its removal; one removed at its very entry (a
    reversed decision: it never was) is not loaded, one removed 1µs later is, for that µs."""
    store = SQLiteStore()
    store.enter("id_number", FINGERPRINT, "d-1", "li", "rule", "reason", 100, ends)
    if removed is not None:
        store.remove_entry("id_number", FINGERPRINT, "d-1", removed, "e-removal")
    expected = [] if span is None else [ListedSpan(FINGERPRINT, *span)]
    assert list(store.listed_spans()) == expected
    store.close()
