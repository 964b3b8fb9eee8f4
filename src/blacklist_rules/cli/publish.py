"""`publish EVENTS.jsonl`: load a JSONL file of events into a JetStream stream, each on its
account's partition, with its event id as `Nats-Msg-Id` (a repeat within the broker's
duplicate window is dropped); the stream is made if absent."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from blacklist_rules.delivery.source import BrokerError, partition_of

from ._common import Commands, Exit, _positive
from ._delivery import broker_options, connect


def add_parser(commands: Commands) -> None:
    cmd = commands.add_parser(
        "publish",
        help="load a JSONL file of events into the broker, keyed by account",
        description="Publishes the events of EVENTS.jsonl, in order, to the JetStream stream "
        "--stream: an event goes to partition CRC-32(account_id) mod P (subject "
        "<stream>.events.<p>), so each account's events stay in order. The stream is made "
        "with --partitions (default 1) when absent. A line without a text event_id and "
        "account_id cannot be keyed: it is reported and not published (exit 1).",
    )
    cmd.add_argument("events", metavar="EVENTS.jsonl", help="the events, one JSON object a line")
    broker_options(cmd)
    cmd.add_argument(
        "--partitions",
        type=_positive,
        default=None,
        metavar="P",
        help="partitions of a new stream (an existing one must have as many; default 1)",
    )
    cmd.set_defaults(func=handle)


def _keyed(path: Path, partitions: int, refused: list[str]) -> Iterator[tuple[int, str, str]]:
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text:
                continue
            try:
                event = json.loads(text)
            except json.JSONDecodeError as exc:
                refused.append(f"{path}:{number}: not published: not JSON ({exc.msg})")
                continue
            fields = event if isinstance(event, dict) else {}
            event_id, account = fields.get("event_id"), fields.get("account_id")
            if not isinstance(event_id, str) or not isinstance(account, str):
                refused.append(f"{path}:{number}: not published: no text event_id and account_id")
                continue
            yield partition_of(account, partitions), event_id, text


def handle(args: argparse.Namespace) -> int:
    path = Path(args.events)
    if not path.is_file():
        print(f"error: no such events file: {path}", file=sys.stderr)
        return Exit.USAGE
    refused: list[str] = []
    try:
        with connect(args.nats) as broker:
            partitions = broker.ensure_stream(args.stream, args.partitions)
            done = broker.publish(args.stream, partitions, _keyed(path, partitions, refused))
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return Exit.UNAVAILABLE
    for line in refused:
        print(line, file=sys.stderr)
    spread = ", ".join(f"p{p}: {n}" for p, n in sorted(done.by_partition.items())) or "none"
    print(
        f"published {done.stored} events to {args.stream} ({partitions} partition(s); {spread}); "
        f"{done.repeats} repeats dropped by the broker; {len(refused)} lines refused",
        file=sys.stderr,
    )
    return Exit.FAILED if refused else Exit.OK
