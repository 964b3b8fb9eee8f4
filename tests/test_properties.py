"""Invariants of the engine, checked with hypothesis over generated event streams."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, SQLiteStore, load_ruleset

from .strategies import ACCOUNTS, event_lists, evidence_event, numbered

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
