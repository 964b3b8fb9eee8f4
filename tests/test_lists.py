"""Exemption lists: `list_update` events keep named lists of accounts in event time, each
change audited; `unless_listed` keeps a rule from deciding for an account on a list at the
event's time (issue 18, item 5)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, RuleLoadError, load_ruleset, why_not
from blacklist_rules.cli import main

from .support import event, write_rule

DAY = timedelta(days=1)
US = timedelta(microseconds=1)

EXEMPT = """\
id: freeze-confirmed-report
version: 1
description: A confirmed impersonation report freezes, but not official accounts.
basis: Test basis.
on: impersonation_report
when: {confirmed: true}
unless_listed: [official, press]
then: {action: freeze, duration: 1d, reason: Impersonation.}
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def update(
    account: str, at: timedelta, event_id: str, op: str, name: str = "official"
) -> dict[str, object]:
    return event("list_update", account, at, event_id, list=name, op=op, reason="verified")


def report(account: str, at: timedelta, event_id: str) -> dict[str, object]:
    return event("impersonation_report", account, at, event_id, reporter_id="r", confirmed=True)


def pack(tmp_path: Path) -> Path:
    return write_rule(tmp_path / "p", "exempt", EXEMPT)


@pytest.mark.parametrize(
    ("report_at", "decided"),
    [(DAY - US, True), (DAY, False), (2 * DAY - US, False), (2 * DAY, True)],
)
def test_an_account_on_a_list_at_the_events_time_is_not_decided(
    tmp_path: Path, report_at: timedelta, decided: bool
) -> None:
    """On `official` from day 1 (its very moment included) to day 2 (removed then): a report
    in between is not decided; before and from the removal it is. The prefilter off too."""
    for prefilter in (True, False):
        with Engine.from_path(pack(tmp_path), prefilter=prefilter) as engine:
            engine.process(update("a", DAY, "u1", "add"))
            engine.process(update("a", 2 * DAY, "u2", "remove"))
            assert bool(engine.process(report("a", report_at, "p1")).decisions) is decided


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.permutations(["u1", "u2"]))
def test_list_changes_count_in_event_time_whatever_their_order(
    tmp_path: Path, order: list[str]
) -> None:
    """An add and a later remove, in either arrival order: a report between them is exempt."""
    updates = {"u1": update("a", DAY, "u1", "add"), "u2": update("a", 3 * DAY, "u2", "remove")}
    with Engine.from_path(pack(tmp_path / "".join(order)), prefilter=False) as engine:
        for name in order:
            engine.process(updates[name])
        assert engine.process(report("a", 2 * DAY, "p1")).decisions == ()
        assert engine.process(report("a", 4 * DAY, "p2")).decisions != ()


def test_any_named_list_exempts_and_others_do_not(tmp_path: Path) -> None:
    """`press` exempts too; a list the rule does not name does not."""
    with Engine.from_path(pack(tmp_path), prefilter=False) as engine:
        engine.process(update("a", DAY, "u1", "add", "press"))
        engine.process(update("b", DAY, "u2", "add", "partners"))
        assert engine.process(report("a", 2 * DAY, "p1")).decisions == ()
        assert engine.process(report("b", 2 * DAY, "p2")).decisions != ()


def test_each_change_is_an_audit_record_and_status_shows_the_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `list_change` audit record per event; `status` lists the account's lists; why-not
    says the list kept the rule from deciding."""
    db = str(tmp_path / "b.db")
    folder = pack(tmp_path)
    with Engine.from_path(folder, db) as engine:
        engine.process(update("a", DAY, "u1", "add"))
        engine.process(update("a", DAY, "u2", "add", "press"))
        engine.process(update("a", 2 * DAY, "u3", "remove", "press"))
        engine.process(report("a", 3 * DAY, "p1"))
        kinds = [record.kind for record in engine.store.audit_records("a")]
        assert kinds.count("list_change") == 3
        assert engine.store.verify_audit().ok
        found = why_not(engine, "a", "freeze-confirmed-report")
        (entry,) = found["events"]
        assert entry["held"] is False
        assert entry["first_failed"] == {"condition": "listed.official eq false", "seen": True}
    assert main(["status", "a", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lists"] == ["official"]
    assert main(["status", "a", "--db", db]) == 0
    assert "on lists: official" in capsys.readouterr().out


def test_a_list_update_is_refused_with_a_bad_list_name_or_op(tmp_path: Path) -> None:
    """The list name is lower-case `a-z0-9_`; `op` is add or remove."""
    with Engine.from_path(pack(tmp_path)) as engine:
        bad_name = engine.process(update("a", DAY, "u1", "add", "Official"))
        bad_op = engine.process(update("a", DAY, "u2", "rename"))
    assert bad_name.rejection is not None
    assert bad_name.rejection.path == "list"
    assert bad_op.rejection is not None
    assert bad_op.rejection.path == "op"


def test_unless_listed_is_checked_at_load(tmp_path: Path) -> None:
    """A list name not lower-case is refused; so is `unless_listed` on a deadline rule."""
    folder = write_rule(tmp_path / "p", "exempt", EXEMPT.replace("[official, press]", "[Official]"))
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset(folder)
    assert "exempt.yaml:7: E-SPEC" in str(caught.value)
