"""Bounded event time: an event may lead the wall clock by at most `max_lead`, and so may a
move of the clock (`advance_to`, `run --until`) unless forced and audited.

The wall clock is injected (`store.now`) so these tests do not depend on today's date."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import (
    ClockError,
    Engine,
    EvaluationError,
    TimeBound,
    iter_jsonl,
    load_ruleset,
    replay_diff,
    run_case,
)
from blacklist_rules import cli as cli_module
from blacklist_rules.engine.core import Core
from blacklist_rules.model.clock import duration_text
from blacklist_rules.model.events import parse_time
from blacklist_rules.tools.cases import parse_cases

from .support import T0, event
from .test_cli import cli

WALL = T0 + timedelta(days=30)
"""The wall clock the engines here read: 2026-03-31T08:00Z."""
LIMIT = WALL + timedelta(days=1)
"""The latest event time the default bound (1 day) admits."""
US = timedelta(microseconds=1)
HOSTILE = datetime(2998, 1, 1, tzinfo=UTC)
EDGES = [
    pytest.param(-US, True, id="1us-inside"),
    pytest.param(timedelta(0), True, id="at-the-limit"),
    pytest.param(US, False, id="1us-beyond"),
]
"""Offsets from the limit, and whether they are admitted."""


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An in-memory engine over the default pack whose wall clock reads WALL."""
    with Engine.from_path() as engine:
        engine.store.now = lambda: WALL
        yield engine


def _report(event_id: str, at: datetime, account: str = "acct-1") -> dict[str, Any]:
    """An unconfirmed impersonation report: it matches no rule alone, so accepting it writes
    only the event and its history."""
    return event(
        "impersonation_report", account, at, event_id, reporter_id=f"r-{event_id}", confirmed=False
    )


def _kinds(engine: Engine) -> list[str]:
    return [record.kind for record in engine.audit_records()]


@pytest.mark.parametrize(("offset", "accepted"), EDGES)
@pytest.mark.parametrize("first", ["boundary", "earlier"])
def test_an_event_at_the_limit_is_accepted_one_microsecond_beyond_rejected(
    engine: Engine, offset: timedelta, accepted: bool, first: str
) -> None:
    """The limit is inclusive: `occurred_at` = wall clock + max_lead is admitted, 1 µs more is
    not, 1 µs less is; whether the clock was already moved by an earlier event or not."""
    edge, earlier = _report("edge", LIMIT + offset), _report("early", WALL - timedelta(days=2))
    order = (edge, earlier) if first == "boundary" else (earlier, edge)
    outcomes = [engine.process(e) for e in order]
    edge_outcome = next(o for o in outcomes if o.event_id == "edge")
    assert edge_outcome.accepted is accepted
    assert all(o.accepted for o in outcomes if o.event_id == "early")
    if accepted:
        assert engine.clock == LIMIT + offset
    else:
        assert engine.clock == WALL - timedelta(days=2)
        assert edge_outcome.rejection is not None
        assert edge_outcome.rejection.path == "occurred_at"
        assert "max_lead (1d)" in edge_outcome.rejection.reason
        assert _kinds(engine) == ["rejected_event"]


@pytest.mark.parametrize(("offset", "accepted"), EDGES)
def test_a_configured_max_lead_moves_the_limit(offset: timedelta, accepted: bool) -> None:
    """`Engine.from_path(max_lead=…)`: the limit is the wall clock plus that margin, to the
    microsecond."""
    with Engine.from_path(max_lead=timedelta(hours=2)) as engine:
        engine.store.now = lambda: WALL
        outcome = engine.process(_report("e1", WALL + timedelta(hours=2) + offset))
        assert outcome.accepted is accepted


def test_no_bound_admits_any_date() -> None:
    """`max_lead=None` (replays of logs already admitted): a far date is accepted."""
    with Engine.from_path(max_lead=None) as engine:
        engine.store.now = lambda: WALL
        assert engine.process(_report("e1", HOSTILE)).accepted
        assert engine.clock == HOSTILE


@pytest.mark.parametrize(
    "lead", [timedelta(microseconds=-1), timedelta(days=36_526), "1d"], ids=str
)
def test_a_max_lead_out_of_range_is_refused(lead: object) -> None:
    """A negative margin, one over 100 years, or not a timedelta: `ValueError` at once."""
    with pytest.raises(ValueError, match="max_lead"):
        TimeBound(lead)  # type: ignore[arg-type]


def test_a_far_future_event_changes_nothing(engine: Engine) -> None:
    """A failed verification freezes and starts a 15-day deadline; an event dated 2998 would
    have moved the clock past it and cancelled the account. It is rejected instead: the
    clock, the status, the pending deadline and the decisions are as before, and later events
    are decided as if it never came."""
    failed = {"status": "failed", "reason": "name_id_mismatch"}
    frozen = engine.process(event("identity_verification", "acct-1", T0, "v1", **failed))
    assert [d.action for d in frozen.decisions] == ["freeze"]
    clock, decisions = engine.clock, engine.decisions("acct-1")
    hostile = engine.process(_report("far", HOSTILE, account="acct-2"))
    assert hostile.rejection is not None
    assert hostile.decisions == ()
    assert hostile.status_changes == ()
    assert engine.clock == clock
    assert engine.status("acct-1") == "frozen"
    assert engine.decisions("acct-1") == decisions
    assert [d.state for d in engine.deadlines("acct-1")] == ["pending"]
    assert engine.status("acct-2") == "active"
    assert engine.decisions("acct-2") == []
    later = T0 + timedelta(days=3)
    passed = engine.process(event("identity_verification", "acct-1", later, "v2", status="passed"))
    assert passed.accepted
    assert engine.status("acct-1") == "active"  # the deadline was met, not fired


def test_run_reports_the_rejected_line_and_goes_on(engine: Engine) -> None:
    """Within `Engine.run`, the far event is a rejection with its line; the next one counts."""
    lines = iter_jsonl(
        json.dumps(e)
        for e in (_report("a", T0), _report("b", HOSTILE), _report("c", T0 + timedelta(hours=1)))
    )
    outcomes = list(engine.run(lines, source="x.jsonl"))
    assert [o.accepted for o in outcomes] == [True, False, True]
    assert outcomes[1].line == 2
    (record,) = [r for r in engine.audit_records() if r.kind == "rejected_event"]
    assert record.record["line"] == 2
    assert record.record["source"] == "x.jsonl"
    assert engine.clock == T0 + timedelta(hours=1)


@pytest.mark.parametrize(("offset", "moves"), EDGES)
@pytest.mark.parametrize("clock", ["none", "set"])
def test_advance_to_stops_at_the_limit(
    engine: Engine, offset: timedelta, moves: bool, clock: str
) -> None:
    """`advance_to` the limit moves, 1 µs beyond raises `ClockError` and moves nothing (no
    audit record either), 1 µs before moves: from a fresh clock and from a set one."""
    if clock == "set":
        engine.process(_report("a", T0))
    before, records = engine.clock, _kinds(engine)
    if moves:
        engine.advance_to(LIMIT + offset)
        assert engine.clock == LIMIT + offset
    else:
        with pytest.raises(ClockError, match="refused"):
            engine.advance_to(LIMIT + offset)
        assert engine.clock == before
    assert _kinds(engine) == records  # nothing forced: nothing audited


def test_a_forced_move_beyond_the_limit_is_audited(engine: Engine) -> None:
    """`advance_to(…, force=True)` 1 µs beyond the limit moves the clock and writes one
    `clock_forced` record: from, to, the wall clock, the margin, forced."""
    engine.process(_report("a", T0))
    engine.advance_to(LIMIT + US, force=True)
    assert engine.clock == LIMIT + US
    (record,) = [r for r in engine.audit_records() if r.kind == "clock_forced"]
    assert record.record == {
        "from": "2026-03-01T08:00:00+00:00",
        "to": "2026-04-01T08:00:00.000001+00:00",
        "wall_clock": "2026-03-31T08:00:00+00:00",
        "max_lead": "1d",
        "forced": True,
    }
    assert parse_time(record.occurred_at) == LIMIT + US


def test_force_within_the_limit_or_backwards_writes_nothing(engine: Engine) -> None:
    """Force only matters beyond the limit: a forced move within it, and a move back (which
    moves nothing, even from a clock beyond the limit), write no audit record."""
    engine.advance_to(LIMIT, force=True)
    assert _kinds(engine) == []
    engine.advance_to(HOSTILE, force=True)
    engine.advance_to(HOSTILE - timedelta(days=1))  # back: nothing, and no refusal
    assert engine.clock == HOSTILE
    assert _kinds(engine) == ["clock_forced"]


# --- the command line (a real wall clock: dates far ahead, or relative to now) ----------------
def _write(path: Path, *events: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def test_run_rejects_a_far_future_line(tmp_path: Path) -> None:
    """`run`: the line dated 2998 is reported with its line and reason, the others count; exit
    0, and 1 with --strict."""
    events = _write(tmp_path / "e.jsonl", _report("a", T0), _report("b", HOSTILE), _report("c", T0))
    done = cli("run", str(events), "--db", str(tmp_path / "x.db"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reason = "occurred_at: 2998-01-01T00:00:00+00:00 is more than max_lead (1d) ahead"
    assert f"{events}:2: rejected: {reason}" in done.stderr
    assert "2 accepted, 0 duplicates (ignored), 1 rejected" in done.stderr
    strict = cli("run", str(events), "--db", str(tmp_path / "y.db"), "--strict", cwd=tmp_path)
    assert strict.returncode == 1


@pytest.mark.parametrize(("lead", "accepted"), [("2h", False), ("4h", True)])
def test_run_max_lead_option(tmp_path: Path, lead: str, accepted: bool) -> None:
    """`run --max-lead`: an event three hours ahead of now is rejected under 2h, kept under
    4h (dated from the real wall clock: the CLI reads it)."""
    ahead = datetime.now(UTC) + timedelta(hours=3)
    events = _write(tmp_path / "e.jsonl", _report("a", ahead))
    done = cli("run", str(events), "--db", str(tmp_path / "x.db"), "--max-lead", lead, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("1 accepted" in done.stderr) is accepted
    assert ("max_lead (2h)" in done.stderr) is not accepted


def test_run_until_beyond_the_limit_is_refused_unless_forced(tmp_path: Path) -> None:
    """`run --until 2998…`: exit 2 and one error line before any event is processed; with
    --force the clock moves and the audit trail holds the forced move."""
    events = _write(tmp_path / "e.jsonl", _report("a", T0))
    db = str(tmp_path / "x.db")
    refused = cli("run", str(events), "--db", db, "--until", "2998-01-01T00:00:00Z", cwd=tmp_path)
    assert refused.returncode == 2
    assert "error: moving event time to 2998-01-01T00:00:00+00:00 refused" in refused.stderr
    assert "processed" not in refused.stderr
    forced = cli(
        "run", str(events), "--db", db, "--until", "2998-01-01T00:00:00Z", "--force", cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    assert "clock advanced to 2998-01-01T00:00:00+00:00" in forced.stderr
    export = cli("audit", "export", db, cwd=tmp_path)
    kinds = [json.loads(line)["kind"] for line in export.stdout.splitlines()]
    assert kinds.count("clock_forced") == 1


@pytest.mark.parametrize(
    "args",
    [["--force"], ["--max-lead", "1x"], ["--commit-every", "0"], ["--commit-every", "x"]],
    ids=" ".join,
)
def test_run_option_misuse_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    """--force without --until, a bad duration, a commit interval under 1: exit 2."""
    events = _write(tmp_path / "e.jsonl", _report("a", T0))
    done = cli("run", str(events), "--db", str(tmp_path / "x.db"), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


FAR_CASE = """
- name: two malicious rumours in 2998 freeze
  events:
    - {event_id: f1, type: rumor_flag, account_id: a, occurred_at: "2998-05-01T09:00:00Z",
       content_id: c1, verdict: malicious_rumor, source: fact_check}
    - {event_id: f2, type: rumor_flag, account_id: a, occurred_at: "2998-06-01T09:00:00Z",
       content_id: c2, verdict: malicious_rumor, source: fact_check}
  until: "2998-08-01T09:00:00Z"
  expect:
    - {account_id: a, action: freeze, rule_id: freeze-repeated-malicious-rumours}
  final_status: {a: active}
"""


def test_rule_test_cases_and_diff_run_in_event_time_alone(tmp_path: Path) -> None:
    """Rule test cases and `diff` are simulations: their verdict must not depend on the day
    they run, so no wall-clock bound applies (a case in 2998 passes; a diff keeps its events)."""
    ruleset = load_ruleset(None)
    (case,), errors = parse_cases(FAR_CASE, "far.yaml")
    assert errors == []
    result = run_case(ruleset, case)
    assert result.passed, result.problems
    lines = iter_jsonl(json.dumps(_report(f"e{n}", HOSTILE + n * US)) for n in range(2))
    report = replay_diff(ruleset, ruleset, lines, tmp_path)
    assert (report["events"], report["rejected"]) == (2, 0)


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(weeks=2), "2w"),
        (timedelta(days=1), "1d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(0), "0s"),
    ],
)
def test_margins_are_written_as_durations(span: timedelta, text: str) -> None:
    """Messages and audit records name the margin as the CLI reads it: the largest exact unit."""
    assert duration_text(span) == text


def test_a_failure_while_run_until_moves_the_clock_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deadline that fails to evaluate during `run --until` is a failure (exit 3, one FAILED
    line, nothing moved, the events before it kept), not a usage error (exit 2); the retry,
    once evaluation works again, moves the clock and fires the deadline."""
    failed = event("identity_verification", "a", timedelta(0), "v1", status="failed")
    events = _write(tmp_path / "e.jsonl", failed)
    db = str(tmp_path / "x.db")
    until = (T0 + timedelta(days=30)).isoformat()
    args = ["run", str(events), "--db", db, "--until", until, "--force"]

    agree = Core.agree

    def boom(self: Core, what: str, snapshot: dict[str, Any], expected: list[str]) -> None:
        if what.startswith("deadline "):
            raise EvaluationError("boom")
        agree(self, what, snapshot, expected)

    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(Core, "agree", boom)
        assert cli_module.main(args) == 3
    err = capsys.readouterr().err
    assert "FAILED moving the clock (nothing moved): " in err
    assert "1 accepted" in err
    assert "1 failed" in err
    with Engine.from_path(db=db, max_lead=None) as engine:
        assert (engine.status("a"), engine.clock) == ("frozen", T0)
    assert cli_module.main(args) == 0
    assert '"action":"cancel"' in capsys.readouterr().out.replace(" ", "")
