"""Exemption lists in rules (`unless_listed: [official]`): the test each list adds to a rule's
condition, so that durable-rules, the guards, traces and why-not all see it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from blacklist_rules.errors import RuleFileError

from .conditions import All, Compare, Condition
from .loader import RuleSource

LISTED = "listed."
"""Snapshot keys `listed.NAME`: whether the account is on the list NAME at the event's time."""


def listed_key(name: str) -> str:
    return LISTED + name


def with_unless_listed(
    condition: Condition | None, names: Sequence[str] | None
) -> Condition | None:
    """The condition and, per list, `listed.NAME eq false` (an account on it is not decided)."""
    if not names:
        return condition
    tests = tuple(
        Compare(listed_key(name), "eq", False, ("unless_listed", index))
        for index, name in enumerate(names)
    )
    items = tests if condition is None else (condition, *tests)
    return items[0] if len(items) == 1 else All(items, ("unless_listed",))


def check_unless_listed(rule: RuleSource) -> Iterator[RuleFileError]:
    """`unless_listed` is for rules on events: a deadline rule has no event to read lists at."""
    if rule.spec.unless_listed and rule.spec.deadline is not None:
        yield rule.error(
            ("unless_listed",),
            "E-LISTED",
            "a deadline rule cannot use `unless_listed`",
            "exempt the accounts in the rules whose decisions start the deadline",
        )
