"""`check [IDENTITIES.jsonl]`: pre-registration checks against the blacklist."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from blacklist_rules import Engine, EventError, parse_time

from ._common import KEY_HELP, Commands, db_option, print_json, reader, rules_option


def add_parser(commands: Commands) -> None:
    check = commands.add_parser(
        "check",
        help="pre-registration check: is this ID number or phone blacklisted?",
        description='Read identities ({"id_number": …, "phone": …}), one JSON object '
        "a line, from a file or - (stdin); print one answer a line. Exit 1 when any is "
        "blacklisted, else 2 when a line was malformed, else 0.",
        epilog=KEY_HELP,
    )
    check.add_argument(
        "identities",
        nargs="?",
        default="-",
        metavar="IDENTITIES.jsonl",
        help="the identities to check, or - for stdin (default: -)",
    )
    db_option(check)
    check.add_argument("--at", metavar="TIME", help="in force at TIME (default: the db's clock)")
    rules_option(check)
    check.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Pre-registration checks: one identity (a JSON object) a line, one answer a line. The
    values come on a file or stdin, never as arguments (shell history, process lists)."""
    at = parse_time(args.at) if args.at is not None else None
    found = errors = 0
    if args.identities != "-" and not Path(args.identities).is_file():
        print(f"error: no such file: {args.identities}", file=sys.stderr)
        return 2
    with reader(args) as engine:
        for number, line in enumerate(_lines(args.identities), start=1):
            if not line.strip():
                continue
            answer = _answer(engine, args.identities, number, line, at)
            if answer is None:
                errors += 1
            else:
                found += answer
    return 1 if found else 2 if errors else 0


def _answer(engine: Engine, where: str, number: int, line: str, at: datetime | None) -> bool | None:
    """One line's answer printed: whether it is blacklisted, None when the line is malformed."""
    try:
        identity = json.loads(line)
        if not isinstance(identity, dict):
            raise EventError("an identity must be a JSON object")
        entry = engine.blacklist_match(identity, at=at)
    except (json.JSONDecodeError, EventError) as exc:
        reason = "malformed JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
        print(f"{where}:{number}: {reason}", file=sys.stderr)
        print_json({"line": number, "error": reason}, sys.stdout)
        return None
    print_json(
        {
            "line": number,
            "blacklisted": entry is not None,
            "entry": entry.to_dict() if entry is not None else None,
        },
        sys.stdout,
    )
    return entry is not None


def _lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from sys.stdin
        return
    with open(path, encoding="utf-8") as handle:
        yield from handle
