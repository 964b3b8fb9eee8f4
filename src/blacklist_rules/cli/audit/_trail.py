"""What the `audit` actions share: opening the trail, and refusing when it does not verify."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from blacklist_rules import BlacklistRulesError, SQLiteStore
from blacklist_rules.cli._common import DB_HELP, DEFAULT_DB, Exit, Handler, existing_db, shown
from blacklist_rules.stores.factory import open_store
from blacklist_rules.stores.protocols import Store


def db_argument(action: argparse.ArgumentParser, handler: Handler) -> None:
    """The db, `--db PATH` as in every other command, and the handler that runs with it. The
    positional PATH of earlier versions still works (deprecated in `--help`, silently: scripts
    that parse stderr keep working)."""
    action.add_argument(
        "--db", default=None, metavar="DB", help=f"the db, {DB_HELP} (default: {DEFAULT_DB})"
    )
    action.add_argument(
        "path", nargs="?", default=None, metavar="PATH", help="deprecated, the same as --db PATH"
    )
    action.set_defaults(func=_with_db(handler))


def _with_db(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Settle `args.db` from `--db` or the deprecated positional PATH before the handler runs."""

    def run(args: argparse.Namespace) -> int:
        if args.path is not None and args.db is not None and args.db != args.path:
            print(
                f"error: two dbs named: --db {shown(args.db)} and {shown(args.path)}",
                file=sys.stderr,
            )
            return Exit.USAGE
        args.db = args.db or args.path or DEFAULT_DB
        return handler(args)

    return run


def open_trail(args: argparse.Namespace, *, read_only: bool = True) -> Store:
    """The store an `audit` action reads: an existing blacklist-rules db. Any other file (an
    empty one included) is refused as it is, never given a schema and found "intact"; a
    PostgreSQL db without the store's schema is refused by the store when opened read-only."""
    db = existing_db(args.db)
    if isinstance(db, Path) and SQLiteStore.schema_of(db) is None:
        raise BlacklistRulesError(f"{db} is not a blacklist-rules db (it has no store schema)")
    return open_store(db, read_only=read_only, busy_timeout=args.busy_timeout)


def does_not_verify(db: str, verdict: object, outcome: str, *hints: str) -> int:
    """An action refused because the audit trail does not verify: a check failed, exit 1 (as
    `audit verify` exits)."""
    hint = "; ".join(("audit verify shows the break", *hints))
    print(
        f"error: the audit trail of {shown(db)} does not verify: {verdict}; {outcome} ({hint})",
        file=sys.stderr,
    )
    return 1
