"""The `blacklist-rules` command line; it uses only the public API. One module per command,
each with its `add_parser` and its handler; `_common` holds the shared options and the one
place where errors become exit codes. argparse and tqdm are imported in this package only.

Exit codes (`_common.Exit`; docs/reference/exit-codes.md says which command gives which): 0 success;
1 a check failed (rule or case files rejected, an event rejected with `--strict`, a case
failed, the trail does not verify, an identity blacklisted); 2 usage errors, unreadable inputs
and refusals; 3 a rule evaluation failed (fail closed); 4 the db cannot be used now (locked
past `--busy-timeout`, disk full, read-only, damaged or not a database): nothing of the
interrupted batch was committed, run again once the cause is gone; 5 a gate not met
(`--fail-on-irreversible`, `--min-coverage`); 6 the db knows nothing of what was asked (an
account, a decision); 7 `lint` found something; 8 a rule id and version the db holds with
other text (`run` refuses the pack); 141 stdout was closed.

Verbs that only read (`status`, `check`, `explain`, `notice`, `audit show|verify|export`,
`diff --shadow`) open the db read-only: they never write it, and take no writer lock; the
others hold the db's writer lock while they run (one writer per db: see `writer_lock`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from blacklist_rules import __version__
from blacklist_rules.stores.sqlite.connection import BUSY_TIMEOUT

from . import (
    _logging,
    audit,
    check,
    diff,
    explain,
    init,
    lint,
    notice,
    publish,
    relay,
    run,
    schema,
    status,
    test,
    validate,
    worker,
)
from ._common import _seconds, call

__all__ = ["build_parser", "main"]

# In the order `blacklist-rules --help` lists them.
COMMANDS = (init, validate, lint, run, status, audit, check, test, explain, notice, diff, schema)
COMMANDS_16 = (publish, worker, relay)
"""Issue 16's: events in from a broker, decisions out through the outbox."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blacklist-rules",
        description="Declarative account-moderation rules: freeze, cancel, blacklist, audited.",
        epilog="Exit codes: 0 done; 1 a check failed; 2 a usage error, an unreadable input or a "
        "refusal; 3 a rule failed to evaluate; 4 the db cannot be used now; 5 a gate not met; "
        "6 unknown to the db; 7 lint found something; 8 a rule version restated with other text; "
        "141 stdout closed (docs/reference/exit-codes.md: which command gives which).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--busy-timeout",
        type=_seconds,
        default=BUSY_TIMEOUT,
        metavar="SECONDS",
        help=f"wait this long for another process's lock on the db, then exit 4 "
        f"(default: {BUSY_TIMEOUT:g})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (*COMMANDS, *COMMANDS_16):
        command.add_parser(commands)
    _logging.add_everywhere(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return call(args.func, args)
