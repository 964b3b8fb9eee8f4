"""Escalation and exemption facts in what is told outside: a DSA statement's facts name the
`prior:` test and the earlier decisions it counted, and the exemption lists checked; a notice's
evidence may say how many earlier decisions were counted and when (`$prior_count`,
`$prior_first`, `$prior_last`) (issue 18)."""

from __future__ import annotations

import shutil
from pathlib import Path

from blacklist_rules import Engine, dsa_statements, render_notice
from blacklist_rules.engine.loading import default_rules_path

from .support import T0, event
from .test_cascade import DAY

BASE = -400 * DAY
"""Events start before `T0` (near the wall clock): none is too far ahead of it."""
ESCALATION = "rumours/cancel-after-repeated-rumour-freezes.yaml"


def _enforced_escalation(folder: Path) -> Path:
    """The default pack with its escalation rule enforced, its English evidence using the
    escalation's placeholders."""
    shutil.copytree(default_rules_path(), folder)
    path = folder / ESCALATION
    text = path.read_text(encoding="utf-8").replace("mode: shadow", "mode: enforce")
    said = "\n      365 days.\n"
    assert said in text
    text = text.replace(
        said, "\n      365 days ($prior_count freezes, from $prior_first to $prior_last).\n", 1
    )
    path.write_text(text, encoding="utf-8")
    return folder


def _rumour(account: str, day: int, event_id: str) -> dict[str, object]:
    more = {"content_id": f"c-{event_id}", "verdict": "malicious_rumor", "source": "fact_check"}
    return event("rumor_flag", account, BASE + day * DAY, event_id, **more)


def test_statements_and_notices_of_an_escalation_name_what_it_counted(tmp_path: Path) -> None:
    """Freezes on days 10 and 200 (two rumours each within 180 days, never three), then a
    rumour on day 371: the escalation cancels. Its statement of reasons names the test and
    the two freezes' dates; its notice fills in their count and times; the freezes'
    statements and notices say nothing of an escalation."""
    folder = _enforced_escalation(tmp_path / "pack")
    db = tmp_path / "s.db"
    with Engine.from_path(folder, db) as engine:
        freezes = []
        for day, name in ((0, "f0"), (10, "f1"), (191, "f2"), (200, "f3")):
            freezes += list(engine.process(_rumour("a", day, name)).decisions)
        assert [d.action for d in freezes] == ["freeze", "freeze"]
        (cancel,) = engine.process(_rumour("a", 371, "f4")).decisions
        assert cancel.action == "cancel"
        statements = {s["puid"]: s for s in dsa_statements(engine.store)}
        notice = render_notice(engine.store, cancel.decision_id, lang="en", tz="UTC")
        first = render_notice(engine.store, freezes[0].decision_id, lang="en", tz="UTC")
    facts = [s["decision_facts"] for s in statements.values()]
    (escalated,) = [f for f in facts if "Escalation" in f]
    day10, day200 = ((T0 + BASE + d * DAY).date().isoformat() for d in (10, 200))
    assert (
        "Escalation (freeze decisions of freeze-repeated-malicious-rumours within 365d, at "
        f"least 2): earlier decisions counted: 2 freezes from {day10} to {day200}."
    ) in escalated
    assert "(2 freezes, from" in notice.text
    assert day10 in notice.text
    assert day200 in notice.text
    assert "freezes, from" not in first.text


def test_a_statement_names_the_exemption_lists_the_account_was_not_on(tmp_path: Path) -> None:
    """A decision of a rule with `unless_listed: [official, press]`, for an account on
    neither: its statement of reasons says so; an account once listed but removed is
    decided, and its statement says the same."""
    from .test_lists import pack, report, update

    with Engine.from_path(pack(tmp_path)) as engine:
        engine.process(update("b", DAY, "u1", "add"))
        engine.process(update("b", 2 * DAY, "u2", "remove"))
        assert engine.process(report("a", 3 * DAY, "p1")).decisions
        assert engine.process(report("b", 3 * DAY, "p2")).decisions
        facts = [s["decision_facts"] for s in dsa_statements(engine.store)]
    said = "The account was on none of the exemption lists official, press."
    assert len(facts) == 2
    assert all(said in f for f in facts)
    assert all("Escalation" not in f for f in facts)
