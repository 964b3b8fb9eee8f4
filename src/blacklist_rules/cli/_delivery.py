"""What `worker`, `publish` and `relay` share: the broker options, the decision sink a
`--decisions-out` / `--to` names, and stopping on SIGTERM after the batch in hand."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from blacklist_rules import BlacklistRulesError
from blacklist_rules.delivery.sinks import DecisionSink, JsonlFileSink, StreamSink
from blacklist_rules.delivery.source import BrokerError

if TYPE_CHECKING:
    from blacklist_rules.delivery.jetstream import JetStream

NATS_DEFAULT = "nats://127.0.0.1:4222"
NATS_PREFIX = "nats:"
SINK_HELP = (
    "where decisions go, through the db's transactional outbox (published once committed, "
    "never before): - for stdout, nats:SUBJECT for a NATS subject (JetStream; Nats-Msg-Id = "
    "decision id), else a JSONL file appended to"
)


def broker_options(cmd: argparse.ArgumentParser, *, stream: bool = True) -> None:
    cmd.add_argument(
        "--nats",
        default=NATS_DEFAULT,
        metavar="URL",
        help="the NATS server, JetStream on (default: %(default)s)",
    )
    if stream:
        cmd.add_argument(
            "--stream", required=True, metavar="NAME", help="the JetStream stream of events"
        )


def connect(url: str) -> JetStream:
    """A connection to the NATS server at `url`. nats-py is imported here, not with the
    command line, so that a plain install (no `broker` extra) runs every other verb."""
    try:
        from blacklist_rules.delivery.jetstream import JetStream
    except ImportError as exc:
        raise BrokerError(
            "the NATS client is not installed: pip install 'blacklist-rules[broker]'"
        ) from exc
    return JetStream(url)


def needs_broker(spec: str | None) -> bool:
    return spec is not None and spec.startswith(NATS_PREFIX)


def open_sink(spec: str, broker: JetStream | None) -> DecisionSink:
    """The sink `spec` names; `broker` is needed for `nats:SUBJECT`."""
    if spec == "-":
        return StreamSink(sys.stdout)
    if spec.startswith(NATS_PREFIX):
        if broker is None:
            raise BlacklistRulesError(f"{spec}: a NATS sink needs a connection (--nats)")
        return broker.sink(spec.removeprefix(NATS_PREFIX))
    return JsonlFileSink(spec)


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call `stop` (the loop ends after its batch) instead of killing."""

    def handler(signum: int, frame: FrameType | None) -> None:
        print(f"{signal.Signals(signum).name}: stopping after this batch", file=sys.stderr)
        stop()

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)
