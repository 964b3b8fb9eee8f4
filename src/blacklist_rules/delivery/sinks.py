"""Where published decisions go: the `DecisionSink` protocol and the sinks that need no
broker (stdout, a JSONL file); a NATS subject is `jetstream.NatsSink`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

from blacklist_rules.stores.records import OutboxRow


class DecisionSink(Protocol):
    """Delivers decisions (outbox rows, each its JSON line). `send` returns once they are
    delivered (written and flushed, or stored by the broker); when it raises, none of them
    counts as sent and all are sent again."""

    def send(self, rows: Sequence[OutboxRow]) -> None: ...

    def close(self) -> None: ...


class StreamSink:
    """Decisions as JSON lines on a text stream (stdout), flushed after each send."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    def send(self, rows: Sequence[OutboxRow]) -> None:
        out = self._out if self._out is not None else sys.stdout
        out.write("".join(row.payload + "\n" for row in rows))
        out.flush()

    def close(self) -> None:
        """Leaves the stream open: it is not ours."""


class JsonlFileSink:
    """Decisions appended as JSON lines to a file, flushed and fsynced after each send: once
    `send` returns they survive a crash of the machine."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)

    def send(self, rows: Sequence[OutboxRow]) -> None:
        self._handle.write("".join(row.payload + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()
