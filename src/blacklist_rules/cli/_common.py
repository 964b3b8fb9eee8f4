"""What the commands share: the common options, opening the db, JSON output, the argument
types, and the one place where the library's errors become exit codes."""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeAlias

from blacklist_rules.errors import (
    BlacklistRulesError,
    RuleFileError,
    RuleLoadError,
    RuleVersionError,
    StoreUnavailableError,
)

from . import _logging

if TYPE_CHECKING:
    from tqdm import tqdm

    from blacklist_rules import AuditHead, Engine
    from blacklist_rules.stores.protocols import Store

# The engine, the stores, pydantic, phonenumbers and tqdm are imported where they are used,
# not here: every command imports this module, `--help` included (issue 19).

KEY_ENV = "BLACKLIST_RULES_IDENTITY_KEY"
"""`model.identity.KEY_ENV` (a test holds them equal), not imported: phonenumbers comes with it."""

DEFAULT_DB = "blacklist-rules.db"


class Exit(enum.IntEnum):
    """The exit codes, the same for every command (docs/reference/exit-codes.md lists which command
    gives which, and a test produces each)."""

    OK = 0
    FAILED = 1
    """A check failed: rule or case files do not load, a case failed, an event was rejected
    under `--strict`, the audit trail does not verify, an identity is blacklisted."""
    USAGE = 2
    """A usage error, an unreadable input, or a refusal (nothing was done)."""
    EVALUATION = 3
    """A rule failed to evaluate: nothing was decided for that event (fail closed)."""
    UNAVAILABLE = 4
    """The db cannot be used now (locked, full, read-only, damaged): run again later."""
    THRESHOLD = 5
    """A gate was not met: `diff --fail-on-irreversible`, `test --min-coverage`."""
    UNKNOWN = 6
    """The db knows nothing of what was asked about (`status` of an account it never saw)."""
    FINDINGS = 7
    """`lint` found something (`--fail-on` says from which severity on)."""
    RESTATED = 8
    """A rule id and version the db already holds with other text: the pack was refused,
    nothing was run (give the rule a new version)."""
    CLOSED = 141
    """Standard output was closed (`| head`): what was not committed runs again next time."""


KEY_HELP = (
    f"The identity key (it keys the fingerprints of ID numbers and phones) comes from "
    f"${KEY_ENV} (at least 32 characters), else from --key-file FILE, else from the file "
    "<db>.key beside a SQLite db (a postgresql:// db has none: set one of the others)."
)
"""The epilog of every command that opens a db with an engine, so `--help` names the key."""

Handler: TypeAlias = Callable[[argparse.Namespace], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def rules_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--rules",
        default=None,
        metavar="DIR",
        help="rule folder (default: the packaged default pack)",
    )


def max_lead_option(cmd: argparse.ArgumentParser) -> None:
    """`--max-lead`, the same bound on event time wherever events come in (`run`, `worker`)."""
    cmd.add_argument(
        "--max-lead",
        type=_period,
        default=_default_max_lead(),
        metavar="DURATION",
        help="how far an event may lead the wall clock; further ones are rejected (default 1d)",
    )


def _default_max_lead() -> timedelta | None:
    from blacklist_rules.model.clock import TimeBound

    return TimeBound().max_lead


DB_HELP = "a SQLite file or a postgresql://user@host/dbname URL"


def db_option(
    cmd: argparse.ArgumentParser, text: str = "the db to read", *, key: bool = True
) -> None:
    """`--db`, the db a command works on, the same name and default in every command; with
    `key`, `--key-file` too (the commands that open an engine need the identity key)."""
    cmd.add_argument(
        "--db", default=DEFAULT_DB, metavar="DB", help=f"{text}: {DB_HELP} (default: %(default)s)"
    )
    if key:
        cmd.add_argument(
            "--key-file",
            default=None,
            metavar="FILE",
            help=f"the identity key file, when ${KEY_ENV} is not set (default: <db>.key beside "
            "a SQLite db; a postgresql:// db needs one of the two)",
        )


def print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")


def write_whole(lines: Iterable[Any], target: Path) -> int:
    """Write JSON lines beside the target, then rename: a reader never sees half a file. The
    number of lines written."""
    count = 0
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            for line in lines:
                print_json(line, handle)
                count += 1
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return count


def progress(events: Path | None, *, quiet: bool = False) -> tqdm[Any]:
    """A progress bar on stderr (count, rate and, with a file, percent and ETA), shown only on
    a terminal and never with `quiet`: a log file or a pipe gets none of its redraws."""
    from tqdm import tqdm

    shown = sys.stderr.isatty() and not quiet
    total = None
    if events is not None and shown:
        with open(events, "rb") as handle:  # the total: line ends, in 1 MiB reads
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return tqdm(total=total, unit=" events", file=sys.stderr, disable=not shown)


def existing_db(target: str) -> str | Path:
    """The db `--db` names: a PostgreSQL URL as it is (the server says whether it exists),
    else a SQLite file that must exist."""
    from blacklist_rules.stores.factory import is_postgres

    if is_postgres(target):
        return target
    db = Path(target)
    if not db.is_file():
        raise BlacklistRulesError(f"no such db: {db}")
    return db


def shown(target: str | Path) -> str:
    """The db as messages name it: a URL without its password or query string."""
    from blacklist_rules.stores.factory import describe

    return describe(target)


def reader(args: argparse.Namespace) -> Engine:
    """An engine over the existing db, opened read-only: a query never writes."""
    from blacklist_rules import Engine

    return Engine.from_path(
        args.rules,
        db=existing_db(args.db),
        read_only=True,
        busy_timeout=args.busy_timeout,
        key_file=args.key_file,
    )


def open_store(args: argparse.Namespace, *, read_only: bool) -> Store:
    from blacklist_rules.stores.factory import open_store as open_target

    return open_target(existing_db(args.db), read_only=read_only, busy_timeout=args.busy_timeout)


def unknown(db: str, what: str) -> Exit:
    """The db knows nothing of what was asked about: said on stderr, exit 6 (never an answer
    such as `active` that a script would take for one)."""
    print(f"error: {shown(db)} has no {what}", file=sys.stderr)
    return Exit.UNKNOWN


MISSING = "E-PATH"
"""The code of a rule or case path that does not exist: a usage error (exit 2), not files
that failed a check (exit 1)."""


def only_missing(errors: Iterable[RuleFileError]) -> bool:
    """Every error is a path that does not exist (and there is one)."""
    codes = {error.code for error in errors}
    return codes == {MISSING}


def call(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command; the library's errors become exit codes here, and only here. The log
    options (every verb has them) are in force while it runs."""
    logs = _logging.configure(args)
    try:
        return int(handler(args))
    except BrokenPipeError:
        # The reader went away (`| head`). What was not committed runs again next time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("stopped: standard output was closed", file=sys.stderr)
        return Exit.CLOSED
    except StoreUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.UNAVAILABLE
    except RuleVersionError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return Exit.RESTATED
    except RuleLoadError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} error(s); nothing was loaded", file=sys.stderr)
        return Exit.USAGE if only_missing(exc.errors) else Exit.FAILED
    except BlacklistRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.USAGE
    finally:
        _logging.remove(logs)


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
    from blacklist_rules.pack.spec import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _head(text: str) -> AuditHead:
    from blacklist_rules.model.chain import AuditHead

    try:
        return AuditHead.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
