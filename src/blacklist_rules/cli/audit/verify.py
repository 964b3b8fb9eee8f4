"""`audit verify`: re-compute the chain; name the first record changed, removed or
reordered."""

from __future__ import annotations

import argparse
import sys

from blacklist_rules.cli._common import Commands, _head

from ._trail import db_argument, open_trail


def add_parser(actions: Commands) -> None:
    verify = actions.add_parser(
        "verify",
        help="re-compute the audit chain; name the first record changed or removed",
        description="Re-computes the audit chain and names the first record changed, removed "
        "or reordered (exit 1). With --expect-head COUNT:HASH, a head printed by `audit head` "
        "earlier and kept elsewhere: record COUNT must still carry HASH, which a trail "
        "rewritten whole with recomputed hashes does not (the trail may have grown since; a "
        "record purged since cannot be checked, and fails too).",
    )
    verify.add_argument(
        "--expect-head",
        type=_head,
        metavar="COUNT:HASH",
        help="a head published earlier (`audit head`): the trail must still reach it",
    )
    db_argument(verify, handle)


def handle(args: argparse.Namespace) -> int:
    """Exit 1 with the first break, or when the trail does not reach the published head given
    with `--expect-head`."""
    store = open_trail(args)
    try:
        verdict = store.verify_audit(args.expect_head)
    finally:
        store.close()
    print(verdict, file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1
