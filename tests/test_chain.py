"""Tamper evidence: the audit chain re-computed on the real SQLite file after editing,
deleting and swapping rows."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blacklist_rules import Engine, SQLiteStore, StoreError, iter_jsonl
from blacklist_rules.cli import main
from blacklist_rules.stores.sqlite import BARE_ROWS, RETENTION_FLOOR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A db with the example's audit trail (a few dozen chained records)."""
    db = tmp_path_factory.mktemp("chain") / "trail.db"
    with Engine.from_path(db=db, create_key=True) as engine:  # (before the test's own key)
        for _ in engine.run(iter_jsonl(ROOT / "examples" / "events.jsonl")):
            pass
    return db


def tampered(trail: Path, tmp_path: Path, *statements: str) -> Path:
    """A copy of the trail's db with the statements run on it (a new file each time: an
    earlier copy's WAL must not leak into the next)."""
    db = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*.db')))}.db"
    shutil.copy(trail, db)
    with sqlite3.connect(db) as connection:
        for statement in statements:
            connection.execute(statement)
    return db


def verdict(db: Path) -> str:
    store = SQLiteStore(db)
    try:
        return str(store.verify_audit())
    finally:
        store.close()


def count(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM audit").fetchone()[0])


def test_an_untouched_trail_verifies(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(trail)]) == 0
    assert f"chain intact: {count(trail)} records, head " in capsys.readouterr().out


def test_a_changed_record_is_named(trail: Path, tmp_path: Path) -> None:
    """One character of one record's text: the chain breaks exactly there."""
    db = tampered(
        trail,
        tmp_path,
        "UPDATE audit SET record = replace(record, 'freeze', 'frieze') WHERE seq = 5",
    )
    assert verdict(db).startswith("chain broken at record #5: its content was changed")
    db = tampered(trail, tmp_path, "UPDATE audit SET occurred_at = '2020-01-01' WHERE seq = 7")
    assert verdict(db).startswith("chain broken at record #7: its content was changed")


def test_a_removed_record_is_named_by_the_one_after_it(trail: Path, tmp_path: Path) -> None:
    db = tampered(trail, tmp_path, "DELETE FROM audit WHERE seq = 10")
    assert verdict(db).startswith("chain broken at record #11: it does not follow")


def test_swapped_records_are_found(trail: Path, tmp_path: Path) -> None:
    """Rows 3 and 4 exchanged whole (hashes included): the chain breaks at 3."""
    db = tampered(
        trail,
        tmp_path,
        "UPDATE audit SET seq = -3 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = -3",
    )
    assert verdict(db).startswith("chain broken at record #3: it does not follow")


def test_removing_the_last_records_is_found(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chain alone cannot miss its end; the head kept beside it can."""
    last = count(trail)
    db = tampered(trail, tmp_path, f"DELETE FROM audit WHERE seq > {last - 2}")
    assert main(["audit", "verify", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"the head says {last} records, the trail holds {last - 2}: records were removed" in err


def test_an_older_db_starts_its_chain_after_its_old_records(tmp_path: Path) -> None:
    """A store-schema-3 db (no chain columns): its records stay, unchained; the upgrade chains
    a `chain_started` record at once, and new ones chain after it."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as connection:
        connection.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema_version', '3');"
            "CREATE TABLE audit (seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, "
            "kind TEXT NOT NULL, account_id TEXT, event_id TEXT, decision_id TEXT, "
            "occurred_at TEXT, recorded_at TEXT NOT NULL, record TEXT NOT NULL);"
            "INSERT INTO audit VALUES (1, 1, 'decision', 'a', 'e', 'd', NULL, 'x', '{}');"
        )
    with Engine.from_path(db=db) as engine:
        engine.process('{"event_id": "bad"}')
    assert verdict(db).startswith("chain intact: 2 records, head ")
    assert verdict(db).endswith("(1 older records predate the chain)")


def test_a_purge_keeps_the_rest_verifiable_and_never_cuts_under_180_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records logged in January 2025 and in 2026: purging before June 2025 removes the old
    ones, leaves a checkpoint (and a record of the purge), and the rest still verifies and
    still shows tampering; a cut less than 180 days ago is refused."""
    db = tmp_path / "s.db"
    events = list(iter_jsonl(ROOT / "examples" / "events.jsonl"))
    with Engine.from_path(db=db, max_lead=None) as engine:  # a wall clock set back
        engine.store.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[:600]):
            pass
        engine.store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[600:]):
            pass
    before, total = count(db), verdict(db)
    assert total.startswith("chain intact")
    assert main(["audit", "purge", "--before", "2025-06-01T00:00:00Z", str(db)]) == 0
    assert "removed" in capsys.readouterr().out
    after, intact = count(db), verdict(db)
    assert 1 < after < before
    with sqlite3.connect(db) as connection:
        kinds = [row[0] for row in connection.execute("SELECT kind FROM audit ORDER BY seq")]
        first = connection.execute("SELECT min(seq) FROM audit").fetchone()[0]
        connection.execute(f"UPDATE audit SET kind = 'x' WHERE seq = {first + 1}")
    carried = kinds[-1 - kinds[::-1].index("audit_purged") :][1:-1]
    # (more records: the purges of audit records and of event history, and between them the
    # rows whose records the purge removed, recorded again: every row is still checked)
    assert carried
    assert set(carried) <= {
        "decision_carried",
        "status_carried",
        "entry_carried",
        "deadline_carried",
    }
    assert kinds[-1] == "history_purged"
    purged = before - after + 2 + len(carried)
    assert intact.startswith(f"chain intact: {after} records ({purged} purged")
    assert "not checked" not in intact
    assert verdict(db).startswith(f"chain broken at record #{first + 1}: its content was changed")
    assert main(["audit", "purge", "--before", "2026-10-01T00:00:00Z", str(trail_copy(db))]) == 2
    assert "younger than 180 days are kept" in capsys.readouterr().err


def test_a_refused_cut_names_the_latest_allowed_to_the_second(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cut inside the 180 days is refused with the latest time allowed, in ISO 8601 to the
    second with its offset (no microseconds), and that time, pasted back, is accepted."""
    db = tampered(trail, tmp_path)
    start = datetime.now(UTC)
    assert main(["audit", "purge", "--before", start.isoformat(), str(db)]) == 2
    end = datetime.now(UTC)
    found = re.search(r"purge before (\S+) at the latest", capsys.readouterr().err)
    assert found is not None
    shown = found.group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", shown), shown
    kept = timedelta(days=180)
    assert (start - kept).replace(microsecond=0) <= datetime.fromisoformat(shown) <= end - kept
    assert main(["audit", "purge", "--before", shown, str(db)]) == 0


def test_a_trail_that_does_not_verify_fails_purge_like_verify_and_export(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A changed record: `audit purge` is refused with exit 1, the code of `audit verify` and
    `audit export` for the same trail (2 is for usage errors), names the break and removes
    nothing."""
    db = tampered(
        trail,
        tmp_path,
        "UPDATE audit SET record = replace(record, 'freeze', 'frieze') WHERE seq = 5",
    )
    records = count(db)
    assert main(["audit", "verify", str(db)]) == 1
    assert main(["audit", "export", str(db)]) == 1
    capsys.readouterr()
    assert main(["audit", "purge", "--before", "2000-01-01T00:00:00Z", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"the audit trail of {db} does not verify: {verdict(db)}; nothing purged" in err
    assert count(db) == records


def trail_copy(db: Path) -> Path:
    copy = db.with_name("copy.db")
    shutil.copy(db, copy)
    return copy


def test_a_configured_retention_sets_what_a_purge_removes_and_never_goes_under_180_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit retention --set 400d` is kept (and audited); a purge without `--before` then
    removes what was logged more than 400 days ago, and a cut inside the 400 days is refused.
    A retention under 180 days, or a malformed one, is refused and changes nothing."""
    db = tmp_path / "r.db"
    events = list(iter_jsonl(ROOT / "examples" / "events.jsonl"))
    with Engine.from_path(db=db, max_lead=None) as engine:  # a wall clock set back
        engine.store.now = lambda: datetime(2024, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[:300]):
            pass
        engine.store.now = lambda: datetime(2025, 3, 1, tzinfo=UTC)
        for _ in engine.run(events[300:]):
            pass
    assert main(["audit", "retention", "--set", "179d", str(db)]) == 2
    assert "under the legal floor for logs: at least 180 days" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["audit", "retention", "--set", "forever", str(db)])
    assert usage.value.code == 2
    assert "invalid duration 'forever'" in capsys.readouterr().err
    assert main(["audit", "retention", str(db)]) == 0
    assert capsys.readouterr().out.startswith("audit records are kept 180 days (the default")
    assert main(["audit", "retention", "--set", "400d", str(db)]) == 0
    assert capsys.readouterr().out == "audit records are kept 400 days\n"

    store = SQLiteStore(db)
    try:
        (last,) = [r for r in store.audit_records() if r.kind == "retention_set"]
        assert last.record == {"days": 400, "previous_days": 180}
        # Now 2025-06-01: 400 days back is 2024-04-27; everything from January 2024 goes.
        store.now = lambda: datetime(2025, 6, 1, tzinfo=UTC)
        with pytest.raises(StoreError, match="younger than 400 days are kept"):
            store.purge_audit(datetime(2024, 6, 1, tzinfo=UTC))
        logged_2024 = sum(1 for r in store.audit_records() if r.recorded_at < "2025")
        before = count(db)
        removed, _kept = store.purge_audit()
        assert removed == logged_2024 > 0
        carried = [r for r in store.audit_records() if r.kind.endswith("_carried")]
        # the purge's own record, and the rows whose records it removed, recorded again
        assert count(db) == before - removed + 1 + len(carried)
        assert carried
        assert store.verify_audit().ok
    finally:
        store.close()


def test_retention_says_when_it_is_the_default_and_refuses_too_long_a_period_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit retention` says when its period is the default (none configured); once one is
    set, it shows that alone. `--set 3000000d` is refused as longer than 100 years, not as a
    malformed number, and changes nothing."""
    db = tmp_path / "d.db"
    SQLiteStore(db).close()
    assert main(["audit", "retention", str(db)]) == 0
    shown = capsys.readouterr().out
    assert shown == (
        f"audit records are kept {RETENTION_FLOOR.days} days "
        "(the default, the legal floor for logs; none is configured)\n"
    )
    with pytest.raises(SystemExit) as usage:
        main(["audit", "retention", "--set", "3000000d", str(db)])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "duration '3000000d' is longer than 100 years (36525d)" in err
    assert "positive whole number" not in err
    assert main(["audit", "retention", str(db)]) == 0
    assert capsys.readouterr().out == shown
    assert main(["audit", "retention", "--set", f"{RETENTION_FLOOR.days}d", str(db)]) == 0
    assert capsys.readouterr().out == f"audit records are kept {RETENTION_FLOOR.days} days\n"


def test_a_purge_of_every_record_keeps_the_numbering(tmp_path: Path) -> None:
    """When a purge removes the whole trail, its own record takes the next number, not #1, and
    so do the records after it: a number never names two records."""
    db = tmp_path / "all.db"
    events = list(iter_jsonl(ROOT / "examples" / "events.jsonl"))
    with Engine.from_path(db=db, max_lead=None) as engine:  # a wall clock set back
        engine.store.now = lambda: datetime(2024, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[:200]):
            pass
        last = max(r.seq for r in engine.store.audit_records())
        engine.store.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
        removed, kept = engine.store.purge_audit()
        assert (removed, kept) == (last, last + 1)
        for _ in engine.run(events[200:]):
            pass
        seqs = [r.seq for r in engine.store.audit_records()]
        assert seqs[0] == last + 1
        assert seqs == list(range(last + 1, last + 1 + len(seqs)))
        assert engine.store.verify_audit().ok


def test_a_retention_is_whole_days() -> None:
    """`9601h` is not rounded to 401 days: refused."""
    store = SQLiteStore()
    try:
        with pytest.raises(StoreError, match="whole days"):
            store.set_retention(timedelta(hours=9601))
        store.set_retention(timedelta(weeks=52))
        assert store.retention() == timedelta(days=364)
    finally:
        store.close()


def test_a_decision_changed_beside_the_chain_is_caught(tmp_path: Path) -> None:
    """Exports and notices read the decisions table, which the chain does not hash: a decision
    edited there no longer matches its chained record, and `verify` names that record."""
    db = tmp_path / "d.db"
    with Engine.from_path(db=db) as engine:
        for _ in engine.run(iter_jsonl(ROOT / "examples" / "events.jsonl")):
            pass
    assert verdict(db).startswith("chain intact")
    with sqlite3.connect(db) as connection:
        decision, record = connection.execute(
            "SELECT decision_id, record FROM decisions ORDER BY rowid LIMIT 1"
        ).fetchone()
        connection.execute(
            "UPDATE decisions SET record = ? WHERE decision_id = ?",
            (record.replace('"reason":"', '"reason":"Edited. '), decision),
        )
        (seq,) = connection.execute(
            "SELECT seq FROM audit WHERE kind = 'decision' AND decision_id = ?", (decision,)
        ).fetchone()
    assert verdict(db) == (
        f"chain broken at record #{seq}: decision {decision} in the decisions table differs "
        f"from this record ({count(db)} records checked)"
    )


# --- truncation, forged checkpoints, files that are not a db (issues 13 and 14) -----------------


def purged_trail(tmp_path: Path) -> Path:
    """A db whose January-2025 records were purged (the checkpoint and its `audit_purged`
    record in the chain), with 2026 records after them."""
    db = tmp_path / "purged.db"
    events = list(iter_jsonl(ROOT / "examples" / "events.jsonl"))
    with Engine.from_path(db=db) as engine:
        engine.store.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[:600]):
            pass
        engine.store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[600:]):
            pass
        engine.store.purge_audit(datetime(2025, 6, 1, tzinfo=UTC))
    return db


def first_seq(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT min(seq) FROM audit").fetchone()[0])


def test_removing_the_last_records_and_the_head_is_found(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The head row deleted with the last records (or alone): chained records without a head
    are a break, exit 1, never "chain intact"."""
    last = count(trail)
    for statements in (
        (f"DELETE FROM audit WHERE seq > {last - 2}", "DELETE FROM meta WHERE key = 'audit_head'"),
        ("DELETE FROM meta WHERE key = 'audit_head'",),
    ):
        db = tampered(trail, tmp_path, *statements)
        assert main(["audit", "verify", str(db)]) == 1
        err = capsys.readouterr().err
        assert "chain broken at the trail's end: the head is missing beside" in err
        assert "records were removed from the end, the head with them" in err


def test_nulled_hashes_with_the_head_deleted_do_not_pass_as_older_records(
    trail: Path, tmp_path: Path
) -> None:
    """Records from before the chain have no previous hash and no ruleset digest; a record
    whose hash was NULLed still has them: it does not pass as "predating the chain". Only the
    hash, the hash and previous hash, or every chain column NULLed but the digest: each found
    at record #1."""
    for columns in ("hash = NULL", "hash = NULL, prev_hash = NULL"):
        db = tampered(
            trail,
            tmp_path,
            f"UPDATE audit SET {columns}",
            "DELETE FROM meta WHERE key = 'audit_head'",
        )
        assert verdict(db) == (
            "chain broken at record #1: its hash was removed: it was written to be chained "
            "(0 records checked)"
        )


def test_a_record_of_before_the_chain_has_neither_previous_hash_nor_digest(tmp_path: Path) -> None:
    """The edge of the rule above: an old record with both columns NULL still predates the
    chain; the same record with only a previous hash, or only a ruleset digest, does not."""
    base = (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '3');"
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, "
        "kind TEXT NOT NULL, account_id TEXT, event_id TEXT, decision_id TEXT, "
        "occurred_at TEXT, recorded_at TEXT NOT NULL, record TEXT NOT NULL);"
        "INSERT INTO audit VALUES (1, 1, 'decision', 'a', 'e', 'd', NULL, 'x', '{}');"
    )
    seen: list[str] = []
    for change in ("", "UPDATE audit SET prev_hash = ''", "UPDATE audit SET ruleset_digest = 'r'"):
        db = tmp_path / f"old-{len(seen)}.db"
        with sqlite3.connect(db) as connection:
            connection.executescript(base)
        SQLiteStore(db).close()  # the upgrade adds the chain columns, NULL
        with sqlite3.connect(db) as connection:
            if change:
                connection.execute(change)
        seen.append(verdict(db))
    assert seen[0].startswith("chain intact: 1 records, head ")  # (the upgrade's record)
    assert seen[0].endswith(" (1 older records predate the chain)")
    assert seen[1].startswith("chain broken at record #1: its hash was removed")
    assert seen[2].startswith("chain broken at record #1: its hash was removed")


def test_a_forged_checkpoint_hiding_removed_leading_records_is_found(
    trail: Path, tmp_path: Path
) -> None:
    """After a real purge, five more leading records are deleted and the checkpoint rewritten
    to cover them (the count and hash fit): the purge's own record in the chain names another
    checkpoint, and `verify` says so. The same forgery on a trail never purged (no purge record
    at all) is found too."""
    db = purged_trail(tmp_path)
    assert verdict(db).startswith("chain intact")
    trails = {"purged": db, "never purged": tampered(trail, tmp_path)}
    for name, path in trails.items():
        start = first_seq(path)
        with sqlite3.connect(path) as connection:
            old = connection.execute(
                "SELECT value FROM meta WHERE key = 'audit_checkpoint'"
            ).fetchone()
            removed = json.loads(old[0])["removed"] if old else 0
            (previous,) = connection.execute(
                f"SELECT prev_hash FROM audit WHERE seq = {start + 5}"
            ).fetchone()
            forged = {"seq": start + 5, "previous": previous, "removed": removed + 5}
            connection.execute(f"DELETE FROM audit WHERE seq < {start + 5}")
            connection.execute(
                "INSERT OR REPLACE INTO meta VALUES ('audit_checkpoint', ?)",
                (json.dumps({**forged, "before": "2025-06-01T00:00:00+00:00"}),),
            )
        found = verdict(path)
        assert found.startswith(
            f"chain broken at the trail's end: the purge checkpoint (trail from record "
            f"#{start + 5}, {removed + 5} removed before it) is not the one the last purge in "
            "the chain recorded: records were removed from the start"
        ), (name, found)


def test_a_checkpoint_deleted_or_garbled_is_a_break_not_a_traceback(tmp_path: Path) -> None:
    """The checkpoint row deleted (the purge record says there was one), or its JSON garbled,
    or a field of the wrong type: each a break at the trail's end, exit 1."""
    db = purged_trail(tmp_path)
    broken = {
        "DELETE FROM meta WHERE key = 'audit_checkpoint'": (
            "chain broken at record #"  # the first kept record follows a removed one
        ),
        "UPDATE meta SET value = '{not json' WHERE key = 'audit_checkpoint'": (
            "chain broken at the trail's end: the purge checkpoint is malformed"
        ),
        "UPDATE meta SET value = json_set(value, '$.removed', 'many') "
        "WHERE key = 'audit_checkpoint'": (
            "chain broken at the trail's end: the purge checkpoint is malformed"
        ),
        "UPDATE meta SET value = '[]' WHERE key = 'audit_checkpoint'": (
            "chain broken at the trail's end: the purge checkpoint is malformed"
        ),
    }
    for statement, expected in broken.items():
        copy = tampered(db, tmp_path, statement)
        assert verdict(copy).startswith(expected), statement
        assert main(["audit", "verify", str(copy)]) == 1


def test_a_purge_record_without_its_checkpoint_is_found(tmp_path: Path) -> None:
    """A purge that removed only records from before the chain leaves a checkpoint whose
    previous hash is the genesis: deleting that checkpoint leaves the chain fitting, but the
    purge's record in the chain says there was one."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as connection:
        connection.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema_version', '3');"
            "CREATE TABLE audit (seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, "
            "kind TEXT NOT NULL, account_id TEXT, event_id TEXT, decision_id TEXT, "
            "occurred_at TEXT, recorded_at TEXT NOT NULL, record TEXT NOT NULL);"
            "INSERT INTO audit VALUES (1, 1, 'decision', 'a', 'e', 'd', NULL, "
            "'2020-01-01T00:00:00+00:00', '{}');"
        )
    store = SQLiteStore(db)
    try:
        store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        assert store.purge_audit(datetime(2021, 1, 1, tzinfo=UTC)) == (1, 2)
        assert store.verify_audit().ok
    finally:
        store.close()
    copy = tampered(db, tmp_path, "DELETE FROM meta WHERE key = 'audit_checkpoint'")
    assert verdict(copy).startswith(
        "chain broken at the trail's end: a purge is recorded, but its checkpoint is missing"
    )


def test_a_file_that_is_not_a_blacklist_rules_db_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty file, another program's SQLite db and a text file: `audit verify` (and `audit
    head`) say it is not a db of ours (exit 2; a file SQLite cannot read at all is a store
    error, exit 4, as for every verb), and leave the file as it was; never "chain intact: 0
    records"."""
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        connection.commit()
    text = tmp_path / "notes.db"
    text.write_text("not a database\n", encoding="utf-8")
    for path, said, code in (
        (empty, "is not a blacklist-rules db (it has no store schema)", 2),
        (other, "is not a blacklist-rules db (it has no store schema)", 2),
        (text, "it is not a database", 4),
    ):
        before = path.read_bytes()
        for verb in ("verify", "head"):
            assert main(["audit", verb, str(path)]) == code
            assert said in capsys.readouterr().err
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(path.name)) == [
            path.name
        ]


def test_a_purge_finds_the_rows_it_leaves_bare_in_one_scan_of_the_trail() -> None:
    """What a purge re-records (rows without their records) is found with one scan of the
    trail into a list per table, never a scan per row (quadratic: 13 to 33 s at 6,068
    decisions, see bench/README.md); no index needed, so an older db gets it too."""
    store = SQLiteStore()
    try:
        for query in BARE_ROWS:
            plan = " | ".join(
                str(row[3]) for row in store.connection.execute(f"EXPLAIN QUERY PLAN {query}")
            )
            assert "CORRELATED" not in plan, plan
            assert "LIST SUBQUERY" in plan, plan
    finally:
        store.close()
