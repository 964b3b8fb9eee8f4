"""The data behind the diff report's chart, typed: per day (UTC, none skipped) and side, the
enforced decisions by action, and the running severity that makes a stricter pack plot higher."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from itertools import accumulate
from math import ceil
from typing import Any

import attrs

from blacklist_rules.model.decisions import Action

SIDES = ("baseline", "candidate")
ACTIONS = tuple(Action)
"""In order of severity: freeze, cancel, blacklist (the order the bars are stacked in)."""
MAX_BARS = 120
"""Past this many days, bars count spans of several days (each still on the axis): a bar
per day of a two-year replay would be thinner than a pixel."""


@attrs.frozen
class Series:
    """Enforced decisions per day: `counts[side][action][i]` on `days[i]`."""

    days: tuple[date, ...]
    counts: Mapping[str, Mapping[Action, tuple[int, ...]]]
    span: int = 1
    """Days each entry counts (from its day on): 1, or more once `binned`."""

    @classmethod
    def from_per_day(cls, per_day: Sequence[Mapping[str, Any]]) -> Series:
        """From a replay report's `per_day` (every day present, see `replay.per_day`)."""
        return cls(
            days=tuple(date.fromisoformat(row["date"]) for row in per_day),
            counts={
                side: {
                    action: tuple(int(row["actions"][side][action]) for row in per_day)
                    for action in ACTIONS
                }
                for side in SIDES
            },
        )

    def decisions(self, side: str) -> tuple[int, ...]:
        """Enforced decisions per day, every action."""
        return tuple(map(sum, zip(*self.counts[side].values(), strict=True)))

    def severity(self, side: str) -> tuple[int, ...]:
        """Severity per day: freeze 1, cancel 2, blacklist 3 for each decision."""
        weighted = [[action.severity * n for n in self.counts[side][action]] for action in ACTIONS]
        return tuple(map(sum, zip(*weighted, strict=True)))

    def cumulative_severity(self, side: str) -> tuple[int, ...]:
        """The running total of `severity`: what the chart's lower panel plots."""
        return tuple(accumulate(self.severity(side)))

    def binned(self, most: int = MAX_BARS) -> Series:
        """The same decisions in at most `most` consecutive spans of equal length from the
        first day (the last may be shorter), each named by its first day."""
        span = max(1, ceil(len(self.days) / most)) * self.span
        if span == self.span:
            return self
        step = span // self.span
        return Series(
            days=self.days[::step],
            counts={
                side: {
                    action: tuple(sum(counts[at : at + step]) for at in range(0, len(counts), step))
                    for action, counts in by_action.items()
                }
                for side, by_action in self.counts.items()
            },
            span=span,
        )
