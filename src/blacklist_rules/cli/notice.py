"""`notice DECISION_ID`: the text a user is shown about a decision."""

from __future__ import annotations

import argparse
import sys

from blacklist_rules import render_notice

from ._common import Commands, db_option, open_store, print_json, unknown


def add_parser(commands: Commands) -> None:
    notice = commands.add_parser(
        "notice",
        help="the text a user is shown about a decision, in Chinese or English",
        description="What was decided, its basis, what was found in plain words and how to "
        "appeal, from the templates of the pack that decided (kept in the db). A reversed "
        "decision gets a notice that says so; a shadow decision gets none (exit 2); a "
        "decision the db does not hold, exit 6.",
    )
    notice.add_argument("decision", metavar="DECISION_ID", help="the decision the notice is about")
    notice.add_argument("--lang", default="zh", help="a language of the pack (default: zh)")
    notice.add_argument(
        "--tz", default="UTC", metavar="ZONE", help="time zone of the times shown (default: UTC)"
    )
    db_option(notice, key=False)
    notice.add_argument("--json", action="store_true", help="the notice and its fields as JSON")
    notice.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """A decision's notice, from the db alone: the pack that decided is kept there."""
    store = open_store(args, read_only=True)
    try:
        if store.decision(args.decision) is None:
            return unknown(args.db, f"decision {args.decision}")
        notice = render_notice(store, args.decision, lang=args.lang, tz=args.tz)
    finally:
        store.close()
    if args.json:
        print_json(notice.to_dict(), sys.stdout)
    else:
        sys.stdout.write(notice.text)
    return 0
