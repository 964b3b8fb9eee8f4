"""`verify_audit` on a 100,000-event db: the decisions cross-check, now and as it was.

    PYTHONPATH=src:bench python bench/bench_audit_verify.py                 # ~4 minutes
    PYTHONPATH=src:bench python bench/bench_audit_verify.py --events 20000 --repeat 1
    PYTHONPATH=src:bench python bench/bench_audit_verify.py --json verify.json

`verify_audit` re-computes the chain, then checks the decisions table against the trail. Its
count of decisions without their record (a purge removed it) was a correlated `NOT EXISTS`
that scanned the trail once per decision, there being no index on `audit(decision_id)`:
quadratic. It is now a `NOT IN` over a list SQLite builds once (`UNCHECKED_DECISIONS`), which
needs no index. The workload is `generate_events` with a benign share of 0.5 (default), so
that there are thousands of decisions, as on a busy db.

One process, one workload. The events run into a fresh SQLite file (`Engine.run`, not timed
for the comparison, reported), which is copied; on one copy the index the former query lacked,
`audit_by_decision`, is created. Then, for `--repeat` rounds, the order of the variants
rotating from one round to the next, each opens its copy and times one `verify_audit()`:

- **now**: the library as it is, no index;
- **now + index**: the same on the copy with the index (what the index would add: nothing);
- **former**: `verify_audit` with the former query (patched in), no index: the baseline;
- **former + index**: the former query with the index: what adding the index alone gives.

Every variant must return the same verdict. The cross-check's two queries are also timed
alone, as they are now: the rest is re-hashing the chain. The same is measured on a db of the
first half of the events (built in the same run), to show how each variant grows with the
trail.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, TextIO

from bench_appeal import KEY
from bench_core import emit, machine
from bench_history import code_version

import blacklist_rules.store as store_module
from blacklist_rules import Engine, SQLiteStore, iter_jsonl
from blacklist_rules.synthetic import generate_events

FORMER = (
    "SELECT count(*) FROM decisions d WHERE NOT EXISTS (SELECT 1 FROM audit a "
    "WHERE a.decision_id = d.decision_id AND a.kind = 'decision')"
)
"""The cross-check's count as it was before `UNCHECKED_DECISIONS` (commit 1bffd26)."""
INDEX = "CREATE INDEX audit_by_decision ON audit (decision_id)"
CHANGED = (
    "SELECT d.decision_id, a.seq FROM decisions d JOIN audit a "
    "ON a.decision_id = d.decision_id AND a.kind = 'decision' "
    "WHERE a.record != d.record ORDER BY a.seq LIMIT 1"
)
"""The cross-check's other query (unchanged), as `verify_audit` runs it."""
NOW, NOW_INDEX, FORMER_NAME, FORMER_INDEX = "now", "now + index", "former", "former + index"
VARIANTS = (NOW, NOW_INDEX, FORMER_NAME, FORMER_INDEX)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_audit_verify.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=100_000, help="default %(default)s")
    parser.add_argument("--accounts", type=int, default=10_000, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=1, help="default %(default)s")
    parser.add_argument("--benign-share", type=float, default=0.5, help="default %(default)s")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default %(default)s)")
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


@contextmanager
def _former(active: bool) -> Iterator[None]:
    """`verify_audit` with the former query while active (it reads the module's constant)."""
    now = store_module.UNCHECKED_DECISIONS
    if active:
        store_module.UNCHECKED_DECISIONS = FORMER
    try:
        yield
    finally:
        store_module.UNCHECKED_DECISIONS = now


def _verify(db: Path, former: bool) -> tuple[float, str]:
    store = SQLiteStore(db)
    try:
        with _former(former):
            started = time.perf_counter()
            verdict = store.verify_audit()
            seconds = time.perf_counter() - started
    finally:
        store.close()
    return seconds, str(verdict)


def _queries(db: Path) -> float:
    """The cross-check's two queries alone, as they are now, no index: the rest of
    `verify_audit` is re-hashing the chain."""
    with closing(sqlite3.connect(db)) as connection:
        started = time.perf_counter()
        connection.execute(CHANGED).fetchall()
        connection.execute(store_module.UNCHECKED_DECISIONS).fetchall()
        return time.perf_counter() - started


def _build(lines: list[str], db: Path) -> dict[str, Any]:
    """The events into a fresh db, then the copy with the index; sizes of the trail."""
    started = time.perf_counter()
    with Engine.from_path(db=db) as engine:
        for _ in engine.run(iter_jsonl(lines)):
            pass
    build_s = time.perf_counter() - started
    indexed = db.with_name(f"{db.stem}-index.db")
    shutil.copyfile(db, indexed)
    with closing(sqlite3.connect(indexed)) as connection:
        connection.execute(INDEX)
        connection.commit()
    with closing(sqlite3.connect(db)) as connection:
        records, decisions = connection.execute(
            "SELECT (SELECT count(*) FROM audit), (SELECT count(*) FROM decisions)"
        ).fetchone()
    return {
        "events": len(lines),
        "build_s": round(build_s, 2),
        "audit_records": int(records),
        "decisions": int(decisions),
        "paths": {NOW: db, NOW_INDEX: indexed, FORMER_NAME: db, FORMER_INDEX: indexed},
    }


def _measure(built: dict[str, Any], repeat: int) -> dict[str, Any]:
    paths = built.pop("paths")
    timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
    queries: list[float] = []
    verdicts: set[str] = set()
    for round_ in range(repeat):
        queries.append(_queries(paths[NOW]))
        shift = round_ % len(VARIANTS)
        for name in VARIANTS[shift:] + VARIANTS[:shift]:
            _progress(f"  round {round_ + 1}: {name} ...")
            seconds, verdict = _verify(paths[name], name in (FORMER_NAME, FORMER_INDEX))
            timings[name].append(seconds)
            verdicts.add(verdict)
    if len(verdicts) != 1:
        raise SystemExit(f"the variants disagree: {sorted(verdicts)}")
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        **built,
        "verdict": verdicts.pop(),
        "seconds": {
            name: {"median": round(medians[name], 4), "rounds": [round(s, 4) for s in values]}
            for name, values in timings.items()
        },
        "ratio_to_now": {name: round(medians[name] / medians[NOW], 2) for name in VARIANTS},
        "cross_check_queries_now_s": round(statistics.median(queries), 4),
    }


def show(report: dict[str, Any], out: TextIO) -> None:
    def say(text: str = "") -> None:
        print(text, file=out)

    cfg, host, code = report["config"], report["machine"], report["code"]
    say(
        f"blacklist-rules verify_audit benchmark: {cfg['events']:,} events, "
        f"{cfg['accounts']:,} accounts, seed {cfg['seed']}, benign share {cfg['benign_share']}, "
        f"{cfg['repeat']} round(s)"
    )
    say(
        f"machine: {host['cpus']} CPUs ({host['cpu_model']}), Python {host['python']}, "
        f"SQLite {host['sqlite']}, load average at start {host['load_average_at_start']}"
    )
    say(f"code: commit {code['commit']}, src/ and rules/ {code['src_and_rules']}")
    for size in report["sizes"]:
        say()
        say(
            f"{size['events']:,} events (db built in {size['build_s']:.1f} s): "
            f"{size['audit_records']:,} audit records, {size['decisions']:,} decisions"
        )
        say(f"  {'variant':<16}{'median s':>10}  {'rounds (s)':<30}median / now")
        for name in VARIANTS:
            row = size["seconds"][name]
            rounds = " / ".join(f"{s:.3f}" for s in row["rounds"])
            say(f"  {name:<16}{row['median']:>10.3f}  {rounds:<30}{size['ratio_to_now'][name]:.2f}")
        say(
            f"  the cross-check's two queries alone (now, no index): "
            f"{size['cross_check_queries_now_s']:.3f} s, median"
        )
    if len(report["sizes"]) == 2:
        small, large = report["sizes"]
        growth = ", ".join(
            f"{name} x{large['seconds'][name]['median'] / small['seconds'][name]['median']:.1f}"
            for name in VARIANTS
        )
        records = large["audit_records"] / small["audit_records"]
        say()
        say(f"from {small['events']:,} to {large['events']:,} events (records x{records:.1f}):")
        say(f"  {growth}")
    say(f"verdict (the same for every variant): {report['sizes'][-1]['verdict']}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if min(args.events, args.accounts, args.repeat) < 2:
        print("bench_audit_verify.py: --events, --accounts, --repeat must be >= 2", file=sys.stderr)
        return 2
    host, code = machine(), code_version()
    _progress(f"generating {args.events:,} events for {args.accounts:,} accounts ...")
    events = generate_events(
        args.events, n_accounts=args.accounts, seed=args.seed, benign_share=args.benign_share
    )
    lines = [json.dumps(e) for e in events]
    os.environ["BLACKLIST_RULES_IDENTITY_KEY"] = KEY
    sizes = []
    with tempfile.TemporaryDirectory(prefix="bench-audit-verify-", dir=args.tmpdir) as tmp:
        for count in (len(lines) // 2, len(lines)):
            _progress(f"writing {count:,} events ...")
            built = _build(lines[:count], Path(tmp) / f"{count}.db")
            _progress(f"verify_audit on {built['audit_records']:,} records ...")
            sizes.append(_measure(built, args.repeat))
    report: dict[str, Any] = {
        "config": {
            "events": args.events,
            "accounts": args.accounts,
            "seed": args.seed,
            "benign_share": args.benign_share,
            "repeat": args.repeat,
            "command": "PYTHONPATH=src:bench python bench/bench_audit_verify.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "machine": host,
        "code": code,
        "sizes": sizes,
    }
    return emit(report, args.json, lambda out: show(report, out))


if __name__ == "__main__":
    raise SystemExit(main())
