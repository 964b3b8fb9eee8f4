"""NATS JetStream behind the `EventSource` protocol, and a NATS subject as a decision sink:
nats-py's only seam (ruff `TID251` bans it elsewhere).

Why JetStream: of the brokers on this project's machines, RabbitMQ is 3.10 without its stream
plugin (super streams with single active consumer need 3.11), and Redis streams keep no
per-partition durable consumer state of their own; JetStream has durable pull consumers with
explicit acks, a per-consumer ack floor to resume from, and broker-side dedupe by
`Nats-Msg-Id`.

The layout: a stream `NAME` with subjects `NAME.events.<p>` for p in 0..P-1 (P kept in the
stream's description), an event on `partition_of(account_id, P)`; one durable pull consumer
per partition (`p<p>`), explicit acks. A worker taking a partition recreates its consumer to
start just after its ack floor (the last event acknowledged in order): what the previous
owner fetched and never acknowledged comes again at once and in order, instead of after the
ack wait behind newer events. The assignment of partitions to workers is fixed (`share`):
two workers must never hold one partition.

nats-py is asyncio; the worker is not. Each object here owns one event loop and runs every
call to completion on it (`_Loop`), on the caller's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Iterable, Sequence
from typing import TypeVar

import attrs
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from blacklist_rules.stores.records import OutboxRow

from .source import BrokerError, Delivery

T = TypeVar("T")
_log = logging.getLogger(__name__)

DESCRIPTION = "blacklist-rules events; partitions={}"
_PARTITIONS = re.compile(r"partitions=(\d+)")
MSG_ID = "Nats-Msg-Id"
"""The header JetStream drops repeats by (within the stream's duplicate window)."""
DUPLICATE_WINDOW = 600.0
"""Seconds over which the broker drops a message published again with the same id."""


def events_subject(stream: str, partition: int) -> str:
    return f"{stream}.events.{partition}"


@attrs.frozen
class Published:
    """What a publish did: messages stored, repeats the broker dropped (same id), by
    partition."""

    stored: int
    repeats: int
    by_partition: dict[int, int]


async def _quiet(exc: Exception) -> None:
    """nats-py's own callback logs every failed attempt with its traceback at ERROR: what
    fails for good reaches the caller once, as a `BrokerError`; the attempts are DEBUG."""
    _log.debug("NATS: %s: %s", type(exc).__name__, exc)


class _Loop:
    """One connection to the server and the event loop it lives on."""

    def __init__(self, server: str, *, timeout: float = 5.0) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        try:
            self.nc: Client = self.run(
                nats.connect(
                    server,
                    connect_timeout=timeout,
                    max_reconnect_attempts=2,
                    allow_reconnect=True,
                    error_cb=_quiet,
                )
            )
        except BaseException:
            self.loop.close()
            raise
        self.js: JetStreamContext = self.nc.jetstream(timeout=timeout)

    def run(self, work: Awaitable[T]) -> T:
        try:
            return self.loop.run_until_complete(work)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise BrokerError(f"NATS at {self.server}: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.run(self.nc.close())  # (acknowledgements were flushed as they were sent)
        except BrokerError:
            pass
        finally:
            self.loop.close()


class JetStream:
    """A connection to a NATS server with JetStream: the event streams (make, read, delete)
    and publishing into them."""

    def __init__(self, server: str, *, timeout: float = 5.0) -> None:
        self._io = _Loop(server, timeout=timeout)
        self.server = server

    def close(self) -> None:
        self._io.close()

    def __enter__(self) -> JetStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def partitions(self, stream: str) -> int | None:
        """The partition count of an event stream, None when there is no such stream."""
        try:
            info = self._io.run(self._io.js.stream_info(stream))
        except BrokerError as exc:
            if isinstance(exc.__cause__, nats.js.errors.NotFoundError):
                return None
            raise
        found = _PARTITIONS.search(info.config.description or "")
        if found is None:
            raise BrokerError(f"stream {stream} is not a blacklist-rules event stream")
        return int(found.group(1))

    def ensure_stream(self, stream: str, partitions: int | None) -> int:
        """The stream's partition count, making the stream with `partitions` (default 1)
        when it is absent; another count than the stream's is refused."""
        found = self.partitions(stream)
        if found is not None:
            if partitions is not None and partitions != found:
                raise BrokerError(
                    f"stream {stream} has {found} partition(s), not {partitions}: the partition "
                    "of an account cannot change under its events"
                )
            return found
        count = partitions or 1
        if count < 1:
            raise BrokerError(f"a stream needs at least one partition, not {count}")
        config = api.StreamConfig(
            name=stream,
            description=DESCRIPTION.format(count),
            subjects=[f"{stream}.events.*"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            duplicate_window=DUPLICATE_WINDOW,
        )
        self._io.run(self._io.js.add_stream(config))
        return count

    def delete_stream(self, stream: str) -> bool:
        """Delete a stream and its consumers; False when there was none."""
        try:
            return bool(self._io.run(self._io.js.delete_stream(stream)))
        except BrokerError as exc:
            if isinstance(exc.__cause__, nats.js.errors.NotFoundError):
                return False
            raise

    def publish(
        self, stream: str, partitions: int, items: Iterable[tuple[int, str, str]]
    ) -> Published:
        """Publish (partition, event id, JSON text) items in order, each with its event id as
        `Nats-Msg-Id`; waits for every acknowledgement."""
        return self._io.run(self._publish(stream, partitions, items))

    async def _publish(
        self, stream: str, partitions: int, items: Iterable[tuple[int, str, str]]
    ) -> Published:
        stored = repeats = 0
        by_partition: dict[int, int] = {}
        waiting: list[tuple[int, asyncio.Future[api.PubAck]]] = []

        async def settle() -> None:
            nonlocal stored, repeats
            for partition, future in waiting:
                ack = await future
                if ack.duplicate:
                    repeats += 1
                else:
                    stored += 1
                    by_partition[partition] = by_partition.get(partition, 0) + 1
            waiting.clear()

        for partition, event_id, text in items:
            if not 0 <= partition < partitions:
                raise BrokerError(f"partition {partition} of {stream}: it has {partitions}")
            future = await self._io.js.publish_async(
                events_subject(stream, partition),
                text.encode("utf-8"),
                headers={MSG_ID: event_id},
                stream=stream,
            )
            waiting.append((partition, future))
            if len(waiting) >= 1000:
                await settle()
        await settle()
        return Published(stored, repeats, by_partition)

    def source(
        self, stream: str, partitions: Sequence[int], *, ack_wait: float = 60.0
    ) -> JetStreamSource:
        """The given partitions of an event stream as an `EventSource`."""
        return JetStreamSource(self, stream, partitions, ack_wait=ack_wait)

    def sink(self, subject: str) -> NatsSink:
        """A decision sink publishing to `subject` (a stream is made for it if none has it)."""
        return NatsSink(self, subject)


class JetStreamSource:
    """Partitions of an event stream, one durable pull consumer each (see the module)."""

    def __init__(
        self, broker: JetStream, stream: str, partitions: Sequence[int], *, ack_wait: float
    ) -> None:
        count = broker.partitions(stream)
        if count is None:
            raise BrokerError(f"no stream {stream} at {broker.server}: publish to it first")
        if not partitions or any(not 0 <= p < count for p in partitions):
            raise BrokerError(f"partitions {list(partitions)}: {stream} has 0 to {count - 1}")
        self._io = broker._io
        self.stream = self.log = stream
        self.count = count
        self.partitions = tuple(sorted(set(partitions)))
        self.redelivered = 0
        """Events delivered again: in flight (fetched, not acknowledged) when a partition
        was taken over, and those the broker sent again after the ack wait."""
        self._subs = {p: self._io.run(self._take(p, ack_wait)) for p in self.partitions}

    async def _take(self, partition: int, ack_wait: float) -> JetStreamContext.PullSubscription:
        """Recreate the partition's consumer to start just after its ack floor, and bind."""
        durable = f"p{partition}"
        jsm = self._io.js
        start = 0
        try:
            info = await jsm.consumer_info(self.stream, durable)
            start = (info.ack_floor.stream_seq or 0) if info.ack_floor else 0
            acked = (info.ack_floor.consumer_seq or 0) if info.ack_floor else 0
            sent = (info.delivered.consumer_seq or 0) if info.delivered else 0
            self.redelivered += max(0, sent - acked)
            await jsm.delete_consumer(self.stream, durable)
        except nats.js.errors.NotFoundError:
            pass
        config = api.ConsumerConfig(
            durable_name=durable,
            filter_subject=events_subject(self.stream, partition),
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=-1,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if start else api.DeliverPolicy.ALL,
            opt_start_seq=start + 1 if start else None,
        )
        await jsm.add_consumer(self.stream, config)
        return await jsm.pull_subscribe_bind(durable, stream=self.stream)

    def fetch(
        self, limit: int, timeout: float, partitions: Sequence[int] | None = None
    ) -> list[Delivery]:
        """Up to `limit` events across the partitions (all, or `partitions`), fetched from
        each at once: first without waiting, then, when none had any, waiting up to
        `timeout`."""
        chosen = self.partitions if partitions is None else tuple(partitions)
        each = max(1, limit // max(1, len(chosen)))
        found = self._io.run(self._fetch_all(chosen, each, min(timeout, 0.05)))
        if not found and timeout > 0.05:
            found = self._io.run(self._fetch_all(chosen, each, timeout))
        return found

    async def _fetch_all(
        self, partitions: Sequence[int], each: int, timeout: float
    ) -> list[Delivery]:
        batches = await asyncio.gather(
            *(self._fetch_one(p, self._subs[p], each, timeout) for p in partitions)
        )
        return [delivery for batch in batches for delivery in batch]

    def pending(self, partitions: Sequence[int]) -> dict[int, int]:
        """Events of each partition not yet delivered (its consumer's `num_pending`)."""
        return self._io.run(self._pending(partitions))

    async def _pending(self, partitions: Sequence[int]) -> dict[int, int]:
        infos = await asyncio.gather(*(self._subs[p].consumer_info() for p in partitions))
        return {p: int(info.num_pending or 0) for p, info in zip(partitions, infos, strict=True)}

    async def _fetch_one(
        self, partition: int, sub: JetStreamContext.PullSubscription, each: int, timeout: float
    ) -> list[Delivery]:
        try:
            msgs = await sub.fetch(each, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):  # (it raises either)
            return []
        self.redelivered += sum(1 for m in msgs if m.metadata.num_delivered > 1)
        return [Delivery(m.data.decode("utf-8", errors="replace"), partition, m) for m in msgs]

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge, in order, and wait until the server has them all."""
        self._io.run(self._ack(deliveries))

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            handle = delivery.handle
            if not isinstance(handle, Msg):
                raise BrokerError(f"not a delivery of this source: {delivery!r}")
            await handle.ack()
        await self._io.nc.flush()

    def lag(self) -> dict[int, int]:
        """Events not yet acknowledged, by partition (the consumers' pending plus in flight)."""
        return self._io.run(self._lag())

    async def _lag(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for partition, sub in self._subs.items():
            info = await sub.consumer_info()
            found[partition] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        return found

    def close(self) -> None:
        """Unbind; the consumers stay on the server with their ack floors."""
        for sub in self._subs.values():
            with contextlib.suppress(BrokerError):
                self._io.run(sub.unsubscribe())
        self._subs = {}


class NatsSink:
    """Decisions published to a NATS subject through JetStream, each with its decision id as
    `Nats-Msg-Id` (a decision sent again within the duplicate window is dropped by the
    broker); returns once the broker has stored them all."""

    def __init__(self, broker: JetStream, subject: str) -> None:
        self._io = broker._io
        self.subject = subject
        self.stream = self._io.run(self._stream_for(subject))

    async def _stream_for(self, subject: str) -> str:
        try:
            return str(await self._io.js.find_stream_name_by_subject(subject))
        except nats.js.errors.NotFoundError:
            pass
        name = "decisions_" + re.sub(r"[^A-Za-z0-9_-]", "_", subject)
        config = api.StreamConfig(
            name=name,
            description="blacklist-rules decisions",
            subjects=[subject],
            storage=api.StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW,
        )
        await self._io.js.add_stream(config)
        return name

    def send(self, rows: Sequence[OutboxRow]) -> None:
        self._io.run(self._send(rows))

    async def _send(self, rows: Sequence[OutboxRow]) -> None:
        futures: list[asyncio.Future[api.PubAck]] = []
        for row in rows:
            futures.append(
                await self._io.js.publish_async(
                    self.subject,
                    row.payload.encode("utf-8"),
                    headers={MSG_ID: row.decision_id},
                    stream=self.stream,
                )
            )
        await asyncio.gather(*futures)

    def close(self) -> None:
        """Nothing of its own: the connection is the `JetStream`'s."""


def read_stream(server: str, stream: str) -> list[tuple[str | None, str]]:
    """Every message of a stream, oldest first, as (its `Nats-Msg-Id`, its text): for checks
    and trials; reads by sequence, nothing consumed or acknowledged."""
    io = _Loop(server)
    try:
        return io.run(_read_all(io, stream))
    finally:
        io.close()


async def _read_all(io: _Loop, stream: str) -> list[tuple[str | None, str]]:
    info = await io.js.stream_info(stream)
    first, last = int(info.state.first_seq), int(info.state.last_seq)
    found: list[tuple[str | None, str]] = []
    for seq in range(first, last + 1) if info.state.messages else ():
        msg = await io.js.get_msg(stream, seq)
        found.append(((msg.headers or {}).get(MSG_ID), (msg.data or b"").decode("utf-8")))
    return found
