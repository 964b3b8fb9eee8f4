"""Whether the cost of an event stays flat as the db grows (issue 19, "Flat cost").

    PYTHONPATH=src:bench python bench/bench_scale.py --events 1000000            # size mode
    PYTHONPATH=src:bench nice -n 5 python bench/bench_scale.py --events 10000000 --budget 2400
    PYTHONPATH=src:bench python bench/bench_scale.py --mode accounts --fill 1000000 --measure 100000

Size mode: `--events` events run through `Engine.run` into one SQLite file, `--slice` at a
time; after each slice it prints the events so far, the slice's rate in CPU time
(`time.process_time`, this process only) and wall time, the db size (with its WAL), the RSS
and its peak, the slice's event mix, and the CPU ms of `--appeals` reversals taken then
(overturned appeals and reviewers' lifts alternately, of enforced automatic decisions taken
on a non-registration event of their own account, the newest first): median and worst.
`--budget` seconds of wall time end the run after the slice that crosses it.

The events are generated in a child process (this script with `--emit`) and read through a
pipe, so that neither the generator's CPU nor its memory is counted. The stream is a series
of chunks of `--chunk` events each: `generate_events` over `--chunk / --per-account` new
accounts, a seed per chunk, each chunk an hour after the last. Every chunk has the same mix
(one `generate_events` stream front-loads its registrations: its first third holds them
all), so slices that are whole chunks are like for like from the first to the last.
`--ids random` gives events and accounts ids scattered over the key space (a hash) instead
of increasing ones: what the b-tree indexes of the events table see from real clients.

Accounts mode: two dbs in the same run, one pre-filled with 10,000 registered accounts and
one with `--fill`; then `--measure` events of the registration-heavy mix (`workload.py`:
40 % registrations, the rest about accounts drawn from all registered so far) run into
each, CPU-timed. Printed: both rates and their ratio (target: at least 0.8).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from bench_appeal import KEY, overturn
from bench_flat import _lift
from workload import registration_heavy

from blacklist_rules import Engine, SQLiteStore, iter_jsonl
from blacklist_rules.model.events import ParsedLine
from blacklist_rules.testing import decision_id, generate_events

START = datetime(2026, 1, 1, tzinfo=UTC)
BASE_ACCOUNTS = 10_000
"""The accounts mode's baseline: the rate over this many accounts."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_scale.py", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("size", "accounts"), default="size")
    parser.add_argument("--events", type=int, default=1_000_000, help="size mode: events")
    parser.add_argument("--slice", type=int, default=100_000, help="events between reports")
    parser.add_argument("--chunk", type=int, default=100_000, help="events of one mix chunk")
    parser.add_argument("--per-account", type=int, default=10, help="events an account")
    parser.add_argument("--ids", choices=("ordered", "random"), default="ordered")
    parser.add_argument("--appeals", type=int, default=10, help="reversals timed a slice")
    parser.add_argument("--budget", type=float, default=None, help="wall seconds, then stop")
    parser.add_argument("--fill", type=int, default=1_000_000, help="accounts mode: accounts")
    parser.add_argument("--measure", type=int, default=100_000, help="accounts mode: events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    return parser


# --- the stream (in the child) ------------------------------------------------------------
def _renamer(ids: str, chunk: int) -> Any:
    """The id an event or account of chunk `chunk` gets: increasing, or a hash of it."""

    def rename(name: str) -> str:
        kind, number = name.split("-", 1)
        ordered = f"{kind}-{chunk:05d}-{number}"
        if ids == "ordered":
            return ordered
        return f"{kind}-{hashlib.blake2b(ordered.encode(), digest_size=10).hexdigest()}"

    return rename


def _chunk(args: argparse.Namespace, index: int, start: datetime) -> Iterator[dict[str, Any]]:
    """Chunk `index` of the stream, its ids renamed so that no chunk meets another's."""
    rename = _renamer(args.ids, index)
    decisions: dict[str, str] = {}
    accounts = max(args.chunk // args.per_account, 1)
    seed = args.seed * 100_003 + index
    for event in generate_events(args.chunk, n_accounts=accounts, seed=seed, start=start):
        old_event, old_account = event["event_id"], event["account_id"]
        event["event_id"], event["account_id"] = rename(old_event), rename(old_account)
        if event["type"] == "identity_verification" and event.get("status") == "failed":
            old = decision_id(old_event, old_account, "enforce")
            decisions[old] = decision_id(event["event_id"], event["account_id"], "enforce")
        if "reporter_id" in event:
            event["reporter_id"] = rename(event["reporter_id"])
        if event["type"] == "appeal_outcome":
            event["decision_id"] = decisions.get(event["decision_id"], event["decision_id"])
        yield event


def emit(args: argparse.Namespace, out: IO[str]) -> None:
    """Write the size mode's stream, one JSON line an event, until `--events` or a closed pipe."""
    start, written = START, 0
    for index in itertools.count():
        last = ""
        for event in _chunk(args, index, start):
            out.write(json.dumps(event) + "\n")
            last = event["occurred_at"]
            written += 1
            if written == args.events:
                return
        start = datetime.fromisoformat(last) + timedelta(hours=1)


# --- the measures (in this process) -------------------------------------------------------
def _rss_mib() -> tuple[float, float]:
    """This process's resident set and its peak, MiB (Linux `/proc`)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _db_mib(db: Path) -> float:
    wal = Path(f"{db}-wal")
    return (db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 2**20


def _appealable(engine: Engine, count: int) -> list[dict[str, Any]]:
    """The newest enforced automatic decisions, one an account, taken on a non-registration
    event of their own account (what `bench_appeal.appealable` picks, read from the db)."""
    assert isinstance(engine.store, SQLiteStore)
    rows = engine.store.connection.execute(  # a bench may read the SQLite tables
        "SELECT d.record FROM decisions d JOIN events e ON e.event_id = d.event_id "
        "WHERE d.mode = 'enforce' AND d.reversed_by IS NULL AND d.rule_id != 'human-review' "
        "AND e.type != 'registration' AND e.account_id = d.account_id "
        "ORDER BY d.rowid DESC LIMIT ?",
        (count * 4,),
    ).fetchall()
    found: dict[str, dict[str, Any]] = {}
    for (text,) in rows:
        record = json.loads(text)
        found.setdefault(record["account_id"], record)
    return list(found.values())[:count]


def _reversal_ms(engine: Engine, count: int, offset: int) -> list[float]:
    """The CPU ms of each of `count` reversals, appeals and lifts alternately, timed alone."""
    clock = engine.clock
    assert clock is not None
    timings = []
    for index, record in enumerate(_appealable(engine, count), start=offset):
        item = (overturn if index % 2 == 0 else _lift)(record, clock, index)
        started = time.process_time()
        outcome = engine.process(item)
        timings.append((time.process_time() - started) * 1000)
        assert outcome.rejection is None, outcome.rejection
    return timings


def _counted(lines: Iterator[ParsedLine], mix: Counter[str]) -> Iterator[ParsedLine]:
    for line in lines:
        event = line.event
        mix[getattr(event, "type", "rejected")] += 1
        yield line


def _slice(engine: Engine, lines: Iterator[ParsedLine], size: int) -> dict[str, Any]:
    """Run the next `size` events; their count, CPU and wall seconds and mix."""
    mix: Counter[str] = Counter()
    cpu, wall = time.process_time(), time.perf_counter()
    rejected = 0  # the generator's appeals of decisions the pack did not take (rare)
    for outcome in engine.run(_counted(itertools.islice(lines, size), mix)):
        rejected += outcome.rejection is not None
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = sum(mix.values())
    shares = {kind: round(n / max(done, 1), 3) for kind, n in sorted(mix.items())}
    return {"events": done, "cpu_s": cpu, "wall_s": wall, "mix": shares, "rejected": rejected}


def _report(so_far: int, ran: dict[str, Any], reversals: list[float], db: Path) -> dict[str, Any]:
    rss, peak = _rss_mib()
    row = {
        "events": so_far,
        "cpu_ev_s": round(ran["events"] / ran["cpu_s"]) if ran["cpu_s"] else None,
        "wall_ev_s": round(ran["events"] / ran["wall_s"]) if ran["wall_s"] else None,
        "db_mib": round(_db_mib(db)),
        "rss_mib": round(rss),
        "peak_rss_mib": round(peak),
        "reversal_ms_median": round(statistics.median(reversals), 2) if reversals else None,
        "reversal_ms_worst": round(max(reversals), 2) if reversals else None,
        "reversals": len(reversals),
        "mix": ran["mix"],
        "rejected": ran["rejected"],
    }
    print(json.dumps(row), flush=True)
    return row


def size_mode(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """The size mode's slices, the stream read from a child process."""
    child = [sys.executable, __file__, "--emit", "--events", str(args.events), "--ids", args.ids]
    child += ["--chunk", str(args.chunk), "--per-account", str(args.per_account)]
    child += ["--seed", str(args.seed)]
    db, rows, so_far, began = tmp / "scale.db", [], 0, time.perf_counter()
    with (
        subprocess.Popen(child, stdout=subprocess.PIPE) as proc,
        Engine.from_path(db=db, max_lead=None) as engine,
    ):
        assert proc.stdout is not None
        lines = iter_jsonl(proc.stdout)
        while so_far < args.events:
            ran = _slice(engine, lines, args.slice)
            if not ran["events"]:
                break
            so_far += ran["events"]
            reversals = _reversal_ms(engine, args.appeals, so_far)
            rows.append(_report(so_far, ran, reversals, db))
            if args.budget is not None and time.perf_counter() - began > args.budget:
                print(f"budget of {args.budget:.0f} s spent at {so_far:,} events", file=sys.stderr)
                proc.kill()
                break
    return rows


def _population(fill: int, measure: int, seed: int) -> Iterator[dict[str, Any]]:
    """`fill` registrations, then `measure` events of the registration-heavy mix over them."""
    yield from registration_heavy(fill, seed, only_registrations=True)
    yield from registration_heavy(measure, seed, registered=fill, first=fill)


def _measured_rate(db: Path, fill: int, measure: int, seed: int) -> dict[str, Any]:
    events = _population(fill, measure, seed)
    with Engine.from_path(db=db, max_lead=None) as engine:
        for _ in engine.run(json.dumps(e) for e in itertools.islice(events, fill)):
            pass
        lines = [json.dumps(e) for e in events]
        started = time.process_time()
        for outcome in engine.run(lines):
            assert outcome.rejection is None, outcome.rejection
        cpu = time.process_time() - started
    row = {"accounts": fill, "events": measure, "cpu_s": round(cpu, 2)}
    row["cpu_ev_s"] = round(measure / cpu)
    print(json.dumps(row), flush=True)
    return row


def accounts_mode(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    base = _measured_rate(tmp / "base.db", BASE_ACCOUNTS, args.measure, args.seed)
    large = _measured_rate(tmp / "large.db", args.fill, args.measure, args.seed)
    ratio = round(large["cpu_ev_s"] / base["cpu_ev_s"], 3)
    summary = {"base": base, "large": large, "ratio": ratio}
    print(json.dumps(summary), flush=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.emit:
        with contextlib.suppress(BrokenPipeError):  # the reader stopped (its budget)
            emit(args, sys.stdout)
        return 0
    os.environ["BLACKLIST_RULES_IDENTITY_KEY"] = KEY
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.tmpdir) as tmp:
        if args.mode == "accounts":
            accounts_mode(args, Path(tmp))
            return 0
        rows = size_mode(args, Path(tmp))
    if rows:
        first, last = rows[0], rows[-1]
        ratio = last["cpu_ev_s"] / first["cpu_ev_s"]
        print(
            f"{first['events']:,} events: {first['cpu_ev_s']:,} ev/s CPU; {last['events']:,}: "
            f"{last['cpu_ev_s']:,} ev/s CPU ({ratio:.2f}x); RSS {first['rss_mib']} -> "
            f"{last['rss_mib']} MiB",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
