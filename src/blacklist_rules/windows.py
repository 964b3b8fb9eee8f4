"""Window counts read from the store a few rows at a time, never a whole window per event.

Why (issue 14, finding 5): counting a window by reading all its rows made each event cost
O(events in the window), and a late event O(window²): 25.6 ms an event at 20,000 events in one
account's window, 116 s for one late event. A rule only asks whether a window holds N events
(or N distinct values), so each question here reads at most what settles it:

- `StreamWindow.count` stops at a cap, the largest N any rule asks of the feature: a plain
  count is one LIMIT query over the history index, O(log n + N). A distinct count races two
  reads, the window's rows newest first (a page at a time) and the group's distinct values (one
  index seek each, then one to see if the value is in the window), and stops at the cap or when
  either read is exhausted: a few queries whether the values all differ or all repeat.
- The exact count (a decision's trace and its notice show it) and the window's events (a
  decision's evidence) are read only when a decision is taken (`exact`, `WindowEvidence`).
- `StreamWindow.late_firings` looks only at the events after a late one that can still be
  below the count without it: for a plain count at most N - 1 of them.

The counts and firings are those of `model/history.py`'s plain definitions, which the tests compare
these with over random event sets, spans, counts and arrival orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence

import attrs

from .model.history import Firing, HistoryRow, Row, count
from .pack.compiler import CompiledRule, CompiledRuleset
from .stores.protocols import HistoryStore

_PAGE = 64
"""Rows read a page at a time, at most (the first pages are smaller: most questions are
settled by the newest few rows)."""


def _page_sizes() -> Iterator[int]:
    size = 16
    while True:
        yield size
        size = min(size * 2, _PAGE)


Live = Callable[[object], bool]
"""For windows grouped by an identity value: does the account (the row's value) still count?"""


def feature_caps(ruleset: CompiledRuleset) -> dict[str, int]:
    """Per window feature: the largest count a rule asks of it (counting further tells no rule
    anything new)."""
    caps: dict[str, int] = {}
    for rule in ruleset.rules:
        if rule.window is not None:
            key = rule.window.key
            caps[key] = max(caps.get(key, 0), rule.window.count)
    return caps


@attrs.frozen
class StreamWindow:
    """One stream's history for one group (an account, or an identity value's fingerprint)."""

    store: HistoryStore
    stream: str
    group: str
    distinct: bool
    live: Live | None
    fed: Row
    """The row the event being processed added."""

    def count(self, at_us: int, span_us: int, cap: int, without: str | None = None) -> int:
        """Events (or distinct non-null values) with at - span < time <= at, but the event
        `without`, counted up to `cap`."""
        low = at_us - span_us
        if not self.distinct and self.live is None:
            return self.store.history_count(self.stream, self.group, low, at_us, cap, without)
        if not self.distinct:
            return min(cap, sum(1 for row in self._back(low, at_us, without) if self._counts(row)))
        return min(len(self._values(low, at_us, cap, without)), cap)

    def exact(self, at_us: int, span_us: int) -> int:
        """The whole count: for a decision's trace, when the capped count may fall short."""
        return count(self.rows(at_us, span_us), at_us, span_us, self.distinct)

    def rows(self, at_us: int, span_us: int) -> list[HistoryRow]:
        """The window's rows that count, in time order."""
        found = self.store.history(self.stream, self.group, at_us - span_us, at_us + 1)
        return [row for row in found if self._counts(row)]

    def events(self, at_us: int, span_us: int) -> tuple[str, ...]:
        """The ids of the window's events: a window decision's evidence."""
        return tuple(row.event_id for row in self.rows(at_us, span_us))

    def has_after(self, at_us: int) -> bool:
        """Is there a row later than `at_us`?"""
        return bool(self.store.history_page(self.stream, self.group, (at_us, None), _END, 1))

    def late_firings(self, span_us: int, needed: int) -> list[Firing]:
        """The later moments whose window holds only now that the event's row (`fed`, a late
        one) is in it: `history.late_firings`, which reads the whole window at every moment
        less than a span after it."""
        if not self.distinct:
            return self._late_counted(span_us, needed)
        if self.fed[2] is None:
            return []  # it adds no value to any window
        return self._late_distinct(span_us, needed)

    def _late_counted(self, span_us: int, needed: int) -> list[Firing]:
        """A moment t after the late event and less than a span later has every row of
        (late, t] in its window: past the first `needed` rows after it, none needs it."""
        at_us = self.fed[0]
        found: list[Firing] = []
        last: int | None = None
        for index, (moment, event_id, value) in enumerate(self._forward(at_us, at_us + span_us)):
            if moment != last:
                if index >= needed:
                    break
                last = moment
                if self._completed(moment, span_us, needed):
                    found.append(Firing(moment, event_id, value))
        return found

    def _late_distinct(self, span_us: int, needed: int) -> list[Firing]:
        """At a moment t the window without the late row holds the values of (late, t], which
        only grow with t, and those of (t - span, late), which only leave: its count f rises
        only at a new value after the late row and falls only when an earlier row leaves.
        The late row completes the window where f = needed - 1 and its value is not among
        them. So past a moment where f >= needed, the next one to look at is the next
        departure; past one where f is lower (or the late value is among them: it too must
        leave, taking f down with it), the next new value. No later moment can need the late
        row once (late, t] alone holds `needed` values, or its value."""
        at_us, late_id, late_value = self.fed
        end_us = at_us + span_us
        found: list[Firing] = []
        row = self._first_from(at_us + 1, end_us)
        while row is not None:
            moment = row.at_us
            after = self._values(at_us, moment, needed, late_id)
            if late_value in after or len(after) >= needed:
                break
            with_it = self.count(moment, span_us, needed)
            without = self.count(moment, span_us, needed, late_id)
            if with_it >= needed > without:
                # Named by its first event (a new value may have led here past others).
                first = self._first_from(moment, moment + 1) or row
                found.append(Firing(moment, first.event_id, first.value))
                row = self._first_from(moment + 1, end_us)
            elif without >= needed:
                left = self._next_departure(moment, span_us)
                row = None if left is None else self._first_from(max(left, moment + 1), end_us)
            else:
                row = self._next_new(moment, end_us, after)
        return found

    def _completed(self, at_us: int, span_us: int, needed: int) -> bool:
        """Does the window at `at_us` hold with the late row, and not without it?"""
        without = self.count(at_us, span_us, needed, self.fed[1])
        return self.count(at_us, span_us, needed) >= needed > without

    # --- reads --------------------------------------------------------------------------
    def _values(self, low_us: int, at_us: int, cap: int, without: str | None) -> set[object]:
        """The distinct values of the rows that count with low < time <= at, but `without`:
        all of them, or `cap` or more. Two reads race, the rows newest first and the group's
        distinct values, until the cap or until either is exhausted."""
        found: set[object] = set()
        if cap <= 0:
            return found
        values: Iterator[object] | None = None  # (read only past a full first page)
        for page, last in self._back_pages(low_us, at_us, without):
            found.update([row.value for row in page if row.value is not None])
            if last:
                break  # every row read: `found` is the window's values
            values = values or self._values_in(low_us, at_us, without)
            value = next(values, _DONE)
            if value is _DONE:
                break  # every value of the group tried: the same
            if value is not _SKIP:
                found.add(value)
            if len(found) >= cap:
                break
        return found

    def _first_from(self, from_us: int, before_us: int) -> HistoryRow | None:
        """The first row that counts with from <= time < before."""
        return next(self._forward(from_us - 1, before_us), None)

    def _next_departure(self, at_us: int, span_us: int) -> int | None:
        """When the oldest row before the late one (`fed`) in the window at `at_us` leaves
        it: its time plus the span."""
        late_us, late_id, _value = self.fed
        for row in self._forward(at_us - span_us, late_us + 1):
            if row.event_id != late_id:
                return row.at_us + span_us
        return None

    def _next_new(self, after_us: int, before_us: int, known: set[object]) -> HistoryRow | None:
        """The first row with after < time < before whose value is not in `known`."""
        return self.store.history_first_other(
            self.stream, self.group, after_us, before_us, list(known)
        )

    def _counts(self, row: HistoryRow) -> bool:
        return self.live is None or self.live(row.value)

    def _forward(self, after_us: int, before_us: int) -> Iterator[HistoryRow]:
        """Rows with after < time < before that count, in time order, a page at a time."""
        key: tuple[int, str | None] = (after_us, None)
        for size in _page_sizes():
            page = self.store.history_page(self.stream, self.group, key, before_us, size)
            yield from (row for row in page if self._counts(row))
            if len(page) < size:
                return
            key = (page[-1].at_us, page[-1].event_id)

    def _back_pages(
        self, low_us: int, at_us: int, without: str | None
    ) -> Iterator[tuple[list[HistoryRow], bool]]:
        """Rows with low < time <= at that count, but `without`, newest first, by pages;
        each page says whether it is the last."""
        key: tuple[int, str | None] = (at_us, None)
        for size in _page_sizes():
            page = self.store.history_page(
                self.stream, self.group, key, low_us, size, newest_first=True
            )
            last = len(page) < size
            live = self.live  # (as `_counts`, without a call a row)
            yield (
                [
                    row
                    for row in page
                    if row.event_id != without and (live is None or live(row.value))
                ],
                last,
            )
            if last:
                return
            key = (page[-1].at_us, page[-1].event_id)

    def _back(self, low_us: int, at_us: int, without: str | None) -> Iterator[HistoryRow]:
        for page, _last in self._back_pages(low_us, at_us, without):
            yield from page

    def _values_in(self, low_us: int, at_us: int, without: str | None) -> Iterator[object]:
        """The group's distinct values that some counting row in the window has, in value
        order, one index seek (and one window probe) each."""
        value = self.store.history_next_value(self.stream, self.group, None)
        while value is not None:
            if (self.live is None or self.live(value)) and self.store.history_has_value(
                self.stream, self.group, value, low_us, at_us, without
            ):
                yield value
            else:
                yield _SKIP
            value = self.store.history_next_value(self.stream, self.group, value)


_END = 2**63 - 1
"""Later than any event time (µs)."""


class _Marker:
    pass


_DONE = _Marker()
_SKIP = _Marker()
"""A value outside the window: a step of the race that found nothing."""


class WindowEvidence(MutableMapping[str, tuple[str, ...]]):
    """Per rule, a decision's evidence: for window rules the events in the window at the
    moment, read from the store only when a decision asks for them."""

    def __init__(
        self, rules: Sequence[CompiledRule], windows: Mapping[str, StreamWindow], at_us: int
    ) -> None:
        self._known: dict[str, tuple[str, ...]] = {}
        self._pending = {
            rule.id: (windows[rule.window.stream], rule.window.span_us)
            for rule in rules
            if rule.window is not None and rule.window.stream in windows
        }
        self._at_us = at_us

    def __getitem__(self, rule_id: str) -> tuple[str, ...]:
        if rule_id not in self._known and rule_id in self._pending:
            window, span_us = self._pending[rule_id]
            self._known[rule_id] = window.events(self._at_us, span_us)
        return self._known[rule_id]

    def __setitem__(self, rule_id: str, events: tuple[str, ...]) -> None:
        self._known[rule_id] = events

    def __delitem__(self, rule_id: str) -> None:
        self._known.pop(rule_id, None)
        self._pending.pop(rule_id, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._pending), **dict.fromkeys(self._known)})

    def __len__(self) -> int:
        return len(set(self._pending) | set(self._known))

    def settle(self) -> None:
        """Read every pending window now (before something changes the history)."""
        for rule_id in list(self._pending):
            self[rule_id]
