"""Workers on PostgreSQL beside one SQLite process, same events, with and without the broker.

    PYTHONPATH=src python bench/bench_workers.py                       # ~3 minutes
    PYTHONPATH=src python bench/bench_workers.py --events 5000 --workers 1 2

The seeded synthetic workload (`generate_events`, benign share 0.95) is written once. Then:

- **SQLite `run`**: one engine on a SQLite file over all the events, in a child process: the
  baseline;
- **PostgreSQL, no broker**: N child processes (N in `--workers`), each a `Worker` on one fresh
  PostgreSQL database fed from a file of its share of the accounts (CRC-32 partition mod N,
  the split the broker makes), all at once;
- **PostgreSQL, broker**: the events published to a fresh JetStream stream of 4 partitions
  (not timed), then N `Worker`s (`--index i --of N`) consuming it into a fresh database.

Each child times itself from its first event to its last commit (imports and connections
excluded); a configuration's time is from the earliest start to the latest end of its
children. Rates are events/s; ratios are against the SQLite baseline of the same run, and
N workers against one; `retried` counts batches the server refused (a deadlock) and the
worker ran again. Until per-account locks land (issue 16 item 2), the workers of one
configuration take disjoint accounts; the clock is each worker's own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from blacklist_rules.delivery.jetstream import JetStream
from blacklist_rules.delivery.source import Delivery, partition_of, share
from blacklist_rules.delivery.worker import Worker, open_engine
from blacklist_rules.model.identity import KEY_ENV
from blacklist_rules.testing import generate_events, write_jsonl

SERVER = os.environ.get("BLACKLIST_RULES_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
NATS = os.environ.get("BLACKLIST_RULES_BENCH_NATS", "nats://127.0.0.1:4222")
PARTITIONS = 4
BATCH = 500


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--no-broker", action="store_true", help="skip the broker runs")
    parser.add_argument(
        "--per-event",
        action="store_true",
        help="also run the workers without a broker at one commit an event (as before)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a child's JSON job
    return parser


# --- children: one engine each, timing itself --------------------------------------------


class FileSource:
    """Events from a list of lines, as an `EventSource` without a broker (nothing to ack)."""

    count = 1
    partitions = (0,)

    def __init__(self, lines: list[str], log: str) -> None:
        self.log = log  # (each file a log of its own: its one partition holds the watermark)
        self._lines = lines
        self._at = 0

    def fetch(
        self, limit: int, timeout: float, partitions: Sequence[int] | None = None
    ) -> list[Delivery]:
        batch = self._lines[self._at : self._at + limit]
        self._at += len(batch)
        return [Delivery(text, 0, None) for text in batch]

    def pending(self, partitions: Sequence[int]) -> dict[int, int]:
        return {0: len(self._lines) - self._at}

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Nothing to acknowledge: a file."""

    def close(self) -> None:
        """Nothing to close."""


def _child(job: dict[str, Any]) -> dict[str, float]:
    engine = open_engine(None, job["db"], max_lead=None, busy_timeout=30.0)
    with engine:
        engine.commit_every = BATCH
        if "file" in job:
            lines = Path(job["file"]).read_text(encoding="utf-8").splitlines()
            worker = Worker(
                engine, FileSource(lines, f"file:{job['file']}"), batch_size=BATCH, poll=0
            )
            if job.get("per_event"):  # as before issue 16 item 5: a commit an event
                engine.commit_every = 1
            start = time.time()
            tally = worker.run(until_idle=True)
            end = time.time()
        else:
            with JetStream(NATS) as broker:
                source = broker.source(job["stream"], job["partitions"])
                worker = Worker(engine, source, batch_size=BATCH, poll=0.1)
                start = time.time()
                tally = worker.run(until_idle=True)
                end = time.time() - 0.15  # the last, empty, fetch
                source.close()
    return {"start": start, "end": end, "events": tally.events, "retried": tally.retried}


def run_children(
    script: str, jobs: list[dict[str, Any]], env: dict[str, str]
) -> list[dict[str, Any]]:
    """Start `script --child JOB` for every job at once; their JSON results, in job order.
    (Also used by bench_pg_statements.py.)"""
    children = [
        subprocess.Popen(
            [sys.executable, script, "--child", json.dumps(job)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"a child failed ({child.returncode})")
        results.append(json.loads(out))
    return results


def _spawn(jobs: list[dict[str, Any]]) -> dict[str, float]:
    results = run_children(__file__, jobs, {**os.environ, KEY_ENV: "b" * 40})
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    events = sum(r["events"] for r in results)
    retried = sum(r.get("retried", 0) for r in results)
    return {"seconds": span, "events": events, "rate": events / span, "retried": retried}


# --- the configurations -------------------------------------------------------------------


def create_database() -> str:
    """A fresh, uniquely named database on the server (also used by bench_pg_statements.py)."""
    name = f"br_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _prepare(url: str) -> None:
    """Migrate the fresh db and adopt the key before the clock starts (as a deployment)."""
    os.environ[KEY_ENV] = "b" * 40
    open_engine(None, url, max_lead=None, busy_timeout=30.0).close()


def _postgres(
    n: int, events: list[dict[str, Any]], tmp: Path, stream: str | None, per_event: bool = False
) -> Any:
    name = create_database()
    url = f"{SERVER}/{name}"
    try:
        _prepare(url)
        jobs: list[dict[str, Any]] = []
        if stream is None:
            for i in range(n):
                part = tmp / f"part-{n}-{i}.jsonl"
                write_jsonl((e for e in events if partition_of(e["account_id"], n) == i), part)
                jobs.append({"db": url, "file": str(part), "per_event": per_event})
        else:
            jobs = [
                {"db": url, "stream": stream, "partitions": share(PARTITIONS, i, n)}
                for i in range(n)
            ]
        return _spawn(jobs)
    finally:
        drop_database(name)


def _publish(events: list[dict[str, Any]]) -> tuple[str, float]:
    stream = f"BENCH_{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    with JetStream(NATS) as broker:
        broker.ensure_stream(stream, PARTITIONS)
        items = (
            (partition_of(e["account_id"], PARTITIONS), e["event_id"], json.dumps(e))
            for e in events
        )
        broker.publish(stream, PARTITIONS, items)
    return stream, len(events) / (time.perf_counter() - started)


def _row(label: str, result: dict[str, float], base: float, one: float | None) -> str:
    versus_one = f"{result['rate'] / one:5.2f}x" if one else "   - "
    return (
        f"{label:<34} {result['events']:>8.0f} {result['seconds']:>8.2f} {result['rate']:>9.0f}"
        f"   {result['rate'] / base:5.2f}x    {versus_one}  {result['retried']:>7.0f}"
    )


def main() -> None:
    args = _parser().parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    events = list(generate_events(args.events, n_accounts=args.accounts, seed=args.seed))
    figures: dict[str, Any] = {"events": len(events), "accounts": args.accounts}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        whole = tmp / "events.jsonl"
        write_jsonl(events, whole)
        db = tmp / "base.db"
        print("SQLite run ...", file=sys.stderr)
        base = _spawn([{"db": str(db), "file": str(whole)}])
        figures["sqlite"] = base
        modes = ["no broker"] if args.no_broker else ["no broker", "broker"]
        modes = (["per event"] if args.per_event else []) + modes
        for mode in modes:
            for n in args.workers:
                print(f"PostgreSQL, {n} worker(s), {mode} ...", file=sys.stderr)
                if mode != "broker":
                    per_event = mode == "per event"
                    figures[f"postgres {n} {mode}"] = _postgres(n, events, tmp, None, per_event)
                    continue
                stream, figures["publish_rate"] = _publish(events)  # a stream per run
                try:
                    figures[f"postgres {n} {mode}"] = _postgres(n, events, tmp, stream)
                finally:
                    with JetStream(NATS) as broker:
                        broker.delete_stream(stream)
    print(f"{'configuration':<34} {'events':>8} {'seconds':>8} {'events/s':>9}   vs SQLite  vs 1")
    print(_row("SQLite run (baseline)", base, base["rate"], None))
    for mode in modes:
        one = figures.get(f"postgres 1 {mode}", {}).get("rate")
        for n in args.workers:
            result = figures[f"postgres {n} {mode}"]
            print(_row(f"PostgreSQL {n} worker(s), {mode}", result, base["rate"], one))
    if "publish_rate" in figures:
        print(f"publish (not in the times above): {figures['publish_rate']:.0f} events/s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
