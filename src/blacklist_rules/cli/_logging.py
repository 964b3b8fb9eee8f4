"""The library's log records and metrics on the command line (`--log-level`, `--log-format`,
`--metrics-file`, `--metrics-port`): the library installs no handler, so a verb that wants its
records shows them on stderr, as text or JSON lines."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

FIELDS = (
    "event_id",
    "account_id",
    "line",
    "outcome",
    "decision_id",
    "rule_id",
    "action",
    "mode",
    "duration",
    "dropped",
    "tally",
)
"""The structured fields the library puts on its records (`extra=`), as JSON keys."""

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_options(parser: argparse.ArgumentParser) -> None:
    """`--metrics-file`, `--metrics-port` (`run`'s; every verb has the log options)."""
    parser.add_argument(
        "--metrics-file",
        type=Path,
        metavar="FILE",
        help="write Prometheus metrics (events by outcome, decisions by rule, latency, "
        "failures) to FILE at the end, in the textfile collector's format (needs the metrics "
        "extra; default: none)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve the same metrics over HTTP on 127.0.0.1:PORT while the run goes on "
        "(default: none)",
    )


def add_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--log-level` and `--log-format` on every verb of the parser (each action of `audit`),
    after the verb as its other options: `call` configures them before the verb runs."""
    verbs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not verbs:
        add_log_options(parser)
    for action in verbs:
        for sub in dict.fromkeys(action.choices.values()):  # an alias names a parser twice
            add_everywhere(sub)


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """`--log-level`, `--log-format`."""
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        type=str.upper,
        metavar="LEVEL",
        help="show the library's log records at LEVEL and above on stderr: DEBUG (each event), "
        "INFO (each decision, the run's summary), WARNING (rejected and failed events), ERROR "
        "(default: none shown)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log records as text lines or as JSON objects with their fields (default: text)",
    )


class JsonFormatter(logging.Formatter):
    """One JSON object a record: time, level, logger, message, and the library's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data |= {key: getattr(record, key) for key in FIELDS if hasattr(record, key)}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _TqdmHandler(logging.Handler):
    """Writes through tqdm, so a progress bar redraws below the line instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm  # (not at the top: `--help` needs no tqdm)

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def configure(args: argparse.Namespace) -> logging.Handler | None:
    """Attach a stderr handler to the `blacklist_rules` logger as the options say; returns
    it, for `remove` (None when no level was asked for)."""
    if getattr(args, "log_level", None) is None:
        return None
    handler = _TqdmHandler()
    if args.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("blacklist_rules")
    logger.addHandler(handler)
    logger.setLevel(args.log_level)
    return handler


def remove(handler: logging.Handler | None) -> None:
    """Take the handler off again (the CLI's `main` may run many times in one process)."""
    if handler is not None:
        logger = logging.getLogger("blacklist_rules")
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
