"""Whether an appeal or a lift costs the same at any size of the db (issue 19, flat cost).

    PYTHONPATH=src python bench/bench_flat.py                            # 10k and 100k events
    PYTHONPATH=src python bench/bench_flat.py --sizes 10000 100000 1000000 --appeals 10

For each size, the synthetic workload (`--per-account` events an account, benign share 0.9)
runs into a SQLite file; then, on a copy of it, `--appeals` enforced automatic decisions are
reversed one at a time, alternately by an overturned appeal (`appeal_outcome`) and a
reviewer's lift (`review_decision`, `lift`), each timed alone. Then the same on another copy
after a history purge (`purge_history` at the middle of the workload's time), where the
cascade seeds its scratch world from the db at the cut. Printed: median and worst per size
and the ratio of each size's median to the smallest's (near 1: flat).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_appeal import KEY, _event, appealable, overturn

from blacklist_rules import Engine, iter_jsonl
from blacklist_rules.testing import generate_events

START = datetime(2026, 1, 1, tzinfo=UTC)
"""Where `generate_events` starts by default."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_flat.py", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--per-account", type=int, default=10, help="events an account")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--appeals", type=int, default=20, help="reversals timed at each size")
    parser.add_argument("--no-purged", action="store_true", help="skip the purged-db variant")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, no table")
    parser.add_argument("--tmpdir", type=Path, default=None)
    return parser


def _lift(record: dict[str, Any], clock: datetime, index: int) -> dict[str, Any]:
    """A reviewer's lift of the decision, `index + 1` seconds after `clock`."""
    at = clock + timedelta(seconds=index + 1)
    fields = {"reviewer_id": "bench", "action": "lift", "reason": "bench lift"}
    fields["decision_id"] = record["decision_id"]
    return _event("review_decision", record["account_id"], at, f"bench-lift-{index}", **fields)


def _reversals(db: Path, chosen: list[dict[str, Any]], purge: bool) -> list[float]:
    """Open the db, purge its history first if asked, then time each reversal alone."""
    with Engine.from_path(db=db, max_lead=None) as engine:
        clock = engine.clock
        assert clock is not None
        if purge:
            engine.store.purge_history(START + (clock - START) / 2)  # (capped by the retention)
            assert engine.store.history_cut_us is not None
        timings = []
        for index, record in enumerate(chosen):
            item = (overturn if index % 2 == 0 else _lift)(record, clock, index)
            started = time.perf_counter()
            outcome = engine.process(item)
            timings.append(time.perf_counter() - started)
            assert outcome.rejection is None, outcome.rejection
    return timings


def one_size(events: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Build the db of `events` events, then time the reversals on fresh copies of it."""
    generated = list(
        generate_events(
            events, n_accounts=max(events // args.per_account, 1), seed=args.seed, benign_share=0.9
        )
    )
    payloads = {e["event_id"]: e for e in generated}
    built = tmp / f"built-{events}.db"
    started = time.perf_counter()
    with Engine.from_path(db=built, max_lead=None) as engine:
        for _ in engine.run(iter_jsonl(json.dumps(e) for e in generated)):
            pass
        chosen = appealable(engine, payloads)[: args.appeals]
    build_s = time.perf_counter() - started
    del generated, payloads
    found: dict[str, Any] = {"events": events, "build_s": round(build_s, 1)}
    for variant, purge in (("plain", False), ("purged", True)):
        if purge and args.no_purged:
            continue
        copy = tmp / f"{variant}-{events}.db"
        shutil.copy(built, copy)
        timings = _reversals(copy, chosen, purge)
        copy.unlink()
        found[variant] = {
            "reversals": len(timings),
            "median_ms": round(statistics.median(timings) * 1000, 2),
            "max_ms": round(max(timings) * 1000, 2),
        }
    built.unlink()
    print(f"{events:,} events: {found}", file=sys.stderr, flush=True)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ["BLACKLIST_RULES_IDENTITY_KEY"] = KEY
    with tempfile.TemporaryDirectory(prefix="bench-flat-", dir=args.tmpdir) as tmp:
        sizes = [one_size(n, args, Path(tmp)) for n in args.sizes]
    if args.json:
        json.dump({"per_account": args.per_account, "sizes": sizes}, sys.stdout, indent=2)
        print()
        return 0
    print(f"appeals and lifts, alternately; {args.per_account} events an account")
    print(f"{'events':>10} {'build s':>8}  {'variant':8} {'median ms':>10} {'worst ms':>9} ratio")
    for variant in ("plain", "purged"):
        base = sizes[0].get(variant)
        for size in sizes:
            row = size.get(variant)
            if row is None or base is None:
                continue
            ratio = row["median_ms"] / base["median_ms"]
            print(
                f"{size['events']:>10,} {size['build_s']:>8.1f}  {variant:8} "
                f"{row['median_ms']:>10.2f} {row['max_ms']:>9.2f} {ratio:>6.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
