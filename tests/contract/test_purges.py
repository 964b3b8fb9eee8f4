"""Contract: purges of the trail and of the history keep what they must, leave a trail that
verifies, and say what they did."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from blacklist_rules.model.events import to_micros
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import HistoryPurge
from blacklist_rules.stores.sqlite import PURGED

OLD = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000


def test_an_audit_purge_removes_a_prefix_and_the_rest_verifies(store: Store) -> None:
    """Records logged before the cut go, a checkpoint record is appended, the chain still
    verifies; a second purge finds nothing."""
    store.now = lambda: OLD
    with store.begin():
        store.audit("note", {"n": 1})
        store.audit("note", {"n": 2})
    store.now = lambda: NOW
    with store.begin():
        store.audit("note", {"n": 3})
    assert store.purge_audit(NOW - timedelta(days=200)) == (2, 3)
    assert [r.kind for r in store.audit_records()] == ["note", "audit_purged"]
    assert store.verify_audit().ok
    assert store.purge_audit(NOW - timedelta(days=200)) == (0, None)


def _add(store: Store, event_id: str, type_: str, at: datetime, **fields: object) -> None:
    payload = json.dumps(
        {
            "event_id": event_id,
            "type": type_,
            "account_id": "a",
            "occurred_at": at.isoformat(),
            **fields,
        }
    )
    with store.begin():
        store.add_event(event_id, "a", type_, to_micros(at), payload, None)


def test_a_history_purge_removes_old_events_and_reduces_registrations(store: Store) -> None:
    """Before the cut less the horizon: a flag is removed (a resend is known as purged), a
    registration keeps its declared fields only; the cut is remembered and recorded."""
    store.now = lambda: NOW
    store.note_horizon(DAY_US)
    _add(store, "flag", "rumor_flag", OLD, content_id="c", verdict="rumor", source="fact_check")
    _add(
        store, "reg", "registration", OLD, extra="x", identity={}, verification={"status": "passed"}
    )
    _add(store, "new", "rumor_flag", NOW, content_id="c", verdict="rumor", source="fact_check")
    cut = NOW - timedelta(days=200)
    assert store.purge_history(cut) == HistoryPurge(cut, 1, 1, cut - timedelta(days=1))
    assert store.stored_payload_of("flag") == PURGED
    assert "extra" not in (store.event_payload("reg") or {})
    assert store.event_payload("new") is not None
    assert store.history_cut_us == to_micros(cut)
    assert [r.kind for r in store.audit_records()] == ["history_purged"]
    assert store.purge_history(cut).removed == 0
