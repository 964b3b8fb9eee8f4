"""Issue 14, finding 4: `audit verify` missed plain SQL edits of the tables that decisions,
exports and statuses read. Every row of `decisions`, `accounts`, `blacklist` and `deadlines`,
and every evidence event, is now checked against the chained records that wrote it
(`audit_crosscheck`), on dbs built by realistic runs: the example events, a reversal cascade,
deadlines that fired, fell void or are pending, freezes that ended, an audit purge, a DSA
export."""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings

from blacklist_rules import Engine, SQLiteStore, iter_jsonl
from blacklist_rules.cli import main
from blacklist_rules.engine import record as engine_module
from blacklist_rules.model.identity import KEY_ENV
from blacklist_rules.stores.sqlite import audit as store_module

from .strategies import Tampering, tamperings
from .support import T0, TEST_KEY, event, verdict_of
from .test_cascade import DAY, WANG, overturn, registered, three_strikes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ZHAO = "11010519491231002X"
EVIDENCE = "SELECT value FROM decisions, json_each(decisions.record, '$.evidence')"
"""The ids of every decision's evidence."""


def _realistic(db: Path) -> None:
    """The example events (an overturned appeal among them) logged in 2025 and 2026 by the
    wall clock, a re-registration, a cascade that takes a blacklist with a freeze, a deadline
    that fires and falls with the freeze it counted from, and freezes whose time ends."""
    events = list(iter_jsonl(EXAMPLES / "events.jsonl"))
    with Engine.from_path(db=db, max_lead=None) as engine:
        engine.store.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[:600]):
            pass
        engine.store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        for _ in engine.run([*events[600:], *iter_jsonl(EXAMPLES / "reregistration.jsonl")]):
            pass
        freeze_id, _blacklist = three_strikes(engine)
        engine.process(overturn("zhang", 25 * DAY, "ap1", freeze_id))
        engine.process(registered("wang", 30 * DAY, "w-reg", WANG))
        failed = event(
            "identity_verification",
            "wang",
            31 * DAY,
            "w-v1",
            status="failed",
            reason="name_id_mismatch",
        )
        decided = engine.process(failed).decisions
        freeze = next(
            d for d in decided if (d.account_id, d.action, d.mode) == ("wang", "freeze", "enforce")
        )
        engine.advance_to(T0 + 47 * DAY)  # the 15-day deadline fires: a cancel
        engine.process(_lift("wang", 50, "w-lift", freeze.decision_id))
        engine.advance_to(T0 + 120 * DAY)  # freezes end
        _deadlines_void_and_pending(engine)


def _lift(account: str, day: int, event_id: str, decision_id: str) -> dict[str, Any]:
    return event(
        "review_decision",
        account,
        day * DAY,
        event_id,
        reviewer_id="rev",
        action="lift",
        decision_id=decision_id,
        reason="mistyped",
    )


def _deadlines_void_and_pending(engine: Engine) -> None:
    """zhao's freeze is lifted before its deadline, which is void when it comes due; a second
    freeze's deadline is still pending at the end."""
    engine.process(registered("zhao", 121 * DAY, "z-reg", ZHAO))
    failed = event(
        "identity_verification", "zhao", 122 * DAY, "z-v1", status="failed", reason="expired"
    )
    (freeze,) = engine.process(failed).decisions
    engine.process(_lift("zhao", 124, "z-lift", freeze.decision_id))
    engine.advance_to(T0 + 140 * DAY)
    engine.process({**failed, "event_id": "z-v2", "occurred_at": (T0 + 141 * DAY).isoformat()})


def _purged(db: Path) -> None:
    """After `_realistic`: an audit purge of what 2025 logged, then an appeal overturning a
    decision whose records the purge removed (its row was recorded again), then a DSA export
    through the CLI."""
    store = SQLiteStore(db)
    try:
        store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        removed, _kept = store.purge_audit(datetime(2025, 6, 1, tzinfo=UTC))
        assert removed > 0
        kept = {r.decision_id for r in store.audit_records() if r.kind == "decision"}
        old = [
            stored
            for stored in store.enforced_decisions()
            if stored.decision.decision_id not in kept
            and stored.ended_at is None
            and stored.reversed_by is None
        ]
    finally:
        store.close()
    record = old[0].decision
    appeal = event(
        "appeal_outcome",
        record.account_id,
        T0 + 130 * DAY,
        "late-appeal",
        decision_id=record.decision_id,
        outcome="overturned",
        reviewer_id="rev-9",
        reason="reviewed again",
    )
    with Engine.from_path(db=db, max_lead=None) as engine:
        assert engine.process(appeal).reversals
    out = db.with_suffix(".dsa.jsonl")
    assert main(["audit", "export", "--format", "dsa", "--output", str(out), str(db)]) == 0


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The realistic db, and the same purged, appealed and exported."""
    folder = tmp_path_factory.mktemp("bases")
    run, purged = folder / "run.db", folder / "purged.db"
    with pytest.MonkeyPatch.context() as patch:  # (the autouse key is per test)
        patch.setenv(KEY_ENV, TEST_KEY)
        _realistic(run)
        shutil.copyfile(run, purged)
        _purged(purged)
    return {"run": run, "purged": purged}


def _copy(base: Path, folder: Path, name: str = "t.db") -> Path:
    target = folder / name
    shutil.copyfile(base, target)
    return target


def _kinds(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {str(row[0]) for row in connection.execute("SELECT DISTINCT kind FROM audit")}


def test_realistic_dbs_verify_with_every_row_checked(bases: dict[str, Path]) -> None:
    """No false break: a run with a reversal cascade, deadlines that fired, fell void and are
    pending, ended freezes and blacklist entries made and voided verifies, every row checked;
    so does the same db after an audit purge, an appeal of a decision whose records the purge
    removed, and a DSA export."""
    for name, db in bases.items():
        verdict = verdict_of(db)
        assert verdict.ok, (name, str(verdict))
        assert verdict.unchecked == 0, name
        assert "not checked" not in str(verdict)
    assert {"decision_ended", "reversal", "blacklist_entry_removed", "deadline"} <= _kinds(
        bases["run"]
    )
    assert {"decision_carried", "status_carried", "entry_carried", "deadline_carried"} <= _kinds(
        bases["purged"]
    )


def _tamper(db: Path, change: Tampering) -> None:
    """Apply one edit with plain SQL; `reject()` when no value fits the column's constraints."""
    with sqlite3.connect(db) as connection:
        among = f"WHERE event_id IN ({EVIDENCE})" if change.table == "events" else ""
        rows = connection.execute(
            f"SELECT rowid, * FROM {change.table} {among} ORDER BY rowid"
        ).fetchall()
        names = [d[0] for d in connection.execute(f"SELECT * FROM {change.table}").description]
        row = rows[change.row % len(rows)]
        if change.op == "delete":
            connection.execute(f"DELETE FROM {change.table} WHERE rowid = ?", (row[0],))
            return
        if change.op == "insert":
            copied = list(row[1:])
            key = {"decisions": 0, "accounts": 0, "blacklist": 1, "deadlines": 1, "audit": 0}[
                change.table
            ]
            last = connection.execute(f"SELECT max(rowid) FROM {change.table}").fetchone()[0]
            copied[key] = last + 1 if change.table == "audit" else f"{copied[key]}x"
            marks = ", ".join("?" * len(copied))
            connection.execute(f"INSERT INTO {change.table} VALUES ({marks})", copied)
            return
        at = names.index(change.column)
        current = row[1 + at]
        donor = rows[change.donor % len(rows)][1 + at]
        changed = current + 1 if isinstance(current, int) else f"{current}x"
        for value in (donor, None, changed):
            if value == current:
                continue
            try:
                connection.execute(
                    f"UPDATE {change.table} SET {change.column} = ? WHERE rowid = ?",
                    (value, row[0]),
                )
            except sqlite3.IntegrityError:
                continue
            return
    reject()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(change=tamperings, purged=...)
def test_any_single_edit_of_a_covered_table_is_found(
    bases: dict[str, Path], tmp_path: Path, change: Tampering, purged: bool
) -> None:
    """Any single-cell UPDATE, row DELETE or plausible INSERT in decisions, accounts,
    blacklist, deadlines or audit, and any UPDATE or DELETE of an evidence event, on a
    realistic db (purged or not): `verify` reports a break."""
    db = _copy(bases["purged" if purged else "run"], tmp_path, f"p{next(_COPIES)}.db")
    _tamper(db, change)
    verdict = verdict_of(db)
    assert not verdict.ok, (change, str(verdict))


_COPIES = itertools.count()
"""Each example its own file: a copy over one left by the last would meet its WAL."""


def _edited(base: Path, folder: Path, *statements: str) -> str:
    # A name never used before: counting the folder's files could name an earlier copy again
    # while its -wal file is still there, and that copy's edits would leak into this one.
    db = _copy(base, folder, f"e{uuid.uuid4().hex}.db")
    with sqlite3.connect(db) as connection:
        for statement in statements:
            connection.execute(statement)
    return str(verdict_of(db))


def test_a_column_other_than_record_changed_in_decisions_is_found(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """A standing decision marked reversed, an end moved, a mode turned to shadow: each made a
    decision vanish from `status` or an export and passed; each is a break naming the column."""
    run = bases["run"]
    with sqlite3.connect(run) as connection:
        standing = connection.execute(
            "SELECT decision_id FROM decisions WHERE mode = 'enforce' AND reversed_by IS NULL "
            "AND ended_at IS NULL ORDER BY rowid LIMIT 1"
        ).fetchone()[0]
        ended = connection.execute(
            "SELECT decision_id FROM decisions WHERE ended_at IS NOT NULL LIMIT 1"
        ).fetchone()[0]
    where = f"WHERE decision_id = '{standing}'"
    said = _edited(run, tmp_path, f"UPDATE decisions SET reversed_by = 'x' {where}")
    assert f"decision {standing} in the decisions table: its reversed_by is 'x'" in said
    said = _edited(run, tmp_path, f"UPDATE decisions SET mode = 'shadow' {where}")
    assert "its mode is 'shadow', this record says 'enforce'" in said
    said = _edited(
        run, tmp_path, f"UPDATE decisions SET ended_at = NULL WHERE decision_id = '{ended}'"
    )
    assert f"decision {ended} in the decisions table: its ended_at is None" in said


def test_a_deleted_or_inserted_decision_row_is_found(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """A decision row deleted (a DSA statement disappeared, 21 -> 20) or one inserted beside
    the trail: a break naming it."""
    run = bases["run"]
    with sqlite3.connect(run) as connection:
        (first,) = connection.execute("SELECT decision_id FROM decisions LIMIT 1").fetchone()
    said = _edited(run, tmp_path, f"DELETE FROM decisions WHERE decision_id = '{first}'")
    assert f"the decisions table lacks the row of {first}: it was deleted" in said
    said = _edited(
        run,
        tmp_path,
        "INSERT INTO decisions SELECT decision_id || 'x', account_id, event_id, action, mode, "
        "rule_id, effective_at, expires_at, end_condition, ended_at, reversed_by, record, "
        f"reversed_how FROM decisions WHERE decision_id = '{first}'",
    )
    assert f"decision {first}x in the decisions table has no audit record: it was inserted" in said


def test_an_edited_status_or_listing_is_found(bases: dict[str, Path], tmp_path: Path) -> None:
    """Statuses and blacklist entries, which `status`, checks and exports read: an edited,
    deleted or inserted row is a break."""
    run = bases["run"]
    said = _edited(run, tmp_path, "UPDATE accounts SET status = 'active'")
    assert "in the accounts table: its status is 'active', this record says" in said
    said = _edited(run, tmp_path, "INSERT INTO accounts VALUES ('ghost', 'blacklisted')")
    assert "account ghost in the accounts table has no audit record: it was inserted" in said
    said = _edited(run, tmp_path, "DELETE FROM blacklist WHERE rowid = 1")
    assert "the blacklist table lacks the row of " in said
    said = _edited(run, tmp_path, "UPDATE blacklist SET removed_us = NULL, removed_by = NULL")
    assert "its removed_us is None, this record says " in said


def test_renumbered_records_are_found(bases: dict[str, Path], tmp_path: Path) -> None:
    """The record number is not hashed: the last record moved to a later number passed."""
    with sqlite3.connect(bases["run"]) as connection:
        (last,) = connection.execute("SELECT max(seq) FROM audit").fetchone()
    said = _edited(bases["run"], tmp_path, f"UPDATE audit SET seq = {last + 5} WHERE seq = {last}")
    assert said.startswith(f"chain broken at record #{last + 5}: it should be record #{last}")


def test_a_flipped_page_is_a_store_error_not_an_intact_chain(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """Bytes flipped in a page of the file that verify's queries do not read (an index):
    `audit verify` says the file is damaged, exit 4 (a store error), never "chain intact"."""
    db = _copy(bases["run"], tmp_path)
    with sqlite3.connect(db) as connection:
        (page,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'identities_by_account'"
        ).fetchone()
        (size,) = connection.execute("PRAGMA page_size").fetchone()
    data = bytearray(db.read_bytes())
    start = (page - 1) * size + 8  # past the page header's first bytes
    data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    db.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", "audit", "verify", str(db)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 4, done
    assert done.stderr.startswith(f"error: {db}: it is damaged (")
    assert done.stderr.count("\n") == 1
    assert done.stdout == ""


def test_the_cli_reports_an_edited_row_end_to_end(bases: dict[str, Path], tmp_path: Path) -> None:
    """Through the real CLI in a subprocess: intact exits 0; a decision row deleted exits 1
    with one line naming it on stderr, and `audit export --format dsa` refuses the db."""
    db = _copy(bases["run"], tmp_path)
    command = [sys.executable, "-m", "blacklist_rules", "audit"]
    done = subprocess.run([*command, "verify", str(db)], capture_output=True, text=True)
    assert done.returncode == 0, done
    assert done.stdout.startswith("chain intact: ")
    with sqlite3.connect(db) as connection:
        (first,) = connection.execute("SELECT decision_id FROM decisions LIMIT 1").fetchone()
        connection.execute("DELETE FROM decisions WHERE decision_id = ?", (first,))
    done = subprocess.run([*command, "verify", str(db)], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"lacks the row of {first}: it was deleted" in done.stderr
    assert done.stderr.count("\n") == 1
    out = tmp_path / "dsa.jsonl"
    done = subprocess.run(
        [*command, "export", "--format", "dsa", "--output", str(out), str(db)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert not out.exists()


def _one(db: Path, query: str) -> Any:
    with sqlite3.connect(db) as connection:
        return connection.execute(query).fetchone()[0]


def test_an_edited_or_deleted_evidence_event_is_found(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """The events a decision was taken on, which notices, explanations and DSA statements
    show: a payload or a time edited, or the event deleted, is a break naming the decision;
    one a history purge removed (its id kept in `purged_events`) is counted as not checked."""
    for base in bases.values():
        (strike,) = (
            _one(base, f"SELECT event_id FROM events WHERE event_id = '{name}'") for name in ("s3",)
        )
        decided = _one(
            base,
            "SELECT decision_id FROM decisions, json_each(decisions.record, '$.evidence') "
            f"WHERE value = '{strike}' ORDER BY decisions.rowid DESC LIMIT 1",
        )
        where = f"WHERE event_id = '{strike}'"
        said = _edited(
            base, tmp_path, f"UPDATE events SET payload = replace(payload, 'c3', 'c9') {where}"
        )
        assert f"event {strike}, evidence of decision " in said, said
        assert "is not what this record says it was decided on: it was changed" in said
        said = _edited(base, tmp_path, f"UPDATE events SET occurred_us = occurred_us + 1 {where}")
        assert "it was changed" in said
        said = _edited(base, tmp_path, f"DELETE FROM events {where}")
        assert "is not in the events table: it was deleted" in said
        assert decided in said or "evidence of decision d-" in said
        said = _edited(
            base,
            tmp_path,
            f"DELETE FROM events {where}",
            f"INSERT INTO purged_events VALUES ('{strike}')",
        )
        assert said.startswith("chain intact: "), said
        assert "1 rows" in said
        assert "not checked" in said


def _pending(db: Path) -> tuple[str, str]:
    with sqlite3.connect(db) as connection:
        rule, anchor = connection.execute(
            "SELECT rule_id, anchor_id FROM deadlines WHERE state = 'pending'"
        ).fetchone()
    return str(rule), str(anchor)


def test_a_deleted_inserted_or_edited_deadline_row_is_found(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """A pending deadline deleted or marked met (the frozen account is then never cancelled),
    a fired one made pending again, a due time moved, a row inserted: each is a break naming
    the deadline, on the db as run and after a purge that re-recorded the deadlines."""
    for base in bases.values():
        rule, anchor = _pending(base)
        where = f"WHERE anchor_id = '{anchor}'"
        said = _edited(base, tmp_path, f"DELETE FROM deadlines {where}")
        assert f"the deadlines table lacks the row of {rule}/{anchor}: it was deleted" in said
        said = _edited(base, tmp_path, f"UPDATE deadlines SET state = 'met' {where}")
        assert f"deadline {rule} of {anchor} in the deadlines table: its state is 'met', " in said
        assert "this record says 'pending'" in said
        said = _edited(base, tmp_path, f"UPDATE deadlines SET due_us = due_us + 1 {where}")
        assert "its due_us is " in said
        said = _edited(
            base, tmp_path, "UPDATE deadlines SET state = 'pending' WHERE state = 'fired'"
        )
        assert "its state is 'pending', this record says 'fired'" in said
        said = _edited(
            base,
            tmp_path,
            "INSERT INTO deadlines SELECT rule_id, anchor_id || 'x', account_id, "
            f"anchor_event_id, start_us, due_us, state FROM deadlines {where}",
        )
        assert f"deadline {rule} of {anchor}x in the deadlines table has no audit record" in said


def test_the_cli_reports_an_edited_evidence_event_or_deadline(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """Through the real CLI: an evidence payload edited, a pending deadline deleted: exit 1,
    one line on stderr naming it."""
    command = [sys.executable, "-m", "blacklist_rules", "audit", "verify"]
    _rule, anchor = _pending(bases["run"])
    for statement, told in (
        (
            "UPDATE events SET payload = replace(payload, 'c3', 'c9') WHERE event_id = 's3'",
            "event s3, evidence of decision ",
        ),
        (f"DELETE FROM deadlines WHERE anchor_id = '{anchor}'", f"/{anchor}: it was deleted"),
    ):
        db = _copy(bases["run"], tmp_path, f"cli{len(statement)}.db")
        with sqlite3.connect(db) as connection:
            connection.execute(statement)
        done = subprocess.run([*command, str(db)], capture_output=True, text=True, check=False)
        assert done.returncode == 1, done
        assert told in done.stderr
        assert done.stderr.count("\n") == 1


def test_pruned_deadlines_are_no_break(bases: dict[str, Path], tmp_path: Path) -> None:
    """Deadlines settled long ago are pruned as event time moves on (`deadlines_pruned` says
    up to when): the db still verifies, every row checked; a row started since is checked."""
    db = _copy(bases["run"], tmp_path)
    with Engine.from_path(db=db, max_lead=None) as engine:
        engine.advance_to(T0 + 900 * DAY)
        failed = event(
            "identity_verification", "wang", 901 * DAY, "w-v9", status="failed", reason="expired"
        )
        assert engine.process(failed).decisions
    assert _one(db, "SELECT count(*) FROM deadlines") == 1
    assert "deadlines_pruned" in _kinds(db)
    verdict = verdict_of(db)
    assert verdict.ok, str(verdict)
    assert verdict.unchecked == 0
    said = _edited(db, tmp_path, "DELETE FROM deadlines")
    assert "it was deleted" in said


def _frozen(engine: Engine, account: str, day: int, id_number: str) -> None:
    """The account registers, fails a verification the next day: a freeze, a deadline."""
    engine.process(registered(account, day * DAY, f"{account}-reg", id_number))
    failed = event(
        "identity_verification", account, (day + 1) * DAY, f"{account}-v", status="failed"
    )
    assert engine.process(failed).decisions


def test_deadlines_written_before_version_3_are_not_checked_until_a_purge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A db whose older records (version 2) started a deadline without saying so: that row
    is counted as not checked, never a break; rows started since are checked; an audit purge
    records every deadline row again, and from then on all are checked."""
    db = tmp_path / "old.db"
    with monkeypatch.context() as old:  # what version 2 wrote: no vouches, no deadline records
        old.setattr(store_module, "AUDIT_RECORD_VERSION", 2)
        old.setattr(engine_module, "vouched", lambda record, *_rest: record)
        old.setattr(engine_module, "audit_deadline", lambda core, row: None)
        with Engine.from_path(db=db, max_lead=None) as engine:
            engine.store.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
            _frozen(engine, "wang", 0, WANG)
    verdict = verdict_of(db)
    assert verdict.ok, str(verdict)
    assert verdict.unchecked == 1
    with Engine.from_path(db=db, max_lead=None) as engine:
        engine.store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        _frozen(engine, "zhao", 3, ZHAO)
    assert verdict_of(db).unchecked == 1
    said = _edited(db, tmp_path, "DELETE FROM deadlines WHERE account_id = 'zhao'")
    assert "it was deleted" in said
    assert _edited(db, tmp_path, "DELETE FROM deadlines WHERE account_id = 'wang'").startswith(
        "chain intact: "
    )
    store = SQLiteStore(db)
    try:
        store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        assert store.purge_audit(datetime(2025, 6, 1, tzinfo=UTC))[0] > 0
    finally:
        store.close()
    verdict = verdict_of(db)
    assert verdict.ok, str(verdict)
    assert verdict.unchecked == 0
    said = _edited(db, tmp_path, "DELETE FROM deadlines WHERE account_id = 'wang'")
    assert "it was deleted" in said


def test_a_deadline_a_cascade_starts_is_checked(tmp_path: Path) -> None:
    """A failed verification while blacklisted takes no freeze; the blacklist overturned, the
    cascade takes it, and its deadline is copied in with a `deadline` record: deleting that
    row is a break; once it fired (its decision says so), so is making it pending again."""
    db = tmp_path / "c.db"
    with Engine.from_path(db=db, max_lead=None) as engine:
        failed = event(
            "identity_verification", "zhang", 22 * DAY, "z-v", status="failed", reason="expired"
        )
        _freeze, blacklist = three_strikes(engine, failed)
        engine.process(overturn("zhang", 25 * DAY, "ap", blacklist))
    assert _one(db, "SELECT state FROM deadlines") == "pending"
    assert "deadline" in _kinds(db)
    assert "it was deleted" in _edited(db, tmp_path, "DELETE FROM deadlines")
    with Engine.from_path(db=db, max_lead=None) as engine:
        engine.advance_to(T0 + 40 * DAY)
    assert _one(db, "SELECT state FROM deadlines") == "fired"
    assert verdict_of(db).ok
    said = _edited(db, tmp_path, "UPDATE deadlines SET state = 'pending'")
    assert "its state is 'pending', this record says 'fired'" in said
