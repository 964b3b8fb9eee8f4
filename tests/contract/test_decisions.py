"""Contract: decisions are added once, then ended or reversed; what stands, what expires and
what a cascade may replace keep their time bounds exactly (decision times are UTC text)."""

from __future__ import annotations

import pytest

from blacklist_rules import StoreError
from blacklist_rules.model.decisions import DecisionRecord
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import AccountStatus, Expiry, StoredDecision, Veto
from tests.support import decision_record

T1, T2, T3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"


def _decide(
    store: Store,
    decision_id: str,
    at: str,
    *,
    expires: str | None = None,
    mode: str = "enforce",
    action: str = "freeze",
    rule: str = "r",
    end_condition: str | None = None,
    event_id: str = "e",
) -> DecisionRecord:
    record = decision_record(
        decision_id,
        "a",
        at,
        action=action,
        mode=mode,
        rule_id=rule,
        end_condition=end_condition,
        evidence=(event_id,),
    )
    with store.begin():
        store.add_decision(record, event_id, at, expires)
    return record


def _ids(rows: list[StoredDecision]) -> list[str]:
    return [row.decision.decision_id for row in rows]


def test_a_decision_reads_back_with_its_end_and_reversal(store: Store) -> None:
    """`decision` gives the record as stored, not ended, not reversed; None for an unknown
    id. A second decision of the same id is refused."""
    record = _decide(store, "d1", T1)
    assert store.decision("d1") == StoredDecision(record, None, None)
    assert store.decision("nope") is None
    with pytest.raises(StoreError):
        _decide(store, "d1", T2)


def test_standing_leaves_out_shadow_reversed_ended_and_expired(store: Store) -> None:
    """A freeze stands while the clock is before its end (at its end it no longer does);
    `decided_by` keeps those taken at or before that time; oldest first."""
    _decide(store, "later", T2)
    _decide(store, "freeze", T1, expires=T2)
    _decide(store, "shadow", T1, mode="shadow")
    _decide(store, "reversed", T1)
    _decide(store, "ended", T1)
    with store.begin():
        store.reverse_decision("reversed", "ap", "appeal_outcome")
        store.end_decision("ended", T1)
    assert _ids(store.standing("a", T1)) == ["freeze", "later"]
    assert _ids(store.standing("a", T2)) == ["later"]
    assert _ids(store.standing("a", None)) == ["freeze", "later"]
    assert _ids(store.standing("a", T1, decided_by=T1)) == ["freeze"]
    ended = store.decision("ended")
    assert ended is not None
    assert (ended.ended_at, ended.reversed_by) == (T1, None)


def test_expire_ends_freezes_at_their_end_once(store: Store) -> None:
    """`expire(clock)` ends each standing freeze whose end is at or before the clock, in
    end order, and says which; a second call finds none; the end is an audit record."""
    _decide(store, "f2", T1, expires=T3)
    _decide(store, "f1", T1, expires=T2)
    _decide(store, "open", T1)
    assert store.next_expiry() == T2
    with store.begin():
        assert store.expire(T2) == [Expiry("a", "f1", T2)]
        assert store.expire(T2) == []
    found = store.decision("f1")
    assert found is not None
    assert found.ended_at == T2
    assert store.next_expiry() == T3
    assert [r.kind for r in store.audit_records("a")] == ["decision_ended"]


def test_end_decisions_ends_only_what_waits_for_that_condition_by_then(store: Store) -> None:
    """A passed verification at T2 ends the freezes waiting for it decided at or before T2,
    never one decided later."""
    _decide(store, "waits", T2, end_condition="verification_passed")
    _decide(store, "after", T3, end_condition="verification_passed")
    _decide(store, "other", T1, end_condition="something_else")
    with store.begin():
        assert store.end_decisions("a", "verification_passed", T2) == ["waits"]
    assert _ids(store.standing("a", None)) == ["other", "after"]


def test_a_reversal_says_how_and_leaves_what_a_cascade_may_replace(store: Store) -> None:
    """A reversed decision tells how; `taken_of` gives the decisions not reversed, in the
    order taken, with the event being processed; vetoes hold only persons' reversals."""
    _decide(store, "by_person", T1, event_id="e1")
    _decide(store, "by_cascade", T1, rule="r2", event_id="e2")
    _decide(store, "kept", T2, event_id="e3")
    with store.begin():
        store.reverse_decision("by_person", "ap", "appeal_outcome")
        store.reverse_decision("by_cascade", "ap", "cascade")
    assert store.reversal_kind("by_person") == "appeal_outcome"
    assert store.reversal_kind("by_cascade") == "cascade"
    assert store.reversal_kind("kept") is None
    assert [(t.decision.decision_id, t.event_id) for t in store.taken_of({"a"})] == [("kept", "e3")]
    assert store.vetoed() == {Veto("a", "r", T1): {"e1"}}
    assert store.vetoed(["by_cascade"]) == {}
    assert store.recorded_by(["kept", "nope"]) == {"kept": "e3"}


def test_statuses_are_replaced_and_only_flagged_ones_listed(store: Store) -> None:
    """`set_status` replaces an account's status; `flagged` lists those not `active`."""
    with store.begin():
        store.set_status("a", "frozen")
        store.set_status("b", "frozen")
        store.set_status("b", "active")
    assert store.flagged() == [AccountStatus("a", "frozen")]


def test_a_freeze_is_covered_by_one_of_the_same_rule_that_lasts_as_long(store: Store) -> None:
    """`covered`: a standing decision of the same rule and mode from no later, ending no
    earlier (None: never), covers the freeze asked about."""
    _decide(store, "d", T1, expires=T2)
    assert store.covered("a", "r", "enforce", T1, T2)
    assert not store.covered("a", "r", "enforce", T1, T3)
    assert not store.covered("a", "r", "enforce", T1, None)
    assert not store.covered("a", "r", "shadow", T1, T2)
    assert not store.covered("a", "r", "enforce", "2025-12-31T00:00:00Z", T2)
