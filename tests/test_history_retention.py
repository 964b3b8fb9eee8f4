"""Retention of event history (issue 6): a purge settles the history before its cut. Events from
before it are refused, the cascade re-evaluates nothing decided before it, events out of every
window's reach are removed, and what comes after the purge is decided as if nothing had been
purged."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, note, settings
from hypothesis import strategies as st

from blacklist_rules import (
    Engine,
    StoreError,
    dsa_statements,
    explain_decision,
    render_notice,
)
from blacklist_rules.cli import main
from blacklist_rules.model.events import utc_text
from blacklist_rules.stores.sqlite import PURGED

from .support import T0, event, sqlite_connection
from .test_cascade import (
    ACCOUNTS,
    BLACKLIST_RUMOURS,
    DAY,
    FREEZE_RUMOURS,
    LI,
    WANG,
    _at,
    _events,
    _feed,
    _report,
    _reversed,
    _strike,
    _verification,
    _world,
    only,
    overturn,
    registered,
    strike,
)

WALL = T0 + 1000 * DAY
"""The wall clock purges count the retention on, well after every event."""


def engine_at_wall(db: Path | str = ":memory:") -> Engine:
    engine = Engine.from_path(db=db)
    engine.store.now = lambda: WALL
    return engine


def payloads(engine: Engine) -> dict[str, dict[str, Any]]:
    rows = sqlite_connection(engine.store).execute("SELECT event_id, payload FROM events")
    return {str(row[0]): json.loads(row[1]) for row in rows}


def test_a_purge_removes_what_no_window_reaches_and_keeps_what_decisions_rest_on() -> None:
    """Cut at day 250, windows of 180 days: a lone strike from day 30 is removed (its id is
    kept, to know a resend), one from day 230 is kept whole (a window after the cut counts
    it). A registration and a verification from day 0 and 40 stay with only their declared
    fields; b's two strikes a freeze rests on stay whole. The purge is an audit record and
    the trail still verifies."""
    with engine_at_wall() as engine:
        engine.process(registered("b", 0 * DAY, "reg-b", WANG))
        engine.process({**strike("b", 10 * DAY, "s-ev1", "c3"), "url": "https://example.org/1"})
        (freeze,) = engine.process(strike("b", 20 * DAY, "s-ev2", "c4")).decisions
        engine.process({**registered("a", 0 * DAY, "reg", LI), "channel": "web"})
        engine.process(
            event("identity_verification", "a", 40 * DAY, "v", status="passed", note="desk 3")
        )
        engine.process(strike("a", 30 * DAY, "s-old", "c1"))
        engine.process(strike("a", 230 * DAY, "s-kept", "c2"))
        engine.advance_to(T0 + 430 * DAY)
        done = engine.store.purge_history(T0 + 250 * DAY)
        assert (done.cut, done.removed, done.reduced) == (T0 + 250 * DAY, 1, 2)
        assert done.kept_from == T0 + 70 * DAY
        kept = payloads(engine)
        assert sorted(kept) == ["reg", "reg-b", "s-ev1", "s-ev2", "s-kept", "v"]
        assert "channel" not in kept["reg"]
        assert kept["reg"]["verification"]["status"] == "passed"
        assert "identity_digest" in kept["reg"]  # written by the engine: kept
        assert "note" not in kept["v"]
        assert kept["v"]["status"] == "passed"
        assert kept["s-ev1"]["url"] == "https://example.org/1"  # evidence: kept whole
        assert kept["s-ev1"]["content_id"] == "c3"
        assert kept["s-kept"]["content_id"] == "c2"
        assert sorted(freeze.evidence) == ["s-ev1", "s-ev2"]
        assert engine.store.stored_payload_of("s-old") == PURGED
        (record,) = [r for r in engine.audit_records() if r.kind == "history_purged"]
        assert record.record == done.to_dict()
        assert engine.store.verify_audit().ok
        again = engine.store.purge_history(T0 + 200 * DAY)  # an older cut purges nothing
        assert (again.cut, again.removed, again.kept_from) == (T0 + 250 * DAY, 0, None)


def test_an_event_from_before_the_cut_is_refused_and_the_run_goes_on() -> None:
    """After the purge an event from before the cut is refused, with its field and why, and
    recorded; an event after the cut is processed as ever."""
    with engine_at_wall() as engine:
        engine.process(registered("a", 0 * DAY, "reg", LI))
        engine.advance_to(T0 + 430 * DAY)
        engine.store.purge_history(T0 + 250 * DAY)
        refused = engine.process(strike("a", 249 * DAY, "late", "c1")).rejection
        assert refused is not None
        assert refused.path == "occurred_at"
        assert "before the history cut 2026-11-06T08:00:00" in str(refused)
        assert [r.kind for r in engine.audit_records("a")][-1] == "rejected_event"
        assert engine.process(strike("a", 251 * DAY, "fine", "c1")).rejection is None


def test_the_cut_keeps_the_retention_on_event_time_too() -> None:
    """The wall clock allows a cut at day 800, but the last event is from day 430: history
    younger than 180 days of event time is kept, so the cut is day 250. A cut younger than the
    retention on the wall clock is refused."""
    with engine_at_wall() as engine:
        engine.process(registered("a", 430 * DAY, "reg", LI))
        with pytest.raises(StoreError, match="younger than 180 days are kept"):
            engine.store.purge_history(WALL - 10 * DAY)
        assert engine.store.purge_history(T0 + 800 * DAY).cut == T0 + 250 * DAY


def test_the_cascade_counts_what_the_cut_kept_and_leaves_what_it_settled() -> None:
    """Strikes on days 200, 300 and 350 (a freeze on the second, a blacklist on the third);
    the history before day 250 is purged. Overturning the freeze reverses the blacklist and
    brings back a freeze of strikes 1 and 3: the day-200 strike, kept for the windows after
    the cut, still counts. A freeze from day 20 (strikes on days 10 and 20, before the cut)
    is settled: it stays as it was."""
    with engine_at_wall() as engine:
        engine.process(registered("a", 0 * DAY, "reg", LI))
        engine.process(strike("a", 10 * DAY, "s0", "c0"))
        (old,) = engine.process(strike("a", 20 * DAY, "s00", "c00")).decisions
        engine.process(strike("a", 200 * DAY, "s1", "c1"))
        freeze = only(engine.process(strike("a", 300 * DAY, "s2", "c2")).decisions, FREEZE_RUMOURS)
        blacklist = only(
            engine.process(strike("a", 350 * DAY, "s3", "c3")).decisions, BLACKLIST_RUMOURS
        )
        engine.advance_to(T0 + 430 * DAY)
        assert engine.store.purge_history(T0 + 250 * DAY).removed == 0  # all rest a decision
        outcome = engine.process(overturn("a", 431 * DAY, "ap", freeze.decision_id))
        (again,) = outcome.decisions
        assert (again.rule_id, again.effective_at) == (FREEZE_RUMOURS, T0 + 350 * DAY)
        assert sorted(again.evidence) == ["s1", "s3"]
        assert _reversed(engine, blacklist.decision_id)
        assert not _reversed(engine, old.decision_id)
        kinds = [r.kind for r in engine.audit_records("a") if r.event_id == "ap"]
        assert "cascade_settled" not in kinds  # the freeze overturned is after the cut
        assert engine.status("a") == "active"
        assert not engine.is_blacklisted({"id_number": LI})
        assert engine.store.verify_audit().ok


def _appeal_of_a_later_blacklist(
    purged: bool, before: list[dict[str, Any]], after: list[dict[str, Any]], day: int = 287
) -> Engine:
    """b registers on day 0; the `before` events come, then a confirmed report on b from
    `day` (from the day-219 cut on) blacklists it, then the `after` events come (late: their
    decisions are pointless, b is blacklisted). Time moves to day 400, the history is purged
    or not, and the blacklist is overturned. The engine, open: the caller closes it."""
    engine = engine_at_wall()
    engine.process(registered("b", 0 * DAY, "reg", WANG))
    for item in before:
        engine.process(item)
    report = event("impersonation_report", "b", day * DAY, "rep", reporter_id="r1", confirmed=True)
    (blacklist,) = engine.process(report).decisions
    for item in after:
        assert engine.process(item).decisions == ()
    engine.advance_to(T0 + 400 * DAY)
    if purged:
        assert engine.store.purge_history(T0 + 219 * DAY).cut == T0 + 219 * DAY
    assert engine.process(overturn("b", 401 * DAY, "ap", blacklist.decision_id)).rejection is None
    return engine


@pytest.mark.parametrize("day", [219, 287])
@pytest.mark.parametrize("purged", [False, True])
def test_an_old_event_that_came_after_the_cut_is_kept_for_the_replay(
    purged: bool, day: int
) -> None:
    """A confirmed report from day 9 came after b's report from the cut (day 219) or after it:
    the blacklist it would take was pointless. When that one is overturned, the replay (from
    b's first event from the cut on) takes it, from day 9, purged or not: a purge keeps what
    came after the first event from the cut on, however old (it once removed it and b ended
    active). An unconfirmed report from day 8 that came just before is removed."""
    before = event("impersonation_report", "b", 8 * DAY, "ahead", reporter_id="r2", confirmed=False)
    late = event("impersonation_report", "b", 9 * DAY, "late", reporter_id="r2", confirmed=True)
    with _appeal_of_a_later_blacklist(purged, [before], [late], day) as engine:
        kept = payloads(engine)
        assert "late" in kept
        assert ("ahead" in kept) is not purged
        assert engine.status("b") == "blacklisted"
        standing = [(d.rule_id, d.effective_at) for d in engine.standing("b")]
        assert standing == [("blacklist-confirmed-impersonation", T0 + 9 * DAY)]


@pytest.mark.parametrize("purged", [False, True])
def test_the_purge_keeps_what_the_windows_of_late_events_count(purged: bool) -> None:
    """A strike from day 20 came before b's report from day 287, one from day 150 after it:
    two within 180 days, a freeze b's blacklist made pointless. Overturned, the replay freezes
    b from day 150 to day 180, purged or not: the late strike's window reaches back 180 days,
    and the purge keeps that far (day 20 lies before the cut minus the longest window)."""
    old, late = strike("b", 20 * DAY, "s-old", "c1"), strike("b", 150 * DAY, "s-late", "c2")
    with _appeal_of_a_later_blacklist(purged, [old], [late]) as engine:
        assert engine.status("b") == "active"
        (freeze,) = [d for d in engine.decisions("b") if not _reversed(engine, d.decision_id)]
        assert (freeze.rule_id, freeze.effective_at) == (FREEZE_RUMOURS, T0 + 150 * DAY)
        assert freeze.expires_at == T0 + 180 * DAY
        assert sorted(freeze.evidence) == ["s-late", "s-old"]


def test_the_purge_keeps_the_longest_window_before_the_oldest_late_event() -> None:
    """A strike from day 150 came after the first event from the cut on (day 287): the purge
    keeps from 180 days before it, day -30. Of lone strikes that came first, the one exactly
    then and one a microsecond later are kept, one a microsecond earlier removed. A strike from
    day 30 that came late too is kept (it came after), but moves nothing: it was too late to
    count in any window (more than 180 days behind the clock)."""
    edge = -30 * DAY
    tick = timedelta(microseconds=1)
    with engine_at_wall() as engine:
        for account, at in (("x", edge - tick), ("y", edge), ("z", edge + tick)):
            engine.process(strike(account, at, f"s-{account}", "c1"))
        engine.process(
            event("impersonation_report", "b", 287 * DAY, "rep", reporter_id="r1", confirmed=False)
        )
        engine.process(strike("b", 150 * DAY, "s-late", "c2"))
        engine.process(strike("w", 30 * DAY, "s-w", "c3"))
        engine.advance_to(T0 + 400 * DAY)
        done = engine.store.purge_history(T0 + 219 * DAY)
        assert (done.kept_from, done.removed) == (T0 + edge, 1)
        assert sorted(payloads(engine)) == ["rep", "s-late", "s-w", "s-y", "s-z"]


@pytest.mark.parametrize("purged", [False, True])
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_strike_too_late_to_count_stays_uncounted_in_a_replay_from_the_cut(
    purged: bool, offset: int
) -> None:
    """b's strike from day 195 (a microsecond before, at, after) comes at clock 375, the
    horizon (180 days) behind; strikes from days 373 and 199 (other content) follow. Their
    day-373 freeze overturned, purged at day 198 or not, the day-199 freeze stands when the
    first strike counted, not when it came too late (a replay from the cut once counted it)."""
    at = 195 * DAY + offset * timedelta(microseconds=1)
    with engine_at_wall() as engine:
        engine.process(registered("b", 0 * DAY, "reg", WANG))
        engine.advance_to(T0 + 375 * DAY)
        for item in (strike("b", at, "s0", "c1"), strike("b", 373 * DAY, "s1", "c1")):
            engine.process(item)
        engine.process(strike("b", 199 * DAY, "s2", "c2"))
        engine.advance_to(T0 + 400 * DAY)
        if purged:
            assert engine.store.purge_history(T0 + 198 * DAY).removed == 0
        (chosen,) = [d for d in engine.decisions("b") if d.effective_at == T0 + 373 * DAY]
        assert engine.process(overturn("b", 401 * DAY, "ap", chosen.decision_id)).rejection is None
        kept = [d for d in engine.decisions("b") if not _reversed(engine, d.decision_id)]
        freeze = [(FREEZE_RUMOURS, T0 + 199 * DAY, T0 + 229 * DAY)]
        assert [(d.rule_id, d.effective_at, d.expires_at) for d in kept] == freeze[: offset + 1]


# --- the property: a purge changes nothing of what comes after it ---------------------------
def _spread(items: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """The cascade tests' events, over 400 days instead of 200."""
    return items.map(lambda item: {**item, "day": item["day"] * 2 - 1})


_late = st.fixed_dictionaries({"type": st.just("advance"), "day": st.integers(1, 400)})
_strike2, _report2, _verification2 = (_spread(s) for s in (_strike, _report, _verification))


def _passed(account: str, day: int) -> dict[str, Any]:
    return {
        "type": "identity_verification",
        "account_id": account,
        "day": day,
        "status": "passed",
        "reason": "name_id_mismatch",
    }


def _rumour(account: str, day: int) -> dict[str, Any]:
    return {
        "type": "rumor_flag",
        "account_id": account,
        "day": day,
        "content_id": "c1",
        "verdict": "malicious_rumor",
        "source": "fact_check",
    }


def _reported(
    account: str, day: int, reporter: str = "r1", confirmed: bool = True
) -> dict[str, Any]:
    return {
        "type": "impersonation_report",
        "account_id": account,
        "day": day,
        "reporter_id": reporter,
        "confirmed": confirmed,
    }


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@example(  # a's day-157 failure came when the clock was past its day-172 deadline, which fired
    # at once: the cancel (day 172) lies after the cut, the deadline was seeded as fired, and
    # the replay after the appeal lost the cancel
    first=[
        *({"type": "advance", "day": day} for day in (251, 1, 1, 1)),  # ids past e0-e3
        {"type": "identity_verification", "account_id": "a", "day": 157, "status": "failed"},
        _reported("a", 171),
    ],
    then=[],
    cut_day=166,
    pick=0,
)
@example(  # b's report from day 9 came after its day-287 one: the purge once removed it
    first=[
        _passed("a", 281),
        _passed("a", 5),
        _rumour("a", 97),
        _reported("a", 371),
        _reported("a", 389),
        _rumour("a", 121),
        _reported("b", 287),
        {"type": "advance", "day": 93},
        _reported("a", 99, confirmed=False),
        _rumour("a", 397),
        {"type": "advance", "day": 180},
        _reported("b", 9),
        _reported("a", 71, confirmed=False),
        {"type": "advance", "day": 198},
    ],
    then=[
        _reported("a", 235),
        _reported("b", 17, "r2"),
        _reported("a", 143, "r3"),
        _reported("c", 361, "r3"),
        _reported("c", 361),
    ],
    cut_day=219,
    pick=1000,
)
@example(  # e0-e3 are the registrations' ids: the first four are refused. b's day-37 strike came
    # at clock 375, too late to count; its day-199 strike (c2) came later. The replay after the
    # appeal, seeded at the cut, once filled b's stream from the log back to the horizon and
    # counted the day-37 strike the live engine never did: a freeze from day 199 appeared
    first=[
        {"type": "advance", "day": 210},
        _reported("a", 239),
        _rumour("a", 285),
        _reported("a", 3, confirmed=False),
        _reported("d", 265),
        _reported("a", 375, confirmed=False),
        _reported("a", 23, confirmed=False),
        _rumour("a", 189),
        _rumour("b", 37),
        _rumour("b", 373),
        _reported("a", 1, confirmed=False),
        _rumour("a", 1),
        {"type": "advance", "day": 1},
        {**_rumour("b", 199), "content_id": "c2"},
    ],
    then=[],
    cut_day=58,
    pick=0,
)
@given(
    first=st.lists(
        st.one_of(_strike2, _strike2, _report2, _verification2, _late), min_size=1, max_size=14
    ),
    then=st.lists(st.one_of(_strike2, _report2, _verification2), max_size=5),
    cut_day=st.integers(1, 220),
    pick=st.integers(0, 1000),
)
def test_a_purge_changes_nothing_that_comes_after_it(
    first: list[dict[str, Any]], then: list[dict[str, Any]], cut_day: int, pick: int
) -> None:
    """Two engines get the same events (late ones too, from before the cut after some from
    after it), time moves to day 400, one purges the history before the cut; both get more
    events from after the cut and an appeal that overturns a decision taken after it. Both
    end the same: statuses, every decision standing or ended, blacklist entries."""
    cut = T0 + cut_day * DAY
    events = _events([{"type": "registration", "account_id": a, "day": 0} for a in ACCOUNTS])
    more = [
        {**item, "event_id": f"m{index}"}
        for index, item in enumerate(_events(then))
        if _at(item) >= cut
    ]
    worlds = []
    for purged in (False, True):
        with engine_at_wall() as engine:
            for item in [*events, *_events(first)]:
                _feed(engine, item)
            engine.advance_to(T0 + 400 * DAY)  # (events after it are late)
            if purged:
                done = engine.store.purge_history(cut)
                note(f"purged: {done}")
            for item in more:
                assert engine.process(item).rejection is None
            candidates = [
                d
                for account in ACCOUNTS
                for d in engine.decisions(account)
                if d.mode == "enforce"
                and d.rule_id != "human-review"
                and d.effective_at >= cut
                and not _reversed(engine, d.decision_id)
            ]
            assume(candidates)
            # Half the time the earliest: the appeal then reaches everything after the cut.
            chosen = (
                min(candidates, key=lambda d: d.effective_at)
                if pick % 2
                else candidates[pick % len(candidates)]
            )
            appeal = overturn(chosen.account_id, 401 * DAY, "appeal", chosen.decision_id)
            assert engine.process(appeal).rejection is None
            worlds.append(_world(engine))
            assert engine.store.verify_audit().ok
    assert worlds[0] == worlds[1]


# --- through the command line -----------------------------------------------------------------
def test_audit_purge_settles_the_history_and_run_refuses_what_came_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit purge --before` cuts the history too and says what it did; a later `run` over a
    log with an event from before the cut reports it rejected, with its line, and goes on.
    (The wall clock is today's: the cut lies before 2026-06-01, and the events before it.)"""
    db = tmp_path / "h.db"
    log = tmp_path / "old.jsonl"
    old = [registered("a", -200 * DAY, "reg", LI), strike("a", -150 * DAY, "s1", "c1")]
    old.append(strike("a", 240 * DAY, "s2", "c2"))
    log.write_text("".join(json.dumps(item) + "\n" for item in old), encoding="utf-8")
    assert main(["run", str(log), "--db", str(db)]) == 0
    assert main(["audit", "purge", "--before", utc_text(T0 + 60 * DAY), str(db)]) == 0
    out = capsys.readouterr().out
    assert "event history: settled before 2026-04-30T08:00:00+00:00" in out
    assert "removed 1 events from before" in out
    with sqlite3.connect(db) as connection:
        ids = {row[0] for row in connection.execute("SELECT event_id FROM events")}
    assert ids == {"reg", "s2"}
    new = tmp_path / "new.jsonl"
    later = [strike("a", 30 * DAY, "s-late", "c3"), strike("a", 245 * DAY, "s3", "c4")]
    new.write_text("".join(json.dumps(item) + "\n" for item in later), encoding="utf-8")
    assert main(["run", str(new), "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert f"{new}:1: rejected: occurred_at: occurred before the history cut" in captured.err
    decided = [json.loads(line) for line in captured.out.splitlines()]
    assert [(d["rule_id"], d["evidence"]) for d in decided] == [(FREEZE_RUMOURS, ["s2", "s3"])]
    assert main(["audit", "verify", str(db)]) == 0
    assert main(["run", "--strict", str(log), "--db", str(db)]) == 0  # the first log again
    assert "0 accepted, 3 duplicates (ignored), 0 rejected" in capsys.readouterr().err


# --- what a review found: each scenario ends alike with and without the purge ---------------
def _review(account: str, day: int, event_id: str) -> dict[str, Any]:
    return event(
        "review_decision",
        account,
        day * DAY,
        event_id,
        reviewer_id="r",
        action="freeze",
        reason="x",
    )


def _failed(account: str, day: int, event_id: str) -> dict[str, Any]:
    return event(
        "identity_verification",
        account,
        day * DAY,
        event_id,
        status="failed",
        reason="name_id_mismatch",
    )


_REPORT = {"reporter_id": "r1", "confirmed": True}
SCENARIOS = {
    # An identity blacklisted before the cut registers again after it; that blacklist appealed.
    "re-registration after the cut": (
        [
            registered("a", 0 * DAY, "reg-a", LI),
            event("impersonation_report", "a", 100 * DAY, "rep-a", **_REPORT),
            registered("b", 300 * DAY, "reg-b", LI),
        ],
        ("b", "blacklist-returning-identity"),
        250,
    ),
    # A late report blacklisted a before the cut and caught c's earlier registration.
    "a catch-up before the cut": (
        [
            registered("a", 0 * DAY, "reg-a", LI),
            registered("c", 150 * DAY, "reg-c", LI),
            event("impersonation_report", "a", 100 * DAY, "rep-a", **_REPORT),
            _review("a", 300, "rv"),
        ],
        ("a", "human-review"),
        250,
    ),
    # A freeze 200 days late started no 15-day deadline: the replay starts none either.
    "a deadline never started": (
        [registered("a", 0 * DAY, "reg-a", LI), _review("a", 300, "rv"), _failed("a", 100, "v")],
        ("a", "human-review"),
        110,
    ),
    # A report from before the cut came after events from after it.
    "late across the cut": (
        [
            registered("a", 0 * DAY, "reg-a", LI),
            _review("a", 260, "rv"),
            _failed("a", 262, "v"),
            {"advance": utc_text(T0 + 280 * DAY)},
            event("impersonation_report", "a", 245 * DAY, "rep", **_REPORT),
        ],
        ("a", "human-review"),
        250,
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_what_the_review_found_ends_alike_purged_or_not(name: str) -> None:
    """Each scenario, then time to day 430, a purge in one engine, and an appeal of the
    named account's decision of the named rule: both engines end alike, and the appeal is
    applied (it once failed, or reversed settled decisions, or cancelled an account)."""
    items, (account, rule_id), cut_day = SCENARIOS[name]
    worlds = []
    for purged in (False, True):
        with engine_at_wall() as engine:
            for item in items:
                _feed(engine, item)
            engine.advance_to(T0 + 430 * DAY)
            if purged:
                engine.store.purge_history(T0 + cut_day * DAY)
            (chosen,) = [d for d in engine.decisions(account) if d.rule_id == rule_id]
            outcome = engine.process(overturn(account, 431 * DAY, "ap", chosen.decision_id))
            assert outcome.rejection is None
            assert outcome.failure is None
            worlds.append(_world(engine))
    assert worlds[0] == worlds[1]


def test_notices_and_statements_of_reasons_do_not_change_with_a_purge() -> None:
    """The evidence of decisions and persons' reviews stay whole: every DSA statement, notice
    and explanation reads the same after the purge (a statement once filed must not
    change)."""
    with engine_at_wall() as engine:
        engine.process(registered("a", 0 * DAY, "reg", LI))
        engine.process({**strike("a", 10 * DAY, "s1", "c1"), "url": "https://example.org"})
        engine.process(strike("a", 20 * DAY, "s2", "c2"))
        review = {**_review("b", 30, "rv"), "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"}
        (freeze,) = engine.process(review).decisions
        lift = {**_review("b", 40, "lift"), "action": "lift", "decision_id": freeze.decision_id}
        engine.process(lift)
        engine.advance_to(T0 + 430 * DAY)
        ids = [d.decision_id for a in ("a", "b") for d in engine.decisions(a)]

        def told() -> tuple[Any, ...]:
            notices = [
                render_notice(engine.store, i, lang=lang).text for i in ids for lang in ("en", "zh")
            ]
            explained = [explain_decision(engine, i) for i in ids]
            return dsa_statements(engine.store), notices, explained

        before = told()
        assert engine.store.purge_history(T0 + 250 * DAY).removed == 0
        assert told() == before


def test_an_appeal_of_a_settled_decision_says_its_cascade_stops_at_the_cut() -> None:
    """The day-20 freeze (before the cut) is overturned after a purge: it is reversed, and a
    `cascade_settled` record says what followed before the cut was not re-evaluated."""
    with engine_at_wall() as engine:
        engine.process(registered("a", 0 * DAY, "reg", LI))
        engine.process(strike("a", 10 * DAY, "s0", "c0"))
        (old,) = engine.process(strike("a", 20 * DAY, "s1", "c1")).decisions
        engine.advance_to(T0 + 430 * DAY)
        engine.store.purge_history(T0 + 250 * DAY)
        outcome = engine.process(overturn("a", 431 * DAY, "ap", old.decision_id))
        assert [r.decision_id for r in outcome.reversals] == [old.decision_id]
        (record,) = [r.record for r in engine.audit_records("a") if r.kind == "cascade_settled"]
        assert record == {
            "by_event": "ap",
            "cascade_of": [old.decision_id],
            "history_cut": utc_text(T0 + 250 * DAY),
        }
