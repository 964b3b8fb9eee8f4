"""Persistence: a log processed in two runs, or by a run SIGKILLed and started again, ends
where one uninterrupted run over the whole log ends.

The runs are real `python -m blacklist_rules run` subprocesses over real SQLite files (one test
drives the Python API instead), over a seeded synthetic log heavy in history: rumour windows,
reporter windows and 15-day verification deadlines, over 17 months of event time, so history
and deadlines are pruned along the way. Dbs are read back with `sqlite3` directly, and the
subprocess kills rely on POSIX signals and a Linux pipe-size control (`F_SETPIPE_SZ`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from blacklist_rules import Engine, SQLiteStore, iter_jsonl
from blacklist_rules.model.identity import KEY_ENV
from blacklist_rules.testing import generate_events, write_jsonl

from .support import TEST_KEY

ROOT = Path(__file__).resolve().parents[1]

# 30,000 events of 500 accounts, 60% of them playing a suspicious scenario, from 2026-01-01 to
# 2027-05-29: about 340 decisions, 30 batches of 1,000 events, about two seconds a run.
N_EVENTS = 30_000
N_ACCOUNTS = 500
SEED = 5
BENIGN_SHARE = 0.4
BATCH = 1_000  # the CLI's commit interval (`Engine.commit_every`)
HISTORY_RULES = {
    "freeze-repeated-malicious-rumours",
    "blacklist-repeated-malicious-rumours",
    "freeze-suspected-impersonation",
    "cancel-unverified-after-freeze",
}
"""The rules that need history: two windows over rumours, one over reporters, one deadline."""

Row = tuple[object, ...]
MALFORMED = {"event_id": "bad-1", "type": "rumor_flag", "occurred_at": "2026-01-01T08:00:00+08:00"}


# --- running the command line -------------------------------------------------------------------
def _command(events: Path, db: Path) -> list[str]:
    """`run` with no practical wall-clock bound: the generated log reaches 2027-05-29."""
    run = [sys.executable, "-m", "blacklist_rules", "run", str(events), "--db", str(db)]
    return [*run, "--max-lead", "36500d"]


def _env() -> dict[str, str]:
    # Unbuffered: a decision line leaves the child as soon as it is decided.
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "PYTHONUNBUFFERED": "1",
        KEY_ENV: TEST_KEY,  # module-scoped runs come before the per-test environment
    }


def run_cli(events: Path, db: Path) -> list[str]:
    """One complete `run`; its decision lines, in order."""
    result = subprocess.run(
        _command(events, db), env=_env(), capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert " 0 failed" in result.stderr, result.stderr
    return result.stdout.splitlines()


@dataclass(frozen=True)
class Kill:
    """When to SIGKILL a run: once it prints a decision taken at input line `line` or later;
    else once `committed` events are committed in its db; else `delay` seconds after start."""

    line: int | None = None
    committed: int | None = None
    delay: float = 0.0


def run_killed(events: Path, db: Path, kill: Kill, line_of: dict[str, int]) -> list[str]:
    """Start `run`, SIGKILL it at `kill`, and return every decision line it delivered: those
    read before the kill and those it had written to the pipe when it died.

    The pipe is shrunk to one page: a child that prints faster than the test reads blocks, so
    a kill after a given line lands within a few decisions of it, however slow the test is.
    """
    delivered: list[str] = []
    with subprocess.Popen(
        _command(events, db),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as child:
        stdout = child.stdout
        assert stdout is not None
        fcntl.fcntl(stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
        if kill.line is not None:
            for line in stdout:
                delivered.append(line)
                if line_of[json.loads(line)["decision_id"]] >= kill.line:
                    break
            else:
                pytest.fail("the run ended before the kill")
        # Without a line to wait for, read in the background: a full pipe would block the child.
        drain = threading.Thread(target=lambda: delivered.extend(stdout), daemon=True)
        if kill.line is None:
            drain.start()
        if kill.committed is not None:
            while count_committed(db) < kill.committed:
                assert child.poll() is None, "the run ended before the kill"
                time.sleep(0.005)
        time.sleep(kill.delay)
        os.kill(child.pid, signal.SIGKILL)
        if kill.line is None:
            drain.join(timeout=60)
        else:
            delivered += stdout.readlines()
        assert child.wait(timeout=60) == -signal.SIGKILL, "the run ended before the kill"
    complete = [line.removesuffix("\n") for line in delivered if line.endswith("\n")]
    assert len(complete) >= len(delivered) - 1  # at most the last one cut short by the kill
    return complete


# --- reading a db -----------------------------------------------------------------------------
def _query(db: Path, sql: str) -> list[Row]:
    connection = sqlite3.connect(db)
    try:
        return [tuple(row) for row in connection.execute(sql).fetchall()]
    finally:
        connection.close()


def count_committed(db: Path) -> int:
    """Events committed in the db (0 while it or its tables do not exist yet)."""
    try:
        return int(str(_query(db, "SELECT count(*) FROM events")[0][0])) if db.exists() else 0
    except sqlite3.OperationalError:  # no such table: killed while creating the schema
        return 0


def committed_decisions(db: Path) -> set[str]:
    try:
        rows = _query(db, "SELECT decision_id FROM decisions") if db.exists() else []
    except sqlite3.OperationalError:
        rows = []
    return {str(row[0]) for row in rows}


@dataclass(frozen=True)
class State:
    """What a run leaves in its db for later runs and readers."""

    statuses: frozenset[Row]
    decisions: frozenset[Row]
    deadlines: frozenset[Row]
    history: frozenset[Row]
    events: frozenset[Row]
    audit: tuple[Row, ...]
    """Every audit record in `seq` order, without `seq`, `recorded_at` (wall-clock time) and
    the chain's hashes (which cover `recorded_at`)."""
    meta: frozenset[Row]
    chain: str
    """The audit chain's verdict: intact after every kill, or the test fails."""


def read_state(db: Path) -> State:
    return State(
        statuses=frozenset(_query(db, "SELECT account_id, status FROM accounts")),
        decisions=frozenset(
            _query(
                db,
                "SELECT decision_id, account_id, event_id, action, mode, rule_id, effective_at, "
                "expires_at, end_condition, ended_at, reversed_by, record FROM decisions",
            )
        ),
        deadlines=frozenset(_query(db, "SELECT * FROM deadlines")),
        history=frozenset(_query(db, "SELECT * FROM history")),
        events=frozenset(_query(db, "SELECT * FROM events")),
        audit=tuple(
            _query(
                db,
                "SELECT version, kind, account_id, event_id, decision_id, occurred_at, record "
                "FROM audit ORDER BY seq",
            )
        ),
        # The chain's head covers wall-clock times, so it differs; `chain` checks it instead.
        meta=frozenset(_query(db, "SELECT key, value FROM meta WHERE key != 'audit_head'")),
        chain=_chain(db),
    )


def _chain(db: Path) -> str:
    store = SQLiteStore(db)
    try:
        verdict = store.verify_audit()
    finally:
        store.close()
    return "intact" if verdict.ok else str(verdict)


# --- comparing ----------------------------------------------------------------------------------
def _differ(part: str, got: object, want: object) -> None:
    """Fail with the first differing rows of one part of the state."""
    if isinstance(got, frozenset) and isinstance(want, frozenset):
        extra, missing = sorted(map(str, got - want)), sorted(map(str, want - got))
        detail = (
            f"{len(extra)} rows only here, e.g. {extra[:2]}; "
            f"{len(missing)} only in the uninterrupted run, e.g. {missing[:2]}"
        )
    elif isinstance(got, tuple) and isinstance(want, tuple):
        at = next(
            (i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
            min(len(got), len(want)),
        )
        here = got[at] if at < len(got) else "(none)"
        there = want[at] if at < len(want) else "(none)"
        detail = (
            f"{len(got)} records against {len(want)}, first difference at record {at}: "
            f"{here} != {there}"
        )
    else:
        detail = f"{got!r} != {want!r}"
    pytest.fail(f"{part}: {detail}")


def assert_same_state(got: State, want: State) -> None:
    """Every table equal, the audit trail record by record."""
    for part in ("statuses", "decisions", "deadlines", "history", "events", "audit", "meta"):
        if getattr(got, part) != getattr(want, part):
            _differ(part, getattr(got, part), getattr(want, part))


def without_where(state: State) -> State:
    """The state with the file and line left out of rejection records: a log split in two
    files names other files and lines."""

    def strip(row: Row) -> Row:
        if row[1] != "rejected_event":
            return row
        record = {k: v for k, v in json.loads(str(row[6])).items() if k not in ("source", "line")}
        return (*row[:6], json.dumps(record, sort_keys=True))

    return dataclasses.replace(state, audit=tuple(map(strip, state.audit)))


def assert_each_decision_recorded_once(state: State) -> None:
    """One decision record in the audit trail per decision: none doubled, none missing."""
    recorded = Counter(row[4] for row in state.audit if row[1] == "decision")
    doubled = sorted(str(d) for d, n in recorded.items() if n > 1)
    assert not doubled, f"decisions recorded twice in the audit trail: {doubled[:5]}"
    assert set(recorded) == {row[0] for row in state.decisions}


def decision_id(line: str) -> str:
    return str(json.loads(line)["decision_id"])


# --- the reference run ------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    events: Path
    lines: list[str]
    """Decision lines of the uninterrupted run, in order."""
    state: State
    line_of: dict[str, int]
    """For each decision, the input line the run had reached when it printed it."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """One uninterrupted run over the whole log, which every other run must end as."""
    folder = tmp_path_factory.mktemp("persistence")
    events = folder / "events.jsonl"
    generated = generate_events(
        N_EVENTS, n_accounts=N_ACCOUNTS, seed=SEED, benign_share=BENIGN_SHARE
    )
    assert write_jsonl(generated, events) == N_EVENTS
    # Two malformed lines, which every run must reject and record once: one without an
    # account, one reusing an event id with other content.
    lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
    reused = {**json.loads(lines[9]), "note": "changed"}
    lines.insert(1, json.dumps(MALFORMED) + "\n")
    lines.insert(5_001, json.dumps(reused) + "\n")
    events.write_text("".join(lines), encoding="utf-8")
    db = folder / "reference.db"
    lines = run_cli(events, db)
    state = read_state(db)

    # Where the run was when it printed each line: the latest event a decision so far was
    # recorded for (a deadline's decision is recorded for the event that started it).
    line_number = {
        json.loads(text)["event_id"]: n
        for n, text in enumerate(events.read_text(encoding="utf-8").splitlines(), start=1)
    }
    recorded_for = {str(row[0]): line_number[str(row[2])] for row in state.decisions}
    reached = itertools.accumulate((recorded_for[decision_id(x)] for x in lines), max)
    line_of = dict(zip(map(decision_id, lines), reached, strict=True))

    # Not vacuous: history rules decided, history and deadlines kept and pruned.
    rules = Counter(json.loads(line)["rule_id"] for line in lines)
    assert set(rules) >= HISTORY_RULES, rules
    assert len(set(map(decision_id, lines))) == len(lines) == len(state.decisions) > 300
    assert len(state.events) == N_EVENTS
    assert [row[3] for row in state.audit if row[1] == "rejected_event"] == [
        "bad-1",
        reused["event_id"],
    ]
    assert {row[6] for row in state.deadlines} >= {"met", "fired"}
    assert state.history
    assert "pruned_at_us" in {row[0] for row in state.meta}
    assert_each_decision_recorded_once(state)
    return Reference(events, lines, state, line_of)


# --- the tests --------------------------------------------------------------------------------
KILLS = {
    # A fixed 0.15 s after the start: while Python starts, the pack compiles, the db is
    # created or the first events run (where exactly depends on the machine).
    "while-starting": [Kill(delay=0.15)],
    # Just after the first decision, in the first batch.
    "first-decision": [Kill(line=1)],
    # Mid-batch, decisions printed since the last commit.
    "mid-batch": [Kill(line=6_100)],
    # Deep in the log, past the last decision, where history and deadlines are being pruned.
    "late": [Kill(committed=24_000, delay=0.02)],
    # Killed, started again and killed again (it prints nothing for what it had committed),
    # then started a third time.
    "killed-twice": [Kill(line=2_100), Kill(line=7_100)],
}


@pytest.mark.parametrize("kills", list(KILLS.values()), ids=list(KILLS))
def test_a_killed_run_started_again_ends_as_an_uninterrupted_run(
    reference: Reference, tmp_path: Path, kills: list[Kill]
) -> None:
    """`run` SIGKILLed (a real kill of a real subprocess) at a given point, once or twice, then
    started again over the same input and db until it finishes, ends with the state of one
    uninterrupted run: statuses, decisions, deadlines, history, processed events, meta and the
    whole audit trail, record by record. No decision is recorded twice, and every decision
    reaches stdout at least once: the last run prints exactly those the kills left uncommitted,
    in the uninterrupted run's order, so a decision printed before a kill and lost with the
    uncommitted batch is printed again."""
    db = tmp_path / "killed.db"
    delivered: list[str] = []
    for kill in kills:
        printed = run_killed(reference.events, db, kill, reference.line_of)
        committed = committed_decisions(db)
        assert count_committed(db) < N_EVENTS, "the kill came after the run had finished"
        assert set(printed) <= set(reference.lines)
        if kill.line is not None:
            uncommitted = set(map(decision_id, printed)) - committed
            assert uncommitted, "the kill came after a commit, not in the middle of a batch"
        delivered += printed
    rerun = run_cli(reference.events, db)
    state = read_state(db)

    assert_same_state(state, reference.state)
    assert_each_decision_recorded_once(state)
    assert set(delivered) | set(rerun) == set(reference.lines)  # none lost, none invented
    assert rerun == [line for line in reference.lines if decision_id(line) not in committed]


def _split(events: Path, at: int, folder: Path) -> tuple[Path, Path]:
    lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
    first, second = folder / "first.jsonl", folder / "second.jsonl"
    first.write_text("".join(lines[:at]), encoding="utf-8")
    second.write_text("".join(lines[at:]), encoding="utf-8")
    return first, second


@pytest.mark.parametrize("at", [15 * BATCH, 4_567], ids=["at-a-batch-end", "mid-batch"])
def test_a_log_split_over_two_runs_ends_as_one_run(
    reference: Reference, tmp_path: Path, at: int
) -> None:
    """The first `at` lines in one `run`, the rest in a second `run` over the same db: the same
    decisions in the same order, and the same db, table by table and audit record by record,
    whether the split falls where the whole-log run committed (15,000) or not (4,567: pruning
    steps on a grid of event time, not at commits)."""
    first, second = _split(reference.events, at, tmp_path)
    db = tmp_path / "split.db"
    decided = run_cli(first, db) + run_cli(second, db)
    state = read_state(db)

    assert decided == reference.lines
    assert_same_state(without_where(state), without_where(reference.state))
    assert_each_decision_recorded_once(state)


def test_a_log_split_over_two_engines_decides_as_one_run(
    reference: Reference, tmp_path: Path
) -> None:
    """Through the Python API: an `Engine.from_path(db=…)` committing every 7 events runs the
    first 10,001 events and is closed; a new one over the same db runs the rest. Together they
    take the decisions of the uninterrupted run in its order, and leave its db."""
    db = tmp_path / "api.db"
    decided: list[str] = []
    for start, stop in ((0, 10_001), (10_001, None)):
        with Engine.from_path(db=db, max_lead=None) as engine:  # the log reaches 2027
            engine.commit_every = 7
            part = itertools.islice(iter_jsonl(reference.events), start, stop)
            for outcome in engine.run(part, source=str(reference.events)):
                assert outcome.accepted or outcome.rejection, outcome
                decided += [
                    json.dumps(d.to_dict(), ensure_ascii=False, separators=(",", ":"), default=str)
                    for d in outcome.decisions
                ]
    state = read_state(db)

    assert decided == reference.lines
    assert_same_state(state, reference.state)
    assert_each_decision_recorded_once(state)
