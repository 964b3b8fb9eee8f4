"""Write the benchmark workload: seeded synthetic traffic as one JSON event a line.

    PYTHONPATH=src python bench/workload.py bench-events.jsonl
    PYTHONPATH=src python bench/workload.py out.jsonl --events 20000 --accounts 2000 --seed 7

A thin wrapper around `blacklist_rules.testing.generate_events`: the same arguments always
give the same file, so figures measured on it can be reproduced.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from blacklist_rules.testing import generate_events, write_jsonl

DEFAULT_EVENTS = 200_000
DEFAULT_ACCOUNTS = 20_000
DEFAULT_SEED = 1
DEFAULT_BENIGN_SHARE = 0.95


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workload.py",
        description="Write a seeded synthetic workload (JSONL) for the benchmarks.",
    )
    parser.add_argument("output", type=Path, help="JSONL file to write (overwritten)")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events to generate")
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS, help="distinct accounts")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--benign-share",
        type=float,
        default=DEFAULT_BENIGN_SHARE,
        help="share of accounts with benign traffic only (default %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        events = generate_events(
            args.events,
            n_accounts=args.accounts,
            seed=args.seed,
            benign_share=args.benign_share,
        )
    except ValueError as exc:
        print(f"workload.py: {exc}", file=sys.stderr)
        return 2
    count = write_jsonl(events, args.output)
    print(
        f"wrote {count} events ({args.accounts} accounts, seed {args.seed}, "
        f"benign share {args.benign_share}) to {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
