"""Issue 14, finding 1: one writer per SQLite db. Two `run` processes on one db used to
interleave their batches and leave accounts in another final status than one run gives,
silently; now a store opened for writing holds the db's writer lock from open to close, a
second writer exits 4 on one line naming the holder and changes nothing, readers go on beside
it, and the lock dies with its process.

Real subprocesses and real files. A writer is kept holding the lock, without any timing, by a
pipe for its stderr that the test has filled first: its next line blocks until the test reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import pytest

from blacklist_rules import Engine, SQLiteStore, StoreUnavailableError
from blacklist_rules.model.identity import KEY_ENV

from .test_cli import EXAMPLES, ROOT, cli

EVENTS = EXAMPLES / "events.jsonl"
PATIENCE = 300.0
"""Seconds to wait for a subprocess to reach the state a test needs: generous, it is only the
bound of a hang, never a figure the test measures."""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/wchan").exists(), reason="needs Linux /proc to see a blocked writer"
)


@contextmanager
def _stopped_writer(
    *args: str, cwd: Path, stdout: Path, without_key: bool = False
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The CLI with these arguments, its stderr a pipe whose buffer the test filled first: its
    first stderr line blocks until the test reads the pipe (the read end, yielded with the
    process). Killed at the end if it still runs."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    with suppress(BlockingIOError):
        while True:
            os.write(write, b"." * 4096)
    os.set_blocking(write, True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if without_key:
        env.pop(KEY_ENV)
    try:
        with stdout.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "blacklist_rules", *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=write,
            )
    finally:
        os.close(write)
    try:
        yield process, read
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(PATIENCE)
        os.close(read)


def _drain(read: int) -> bytes:
    """Everything the pipe holds until its last writer closes it."""
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _wait_until(process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not ready():
        assert process.poll() is None, f"the writer ended (exit {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"the writer never reached: {what}"
        time.sleep(0.02)


def _blocked_on_a_pipe(pid: int) -> bool:
    """The process sleeps in a pipe write (Linux names the kernel function it waits in)."""
    try:
        return "pipe_write" in Path(f"/proc/{pid}/wchan").read_text(encoding="ascii")
    except OSError:
        return False


def _files(db: Path) -> tuple[str, ...]:
    """The bytes of the db and its WAL: what a refused writer must leave as it found them."""
    return tuple(
        hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"
        for path in (db, Path(f"{db}-wal"))
    )


def _state(db: Path) -> tuple[list[tuple[str, ...]], ...]:
    """Final state as a reader sees it: statuses, decisions and how they ended, events."""
    with closing(sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True)) as connection:
        return (
            connection.execute("SELECT account_id, status FROM accounts ORDER BY 1").fetchall(),
            connection.execute(
                "SELECT decision_id, account_id, action, mode, effective_at, expires_at, "
                "ended_at, reversed_by FROM decisions ORDER BY 1"
            ).fetchall(),
            connection.execute("SELECT event_id FROM events ORDER BY 1").fetchall(),
        )


def _committed(db: Path) -> int:
    with closing(sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True)) as connection:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])


def _ends_as_one_run(db: Path, control: Path) -> None:
    """The db holds what one uninterrupted run left in `control`, and its trail verifies."""
    assert _state(db) == _state(control)
    verify = cli("audit", "verify", db.name, cwd=db.parent)
    assert verify.returncode == 0, verify.stderr


def _refused(result: subprocess.CompletedProcess[str], holder: int) -> None:
    """Exit 4, nothing on stdout, one line naming the db and the holder's pid."""
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: x.db is open for writing by another process")
    assert f"(pid {holder}," in result.stderr
    assert "Traceback" not in result.stderr


def test_two_concurrent_runs_one_is_refused_and_the_state_is_that_of_one_run(
    tmp_path: Path,
) -> None:
    """Two `run`s over one fresh db at once: the first holds the writer lock (kept waiting by
    its stderr, before any transaction, where the second could interleave with it before the
    fix); the second exits 4 with one line naming the db and the first's pid, and leaves the
    db's bytes as they were; the first then completes, and the db ends exactly as one run
    leaves it (statuses, decisions and how they ended, events), its audit trail intact."""
    control = cli("run", str(EVENTS), "--db", "control.db", cwd=tmp_path)
    assert control.returncode == 0, control.stderr
    db = tmp_path / "x.db"
    # No key in the environment: the first run creates the key file and says so on its
    # stderr, where it waits, holding the lock, with no transaction open.
    with _stopped_writer(
        "run", str(EVENTS), "--db", "x.db",
        cwd=tmp_path, stdout=tmp_path / "first.out", without_key=True,
    ) as (first, read):  # fmt: skip
        _wait_until(first, lambda: _blocked_on_a_pipe(first.pid), "its first stderr line")
        before = _files(db)
        second = cli(
            "--busy-timeout", "0.5", "run", str(EVENTS), "--db", "x.db",
            cwd=tmp_path, without_key=True,
        )  # fmt: skip
        assert _files(db) == before
        told = _drain(read).decode()
        assert first.wait(PATIENCE) == 0, told
    _refused(second, first.pid)
    assert "processed 1200 events: 1200 accepted" in told
    assert (tmp_path / "first.out").read_text() == control.stdout
    _ends_as_one_run(db, tmp_path / "control.db")


def test_a_run_killed_mid_way_releases_the_lock_and_the_next_run_completes_the_rest(
    tmp_path: Path,
) -> None:
    """A `run` (`--commit-every 50`) stopped after 600 committed events, in the middle of a
    batch, holding the lock: a second `run` is refused naming its pid. SIGKILLed, it leaves no
    lock behind: the next `run` over the same file goes through at once, skips the 600 as
    duplicates, processes the rest, and ends as one uninterrupted run."""
    lines = EVENTS.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = '{"event_id": "ev-bad", "type": "no_such_type"}\n'  # its rejection line will block
    events = tmp_path / "events.jsonl"
    events.write_text("".join([*lines[:600], bad, *lines[600:]]), encoding="utf-8")
    control = cli("run", str(events), "--db", "control.db", cwd=tmp_path)
    assert control.returncode == 0, control.stderr
    db = tmp_path / "x.db"
    with _stopped_writer(
        "run", str(events), "--db", "x.db", "--commit-every", "50",
        cwd=tmp_path, stdout=tmp_path / "killed.out",
    ) as (killed, _):  # fmt: skip
        _wait_until(killed, lambda: _blocked_on_a_pipe(killed.pid), "the rejected line")
        assert _committed(db) == 600
        second = cli("--busy-timeout", "0.5", "run", str(events), "--db", "x.db", cwd=tmp_path)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(PATIENCE) == -signal.SIGKILL
    _refused(second, killed.pid)
    rerun = cli("--busy-timeout", "0", "run", str(events), "--db", "x.db", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert "600 accepted, 600 duplicates (ignored), 1 rejected" in rerun.stderr
    _ends_as_one_run(db, tmp_path / "control.db")


def test_readers_answer_beside_a_writer_and_a_closed_writer_lets_the_next_in(
    tmp_path: Path,
) -> None:
    """While an engine of this process holds the writer lock: `run` and `audit purge` (writers)
    exit 4 naming this process's pid; `status`, `audit show|verify|export`, `check`, `explain`
    (read-only opens) answer as they do with no writer. Once the engine is closed, `run` goes
    through."""
    first = cli("run", str(EVENTS), "--db", "x.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    decision = json.loads(first.stdout.splitlines()[0])
    readers = [
        ("status", decision["account_id"], "--db", "x.db"),
        ("audit", "show", "--account", decision["account_id"], "x.db"),
        ("audit", "verify", "x.db"),
        ("audit", "export", "--format", "dsa", "x.db"),
        ("check", str(EXAMPLES / "identities.jsonl"), "--db", "x.db"),
        ("explain", decision["decision_id"], "--db", "x.db"),
    ]
    alone = [cli(*verb, cwd=tmp_path) for verb in readers]
    writer = Engine.from_path(db=tmp_path / "x.db")
    try:
        refused = [
            cli("--busy-timeout", "0.2", "run", str(EVENTS), "--db", "x.db", cwd=tmp_path),
            cli("--busy-timeout", "0.2", "audit", "purge", "x.db", cwd=tmp_path),
        ]
        beside = [cli(*verb, cwd=tmp_path) for verb in readers]
    finally:
        writer.close()
    for result in refused:
        _refused(result, os.getpid())
    for verb, with_writer, without in zip(readers, beside, alone, strict=True):
        assert (with_writer.returncode, with_writer.stdout) == (without.returncode, without.stdout)
        assert with_writer.returncode in (0, 1), (verb, with_writer.stderr)
    after = cli("--busy-timeout", "0", "run", str(EVENTS), "--db", "x.db", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "1200 duplicates" in after.stderr


def test_a_second_writer_in_the_same_process_is_refused_at_once(tmp_path: Path) -> None:
    """Two writing engines (or stores) on one db in one process would race as two processes
    do: the second is refused with `StoreUnavailableError` on one line, whatever path spells
    the db (a symlink, `./`); a read-only engine beside it opens. The lock is released by
    `close()`, and by a `with` block that ends with an exception."""
    db = tmp_path / "x.db"
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(db)
    with Engine.from_path(db=db):
        for other in (db, link, Path(os.path.relpath(db))):
            with pytest.raises(StoreUnavailableError) as refused:
                Engine.from_path(db=other, busy_timeout=0)
            message = str(refused.value)
            assert "\n" not in message
            assert f"{other} is already open for writing in this process" in message
        with pytest.raises(StoreUnavailableError, match="already open for writing"):
            SQLiteStore(db, busy_timeout=0)
        with Engine.from_path(db=db, read_only=True) as reader:
            assert reader.status("a") == "active"
    with pytest.raises(RuntimeError, match="boom"), Engine.from_path(db=db, busy_timeout=0):
        raise RuntimeError("boom")
    SQLiteStore(db, busy_timeout=0).close()
    with Engine.from_path(db=link, busy_timeout=0):
        pass


def test_in_memory_dbs_take_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-memory dbs are private to their connection: two writing engines coexist, and no
    lock file is made anywhere. (A guard: it passed before the lock existed too.)"""
    monkeypatch.chdir(tmp_path)
    with Engine.from_path() as one, Engine.from_path(db=":memory:") as two:
        assert one.status("a") == two.status("a") == "active"
    assert list(tmp_path.iterdir()) == []


def test_a_db_in_a_missing_folder_is_refused_and_no_folder_is_made(tmp_path: Path) -> None:
    """`run --db nowhere/x.db`: exit 4 on one line, as SQLite refuses it, and the folder is not
    made (the lock library would make it, and the db after it)."""
    result = cli("run", str(EVENTS), "--db", "nowhere/x.db", cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: nowhere/x.db: it cannot be opened")
    assert not (tmp_path / "nowhere").exists()
