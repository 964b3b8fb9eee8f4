"""Mutation-testing gaps in engine/time_order.py (bench/mutation.py, target `time_order`): what
`meet_late` owes beyond the decisions (the blacklist registry when a blacklist falls, the
horizon's edge), each against time order or the documented limit, on the chain pack of
tests/test_late_deadline_chain.py (freeze at s, freeze-again at s + 10d, cancel-later at
s + 20d, blacklist-last at s + 30d; horizon 60d, its longest span)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine, SQLiteStore, load_ruleset
from blacklist_rules.engine.time_order import REDECIDED, UNMET

from .support import DAY, T0, US, event, flag, standing_decisions, write_rule
from .test_late_deadline_chain import CHAIN
from .test_late_deadlines import cause, passed, run, tick

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


def ends(events: list[dict[str, Any]], removed_by: str | None = None) -> tuple[str, bool]:
    """Account a's status and whether its ID number is listed, after `events` in the order
    given; with `removed_by`, each removal from the blacklist in the trail is by that event."""
    with Engine(CHAIN, SQLiteStore(), commit_every=1, max_lead=None) as engine:
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
        if removed_by is not None:
            for r in engine.store.audit_records():
                if r.kind == "blacklist_entry_removed":
                    assert (r.event_id, r.record["by_event"]) == (removed_by, removed_by)
        return str(engine.status("a")), engine.is_blacklisted({"id_number": LI})


@pytest.mark.parametrize(("at", "listed"), [(30 * DAY - US, False), (30 * DAY, True)])
def test_a_late_verification_that_takes_back_a_blacklist_unlists_the_identity(
    at: timedelta, listed: bool
) -> None:
    """blacklist-last fired (the clock at s + 45d) and listed a's verified ID number; a
    verification 1µs before its due time takes it back, so the number leaves the blacklist
    (`registry.sync`, its record by the late event), as in time order, where it never
    entered; one at the due time is too late and the number stays listed."""
    late = [verified(), cause("verification"), tick(45 * DAY), passed(at)]
    timed = [verified(), cause("verification"), passed(at), tick(45 * DAY)]
    status = "blacklisted" if listed else "cancelled"
    assert ends(late, removed_by="pass") == ends(timed) == (status, listed)


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


WATCH_HEAD = """\
version: 1
basis: Test basis.
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""
WATCH = {
    "failed": "id: freeze-failed\ndescription: d\n" + WATCH_HEAD + "on: identity_verification\n"
    "when: {status: failed}\nthen: {action: freeze, duration: 1d, reason: Failed.}\n",
    "window": "id: freeze-two-rumours\ndescription: d\n" + WATCH_HEAD + "on: rumor_flag\n"
    "window: {count: 2, within: 60d}\nthen: {action: freeze, duration: 5d, reason: Two.}\n",
    "prior": "id: watch-after-failed\ndescription: d\n" + WATCH_HEAD + "on: rumor_flag\n"
    "mode: shadow\nwhen: {content_id: {matches: 'r[0-9]+'}}\n"
    "prior: {action: freeze, count: 1, within: 30d, rules: [freeze-failed]}\n"
    "then: {action: cancel, reason: A rumour after a failed verification.}\n",
    "authority": "id: freeze-authority\ndescription: d\n" + WATCH_HEAD + "on: rumor_flag\n"
    "when: {source: authority_notice}\nthen: {action: freeze, duration: 1d, reason: Notice.}\n",
}
"""A window rule, a shadow `prior:` rule counting freezes of a failed verification (with a
pattern: a snapshot read again must carry the pattern's result), and a plain rule, all on
rumour flags: a late failed verification changes what the `prior:` rule sees of later flags
(`time_order._again`)."""


@pytest.fixture(scope="module")
def watch(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The `WATCH` pack, loaded once."""
    folder = tmp_path_factory.mktemp("watch")
    for name, text in WATCH.items():
        write_rule(folder, name, text)
    return load_ruleset(folder)


def standing(events: list[dict[str, Any]], ruleset: Any) -> tuple[tuple[Any, ...], ...]:
    """Account a's standing decisions after `events` in the order given, evidence included
    (`support.standing_decisions`)."""
    with Engine(ruleset, SQLiteStore(), commit_every=1, max_lead=None) as engine:
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
        return standing_decisions(engine, ("a",))


def test_a_window_match_is_kept_when_its_flag_is_decided_again(watch: Any) -> None:
    """Two flags (the second completes the window: an enforced freeze), then a failed
    verification from before them: the second flag is decided again (the `prior:` rule now
    holds, in shadow), and its window match is kept as it was, with its evidence (both flags),
    so the enforced freeze stands as in time order; in every arrival order."""
    events = [flag(DAY, "r1"), flag(2 * DAY, "r2"), cause("verification")]
    timed = standing(sorted(events, key=lambda e: e["occurred_at"]), watch)
    window = ("freeze-two-rumours",)
    assert ("a", "enforce", "freeze", *window, window) in [d[:5] for d in timed]
    assert [d[6] for d in timed if d[3] == window[0]] == [("r1", "r2")]
    for order in itertools.permutations(events):
        assert standing(list(order), watch) == timed, [e["event_id"] for e in order]


@pytest.mark.parametrize(("at", "reasons"), [(30 * DAY - US, (REDECIDED,)), (30 * DAY, ())])
def test_a_flag_the_late_decision_does_not_change_is_not_decided_again(
    watch: Any, at: timedelta, reasons: tuple[str, ...]
) -> None:
    """A notice flag (a plain freeze) at s + `at`, then a failed verification at s: 1µs inside
    the `prior:` rule's 30 days the flag is decided again (its freeze reversed and taken
    again, with the shadow cancel); at 30 days the rule's count is unchanged, so nothing is
    reversed: the flag's decision stands as it was."""
    events = [flag(at, "r1", "authority_notice"), cause("verification")]
    assert run(events, watch).reversals == reasons


EXEMPTING = (
    "id: freeze-two-rumours-unless-official\ndescription: d\n" + WATCH_HEAD + "on: rumor_flag\n"
    "window: {count: 2, within: 7d}\nunless_listed: [official]\n"
    "then: {action: freeze, duration: 2d, reason: Two rumours in a week.}\n"
)
"""A window rule with `unless_listed`, alone in its pack: the horizon is its 7 days."""


def test_a_window_match_older_than_the_horizon_is_kept_after_a_late_list_change(
    tmp_path: Path,
) -> None:
    """Two flags on days 0 and 1 (a freeze), the clock on day 30, then a late `remove` from
    the list on day 0.5 (a was never on it): the flag of day 1 is read again (a list change
    reaches back to the history cut), its window is not (older than the horizon), so its match
    is kept: the freeze stands, as in time order; in every arrival order where the flags come
    before the clock (a flag that comes more than the horizon late is another matter)."""
    ruleset = load_ruleset(write_rule(tmp_path, "exempting", EXEMPTING))
    change = event("list_update", "a", DAY / 2, "off", list="official", op="remove", reason="r")
    events = [flag(timedelta(0), "r1"), flag(DAY, "r2"), tick(30 * DAY), change]
    timed = run(sorted(events, key=lambda e: e["occurred_at"]), ruleset)
    assert [d[2] for d in timed.final.decisions] == ["freeze-two-rumours-unless-official"]
    for order in itertools.permutations(events):
        ids = [e["event_id"] for e in order]
        if ids.index("tick") > max(ids.index("r1"), ids.index("r2")):
            assert run(list(order), ruleset).final == timed.final, ids


DISTINCT = (
    "id: freeze-two-contents-unless-official\ndescription: d\n" + WATCH_HEAD + "on: rumor_flag\n"
    "window: {count: 2, distinct: content_id, within: 7d}\nunless_listed: [official]\n"
    "then: {action: freeze, duration: 2d, reason: Two contents in a week.}\n"
)
"""A window rule with `unless_listed` counting distinct contents."""


@pytest.mark.parametrize(("second", "frozen"), [("c2", True), ("c1", False)])
def test_a_distinct_window_read_again_counts_the_flags_own_content(
    tmp_path: Path, second: str, frozen: bool
) -> None:
    """Flags on days 0 and 1, the clock on day 5 (within the 7-day horizon), then a late
    `remove` on day 0.5: the flag of day 1 is decided again from its window read again, its
    own content among the distinct values: two contents freeze (the freeze stands), the same
    content twice does not; as in time order."""
    ruleset = load_ruleset(write_rule(tmp_path, "distinct", DISTINCT))
    change = event("list_update", "a", DAY / 2, "off", list="official", op="remove", reason="r")
    first = flag(timedelta(0), "r1") | {"content_id": "c1"}
    events = [first, flag(DAY, "r2") | {"content_id": second}, tick(5 * DAY), change]
    late = standing(events, ruleset)
    assert late == standing(sorted(events, key=lambda e: e["occurred_at"]), ruleset)
    assert [d[3] for d in late] == (["freeze-two-contents-unless-official"] if frozen else [])


def test_a_reversal_in_time_order_is_recorded_at_the_late_event() -> None:
    """The chain's blacklist (s + 30d) taken back by a verification at s + 25d that comes
    last: its reversal record names the decision, the cascade, the late event and the reason,
    dated at the late event's time (not the decision's); the status change it causes says the
    cascade did it, by that event, at that time."""
    events = [cause("verification"), tick(45 * DAY), passed(25 * DAY)]
    with Engine(CHAIN, SQLiteStore(), commit_every=1, max_lead=None) as engine:
        for outcome in engine.run(events):
            assert outcome.accepted, outcome
        blacklist = next(d for d in engine.decisions("a") if d.rule_id == "blacklist-last")
        trail = [r for r in engine.store.audit_records() if r.event_id == "pass"]
    at = (T0 + 25 * DAY).isoformat()
    reversal = next(r for r in trail if r.kind == "reversal")
    assert (reversal.decision_id, reversal.occurred_at) == (blacklist.decision_id, at)
    assert reversal.record == {
        "decision_id": blacklist.decision_id,
        "by": "cascade",
        "by_event": "pass",
        "reason": UNMET,
    }
    change = next(r for r in trail if r.kind == "status_change")
    assert change.occurred_at == at
    assert {k: change.record[k] for k in ("status_before", "status_after", "cause", "at")} == {
        "status_before": "blacklisted",
        "status_after": "cancelled",
        "cause": "cascade",
        "at": at,
    }
    assert change.record["event_id"] == "pass"


ACTIVE = (
    "id: freeze-report-while-active\ndescription: d\n"
    + WATCH_HEAD
    + "on: impersonation_report\nwhen: {account.status: active}\n"
    "then: {action: freeze, duration: 1d, reason: A report on an active account.}\n"
)
"""A rule reading `account.status`, added to the chain pack."""


def test_a_late_event_that_only_reverses_decides_later_events_again(tmp_path: Path) -> None:
    """The chain fired (the clock at s + 45d), two reports at s + 40d found the account
    blacklisted, then a verification at s + 5d takes the whole chain back: it decides nothing
    itself, its reversals are what changed the account's past, so the reports are decided again
    from then, in time order (one moment: by event id), active at their time, as in time
    order."""
    chain = Path(__file__).parent / "rulepacks" / "deadline_chain"
    for rule in chain.glob("*.yaml"):
        write_rule(tmp_path, rule.stem, rule.read_text(encoding="utf-8"))
    ruleset = load_ruleset(write_rule(tmp_path, "active", ACTIVE))
    reports = [  # (one moment: ordered by id)
        event("impersonation_report", "a", 40 * DAY, name, reporter_id=name, confirmed=False)
        for name in ("p1", "p2")
    ]
    events = [cause("verification"), tick(45 * DAY), *reports, passed(5 * DAY)]
    late = standing(events, ruleset)
    assert late == standing(sorted(events, key=lambda e: e["occurred_at"]), ruleset)
    assert "freeze-report-while-active" in [d[3] for d in late]
