"""`schema`: the JSON Schema of rule files."""

from __future__ import annotations

import argparse
import json

from blacklist_rules import rule_json_schema

from ._common import Commands


def add_parser(commands: Commands) -> None:
    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of rule files",
        description="Prints the JSON Schema rule files follow, for editors that check YAML "
        "against one (rules/rule.schema.json is a copy).",
    )
    schema.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    print(json.dumps(rule_json_schema(), indent=2, ensure_ascii=False))
    return 0
