"""A worker's partitions merged in event-time order (`delivery.merge`, issue 16): nothing is
handed out ahead of an event a live partition may still bring, an idle partition holds
nothing, and what comes out is every event once, each partition in its order."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import given

from blacklist_rules.delivery.merge import EventTimeMerge, event_time
from blacklist_rules.delivery.source import Delivery
from blacklist_rules.model.events import to_micros

from .strategies import fetch_sizes, partition_days
from .support import T0


def _delivery(partition: int, day: int, n: int) -> Delivery:
    moment = (T0 + timedelta(days=day)).isoformat()
    text = json.dumps({"event_id": f"{partition}-{n}", "occurred_at": moment})
    return Delivery(text, partition, None)


def _ids(deliveries: list[Delivery]) -> list[str]:
    return [json.loads(d.text)["event_id"] for d in deliveries]


@given(partition_days, fetch_sizes)
def test_the_merge_is_every_event_once_in_event_time_order(
    days: list[list[int]], sizes: list[int]
) -> None:
    """Partitions each in event-time order, fetched a few events at a time (sizes in turn),
    a partition idle once all of it was fetched: what comes out is every event once, in
    event-time order (ties: the lower partition first, then each partition's order), so
    never ahead of an event still to come."""
    queues = [[_delivery(p, day, n) for n, day in enumerate(ds)] for p, ds in enumerate(days)]
    merge = EventTimeMerge(range(len(days)))
    out: list[Delivery] = []
    turn = 0
    while any(queues) or merge.held:
        for p in merge.empty():
            size = sizes[turn % len(sizes)]
            merge.add(queues[p][:size])
            del queues[p][:size]
            turn += 1
        idle = {p for p in merge.empty() if not queues[p]}
        out += merge.take(3, idle)
    expected = sorted((day, p, n) for p, ds in enumerate(days) for n, day in enumerate(ds))
    assert _ids(out) == [f"{p}-{n}" for _, p, n in expected]


def test_an_empty_live_partition_holds_the_others_and_an_idle_one_does_not() -> None:
    """Partition 1 holds nothing: while it is live (its next event may be earlier) nothing
    comes out; idle, partition 0's events come out, at most `limit` of them; an event without
    a readable `occurred_at` comes out as soon as it is a head."""
    merge = EventTimeMerge([0, 1])
    merge.add([_delivery(0, 3, 0), _delivery(0, 5, 1)])
    assert merge.take(10) == []
    assert merge.empty() == [1]
    assert _ids(merge.take(1, idle={1})) == ["0-0"]
    assert merge.held == 1
    merge.add([Delivery("not json", 1, None), _delivery(1, 4, 0)])
    assert [d.text for d in merge.take(1)] == ["not json"]
    assert _ids(merge.take(10)) == ["1-0"]  # then partition 1 is empty and live again
    assert _ids(merge.take(10, idle={1})) == ["0-1"]


def test_event_time_reads_occurred_at_and_puts_the_unreadable_first() -> None:
    """µs of `occurred_at`; text that is not JSON, or has no readable time, sorts first."""
    assert event_time(_delivery(0, 2, 0).text) == to_micros(T0 + timedelta(days=2))
    unreadable = [event_time(t) for t in ("x", "{}", '{"occurred_at": "soon"}', "[1]")]
    assert len(set(unreadable)) == 1
    assert unreadable[0] < to_micros(T0 - timedelta(days=365 * 100))
