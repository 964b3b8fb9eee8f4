"""The `blacklist-rules` command line; it uses only the public API. One module per command,
each with its `add_parser` and its handler; `_common` holds the shared options and the one
place where errors become exit codes. argparse and tqdm are imported in this package only.
`main` imports a command's module only when that command is chosen (`VERBS`, issue 19).

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
import importlib
from collections.abc import Sequence
from types import ModuleType

import attrs

from blacklist_rules import __version__

from . import _logging
from ._common import _seconds, call

__all__ = ["build_parser", "main"]

BUSY_TIMEOUT = 5.0
"""`stores.sqlite.connection.BUSY_TIMEOUT` (a test holds them equal): not imported from
there, which would load the stores, pydantic and phonenumbers for a `--help`."""


@attrs.frozen
class Verb:
    """A command: its name, its one-line help (as `--help` lists it), and its module."""

    name: str
    help: str
    module: str


VERBS = (
    Verb("init", "write a copy of the default pack and its test cases into a folder", "init"),
    Verb("validate", "load and check rule files", "validate"),
    Verb("lint", "check rule files for what validate lets through", "lint"),
    Verb("run", "process a JSONL file of events", "run"),
    Verb("status", "an account's status and the decisions behind it", "status"),
    Verb("audit", "read the audit trail", "audit"),
    Verb("check", "pre-registration check: is this ID number or phone blacklisted?", "check"),
    Verb("test", "run rule test cases; report failures by name, then rule coverage", "test"),
    Verb("explain", "why a decision was taken, or why a rule did not act on an account", "explain"),
    Verb("notice", "the text a user is shown about a decision, in Chinese or English", "notice"),
    Verb("diff", "replay events through two rule versions and report what changes", "diff"),
    Verb("schema", "print the JSON Schema of rule files", "schema"),
    # Issue 16's: events in from a broker, decisions out through the outbox.
    Verb("publish", "load a JSONL file of events into the broker, keyed by account", "publish"),
    Verb("worker", "process events from a JetStream stream (acknowledged after commit)", "worker"),
    Verb("relay", "publish the decisions waiting in a db's outbox", "relay"),
)
"""In the order `blacklist-rules --help` lists them. Each verb's module (and what it imports:
the engine, durable-rules, psycopg …) is imported only when the verb is chosen (issue 19:
`--help` loaded 524 modules); a test holds this table to the modules' own help texts."""


def _module(verb: Verb) -> ModuleType:
    return importlib.import_module(f"{__name__}.{verb.module}")


class _LazyParser(argparse.ArgumentParser):
    """A verb's parser that stands in for the module's own until the verb is chosen: it then
    builds that parser (with the log options) and hands it the arguments."""

    verb: Verb | None = None
    _real: argparse.ArgumentParser | None = None

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self.verb is None:  # (a parser of the verb's own, `audit`'s actions)
            return super().parse_known_args(args, namespace)
        if self._real is None:
            scratch = argparse.ArgumentParser(add_help=False)
            actions = scratch.add_subparsers(prog=self.prog.rsplit(" ", 1)[0])
            _module(self.verb).add_parser(actions)
            self._real = actions._name_parser_map[self.verb.name]
            _logging.add_everywhere(self._real)
        return self._real.parse_known_args(args, namespace)


def build_parser(*, eager: bool = True) -> argparse.ArgumentParser:
    """The whole command line; `eager=False` (`main`) imports a verb's module only when the
    verb is chosen."""
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
    if eager:
        commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        for verb in VERBS:
            _module(verb).add_parser(commands)
        _logging.add_everywhere(parser)
        return parser
    lazy = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_LazyParser
    )
    for verb in VERBS:
        stand_in = lazy.add_parser(verb.name, help=verb.help)
        stand_in.verb = verb
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(eager=False).parse_args(argv)
    return call(args.func, args)
