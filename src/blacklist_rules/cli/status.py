"""`status ACCOUNT`: an account's status and the decisions, deadlines and listings behind it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from blacklist_rules import BlacklistEntry, Decision, Engine
from blacklist_rules.model.decisions import ScheduledDeadline
from blacklist_rules.model.events import EVENT_TYPES, from_micros
from blacklist_rules.stores.lists import on_lists
from blacklist_rules.stores.records import holder_words

from ._common import KEY_HELP, Commands, db_option, print_json, reader, rules_option, unknown


def add_parser(commands: Commands) -> None:
    status = commands.add_parser(
        "status",
        help="an account's status and the decisions behind it",
        description="The account's status, the decisions standing behind it, its pending "
        "deadlines, its blacklist entries and the lists it is on. An account the db has no "
        "event or decision of "
        "is not reported `active`: it is named on stderr, exit 6.",
        epilog=KEY_HELP,
    )
    status.add_argument("account", metavar="ACCOUNT", help="the account_id")
    db_option(status)
    rules_option(status)
    status.add_argument("--json", action="store_true", help="one JSON object instead of text")
    status.set_defaults(func=handle)


END_OF_TIME = 2**63 - 1
"""Every change counts: the lists the account is on after its latest one."""


def _known(engine: Engine, account: str) -> bool:
    """Has the db seen the account: an event of it stored, or a decision about it or a list
    change of it (its events may have been purged since)."""
    return bool(
        engine.store.account_events(account, EVENT_TYPES, 1)
        or engine.decisions(account)
        or engine.store.list_changes(account)  # (its list_update events purged)
    )


def handle(args: argparse.Namespace) -> int:
    with reader(args) as engine:
        if not _known(engine, args.account):
            return unknown(args.db, f"event or decision of account {args.account}")
        status = engine.status(args.account)
        standing = engine.standing(args.account)
        pending = [d for d in engine.deadlines(args.account) if d.state == "pending"]
        entries = engine.blacklist_entries(args.account)
        mark = _watermark(engine)
        lists = sorted(on_lists(engine.store.list_changes(args.account), END_OF_TIME))
        if args.json:
            shown: dict[str, Any] = {
                "account_id": args.account,
                "status": status,
                "standing": [d.to_dict() for d in standing],
                "pending_deadlines": [d.to_dict() for d in pending],
                "blacklist_entries": [entry.to_dict() for entry in entries],
                "lists": lists,
            }
            if engine.store.shared:
                shown["watermark"] = mark
            print_json(shown, sys.stdout)
            return 0
        print(f"{args.account}: {status}")
        _show(standing, pending, entries)
        if lists:
            print(f"  on lists: {', '.join(lists)} (`list_update` events, latest in event time)")
        if engine.store.shared:
            held = f"{mark['at']}, held by {holder_words(mark['held_by'])}" if mark else "none"
            print(f"  watermark: {held}")
    return 0


def _watermark(engine: Engine) -> dict[str, str] | None:
    """A shared db's low watermark and who holds it (None: no worker running): other
    accounts' deadlines fire and freezes end only up to it."""
    mark = engine.watermark
    if mark is None:
        return None
    return {"at": from_micros(mark.at_us).isoformat(), "held_by": mark.held_by}


def _show(
    standing: list[Decision], pending: list[ScheduledDeadline], entries: list[BlacklistEntry]
) -> None:
    for decision in standing:
        ends = [f"at {decision.expires_at.isoformat()}"] if decision.expires_at else []
        if decision.end_condition == "verification_passed":
            ends.append("when a verification passes")
        until = f" (ends {' or '.join(ends)})" if ends else ""
        print(
            f"  {decision.decision_id}  {decision.action}{until}  by {decision.rule_id} "
            f"v{decision.rule_version}  ({decision.reason})  evidence: "
            f"{', '.join(decision.evidence)}"
        )
    for deadline in pending:
        print(
            f"  deadline {deadline.rule_id} due {deadline.due_at.isoformat()} "
            f"(counted from {deadline.anchor})"
        )
    for entry in entries:
        until = f" until {entry.ends_at.isoformat()}" if entry.ends_at else ""
        print(
            f"  on the blacklist: its {entry.kind} (fingerprint "
            f"{entry.fingerprint[:12]}…) by {entry.decision_id}{until}"
        )
