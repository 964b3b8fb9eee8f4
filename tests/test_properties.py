"""Invariants of the engine, checked with hypothesis over generated event streams."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, SQLiteStore, load_ruleset

from .strategies import (
    ACCOUNTS,
    event_lists,
    evidence_event,
    long_events,
    numbered,
    window_events,
)
from .support import T0, default_pack_with

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RULESET = load_ruleset()


def _engine(*, prefilter: bool = True) -> Engine:
    """A fresh in-memory engine over the default pack, compiled once for all examples."""
    return Engine(RULESET, SQLiteStore(), prefilter=prefilter)


def _replay(events: list[dict[str, Any]], *, prefilter: bool = True) -> tuple[Any, ...]:
    ordered = sorted(events, key=lambda e: str(e["occurred_at"]))
    with _engine(prefilter=prefilter) as engine:
        decisions = [
            (d.decision_id, d.account_id, d.action, d.rule_id, d.mode, d.status_after)
            for outcome in engine.run(ordered)
            for d in outcome.decisions
        ]
        return tuple(decisions), tuple(engine.status(a) for a in ACCOUNTS)


@SETTINGS
@given(event_lists)
def test_replaying_the_same_events_gives_the_same_decisions(events: list[dict[str, Any]]) -> None:
    """Two fresh engines over the same events decide identically, ids included."""
    assert _replay(events) == _replay(events)


@SETTINGS
@given(event_lists, st.data())
def test_a_duplicate_event_changes_nothing(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Re-sending events already processed changes no decision, status or audit record."""
    if not events:
        return
    picks = data.draw(st.lists(st.sampled_from(events), min_size=1, max_size=5))
    with _engine() as engine:
        list(engine.run(events))
        before = (tuple(engine.status(a) for a in ACCOUNTS), list(engine.audit_records()))
        again = list(engine.run([dict(e) for e in picks]))
        after = (tuple(engine.status(a) for a in ACCOUNTS), list(engine.audit_records()))
    assert all(o.duplicate and o.decisions == () for o in again)
    assert after == before


@SETTINGS
@given(event_lists, st.lists(evidence_event, min_size=1, max_size=5))
def test_more_evidence_never_gives_a_milder_final_status(
    events: list[dict[str, Any]], extra: list[dict[str, Any]]
) -> None:
    """Adding events that can only count against accounts never lowers any final status."""
    base = _replay(events)[1]
    more = _replay(events + numbered(extra, prefix="x"))[1]
    assert all(after.severity >= before.severity for before, after in zip(base, more, strict=True))


@SETTINGS
@given(event_lists)
def test_the_prefilter_never_changes_a_decision(events: list[dict[str, Any]]) -> None:
    """Posting every event to durable-rules decides exactly what the prefiltered engine does."""
    assert _replay(events, prefilter=True) == _replay(events, prefilter=False)


# --- history: windows are sets, restarts and pruning change nothing -------------------------

COUNT_RULE = """
id: freeze-flag-burst
version: 1
description: Any three rumour flags within two days freeze the account for ten days.
basis: Test basis.
on: rumor_flag
window: {count: 3, within: 2d}
then: {action: freeze, duration: 10d, reason: A burst of flags.}
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def _history_ruleset() -> Any:
    """The default pack plus a plain count rule (the pack's own windows count distinct values)."""
    with tempfile.TemporaryDirectory() as folder:
        return load_ruleset(default_pack_with(Path(folder) / "pack", burst=COUNT_RULE))


HISTORY_RULESET = _history_ruleset()


def _final_statuses(events: list[dict[str, Any]], until: datetime) -> tuple[str, ...]:
    with Engine(HISTORY_RULESET, SQLiteStore()) as engine:
        outcomes = list(engine.run(events))
        assert all(o.accepted for o in outcomes)
        engine.advance_to(until)
        return tuple(str(engine.status(a)) for a in ACCOUNTS)


@SETTINGS
@given(window_events, st.data(), st.integers(0, 60))
def test_count_and_distinct_windows_do_not_depend_on_arrival_order(
    events: list[dict[str, Any]], data: st.DataObject, extra_days: int
) -> None:
    """Any arrival order of the same window evidence ends in the same statuses as time order,
    at any final moment (inside or after the 30-day and 10-day freezes)."""
    ordered = sorted(events, key=lambda e: str(e["occurred_at"]))
    shuffled = data.draw(st.permutations(events))
    until = T0 + timedelta(days=170 + extra_days)
    assert _final_statuses(shuffled, until) == _final_statuses(ordered, until)


def _decisions(engine: Engine, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (d.decision_id, d.account_id, d.action, d.rule_id, d.effective_at, d.expires_at)
        for outcome in engine.run(events)
        for d in outcome.decisions
    ]


@SETTINGS
@given(long_events(400), st.integers(0, 40))
def test_two_runs_decide_what_one_run_decides(events: list[dict[str, Any]], split: int) -> None:
    """Processing a log in two engines over one db file gives the decisions, statuses and
    pending deadlines of one engine over the whole log."""
    ordered = sorted(events, key=lambda e: str(e["occurred_at"]))
    with tempfile.TemporaryDirectory() as folder:
        # 400 days from T0 reach 2027: no wall-clock bound (`max_lead=None`)
        one = SQLiteStore(Path(folder) / "one.db")
        with Engine(HISTORY_RULESET, one, max_lead=None) as engine:
            whole = _decisions(engine, ordered)
            expected = [engine.status(a) for a in ACCOUNTS], engine.store.deadlines_of("a")
        two = Path(folder) / "two.db"
        with Engine(HISTORY_RULESET, SQLiteStore(two), max_lead=None) as engine:
            first = _decisions(engine, ordered[:split])
        with Engine(HISTORY_RULESET, SQLiteStore(two), max_lead=None) as engine:
            second = _decisions(engine, ordered[split:])
            found = [engine.status(a) for a in ACCOUNTS], engine.store.deadlines_of("a")
    assert first + second == whole
    assert found == expected


@SETTINGS
@given(long_events(400, min_size=20), st.lists(st.integers(0, 220), min_size=60, max_size=60))
def test_pruning_never_changes_a_decision(events: list[dict[str, Any]], delays: list[int]) -> None:
    """Over 400 days of events, each arriving up to 220 days late (some beyond the 180-day
    horizon), an engine that prunes history decides exactly what one that keeps all does."""
    arrival = sorted(
        zip(events, delays, strict=False),
        key=lambda pair: datetime.fromisoformat(pair[0]["occurred_at"]) + timedelta(days=pair[1]),
    )
    ordered = [e for e, _ in arrival]
    results = []
    for prune in (True, False):
        store = SQLiteStore()  # 400 days from T0 reach 2027: no wall-clock bound
        with Engine(HISTORY_RULESET, store, prune=prune, commit_every=1, max_lead=None) as engine:
            results.append((_decisions(engine, ordered), [engine.status(a) for a in ACCOUNTS]))
    assert results[0] == results[1]
