"""Account history: window counts over event time, as a property of the set of events.

A window "N events within T" holds at time t when N of the stream's events lie in (t - T, t]:
less than T apart. Counts depend on which events exist, never on the order they came in. When
an event arrives late, the windows of later events that now include it may reach N for the
first time: those are the moments a rule would have fired had the events come in time order,
and `late_firings` finds them, so a late event decides what an in-order one would have.

These are the plain definitions, reading every row of a window: the engine asks the same
questions of `windows.StreamWindow`, which reads only the rows that settle them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import attrs

Row = tuple[int, str, object]
"""One event of a stream: (time in µs, event id, value of the distinct field or None); the
plain definitions below take any such tuple, a `HistoryRow` among them."""


class HistoryRow(NamedTuple):
    """One event of a stream as `HistoryStore` reads it back. A named tuple rather than an
    attrs class: windows read rows by the page on the hot path, and a row is still the `Row`
    the plain definitions take (and compares equal to its tuple)."""

    at_us: int
    event_id: str
    value: object
    """The value of the stream's distinct field (None: none)."""


def in_window(rows: Iterable[Row], end_us: int, span_us: int) -> list[Row]:
    """The rows with end - span < time <= end."""
    return [row for row in rows if end_us - span_us < row[0] <= end_us]


def count(rows: Iterable[Row], end_us: int, span_us: int, distinct: bool) -> int:
    """Events (or distinct non-null values) in the window ending at `end_us`."""
    inside = in_window(rows, end_us, span_us)
    if not distinct:
        return len(inside)
    return len({row[2] for row in inside if row[2] is not None})


@attrs.frozen
class Firing:
    """A moment after the late event when a window reached its count for the first time."""

    at_us: int
    event_id: str
    """The event at that moment: the one whose window the late event completed."""
    value: object = attrs.field(default=None, eq=False)
    """That event's value of the distinct field (its account, for a window `by` identity)."""


def late_firings(
    rows: Sequence[Row], late: Row, span_us: int, needed: int, distinct: bool
) -> list[Firing]:
    """Later moments whose window holds only now that `late` is in it.

    `rows` holds the stream's events around the late one (it included). Only events after it
    and less than a span later can have it in their window.
    """
    without = [row for row in rows if row[1] != late[1]]
    found: dict[int, Firing] = {}
    for at_us, event_id, _value in rows:
        if at_us <= late[0] or at_us - span_us >= late[0] or at_us in found:
            continue
        if (
            count(rows, at_us, span_us, distinct)
            >= needed
            > count(without, at_us, span_us, distinct)
        ):
            found[at_us] = Firing(at_us, event_id)
    return sorted(found.values(), key=lambda firing: firing.at_us)
