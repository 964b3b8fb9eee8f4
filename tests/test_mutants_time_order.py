"""Mutation-testing gaps in engine/time_order.py (bench/mutation.py, target `time_order`): what
`meet_late` owes beyond the decisions (the blacklist registry when a blacklist falls, the
horizon's edge), each against time order or the documented limit, on the chain pack of
tests/test_late_deadline_chain.py (freeze at s, freeze-again at s + 10d, cancel-later at
s + 20d, blacklist-last at s + 30d; horizon 60d, its longest span)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from blacklist_rules import Engine, SQLiteStore

from .support import DAY, US, event
from .test_late_deadline_chain import CHAIN
from .test_late_deadlines import cause, passed, tick

LI = "360426199101010071"  # python-stdnum's documented valid number
HORIZON = 60 * DAY
"""The chain pack's horizon: its longest span (`freeze-rumours`' 60-day window)."""


def verified() -> dict[str, Any]:
    """Account a registers at s - 1d with an ID number that passes verification: a blacklist
    of a lists that number."""
    return event(
        "registration",
        "a",
        -DAY,
        "reg",
        identity={"id_number": LI},
        verification={"status": "passed"},
    )


def ends(events: list[dict[str, Any]]) -> tuple[str, bool]:
    """Account a's status and whether its ID number is listed, after `events` in the order
    given."""
    with Engine(CHAIN, SQLiteStore(), commit_every=1, max_lead=None) as engine:
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
        return str(engine.status("a")), engine.is_blacklisted({"id_number": LI})


@pytest.mark.parametrize(("at", "listed"), [(30 * DAY - US, False), (30 * DAY, True)])
def test_a_late_verification_that_takes_back_a_blacklist_unlists_the_identity(
    at: timedelta, listed: bool
) -> None:
    """blacklist-last fired (the clock at s + 45d) and listed a's verified ID number; a
    verification 1µs before its due time takes it back, so the number leaves the blacklist
    (`registry.sync`), as in time order, where it never entered; one at the due time is too
    late and the number stays listed."""
    late = [verified(), cause("verification"), tick(45 * DAY), passed(at)]
    timed = [verified(), cause("verification"), passed(at), tick(45 * DAY)]
    status = "blacklisted" if listed else "cancelled"
    assert ends(late) == ends(timed) == (status, listed)


@pytest.mark.parametrize(
    ("behind", "met"), [(HORIZON - US, True), (HORIZON, True), (HORIZON + US, False)]
)
def test_a_late_event_meets_fired_deadlines_up_to_the_horizon(behind: timedelta, met: bool) -> None:
    """A verification at s + 5d that comes when the clock is `behind` ahead of it: up to the
    horizon (the edge included) it meets freeze-again and the chain is taken back (active);
    1µs further it meets none, the documented limit (its rows may be pruned): blacklisted."""
    at = 5 * DAY
    events = [cause("verification"), tick(at + behind), passed(at)]
    assert ends(events)[0] == ("active" if met else "blacklisted")
