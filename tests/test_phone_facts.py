"""Phone facts: `identity.phone_kind` and `identity.phone_country`, derived on registrations
from the phone sent (never stored raw, never settable by a sender) (issue 18, item 2)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, RuleLoadError, load_ruleset, why_not
from blacklist_rules.cli import main
from blacklist_rules.model import phones
from blacklist_rules.model.identity import normalise_phone, parse_phone
from blacklist_rules.model.phones import CN_VIRTUAL_OPERATOR_BLOCKS, phone_facts

from .support import event, write_rule

VIRTUAL_RULE = """\
id: freeze-virtual-operator
version: 1
description: A registration with a virtual-operator phone number that was not verified.
basis: Test basis.
on: registration
when:
  all:
    - identity.phone_kind: virtual_operator
    - identity.phone_country: CN
    - not: {verification.status: passed}
then: {action: freeze, until: verification_passed, reason: Virtual-operator number.}
dsa: {category: STATEMENT_CATEGORY_SCAMS_AND_FRAUD, ground: incompatible, reference: t}
"""


def registration(account: str, event_id: str, **fields: object) -> dict[str, object]:
    return event("registration", account, timedelta(0), event_id, **fields)


def _valid_mobile(national: str) -> bool:
    number = phonenumbers.parse(national, "CN")
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) == 1


@pytest.mark.parametrize("block", CN_VIRTUAL_OPERATOR_BLOCKS)
def test_each_listed_block_classifies_as_virtual_operator(block: str) -> None:
    """Every number of each listed block (its first, last and a middle one, and each of its
    ten 4-digit sub-blocks), however written, is a Chinese virtual-operator number."""
    rest = 11 - len(block)
    numbers = [block + "0" * rest, block + "9" * rest, block + "5" * rest]
    numbers += [f"{block}{digit}" + "1" * (rest - 1) for digit in range(10)]
    for national in numbers:
        assert phone_facts(national) == ("virtual_operator", "CN"), national
        spaced = f"+86 {national[:3]} {national[3:7]} {national[7:]}"
        assert phone_facts(spaced) == ("virtual_operator", "CN"), spaced


def test_mobile_numbers_just_outside_the_blocks_stay_mobile() -> None:
    """The neighbouring 3-digit blocks of each listed one that are valid mobile blocks (166,
    172, 168 …) are `mobile`, at their edges too; the same digits outside China are not CN."""
    outside = 0
    for block in CN_VIRTUAL_OPERATOR_BLOCKS:
        for neighbour in (int(block) - 1, int(block) + 1):
            if str(neighbour) in CN_VIRTUAL_OPERATOR_BLOCKS:
                continue
            for national in (f"{neighbour}00000000", f"{neighbour}99999999"):
                if _valid_mobile(national):
                    outside += 1
                    assert phone_facts(national) == ("mobile", "CN"), national
    assert outside >= 4  # (phonenumbers knows several neighbours: the test tests something)
    assert phone_facts("13800138000") == ("mobile", "CN")
    assert phone_facts("+447400123456") == ("mobile", "GB")


@pytest.mark.parametrize(
    ("phone", "facts"),
    [
        ("01012345678", ("fixed_line", "CN")),
        ("8001234567", ("toll_free", "CN")),
        ("+445612345678", ("voip", "GB")),
        ("4001234567", ("other", "CN")),  # shared cost
        ("+12025550123", ("other", "US")),  # fixed line or mobile: the plan cannot tell
        ("12345", ("other", None)),  # not a valid number
        (None, None),
    ],
)
def test_line_types_from_phonenumbers(phone: str | None, facts: object) -> None:
    """phonenumbers' line types map onto the six kinds; an invalid number is `other` with
    no country; no phone, no facts."""
    assert phone_facts(phone) == facts


def test_rules_see_phone_facts_and_durable_rules_agrees(tmp_path: Path) -> None:
    """A virtual-operator registration not verified is frozen; a mobile one, a verified one,
    one without a phone are not; a sender's own `phone_kind` is ignored; the stored event
    has the facts and never the number. Prefilter on and off (durable-rules must agree)."""
    folder = write_rule(tmp_path / "p", "v", VIRTUAL_RULE)
    for prefilter in (True, False):
        with Engine.from_path(folder, prefilter=prefilter) as engine:
            virtual = registration("a", "r1", identity={"phone": "17012345678"})
            (decision,) = engine.process(virtual).decisions
            assert decision.rule_id == "freeze-virtual-operator"
            mobile = registration("b", "r2", identity={"phone": "13800138000"})
            assert engine.process(mobile).decisions == ()
            verified = registration(
                "c",
                "r3",
                identity={"phone": "17112345678"},
                verification={"status": "passed"},
            )
            assert engine.process(verified).decisions == ()
            forged = registration("d", "r4", phone_kind="virtual_operator", phone_country="CN")
            assert engine.process(forged).decisions == ()
            lying = {
                **mobile,
                "event_id": "r5",
                "account_id": "e",
                "phone_kind": "virtual_operator",
            }
            assert engine.process(lying).decisions == ()
            stored = engine.store.event_payload("r1") or {}
            assert stored["phone_kind"] == "virtual_operator"
            assert stored["phone_country"] == "CN"
            assert "17012345678" not in json.dumps(stored)
            assert "phone_kind" not in (engine.store.event_payload("r4") or {})
            found = why_not(engine, "b", "freeze-virtual-operator")
            (entry,) = found["events"]
            assert entry["first_failed"] == {
                "condition": "identity.phone_kind eq virtual_operator",
                "seen": "mobile",
            }


def test_a_resend_of_a_registration_stored_without_phone_facts_is_a_duplicate(
    tmp_path: Path,
) -> None:
    """A registration stored before the engine derived phone facts, sent again, is the same
    event (a duplicate), not a clash of event ids."""
    db = tmp_path / "s.db"
    sent = registration("a", "r1", identity={"phone": "13800138000"})
    with Engine.from_path(db=db) as engine:
        engine.process(sent)
        stored = engine.store.event_payload("r1") or {}
        del stored["phone_kind"], stored["phone_country"]
        from .support import sqlite_connection

        sqlite_connection(engine.store).execute(
            "UPDATE events SET payload = ? WHERE event_id = ?", (json.dumps(stored), "r1")
        )
        assert engine.process(sent).duplicate


@pytest.mark.parametrize(
    ("when", "code", "text"),
    [
        ("identity.phone_kind: virtual", "E-VALUE", "did you mean `virtual_operator`?"),
        ("identity.phone_country: cn", "E-VALUE", "did you mean `CN`?"),
        ("identity.phone_kind: {matches: mob.*}", "E-OP-KIND", "does not apply"),
        ("phone_kind: mobile", "E-FIELD", "did you mean `identity.phone_kind`?"),
    ],
)
def test_phone_fact_conditions_are_checked_at_load(
    tmp_path: Path, when: str, code: str, text: str
) -> None:
    """A kind or country the fact never takes, an operator that does not apply, the stored
    name instead of the condition's: located errors with a did-you-mean."""
    rule = VIRTUAL_RULE.replace(
        "  all:\n    - identity.phone_kind: virtual_operator", f"  all:\n    - {when}"
    )
    folder = write_rule(tmp_path / "p", "v", rule)
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset(folder)
    (error,) = caught.value.errors
    assert f"v.yaml:8: {code}: " in str(error)
    assert text in str(error)


def test_phone_facts_are_registration_only(tmp_path: Path) -> None:
    """Another event type has no phone facts: E-FIELD."""
    rule = VIRTUAL_RULE.replace("on: registration", "on: identity_verification")
    rule = rule.replace("    - not: {verification.status: passed}\n", "")
    rule = rule.replace("until: verification_passed, ", "")
    with pytest.raises(RuleLoadError, match="E-FIELD: `identity_verification` events have no"):
        load_ruleset(write_rule(tmp_path / "p", "v", rule))


def test_cli_run_and_explain_show_phone_facts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: `run` freezes a virtual-operator registration; `explain` shows the kind
    and country the rule saw, and never the number."""
    folder = write_rule(tmp_path / "p", "v", VIRTUAL_RULE)
    events = tmp_path / "e.jsonl"
    line = registration("a", "r1", identity={"phone": "+86 165 0000 1111"})
    events.write_text(json.dumps(line) + "\n", encoding="utf-8")
    db = tmp_path / "s.db"
    assert main(["run", str(events), "--rules", str(folder), "--db", str(db)]) == 0
    decision_id = json.loads(capsys.readouterr().out.splitlines()[0])["decision_id"]
    assert main(["explain", decision_id, "--db", str(db), "--json"]) == 0
    shown = capsys.readouterr().out
    conditions = json.loads(shown)["matched"][0]["conditions"]
    seen = {c["field"]: c["seen"] for c in conditions}
    assert seen["identity.phone_kind"] == "virtual_operator"
    assert seen["identity.phone_country"] == "CN"
    assert "0000 1111" not in shown
    assert "16500001111" not in shown


def test_unverified_block_162_is_mobile_and_the_table_cites_its_source() -> None:
    """162, named as a virtual-operator block by hearsay but with no citable source found, is
    not in the table: its numbers are plain `mobile`. The table's docstring names its source
    and the date it was read."""
    assert "162" not in CN_VIRTUAL_OPERATOR_BLOCKS
    assert phone_facts("16200001111") == ("mobile", "CN")
    source = Path(phones.__file__).read_text(encoding="utf-8")
    assert "VincentSit/ChinaMobilePhoneNumberRegex" in source
    assert "2026-12-06" in source


def _facts_the_long_way(e164: str) -> tuple[str, str | None]:
    """`facts_of` through phonenumbers' parser, validity check and type search (the way
    before issue 19's shortcut)."""
    number = phonenumbers.parse(e164, None)
    if not phonenumbers.is_valid_number(number):
        return "other", None
    country = phonenumbers.region_code_for_number(number)
    kind = phones._KINDS.get(phonenumbers.number_type(number), "other")
    national = str(number.national_number)
    if country == "CN" and kind == "mobile" and national[:3] in CN_VIRTUAL_OPERATOR_BLOCKS:
        kind = "virtual_operator"
    return kind, country


@settings(deadline=None)  # (the first long-way call loads phonenumbers' metadata)
@given(st.text("0123456789", min_size=10, max_size=10).map(lambda d: "+861" + d))
def test_the_compiled_cn_type_search_agrees_with_phonenumbers(e164: str) -> None:
    """Any `+861` and ten digits (valid or not, mobile, virtual operator or another type):
    the compiled patterns (issue 19) give exactly the facts phonenumbers' own way gives."""
    assert phones._CN_TYPE is not None  # (in use with today's phonenumbers)
    assert phones.facts_of(e164) == _facts_the_long_way(e164)


@pytest.mark.parametrize(
    "national",
    ["13800138000", "17000000000", "17199999999", "16500000000", "10000000000", "1380013800"],
)
def test_the_compiled_cn_type_search_at_its_edges(national: str) -> None:
    """Mobile, the virtual-operator blocks' first and last numbers, an invalid `+861…` and
    one digit short (the long way then): the same facts both ways."""
    e164 = f"+86{national}"
    assert phones.facts_of(e164) == _facts_the_long_way(e164)


def test_the_compiled_cn_patterns_agree_with_phonenumbers_on_every_block() -> None:
    """Issue 19 (the tests' lengths asked once, their patterns called directly): every
    4-digit block `1xxx` of an 11-digit national number, at its first, a middle and its last
    number, gives the facts and the E.164 form phonenumbers' own ways give."""
    for block in range(1000, 2000):
        for rest in ("0000000", "5055505", "9999999"):
            national = f"{block}{rest}"
            assert phones.facts_of(f"+86{national}") == _facts_the_long_way(f"+86{national}")
            assert normalise_phone(national) == parse_phone(national)
