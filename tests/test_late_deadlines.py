"""Late events and deadlines: a deadline that fired only because the clock was already past it
when it was set is taken back by a late `unless` event in its span (`time_order.meet_late`),
so every arrival order ends as time order does (DESIGN §1, "Late events are accepted").

The default pack's `cancel-unverified-after-freeze`: a freeze at s (a failed verification, or
a failed check at registration) is followed by a cancel at s + 15d unless a verification
passes at a time t with s <= t < s + 15d: 1µs before the deadline meets it, at the deadline
it is too late (rules/README.md, "Deadlines")."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from blacklist_rules import Engine, SQLiteStore, load_ruleset
from blacklist_rules.cli import main
from blacklist_rules.engine.time_order import UNANCHORED, UNMET
from blacklist_rules.errors import EvaluationError
from blacklist_rules.stores import open_store

from .postgres import fresh_database
from .strategies import late_deadline_events
from .support import DAY, EDGES, T0, event, write_rule

RULESET = load_ruleset()
FREEZE_V = "freeze-failed-verification"
FREEZE_REG = "freeze-failed-registration-verification"
CANCEL_V = "cancel-unverified-after-freeze"
HEAD = """\
version: 1
basis: Test basis.
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""
CHAIN = {
    "freeze": "id: freeze-failed\ndescription: d\n" + HEAD + "on: identity_verification\n"
    "when: {status: failed}\n"
    "then: {action: freeze, until: verification_passed, reason: Failed.}\n",
    "cancel": "id: cancel-late\ndescription: d\n" + HEAD + "deadline:\n"
    "  after: {decision: [freeze-failed]}\n  within: 10d\n"
    "  unless: {on: identity_verification, when: {status: passed}}\n"
    "then: {action: cancel, reason: Not verified in 10 days.}\n",
    "blacklist": "id: blacklist-later\ndescription: d\n" + HEAD + "deadline:\n"
    "  after: {decision: [cancel-late]}\n  within: 10d\n"
    "  unless: {on: identity_verification, when: {status: passed}}\n"
    "then: {action: blacklist, reason: Not verified in 20 days.}\n",
    "window": "id: freeze-rumours\ndescription: d\n" + HEAD + "on: rumor_flag\n"
    "window: {count: 2, within: 60d}\nthen: {action: freeze, duration: 1d, reason: Rumours.}\n",
}
"""A pack whose deadline's decision anchors a second deadline (freeze, +10d cancel, +10d
more blacklist), each met by a passed verification; a 60-day window makes the horizon long
enough for a verification late by the two deadlines to count."""


@attrs.frozen
class Final:
    """What order independence compares: the standing decisions (account, action, rules
    matched, effective time), each account's status and the pending deadlines."""

    decisions: tuple[tuple[str, str, str, tuple[str, ...], datetime], ...]
    statuses: tuple[tuple[str, str], ...]
    pending: tuple[tuple[str, str, int, int], ...]


@attrs.frozen
class Run:
    """One arrival order's end, with the reasons of the reversals the trail recorded and
    whether the trail verifies."""

    final: Final
    reversals: tuple[str, ...]
    intact: bool


def run(
    events: list[dict[str, Any]],
    ruleset: Any = RULESET,
    store: Any = None,
    worker_id: str | None = None,
) -> Run:
    """A fresh engine (over a new SQLite db, or `store`), `events` in the order given, one
    commit an event."""
    accounts = sorted({e["account_id"] for e in events})
    with Engine(
        ruleset,
        SQLiteStore() if store is None else store,
        commit_every=1,
        max_lead=None,
        worker_id=worker_id,
    ) as engine:
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
        store = engine.store
        decisions = tuple(
            sorted(
                (
                    d.account_id,
                    str(d.action),
                    d.rule_id,
                    tuple(m.rule_id for m in d.matched),
                    d.effective_at,
                )
                for account in accounts
                for d in engine.decisions(account)
                if d.mode == "enforce"
                and (found := store.decision(d.decision_id)) is not None
                and found.reversed_by is None
            )
        )
        pending = tuple(
            sorted(
                (row.account_id, row.rule_id, row.start_us, row.due_us)
                for account in accounts
                for row in store.deadlines_of(account)
                if row.state == "pending"
            )
        )
        statuses = tuple((account, str(engine.status(account))) for account in accounts)
        reasons = tuple(
            str(record.record.get("reason"))
            for record in store.audit_records()
            if record.kind == "reversal"
        )
        return Run(Final(decisions, statuses, pending), reasons, store.verify_audit().ok)


def in_time_order(events: list[dict[str, Any]], ruleset: Any = RULESET) -> Run:
    """The events by `occurred_at` (ties in the order given)."""
    return run(sorted(events, key=lambda e: datetime.fromisoformat(e["occurred_at"])), ruleset)


def cause(kind: str, at: timedelta = timedelta(0)) -> dict[str, Any]:
    """Account a's freeze cause at T0 (+ at): a failed verification or a failed check at
    registration."""
    if kind == "verification":
        return event("identity_verification", "a", at, "fail", status="failed")
    return event("registration", "a", at, "fail", verification={"status": "failed"})


def passed(at: timedelta, event_id: str = "pass") -> dict[str, Any]:
    return event("identity_verification", "a", at, event_id, status="passed")


def tick(at: timedelta, event_id: str = "tick") -> dict[str, Any]:
    """An event of another account that only moves the clock."""
    return event("registration", "clock", at, event_id)


@pytest.mark.parametrize("kind", ["verification", "registration"])
@pytest.mark.parametrize("edge", EDGES)
def test_a_passed_verification_at_the_deadline_edge_in_every_order(edge: str, kind: str) -> None:
    """Freeze at T0, a passed verification at T0 + 15d (+ edge), the clock moved to T0 + 40d
    by another account: 1µs before the deadline the verification meets it (the freeze ends,
    no cancel); at it or 1µs after, the cancel at T0 + 15d stands. All 6 arrival orders end
    as time order, including those where the cancel fired before the verification came:
    then it is reversed, with its reason in the trail, and the trail verifies."""
    events = [cause(kind), passed(15 * DAY + EDGES[edge]), tick(40 * DAY)]
    freeze = FREEZE_V if kind == "verification" else FREEZE_REG
    met = edge == "inside"
    expected = {("a", "freeze", freeze, T0)} | (
        set() if met else {("a", "cancel", CANCEL_V, T0 + 15 * DAY)}
    )
    timed = in_time_order(events)
    assert {(a, act, rule, at) for a, act, rule, _, at in timed.final.decisions} == expected
    assert dict(timed.final.statuses)["a"] == ("active" if met else "cancelled")
    for order in itertools.permutations(events):
        result = run(list(order))
        ids = tuple(e["event_id"] for e in order)
        assert result.final == timed.final, ids
        assert result.intact, ids
        undone = met and ids.index("pass") > max(ids.index("fail"), ids.index("tick"))
        assert result.reversals == ((UNMET,) if undone else ()), ids


@pytest.mark.parametrize("edge", EDGES)
def test_a_passed_verification_at_the_freeze_starts_no_cancel(edge: str) -> None:
    """A verification at the freeze's own time (+ edge: 1µs before it does not count, at it
    and 1µs after it do), the clock far on: in every arrival order the same end as in time
    order; a verification before the freeze leaves the cancel standing."""
    events = [cause("verification"), passed(EDGES[edge]), tick(40 * DAY)]
    timed = in_time_order(events)
    cancelled = edge == "inside"
    assert dict(timed.final.statuses)["a"] == ("cancelled" if cancelled else "active")
    for order in itertools.permutations(events):
        assert run(list(order)).final == timed.final, [e["event_id"] for e in order]


def test_a_late_verification_reverses_a_chain_of_deadlines(tmp_path: Path) -> None:
    """Freeze at T0, cancel at +10d (counted from the freeze), blacklist at +20d (counted from
    the cancel), both fired by the clock at +30d: a late verification at +5d meets the first
    deadline, so the cancel and the blacklist it anchored both fall (the second deadline is
    void); one at +15d meets only the second, so the cancel stands. As in time order."""
    for name, text in CHAIN.items():
        write_rule(tmp_path, name, text)
    ruleset = load_ruleset(tmp_path)
    for days, status, reasons in ((5, "active", (UNMET, UNANCHORED)), (15, "cancelled", (UNMET,))):
        events = [cause("verification"), tick(30 * DAY), passed(days * DAY)]
        timed = in_time_order(events, ruleset)
        late = run(events, ruleset)
        assert late.final == timed.final, days
        assert dict(late.final.statuses)["a"] == status
        assert late.intact
        assert late.reversals == reasons


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # (each example runs two engines over up to 7 events)
@given(late_deadline_events())
def test_every_arrival_order_ends_as_time_order(events: list[dict[str, Any]]) -> None:
    """Freeze causes, passed verifications around the deadline and a clock event, in any
    arrival order: the same standing decisions (account, action, rules, effective time),
    statuses and pending deadlines as in time order, and a trail that verifies."""
    result = run(events)
    assert result.final == in_time_order(events).final
    assert result.intact


def test_the_cli_takes_a_late_verification_into_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tutorial's shape through `blacklist-rules run`: an event dated 40 days on comes
    first, then the freeze's cause, then a verification 10 days after it. The cancel is
    printed when the clock fires it, then reversed by the verification (stderr says so):
    `status` shows the account active, `explain` the cancel reversed, the trail verifies."""
    events = tmp_path / "events.jsonl"
    lines = [tick(40 * DAY), cause("verification"), passed(10 * DAY)]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    db = str(tmp_path / "b.db")
    assert main(["run", str(events), "--db", db]) == 0
    out, err = capsys.readouterr()
    decided = {d["rule_id"]: d for d in map(json.loads, out.splitlines())}
    assert set(decided) == {FREEZE_V, CANCEL_V}
    cancel = decided[CANCEL_V]["decision_id"]
    assert f"pass reversed {cancel} of a (by the cascade)" in err
    assert main(["status", "a", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "active"
    assert main(["explain", cancel, "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reversed_by"] == "pass"
    assert main(["audit", "verify", db]) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("edge", EDGES)
def test_a_worker_on_postgresql_takes_a_late_verification_into_account(edge: str) -> None:
    """One worker on a shared PostgreSQL db, where deadlines go by the watermark (its own
    committed progress): the freeze's cause, two clock events (the second fires the cancel,
    the watermark then past it), the verification last. The same end as SQLite in time order:
    inside the edge the late verification reverses the cancel; the trail verifies."""
    events = [
        cause("verification"),
        tick(40 * DAY),
        tick(41 * DAY, "tick2"),
        passed(15 * DAY + EDGES[edge]),
    ]
    timed = in_time_order(events)
    with fresh_database() as url:
        result = run(events, store=open_store(url), worker_id="w")
    assert result.final == timed.final
    assert result.intact
    assert result.reversals == ((UNMET,) if edge == "inside" else ())


def test_a_deadline_met_from_the_log_fails_closed_when_the_engines_disagree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A freeze decided on a late failed verification starts its deadline only after reading
    the account's log for a passed verification in its span: the guard finds one there, and
    when durable-rules does not agree the event fails (never a silent "not met"); the retry
    finds it met, and the freeze ends at once."""
    with Engine(RULESET, SQLiteStore(), max_lead=None) as engine:
        engine.process(passed(5 * DAY))
        core = engine._core
        names = {core.ruleset.streams[key].listener.name for key in core.index.from_log}
        real = engine._matcher.match
        monkeypatch.setattr(
            engine._matcher, "match", lambda snapshot: [n for n in real(snapshot) if n not in names]
        )
        with pytest.raises(EvaluationError, match="disagree"):
            engine.process(cause("verification", 1 * DAY))
        monkeypatch.undo()
        (decision,) = engine.process(cause("verification", 1 * DAY)).decisions
        assert decision.rule_id == FREEZE_V
        assert engine.status("a") == "active"
        assert [row.state for row in engine.store.deadlines_of("a")] == ["met"]
