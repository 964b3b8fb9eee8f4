"""End to end through the command line, one pack holding each construct of the rule-language
extensions (issue 18): declared fields, phone facts, account facts, `prior:` and
`unless_listed:`, through `run`, `explain`, why-not (`explain --account --rule`) and `test`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blacklist_rules.cli import main

from .support import write_rule

HEAD = """\
version: 1
basis: Test basis.
dsa: {category: STATEMENT_CATEGORY_SCAMS_AND_FRAUD, ground: incompatible, reference: t}
on: rumor_flag
"""
RULES = {
    "wide": "id: freeze-wide-rumour\ndescription: A rumour reaching 10,000, not official.\n"
    + HEAD
    + "when: {all: [{verdict: rumor}, {audience: {gte: 10000}}]}\nunless_listed: [official]\n"
    "then: {action: freeze, duration: 1d, reason: A wide rumour.}\n",
    "young": "id: freeze-young-account-rumour\ndescription: A young account's rumour.\n"
    + HEAD
    + "when: {all: [{verdict: malicious_rumor}, {account.age: {lt: 7d}}]}\n"
    "then: {action: freeze, duration: 1d, reason: A young account's rumour.}\n",
    "escalate": "id: cancel-after-two-freezes\ndescription: A rumour after two freezes.\n"
    + HEAD
    + "when: {verdict: malicious_rumor}\nprior: {action: freeze, count: 2, within: 365d}\n"
    "then: {action: cancel, reason: A rumour after two freezes.}\n",
}
FIELDS = "rumor_flag:\n  audience: {type: int}\n"
DAY0 = "2026-05-0{}T09:00:00+08:00"


def _line(event_id: str, kind: str, account: str, day: int, **fields: object) -> str:
    at = DAY0.format(day) if day < 10 else f"2026-05-{day}T09:00:00+08:00"
    head = {"event_id": event_id, "type": kind, "account_id": account, "occurred_at": at}
    return json.dumps({**head, **fields})


def _rumour(event_id: str, account: str, day: int, verdict: str, audience: int = 0) -> str:
    more = {"content_id": f"c-{event_id}", "verdict": verdict, "source": "fact_check"}
    return _line(event_id, "rumor_flag", account, day, audience=audience, **more)


EVENTS = [
    _line("reg-a", "registration", "a", 1, verification={"status": "passed"}),
    _line("u-b", "list_update", "b", 1, list="official", op="add", reason="verified"),
    _rumour("f1", "a", 2, "malicious_rumor"),  # a is 1 day old: freeze
    _rumour("f2", "a", 4, "rumor", 20_000),  # wide: freeze
    _rumour("w-b", "b", 4, "rumor", 50_000),  # wide, but b is official
    _rumour("f3", "a", 12, "malicious_rumor"),  # 11 days old; two freezes before: cancel
]


def _pack(tmp_path: Path) -> Path:
    folder = tmp_path / "pack"
    for name, text in RULES.items():
        write_rule(folder, name, text)
    (folder / "fields.yaml").write_text(FIELDS, encoding="utf-8")
    return folder


def test_each_construct_through_run_explain_and_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` decides by a declared field, an account's age, earlier decisions and a list;
    `explain` shows the age, the reach and the freezes counted; why-not says the list kept
    the wide-rumour rule from deciding for b."""
    folder, db = _pack(tmp_path), str(tmp_path / "s.db")
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(EVENTS) + "\n", encoding="utf-8")
    assert main(["run", str(events), "--rules", str(folder), "--db", db]) == 0
    decided = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["account_id"], d["rule_id"], d["action"]) for d in decided] == [
        ("a", "freeze-young-account-rumour", "freeze"),
        ("a", "freeze-wide-rumour", "freeze"),
        ("a", "cancel-after-two-freezes", "cancel"),
    ]
    young, wide, cancel = decided
    seen = {c["field"]: c["seen"] for c in young["matched"][0]["conditions"]}
    assert seen["account.age"] == 86_400_000_000
    assert main(["explain", wide["decision_id"], "--db", db, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    conditions = {c["field"]: c["seen"] for c in shown["matched"][0]["conditions"]}
    assert conditions["audience"] == 20_000
    assert main(["explain", cancel["decision_id"], "--db", db, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(cancel["evidence"][1:]) == sorted([young["decision_id"], wide["decision_id"]])
    assert [e["decision"] for e in shown["evidence"]] == [False, True, True]
    why = ["explain", "--account", "b", "--rule", "freeze-wide-rumour"]
    assert main([*why, "--db", db, "--rules", str(folder)]) == 0
    assert "listed.official" in capsys.readouterr().out


def test_each_construct_in_test_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`test` runs a case over the same events: each rule fires and is covered; a case
    expecting the exempt account decided fails (exit 1)."""
    folder = _pack(tmp_path)
    events = ", ".join(EVENTS)
    expect = (
        "[{account_id: a, action: freeze, rule_id: freeze-young-account-rumour}, "
        "{account_id: a, action: freeze, rule_id: freeze-wide-rumour}, "
        "{account_id: a, action: cancel, rule_id: cancel-after-two-freezes}]"
    )
    case = f"- name: every construct\n  events: [{events}]\n  expect: {expect}\n"
    cases = tmp_path / "cases.yaml"
    cases.write_text(case + "  final_status: {a: cancelled, b: active}\n", encoding="utf-8")
    assert main(["test", str(folder), str(cases), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] == 1
    wrong = case.replace(
        "rule_id: freeze-wide-rumour}",
        "rule_id: freeze-wide-rumour}, "
        "{account_id: b, action: freeze, rule_id: freeze-wide-rumour}",
    )
    cases.write_text(wrong, encoding="utf-8")
    assert main(["test", str(folder), str(cases)]) == 1


def test_run_with_the_default_pack_freezes_a_virtual_operator_registration_in_shadow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default pack over `run`: a registration with an unverified 170 number gets the
    shadow freeze of `freeze-virtual-operator-unverified` (the kind and country in its trace,
    never the number); the same with an ordinary 138 mobile number, or a 170 number whose
    verification passed, gets none."""
    events = tmp_path / "e.jsonl"
    lines = [
        _line("r1", "registration", "a", 1, identity={"phone": "17051234567"}),
        _line("r2", "registration", "b", 1, identity={"phone": "13851234567"}),
        _line(
            "r3",
            "registration",
            "c",
            1,
            identity={"phone": "17051234568"},
            verification={"status": "passed"},
        ),
    ]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["run", str(events), "--db", str(tmp_path / "s.db")]) == 0
    out = capsys.readouterr().out
    decided = [json.loads(line) for line in out.splitlines()]
    shadow = [d for d in decided if d["rule_id"] == "freeze-virtual-operator-unverified"]
    assert [(d["account_id"], d["mode"], d["action"]) for d in shadow] == [
        ("a", "shadow", "freeze")
    ]
    seen = {c["field"]: c["seen"] for c in shadow[0]["matched"][0]["conditions"]}
    assert (seen["identity.phone_kind"], seen["identity.phone_country"]) == (
        "virtual_operator",
        "CN",
    )
    assert "17051234567" not in out
