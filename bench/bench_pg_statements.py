"""What a PostgreSQL worker costs an event (issue 16 item 5): statements, round trips, the
worker's CPU and its server backend's CPU, beside the wall rate; optionally the same run of
another source tree (`--before`), in one sitting, so the two see the same machine.

Usage (from the repository root; the server of `BLACKLIST_RULES_BENCH_POSTGRES`, default
`postgresql://postgres@127.0.0.1:5432`, gets a fresh database per configuration):

    PYTHONPATH=src python bench/bench_pg_statements.py --events 4000 --workers 1 2
    PYTHONPATH=src python bench/bench_pg_statements.py --before /tmp/main-src --top 12

`--before SRC` names another checkout (its `src/` is put first on the children's path; make
one with `git worktree add` or `git archive main | tar -x -C SRC`).

Each worker is a child process running a `Worker` over a file of its share of the accounts
(CRC-32 mod N, as `bench_workers.py` without a broker), batches of `--batch`. Its statements
are counted at the store's one psycopg seam (`PgConnection`, wrapped here and nowhere else)
where they reach the server (a savepoint the driver keeps unsent is not counted): every
call is a statement and a round trip, but a statement sent inside a pipeline
(`PgConnection.pipelined`, where the tree has it) waits for the pipeline's one sync, and an
`executemany` (`run_many`) is one round trip however many rows. A write held for the next
round trip (`PgConnection.hold`, where the tree has it) is counted as a statement, "(held)",
each row of a batched insert apart; the one statement that sends them, as a round trip.
CPU: the child's own (`time.process_time`), and its backends', read from `/proc/<pid>/stat`
(the pids from `pg_backend_pid()` of each connection it opened; the server runs on this
machine). Both hold
better than wall rates on a shared machine: they count work, not waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_workers import SERVER, create_database, drop_database, run_children

KEY = "b" * 40
TICKS = os.sysconf("SC_CLK_TCK")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--accounts", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=500, help="events a fetch and a commit")
    parser.add_argument("--before", type=Path, metavar="SRC", help="another tree to compare")
    parser.add_argument("--top", type=int, default=0, metavar="N", help="N statements by count")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a child's JSON job
    return parser


# --- children: one worker each, counting at the seam ------------------------------------


def _shape(query: object) -> str:
    """A statement's text, one line, its literals kept (they are parameters here)."""
    return re.sub(r"\s+", " ", str(query)).strip()[:160]


def _count(tally: Counter[str], trips: list[int], opened: list[Any]) -> None:
    """Wrap `PgConnection`'s statement methods where they reach the server (`_run`,
    `run_many`): each call counted by its text; a round trip unless inside a pipeline.
    Every connection made is kept in `opened`."""
    from blacklist_rules.stores.postgres import driver

    pipelines = [0]
    init = driver.PgConnection.__init__

    def keeping(self: Any, *args: Any, **kw: Any) -> None:
        init(self, *args, **kw)
        opened.append(self)

    setattr(driver.PgConnection, "__init__", keeping)  # noqa: B010

    def wrap(name: str) -> None:
        plain: Callable[..., Any] = getattr(driver.PgConnection, name)

        def counting(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
            tally[_shape(query)] += 1
            if not pipelines[0]:
                trips[0] += 1
            return plain(self, query, *args, **kw)

        setattr(driver.PgConnection, name, counting)

    for name in ("_run", "run_many"):  # (what reaches the server: a savepoint kept, not)
        wrap(name)
    held = getattr(driver.PgConnection, "hold", None)
    if held is not None:

        def holding(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
            tally["(held) " + _shape(query)] += 1  # a statement (or a row of one), no trip
            return held(self, query, *args, **kw)

        setattr(driver.PgConnection, "hold", holding)  # noqa: B010
        sends: Callable[..., Any] = driver.PgConnection._write_held

        def sending(self: Any, *args: Any, **kw: Any) -> Any:
            trips[0] += 1  # the held rows' one statement: a round trip of its own
            return sends(self, *args, **kw)

        setattr(driver.PgConnection, "_write_held", sending)  # noqa: B010
    piped = getattr(driver.PgConnection, "pipelined", None)
    if piped is not None:

        @contextmanager
        def counted(self: Any) -> Iterator[None]:
            pipelines[0] += 1
            try:
                with piped(self):
                    yield
            finally:
                pipelines[0] -= 1
                if not pipelines[0]:
                    trips[0] += 1  # (the sync)

        setattr(driver.PgConnection, "pipelined", counted)  # noqa: B010


def _backend_cpu(pids: list[int]) -> float:
    """Seconds of CPU (user and system) processes of this machine used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _child(job: dict[str, Any]) -> dict[str, Any]:
    from bench_workers import FileSource

    from blacklist_rules.delivery.worker import Worker, open_engine

    tally: Counter[str] = Counter()
    trips: list[int] = [0]
    opened: list[Any] = []
    _count(tally, trips, opened)
    engine = open_engine(None, job["db"], max_lead=None, busy_timeout=30.0)
    with engine:
        engine.commit_every = job["batch"]
        pids = [int(db.value("SELECT pg_backend_pid()")) for db in opened]
        lines = Path(job["file"]).read_text(encoding="utf-8").splitlines()
        worker = Worker(engine, FileSource(lines, f"file:{job['file']}"), batch_size=job["batch"])
        tally.clear()
        trips[0] = 0
        server0, cpu0, start = _backend_cpu(pids), time.process_time(), time.time()
        result = worker.run(until_idle=True)
        end, cpu, server = time.time(), time.process_time() - cpu0, _backend_cpu(pids) - server0
    return {
        "start": start,
        "end": end,
        "events": result.events,
        "retried": result.retried,
        "cpu_s": cpu,
        "server_cpu_s": server,
        "round_trips": trips[0],
        "statements": dict(tally),
    }


# --- the configurations -------------------------------------------------------------------


def _run(tree: Path | None, n: int, parts: list[Path], batch: int) -> dict[str, Any]:
    """N workers of one tree at once on a fresh db: the sums and rates of their figures."""
    here = Path(__file__).resolve().parent
    src = str(tree / "src") if tree is not None and (tree / "src").is_dir() else str(tree or "")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", ""), str(here)) if p)
    env = {**os.environ, "BLACKLIST_RULES_IDENTITY_KEY": KEY, "PYTHONPATH": path}
    name = create_database()
    url = f"{SERVER}/{name}"
    try:
        prepare = "from blacklist_rules.delivery.worker import open_engine as o; "
        prepare += f"o(None, {url!r}, max_lead=None, busy_timeout=30.0).close()"
        subprocess.run([sys.executable, "-c", prepare], env=env, check=True)
        jobs = [{"db": url, "file": str(part), "batch": batch} for part in parts]
        results = run_children(__file__, jobs, env)
    finally:
        drop_database(name)
    events = sum(r["events"] for r in results)
    statements: Counter[str] = Counter()
    for r in results:
        statements.update(r["statements"])
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "workers": n,
        "events": events,
        "seconds": round(span, 2),
        "events_per_s": round(events / span),
        "retried": sum(r["retried"] for r in results),
        "statements_per_event": round(sum(statements.values()) / events, 2),
        "round_trips_per_event": round(sum(r["round_trips"] for r in results) / events, 2),
        "worker_cpu_us_per_event": round(1e6 * sum(r["cpu_s"] for r in results) / events),
        "server_cpu_us_per_event": round(1e6 * sum(r["server_cpu_s"] for r in results) / events),
        "statements": dict(statements.most_common()),
    }


def _report(label: str, row: dict[str, Any], top: int) -> None:
    print(
        f"{label:<8} {row['workers']:>2} {row['events']:>7} {row['events_per_s']:>9} "
        f"{row['statements_per_event']:>10} {row['round_trips_per_event']:>11} "
        f"{row['worker_cpu_us_per_event']:>12} {row['server_cpu_us_per_event']:>12} "
        f"{row['retried']:>7}"
    )
    for text, count in list(row["statements"].items())[:top]:
        print(f"{'':>11}{count / row['events']:7.3f}  {text}")


def main() -> None:
    args = _parser().parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    from blacklist_rules.delivery.source import partition_of
    from blacklist_rules.testing import generate_events, write_jsonl

    events = list(generate_events(args.events, n_accounts=args.accounts, seed=args.seed))
    trees: list[tuple[str, Path | None]] = [("after", None)]
    if args.before is not None:
        trees.insert(0, ("before", args.before.resolve()))
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.workers:
            parts = []
            for i in range(n):
                part = Path(folder) / f"part-{n}-{i}.jsonl"
                write_jsonl((e for e in events if partition_of(e["account_id"], n) == i), part)
                parts.append(part)
            for label, tree in trees:
                print(f"{label}: {n} worker(s) ...", file=sys.stderr)
                rows.append((label, _run(tree, n, parts, args.batch)))
    print(
        f"{'tree':<8} {'N':>2} {'events':>7} {'events/s':>9} {'stmts/ev':>10} "
        f"{'trips/ev':>11} {'worker µs/ev':>12} {'server µs/ev':>12} {'retried':>7}"
    )
    for label, row in rows:
        _report(label, row, args.top)
    if args.json:
        figures = [{"tree": label, **row} for label, row in rows]
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
