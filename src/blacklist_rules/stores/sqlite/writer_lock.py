"""One writer per SQLite db, for as long as a store has it open for writing.

Why: an engine decides from what it mirrors of the db in memory (statuses, listings, deadlines,
the clock), and SQLite's own lock covers one transaction, not a run. Two processes writing one
db interleaved their batches, each deciding from a mirror the other had made stale: 25-123
accounts ended with another status than one run gives, the status chain broke, and
`audit verify` still passed (issue 14). So a store opened for writing holds an exclusive lock
from open to close, and a second writer is refused (`StoreUnavailableError`, CLI exit 4) once
it has waited the busy timeout, before it opens the db: it changes nothing.

How, and why so:
- `flock` (through `filelock`) on a sidecar file `<db>.lock` beside the db's real path (so two
  spellings of one db, or a symlink to it, meet on one lock). Not on the db file itself: SQLite
  holds POSIX locks on it, which closing any other descriptor of the file in this process would
  drop; and on NFS Linux emulates `flock` with POSIX locks, which would clash with SQLite's.
  Not SQLite's `locking_mode=EXCLUSIVE`: in WAL mode it keeps readers out too.
- The kernel drops the lock when its process ends, however it ends (SIGKILL included): no
  stale lock, nothing to clean up. The file stays: removing it would let a waiter lock an
  unlinked inode while a newcomer locks a new file, two writers.
- The holder writes its pid into the file, so the writer refused can name it.
- A second writer on one db in the same process is refused at once, not after the timeout.
  A process forked while holding the lock shares it with its parent until both let it go.
- Read-only opens (`status`, `audit show|verify|export`, `check`, `explain`, …) and in-memory
  dbs take no lock: readers go on beside a writer.
- On Windows `filelock` locks with `msvcrt` instead, also released when the process ends
  (not tested here: Linux is the target). A file system without `flock` (`ENOSYS`) is refused,
  never silently written without the lock.
- One writer per SQLite file is the embedded default's limit; many workers need a server
  database (PostgreSQL, a later issue).
"""

from __future__ import annotations

import os

import attrs
from filelock import FileLock, Timeout

from blacklist_rules.errors import StoreError, StoreUnavailableError, one_line

_HELD: dict[str, int] = {}
"""Lock files held by this process (path: the pid that took it, so a forked child, whose pid
differs, does not count its parent's locks as its own)."""


def _write_pid(fd: int) -> None:
    """What `filelock` calls once it holds the lock: the file says who holds it. Always the
    same length (a pid padded to 20 characters), so it is never truncated: `ftruncate` cost
    2.3 ms an open here, seven times the rest of opening a db."""
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid():<20}\n".encode("ascii"))


def _holder(path: str) -> str:
    """Who holds the lock, as its file says: the pid written there, when it can be read."""
    try:
        with open(path, encoding="ascii") as file:
            pid = int(file.read(32).strip())
    except (OSError, ValueError):
        return "pid not recorded"
    return f"pid {pid}"


def _needs_lock(db: str) -> bool:
    """Every db on disk; not SQLite's private ones (":memory:", and "" for a temporary file)."""
    return db not in ("", ":memory:")


@attrs.define
class WriterLock:
    """The exclusive right to write one db, held from `take` to `release`."""

    db: str
    path: str
    _lock: FileLock

    @classmethod
    def take(cls, db: str, timeout: float) -> WriterLock | None:
        """The db's writer lock, waiting up to `timeout` seconds for another process to let it
        go; None for an in-memory db, which nobody else can open."""
        if not _needs_lock(db):
            return None
        real = os.path.realpath(db)
        folder = os.path.dirname(real)
        if not os.path.isdir(folder):  # (filelock would make it: a db is never put anywhere new)
            raise StoreUnavailableError(f"{db}: it cannot be opened (no such directory {folder})")
        path = f"{real}.lock"
        if _HELD.get(path) == os.getpid():
            raise StoreUnavailableError(
                f"{db} is already open for writing in this process (pid {os.getpid()}): one "
                "writer per SQLite db; close that engine or store first, or open this one "
                "read-only"
            )
        lock = FileLock(
            path,
            thread_local=False,
            fallback_to_soft=False,
            preserve_lock_file=True,
            on_acquired=_write_pid,
        )
        try:
            lock.acquire(timeout=max(timeout, 0.0))
        except Timeout as exc:
            raise StoreUnavailableError(
                f"{db} is open for writing by another process ({_holder(path)}, lock file "
                f"{path}; waited {timeout:g} s): one writer per SQLite db, nothing was changed: "
                "run again when it is done"
            ) from exc
        except OSError as exc:
            told = one_line(exc.strerror or str(exc))
            raise StoreUnavailableError(
                f"{db}: its writer lock {path} cannot be taken ({told})"
            ) from exc
        _HELD[path] = os.getpid()
        return cls(db, path, lock)

    def release(self) -> None:
        """Let the next writer in (a no-op once released)."""
        if _HELD.get(self.path) == os.getpid():
            del _HELD[self.path]
        try:
            self._lock.release()
        except OSError as exc:
            told = one_line(exc.strerror or str(exc))
            raise StoreError(f"{self.db}: its writer lock {self.path} stays held ({told})") from exc
