"""Declared fields: a pack's `fields.yaml` checked at load, used by rules like built-in
fields, enforced on events, part of the digest, in `schema` and `explain` (issue 18, item 1)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from blacklist_rules import Engine, RuleLoadError, explain_decision, load_ruleset
from blacklist_rules.cli import main

from .support import event, write_rule

FIELDS = """\
registration:
  channel: {enum: [app, web, sms]}
rumor_flag:
  topic: {type: text}
  followers: {type: int}
  official_source: {type: bool}
"""

SMS_RULE = """\
id: freeze-sms-signups
version: 1
description: Registrations through the SMS channel are frozen (shadow trial).
basis: Test basis.
on: registration
when: {channel: sms}
then: {action: freeze, reason: SMS channel.}
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""

REACH_RULE = """\
id: freeze-wide-unofficial-rumour
version: 1
description: A rumour with many followers, not from an official source.
basis: Test basis.
on: rumor_flag
when:
  all:
    - followers: {gte: 10000}
    - not: {official_source: true}
    - topic: {matches: "health.*"}
then: {action: freeze, reason: Wide rumour.}
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def pack(folder: Path, fields: str = FIELDS, **rules: str) -> Path:
    """A pack of the given rules (default: both above) with `fields.yaml`."""
    for name, text in (rules or {"sms": SMS_RULE, "reach": REACH_RULE}).items():
        write_rule(folder, name, text)
    (folder / "fields.yaml").write_text(fields, encoding="utf-8")
    return folder


def flag(event_id: str, **fields: object) -> dict[str, object]:
    base = {"content_id": "c1", "verdict": "rumor", "source": "user_report"}
    return event("rumor_flag", "a", timedelta(0), event_id, **base, **fields)


def load_errors(folder: Path) -> list[str]:
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset(folder)
    return [str(error) for error in caught.value.errors]


def test_rules_use_declared_fields_and_durable_rules_agrees(tmp_path: Path) -> None:
    """Declared enum, int, bool and text fields decide as built-in ones do, with the
    prefilter off too (durable-rules asked on every event, and must agree with the guards)."""
    folder = pack(tmp_path / "p")
    for prefilter in (True, False):
        with Engine.from_path(folder, prefilter=prefilter) as engine:
            wide = flag("f1", followers=20_000, official_source=False, topic="health scare")
            (decision,) = engine.process(wide).decisions
            assert decision.rule_id == "freeze-wide-unofficial-rumour"
            official = flag("f2", followers=20_000, official_source=True, topic="health")
            assert engine.process(official).decisions == ()
            assert engine.process(flag("f3", followers=9_999, topic="health")).decisions == ()
            signup = event("registration", "b", timedelta(0), "r1")
            (shadow,) = engine.process({**signup, "channel": "sms"}).decisions
            assert shadow.rule_id == "freeze-sms-signups"


def test_absent_declared_fields_follow_the_absent_field_rules(tmp_path: Path) -> None:
    """An event without the declared field: `channel: sms` is false, `not: {channel: sms}`
    is true, `exists: false` holds."""
    absent = SMS_RULE.replace("when: {channel: sms}", "when: {not: {channel: sms}}")
    folder = pack(tmp_path / "p", sms=absent)
    with Engine.from_path(folder, prefilter=False) as engine:
        signup = event("registration", "b", timedelta(0), "r1")
        (decision,) = engine.process(signup).decisions
        assert decision.matched[0].conditions[0].seen is None


def test_an_event_with_a_declared_field_of_the_wrong_type_is_rejected_with_its_path(
    tmp_path: Path,
) -> None:
    """Wrong type, a value outside the enum, a bool for an int: refused with the field's path
    (and never quoting the value); null is absent."""
    with Engine.from_path(pack(tmp_path / "p")) as engine:
        wrong = engine.process(flag("f1", followers="many"))
        assert wrong.rejection is not None
        assert wrong.rejection.path == "followers"
        assert "many" not in str(wrong.rejection)
        assert engine.process(flag("f2", followers=True)).rejection is not None
        signup = event("registration", "b", timedelta(0), "r1")
        outside = engine.process({**signup, "channel": "fax"})
        assert outside.rejection is not None
        assert outside.rejection.path == "channel"
        assert "app, web, sms" in outside.rejection.reason
        assert engine.process(flag("f3", followers=None)).rejection is None


@pytest.mark.parametrize(
    ("fields", "line", "code", "text"),
    [
        ("registraton:\n  channel: {type: text}\n", 1, "E-EVENT-TYPE", "did you mean"),
        ("rumor_flag:\n  topic: {type: txt}\n", 2, "E-FIELDS", "unknown type `txt`"),
        ("rumor_flag:\n  topic: {enum: []}\n", 2, "E-FIELDS", "`enum` takes a list"),
        ("rumor_flag:\n  topic: {enum: [a, a]}\n", 2, "E-FIELDS", "listed twice"),
        ("rumor_flag:\n\n  verdict: {type: text}\n", 3, "E-FIELDS", "built-in field"),
        ("registration:\n  phone: {type: text}\n", 2, "E-FIELDS", "built-in field"),
        ("rumor_flag:\n  topic: {type: text, size: 3}\n", 2, "E-FIELDS", "takes `{type"),
        ("rumor_flag:\n  topic: {kind: text}\n", 2, "E-KEY", "unknown key `kind`"),
        ("rumor_flag:\n  Topic: {type: text}\n", 2, "E-FIELDS", "not a field name"),
        ("- a\n", 1, "E-FIELDS", "maps event types"),
    ],
)
def test_fields_yaml_errors_are_located(
    tmp_path: Path, fields: str, line: int, code: str, text: str
) -> None:
    """Each mistake in fields.yaml is `file:line: code: message`, and the pack does not load."""
    folder = pack(tmp_path / "p", fields, sms=SMS_RULE.replace("{channel: sms}", "{}"))
    errors = [e for e in load_errors(folder) if "fields.yaml" in e]
    assert errors, load_errors(folder)
    assert errors[0].startswith(f"{folder / 'fields.yaml'}:{line}: {code}: ")
    assert text in errors[0]


def test_unknown_fields_still_fail_with_did_you_mean_over_declared_fields(tmp_path: Path) -> None:
    """A misspelt declared field is an E-FIELD with a did-you-mean to it; an undeclared one
    too; a declared field on another event type is not offered; a wrong value is caught."""
    folder = pack(tmp_path / "p", sms=SMS_RULE.replace("channel: sms", "chanel: sms"))
    (error,) = load_errors(folder)
    assert "E-FIELD: `registration` events have no field `chanel`" in error
    assert "did you mean `channel`?" in error
    fax = pack(tmp_path / "q", sms=SMS_RULE.replace("channel: sms", "channel: fax"))
    (error,) = load_errors(fax)
    assert "E-VALUE: `channel` is never 'fax'" in error
    other = pack(tmp_path / "r", sms=SMS_RULE.replace("channel: sms", "topic: x"))
    assert "E-FIELD: `registration` events have no field `topic`" in load_errors(other)[0]


def test_fields_yaml_is_part_of_the_digest_and_not_a_rule(tmp_path: Path) -> None:
    """fields.yaml is not read as a rule file; changing it changes the pack's digest; a pack
    without it keeps the digest it had."""
    folder = pack(tmp_path / "p")
    first = load_ruleset(folder)
    assert [rule.id for rule in first.rules] == [
        "freeze-sms-signups",
        "freeze-wide-unofficial-rumour",
    ]
    (folder / "fields.yaml").write_text(FIELDS.replace("sms]", "sms, kiosk]"), encoding="utf-8")
    assert load_ruleset(folder).digest != first.digest
    builtin = SMS_RULE.replace("channel: sms", "verification.status: failed")
    bare = write_rule(tmp_path / "bare", "r", builtin)
    digest = load_ruleset(bare).digest
    (bare / "fields.yaml").write_text("", encoding="utf-8")
    assert load_ruleset(bare).digest == digest


def test_schema_and_validate_show_declared_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`schema --rules DIR` adds the declared fields as JSON Schema; `validate` lists them."""
    folder = pack(tmp_path / "p")
    assert main(["schema", "--rules", str(folder)]) == 0
    schema = json.loads(capsys.readouterr().out)
    declared = schema["$defs"]["declared_fields"]["properties"]
    assert declared["registration"]["properties"]["channel"] == {"enum": ["app", "web", "sms"]}
    assert declared["rumor_flag"]["properties"]["followers"] == {"type": "integer"}
    assert main(["validate", str(folder)]) == 0
    assert "declared on rumor_flag: followers, official_source, topic" in capsys.readouterr().out


def test_cli_run_and_explain_with_declared_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: `run` decides on a declared field, `explain` shows the value it saw, and a
    wrongly typed one is a rejected line."""
    folder = pack(tmp_path / "p")
    events = tmp_path / "e.jsonl"
    good = flag("f1", followers=20_000, official_source=False, topic="health")
    bad = flag("f2", followers="x")
    events.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    db = tmp_path / "s.db"
    code = main(["run", str(events), "--rules", str(folder), "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 0  # (a rejected line fails the run under --strict only)
    assert "followers" in err
    decision_id = json.loads(out.splitlines()[0])["decision_id"]
    with Engine.from_path(folder, db=db) as engine:
        found = explain_decision(engine, decision_id)
    seen = {c["field"]: c["seen"] for c in found["matched"][0]["conditions"]}
    assert seen == {"followers": 20_000, "official_source": False, "topic": "health"}
