"""A worker's partitions merged in event-time order (issue 16).

Each partition is in event-time order (every event of an account is in one, in the order
published); across partitions nothing is. A worker that processed what it fetched partition
by partition would move its event time to the latest event of one partition while another
of its partitions still has earlier events to come, and a deadline there would fire before
the event that meets it. So a worker holds what it fetched, one queue per partition, and
hands out the least head first, and only while **every live partition has a head**: the
next event of each is known, so nothing earlier can come from any of them (a k-way merge).

A partition with nothing held is **idle** when its source has nothing more for it (nothing
published and not yet delivered: `EventSource.pending`); an idle partition does not hold
the merge (Flink's idle sources). What is published to it later, behind the time the worker
reached, is a late event (decided as `run` decides a late line); what was published and not
yet delivered always holds it."""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Collection, Iterable, Sequence

from blacklist_rules.errors import BlacklistRulesError
from blacklist_rules.model.events import parse_time, to_micros

from .source import Delivery

_FIRST = -(1 << 62)
"""The key of an event without a readable `occurred_at`: handed out as soon as it is a
head (the engine rejects it, or takes it as it would anywhere: no clock moves by it)."""


def event_time(text: str) -> int:
    """The event's `occurred_at` in µs since the epoch, `_FIRST` when it has none that reads."""
    try:
        data = json.loads(text)
        return to_micros(parse_time(data["occurred_at"]))
    except (ValueError, TypeError, KeyError, BlacklistRulesError):
        return _FIRST


class EventTimeMerge:
    """What a worker fetched and has not processed yet, per partition, handed out in
    event-time order (ties: the lower partition first; within a partition, its order)."""

    def __init__(self, partitions: Sequence[int]) -> None:
        self.partitions = tuple(partitions)
        self._held: dict[int, deque[tuple[int, Delivery]]] = {p: deque() for p in partitions}

    def add(self, deliveries: Iterable[Delivery]) -> None:
        """Hold fetched events, each behind the earlier ones of its partition."""
        for delivery in deliveries:
            self._held[delivery.partition].append((event_time(delivery.text), delivery))

    @property
    def held(self) -> int:
        """How many events are held (fetched, not handed out)."""
        return sum(len(queue) for queue in self._held.values())

    def empty(self) -> list[int]:
        """The partitions holding nothing: the ones to fetch for."""
        return [p for p in self.partitions if not self._held[p]]

    def take(self, limit: int, idle: Collection[int] = ()) -> list[Delivery]:
        """Up to `limit` events, least event time first, while every partition but the
        `idle` ones holds one (an empty live partition may yet bring an earlier event)."""
        heads = [(q[0][0], p) for p, q in self._held.items() if q]
        heapq.heapify(heads)
        waiting = sum(1 for p in self.partitions if not self._held[p] and p not in idle)
        taken: list[Delivery] = []
        while heads and not waiting and len(taken) < limit:
            _, partition = heapq.heappop(heads)
            queue = self._held[partition]
            taken.append(queue.popleft()[1])
            if queue:
                heapq.heappush(heads, (queue[0][0], partition))
            elif partition not in idle:
                waiting = 1  # its next event may be earlier than any other head
        return taken
