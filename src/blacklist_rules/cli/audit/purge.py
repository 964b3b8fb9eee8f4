"""`audit purge [--before TIME]`: remove audit records and settle the event history older
than the retention."""

from __future__ import annotations

import argparse

from blacklist_rules import HistoryPurge, load_ruleset, parse_time
from blacklist_rules.cli._common import Commands

from ._trail import db_argument, does_not_verify, open_trail


def add_parser(actions: Commands) -> None:
    purge = actions.add_parser(
        "purge",
        help="remove audit records and event history older than the retention",
        description="Removes the audit records logged before TIME (default: the configured "
        "retention ago; a prefix of the trail) and leaves a checkpoint so `audit verify` still "
        "passes. The event history is settled before TIME, or before the retention behind the "
        "latest event if that is earlier: events from before the cut are refused from then "
        "on, and the reversal cascade re-evaluates nothing decided before it; events older "
        "than the cut minus the longest window are removed, but for the evidence of decisions "
        "and reviewers' and appeals' events (kept whole) and registrations and verifications "
        "(the verified identity: their declared fields). Refused "
        "for anything younger than the retention (`audit retention`, at least 180 days, the "
        "legal floor for logs), or when the trail does not verify.",
    )
    purge.add_argument(
        "--before",
        metavar="TIME",
        help="remove what was logged before TIME, RFC 3339 (default: the retention ago)",
    )
    purge.add_argument(
        "--rules",
        help="the pack this db runs (default: the packaged one): how far back its windows "
        "reach, if the db does not say",
    )
    db_argument(purge, handle)


def handle(args: argparse.Namespace) -> int:
    store = open_trail(args, read_only=False)
    try:
        before = parse_time(args.before) if args.before else None
        verdict = store.verify_audit()  # here, not in purge_audit: it sets the exit code
        if not verdict.ok:
            return does_not_verify(args.db, verdict, "nothing purged")
        cut = args.before or f"the {store.retention().days}-day retention"
        removed, kept = store.purge_audit(before, verify=False)
        store.note_horizon(load_ruleset(args.rules).horizon_us)  # (if the db does not say)
        history = store.purge_history(before)
    finally:
        store.close()
    if removed:
        print(
            f"removed {removed} audit records logged before {cut}; the trail now "
            f"starts at #{kept}, and `audit verify` checks it from the checkpoint"
        )
    else:
        print(f"no audit record was logged before {cut}")
    print(_history_purged(history))
    return 0


def _history_purged(done: HistoryPurge) -> str:
    cut = done.cut.isoformat(timespec="seconds")
    if done.kept_from is None:
        return f"event history: settled before {cut} already, nothing more to purge"
    kept = done.kept_from.isoformat(timespec="seconds")
    return (
        f"event history: settled before {cut}\n"
        "  events from before it are refused; the cascade re-evaluates nothing decided before it\n"
        f"  removed {done.removed} events from before {kept} (out of every window's reach)\n"
        f"  reduced {done.reduced} registrations and verifications (kept for the verified "
        "identity) to their declared fields"
    )
