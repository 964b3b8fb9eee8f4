"""What the commands share: the common options, opening the db, JSON output, the argument
types, and the one place where the library's errors become exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO, TypeAlias

from blacklist_rules import (
    AuditHead,
    BlacklistRulesError,
    Engine,
    RuleLoadError,
    SQLiteStore,
    StoreUnavailableError,
    parse_duration,
)

DEFAULT_DB = "blacklist-rules.db"

Handler: TypeAlias = Callable[[argparse.Namespace], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def rules_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--rules",
        default=None,
        metavar="DIR",
        help="rule folder (default: the packaged default pack)",
    )


def db_option(cmd: argparse.ArgumentParser, text: str | None = None) -> None:
    """`--db`, the db a command works on (no `text`: no help line, argparse's default)."""
    cmd.add_argument("--db", default=DEFAULT_DB, help=text)


def print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")


def existing_db(path: str) -> Path:
    db = Path(path)
    if not db.is_file():
        raise BlacklistRulesError(f"no such db: {db}")
    return db


def reader(args: argparse.Namespace) -> Engine:
    """An engine over the existing db, opened read-only: a query never writes."""
    return Engine.from_path(
        args.rules, db=existing_db(args.db), read_only=True, busy_timeout=args.busy_timeout
    )


def open_store(args: argparse.Namespace, *, read_only: bool) -> SQLiteStore:
    return SQLiteStore(existing_db(args.db), read_only=read_only, busy_timeout=args.busy_timeout)


def call(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command; the library's errors become exit codes here, and only here."""
    try:
        return int(handler(args))
    except BrokenPipeError:
        # The reader went away (`| head`). What was not committed runs again next time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("stopped: standard output was closed", file=sys.stderr)
        return 141
    except StoreUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    except RuleLoadError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} error(s); nothing was loaded", file=sys.stderr)
        return 1
    except BlacklistRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# --- argument types: a bad value is a usage error (exit 2) with argparse's message; a
# ValueError they let through is shown as `invalid _percent value`, so the names stay as they are


def _percent(text: str) -> float:
    """A percentage from 0 to 100 (NaN, which compares false with everything, is refused)."""
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage from 0 to 100")
    return value


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more (NaN and infinity refused)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1000000, got {text!r}")
    return number


def _period(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _head(text: str) -> AuditHead:
    try:
        return AuditHead.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
