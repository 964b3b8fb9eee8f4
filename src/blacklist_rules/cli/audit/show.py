"""`audit show --account A`: an account's audit records, as text columns or JSON lines."""

from __future__ import annotations

import argparse
import json
import sys

from blacklist_rules.cli._common import Commands, print_json
from blacklist_rules.stores.records import AuditRecord

from ._trail import db_argument, open_trail


def add_parser(actions: Commands) -> None:
    show = actions.add_parser(
        "show",
        help="an account's audit records",
        description="The account's audit records, oldest first: number, time, kind, record.",
    )
    show.add_argument("--account", required=True, metavar="A", help="the account_id (required)")
    show.add_argument("--json", action="store_true", help="JSON lines instead of text")
    db_argument(show, handle)


def handle(args: argparse.Namespace) -> int:
    store = open_trail(args)
    try:
        records = store.audit_records(args.account)
        if args.json:
            for record in records:
                print_json(record.to_dict(), sys.stdout)
        else:
            _show_records(list(records))
    finally:
        store.close()
    return 0


def _show_records(records: list[AuditRecord]) -> None:
    """A record a line, its number, time and kind in columns as wide as the widest shown (a
    kind the code adds later aligns too), then the record."""
    rows = [
        (
            f"#{record.seq}",
            record.occurred_at or "-",
            record.kind,
            json.dumps(record.record, ensure_ascii=False, default=str),
        )
        for record in records
    ]
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(3)]
    widths.append(0)  # the record itself, as it is
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
