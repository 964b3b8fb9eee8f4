"""Named lists of accounts (`list_update` events, `unless_listed:`): the store concern that
keeps each account's changes in event time, and who is on which list at a time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

import attrs

ListOp = Literal["add", "remove"]


@attrs.frozen
class ListChange:
    """One change of an account's lists: `op` on `list` at `occurred_us` (event time), by
    the event `event_id`."""

    list: str
    op: ListOp
    occurred_us: int
    event_id: str


class Lists(Protocol):
    """Each account's list changes, kept in event time whatever order they came in."""

    def add_list_change(
        self, account_id: str, list_name: str, op: ListOp, occurred_us: int, event_id: str
    ) -> None:
        """Keep one change (a resent one, the same event id at the same time, once)."""

    def list_changes(self, account_id: str, until_us: int | None = None) -> list[ListChange]:
        """The account's changes at or before `until_us` (None: all), by (time, event id)."""


def on_lists(changes: Iterable[ListChange], at_us: int) -> frozenset[str]:
    """The lists an account is on at `at_us`: those whose last change at or before then (in
    (time, event id) order) added it. A change at the very moment counts."""
    last: dict[str, ListOp] = {}
    for change in sorted(changes, key=lambda c: (c.occurred_us, c.event_id)):
        if change.occurred_us <= at_us:
            last[change.list] = change.op
    return frozenset(name for name, op in last.items() if op == "add")
