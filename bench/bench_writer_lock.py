"""What the single-writer lock costs a writable open, beside the same open without it.

    PYTHONPATH=src python bench/bench_writer_lock.py                  # ~10 s
    PYTHONPATH=src python bench/bench_writer_lock.py --opens 2000 --rounds 5

A store opened for writing takes the db's writer lock (`writer_lock`: filelock's `flock` on
`<db>.lock`, the holder's pid written in it) and lets it go on close; a read-only open takes
none. One process, one db of the example events (made once, not timed). For `--rounds`
rounds, the order rotating each round, each variant opens and closes the db `--opens` times:

- **read-only store**: `SQLiteStore(db, read_only=True)`: no lock, the baseline;
- **writable store**: `SQLiteStore(db)`: the lock, and SQLite's writable open (WAL pragmas,
  the schema check): the whole cost a writer pays once per open;
- **lock alone**: `WriterLock.take` and `release`, no db: the lock's share of it.

The median per open of each variant, and its ratio to the baseline. A `run` opens its db once,
so this is paid once per command, not per event.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from blacklist_rules import Engine, SQLiteStore, iter_jsonl
from blacklist_rules.stores.sqlite.writer_lock import WriterLock

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "events.jsonl"


def _lock_alone(db: Path) -> None:
    lock = WriterLock.take(str(db), 5.0)
    if lock is not None:
        lock.release()


def _per_open(variant: Callable[[], None], opens: int) -> float:
    started = time.perf_counter()
    for _ in range(opens):
        variant()
    return (time.perf_counter() - started) / opens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        with Engine.from_path(db=db, create_key=True) as engine:
            for _ in engine.run(iter_jsonl(EXAMPLES)):
                pass
        variants: dict[str, Callable[[], None]] = {
            "read-only store": lambda: SQLiteStore(db, read_only=True).close(),
            "writable store": lambda: SQLiteStore(db).close(),
            "lock alone": lambda: _lock_alone(db),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                times[name].append(_per_open(variants[name], args.opens))
    baseline = statistics.median(times["read-only store"])
    print(f"{args.opens} opens x {args.rounds} rounds, median per open:")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"  {name:<16} {median * 1e6:8.0f} µs  {median / baseline:5.2f} x read-only")


if __name__ == "__main__":
    main()
