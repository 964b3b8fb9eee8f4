"""`audit head`: the head of a trail that verifies, `COUNT:HASH`, to publish elsewhere."""

from __future__ import annotations

import argparse
import sys

from blacklist_rules.cli._common import Commands, print_json, shown

from ._trail import db_argument, does_not_verify, open_trail


def add_parser(actions: Commands) -> None:
    head = actions.add_parser(
        "head",
        help="the head of a trail that verifies, COUNT:HASH, to keep elsewhere",
        description="Verifies the trail, then prints its head, COUNT:HASH (how many records, "
        "purged ones counted, and the last one's hash), on one line: publish it somewhere the "
        "db's owner cannot rewrite, and give it to `audit verify --expect-head` later. Exit 1 "
        "when the trail does not verify or holds no chained record yet.",
    )
    head.add_argument(
        "--json", action="store_true", help="head, count, hash and recorded_at as one JSON line"
    )
    db_argument(head, handle)


def handle(args: argparse.Namespace) -> int:
    """The head to publish, from a trail that verifies (publishing the head of a changed
    trail would vouch for the change)."""
    store = open_trail(args)
    try:
        verdict = store.verify_audit()
    finally:
        store.close()
    if not verdict.ok:
        return does_not_verify(args.db, verdict, "no head to publish")
    head = verdict.current
    if head is None:
        print(
            f"error: the audit trail of {shown(args.db)} holds no chained record yet: no head to "
            "publish",
            file=sys.stderr,
        )
        return 1
    if args.json:
        fields = {"count": head.count, "hash": head.hash, "recorded_at": head.recorded_at}
        print_json({"head": str(head), **fields}, sys.stdout)
    else:
        print(head)
    return 0
