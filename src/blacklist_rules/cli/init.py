"""`init DIR`: a copy of the default pack, its test cases and a README, to start from."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import Commands


def add_parser(commands: Commands) -> None:
    init = commands.add_parser(
        "init",
        help="write a copy of the default pack and its test cases into a folder",
        description="Writes DIR/rules (the default rule pack, notices included), DIR/cases (its "
        "test cases) and DIR/README.md, so that `validate`, `test` and `diff` work on a pack "
        "of your own: `blacklist-rules test DIR/rules DIR/cases`. A folder that holds anything "
        "is refused (exit 2) unless --force.",
    )
    init.add_argument("folder", type=Path, metavar="DIR", help="where to write (made if missing)")
    init.add_argument(
        "--force",
        action="store_true",
        help="write into a folder that is not empty, overwriting files of the same name "
        "(default: refuse)",
    )
    init.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from blacklist_rules import write_starter  # (`--help` needs no engine)

    starter = write_starter(args.folder, force=args.force)
    print(f"wrote {starter.files} files to {starter.folder}:")
    print(f"  {starter.rules}   the rule pack (edit, then bump each changed rule's version)")
    print(f"  {starter.cases}   its test cases")
    print(f"  {starter.readme}")
    print(f"next: blacklist-rules test {starter.rules} {starter.cases}")
    return 0
