"""Retention periods and purge cuts at their edges, through `SQLiteStore` itself.

Written for the mutants of the retention methods of the SQLite store (`retention`, `set_retention`,
`_purge_cut`, `purge_history`) that the retention and audit tests let through (see
bench/README.md, "Mutation testing").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from blacklist_rules import StoreError
from blacklist_rules.model.events import to_micros
from blacklist_rules.stores.records import HistoryPurge
from blacklist_rules.stores.sqlite import RETENTION_FLOOR, SQLiteStore

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)


def _store() -> SQLiteStore:
    store = SQLiteStore(":memory:")
    store.now = lambda: NOW
    return store


def test_without_a_configured_retention_the_floor_applies() -> None:
    """No period set: 180 days, and the store says it is the default."""
    store = _store()
    assert store.retention() == RETENTION_FLOOR == 180 * DAY
    assert store.retention_is_default()


def test_a_retention_of_exactly_the_floor_is_accepted_and_audited() -> None:
    """180 days is allowed (it is then configured, not the default); the change is an audit
    record with the period before it."""
    store = _store()
    store.set_retention(180 * DAY)
    assert store.retention() == 180 * DAY
    assert not store.retention_is_default()
    store.set_retention(400 * DAY)
    assert store.retention() == 400 * DAY
    records = [r for r in store.audit_records() if r.kind == "retention_set"]
    assert [r.record for r in records] == [
        {"days": 180, "previous_days": 180},
        {"days": 400, "previous_days": 180},
    ]


def test_a_retention_a_day_under_the_floor_is_refused_and_changes_nothing() -> None:
    """179 days: refused, naming the floor; the retention stays as it was, nothing audited."""
    store = _store()
    with pytest.raises(StoreError) as caught:
        store.set_retention(179 * DAY)
    assert str(caught.value) == (
        "a retention of 179 days is under the legal floor for logs: at least 180 days"
    )
    assert store.retention_is_default()
    assert list(store.audit_records()) == []


def test_a_retention_of_days_and_a_second_is_refused() -> None:
    """Whole days only: 400 days and one second is not rounded."""
    store = _store()
    with pytest.raises(StoreError, match=r"^a retention is whole days: 400 days, 0:00:01 is not$"):
        store.set_retention(400 * DAY + timedelta(seconds=1))
    assert store.retention_is_default()


def test_a_cut_defaults_to_the_retention_ago() -> None:
    """No `before`: the cut is now minus the retention, configured or the floor."""
    store = _store()
    assert store._purge_cut(None, "records") == NOW - 180 * DAY
    store.set_retention(400 * DAY)
    assert store._purge_cut(None, "records") == NOW - 400 * DAY


def test_a_cut_exactly_the_retention_ago_is_allowed_a_microsecond_later_is_not() -> None:
    """The limit itself is allowed; a µs younger is refused, naming the floor and the latest
    cut allowed to the second."""
    store = _store()
    limit = NOW - 180 * DAY
    assert store._purge_cut(limit, "records") == limit
    assert store._purge_cut(limit - US, "records") == limit - US
    with pytest.raises(StoreError) as caught:
        store._purge_cut(limit + US, "audit records")
    assert str(caught.value) == (
        "audit records younger than 180 days are kept (the legal floor for logs): "
        "purge before 2025-12-03T00:00:00+00:00 at the latest"
    )


def test_a_refused_cut_under_a_configured_retention_says_so() -> None:
    """With 400 days configured the message names that period, "as configured"."""
    store = _store()
    store.set_retention(400 * DAY)
    with pytest.raises(StoreError, match=r"kept \(as configured\): purge before 2025-04-27T"):
        store._purge_cut(NOW - 399 * DAY, "event history")


def test_a_history_purge_cuts_at_the_retention_before_the_event_clock_too() -> None:
    """The cut is the earlier of the wall clock and the event clock, each less the retention;
    what windows reach before it (the horizon) is kept; purging again at the same cut or an
    earlier one does nothing."""
    store = _store()
    store.note_horizon(2 * 86_400_000_000)
    store.set_meta("clock", (NOW - 10 * DAY).isoformat())
    done = store.purge_history()
    cut = NOW - 10 * DAY - 180 * DAY
    assert done == HistoryPurge(cut, 0, 0, cut - 2 * DAY)
    assert store.history_cut_us == to_micros(cut)
    assert store.purge_history() == HistoryPurge(cut, 0, 0, None)
    assert store.purge_history(cut - DAY) == HistoryPurge(cut, 0, 0, None)
    assert store.purge_history(cut + DAY) == HistoryPurge(cut, 0, 0, None)  # the event clock


def test_a_history_purge_too_young_names_the_event_history() -> None:
    """A history cut under the retention is refused in the words of what is kept."""
    store = _store()
    store.note_horizon(2 * 86_400_000_000)
    with pytest.raises(StoreError) as caught:
        store.purge_history(NOW - 179 * DAY)
    assert str(caught.value) == (
        "event history younger than 180 days are kept (the legal floor for logs): "
        "purge before 2025-12-03T00:00:00+00:00 at the latest"
    )


def test_a_history_purge_without_a_recorded_horizon_says_how_to_get_one() -> None:
    """A db that never noted how far back its rules reach cannot be purged blind."""
    store = _store()
    with pytest.raises(StoreError) as caught:
        store.purge_history(NOW - 400 * DAY)
    assert str(caught.value) == (
        f"{store.path}: how far back this db's rules reach is not recorded (it was written "
        "before history purges were): open it with an Engine of its rules first "
        "(`audit purge` does, with its --rules)"
    )


@pytest.mark.parametrize("purged_before", [False, True], ids=["first purge", "second purge"])
def test_a_purge_that_fails_leaves_the_cut_as_it_was(
    monkeypatch: pytest.MonkeyPatch, purged_before: bool
) -> None:
    """A purge that fails at its last step (the audit record) rolls back, and the store's cut
    is read back as it was: the earlier purge's, or none (not a cut of 1 µs)."""
    store = _store()
    store.note_horizon(2 * 86_400_000_000)
    store.set_meta("clock", (NOW - 10 * DAY).isoformat())
    first = NOW - 400 * DAY
    if purged_before:
        store.purge_history(first)
    before = to_micros(first) if purged_before else None

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(store, "audit", refuse)
        with pytest.raises(RuntimeError, match="disk full"):
            store.purge_history()
    assert store.history_cut_us == before
    assert store.meta("history_cut_us") == (str(before) if purged_before else None)
