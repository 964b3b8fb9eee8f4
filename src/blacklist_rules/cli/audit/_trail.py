"""What the `audit` actions share: opening the trail, and refusing when it does not verify."""

from __future__ import annotations

import argparse
import sys

from blacklist_rules import BlacklistRulesError, SQLiteStore
from blacklist_rules.cli._common import DEFAULT_DB, existing_db


def db_argument(action: argparse.ArgumentParser) -> None:
    """The db, a positional PATH (an `audit` action reads one db, never writes a new one)."""
    action.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="PATH")


def open_trail(args: argparse.Namespace, *, read_only: bool = True) -> SQLiteStore:
    """The store an `audit` action reads: an existing blacklist-rules db. Any other file (an
    empty one included) is refused as it is, never given a schema and found "intact"."""
    db = existing_db(args.db)
    if SQLiteStore.schema_of(db) is None:
        raise BlacklistRulesError(f"{db} is not a blacklist-rules db (it has no store schema)")
    return SQLiteStore(db, read_only=read_only, busy_timeout=args.busy_timeout)


def does_not_verify(db: str, verdict: object, outcome: str, *hints: str) -> int:
    """An action refused because the audit trail does not verify: a check failed, exit 1 (as
    `audit verify` exits)."""
    hint = "; ".join(("audit verify shows the break", *hints))
    print(
        f"error: the audit trail of {db} does not verify: {verdict}; {outcome} ({hint})",
        file=sys.stderr,
    )
    return 1
