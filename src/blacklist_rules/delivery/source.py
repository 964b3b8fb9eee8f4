"""Where a worker's events come from: the `EventSource` protocol (fetch a batch, acknowledge
it once committed, close), the stable partition of an account, and a worker's share of the
partitions. A site on Kafka maps onto it one to one: a topic keyed by account (its partitions
are ours), one consumer group, an offset committed after the engine's commit."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol

import attrs

from blacklist_rules.errors import BlacklistRulesError


class BrokerError(BlacklistRulesError):
    """The broker refused or could not be reached (or its client is not installed): nothing
    was acknowledged. Here rather than beside the NATS client so that the command line can
    catch it without nats-py installed."""


@attrs.frozen
class Delivery:
    """One event as the source handed it out: its JSON text, its partition, and what
    acknowledging it needs (the source's own handle, opaque to the worker)."""

    text: str
    partition: int
    handle: object = attrs.field(eq=False, repr=False)


class EventSource(Protocol):
    """A partitioned, ordered log of events: each partition in the order published, every
    event of an account in one partition. Delivery is at least once: what was fetched and not
    acknowledged comes again, in order, to whoever fetches that partition next."""

    @property
    def log(self) -> str:
        """The log's name (a stream, a topic): its partitions' progress is kept by it."""

    @property
    def count(self) -> int:
        """How many partitions the whole log has."""

    @property
    def partitions(self) -> Sequence[int]:
        """This worker's partitions."""

    def fetch(
        self, limit: int, timeout: float, partitions: Sequence[int] | None = None
    ) -> list[Delivery]:
        """Up to `limit` events of this worker's partitions (or of `partitions`, some of
        them), each partition's in order; waits up to `timeout` seconds for the first, and
        returns [] when none came."""

    def pending(self, partitions: Sequence[int]) -> dict[int, int]:
        """How many events of each partition are published and not yet delivered to this
        worker (Kafka: the end offset less the position): 0 says the partition is idle."""

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge events once what they did is committed: they never come again."""

    def close(self) -> None:
        """Let go of the partitions; what was not acknowledged comes again."""


def partition_of(account_id: str, partitions: int) -> int:
    """The partition of an account: CRC-32 (IEEE, as zlib, Java's `CRC32` and Go's
    `crc32.ChecksumIEEE` compute it) of its UTF-8 bytes, modulo the number of partitions.
    Stable across processes and languages (Python's `hash` is salted per process)."""
    return zlib.crc32(account_id.encode("utf-8")) % partitions


def share(partitions: int, index: int, of: int) -> list[int]:
    """Worker `index` of `of` (from 0): the partitions p with p mod `of` == `index`, a fixed
    assignment (worker 0 of 2 over 4 partitions takes 0 and 2)."""
    if of < 1 or not 0 <= index < of:
        raise BlacklistRulesError(f"worker {index} of {of}: expected 0 <= index < of")
    taken = [p for p in range(partitions) if p % of == index]
    if not taken:
        raise BlacklistRulesError(
            f"worker {index} of {of} gets none of {partitions} partition(s): run at most "
            f"{partitions} workers"
        )
    return taken


def parse_partitions(text: str, partitions: int) -> list[int]:
    """`0,2,5` as a sorted list of partition numbers, each below `partitions`."""
    try:
        chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise BlacklistRulesError(f"--partitions {text!r}: expected numbers like 0,1") from exc
    if not chosen or chosen[0] < 0 or chosen[-1] >= partitions:
        raise BlacklistRulesError(
            f"--partitions {text!r}: the stream has partitions 0 to {partitions - 1}"
        )
    return chosen
