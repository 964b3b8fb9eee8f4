"""Write the benchmark workload: seeded synthetic traffic as one JSON event a line.

    PYTHONPATH=src python bench/workload.py bench-events.jsonl
    PYTHONPATH=src python bench/workload.py out.jsonl --events 20000 --accounts 2000 --seed 7
    PYTHONPATH=src python bench/workload.py out.jsonl --mix registration-heavy --events 20000

A thin wrapper around `blacklist_rules.testing.generate_events` (and, with `--mix
registration-heavy`, issue 19's mix): the same arguments always give the same file, so
figures measured on it can be reproduced.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from blacklist_rules.testing import generate_events, write_jsonl

DEFAULT_EVENTS = 200_000
DEFAULT_ACCOUNTS = 20_000
DEFAULT_SEED = 1
DEFAULT_BENIGN_SHARE = 0.95
MIXES = ("default", "registration-heavy")

# The registration-heavy mix (issue 19): shares of registrations (each a new account with an ID
# number), verifications, impersonation reports and rumour flags, in that order.
_REG_HEAVY = (("registration", 0.40), ("identity_verification", 0.20),
              ("impersonation_report", 0.15), ("rumor_flag", 0.25))  # fmt: skip
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_VERDICTS = ("not_rumor", "rumor", "malicious_rumor")
_SOURCES = ("user_report", "user_report", "fact_check", "authority_notice")


def _id_number(index: int) -> str:
    """A GB 11643 ID number unique per index, with a valid check character."""
    birth = date(1970, 1, 1) + timedelta(days=index // 1000 % 15000)
    first17 = f"110101{birth:%Y%m%d}{index % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def registration_heavy(
    n_events: int,
    seed: int = 1,
    *,
    registered: int = 0,
    first: int = 0,
    only_registrations: bool = False,
) -> Iterator[dict[str, Any]]:
    """The issue-19 mix: 40 % registrations with ID numbers, 20 % verifications, 15 %
    impersonation reports, 25 % rumour flags; the other events concern accounts registered
    earlier, one second apart, seeded. To go on from an earlier stream (`bench_scale.py`):
    `registered` accounts exist already, the first event is the `first`th (its id and
    second); `only_registrations` makes every event a registration."""
    rng = random.Random(seed + first)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    types = [name for name, _ in _REG_HEAVY]
    weights = [share for _, share in _REG_HEAVY]
    for n in range(first, first + n_events):
        kind = "registration"
        if registered and not only_registrations:
            kind = rng.choices(types, weights)[0]
        account = registered if kind == "registration" else rng.randrange(registered)
        event: dict[str, Any] = {
            "event_id": f"ev-{n:09d}",
            "type": kind,
            "account_id": f"acct-{account:07d}",
            "occurred_at": (start + timedelta(seconds=n)).isoformat(),
        }
        if kind == "registration":
            event["identity"] = {
                "id_number": _id_number(registered),
                "name": f"name-{registered}",
                "phone": f"138{registered:08d}",
            }
            registered += 1
        elif kind == "identity_verification":
            event["status"] = "failed" if rng.random() < 0.1 else "passed"
        elif kind == "impersonation_report":
            event["reporter_id"] = f"acct-{rng.randrange(registered):07d}"
            event["impersonated_name"] = "someone"
            event["confirmed"] = rng.random() < 0.02
        else:
            event["content_id"] = f"c-{rng.getrandbits(48):012x}"
            event["verdict"] = rng.choice(_VERDICTS)
            event["source"] = rng.choice(_SOURCES)
            event["reach"] = int(20 * rng.paretovariate(1.5))
        yield event


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
    parser.add_argument(
        "--mix",
        choices=MIXES,
        default="default",
        help="default: testing.generate_events; registration-heavy: the issue-19 mix",
    )
    return parser


def events_of(
    mix: str, n_events: int, n_accounts: int, seed: int, benign_share: float
) -> Iterator[dict[str, Any]]:
    """The events of one mix (the registration-heavy mix makes its own accounts)."""
    if mix == "registration-heavy":
        return registration_heavy(n_events, seed)
    return generate_events(n_events, n_accounts=n_accounts, seed=seed, benign_share=benign_share)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        events = events_of(args.mix, args.events, args.accounts, args.seed, args.benign_share)
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
