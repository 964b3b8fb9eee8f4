"""List changes are account state: a history purge keeps them (their `list_update` events go
as other settled events do), and the reversal cascade's scratch world, seeded at the history
cut, sees the lists set before it (issue 18). On every store behind an `Engine`."""

from __future__ import annotations

from pathlib import Path

from blacklist_rules import Engine, load_ruleset
from blacklist_rules.stores.protocols import Store
from tests.support import T0, event, write_rule
from tests.test_cascade import DAY, overturn
from tests.test_lists import EXEMPT, report, update

FREEZE_ANY_RUMOUR = """\
id: freeze-any-rumour
version: 1
description: Any malicious rumour freezes for a day.
basis: Test basis.
on: rumor_flag
when: {verdict: rumor}
then: {action: freeze, duration: 1d, reason: A rumour.}
dsa: {category: STATEMENT_CATEGORY_SCAMS_AND_FRAUD, ground: incompatible, reference: t}
"""


def _rumour(account: str, day: int, event_id: str) -> dict[str, object]:
    return event(
        "rumor_flag",
        account,
        day * DAY,
        event_id,
        content_id=f"c-{event_id}",
        verdict="rumor",
        source="fact_check",
    )


def test_a_cascade_after_a_purge_sees_the_lists_set_before_the_cut(
    store: Store, tmp_path: Path
) -> None:
    """a goes on `official` on day 10; a rumour on day 290 freezes it; a confirmed report
    on day 300 is exempt. The history before day 250 is purged (the day-10 list update's
    event with it, its change kept), then the freeze is overturned: the replay from day 290
    on still finds a on the list, so the report stays undecided, and nothing else is taken."""
    folder = write_rule(tmp_path / "p", "exempt", EXEMPT)
    write_rule(folder, "rumour", FREEZE_ANY_RUMOUR)
    store.now = lambda: T0 + 1000 * DAY  # the wall clock the retention counts on
    with Engine(load_ruleset(folder), store, max_lead=None) as engine:
        engine.process(update("a", 10 * DAY, "u1", "add"))
        (freeze,) = engine.process(_rumour("a", 290, "s1")).decisions
        assert engine.process(report("a", 300 * DAY, "p1")).decisions == ()
        engine.advance_to(T0 + 430 * DAY)
        with store.begin():  # (the pack has no window: a day's reach, as if it had)
            store.note_horizon(86_400_000_000)
        assert store.purge_history(T0 + 250 * DAY).removed == 1  # u1's event
        assert store.event_rows(["u1"]) == []
        assert [c.event_id for c in store.list_changes("a")] == ["u1"]  # account state
        outcome = engine.process(overturn("a", 431 * DAY, "ap", freeze.decision_id))
        assert outcome.rejection is None
        assert outcome.decisions == ()
        assert engine.standing("a") == []
        assert engine.status("a") == "active"
        assert engine.process(report("a", 432 * DAY, "p2")).decisions == ()  # still listed
