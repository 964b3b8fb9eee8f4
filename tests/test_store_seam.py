"""The store seam: schema versions checked before any write, sqlite3 errors mapped to ours
(exit 4, one line), explicit transactions, and read-only opens that never write.

Real files and real second connections or processes throughout: a lock is held by another
process, a db is filled to its page limit, a file is random bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from blacklist_rules import (
    Engine,
    SQLiteStore,
    StoreError,
    StoreUnavailableError,
    iter_jsonl,
)
from blacklist_rules.stores.sqlite import SCHEMA_VERSION
from blacklist_rules.stores.sqlite.connection import map_error

from .support import EventFactory, sqlite_connection
from .test_cli import EXAMPLES, cli

EVENTS = EXAMPLES / "events.jsonl"


def _files(db: Path) -> tuple[str, int, str]:
    """The db's bytes and mtime and its WAL's content: what a reader must leave as it found
    them (an absent WAL and an empty one hold the same: nothing)."""
    wal = Path(f"{db}-wal")
    logged = wal.read_bytes() if wal.exists() else b""
    return (
        hashlib.sha256(db.read_bytes()).hexdigest(),
        db.stat().st_mtime_ns,
        hashlib.sha256(logged).hexdigest(),
    )


def _meta(db: Path, key: str) -> str | None:
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


# --- schema versions ----------------------------------------------------------------------
def test_a_db_of_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    """A db written by a newer version (here: schema 99, a table gone, rollback journal) is
    refused before anything is written: the file keeps its bytes and its mtime, and no table
    is created in it."""
    db = tmp_path / "newer.db"
    SQLiteStore(db).close()
    with sqlite3.connect(db, isolation_level=None) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("DROP TABLE purged_events")
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = _files(db)
    with pytest.raises(StoreError, match="schema 99; this version reads"):
        SQLiteStore(db)
    assert _files(db) == before
    # (the writer lock's file stays from the first open: it holds no data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer.db", "newer.db.lock"]


def test_the_current_and_an_older_schema_still_open(tmp_path: Path) -> None:
    """The edges of the check: this version's schema opens as it is; an older one (5) is
    upgraded; one newer (SCHEMA_VERSION + 1) is refused."""
    db = tmp_path / "x.db"
    SQLiteStore(db).close()
    SQLiteStore(db).close()
    assert _meta(db, "schema_version") == str(SCHEMA_VERSION)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    SQLiteStore(db).close()
    assert _meta(db, "schema_version") == str(SCHEMA_VERSION)
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    with pytest.raises(StoreError):
        SQLiteStore(db)


# --- errors mapped at the seam -------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "unavailable"),
    [
        (sqlite3.SQLITE_BUSY, True),
        (sqlite3.SQLITE_LOCKED, True),
        (sqlite3.SQLITE_FULL, True),
        (sqlite3.SQLITE_READONLY, True),
        (sqlite3.SQLITE_CORRUPT, True),
        (sqlite3.SQLITE_NOTADB, True),
        (sqlite3.SQLITE_CANTOPEN, True),
        (sqlite3.SQLITE_IOERR, True),
        (sqlite3.SQLITE_CONSTRAINT, False),
        (None, False),
    ],
)
def test_every_sqlite_error_maps_to_ours_on_one_line(code: int | None, unavailable: bool) -> None:
    """Each sqlite3 error class and result code becomes a `StoreError`; what the environment
    causes, a `StoreUnavailableError`; the message is one line, naming the db."""
    for kind in (
        sqlite3.Error,
        sqlite3.DatabaseError,
        sqlite3.OperationalError,
        sqlite3.IntegrityError,
        sqlite3.ProgrammingError,
        sqlite3.InterfaceError,
        sqlite3.DataError,
        sqlite3.InternalError,
        sqlite3.NotSupportedError,
    ):
        exc = kind("first line\nsecond line")
        exc.sqlite_errorcode = code  # type: ignore[assignment]
        mapped = map_error(exc, "x.db", 5)
        assert isinstance(mapped, StoreError)
        assert isinstance(mapped, StoreUnavailableError) == unavailable
        assert "\n" not in str(mapped)
        assert "x.db" in str(mapped)


def test_a_locked_db_exits_4_on_one_line_and_a_rerun_processes_the_rest(
    tmp_path: Path,
) -> None:
    """Another process holds the write lock (`BEGIN IMMEDIATE`) on the db: `run` waits
    `--busy-timeout`, then exits 4 with a one-line message (no traceback) and commits nothing;
    a `status` beside the lock still answers. Released, a rerun processes every event once:
    the decisions are those of one uninterrupted run."""
    lines = EVENTS.read_text(encoding="utf-8").splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(lines[:600]), encoding="utf-8")
    second.write_text("".join(lines[600:]), encoding="utf-8")
    control = cli("run", str(EVENTS), "--db", "control.db", cwd=tmp_path)
    head = cli("run", str(first), "--db", "x.db", cwd=tmp_path)
    assert head.returncode == 0, head.stderr
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
            str(tmp_path / "x.db"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        locked = cli("--busy-timeout", "0.2", "run", str(second), "--db", "x.db", cwd=tmp_path)
        account = json.loads(head.stdout.splitlines()[0])["account_id"]
        beside = cli("--busy-timeout", "0.2", "status", account, "--db", "x.db", cwd=tmp_path)
    finally:
        holder.communicate("", timeout=60)
    assert locked.returncode == 4
    assert locked.stdout == ""
    assert locked.stderr.count("\n") == 1
    assert "Traceback" not in locked.stderr
    assert locked.stderr.startswith("error: ")
    assert "locked by another process" in locked.stderr
    assert beside.returncode == 0, beside.stderr
    rerun = cli("run", str(second), "--db", "x.db", cwd=tmp_path)
    assert "600 accepted, 0 duplicates" in rerun.stderr
    both = [json.loads(line)["decision_id"] for line in (head.stdout + rerun.stdout).splitlines()]
    assert both == [json.loads(line)["decision_id"] for line in control.stdout.splitlines()]


def test_a_corrupt_file_exits_4_on_one_line_and_stays_as_it_was(tmp_path: Path) -> None:
    """Random bytes where the db should be: `run` and `status` exit 4 with one line saying it
    is not a database; the file is not changed."""
    db = tmp_path / "x.db"
    db.write_bytes(hashlib.sha256(b"seed").digest() * 200)
    before = db.read_bytes()
    for args in (("run", str(EVENTS)), ("status", "acct-1")):
        result = cli(*args, "--db", "x.db", cwd=tmp_path)
        assert result.returncode == 4, result.stderr
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
        assert "not a database" in result.stderr
    assert db.read_bytes() == before


def _limited(engine: Engine, spare_pages: int) -> None:
    """Fault injection: the db may grow by `spare_pages` pages more, then SQLITE_FULL."""
    db = sqlite_connection(engine.store)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + spare_pages}")


def _decisions(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT decision_id FROM decisions ORDER BY decision_id")
        return [str(row[0]) for row in rows]


def test_a_full_disk_drops_the_whole_batch_and_a_rerun_processes_the_rest(
    tmp_path: Path,
) -> None:
    """The db fills up (SQLITE_FULL) in the middle of a batch: `StoreUnavailableError`, and
    none of that batch is committed, only whole batches before it. A rerun over all events
    skips those as duplicates, processes the rest once, and ends with the decisions of one
    uninterrupted run; the audit chain verifies."""
    with Engine.from_path(db=tmp_path / "control.db") as engine:
        for _ in engine.run(iter_jsonl(EVENTS)):
            pass
    db = tmp_path / "x.db"
    engine = Engine.from_path(db=db)
    engine.commit_every = 50
    _limited(engine, 40)
    with pytest.raises(StoreUnavailableError, match="disk is full"), engine:
        for _ in engine.run(iter_jsonl(EVENTS)):
            pass
    with sqlite3.connect(db) as connection:
        committed = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    assert 0 < committed < 1200
    assert committed % 50 == 0
    with Engine.from_path(db=db) as engine:
        outcomes = list(engine.run(iter_jsonl(EVENTS)))
        assert engine.store.verify_audit().ok
    assert sum(o.duplicate for o in outcomes) == committed
    assert _decisions(db) == _decisions(tmp_path / "control.db")


def test_an_engine_goes_on_after_the_store_failed_once(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """A single `process` that hits a full disk raises `StoreUnavailableError` and leaves
    nothing of its event; once there is room, the same engine processes it (what it holds in
    memory was read again from the db)."""
    with Engine.from_path(db=tmp_path / "x.db") as engine:
        engine.process(make_event("registration", "a", identity={}))
        _limited(engine, 0)
        flag = {"content_id": "c", "verdict": "malicious_rumor", "source": "fact_check"}
        late = make_event("rumor_flag", "a", days=1, note="x" * 20_000, **flag)  # new pages
        with pytest.raises(StoreUnavailableError):
            engine.process(late)
        sqlite_connection(engine.store).execute("PRAGMA max_page_count = 1073741823")
        assert not engine.process(late).duplicate
        assert engine.process(late).duplicate


def test_a_write_through_a_read_only_open_is_a_store_error(tmp_path: Path) -> None:
    """SQLite's own read-only refusal (SQLITE_READONLY, what a read-only file or mount gives)
    maps to `StoreUnavailableError`; the store's own refusal to begin a write on a read-only
    open is a `StoreError` before SQLite is asked. (Tests run as root, whom `chmod 0444` does
    not stop: see the next test for a file the kernel refuses to write.)"""
    db = tmp_path / "x.db"
    SQLiteStore(db).close()
    store = SQLiteStore(db, read_only=True)
    try:
        with pytest.raises(StoreUnavailableError, match="cannot be written"):
            store.connection.execute("INSERT INTO meta VALUES ('k', 'v')")
        with pytest.raises(StoreError, match="read-only"):
            store.begin()
    finally:
        store.close()


def test_a_writable_file_checkpoints_every_10000_pages_and_nothing_else_changes_it(
    tmp_path: Path,
) -> None:
    """A writable file db checkpoints its WAL every 10,000 pages (fewer stalls on a large
    file, issue 19); a read-only open and an in-memory db keep SQLite's default of 1,000."""
    db = tmp_path / "x.db"

    def checkpoint_pages(store: SQLiteStore) -> int:
        try:
            return int(store.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        finally:
            store.close()

    assert checkpoint_pages(SQLiteStore(db)) == 10_000
    assert checkpoint_pages(SQLiteStore(db, read_only=True)) == 1_000
    assert checkpoint_pages(SQLiteStore(":memory:")) == 1_000


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A db the kernel refuses to write even for root (`chattr +i`), when the file system
    and the container allow it; else skipped."""
    db = tmp_path / "x.db"
    assert cli("run", str(EXAMPLES / "bad_events.jsonl"), "--db", "x.db", cwd=tmp_path)
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(db)], check=False).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        yield db
    finally:
        subprocess.run([chattr, "-i", str(db)], check=True)


def test_an_immutable_db_file_exits_4_and_is_still_readable(immutable: Path) -> None:
    """A db file nobody may write: `run` exits 4 on one line, `status` still answers."""
    cwd = immutable.parent
    result = cli("run", str(EVENTS), "--db", immutable.name, cwd=cwd)
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    status = cli("status", "acct-900001", "--db", immutable.name, cwd=cwd)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("acct-900001: ")


# --- transactions -------------------------------------------------------------------------
def test_transactions_do_not_nest(tmp_path: Path) -> None:
    """A second `begin()` while one is open is an error, not a silent join; once the first
    ends, a new one opens; an ended transaction cannot commit again."""
    store = SQLiteStore(tmp_path / "x.db")
    try:
        transaction = store.begin()
        with pytest.raises(StoreError, match="do not nest"):
            store.begin()
        transaction.commit()
        with pytest.raises(StoreError, match="already ended"):
            transaction.commit()
        with store.begin():
            store.set_meta("k", "v")
        assert store.meta("k") == "v"
    finally:
        store.close()


def test_a_purge_inside_an_open_batch_commits_nothing_of_it(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """Setting the retention while the engine's batch is open is refused: it does not commit
    the events of the batch, which are dropped with it."""
    db = tmp_path / "x.db"
    engine = Engine.from_path(db=db)
    with pytest.raises(StoreError, match="do not nest"), engine, engine.batch():  # noqa: PT012
        engine.process(make_event("registration", "a", identity={}))
        engine.store.set_retention(timedelta(days=365))
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    assert _meta(db, "audit_retention_days") is None


def test_close_without_a_batch_in_flight_commits_nothing(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """Outside a batch every event is committed as it is processed; closing then writes
    nothing (another connection sees no new commit: `PRAGMA data_version`)."""
    db = tmp_path / "x.db"
    engine = Engine.from_path(db=db)
    engine.process(make_event("registration", "a", identity={}))
    with sqlite3.connect(db) as watcher:
        before = watcher.execute("PRAGMA data_version").fetchone()[0]
        engine.close()
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == before


def test_no_assert_guards_behaviour_in_the_package() -> None:
    """`assert` vanishes under `python -O`: no module of the package uses it."""
    package = Path(__file__).resolve().parents[1] / "src" / "blacklist_rules"
    for module in package.rglob("*.py"):
        for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
            assert not line.lstrip().startswith("assert "), f"{module.name}:{number}"


# --- read-only opens ----------------------------------------------------------------------
def test_a_reader_never_moves_the_clock_back(tmp_path: Path, make_event: EventFactory) -> None:
    """The reported bug: a reader engine opened before a writer's last events and closed
    after them. Its close writes nothing: the clock stays the writer's, the db bytes too;
    and so for an engine opened for writing that only read (it lets its writer lock go here,
    as a program that writes without the lock would, so that the writer can come in)."""
    db = tmp_path / "x.db"
    with Engine.from_path(db=db) as writer:
        writer.process(make_event("registration", "a", identity={}))
    readers = [Engine.from_path(db=db, read_only=True), Engine.from_path(db=db)]
    assert isinstance(readers[1].store, SQLiteStore)
    readers[1].store._release_writer()
    with Engine.from_path(db=db) as writer:
        writer.process(make_event("registration", "b", days=30, identity={}))
    clock = _meta(db, "clock")
    before = _files(db)
    for reader in readers:
        assert reader.status("b") == "active"
        reader.close()
        assert _meta(db, "clock") == clock
        assert _files(db) == before


def test_a_read_only_engine_refuses_to_process(tmp_path: Path, make_event: EventFactory) -> None:
    """Processing through a read-only engine is a `StoreError`, and nothing is written."""
    db = tmp_path / "x.db"
    Engine.from_path(db=db).close()
    before = _files(db)
    with Engine.from_path(db=db, read_only=True) as reader, pytest.raises(StoreError):
        reader.process(make_event("registration", "a", identity={}))
    assert _files(db) == before


def test_every_read_only_verb_leaves_the_db_as_it_was(tmp_path: Path) -> None:
    """`status`, `check`, `explain`, `notice`, `audit show|verify|export` and `diff --shadow`
    leave the db file (bytes and mtime) and its WAL's content as they found them."""
    run = cli("run", str(EVENTS), "--db", "x.db", cwd=tmp_path)
    decision = json.loads(run.stdout.splitlines()[0])
    account = decision["account_id"]
    verbs = [
        ("status", account, "--db", "x.db"),
        ("check", str(EXAMPLES / "identities.jsonl"), "--db", "x.db"),
        ("explain", decision["decision_id"], "--db", "x.db"),
        ("notice", decision["decision_id"], "--db", "x.db"),
        ("audit", "show", "--account", account, "x.db"),
        ("audit", "verify", "x.db"),
        ("audit", "export", "--format", "dsa", "x.db"),
        ("audit", "export", "--format", "jsonl", "x.db"),
        ("audit", "retention", "x.db"),
        ("diff", "--shadow", "--db", "x.db"),
    ]
    before = _files(tmp_path / "x.db")
    for verb in verbs:
        result = cli(*verb, cwd=tmp_path)
        assert result.returncode in (0, 1), (verb, result.stderr)
        assert result.stdout, verb
        assert _files(tmp_path / "x.db") == before, verb


def test_a_writer_reads_again_what_another_writer_committed(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """Two engines write one db in turn: the one opened first, before the other's later
    events, reads the db again before its next write, so it never writes its older clock
    back, and it sees the status the other decided. (The writer lock keeps a second writer
    out: the first lets its lock go here, as a program that writes without it would.)"""
    db = tmp_path / "x.db"
    first = Engine.from_path(db=db)
    assert isinstance(first.store, SQLiteStore)
    first.store._release_writer()
    try:
        first.process(make_event("registration", "a", identity={}))
        with Engine.from_path(db=db) as second:
            second.process(make_event("registration", "b", days=30, identity={}))
            forged = {"status": "failed", "reason": "forged_document"}
            second.process(make_event("identity_verification", "b", days=30, **forged))
        clock = _meta(db, "clock")
        first.process(make_event("registration", "c", days=1, identity={}))
        assert _meta(db, "clock") == clock
        assert first.status("b") == "cancelled"
    finally:
        first.close()
    assert _meta(db, "clock") == clock


def test_sqlite3_is_called_only_behind_the_seam() -> None:
    """Only `stores/sqlite/connection.py` imports sqlite3: every statement goes through its
    mapping."""
    package = Path(__file__).resolve().parents[1] / "src" / "blacklist_rules"
    importers = sorted(
        module.relative_to(package).as_posix()
        for module in package.rglob("*.py")
        if "import sqlite3" in module.read_text(encoding="utf-8")
    )
    assert importers == ["stores/sqlite/connection.py"]
