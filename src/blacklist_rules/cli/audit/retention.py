"""`audit retention [--set PERIOD]`: how long audit records are kept (at least 180 days)."""

from __future__ import annotations

import argparse

from blacklist_rules.cli._common import Commands, _period

from ._trail import db_argument, open_trail


def add_parser(actions: Commands) -> None:
    retention = actions.add_parser(
        "retention",
        help="show or set how long audit records are kept (at least 180 days)",
        description="Shows the retention of audit records; `--set 400d` configures it (whole "
        "days, never under 180, the legal floor for logs). The change is an audit record.",
    )
    retention.add_argument("--set", type=_period, metavar="PERIOD", help="e.g. 365d or 52w")
    db_argument(retention, handle)


def handle(args: argparse.Namespace) -> int:
    store = open_trail(args, read_only=args.set is None)
    try:
        if args.set is not None:
            store.set_retention(args.set)
        default = " (the default, the legal floor for logs; none is configured)"
        print(
            f"audit records are kept {store.retention().days} days"
            + (default if store.retention_is_default() else "")
        )
    finally:
        store.close()
    return 0
