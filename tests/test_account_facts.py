"""Account facts: `account.status` just before an event in event time and `account.age` since
the first registration, compared with durations (issue 18, item 3)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, RuleLoadError, load_ruleset, why_not
from blacklist_rules.cli import main

from .support import RUMOR_FREEZE_30D, event, write_rule

US = timedelta(microseconds=1)
WEEK = timedelta(days=7)

YOUNG = """\
id: freeze-young-rumour
version: 1
description: A rumour from an account younger than a week.
basis: Test basis.
on: rumor_flag
when:
  all:
    - verdict: rumor
    - account.age: {OP: 7d}
then: {action: freeze, duration: 1d, reason: Young account.}
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""

WHILE_FROZEN = """\
id: cancel-report-while-frozen
version: 1
description: An impersonation report confirmed while the account is frozen.
basis: Test basis.
on: impersonation_report
when:
  all:
    - confirmed: true
    - account.status: frozen
then: {action: cancel, reason: Impersonation while frozen.}
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def registration(account: str, at: timedelta) -> dict[str, object]:
    return event("registration", account, at, f"reg-{account}-{at.total_seconds()}")


def rumour(account: str, at: timedelta, event_id: str, verdict: str = "rumor") -> dict[str, object]:
    return event(
        "rumor_flag",
        account,
        at,
        event_id,
        content_id="c",
        verdict=verdict,
        source="fact_check",
    )


def report(account: str, at: timedelta, event_id: str) -> dict[str, object]:
    return event("impersonation_report", account, at, event_id, reporter_id="r", confirmed=True)


@pytest.mark.parametrize(
    ("op", "age", "held"),
    [
        ("lt", WEEK - US, True),
        ("lt", WEEK, False),
        ("lte", WEEK, True),
        ("lte", WEEK + US, False),
        ("gt", WEEK, False),
        ("gt", WEEK + US, True),
        ("gte", WEEK, True),
        ("gte", WEEK - US, False),
    ],
)
def test_account_age_boundaries(tmp_path: Path, op: str, age: timedelta, held: bool) -> None:
    """`account.age` compared with `7d` at exactly 7 days and one microsecond either side;
    the prefilter off too (durable-rules must agree with the guards)."""
    folder = write_rule(tmp_path / "p", "r", YOUNG.replace("OP", op))
    for prefilter in (True, False):
        with Engine.from_path(folder, prefilter=prefilter) as engine:
            engine.process(registration("a", timedelta(0)))
            decisions = engine.process(rumour("a", age, "f1")).decisions
            assert bool(decisions) is held


def test_account_age_is_absent_without_a_registration_and_counts_from_the_first(
    tmp_path: Path,
) -> None:
    """No registration: `account.age` is absent (`lt` false). Several: counted from the
    first at or before the event; one after the event does not count."""
    folder = write_rule(tmp_path / "p", "r", YOUNG.replace("OP", "lt"))
    with Engine.from_path(folder, prefilter=False) as engine:
        assert engine.process(rumour("a", timedelta(days=1), "f1")).decisions == ()
        engine.process(registration("b", timedelta(days=0)))
        engine.process(registration("b", timedelta(days=5)))
        assert engine.process(rumour("b", timedelta(days=8), "f2")).decisions == ()
        engine.process(registration("c", timedelta(days=20)))
        (decision,) = engine.process(rumour("c", timedelta(days=21), "f3")).decisions
        assert decision.matched[0].conditions[1].seen == timedelta(days=1) // US


def test_account_status_is_the_status_just_before_the_event_in_event_time(
    tmp_path: Path,
) -> None:
    """Frozen for 30 days by a malicious rumour: a report during the freeze sees `frozen`;
    one at the freeze's very moment, or after it expired, sees `active`; a late report
    (behind the clock) from before the freeze sees `active` though the account is frozen
    now."""
    folder = write_rule(tmp_path / "p", "freeze", RUMOR_FREEZE_30D)
    write_rule(folder, "cancel", WHILE_FROZEN)
    day = timedelta(days=1)
    with Engine.from_path(folder, prefilter=False) as engine:
        engine.process(rumour("a", 10 * day, "f1", "malicious_rumor"))
        assert engine.process(report("a", 10 * day, "p0")).decisions == ()
        (decision,) = engine.process(report("a", 11 * day, "p1")).decisions
        assert decision.rule_id == "cancel-report-while-frozen"
        assert engine.process(report("a", 5 * day, "p2")).decisions == ()  # late
        assert str(engine.status("a")) == "frozen"
        assert engine.process(report("a", 40 * day, "p3")).decisions == ()  # expired


def test_account_status_does_not_depend_on_the_order_decisions_were_recorded(
    tmp_path: Path,
) -> None:
    """The same events in two arrival orders give the report the same status: the freeze's
    event after the report in arrival order, but before it in event time, still counts
    (the report is decided when it comes; the freeze is read in event time)."""
    folder = write_rule(tmp_path / "p", "freeze", RUMOR_FREEZE_30D)
    write_rule(folder, "cancel", WHILE_FROZEN)
    day = timedelta(days=1)
    freeze = rumour("a", 10 * day, "f1", "malicious_rumor")
    later = report("a", 12 * day, "p1")
    with Engine.from_path(folder) as engine:
        engine.process(freeze)
        in_order = [d.rule_id for d in engine.process(later).decisions]
    with Engine.from_path(folder) as engine:
        engine.process(report("a", 13 * day, "p0"))  # moves the clock past both
        engine.process(freeze)
        late = [d.rule_id for d in engine.process(later).decisions]
    assert in_order == late == ["cancel-report-while-frozen"]


def test_a_late_registration_decides_the_earlier_processed_events_again(tmp_path: Path) -> None:
    """Set semantics: an event processed before its account's (earlier) registration saw no
    age; when the registration comes, that event is decided again as in time order (2 days
    old: the young-account freeze, dated day 2, in the registration's outcome); the events
    processed after it see the age."""
    folder = write_rule(tmp_path / "p", "r", YOUNG.replace("OP", "lt"))
    with Engine.from_path(folder) as engine:
        assert engine.process(rumour("a", timedelta(days=2), "f1")).decisions == ()
        (again,) = engine.process(registration("a", timedelta(days=0))).decisions
        assert again.evidence == ("f1",)
        assert again.matched[0].conditions[-1].seen == timedelta(days=2) // US
        (decision,) = engine.process(rumour("a", timedelta(days=3), "f2")).decisions
        assert decision.evidence == ("f2",)


@pytest.mark.parametrize(
    ("test", "code", "text"),
    [
        ("account.age: 7d", "E-OP-KIND", "`eq` does not apply to `account.age` (duration)"),
        ("account.age: {lt: 7}", "E-VALUE-TYPE", "compare it with one such as `7d`"),
        ("account.age: {lt: 7x}", "E-VALUE-TYPE", "invalid duration '7x'"),
        ("reach: {lt: 7d}", "E-VALUE-TYPE", "durations compare with duration fields only"),
        ("account.status: frozn", "E-VALUE", "did you mean `frozen`?"),
        ("account.stat: frozen", "E-FIELD", "did you mean `account.status`?"),
    ],
)
def test_account_fact_conditions_are_checked_at_load(
    tmp_path: Path, test: str, code: str, text: str
) -> None:
    """Durations with lt/lte/gt/gte on duration fields only; statuses and names with a
    did-you-mean; each a located error."""
    rule = YOUNG.replace("account.age: {OP: 7d}", test)
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset(write_rule(tmp_path / "p", "r", rule))
    (error,) = caught.value.errors
    assert f"r.yaml:9: {code}: " in str(error)
    assert text in str(error)


def test_account_facts_are_refused_in_windows(tmp_path: Path) -> None:
    """A window's filter is matched again over stored events: account facts are not offered
    there (E-FIELD at the test's line)."""
    rule = YOUNG.replace("OP", "lt").replace("then:", "window: {count: 2, within: 30d}\nthen:")
    with pytest.raises(RuleLoadError, match=r"r.yaml:9: E-FIELD: `account.age` is not offered"):
        load_ruleset(write_rule(tmp_path / "p", "r", rule))


def test_cli_run_and_why_not_show_account_facts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: `run` decides on the account's age; `explain --account --rule` shows the
    age an older account's rumour saw (µs)."""
    folder = write_rule(tmp_path / "p", "r", YOUNG.replace("OP", "lt"))
    lines = [
        registration("a", timedelta(0)),
        rumour("a", timedelta(days=1), "f1"),
        registration("b", timedelta(0)),
        rumour("b", timedelta(days=9), "f2"),
    ]
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    db = tmp_path / "s.db"
    assert main(["run", str(events), "--rules", str(folder), "--db", str(db)]) == 0
    (decided,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert decided["account_id"] == "a"
    with Engine.from_path(folder, db=db) as engine:
        (entry,) = why_not(engine, "b", "freeze-young-rumour")["events"]
    assert entry["first_failed"] == {
        "condition": "account.age lt 7d",
        "seen": timedelta(days=9) // US,
    }


@given(
    freezes=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=4, unique=True),
    at=st.integers(min_value=0, max_value=90),
    order=st.randoms(use_true_random=False),
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_account_status_is_the_same_whatever_order_freezes_were_recorded(
    tmp_path_factory: pytest.TempPathFactory, freezes: list[int], at: int, order: Random
) -> None:
    """Property: malicious rumours (each a 30-day freeze) processed in any order, then a
    report: the report sees the same `account.status` as in time order (frozen exactly when
    some freeze took effect before it and had not expired)."""
    folder = tmp_path_factory.mktemp("p")
    write_rule(folder, "freeze", RUMOR_FREEZE_30D)
    write_rule(folder, "cancel", WHILE_FROZEN)
    day = timedelta(days=1)
    flags = [rumour("a", d * day + US, f"f{d}", "malicious_rumor") for d in sorted(freezes)]
    shuffled = order.sample(flags, len(flags))
    seen = []
    for events in (flags, shuffled):
        with Engine.from_path(folder) as engine:
            for flag_event in events:
                engine.process(flag_event)
            decided = engine.process(report("a", at * day, "p1")).decisions
            seen.append([d.rule_id for d in decided])
    assert seen[0] == seen[1]
