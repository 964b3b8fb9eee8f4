"""`explain`: why a decision was taken, or why a rule did not act on an account."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from blacklist_rules import explain_decision, why_not

from ._common import KEY_HELP, Commands, db_option, print_json, reader, rules_option, unknown


def add_parser(commands: Commands) -> None:
    explain = commands.add_parser(
        "explain",
        help="why a decision was taken, or why a rule did not act on an account",
        description="With DECISION_ID: the rule as written when it decided, each condition with "
        "the value it saw, the evidence events. With --account and --rule: for the account's "
        "latest events the rule looks at, the first condition that failed and its value. A "
        "decision the db does not hold: exit 6.",
        epilog=KEY_HELP,
    )
    explain.add_argument(
        "decision", nargs="?", default=None, metavar="DECISION_ID", help="the decision to explain"
    )
    explain.add_argument("--account", metavar="A", help="with --rule: the account")
    explain.add_argument("--rule", metavar="R", help="with --account: the rule's id")
    db_option(explain)
    rules_option(explain)
    explain.add_argument("--json", action="store_true", help="one JSON object instead of text")
    explain.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """A decision explained, or why a rule did not act on an account."""
    if (args.decision is None) == (args.account is None or args.rule is None):
        print("error: give DECISION_ID, or --account and --rule", file=sys.stderr)
        return 2
    with reader(args) as engine:
        if args.decision is not None:
            if engine.store.decision(args.decision) is None:
                return unknown(args.db, f"decision {args.decision}")
            found = explain_decision(engine, args.decision)
            if args.json:
                print_json(found, sys.stdout)
            else:
                _show_decision(found)
            return 0
        answer = why_not(engine, args.account, args.rule)
    if args.json:
        print_json(answer, sys.stdout)
    else:
        _show_why_not(answer)
    return 0


def _show_why_not(answer: dict[str, Any]) -> None:
    print(f"rule {answer['rule_id']} on {answer['account_id']}:")
    for deadline in answer.get("deadlines", ()):
        print(f"  deadline from {deadline['anchor']} due {deadline['due_at']}: {deadline['state']}")
    for seen in answer.get("events", ()):
        head = f"  {seen['event_id']}  {seen['type']}  {seen['occurred_at']}: "
        if "decision_id" in seen:
            print(head + f"the rule decided {seen['decision_id']}")
        elif seen["held"]:
            print(head + "every condition held, no decision (the status was already as high)")
        elif seen["held"] is None:
            print(head + f"unknown: {seen['unknown']}")
        else:
            failed = seen["first_failed"]
            print(head + f"`{failed['condition']}` failed, saw {json.dumps(failed['seen'])}")
        if seen.get("prior", {}).get("decisions"):
            print(f"    prior decisions counted: {', '.join(seen['prior']['decisions'])}")
    if "deadlines" in answer and not answer["deadlines"]:
        print("  no deadline of this rule was ever started for the account")
    if "events" in answer and not answer["events"]:
        print("  no event of the account is of a type this rule looks at")


def _show_decision(found: dict[str, Any]) -> None:
    record, rule = found["decision"], found["rule"] or {}
    print(
        f"decision {record['decision_id']}: {record['action']} of {record['account_id']} "
        f"({record['mode']}), effective {record['effective_at']}, "
        f"{record['status_before']} → {record['status_after']}"
    )
    if found["reversed_by"]:
        print(f"  reversed by {found['reversed_by']}")
    elif found["ended_at"]:
        print(f"  ended at {found['ended_at']}")
    print(
        f"rule {record['rule_id']} v{record['rule_version']} (pack {record['ruleset_digest'][:12]})"
    )
    for key in ("description", "basis"):
        if rule.get(key):
            print(f"  {key}: {rule[key]}")
    print(f"  reason: {record['reason']}")
    if not found["matched"]:  # a reviewer's decision: no rule, no conditions
        print("taken by a person, not by a rule: no conditions (the evidence says who and why)")
    else:
        print("conditions, as the event saw them:")
    for match in found["matched"]:
        print(f"  {match['rule_id']} v{match['rule_version']} ({match['action']}, {match['mode']})")
        for c in match["conditions"]:
            mark = "true" if c["result"] else "false"  # (under a `not`, false is what held)
            print(
                f"    {c['field']} {c['op']} {json.dumps(c['expected'], ensure_ascii=False)}: "
                f"saw {json.dumps(c['seen'], ensure_ascii=False)} ({mark})"
            )
    _show_evidence(found["evidence"])


def _show_evidence(evidence: list[dict[str, Any]]) -> None:
    print("evidence:")
    for item in evidence:
        event = item["event"]
        if event is None:
            print(f"  {item['event_id']} (a decision, see `explain {item['event_id']}`)")
            continue
        fields = {
            k: v
            for k, v in event.items()
            if k not in ("event_id", "type", "account_id", "occurred_at")
        }
        print(
            f"  {item['event_id']}  {event['type']}  {event['occurred_at']}  "
            f"{json.dumps(fields, ensure_ascii=False)}"
        )
