"""`schema`: the JSON Schema of rule files."""

from __future__ import annotations

import argparse
import json

from ._common import Commands


def add_parser(commands: Commands) -> None:
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of rule files",
        description="Prints the JSON Schema rule files follow, for editors that check YAML "
        "against one (rules/rule.schema.json is a copy). With --rules DIR, the fields that "
        "pack declares (its fields.yaml) are added, per event type, under "
        "$defs.declared_fields.",
    )
    schema.add_argument(
        "--rules",
        default=None,
        metavar="DIR",
        help="a rule pack whose declared fields (fields.yaml) to include",
    )
    schema.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from blacklist_rules import load_ruleset, rule_json_schema  # (`--help` needs neither)
    from blacklist_rules.pack.fields import event_schema

    schema = rule_json_schema()
    if args.rules is not None:
        declared = event_schema(load_ruleset(args.rules).declared)
        schema["$defs"]["declared_fields"] = {
            "description": "fields the pack declares in its fields.yaml, per event type",
            "type": "object",
            "properties": declared,
        }
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return 0
