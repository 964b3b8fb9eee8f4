"""`verify_audit` on a 100,000-event db: the chain, the tables' cross-check, the damage check.

    PYTHONPATH=src:bench python bench/bench_audit_verify.py                 # ~4 minutes
    PYTHONPATH=src:bench python bench/bench_audit_verify.py --events 20000 --repeat 2
    PYTHONPATH=src:bench python bench/bench_audit_verify.py --json verify.json

`verify_audit` re-computes the chain, checks every row of the decisions, accounts, blacklist
and deadlines tables, and every evidence event, against the chained records that wrote them
(`audit_crosscheck`: one pass over the trail into a dict per table, one pass over each table,
the evidence events read by id), and runs SQLite's
`quick_check` (damage the other queries would not read). All must stay linear in the db's
size. The workload is `generate_events` with a benign share of 0.5 (default), so that there
are thousands of decisions, as on a busy db.

One process, one workload. The events run into a fresh SQLite file (`Engine.run`, not timed
for the comparison, reported). Then, for `--repeat` rounds, the order of the variants rotating
from one round to the next, each opens the file and times one pass:

- **chain**: `chain.verify` over the trail alone (re-hashing every record): the baseline;
- **chain + cross-check**: the same, with the tables checked against it (`CrossCheck`);
- **verify_audit**: the library's `verify_audit()`, `quick_check` included.

Every variant must find the trail intact. The same is measured on a db of the first half of
the events (built in the same run), to show how each variant grows with the db.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, TextIO

from bench_appeal import KEY
from bench_core import emit, machine
from bench_history import code_version

from blacklist_rules import Engine, SQLiteStore, iter_jsonl
from blacklist_rules.model.chain import FIELDS, verify
from blacklist_rules.stores.audit_crosscheck import (
    DEADLINE_COLUMNS,
    DECISION_COLUMNS,
    ENTRY_COLUMNS,
    CrossCheck,
)
from blacklist_rules.stores.sqlite.audit import EVIDENCE_ROWS
from blacklist_rules.testing import generate_events

CHAIN, CROSS, FULL = "chain", "chain + cross-check", "verify_audit"
VARIANTS = (CHAIN, CROSS, FULL)


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


def _walk(db: Path, cross: bool) -> bool:
    """The chain (and, with `cross`, the tables' cross-check) as `verify_audit` runs them,
    on a read-only connection of the store: whether all is intact."""
    store = SQLiteStore(db, read_only=True)
    try:
        connection = store.connection  # (the bench reads the store's own tables)
        check = CrossCheck()
        rows = connection.execute(
            f"SELECT seq, {', '.join(FIELDS)}, prev_hash, hash FROM audit ORDER BY seq"
        )
        walked = ((row[0], row[1 : 1 + len(FIELDS)], row[-2], row[-1]) for row in rows)
        verdict = verify(
            (check.see(row) for row in walked) if cross else walked,
            store.meta("audit_head"),
            store.meta("audit_checkpoint"),
        )
        if not cross or not verdict.ok:
            return verdict.ok
        found = check.compare(
            connection.execute(f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions"),
            connection.execute("SELECT account_id, status FROM accounts"),
            connection.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM blacklist"),
            connection.execute(f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines"),
            connection.execute(EVIDENCE_ROWS, (json.dumps(check.evidence_ids()),)),
        )
        return found == 0
    finally:
        store.close()


def _run(db: Path, name: str) -> tuple[float, bool]:
    started = time.perf_counter()
    if name == FULL:
        store = SQLiteStore(db, read_only=True)
        try:
            ok = store.verify_audit().ok
        finally:
            store.close()
    else:
        ok = _walk(db, name == CROSS)
    return time.perf_counter() - started, ok


def _build(lines: list[str], db: Path) -> dict[str, Any]:
    """The events into a fresh db; sizes of the trail and of the tables checked."""
    started = time.perf_counter()
    with Engine.from_path(db=db) as engine:
        for _ in engine.run(iter_jsonl(lines)):
            pass
    build_s = time.perf_counter() - started
    with closing(SQLiteStore(db, read_only=True)) as store:
        records, decisions, accounts, entries = store.connection.execute(
            "SELECT (SELECT count(*) FROM audit), (SELECT count(*) FROM decisions), "
            "(SELECT count(*) FROM accounts), (SELECT count(*) FROM blacklist)"
        ).fetchone()
    return {
        "events": len(lines),
        "build_s": round(build_s, 2),
        "audit_records": int(records),
        "decisions": int(decisions),
        "accounts": int(accounts),
        "blacklist_entries": int(entries),
        "path": db,
    }


def _measure(built: dict[str, Any], repeat: int) -> dict[str, Any]:
    path = built.pop("path")
    timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_ in range(repeat):
        shift = round_ % len(VARIANTS)
        for name in VARIANTS[shift:] + VARIANTS[:shift]:
            _progress(f"  round {round_ + 1}: {name} ...")
            seconds, ok = _run(path, name)
            if not ok:
                raise SystemExit(f"{name} found the trail of {path} broken")
            timings[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        **built,
        "seconds": {
            name: {"median": round(medians[name], 4), "rounds": [round(s, 4) for s in values]}
            for name, values in timings.items()
        },
        "ratio_to_chain": {name: round(medians[name] / medians[CHAIN], 2) for name in VARIANTS},
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
            f"{size['audit_records']:,} audit records, {size['decisions']:,} decisions, "
            f"{size['accounts']:,} accounts, {size['blacklist_entries']:,} blacklist entries"
        )
        say(f"  {'variant':<21}{'median s':>10}  {'rounds (s)':<30}median / chain")
        for name in VARIANTS:
            row = size["seconds"][name]
            rounds = " / ".join(f"{s:.3f}" for s in row["rounds"])
            ratio = size["ratio_to_chain"][name]
            say(f"  {name:<21}{row['median']:>10.3f}  {rounds:<30}{ratio:.2f}")
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
