"""`validate [RULES]`: load and check rule files, then list what they do."""

from __future__ import annotations

import argparse
from datetime import timedelta

from ._common import Commands


def add_parser(commands: Commands) -> None:
    validate = commands.add_parser(
        "validate",
        help="load and check rule files",
        description="Loads and checks every rule file of RULES and its notice templates, then "
        "lists what each rule does (event types, window or deadline, action, mode) and the "
        "pack's digest. Any error: every one printed as file:line: code: message (hint), "
        "exit 1, and the pack does not load.",
    )
    validate.add_argument(
        "rules",
        nargs="?",
        default=None,
        metavar="RULES",
        help="the rule folder (default: the packaged default pack)",
    )
    validate.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from blacklist_rules import default_rules_path, load_ruleset  # (`--help` needs neither)

    ruleset = load_ruleset(args.rules)
    where = args.rules or default_rules_path()
    print(f"{where}: {len(ruleset.rules)} rules OK, ruleset digest {ruleset.digest}")
    if ruleset.notices is not None:
        languages = ", ".join(sorted(ruleset.notices.languages))
        days = ruleset.notices.appeal_within / timedelta(days=1)
        print(f"  notices in {languages}, appeals within {days:g} days")
    for event_type, fields in sorted(ruleset.declared.by_type.items()):
        print(f"  declared on {event_type}: {', '.join(sorted(fields))}")
    for rule in ruleset.rules:
        when = f"on {', '.join(rule.event_types)}"
        if rule.prior is not None:
            when += f", after {rule.prior.count} {rule.prior.label}"
        if rule.window is not None:
            when += f", {rule.window.count} {rule.window.label}"
        if rule.deadline is not None:
            when = rule.deadline.label
        print(f"  {rule.id} v{rule.version}  {when}  → {rule.action} ({rule.mode})")
    return 0
