"""Contract: the event log keeps each event once, in arrival order, and its reads by
account, type and time keep their bounds exactly."""

from __future__ import annotations

import json
from typing import Any

from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import Arrival, FirstSeen, LoggedEvent, PassedVerification


def _add(
    store: Store,
    event_id: str,
    at_us: int,
    type_: str = "rumor_flag",
    account: str = "a",
    clock_us: int | None = None,
    **fields: Any,
) -> str | None:
    payload = json.dumps({"event_id": event_id, "type": type_, "account_id": account, **fields})
    with store.begin():
        return store.add_event(event_id, account, type_, at_us, payload, clock_us)


def _ids(payloads: list[str]) -> list[str]:
    return [json.loads(payload)["event_id"] for payload in payloads]


def test_an_event_is_kept_once_and_a_repeat_gets_what_was_stored(store: Store) -> None:
    """The first add returns None; a repeat of the id returns the stored text and changes
    nothing, whatever it carries."""
    assert _add(store, "e1", 10) is None
    stored = store.stored_payload_of("e1")
    assert _add(store, "e1", 99, "registration", "b") == stored
    assert store.stored_payload_of("e1") == stored
    assert store.event_payload("e1") == {"event_id": "e1", "type": "rumor_flag", "account_id": "a"}
    assert store.stored_payload_of("nope") is None
    assert store.event_payload("nope") is None


def test_the_replay_follows_arrival_not_event_time(store: Store) -> None:
    """`replay_of` gives the accounts' events in the order they came, each with its clock,
    from a log position on (inclusive); `log_end` is the position the next one takes."""
    for event_id, at_us, clock in (("late", 50, None), ("early", 10, 50), ("b1", 5, 50)):
        _add(store, event_id, at_us, account="b" if event_id == "b1" else "a", clock_us=clock)
    assert store.replay_of({"a"}) == [
        LoggedEvent(store.stored_payload_of("late") or "", None),
        LoggedEvent(store.stored_payload_of("early") or "", 50),
    ]
    arrivals = store.arrivals({"late", "early", "b1", "unknown"})
    assert arrivals["late"] < arrivals["early"] < arrivals["b1"] < store.log_end()
    assert "unknown" not in arrivals
    assert _ids([e.payload for e in store.replay_of({"a", "b"}, arrivals["early"])]) == [
        "early",
        "b1",
    ]


def test_the_replay_leaves_out_withdrawn_events_and_persons_reversals(store: Store) -> None:
    """Withdrawn evidence, appeal outcomes and lifts are not replayed (vetoes stand for
    them); a review that is not a lift is."""
    _add(store, "kept", 1)
    _add(store, "gone", 2)
    _add(store, "ap", 3, "appeal_outcome")
    _add(store, "lift", 4, "review_decision", action="lift")
    _add(store, "review", 5, "review_decision", action="freeze")
    with store.begin():
        assert store.withdraw("gone", "ap", "d1") is True
        assert store.withdraw("gone", "ap", "d1") is False
    assert store.withdrawn() == {"gone"}
    assert _ids([e.payload for e in store.replay_of({"a"})]) == ["kept", "review"]


def test_account_events_with_kept_leave_out_withdrawn_events(store: Store) -> None:
    """`account_events` gives the account's events of the types asked, newest first (by time,
    then id), withdrawn ones too; with `kept`, only those that still count: the time-order
    re-deciding reads them, and a withdrawn event must not be decided again."""
    _add(store, "s1", 10)
    _add(store, "s2", 20)
    _add(store, "s3", 20)
    _add(store, "v", 30, "identity_verification", status="passed")
    _add(store, "other", 40, account="b")
    with store.begin():
        store.withdraw("s2", "ap", "d1")
    flags = ("rumor_flag",)
    assert _ids(store.account_events("a", flags, 10)) == ["s3", "s2", "s1"]
    assert _ids(store.account_events("a", flags, 10, kept=True)) == ["s3", "s1"]
    assert _ids(store.account_events("a", flags, 1, kept=True)) == ["s3"]
    both = ("rumor_flag", "identity_verification")
    assert _ids(store.account_events("a", both, 10, kept=True)) == ["v", "s3", "s1"]


def test_logged_events_lie_strictly_between_their_bounds(store: Store) -> None:
    """`logged_events` reads registrations and verifications only, after < time < before,
    by time then id."""
    for event_id, at_us in (("v0", 10), ("v2", 20), ("v1", 20), ("v3", 30)):
        _add(store, event_id, at_us, "identity_verification", status="passed")
    _add(store, "flag", 20)
    assert _ids(store.logged_events("a", 10, 30)) == ["v1", "v2"]
    assert _ids(store.logged_events("a", 9, 31)) == ["v0", "v1", "v2", "v3"]


def test_a_passed_verification_counts_from_the_same_moment(store: Store) -> None:
    """`passed_verification_since` is inclusive; a failed one, another account's or a
    withdrawn one is not it; a registration's own verification is."""
    _add(store, "failed", 20, "identity_verification", status="failed")
    _add(store, "other", 20, "identity_verification", account="b", status="passed")
    _add(store, "reg", 20, "registration", verification={"status": "passed"})
    assert store.passed_verification_since("a", 20) == PassedVerification("reg", 20)
    assert store.passed_verification_since("a", 21) is None
    with store.begin():
        store.withdraw("reg", "x", "d")
    assert store.passed_verification_since("a", 0) is None


def test_has_verification_reads_status_and_reason(store: Store) -> None:
    """A verification of a status, and with a reason only that reason."""
    _add(store, "v", 1, "identity_verification", status="failed", reason="forged_document")
    assert store.has_verification("a", "failed")
    assert store.has_verification("a", "failed", "forged_document")
    assert not store.has_verification("a", "failed", "name_id_mismatch")
    assert not store.has_verification("a", "passed")


def test_events_of_and_first_seen(store: Store) -> None:
    """`events_of` gives the stored events among the ids asked; `first_seen` per account its
    first registration (None: none) and first event."""
    _add(store, "r", 30, "registration")
    _add(store, "f", 10)
    _add(store, "b", 5, account="b")
    (found,) = store.events_of(["f", "unknown"])
    assert (found.event_id, found.account_id, found.type, found.occurred_us) == (
        "f",
        "a",
        "rumor_flag",
        10,
    )
    assert store.first_seen() == {"a": FirstSeen(30, 10), "b": FirstSeen(None, 5)}


def test_the_first_arrival_since_a_time_is_inclusive(store: Store) -> None:
    """`first_arrival_since`: where the first of the accounts' events at or after a time
    came, with its clock; None when none has."""
    _add(store, "old", 5)
    _add(store, "at", 10, clock_us=5)
    assert store.first_arrival_since({"a"}, 10) == Arrival(store.arrivals({"at"})["at"], 5)
    assert store.first_arrival_since({"a"}, 11) is None


def test_events_since_are_later_only_in_time_order(store: Store) -> None:
    """`events_since` reads events of the types asked strictly after the time, by time."""
    _add(store, "e3", 30)
    _add(store, "e1", 10)
    _add(store, "e2", 20, account="b")
    assert [
        (row.group, json.loads(row.payload)["event_id"])
        for row in store.events_since(("rumor_flag",), 10)
    ] == [("b", "e2"), ("a", "e3")]


def test_a_forgotten_event_is_gone(store: Store) -> None:
    """`forget_event` removes the event (a rejected one is forgotten again)."""
    _add(store, "e", 1)
    with store.begin():
        store.forget_event("e")
    assert store.stored_payload_of("e") is None
