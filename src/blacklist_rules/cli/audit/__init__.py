"""`audit ACTION`: the audit trail; one module per action, in the order `audit --help` lists
them."""

from __future__ import annotations

from blacklist_rules.cli._common import Commands

from . import export, head, purge, retention, show, verify


def add_parser(commands: Commands) -> None:
    audit = commands.add_parser(
        "audit",
        help="read the audit trail",
        description="The audit trail of a db: every decision and status change, hash-chained. "
        "Each action takes the db as --db PATH (default: blacklist-rules.db).",
    )
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    for action in (show, verify, head, purge, retention, export):
        action.add_parser(actions)
