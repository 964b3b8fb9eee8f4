"""The cost of many writers on one PostgreSQL db (issue 16 item 2): one and two writer
processes over a split of the same events, beside one SQLite process; per writer, the
statements each event takes and the time spent waiting for the audit chain's lock and for
the accounts' claims.

Usage (from the repository root; the server of `BLACKLIST_RULES_TEST_POSTGRES`, default
`postgresql://postgres@127.0.0.1:5432/postgres`, gets a fresh database per measurement):

    PYTHONPATH=src:. python bench/bench_pg_writers.py [--events N] [--accounts N] [--seed S]

Each writer runs in a process of its own (`--worker`), its statements counted and timed at
the store's one psycopg seam (`PgConnection`), wrapped here and nowhere else.

Each PostgreSQL measurement is made four ways in the same run, adding the changes of issue
16 item 5 one at a time: (1) as before, one commit an event (as `run` on a shared db), each
audit record appended as it is written (`eager`: the chain's lock held from a transaction's
first record) and each event's deadline lookups made (`scan`); (2) a commit every
`--commit-every` events (as a `Worker`: a batch the server refuses runs again whole); (3)
the audit records appended together just before the commit (`late`); (4) the lookups
skipped while nothing is due (`skip`: now).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from blacklist_rules import Engine, SQLiteStore, iter_jsonl, load_ruleset
from blacklist_rules.engine import deadlines
from blacklist_rules.errors import StoreUnavailableError
from blacklist_rules.stores import open_store
from blacklist_rules.stores.postgres import driver
from blacklist_rules.stores.postgres.audit import PostgresAudit
from blacklist_rules.testing import generate_events, write_jsonl

KEY = "bench-key-" + "k" * 32


def _counted(stats: dict[str, float]) -> None:
    """Count every statement of the seam, and time the chain's lock and the claims."""

    def wrap(name: str) -> None:
        plain: Callable[..., Any] = getattr(driver.PgConnection, name)

        def counting(self: driver.PgConnection, query: Any, *args: Any, **kw: Any) -> Any:
            text = str(query)
            kind = (
                "chain_wait_s"
                if "pg_advisory_xact_lock(%s, %s)" in text
                else "claim_wait_s"
                if "hashtextextended" in text
                else None
            )
            start = time.perf_counter()
            try:
                return plain(self, query, *args, **kw)
            finally:
                stats["statements"] += 1
                if kind is not None:
                    stats[kind] += time.perf_counter() - start

        setattr(driver.PgConnection, name, counting)

    for name in ("execute", "all", "one", "rows", "run_many"):
        wrap(name)


def _eager_audit() -> None:
    """The chain as before: each record appended (under the chain's lock, held from then to
    the commit) as it is written, not at the commit."""
    late = PostgresAudit.audit

    def eager(self: PostgresAudit, *args: Any, **kw: Any) -> None:
        late(self, *args, **kw)
        self._append_audit()  # (outside a transaction: already appended, nothing waits)

    PostgresAudit.audit = eager  # type: ignore[method-assign]


def _scan_deadlines() -> None:
    """Every event looks for due deadlines and freezes, as before."""
    deadlines._may_be_due = lambda core, moment, commits: True


VARIANTS = (
    ("1", "eager", "scan"),
    ("N", "eager", "scan"),
    ("N", "late", "scan"),
    ("N", "late", "skip"),
)


def worker(events: Path, url: str, commit_every: int, eager: bool, scan: bool) -> None:
    """One writer: every event of the file through an engine on the db, `commit_every`
    events a transaction (a refused one run again whole); its figures as one JSON line on
    stdout."""
    stats = {"statements": 0.0, "chain_wait_s": 0.0, "claim_wait_s": 0.0, "retried": 0.0}
    _counted(stats)
    if eager:
        _eager_audit()
    if scan:
        _scan_deadlines()
    lines = events.read_text(encoding="utf-8").splitlines()
    start = time.perf_counter()
    count = 0
    with Engine(load_ruleset(), open_store(url), max_lead=None) as engine:
        engine.commit_every = commit_every
        for at in range(0, len(lines), commit_every):
            while True:
                try:
                    done = sum(1 for _ in engine.run(lines[at : at + commit_every]))
                except StoreUnavailableError:  # (a deadlock: the batch dropped whole)
                    stats["retried"] += 1
                    continue
                count += done
                break
    stats.update(events=count, seconds=time.perf_counter() - start)
    print(json.dumps(stats))


def _database(server: str, name: str, *, drop: bool = False) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as db:
        if drop:
            db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            db.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def writers(files: list[Path], server: str, how: list[str]) -> dict[str, Any]:
    """All files at once, a writer process each, on a fresh db: wall time and each
    writer's figures. `how`: events a commit, the audit's and the deadlines' way."""
    name = f"br_bench_{os.getpid()}_{len(files)}"
    url = _database(server, name)
    try:
        open_store(url).close()  # migrated before the writers start
        env = {**os.environ, "BLACKLIST_RULES_IDENTITY_KEY": KEY}
        start = time.perf_counter()
        started = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", str(f), url, *how],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for f in files
        ]
        outs = [p.communicate()[0] for p in started]
        wall = time.perf_counter() - start
        ok = open_store(url, read_only=True)
        try:
            assert ok.verify_audit().ok
        finally:
            ok.close()
    finally:
        _database(server, name, drop=True)
    each = [json.loads(out) for out in outs]
    events = sum(w["events"] for w in each)
    return {
        "writers": len(files),
        "commit_every": int(how[0]),
        "audit": how[1],
        "deadlines": how[2],
        "events": events,
        "wall_s": round(wall, 2),
        "events_per_s": round(events / wall),
        "statements_per_event": round(sum(w["statements"] for w in each) / events, 1),
        "chain_wait_ms_per_event": round(1000 * sum(w["chain_wait_s"] for w in each) / events, 3),
        "claim_wait_ms_per_event": round(1000 * sum(w["claim_wait_s"] for w in each) / events, 3),
        "retried": int(sum(w["retried"] for w in each)),
    }


def sqlite_run(events: Path, folder: Path) -> dict[str, Any]:
    os.environ["BLACKLIST_RULES_IDENTITY_KEY"] = KEY
    start = time.perf_counter()
    count = 0
    store = SQLiteStore(folder / "one.db")
    with Engine(load_ruleset(), store, max_lead=None) as engine, engine.batch():
        for _ in engine.run(iter_jsonl(events)):
            count += 1
    wall = time.perf_counter() - start
    return {"writers": "sqlite", "events": count, "wall_s": round(wall, 2)} | {
        "events_per_s": round(count / wall)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--accounts", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commit-every", type=int, default=500, help="events a batch")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        path, url, every, audit, lookups = args.worker
        worker(Path(path), url, int(every), audit == "eager", lookups == "scan")
        return
    server = os.environ.get(
        "BLACKLIST_RULES_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    with TemporaryDirectory() as tmp:
        folder = Path(tmp)
        every = list(generate_events(args.events, n_accounts=args.accounts, seed=args.seed))
        write_jsonl(every, folder / "all.jsonl")
        rows = [sqlite_run(folder / "all.jsonl", folder)]
        for count in (1, 2):
            files = []
            for n in range(count):
                part = [e for e in every if zlib.crc32(e["account_id"].encode()) % count == n]
                write_jsonl(part, folder / f"{count}-{n}.jsonl")
                files.append(folder / f"{count}-{n}.jsonl")
            for every_, audit, lookups in VARIANTS:
                how = [str(args.commit_every) if every_ == "N" else every_, audit, lookups]
                rows.append(writers(files, server, how))
                print(json.dumps(rows[-1]), file=sys.stderr)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
