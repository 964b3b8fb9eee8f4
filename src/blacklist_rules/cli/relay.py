"""`relay`: publish the decisions waiting in a db's transactional outbox to a sink, marking
each sent once delivered; once, or (`--follow`) until SIGTERM. For a relay apart from the
workers (PostgreSQL), or to send what a stopped worker left."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack

from blacklist_rules.delivery.relay import Relay
from blacklist_rules.delivery.source import BrokerError
from blacklist_rules.stores import open_store

from ._common import Commands, Exit, _seconds
from ._delivery import (
    SINK_HELP,
    broker_options,
    connect,
    needs_broker,
    open_sink,
    stop_on_signals,
)


def add_parser(commands: Commands) -> None:
    cmd = commands.add_parser(
        "relay",
        help="publish the decisions waiting in a db's outbox",
        description="Publishes the committed decisions waiting in the db's outbox to --to, "
        "oldest first, and marks them sent: at least once (a crash between the two sends them "
        "again; the decision id tells a repeat), never before their commit. On PostgreSQL "
        "several relays may run: each claims its rows (FOR UPDATE SKIP LOCKED).",
    )
    cmd.add_argument(
        "--db", required=True, metavar="PATH|URL", help="a SQLite file or a postgresql:// URL"
    )
    cmd.add_argument("--to", required=True, metavar="SINK", help=SINK_HELP)
    broker_options(cmd, stream=False)
    cmd.add_argument("--follow", action="store_true", help="keep relaying until SIGTERM")
    cmd.add_argument(
        "--poll",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="with --follow: seconds between rounds (default 1)",
    )
    cmd.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        with ExitStack() as stack:
            broker = stack.enter_context(connect(args.nats)) if needs_broker(args.to) else None
            store = open_store(args.db, busy_timeout=args.busy_timeout)
            stack.callback(store.close)
            sink = open_sink(args.to, broker)
            stack.callback(sink.close)
            relay = Relay(store, sink)
            stopped: list[bool] = []
            with stop_on_signals(lambda: stopped.append(True)):
                relay.drain()
                while args.follow and not stopped:
                    time.sleep(args.poll)
                    relay.drain()
            print(
                f"relayed {relay.sent} decisions; {store.outbox_backlog()} waiting",
                file=sys.stderr,
            )
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.UNAVAILABLE
    return Exit.OK
