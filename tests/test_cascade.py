"""The reversal cascade (issue 6): an overturned or lifted decision takes with it every automatic
decision that depended on it, unless other evidence still supports it; what the reversed
decision had made pointless is decided after all. Each reversal is its own linked record."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, note, settings
from hypothesis import strategies as st

from blacklist_rules import Decision, Engine, SQLiteStore, dsa_statements, render_notice
from blacklist_rules.cli import main
from blacklist_rules.model.events import to_micros, utc_text
from blacklist_rules.stores.records import LoggedEvent
from blacklist_rules.stores.sqlite import SCHEMA_VERSION

from .support import T0, event
from .test_dsa import assert_valid_statement

DAY = timedelta(days=1)
LI = "360426199101010071"
WANG = "31010419900101002X"
PHONE = "13800138000"
FREEZE_RUMOURS = "freeze-repeated-malicious-rumours"
BLACKLIST_RUMOURS = "blacklist-repeated-malicious-rumours"


def registered(account: str, at: timedelta, event_id: str, id_number: str) -> dict[str, Any]:
    identity = {"id_number": id_number}
    return event(
        "registration",
        account,
        at,
        event_id,
        identity=identity,
        verification={"status": "passed"},
    )


def strike(account: str, at: timedelta, event_id: str, content: str) -> dict[str, Any]:
    return event(
        "rumor_flag",
        account,
        at,
        event_id,
        content_id=content,
        verdict="malicious_rumor",
        source="fact_check",
    )


def overturn(account: str, at: timedelta, event_id: str, decision_id: str) -> dict[str, Any]:
    return event(
        "appeal_outcome",
        account,
        at,
        event_id,
        decision_id=decision_id,
        outcome="overturned",
        reviewer_id="rev-1",
        reason="the second post was satire",
    )


def only(decisions: tuple[Decision, ...], rule_id: str) -> Decision:
    (found,) = [d for d in decisions if d.rule_id == rule_id and d.mode == "enforce"]
    return found


def three_strikes(engine: Engine, *more: dict[str, Any]) -> tuple[str, str]:
    """zhang registers (verified), then three fact-checked malicious rumours on days 1, 10 and
    20: a freeze on the second, a blacklist on the third. The two decisions' ids."""
    engine.process(registered("zhang", 0 * DAY, "reg", LI))
    engine.process(strike("zhang", 1 * DAY, "s1", "c1"))
    freeze = only(engine.process(strike("zhang", 10 * DAY, "s2", "c2")).decisions, FREEZE_RUMOURS)
    blacklist = only(
        engine.process(strike("zhang", 20 * DAY, "s3", "c3")).decisions, BLACKLIST_RUMOURS
    )
    for item in more:
        engine.process(item)
    assert engine.status("zhang") == "blacklisted"
    assert engine.is_blacklisted({"id_number": LI})
    return freeze.decision_id, blacklist.decision_id


def test_an_overturned_second_strike_takes_the_blacklist_that_counted_it(engine: Engine) -> None:
    """The worked example: the freeze of strike 2 is overturned on day 25. Strike 2 stops
    counting, so the blacklist of strike 3 (which counted it) is reversed too and the identity
    leaves the blacklist; strikes 1 and 3 are still two within 180 days, so a 30-day freeze
    from day 20 is decided in its place (the blacklist had made it pointless)."""
    freeze_id, blacklist_id = three_strikes(engine)
    outcome = engine.process(overturn("zhang", 25 * DAY, "ap1", freeze_id))

    assert engine.status("zhang") == "frozen"
    assert not engine.is_blacklisted({"id_number": LI})
    (again,) = outcome.decisions
    assert (again.rule_id, again.action, again.effective_at) == (
        FREEZE_RUMOURS,
        "freeze",
        T0 + 20 * DAY,
    )
    assert again.expires_at == T0 + 50 * DAY
    assert set(again.evidence) == {"s1", "s3"}
    assert [c.status_after for c in outcome.status_changes] == ["frozen"]

    records = [r for r in engine.audit_records("zhang") if r.event_id == "ap1"]
    kinds = [r.kind for r in records]
    assert kinds[:3] == ["reversal", "evidence_withdrawn", "reversal"]
    person, withdrawn, fell = (r.record for r in records[:3])
    assert (person["decision_id"], person["by"]) == (freeze_id, "appeal_outcome")
    assert withdrawn == {"event_id": "s2", "decision_id": freeze_id, "by_event": "ap1"}
    assert fell["decision_id"] == blacklist_id
    assert (fell["by"], fell["by_event"], fell["cascade_of"]) == ("cascade", "ap1", [freeze_id])
    (decided,) = [r.record for r in records if r.kind == "decision"]
    assert decided["re_evaluated"]["cascade_of"] == [freeze_id]
    assert decided["re_evaluated"]["decided_at"] == records[0].occurred_at  # the appeal's time
    removed = [r.record for r in records if r.kind == "blacklist_entry_removed"]
    assert [(r["decision_id"], r["void_from_start"]) for r in removed] == [(blacklist_id, True)]
    assert engine.store.verify_audit().ok  # the chain holds every new record

    # Once the re-evaluated freeze is over, the account is active again.
    engine.advance_to(T0 + 51 * DAY)
    assert engine.status("zhang") == "active"


def test_other_evidence_still_supports_a_blacklist(engine: Engine) -> None:
    """A fourth strike on day 22: without strike 2 there are still three (1, 3, 4) within 180
    days, so the account stays blacklisted, now from day 22, and the identity stays listed."""
    freeze_id, blacklist_id = three_strikes(engine, strike("zhang", 22 * DAY, "s4", "c4"))
    outcome = engine.process(overturn("zhang", 25 * DAY, "ap1", freeze_id))

    assert engine.status("zhang") == "blacklisted"
    assert engine.is_blacklisted({"id_number": LI})
    assert not engine.is_blacklisted({"id_number": LI}, at=T0 + 21 * DAY)
    assert engine.is_blacklisted({"id_number": LI}, at=T0 + 22 * DAY)
    decided = sorted((d.effective_at, d.rule_id) for d in outcome.decisions)
    assert decided == [(T0 + 20 * DAY, FREEZE_RUMOURS), (T0 + 22 * DAY, BLACKLIST_RUMOURS)]
    (standing,) = [d for d in engine.standing("zhang") if d.action == "blacklist"]
    assert standing.decision_id != blacklist_id
    assert set(standing.evidence) == {"s1", "s3", "s4"}
    # Outcome does not report the old blacklist's fall as a status change: it stays.
    assert outcome.status_changes == ()


def test_a_returning_identity_falls_with_the_blacklist_it_matched(engine: Engine) -> None:
    """li is blacklisted for a confirmed impersonation; a second account registering li's ID
    number is blacklisted as returning. The impersonation is overturned on appeal: both
    accounts are active again, and nothing is listed."""
    engine.process(registered("li", 0 * DAY, "reg-li", LI))
    (first,) = engine.process(
        event("impersonation_report", "li", 1 * DAY, "imp", reporter_id="r", confirmed=True)
    ).decisions
    (second,) = engine.process(registered("li-2", 2 * DAY, "reg-li-2", LI)).decisions
    assert second.rule_id == "blacklist-returning-identity"
    assert first.decision_id in second.evidence

    outcome = engine.process(overturn("li", 3 * DAY, "ap", first.decision_id))
    assert (engine.status("li"), engine.status("li-2")) == ("active", "active")
    assert not engine.is_blacklisted({"id_number": LI})
    assert sorted((c.account_id, c.status_after) for c in outcome.status_changes) == [
        ("li", "active"),
        ("li-2", "active"),
    ]
    (fell,) = [r.record for r in engine.audit_records("li-2") if r.kind == "reversal"]
    assert (fell["decision_id"], fell["by"], fell["cascade_of"]) == (
        second.decision_id,
        "cascade",
        [first.decision_id],
    )
    # Its notice says why it no longer applies: not an appeal of li-2's own.
    assert "a decision or finding it relied on was overturned, so it no longer applies" in (
        render_notice(engine.store, second.decision_id, lang="en").text
    )
    assert (
        "其所依据的其他决定或认定已被撤销，该决定不再"  # noqa: RUF001 (Chinese punctuation)
        in render_notice(engine.store, second.decision_id, lang="zh").text
    )
    assert (
        "we accepted your appeal" in render_notice(engine.store, first.decision_id, lang="en").text
    )
    # The fallen decision cannot be appealed again: it is already reversed.
    refused = engine.process(overturn("li-2", 4 * DAY, "ap2", second.decision_id))
    assert refused.rejection is not None
    assert "already reversed by ap" in refused.rejection.reason


def test_a_deadline_decision_falls_with_the_freeze_it_counted_from(engine: Engine) -> None:
    """A failed verification freezes; 15 days without a passed one cancel. A reviewer lifts the
    freeze on day 20: the cancel that counted from it is reversed too."""
    engine.process(registered("wang", 0 * DAY, "reg", WANG))
    (freeze,) = engine.process(
        event(
            "identity_verification",
            "wang",
            1 * DAY,
            "v1",
            status="failed",
            reason="name_id_mismatch",
        )
    ).decisions
    (cancel,) = engine.advance_to(T0 + 17 * DAY).decisions
    assert (cancel.action, cancel.anchor) == ("cancel", freeze.decision_id)
    engine.process(
        event(
            "review_decision",
            "wang",
            20 * DAY,
            "lift",
            reviewer_id="rev",
            action="lift",
            decision_id=freeze.decision_id,
            reason="the name was mistyped by the clerk",
        )
    )
    assert engine.status("wang") == "active"
    assert [d.decision_id for d in engine.standing("wang")] == []
    reversed_ids = [
        r.record["decision_id"] for r in engine.audit_records("wang") if r.kind == "reversal"
    ]
    assert reversed_ids == [freeze.decision_id, cancel.decision_id]


def test_the_replay_runs_under_the_clock_each_event_came_at(engine: Engine) -> None:
    """Time moved to day 200 without an event; then a strike from day 1 came. A freeze of it
    and the day-92 strike would have been over on day 122: no freeze was taken, and none is
    in a world without the blacklist either. Overturning the blacklist takes none: the replay
    moves time as it moved, not only as the events' own times did."""
    engine.process(registered("a", 0 * DAY, "reg", LI))
    report = event("impersonation_report", "a", 1 * DAY, "rep", reporter_id="r1", confirmed=True)
    (blacklist,) = engine.process(report).decisions
    engine.process(strike("a", 92 * DAY, "s1", "c1"))
    engine.advance_to(T0 + 200 * DAY)
    assert engine.process(strike("a", 1 * DAY, "s2", "c4")).decisions == ()
    outcome = engine.process(overturn("a", 201 * DAY, "ap", blacklist.decision_id))
    assert outcome.decisions == ()
    assert [d.rule_id for d in engine.decisions("a")] == [blacklist.rule_id]
    assert engine.status("a") == "active"


def clocked_db(db: Path) -> list[tuple[int | None]]:
    """A db whose clock moved without an event (to day 200, past the last event's day 92)
    before a late event came: the clock each of its three events came at, as stored."""
    with Engine.from_path(db=db) as engine:
        engine.process(registered("a", 0 * DAY, "reg", LI))
        engine.process(strike("a", 92 * DAY, "s1", "c1"))
        engine.advance_to(T0 + 200 * DAY)
        engine.process(strike("a", 1 * DAY, "s2", "c4"))
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT clock_us FROM events ORDER BY rowid").fetchall()


def test_a_schema_5_db_learns_its_events_clocks_from_the_log(tmp_path: Path) -> None:
    """A db from before the clock was stored with each event is upgraded in place: each event
    came at the latest time of the events before it (what the log can tell)."""
    db = tmp_path / "old.db"
    stored = clocked_db(db)
    with sqlite3.connect(db) as connection:
        connection.executescript(
            "ALTER TABLE events DROP COLUMN clock_us;"
            "UPDATE meta SET value = '5' WHERE key = 'schema_version';"
        )
    assert [row[0] for row in stored] == [None, *(to_micros(T0 + d * DAY) for d in (0, 200))]
    SQLiteStore(db).close()
    with sqlite3.connect(db) as connection:
        upgraded = connection.execute("SELECT clock_us FROM events ORDER BY rowid").fetchall()
        version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(SCHEMA_VERSION),)
    assert [row[0] for row in upgraded] == [None, *(to_micros(T0 + d * DAY) for d in (0, 92))]


@pytest.mark.parametrize("how", ["appeal", "lift", "lift everything"])
def test_a_lift_of_a_human_blacklist_brings_back_what_it_made_pointless(
    engine: Engine, how: str
) -> None:
    """A reviewer blacklists on day 1; a failed verification on day 2 decides nothing (the
    account is already blacklisted). The blacklist is overturned or lifted (by its id, or
    with everything standing) on day 5: the failed verification now freezes the account, as it
    would have without the blacklist."""
    engine.process(registered("zhao", 0 * DAY, "reg", WANG))
    (human,) = engine.process(
        event(
            "review_decision",
            "zhao",
            1 * DAY,
            "r1",
            reviewer_id="rev",
            action="blacklist",
            reason="x",
        )
    ).decisions
    assert not engine.process(
        event(
            "identity_verification",
            "zhao",
            2 * DAY,
            "v1",
            status="failed",
            reason="name_id_mismatch",
        )
    ).decisions
    if how == "appeal":
        reversal = overturn("zhao", 5 * DAY, "ap", human.decision_id)
    else:
        named = {"decision_id": human.decision_id} if how == "lift" else {}
        reversal = event(
            "review_decision",
            "zhao",
            5 * DAY,
            "ap",
            reviewer_id="rev",
            action="lift",
            reason="x",
            **named,
        )
    outcome = engine.process(reversal)
    assert engine.status("zhao") == "frozen"
    (freeze,) = outcome.decisions
    assert (freeze.rule_id, freeze.effective_at) == ("freeze-failed-verification", T0 + 2 * DAY)


SHADOW_CANCEL = "cancel-after-repeated-rumour-freezes"


def _b_rumours() -> list[dict[str, Any]]:
    """FOUND_7_DEC_2026 shrunk by hand: b's malicious rumours on days 1 (c1), 2 (c2),
    40 (c1) and 80 (c2), in time order."""
    return [
        registered("b", 0 * DAY, "reg", WANG),
        strike("b", 1 * DAY, "s1", "c1"),
        strike("b", 2 * DAY, "s2", "c2"),
        strike("b", 40 * DAY, "s3", "c1"),
        strike("b", 80 * DAY, "s4", "c2"),
    ]


def _standing_of_b(engine: Engine) -> list[tuple[str, str, str, datetime, datetime | None]]:
    return sorted(
        (d.mode, d.rule_id, d.action, d.effective_at, d.expires_at)
        for d in engine.decisions("b")
        if not _reversed(engine, d.decision_id)
    )


def test_found_7_dec_2026_a_withdrawn_rumour_is_not_decided_again(engine: Engine) -> None:
    """FOUND_7_DEC_2026, shrunk: two distinct rumours within 180 days freeze b on days 2, 40
    and 80; the day-80 rumour, after two such freezes within 365 days, also takes the shadow
    cancel of `cancel-after-repeated-rumour-freezes`. The day-80 freeze is overturned on day
    85: its rumour is withdrawn, so the shadow cancel falls with it, and b is as in a run
    that never had that rumour (active; the freezes of days 2 and 40 only). The reversal
    changed b's past from day 80, so b's later events are decided again in time order: the
    withdrawn rumour must not be among them (it was, and took the shadow cancel again)."""
    for item in _b_rumours():
        engine.process(item)
    (third, shadow) = sorted(
        (d for d in engine.decisions("b") if d.effective_at == T0 + 80 * DAY),
        key=lambda d: d.mode,
    )
    assert (third.rule_id, third.mode, shadow.rule_id, shadow.mode) == (
        FREEZE_RUMOURS,
        "enforce",
        SHADOW_CANCEL,
        "shadow",
    )
    outcome = engine.process(overturn("b", 85 * DAY, "ap", third.decision_id))

    expected = [
        ("enforce", FREEZE_RUMOURS, "freeze", T0 + 2 * DAY, T0 + 32 * DAY),
        ("enforce", FREEZE_RUMOURS, "freeze", T0 + 40 * DAY, T0 + 70 * DAY),
    ]
    assert engine.status("b") == "active"
    assert _standing_of_b(engine) == expected
    assert outcome.decisions == ()
    assert [(r.decision_id, r.by) for r in outcome.reversals] == [
        (third.decision_id, "appeal_outcome"),
        (shadow.decision_id, "cascade"),
    ]
    for item in [*_b_rumours(), overturn("b", 85 * DAY, "ap", third.decision_id)]:
        assert engine.process(item).duplicate  # replaying changes nothing
    assert _standing_of_b(engine) == expected

    with Engine.from_path() as never:  # the run that never had the day-80 rumour
        for item in _b_rumours()[:-1]:
            never.process(item)
        never.advance_to(T0 + 85 * DAY)
        assert never.status("b") == "active"
        assert _standing_of_b(never) == expected


def test_found_7_dec_2026_a_withdrawn_rumour_stays_out_when_a_late_event_comes(
    engine: Engine,
) -> None:
    """After the overturn above, a late registration of b (day 10) changes b's past, so b's
    events from day 10 are decided again in time order: the withdrawn day-80 rumour is not
    among them (it would take its freeze and the shadow cancel again)."""
    for item in _b_rumours():
        engine.process(item)
    (third,) = [
        d for d in engine.decisions("b") if d.effective_at == T0 + 80 * DAY and d.mode == "enforce"
    ]
    engine.process(overturn("b", 85 * DAY, "ap", third.decision_id))
    assert engine.process(registered("b", 10 * DAY, "reg-late", WANG)).decisions == ()

    assert engine.status("b") == "active"
    assert _standing_of_b(engine) == [
        ("enforce", FREEZE_RUMOURS, "freeze", T0 + 2 * DAY, T0 + 32 * DAY),
        ("enforce", FREEZE_RUMOURS, "freeze", T0 + 40 * DAY, T0 + 70 * DAY),
    ]


def _c_reported() -> list[dict[str, Any]]:
    """The second finding, shrunk by hand: confirmed impersonation reports of c on days 111
    and 172, then a failed verification of day 139 that comes after both."""
    return [
        registered("c", 0 * DAY, "reg-c", LI),
        event("impersonation_report", "c", 111 * DAY, "rep1", reporter_id="r1", confirmed=True),
        event("impersonation_report", "c", 172 * DAY, "rep2", reporter_id="r1", confirmed=True),
        event(
            "identity_verification",
            "c",
            139 * DAY,
            "v1",
            status="failed",
            reason="name_id_mismatch",
        ),
    ]


def test_found_7_dec_2026_seed_101_the_cascade_s_replay_is_not_decided_again(
    engine: Engine,
) -> None:
    """Found by the property (hypothesis seed 101) once FOUND_7_DEC_2026 was fixed. c is
    blacklisted on day 111; the report of day 172 and the late verification (day 139, come
    when c is blacklisted) decide nothing. The day-111 blacklist is overturned on day 200:
    as in a run without that report, c is blacklisted from day 172, and the verification
    still decides nothing, for it came when c was blacklisted (a late event is judged against
    the status when it comes). The cascade's replay gives exactly that; the time-order
    re-deciding that followed the reversal must not judge the verification again against
    c's status of day 139 (it froze c from day 139, in no run of these events)."""
    for item in _c_reported():
        engine.process(item)
    (first,) = engine.decisions("c")
    outcome = engine.process(overturn("c", 200 * DAY, "ap", first.decision_id))

    decided = ("blacklist-confirmed-impersonation", T0 + 172 * DAY)  # (as a re-evaluation)
    assert [(d.rule_id, d.effective_at) for d in outcome.decisions] == [decided]
    assert engine.status("c") == "blacklisted"
    standing = sorted(
        (d.mode, d.rule_id, d.action, d.effective_at, d.expires_at)
        for d in engine.decisions("c")
        if not _reversed(engine, d.decision_id)
    )
    assert standing == [("enforce", decided[0], "blacklist", decided[1], None)]
    assert [e.entered_at for e in engine.blacklist_entries("c")] == [T0 + 172 * DAY]

    with Engine.from_path() as never:  # the run that never had the day-111 report
        for item in _c_reported():
            if item["event_id"] == "rep1":
                never.advance_to(item["occurred_at"])
            else:
                never.process(item)
        assert never.status("c") == "blacklisted"
        assert [(d.rule_id, d.effective_at) for d in never.decisions("c")] == [decided]


def test_found_7_dec_2026_long_run_a_late_event_after_the_reversed_one_reaches_back(
    engine: Engine,
) -> None:
    """Found by a 500-example run of the property once the two findings above were fixed,
    shrunk by hand. b fails a verification on day 63 (a freeze; 15 days later, a cancel) and
    is reported, confirmed, on day 124 (a blacklist); a confirmed report of day 1 comes last.
    The day-124 blacklist is overturned on day 130: as in a run that never had that report
    (time passing all the same), the day-1 report blacklists b from day 1 and, in time order,
    the freeze of day 63 and its cancel are never taken. They were taken on an event that came
    before the overturned one and lie before it, so the cascade did not reconcile them; the
    replay no longer takes them, and they fall."""
    engine.process(registered("b", 0 * DAY, "reg-b", WANG))
    engine.process(
        event(
            "identity_verification",
            "b",
            63 * DAY,
            "v1",
            status="failed",
            reason="name_id_mismatch",
        )
    )
    report = {"reporter_id": "r1", "confirmed": True}
    outcome = engine.process(event("impersonation_report", "b", 124 * DAY, "rep124", **report))
    blacklist = only(outcome.decisions, "blacklist-confirmed-impersonation")
    engine.process(event("impersonation_report", "b", 1 * DAY, "rep1", **report))
    assert engine.process(overturn("b", 130 * DAY, "ap", blacklist.decision_id)).accepted

    assert engine.status("b") == "blacklisted"
    standing = sorted(
        (d.rule_id, d.effective_at)
        for d in engine.decisions("b")
        if not _reversed(engine, d.decision_id)
    )
    assert standing == [("blacklist-confirmed-impersonation", T0 + 1 * DAY)]


# --- the property -------------------------------------------------------------------------
ACCOUNTS = ("a", "b", "c", "d")
IDS = {"a": LI, "b": WANG, "c": LI, "d": LI}
"""c and d register a's ID number: linked accounts, and three of them make the shadow rule
`freeze-shared-id-number` decide while they are live."""

_strike = st.fixed_dictionaries(
    {
        "type": st.just("rumor_flag"),
        "account_id": st.sampled_from(ACCOUNTS),
        "day": st.integers(1, 200),
        "content_id": st.sampled_from(("c1", "c2", "c3", "c4")),
        "verdict": st.just("malicious_rumor"),
        "source": st.sampled_from(("fact_check", "authority_notice")),
    }
)
_report = st.fixed_dictionaries(
    {
        "type": st.just("impersonation_report"),
        "account_id": st.sampled_from(ACCOUNTS),
        "day": st.integers(1, 200),
        "reporter_id": st.sampled_from(("r1", "r2", "r3")),
        "confirmed": st.booleans(),
    }
)
_verification = st.fixed_dictionaries(
    {
        "type": st.just("identity_verification"),
        "account_id": st.sampled_from(ACCOUNTS),
        "day": st.integers(1, 200),
        "status": st.sampled_from(("passed", "failed")),
        "reason": st.sampled_from(("name_id_mismatch", "forged_document")),
    }
)
_advance = st.fixed_dictionaries({"type": st.just("advance"), "day": st.integers(1, 200)})
"""Time moving without an event (`advance_to`): the clock events came at, not only their own."""
_registration = st.fixed_dictionaries(
    {
        "type": st.just("registration"),
        "account_id": st.sampled_from(ACCOUNTS),
        "day": st.integers(0, 200),
    }
)


def _events(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    made = []
    for index, item in enumerate(raw):
        if item["type"] == "advance":
            made.append({"advance": utc_text(T0 + item["day"] * DAY)})
            continue
        fields = {k: v for k, v in item.items() if k not in ("type", "account_id", "day")}
        account = item["account_id"]
        if item["type"] == "registration":
            fields = {"identity": {"id_number": IDS[account]}, "verification": {"status": "passed"}}
        made.append(event(item["type"], account, item["day"] * DAY, f"e{index}", **fields))
    return made


def _world(engine: Engine) -> tuple[Any, ...]:
    """What an account's fate is made of: statuses, the decisions not reversed (ended or not,
    by content; shadow ones too: what a shadow rule is judged on), and the blacklist entries
    in force."""
    decisions = sorted(
        (d.account_id, d.mode, d.rule_id, d.action, utc_text(d.effective_at), str(d.expires_at))
        for account in ACCOUNTS
        for d in engine.decisions(account)
        if not _reversed(engine, d.decision_id)
    )
    entries = sorted(
        (e.account_id, e.kind, e.fingerprint, utc_text(e.entered_at))
        for e in engine.blacklist_entries()
    )
    return tuple(engine.status(a) for a in ACCOUNTS), decisions, entries


def _reversed(engine: Engine, decision_id: str) -> bool:
    found = engine.store.decision(decision_id)
    return found is not None and found.reversed_by is not None


def _flag(account: str, day: int, content: str) -> dict[str, Any]:
    return {
        "type": "rumor_flag",
        "account_id": account,
        "day": day,
        "content_id": content,
        "verdict": "malicious_rumor",
        "source": "fact_check",
    }


def _passed(day: int) -> dict[str, Any]:
    return {
        "type": "identity_verification",
        "account_id": "a",
        "day": day,
        "status": "passed",
        "reason": "name_id_mismatch",
    }


def _confirmed_report(account: str, day: int) -> dict[str, Any]:
    return {
        "type": "impersonation_report",
        "account_id": account,
        "day": day,
        "reporter_id": "r1",
        "confirmed": True,
    }


FOUND_7_DEC_2026: list[dict[str, Any]] = [
    _passed(39),
    _flag("b", 55, "c1"),
    {"type": "advance", "day": 68},
    {"type": "registration", "day": 0, "account_id": "a"},
    {"type": "advance", "day": 132},
    _flag("b", 106, "c1"),
    {"type": "advance", "day": 198},
    _flag("b", 177, "c1"),
    {"type": "advance", "day": 1},
    _flag("a", 1, "c1"),
    _passed(1),
    _flag("a", 1, "c1"),
    {"type": "advance", "day": 1},
    _flag("b", 94, "c4"),
]
"""A failing example Hypothesis found on 7 Dec 2026: overturning b's day-177 freeze withdrew
its rumour, and the time-order re-deciding the reversal started decided that withdrawn rumour
again (a shadow cancel came back). Shrunk by hand in
`test_found_7_dec_2026_a_withdrawn_rumour_is_not_decided_again`; kept as it was found."""


FOUND_7_DEC_2026_SEED_101: list[dict[str, Any]] = [
    _confirmed_report("c", 111),
    {"type": "advance", "day": 179},
    _confirmed_report("c", 172),
    {"type": "registration", "account_id": "a", "day": 5},
    _flag("d", 111, "c3"),
    {
        "type": "identity_verification",
        "account_id": "c",
        "day": 139,
        "status": "failed",
        "reason": "name_id_mismatch",
    },
]
"""The property's next failure once FOUND_7_DEC_2026 was fixed (`--hypothesis-seed=101`,
partly shrunk), with pick 97: the overturned day-111 blacklist's replay was decided again in
time order. Shrunk by hand in
`test_found_7_dec_2026_seed_101_the_cascade_s_replay_is_not_decided_again`."""


FOUND_7_DEC_2026_LONG_RUN: list[dict[str, Any]] = [
    {
        "type": "identity_verification",
        "account_id": "b",
        "day": 63,
        "status": "failed",
        "reason": "name_id_mismatch",
    },
    _confirmed_report("b", 124),
    _flag("a", 1, "c1"),
    {**_confirmed_report("a", 146), "confirmed": False},
    {**_confirmed_report("a", 95), "confirmed": False},
    {**_flag("d", 200, "c1"), "source": "authority_notice"},
    {**_confirmed_report("b", 1), "reporter_id": "r2"},
    {**_confirmed_report("d", 95), "confirmed": False},
]
"""The third failure, found by a 500-example run (pick 181): the overturned day-124 blacklist's
replay took back, in time order, a freeze and cancel the cascade did not reconcile. Shrunk by
hand in `test_found_7_dec_2026_long_run_a_late_event_after_the_reversed_one_reaches_back`."""


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.lists(
        st.one_of(_strike, _strike, _report, _verification, _registration, _advance), max_size=14
    ),
    pick=st.integers(0, 1000),
)
@example(raw=FOUND_7_DEC_2026, pick=623)
@example(raw=FOUND_7_DEC_2026_SEED_101, pick=97)
@example(raw=FOUND_7_DEC_2026_LONG_RUN, pick=181)
def test_reversing_then_replaying_equals_never_having_had_the_evidence(
    raw: list[dict[str, Any]], pick: int
) -> None:
    """Overturn any automatic decision taken on an event: the result equals a run that never
    had that event, though time passed as it did (statuses, every enforced decision standing
    or ended, blacklist entries), and replaying every event again afterwards changes nothing."""
    events = _events([{"type": "registration", "account_id": a, "day": 0} for a in ACCOUNTS] + raw)
    with Engine.from_path(max_lead=None) as engine:  # events up to 400 days on
        for item in events:
            _feed(engine, item)
        by_id = {item["event_id"]: item for item in events if "event_id" in item}
        candidates = [
            d
            for account in ACCOUNTS
            for d in engine.decisions(account)
            if d.mode == "enforce"
            and d.rule_id != "human-review"
            and not _reversed(engine, d.decision_id)
            and any(
                e in by_id
                and by_id[e]["type"] != "registration"
                and _at(by_id[e]) == d.effective_at
                for e in d.evidence
            )
        ]
        note(f"{len(candidates)} decisions to overturn")
        assume(candidates)
        chosen = candidates[pick % len(candidates)]
        withdrawn = {
            e
            for e in chosen.evidence
            if e in by_id
            and by_id[e]["type"] != "registration"
            and by_id[e]["account_id"] == chosen.account_id
            and _at(by_id[e]) == chosen.effective_at
        }
        end = T0 + 400 * DAY
        appeal = overturn(chosen.account_id, 400 * DAY, "appeal", chosen.decision_id)
        assert engine.process(appeal).rejection is None
        after = _world(engine)
        for item in [*by_id.values(), appeal]:
            assert engine.process(item).duplicate
        assert _world(engine) == after
        assert engine.store.verify_audit().ok

    with Engine.from_path(max_lead=None) as never:
        for item in events:
            if item.get("event_id") in withdrawn:
                never.advance_to(item["occurred_at"])  # time passed all the same
            else:
                _feed(never, item)
        never.advance_to(end)
        assert after == _world(never)


def _feed(engine: Engine, item: dict[str, Any]) -> None:
    if "advance" in item:
        engine.advance_to(item["advance"])
    else:
        engine.process(item)


def _at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["occurred_at"])


def test_an_upheld_appeal_changes_nothing(engine: Engine) -> None:
    """An upheld appeal is recorded and reverses nothing."""
    freeze_id, _blacklist_id = three_strikes(engine)
    before = (engine.status("zhang"), [d.decision_id for d in engine.standing("zhang")])
    engine.process({**overturn("zhang", 25 * DAY, "ap", freeze_id), "outcome": "upheld"})
    assert (engine.status("zhang"), [d.decision_id for d in engine.standing("zhang")]) == before


def test_the_cascade_s_decisions_are_statements_of_reasons(engine: Engine) -> None:
    """Every decision of the worked example (the overturned freeze, the blacklist that fell
    with it, the freeze decided after all) is one valid DSA statement."""
    freeze_id, blacklist_id = three_strikes(engine)
    (again,) = engine.process(overturn("zhang", 25 * DAY, "ap1", freeze_id)).decisions
    statements = list(dsa_statements(engine.store))
    for statement in statements:
        assert_valid_statement(statement)
    puids = {s["puid"] for s in statements}
    assert {freeze_id, blacklist_id, again.decision_id} <= puids


def test_audit_show_aligns_every_kind_the_cascade_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit show` of the worked example (kinds from `reversal` to `blacklist_entry_removed`,
    numbers from #1 to #11 and more): number, time and kind each in a column as wide as its
    widest, so every record starts at the same place and each line reads back as it was."""
    db = tmp_path / "cascade.db"
    with Engine.from_path(db=db) as engine:
        freeze_id, _blacklist_id = three_strikes(engine)
        engine.process(overturn("zhang", 25 * DAY, "ap1", freeze_id))
        records = list(engine.audit_records("zhang"))
    assert {"evidence_withdrawn", "blacklist_entry_removed", "reversal"} <= {
        r.kind for r in records
    }
    assert max(r.seq for r in records) >= 10

    assert main(["audit", "show", "--account", "zhang", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(records)
    for column in (1, 2, 3):  # where the time, the kind and the record start
        assert len({line.index(line.split(maxsplit=3)[column]) for line in lines}) == 1, column
    for line, record in zip(lines, records, strict=True):
        seq, at, kind, text = line.split(maxsplit=3)
        assert (seq, at, kind) == (f"#{record.seq}", record.occurred_at, record.kind)
        assert json.loads(text) == record.record


@pytest.mark.parametrize("appeal_day", [25, 60])
def test_a_re_evaluated_decision_is_appealable_and_applies_from_when_it_was_decided(
    engine: Engine, appeal_day: int
) -> None:
    """The worked example's freeze decided after all is dated day 20 (30 days, to day 50) but
    decided when the appeal came: its notice's appeal period and its DSA application date count
    from `re_evaluated.decided_at`, not from day 20 (the user could not appeal before being
    told). Decided on day 60, after its 30 days, it ends for the database the day it was decided.
    Decisions never re-evaluated keep counting from `effective_at`."""
    freeze_id, blacklist_id = three_strikes(engine)
    (again,) = engine.process(overturn("zhang", appeal_day * DAY, "ap1", freeze_id)).decisions
    found = engine.store.decision(again.decision_id)
    assert found is not None
    assert found.record.re_evaluated is not None
    decided = datetime.fromisoformat(found.record.re_evaluated.decided_at)
    assert decided == T0 + appeal_day * DAY != again.effective_at
    assert engine.ruleset.notices is not None

    notice = render_notice(engine.store, again.decision_id, lang="en")
    assert notice.appeal_by == decided + engine.ruleset.notices.appeal_within

    statements = {s["puid"]: s for s in dsa_statements(engine.store)}
    statement = statements[again.decision_id]
    assert_valid_statement(statement)
    assert statement["application_date"] == decided.date().isoformat()
    assert again.expires_at is not None
    ends = max(again.expires_at, decided).date().isoformat()
    assert statement["end_date_account_restriction"] == ends
    for earlier in (freeze_id, blacklist_id):
        (record,) = [d for d in engine.decisions("zhang") if d.decision_id == earlier]
        assert statements[earlier]["application_date"] == record.effective_at.date().isoformat()


def test_run_says_what_an_appeal_reversed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` over a log whose last line overturns the day-10 freeze: stderr names both
    reversals (the appeal's, the cascade's), the status change, and counts them; stdout has
    the re-evaluated freeze as a decision. The outcome holds the same reversals."""
    log = tmp_path / "appeal.jsonl"
    items = [
        registered("zhang", 0 * DAY, "reg", LI),
        strike("zhang", 1 * DAY, "s1", "c1"),
        strike("zhang", 10 * DAY, "s2", "c2"),
        strike("zhang", 20 * DAY, "s3", "c3"),
    ]
    with Engine.from_path() as engine:
        freeze_id, blacklist_id = three_strikes(engine)
        outcome = engine.process(overturn("zhang", 25 * DAY, "ap1", freeze_id))
        assert [(r.decision_id, r.by, r.by_event) for r in outcome.reversals] == [
            (freeze_id, "appeal_outcome", "ap1"),
            (blacklist_id, "cascade", "ap1"),
        ]
    items.append(overturn("zhang", 25 * DAY, "ap1", freeze_id))
    log.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    assert main(["run", str(log), "--db", str(tmp_path / "a.db")]) == 0
    captured = capsys.readouterr()
    assert f"{log}:5: ap1 reversed {freeze_id} of zhang (appeal_outcome)" in captured.err
    assert f"{log}:5: ap1 reversed {blacklist_id} of zhang (by the cascade)" in captured.err
    assert "  zhang: blacklisted → frozen (" in captured.err
    assert "reversals: 1 by the cascade, 1 by a person" in captured.err
    decided = [json.loads(line) for line in captured.out.splitlines()]
    assert [d["rule_id"] for d in decided][-1] == FREEZE_RUMOURS


def test_the_cascade_follows_only_the_identity_values_some_rule_reads(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a and b share a device, a and c an ID number. The default pack lists ID numbers and
    phones and groups by ID number: an appeal of a's decision replays a and c, not b (a shared
    device reaches no decision of the default pack)."""
    for account, id_number in (("a", LI), ("b", WANG), ("c", LI)):
        item = registered(account, 0 * DAY, f"reg-{account}", id_number)
        engine.process({**item, "identity": {**item["identity"], "device_id": "dev-1"}})
    engine.process(strike("a", 1 * DAY, "s1", "c1"))
    freeze = only(engine.process(strike("a", 2 * DAY, "s2", "c2")).decisions, FREEZE_RUMOURS)
    replayed: list[set[str]] = []
    replay_of = engine.store.replay_of

    def spy(accounts: set[str], from_arrival: int = 0) -> list[LoggedEvent]:
        replayed.append(set(accounts))
        return replay_of(accounts, from_arrival)

    monkeypatch.setattr(engine.store, "replay_of", spy)
    engine.process(overturn("a", 3 * DAY, "ap", freeze.decision_id))
    assert replayed == [{"a", "c"}]
    assert engine.store.linked_accounts("a", frozenset({"device"})) == {"a", "b", "c"}


def test_shadow_decisions_are_re_evaluated_too(engine: Engine) -> None:
    """a is blacklisted for a confirmed impersonation; c and d then register a's ID number and
    are blacklisted as its returning identity, so the shadow rule `freeze-shared-id-number`
    (3 live accounts on one ID number) never saw three live ones. Overturning a's blacklist
    reverses c's and d's, and the shadow freeze of d's registration is decided after all."""
    engine.process(registered("a", 0 * DAY, "reg-a", LI))
    report = event("impersonation_report", "a", 1 * DAY, "rep", reporter_id="r1", confirmed=True)
    (blacklist,) = engine.process(report).decisions
    engine.process(registered("c", 2 * DAY, "reg-c", LI))
    engine.process(registered("d", 3 * DAY, "reg-d", LI))
    assert [d.mode for d in engine.decisions("d")] == ["enforce"]
    outcome = engine.process(overturn("a", 5 * DAY, "ap", blacklist.decision_id))
    assert sorted(r.account_id for r in outcome.reversals if r.by_cascade) == ["c", "d"]
    (shadow,) = [d for d in outcome.decisions if d.mode == "shadow"]
    assert (shadow.account_id, shadow.rule_id, shadow.effective_at) == (
        "d",
        "freeze-shared-id-number",
        T0 + 3 * DAY,
    )
    assert [engine.status(a) for a in ("a", "c", "d")] == ["active"] * 3
