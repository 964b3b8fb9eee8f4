"""`audit export`: every audit record, or a DSA statement of reasons per enforced decision."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from blacklist_rules import dsa_statements
from blacklist_rules.cli._common import Commands, print_json, shown, write_whole

from ._trail import db_argument, does_not_verify, open_trail


def add_parser(actions: Commands) -> None:
    export = actions.add_parser(
        "export",
        help="every audit record, or a DSA statement of reasons per enforced decision",
        description="jsonl: every audit record, one JSON object a line. dsa: one EU DSA "
        "Transparency Database statement of reasons per enforced decision (ended and reversed "
        "ones included), one JSON object a line. Refused when the audit trail does not verify, "
        "unless --force.",
    )
    export.add_argument(
        "--format",
        choices=["jsonl", "dsa"],
        default="jsonl",
        help="audit records, or DSA statements of reasons (default: %(default)s)",
    )
    export.add_argument(
        "--force", action="store_true", help="export even when the audit trail does not verify"
    )
    export.add_argument(
        "--output", metavar="FILE", help="write to FILE (whole or not at all) instead of stdout"
    )
    db_argument(export, handle)


def handle(args: argparse.Namespace) -> int:
    """Refused when the chain does not verify (what it holds may have been changed), unless
    `--force`; written whole or not at all."""
    store = open_trail(args)
    try:
        verdict = store.verify_audit()
        if not verdict.ok:
            if not args.force:
                return does_not_verify(
                    args.db, verdict, "nothing exported", "--force exports anyway"
                )
            print(
                f"warning: the audit trail of {shown(args.db)} does not verify: {verdict}; "
                "exporting anyway (--force): what follows may have been changed",
                file=sys.stderr,
            )
        if args.format == "dsa":
            lines: Iterator[Any] = iter(dsa_statements(store, verify=False))
        else:
            lines = (record.to_dict() for record in store.audit_records())
        if args.output is None:
            for line in lines:
                print_json(line, sys.stdout)
            return 0
        target = Path(args.output)
        count = write_whole(lines, target)
        what = "statements of reasons" if args.format == "dsa" else "audit records"
        print(f"wrote {count} {what} to {target}", file=sys.stderr)
    finally:
        store.close()
    return 0
