"""Explanations: a decision as the rule saw it, and why a rule did not act."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from blacklist_rules import Engine, EventError, explain_decision, why_not
from blacklist_rules.cli import main

from .support import default_pack_with, event

DAY = timedelta(days=1)
SUSPECTED = "freeze-suspected-impersonation"


def report(account: str, day: int, reporter: str, event_id: str) -> dict[str, object]:
    return event(
        "impersonation_report", account, day * DAY, event_id, reporter_id=reporter, confirmed=False
    )


def verified_registration(account: str, number: str) -> dict[str, object]:
    return event(
        "registration",
        account,
        0 * DAY,
        f"reg-{account}",
        identity={"id_number": number},
        verification={"status": "passed"},
    )


def suspected(engine: Engine) -> str:
    """Three reporters within 7 days: the freeze's decision id."""
    engine.process(report("a", 0, "r1", "p1"))
    engine.process(report("a", 2, "r2", "p2"))
    (decision,) = engine.process(report("a", 4, "r3", "p3")).decisions
    return decision.decision_id


def test_a_decision_is_explained_by_the_rule_as_written_when_it_decided(tmp_path: Path) -> None:
    """Description and basis of the rule file of the pack that decided (not of a later edit),
    each condition with its value, the window's events as evidence."""
    db = tmp_path / "s.db"
    with Engine.from_path(db=db) as engine:
        decision_id = suspected(engine)
    edited = default_pack_with(tmp_path / "pack")
    path = edited / "impersonation" / f"{SUSPECTED}.yaml"
    text = path.read_text().replace("Three or more different users", "Users")
    path.write_text(text.replace("version: 1", "version: 2"))  # (a db refuses it unbumped)
    with Engine.from_path(edited, db=db) as engine:
        found = explain_decision(engine, decision_id)
    assert found["rule"]["description"].startswith("Three or more different users reported")
    assert "policy §3" in found["rule"]["basis"]
    (match,) = found["matched"]
    assert [(c["field"], c["seen"], c["result"]) for c in match["conditions"]] == [
        ("confirmed", False, True),
        ("distinct reporter_id within 7d", 3, True),
    ]
    assert [item["event_id"] for item in found["evidence"]] == ["p1", "p2", "p3"]
    assert found["evidence"][0]["event"]["reporter_id"] == "r1"


def test_why_not_names_the_first_failed_condition_and_its_value(engine: Engine) -> None:
    """Newest first: the decided event held; earlier ones lacked the window's count; a
    confirmed report fails `confirmed eq false`."""
    decision_id = suspected(engine)
    engine.process(
        event("impersonation_report", "a", 5 * DAY, "p4", reporter_id="r4", confirmed=True)
    )
    answer = why_not(engine, "a", SUSPECTED)
    rows = [(e["event_id"], e["held"], e.get("first_failed")) for e in answer["events"]]
    assert rows == [
        ("p4", False, {"condition": "confirmed eq false", "seen": True}),
        ("p3", True, None),
        ("p2", False, {"condition": "3 distinct reporter_id within 7d", "seen": 2}),
        ("p1", False, {"condition": "3 distinct reporter_id within 7d", "seen": 1}),
    ]
    assert answer["events"][1]["decision_id"] == decision_id


def test_why_not_for_a_deadline_rule_shows_its_deadlines(engine: Engine) -> None:
    engine.process(event("identity_verification", "a", 0 * DAY, "v1", status="failed"))
    engine.process(event("identity_verification", "a", 3 * DAY, "v2", status="passed"))
    (deadline,) = why_not(engine, "a", "cancel-unverified-after-freeze")["deadlines"]
    assert deadline["state"] == "met"


def test_unknown_decisions_and_rules_are_errors(engine: Engine) -> None:
    with pytest.raises(EventError, match="no decision d-nope"):
        explain_decision(engine, "d-nope")
    with pytest.raises(EventError, match="no rule freeze-nope in this pack"):
        why_not(engine, "a", "freeze-nope")


def test_explain_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Text and JSON, both forms; a wrong call exits 2, an unknown decision 6."""
    db = tmp_path / "s.db"
    with Engine.from_path(db=db) as engine:
        decision_id = suspected(engine)
    assert main(["explain", decision_id, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"decision {decision_id}: freeze of a (enforce)" in out
    assert "distinct reporter_id within 7d gte 3: saw 3 (true)" in out
    assert main(["explain", "--account", "a", "--rule", SUSPECTED, "--db", str(db)]) == 0
    assert "`3 distinct reporter_id within 7d` failed, saw 2" in capsys.readouterr().out
    assert main(["explain", decision_id, "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"]["decision_id"] == decision_id
    assert main(["explain", "--account", "a", "--db", str(db)]) == 2
    assert main(["explain", "d-nope", "--db", str(db)]) == 6  # unknown, not a usage error


def test_a_re_registration_is_explained_without_identity_values(engine: Engine) -> None:
    """The evidence of a returning identity: the registration (stored without its identity)
    and the earlier decision that listed it."""
    number = "360426199101010071"
    engine.process(verified_registration("li", number))
    (listing,) = engine.process(
        event("impersonation_report", "li", DAY, "i1", reporter_id="r", confirmed=True)
    ).decisions
    (again,) = engine.process(
        event("registration", "li-2", 2 * DAY, "r2", identity={"id_number": number})
    ).decisions
    found = explain_decision(engine, again.decision_id)
    assert [(e["event_id"], e["decision"]) for e in found["evidence"]] == [
        ("r2", False),
        (listing.decision_id, True),
    ]
    assert number not in json.dumps(found, default=str)


def test_why_not_judges_not_and_any_as_a_whole(tmp_path: Path) -> None:
    """`not: {reason: {in: [...]}}`: a reason in the list fails the `not` (shown as such), one
    outside it holds; the engine's own decision is reported for the event it decided."""
    pack = default_pack_with(tmp_path / "pack")
    path = pack / "identity" / "cancel-proven-fake-identity.yaml"
    text = path.read_text()
    start = text.index("when:")
    end = text.index("then:")
    path.write_text(
        text[:start]
        + "when:\n  all:\n    - status: failed\n"
        + "    - not: {reason: {in: [blurry_photo, name_id_mismatch]}}\n"
        + text[end:]
    )
    rule = "cancel-proven-fake-identity"
    with Engine.from_path(pack) as engine:
        engine.process(
            event(
                "identity_verification", "q", 0 * DAY, "v1", status="failed", reason="blurry_photo"
            )
        )
        (blurry,) = why_not(engine, "q", rule)["events"]
        assert blurry["first_failed"] == {
            "condition": "not (reason in [blurry_photo, name_id_mismatch])",
            "seen": "blurry_photo",
        }
        engine.process(
            event("identity_verification", "r", 0 * DAY, "v2", status="failed", reason="forged")
        )
        (forged,) = why_not(engine, "r", rule)["events"]
        assert forged["held"] is True
        assert "decision_id" in forged


def test_why_not_sees_derived_fields_and_says_when_it_cannot_know(engine: Engine) -> None:
    """A re-registration: the rule decided on it (not "failed, saw null"). A window grouped by
    an identity value is kept by fingerprint: unknown, never reported as failed."""
    number = "360426199101010071"
    engine.process(verified_registration("li", number))
    engine.process(event("impersonation_report", "li", DAY, "i1", reporter_id="r", confirmed=True))
    engine.process(event("registration", "li-2", 2 * DAY, "r2", identity={"id_number": number}))
    (again,) = why_not(engine, "li-2", "blacklist-returning-identity")["events"]
    assert again["held"] is True
    (shared,) = why_not(engine, "li-2", "freeze-shared-id-number")["events"]
    assert shared["held"] is None
    assert "fingerprint" in shared["unknown"]
