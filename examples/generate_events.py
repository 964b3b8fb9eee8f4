"""Write the example event stream: seeded synthetic traffic, one JSON event a line.

    PYTHONPATH=src python examples/generate_events.py
    PYTHONPATH=src python examples/generate_events.py --events 100000 --accounts 10000 --out x.jsonl

With many events per account the dates run past today's (30,000 events of 500 accounts reach
2027-05): run those with ``blacklist-rules run x.jsonl --max-lead 36500d``, or ``run``
rejects the events more than a day ahead of the wall clock.

The defaults reproduce the committed ``examples/events.jsonl``; ``tests/test_synthetic.py``
regenerates it and compares bytes, so a change to the generator must come with the new file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blacklist_rules.testing import generate_events, write_jsonl

DEFAULT_OUT = Path(__file__).resolve().parent / "events.jsonl"


def main(argv: list[str] | None = None) -> int:
    """Generate the events and write them; 0 on success, 2 (argparse) on bad arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1200, help="events to write (1200)")
    parser.add_argument("--accounts", type=int, default=150, help="accounts (150)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSONL file (overwritten)")
    args = parser.parse_args(argv)
    try:
        events = generate_events(args.events, n_accounts=args.accounts, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2 and the usage line
    count = write_jsonl(events, args.out)
    print(f"wrote {count} events to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
