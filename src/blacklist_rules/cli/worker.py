"""`worker`: events from a JetStream stream's partitions through the engine, each batch one
commit, acknowledged once committed; decisions out through the transactional outbox
(`--decisions-out`); SIGTERM stops it after the batch in hand."""

from __future__ import annotations

import argparse
import socket
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from blacklist_rules import Outcome
from blacklist_rules.delivery.source import BrokerError, parse_partitions, share
from blacklist_rules.delivery.worker import Worker, open_engine
from blacklist_rules.stores import is_postgres, open_store

from ._common import (
    KEY_HELP,
    Commands,
    Exit,
    _positive,
    _seconds,
    max_lead_option,
    rules_option,
    write_whole,
)
from ._delivery import SINK_HELP, broker_options, connect, open_sink, stop_on_signals


def add_parser(commands: Commands) -> None:
    cmd = commands.add_parser(
        "worker",
        help="process events from a JetStream stream (acknowledged after commit)",
        description="Consumes the given partitions of a JetStream event stream (see `publish`), "
        "merged in event-time order (a partition with events still at the broker is waited "
        "for; one with none is idle): each batch is processed in one transaction and "
        "acknowledged only once committed, so a "
        "worker killed at any point loses and doubles nothing (events already processed are "
        "ignored by id). A worker taking a partition resumes after its last acknowledged event. "
        "Partitions are assigned by hand: --partitions 0,1, or --index i --of N (worker i takes "
        "the partitions p with p mod N = i); two workers must never share one. SIGTERM or "
        "SIGINT stops it after the batch in hand (exit 0).",
        epilog=KEY_HELP + " A PostgreSQL db takes the key from the environment.",
    )
    rules_option(cmd)
    cmd.add_argument(
        "--db", required=True, metavar="PATH|URL", help="a SQLite file or a postgresql:// URL"
    )
    broker_options(cmd)
    mine = cmd.add_mutually_exclusive_group(required=True)
    mine.add_argument("--partitions", metavar="LIST", help="the partitions to consume: 0,2")
    mine.add_argument("--index", type=int, metavar="I", help="this worker's number, from 0")
    cmd.add_argument("--of", type=_positive, metavar="N", help="with --index: how many workers")
    cmd.add_argument("--decisions-out", metavar="SINK", help=SINK_HELP)
    cmd.add_argument(
        "--batch", type=_positive, default=500, metavar="N", help="events per commit (default 500)"
    )
    cmd.add_argument(
        "--poll",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="seconds to wait for events (default 1)",
    )
    cmd.add_argument(
        "--ack-wait",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="seconds the broker waits for an acknowledgement before it sends again (default 60)",
    )
    cmd.add_argument(
        "--until-idle",
        action="store_true",
        help="stop once a fetch finds nothing (a trial, a backfill); default: run until stopped",
    )
    max_lead_option(cmd)
    cmd.add_argument("--quiet", action="store_true", help="no rejected lines or summary")
    cmd.add_argument("--summary-json", type=Path, metavar="FILE", help="the summary as JSON")
    cmd.set_defaults(func=handle)


def _mine(args: argparse.Namespace, partitions: int) -> list[int]:
    if args.partitions is not None:
        return parse_partitions(args.partitions, partitions)
    if args.of is None:
        raise argparse.ArgumentTypeError("--index needs --of")
    return share(partitions, args.index, args.of)


def handle(args: argparse.Namespace) -> int:
    if args.index is not None and args.of is None:
        print("error: --index needs --of", file=sys.stderr)
        return Exit.USAGE
    try:
        return _work(args)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.UNAVAILABLE


def _work(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        broker = stack.enter_context(connect(args.nats))
        count = broker.partitions(args.stream)
        if count is None:
            print(f"error: no stream {args.stream} at {args.nats}", file=sys.stderr)
            return Exit.USAGE
        mine = _mine(args, count)
        name = f"{args.stream}[{','.join(map(str, mine))}]"
        engine = stack.enter_context(
            open_engine(
                args.rules,
                args.db,
                max_lead=args.max_lead,
                busy_timeout=args.busy_timeout,
                # (the same after a restart: one killed before it took its partitions holds
                # the watermark no longer than until its replacement starts)
                worker_id=f"{socket.gethostname()}:{name}",
            )
        )
        source = broker.source(args.stream, mine, ack_wait=args.ack_wait)
        stack.callback(source.close)
        sink = relay_store = None
        if args.decisions_out is not None:
            sink = open_sink(args.decisions_out, broker)
            stack.callback(sink.close)
            if is_postgres(args.db):  # the relay's commits in a session of their own
                relay_store = open_store(args.db, busy_timeout=args.busy_timeout)
                stack.callback(relay_store.close)
        worker = Worker(
            engine,
            source,
            sink,
            relay_store=relay_store,
            batch_size=args.batch,
            poll=args.poll,
            name=name,
            on_outcome=lambda outcome: _report(outcome, name, args.quiet),
        )
        if engine.identity_key.created:
            print(f"created the identity {engine.identity_key.source} (mode 0600)", file=sys.stderr)
        if not args.quiet:
            print(f"{name}: consuming into {engine.store.path}", file=sys.stderr)
        with stop_on_signals(worker.stop):
            tally = worker.run(until_idle=args.until_idle)
        summary: dict[str, Any] = {"worker": name, **tally.to_dict()}
        summary["redelivered"] = source.redelivered
        if not args.quiet:
            print(
                f"{name}: {tally.events} events in {tally.batches} batches: {tally.accepted} "
                f"accepted, {tally.duplicates} duplicates (ignored), {tally.rejected} rejected, "
                f"{tally.failed} failed; {tally.decisions} decisions, {tally.sent} sent; "
                f"{source.redelivered} redelivered",
                file=sys.stderr,
            )
    if args.summary_json is not None:
        write_whole([summary], args.summary_json)
    return Exit.EVALUATION if tally.failed else Exit.OK


def _report(outcome: Outcome, name: str, quiet: bool) -> None:
    if outcome.rejection is not None and not quiet:
        print(f"{name}: rejected: {outcome.rejection}", file=sys.stderr)
    elif outcome.failure is not None:
        print(f"{name}: FAILED (nothing decided): {outcome.failure}", file=sys.stderr)
