"""History retention: `purge_history` on a 100,000-event db, and overturned appeals after it.

    PYTHONPATH=src:bench python bench/bench_retention.py                  # 10 cohorts, 2 years
    PYTHONPATH=src:bench python bench/bench_retention.py --cohorts 1      # bench_appeal's db
    PYTHONPATH=src:bench python bench/bench_retention.py --json retention.json

A purge removes only events older than its cut minus the longest window (the default pack: 180
days), and the cut is never later than the retention (at least 180 days) behind the latest
event: only events more than 360 days older than the last one can go. `generate_events` puts 10
events per account within about 73 days, so bench_appeal's db (100,000 events, 10,000
accounts) has nothing a purge can remove, and with fewer accounts its suspicious scenarios all
play out in the first year. The default workload here is the same size, 100,000 events of
10,000 accounts, as `--cohorts` (10) seeded streams of `generate_events`, each of a tenth of
the events and accounts (ids prefixed `cK-`, seed + K), starting `--cohort-days` (73) apart:
about two years of steady traffic, decisions throughout. `--cohorts 1` is bench_appeal's
workload, unchanged.

One process, one workload:

1. **baseline**: the events written into a fresh SQLite file (`Engine.run(iter_jsonl(lines))`,
   timed to the last commit): what building the db, or replaying the whole log, costs.
2. The db is closed and copied twice. On each copy, `SQLiteStore(path).purge_history()` with
   the wall clock (`store.now`) set to the latest event's time, so the cut is the retention
   (`--retention-days`) behind it: the DELETE, the reduction of old registrations and
   verifications to their declared fields, the audit record and the commit are timed. The
   second copy is then VACUUMed (timed: the library never VACUUMs by itself).
3. `--appeals` enforced automatic decisions taken after the cut, each on an event of its own
   account and from different accounts, are overturned one at a time on the three dbs (not
   purged, purged, purged + VACUUM), the same appeal event on each, the order of the three
   rotating from one appeal to the next; each `engine.process(appeal)` is timed on its own.
   Their outcomes (decisions and status changes), and then every account's status, are
   compared across the three: a purge must change nothing of what comes after it. Then
   `--settled-appeals` decisions taken before the cut (settled: on a purged db the cascade
   re-evaluates nothing before the cut) are overturned the same way; their outcomes may
   differ by design, and are counted apart.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bench_appeal import KEY, appealable, overturn
from bench_core import db_bytes, emit, fmt_mib, machine
from bench_history import code_version

from blacklist_rules import Engine, Outcome, SQLiteStore, iter_jsonl
from blacklist_rules.testing import decision_id, generate_events

PLAIN, PURGED, VACUUMED = "not purged", "purged", "purged + VACUUM"
DBS = (PLAIN, PURGED, VACUUMED)
START = datetime(2026, 1, 1, tzinfo=UTC)
_ACCOUNT = re.compile(r"acct-\d{6}")
_NAMING_ACCOUNTS = ("account_id", "reporter_id", "impersonated_account_id")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_retention.py", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="default %(default)s")
    parser.add_argument("--accounts", type=int, default=10_000, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=1, help="default %(default)s")
    parser.add_argument("--benign-share", type=float, default=0.9, help="default %(default)s")
    parser.add_argument(
        "--cohorts",
        type=int,
        default=10,
        help="streams of events/N and accounts/N, --cohort-days apart (default %(default)s; "
        "1: bench_appeal's workload)",
    )
    parser.add_argument(
        "--cohort-days", type=int, default=73, help="days between starts (default %(default)s)"
    )
    parser.add_argument(
        "--appeals", type=int, default=20, help="decisions after the cut (default %(default)s)"
    )
    parser.add_argument(
        "--settled-appeals",
        type=int,
        default=10,
        help="decisions before the cut (default %(default)s)",
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=180,
        help="the db's retention (default %(default)s, the floor): the cut is this far behind "
        "the latest event",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the results as JSON to PATH; alone, JSON replaces the table on stdout",
    )
    parser.add_argument(
        "--tmpdir", type=Path, default=None, help="where the SQLite files go (default: system)"
    )
    return parser


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _cohort(
    index: int, n_events: int, n_accounts: int, seed: int, start: datetime, benign_share: float
) -> Iterator[dict[str, Any]]:
    """One cohort's stream, its event and account ids prefixed (`cK-`), the decisions its
    appeals name following them."""
    prefix = f"c{index}-"
    decisions: dict[str, str] = {}
    for event in generate_events(
        n_events, n_accounts=n_accounts, seed=seed, start=start, benign_share=benign_share
    ):
        old_event, old_account = event["event_id"], event["account_id"]
        event["event_id"] = prefix + old_event
        for name in _NAMING_ACCOUNTS:
            if isinstance(event.get(name), str) and _ACCOUNT.fullmatch(event[name]):
                event[name] = prefix + event[name]
        if event["type"] == "identity_verification":
            was = decision_id(old_event, old_account, "enforce")
            decisions[was] = decision_id(event["event_id"], event["account_id"], "enforce")
        elif event["type"] == "appeal_outcome":
            event["decision_id"] = decisions.get(event["decision_id"], event["decision_id"])
        yield event


def workload(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The events: `generate_events` as is for one cohort, else the cohorts merged by time."""
    if args.cohorts == 1:
        return list(
            generate_events(
                args.events,
                n_accounts=args.accounts,
                seed=args.seed,
                benign_share=args.benign_share,
            )
        )
    streams = [
        _cohort(
            k,
            args.events // args.cohorts + (k < args.events % args.cohorts),
            max(args.accounts // args.cohorts, 1),
            args.seed + k,
            START + timedelta(days=k * args.cohort_days),
            args.benign_share,
        )
        for k in range(args.cohorts)
    ]
    # Every stream's times are "YYYY-MM-DDTHH:MM:SS+08:00": as text, they sort as times.
    return list(heapq.merge(*streams, key=lambda event: str(event["occurred_at"])))


def _copy(db: Path, to: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", f"{to}{suffix}")


def _count(db: Path, sql: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _free_bytes(db: Path) -> int:
    """Bytes of the db's free pages (closed explicitly: a connection left open would keep
    the WAL file of a later VACUUM on disk)."""
    with closing(sqlite3.connect(db)) as conn:
        pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])


def _purge(db: Path, wall: datetime, retention_days: int) -> dict[str, Any]:
    """`purge_history` on its own store, timed from the call to its commit."""
    store = SQLiteStore(db)
    try:
        if retention_days != 180:
            store.set_retention(timedelta(days=retention_days))
        store.now = lambda: wall
        started = time.perf_counter()
        done = store.purge_history()
        seconds = time.perf_counter() - started
        open_bytes = db_bytes(db)
    finally:
        store.close()
    return {
        "seconds": seconds,
        "cut": done.cut.isoformat(),
        "kept_from": done.kept_from.isoformat() if done.kept_from else None,
        "removed": done.removed,
        "reduced": done.reduced,
        "bytes_open": open_bytes,
        "bytes_closed": db_bytes(db),
        "free_bytes": _free_bytes(db),
    }


def _vacuum(db: Path) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        started = time.perf_counter()
        conn.execute("VACUUM")
        return time.perf_counter() - started
    finally:
        conn.close()


def _seen(outcome: Outcome) -> str:
    """What an appeal did, comparable across dbs."""
    return json.dumps(
        {
            "decisions": [d.to_dict() for d in outcome.decisions],
            "status_changes": [c.to_dict() for c in outcome.status_changes],
            "rejection": str(outcome.rejection) if outcome.rejection else None,
            "failure": str(outcome.failure) if outcome.failure else None,
        },
        sort_keys=True,
        default=str,
    )


def _statuses(engines: dict[str, Engine]) -> int:
    """Accounts whose status is not the same in every db (not flagged: active)."""
    seen = {
        name: {row.account_id: row.status for row in engine.store.flagged()}
        for name, engine in engines.items()
    }
    accounts = set().union(*(found.keys() for found in seen.values()))
    return sum(1 for a in accounts if len({found.get(a) for found in seen.values()}) > 1)


def _appeal(
    engines: dict[str, Engine], chosen: list[dict[str, Any]], clock: datetime, first: int
) -> dict[str, Any]:
    """Overturn each decision on every db, the order of the dbs rotating; timings, changes."""
    timings: dict[str, list[float]] = {name: [] for name in DBS}
    differ, changes, unequal = 0, [], []
    for index, record in enumerate(chosen, start=first):
        appeal = overturn(record, clock, index)
        shift = index % len(DBS)
        seen: dict[str, str] = {}
        for name in DBS[shift:] + DBS[:shift]:
            started = time.perf_counter()
            outcome = engines[name].process(dict(appeal))
            timings[name].append(time.perf_counter() - started)
            assert outcome.rejection is None, outcome.rejection
            assert outcome.failure is None, outcome.failure
            seen[name] = _seen(outcome)
            if name == PLAIN:
                changes.append(len(outcome.decisions) + len(outcome.status_changes))
        if len(set(seen.values())) > 1:
            differ += 1
            unequal.append(record["decision_id"])
    return {
        "count": len(chosen),
        "per_db": {
            name: {
                "median_ms": round(statistics.median(values) * 1000, 2),
                "worst_ms": round(max(values) * 1000, 2),
                "best_ms": round(min(values) * 1000, 2),
            }
            for name, values in timings.items()
            if values
        },
        "changes_per_appeal": round(statistics.mean(changes), 2) if changes else 0.0,
        "outcomes_differ": differ,
        "decisions_whose_outcomes_differ": unequal,
        "statuses_differ_after": _statuses(engines),
    }


def _day(text: str | None) -> str:
    return "-" if text is None else text[:19]


def show(report: dict[str, Any], out: TextIO) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    cfg, host, work = report["config"], report["machine"], report["workload"]
    say(
        f"blacklist-rules retention benchmark: {cfg['events']:,} events, "
        f"{cfg['accounts']:,} accounts, {cfg['cohorts']} cohort(s) {cfg['cohort_days']} days "
        f"apart, seed {cfg['seed']}, benign share {cfg['benign_share']}, "
        f"retention {cfg['retention_days']} days"
    )
    say(
        f"machine: {host['cpus']} CPUs ({host['cpu_model']}), Python {host['python']}, "
        f"SQLite {host['sqlite']}, load average at start {host['load_average_at_start']}"
    )
    code = report["code"]
    say(f"code: commit {code['commit']}, src/ and rules/ {code['src_and_rules']}")
    say(
        f"workload: event time {_day(work['first'])} .. {_day(work['last'])} ({work['days']} days);"
        f" not timed: generated in {work['generate_s']:.1f} s"
    )
    base = report["baseline"]
    say()
    say(
        f"baseline, writing the events (Engine.run, fresh db): {base['seconds']:.2f} s "
        f"({base['events_per_s']:,} events/s; {base['decisions']:,} enforced decisions, "
        f"rejected {base['rejected']}, failures {base['failures']})"
    )
    purge = report["purge"]
    say(
        f"purge_history, wall clock = latest event: cut {_day(purge['cut'])}, events kept whole "
        f"from {_day(purge['kept_from'])}"
    )
    say(
        f"  removed {purge['removed']:,} of {purge['events_before']:,} events "
        f"({purge['removed_share']:.1%}); reduced {purge['reduced']:,} registrations and "
        f"verifications to their declared fields; {purge['events_after']:,} events left"
    )
    times = " / ".join(f"{s:.3f}" for s in purge["seconds_per_copy"])
    say(
        f"  time: {purge['seconds']:.3f} s, median of {len(purge['seconds_per_copy'])} copies "
        f"({times} s); {purge['removed_per_s']:,} events removed/s"
    )
    say(f"  ratio purge / writing the events: {purge['ratio_to_baseline']:.4f}")
    size = report["db_bytes"]
    say(
        f"db size: before {fmt_mib(size['before'])} ({size['before']:,} B); after the purge "
        f"{fmt_mib(size['after_purge_open'])} still open (db + WAL), "
        f"{fmt_mib(size['after_purge'])} closed ({size['after_purge']:,} B), of which "
        f"{fmt_mib(size['free_after_purge'])} free pages"
    )
    say(
        f"  after VACUUM {fmt_mib(size['after_vacuum'])} ({size['after_vacuum']:,} B, "
        f"{size['after_vacuum'] / size['before']:.1%} of before); VACUUM took "
        f"{report['vacuum_s']:.2f} s"
    )
    candidates = report["appeal_candidates"]
    say()
    say(
        f"appealable decisions (enforced, automatic, on an event of their own account, one per "
        f"account): {candidates['after_cut']} after the cut, {candidates['before_cut']} before"
    )
    for key, title in (
        ("after_cut", "overturned appeals of decisions after the cut"),
        ("settled", "overturned appeals of settled decisions (before the cut)"),
    ):
        group = report["appeals"][key]
        if not group["count"]:
            say(f"{title}: none")
            continue
        say(f"{title}: {group['count']}, the same on each db, order rotating")
        say(f"  {'db':<18}{'median ms':>10}{'worst ms':>10}{'best ms':>10}  median / not purged")
        plain = group["per_db"][PLAIN]["median_ms"]
        for name in DBS:
            row = group["per_db"][name]
            say(
                f"  {name:<18}{row['median_ms']:>10.2f}{row['worst_ms']:>10.2f}"
                f"{row['best_ms']:>10.2f}  {row['median_ms'] / plain:.3f}"
            )
        say(
            f"  decisions + status changes per appeal (not purged): {group['changes_per_appeal']};"
            f" appeals whose outcome differs between dbs: {group['outcomes_differ']}; accounts "
            f"whose status differs afterwards: {group['statuses_differ_after']}"
        )
    after = report["appeals"]["after_cut"]
    if after["count"]:
        ratio = after["per_db"][PLAIN]["median_ms"] / 1000 / base["seconds"]
        say(f"median appeal after the cut (not purged) / writing the events: {ratio:.5f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if min(args.events, args.accounts, args.cohorts, args.cohort_days) < 1:
        print(
            "bench_retention.py: --events, --accounts, --cohorts, --cohort-days must be >= 1",
            file=sys.stderr,
        )
        return 2
    host, code = machine(), code_version()
    _progress(f"generating {args.events:,} events for {args.accounts:,} accounts ...")
    started = time.perf_counter()
    events = workload(args)
    lines = [json.dumps(e) for e in events]
    payloads = {e["event_id"]: e for e in events}
    generate_s = time.perf_counter() - started
    os.environ["BLACKLIST_RULES_IDENTITY_KEY"] = KEY
    with tempfile.TemporaryDirectory(prefix="bench-retention-", dir=args.tmpdir) as tmp:
        paths = {name: Path(tmp) / f"{i}.db" for i, name in enumerate(DBS)}
        _progress("writing the events (baseline) ...")
        rejected = failures = 0
        with Engine.from_path(db=paths[PLAIN], max_lead=None) as engine:
            started = time.perf_counter()
            for outcome in engine.run(iter_jsonl(lines), failures="outcome"):
                rejected += outcome.rejection is not None
                failures += outcome.failure is not None
            write_s = time.perf_counter() - started
            clock = engine.clock
        assert clock is not None
        before_bytes = db_bytes(paths[PLAIN])
        events_before = _count(paths[PLAIN], "SELECT COUNT(*) FROM events")
        decisions = _count(paths[PLAIN], "SELECT COUNT(*) FROM decisions WHERE mode = 'enforce'")
        purges = []
        for name in (PURGED, VACUUMED):
            _copy(paths[PLAIN], paths[name])
            _progress(f"purge_history on a copy ({name}) ...")
            purges.append(_purge(paths[name], clock, args.retention_days))
        purge = purges[0]
        _progress("VACUUM ...")
        vacuum_s = _vacuum(paths[VACUUMED])
        vacuum_bytes = db_bytes(paths[VACUUMED])
        events_after = _count(paths[PURGED], "SELECT COUNT(*) FROM events")
        cut = datetime.fromisoformat(purge["cut"])

        engines = {name: Engine.from_path(db=path, max_lead=None) for name, path in paths.items()}
        try:
            records = appealable(engines[PLAIN], payloads)
            after = [r for r in records if datetime.fromisoformat(r["effective_at"]) >= cut]
            before = [r for r in records if datetime.fromisoformat(r["effective_at"]) < cut]
            chosen = after[: args.appeals]
            _progress(f"{len(chosen)} overturned appeals after the cut on each db ...")
            appeals = {"after_cut": _appeal(engines, chosen, clock, 0)}
            settled = before[: args.settled_appeals]
            _progress(f"{len(settled)} overturned appeals before the cut on each db ...")
            appeals["settled"] = _appeal(engines, settled, clock, len(chosen))
        finally:
            for engine in engines.values():
                engine.close()
    seconds = statistics.median(p["seconds"] for p in purges)
    first = datetime.fromisoformat(str(events[0]["occurred_at"]))
    report: dict[str, Any] = {
        "config": {
            "events": args.events,
            "accounts": args.accounts,
            "cohorts": args.cohorts,
            "cohort_days": args.cohort_days,
            "seed": args.seed,
            "benign_share": args.benign_share,
            "appeals": args.appeals,
            "settled_appeals": args.settled_appeals,
            "retention_days": args.retention_days,
            "command": "PYTHONPATH=src:bench python bench/bench_retention.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "machine": host,
        "code": code,
        "workload": {
            "first": first.isoformat(),
            "last": clock.isoformat(),
            "days": (clock - first).days,
            "generate_s": round(generate_s, 3),
        },
        "baseline": {
            "what": "Engine.run over every event into a fresh SQLite file",
            "seconds": round(write_s, 3),
            "events_per_s": round(len(events) / write_s),
            "decisions": decisions,
            "rejected": rejected,
            "failures": failures,
        },
        "purge": {
            "cut": purge["cut"],
            "kept_from": purge["kept_from"],
            "events_before": events_before,
            "events_after": events_after,
            "removed": purge["removed"],
            "removed_share": round(purge["removed"] / events_before, 4),
            "reduced": purge["reduced"],
            "seconds": round(seconds, 4),
            "seconds_per_copy": [round(p["seconds"], 4) for p in purges],
            "removed_per_s": round(purge["removed"] / seconds) if seconds else 0,
            "ratio_to_baseline": round(seconds / write_s, 5),
        },
        "db_bytes": {
            "before": before_bytes,
            "after_purge_open": purge["bytes_open"],
            "after_purge": purge["bytes_closed"],
            "free_after_purge": purge["free_bytes"],
            "after_vacuum": vacuum_bytes,
        },
        "vacuum_s": round(vacuum_s, 3),
        "appeal_candidates": {"after_cut": len(after), "before_cut": len(before)},
        "appeals": appeals,
    }
    return emit(report, args.json, lambda out: show(report, out))


if __name__ == "__main__":
    raise SystemExit(main())
