"""The identity blacklist: fingerprints, entries, re-registration, pre-registration checks.

A blacklisted person may not register again (DESIGN §1, last row): a blacklist decision lists
the account's verified ID number and phone (as keyed fingerprints), a later registration with
either is blacklisted, and `Engine.is_blacklisted` answers before an account exists.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from blacklist_rules import (
    Engine,
    EventError,
    IdentityKey,
    IdentityKeyError,
    RuleLoadError,
    SQLiteStore,
    load_ruleset,
)
from blacklist_rules.model.identity import KEY_ENV

from .support import T0, TEST_KEY, default_pack_with, event, write_rule

DAY = timedelta(days=1)
LI = "360426199101010071"  # python-stdnum's documented valid number
LI_SPACED = "360426 19910101 0071"
WANG = "31010419900101002X"
ZHAO = "110101198506151230"
PHONE = "13800138000"
PHONE_INTL = "+86 138 0013 8000"
RETURNING = "blacklist-returning-identity"
SHARED = "freeze-shared-id-number"
VICTIM = "identity_of_another_person"


def registration(
    account: str,
    at: timedelta,
    event_id: str,
    *,
    id_number: str | None = None,
    phone: str | None = None,
    verification: str | None = "passed",
    **identity: str,
) -> dict[str, Any]:
    values = {"id_number": id_number, "phone": phone, **identity}
    fields: dict[str, Any] = {"identity": {k: v for k, v in values.items() if v is not None}}
    if verification is not None:
        fields["verification"] = {"status": verification}
    return event("registration", account, at, event_id, **fields)


def impersonation(account: str, at: timedelta, event_id: str) -> dict[str, Any]:
    return event("impersonation_report", account, at, event_id, reporter_id="r", confirmed=True)


def blacklisted_li(engine: Engine) -> str:
    """acct-li registers verified and is blacklisted for impersonation; the decision's id."""
    engine.process(registration("li", 0 * DAY, "reg-li", id_number=LI, phone=PHONE))
    (decision,) = engine.process(impersonation("li", 1 * DAY, "imp-li")).decisions
    return decision.decision_id


def test_a_blacklist_lists_the_verified_id_number_and_phone(engine: Engine) -> None:
    """Both values enter, linked to the decision, as fingerprints: never the values."""
    decision = blacklisted_li(engine)

    entries = engine.blacklist_entries("li")
    assert sorted(e.kind for e in entries) == ["id_number", "phone"]
    assert {e.decision_id for e in entries} == {decision}
    assert all(len(e.fingerprint) == 64 and LI not in repr(e) for e in entries)
    assert entries[0].rule_id == "blacklist-confirmed-impersonation"
    kinds = [r.record["kind"] for r in engine.audit_records("li") if r.kind == "blacklist_entry"]
    assert sorted(kinds) == ["id_number", "phone"]


@pytest.mark.parametrize(
    ("id_number", "phone"),
    [(LI_SPACED, None), (LI.lower(), "13912345678"), (ZHAO, PHONE_INTL), (None, "+8613800138000")],
)
def test_the_person_registering_again_is_blacklisted(
    engine: Engine, id_number: str | None, phone: str | None
) -> None:
    """The same ID number or phone, in any writing, on a new account: blacklisted, with the
    decision that listed the identity as evidence."""
    listed_by = blacklisted_li(engine)

    out = engine.process(
        registration("li-2", 5 * DAY, "reg-2", id_number=id_number, phone=phone, verification=None)
    )

    (decision,) = out.decisions
    assert (decision.rule_id, decision.action) == (RETURNING, "blacklist")
    assert decision.evidence == ("reg-2", listed_by)
    assert engine.status("li-2") == "blacklisted"


def test_someone_else_registering_is_not_blacklisted(engine: Engine) -> None:
    """Another ID number and phone: nothing happens."""
    blacklisted_li(engine)
    out = engine.process(
        registration("wang", 5 * DAY, "reg-w", id_number=WANG, phone="13700137000")
    )
    assert out.decisions == ()
    assert engine.status("wang") == "active"


def test_only_what_passed_verification_is_listed(engine: Engine) -> None:
    """An account blacklisted before any verification passed lists nothing; when one passes
    later, its identity is listed then."""
    engine.process(registration("li", 0 * DAY, "reg", id_number=LI, phone=PHONE, verification=None))
    engine.process(impersonation("li", 1 * DAY, "imp"))
    assert engine.blacklist_entries("li") == []
    assert not engine.is_blacklisted({"id_number": LI})

    engine.process(event("identity_verification", "li", 2 * DAY, "ver", status="passed"))
    assert sorted(e.kind for e in engine.blacklist_entries("li")) == ["id_number", "phone"]


def test_a_victims_id_number_is_never_listed(engine: Engine) -> None:
    """The ID number was found to be someone else's: the impostor's phone is listed, the
    victim's ID number is not, and the victim can still register."""
    engine.process(registration("imp", 0 * DAY, "reg", id_number=LI, phone=PHONE))
    engine.process(
        event(
            "identity_verification",
            "imp",
            1 * DAY,
            "ver",
            status="failed",
            reason="identity_of_another_person",
        )
    )
    engine.process(impersonation("imp", 2 * DAY, "rep"))
    assert [e.kind for e in engine.blacklist_entries("imp")] == ["phone"]
    victim = engine.process(
        registration("li", 3 * DAY, "reg-li", id_number=LI, phone="13912345678")
    )
    assert engine.status("li") == "active", victim.decisions


@pytest.mark.parametrize("how", ["lift", "lift-all", "appeal"])
def test_a_lift_or_an_overturned_appeal_removes_the_entries(engine: Engine, how: str) -> None:
    """Reversed blacklist: entries removed (recorded), the person may register again."""
    decision = blacklisted_li(engine)
    if how == "appeal":
        reversal = event(
            "appeal_outcome",
            "li",
            2 * DAY,
            "app",
            decision_id=decision,
            outcome="overturned",
            reviewer_id="rev",
        )
    else:
        reversal = event(
            "review_decision",
            "li",
            2 * DAY,
            "lift",
            reviewer_id="rev",
            action="lift",
            reason="mistaken identity",
            **({"decision_id": decision} if how == "lift" else {}),
        )
    engine.process(reversal)

    assert engine.blacklist_entries("li") == []
    assert not engine.is_blacklisted({"id_number": LI, "phone": PHONE})
    removed = [r for r in engine.audit_records("li") if r.kind == "blacklist_entry_removed"]
    assert sorted(r.record["kind"] for r in removed) == ["id_number", "phone"]
    assert {r.record["by_event"] for r in removed} == {reversal["event_id"]}
    out = engine.process(registration("li-2", 3 * DAY, "reg-2", id_number=LI))
    assert engine.status("li-2") == "active", out.decisions


def test_a_registration_before_the_blacklist_in_time_is_not_caught(engine: Engine) -> None:
    """A second account opened before the first was blacklisted was not a re-registration."""
    engine.process(registration("li", 0 * DAY, "reg-li", id_number=LI, phone=PHONE))
    engine.process(registration("li-2", 1 * DAY, "reg-2", id_number=LI, verification=None))
    engine.process(impersonation("li", 2 * DAY, "imp"))
    assert engine.status("li-2") == "active"


def test_a_late_blacklist_catches_a_registration_that_came_first(engine: Engine) -> None:
    """In time order: blacklist, then re-registration. In arrival order the registration came
    first: the blacklist's event decides it, in its own outcome, with the same evidence."""
    engine.process(registration("li", 0 * DAY, "reg-li", id_number=LI, phone=PHONE))
    engine.process(registration("li-2", 5 * DAY, "reg-2", id_number=LI_SPACED, verification=None))
    assert engine.status("li-2") == "active"

    out = engine.process(impersonation("li", 1 * DAY, "imp"))

    by_account = {d.account_id: d for d in out.decisions}
    assert set(by_account) == {"li", "li-2"}
    late = by_account["li-2"]
    assert (late.rule_id, late.effective_at) == (RETURNING, T0 + 5 * DAY)
    assert late.evidence == ("reg-2", by_account["li"].decision_id)
    assert engine.status("li-2") == "blacklisted"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_arrival_order_does_not_change_who_is_blacklisted(rng: random.Random) -> None:
    """Registrations, verifications, a blacklist, a lift and re-registrations in any arrival
    order: the same final statuses and the same entries as in time order."""
    events = [
        registration("li", 0 * DAY, "e1", id_number=LI, phone=PHONE),
        impersonation("li", 2 * DAY, "e2"),
        registration("li-2", 3 * DAY, "e3", id_number=LI_SPACED, verification=None),
        registration("li-3", 4 * DAY, "e4", phone=PHONE_INTL, id_number=ZHAO),
        registration("early", 1 * DAY, "e5", id_number=LI, verification=None),
        registration("wang", 5 * DAY, "e6", id_number=WANG, phone="13700137000"),
        impersonation("wang", 6 * DAY, "e7"),
        registration("wang-2", 7 * DAY, "e8", phone="137 0013 7000"),
        event("identity_verification", "wang", 9 * DAY, "e9", status="failed", reason="x"),
    ]

    def final(order: list[dict[str, Any]]) -> tuple[dict[str, str], list[tuple[str, str]]]:
        with Engine.from_path() as engine:
            for item in order:
                engine.process(item)
            accounts = {e["account_id"] for e in events}
            entries = sorted((e.account_id, e.kind) for e in engine.blacklist_entries())
            return {a: engine.status(a) for a in sorted(accounts)}, entries

    shuffled = list(events)
    rng.shuffle(shuffled)
    expected = final(events)
    assert expected[0]["li-2"] == expected[0]["li-3"] == expected[0]["wang-2"] == "blacklisted"
    assert expected[0]["early"] == "active"
    assert final(shuffled) == expected


def test_an_invalid_id_number_is_a_failed_verification_and_cancels(engine: Engine) -> None:
    """A wrong check character, even with a verification sent as passed: cancelled with
    reason `invalid_id_number`; what was sent is kept beside it, and it ends no freeze."""
    out = engine.process(registration("z", 0 * DAY, "reg", id_number=LI[:-1] + "2", phone=PHONE))
    (decision,) = out.decisions
    assert (decision.rule_id, decision.action) == ("cancel-proven-fake-registration", "cancel")
    traced = {c.field: c.seen for m in decision.matched for c in m.conditions}
    assert traced["verification.reason"] == "invalid_id_number"
    stored = engine.store.event_payload("reg")
    assert stored is not None
    assert stored["verification"] == {"status": "failed", "reason": "invalid_id_number"}
    assert stored["verification_received"] == {"status": "passed"}
    assert "identity" not in stored


@pytest.mark.parametrize(
    ("identity", "reason"),
    [
        ({"id_number": LI, "phone": "12345"}, "invalid_phone"),
        ({"name": "张三"}, "no_usable_identity"),
        ({"device_id": "   "}, "no_usable_identity"),
    ],
)
def test_other_bad_identity_values_are_a_failed_verification(
    engine: Engine, identity: dict[str, str], reason: str
) -> None:
    """A phone that does not parse, or nothing usable: a recorded verification failure (the
    account is frozen until one passes), never a crash, never the value in the record."""
    reg = event("registration", "a", T0, "reg", identity=identity)
    (decision,) = engine.process(reg).decisions
    assert (decision.rule_id, decision.action) == (
        "freeze-failed-registration-verification",
        "freeze",
    )
    stored = engine.store.event_payload("reg")
    assert stored is not None
    assert stored["verification"] == {"status": "failed", "reason": reason}
    for value in identity.values():
        assert value.strip() == "" or value not in str(list(engine.audit_records()))


def test_a_failure_sent_by_the_operator_is_kept_over_a_bad_phone(engine: Engine) -> None:
    """A forged document (cancel) is not turned into a mere bad phone (freeze)."""
    reg = event(
        "registration",
        "a",
        T0,
        "reg",
        identity={"id_number": LI, "phone": "12345"},
        verification={"status": "failed", "reason": "forged_document"},
    )
    (decision,) = engine.process(reg).decisions
    assert decision.action == "cancel"


@pytest.mark.parametrize(
    "identity",
    [
        {"id_number": 360426199101010071},
        {"phone": ["13800138000"]},
        {"id_number": "1" * 65},
        {"idnumber": LI},
    ],
)
def test_malformed_identities_are_rejected_without_their_values(
    engine: Engine, identity: dict[str, Any]
) -> None:
    """Non-text, over-long or unknown identity fields: rejected with the field path; the
    value is in neither the message nor the record."""
    out = engine.process(event("registration", "a", T0, "reg", identity=identity))
    assert out.rejection is not None
    assert out.rejection.path.startswith("identity.")
    (value,) = identity.values()
    text = str(value[0] if isinstance(value, list) else value)
    assert text not in str(out.rejection)
    assert text not in str(list(engine.audit_records()))


def test_is_blacklisted_before_an_account_exists(engine: Engine) -> None:
    """Any writing of the ID number or phone matches; the match says which entry; a time
    before the entry does not match."""
    decision = blacklisted_li(engine)
    assert engine.is_blacklisted({"id_number": LI_SPACED.lower()})
    assert engine.is_blacklisted({"phone": "+86-138-0013-8000"})
    assert engine.is_blacklisted({"id_number": WANG, "phone": PHONE})
    assert not engine.is_blacklisted({"id_number": WANG, "phone": "13700137000"})
    assert not engine.is_blacklisted({"id_number": LI}, at=T0 + timedelta(hours=12))
    match = engine.blacklist_match({"phone": PHONE})
    assert match is not None
    assert (match.kind, match.decision_id, match.account_id) == ("phone", decision, "li")


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ({}, "nothing to look up"),
        ({"idnumber": LI}, "unknown identity field 'idnumber'"),
        ({"id_number": 360426199101010071}, "must be text"),
        ({"phone": "1" * 100}, "at most 64"),
    ],
)
def test_is_blacklisted_refuses_what_it_cannot_check(
    engine: Engine, identity: dict[str, Any], message: str
) -> None:
    """A typo or a wrong type is an error, never a quiet "not blacklisted"; no value shown."""
    with pytest.raises(EventError, match=message) as caught:
        engine.is_blacklisted(identity)
    assert "360426" not in str(caught.value)


def test_listed_for_ends_the_entry_not_the_blacklist(tmp_path: Path) -> None:
    """`then.listed_for` bounds how long the identity stays listed; the account stays
    blacklisted, and a registration after the end is not caught."""
    rule = (
        (
            Path(__file__).parent.parent
            / "rules/impersonation/blacklist-confirmed-impersonation.yaml"
        )
        .read_text()
        .replace("  action: blacklist\n", "  action: blacklist\n  listed_for: 365d\n")
    )
    pack = tmp_path / "pack"
    default_pack_with(pack)
    (pack / "impersonation/blacklist-confirmed-impersonation.yaml").write_text(rule)
    with Engine.from_path(pack, max_lead=None) as engine:  # a registration 400 days on
        blacklisted_li(engine)
        (entry, _) = engine.blacklist_entries("li")
        assert entry.ends_at == T0 + 366 * DAY
        assert engine.is_blacklisted({"id_number": LI}, at=T0 + 365 * DAY)
        assert not engine.is_blacklisted({"id_number": LI}, at=T0 + 366 * DAY)
        engine.process(registration("li-2", 400 * DAY, "reg-2", id_number=LI))
        assert (engine.status("li"), engine.status("li-2")) == ("blacklisted", "active")


def test_listed_for_and_window_by_are_checked_at_load(tmp_path: Path) -> None:
    """`listed_for` on a freeze, `by` on other events, `by` with another `distinct`."""
    pack = write_rule(
        tmp_path / "pack",
        "r",
        "id: r\nversion: 1\ndescription: d\nbasis: b\non: rumor_flag\n"
        "window: {count: 2, within: 1d, by: phone, distinct: content_id}\n"
        "then: {action: freeze, reason: r, listed_for: 30d}\n"
        "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC,"
        " ground: incompatible, reference: t}\n",
    )
    with pytest.raises(RuleLoadError) as caught:
        load_ruleset(pack)
    text = str(caught.value)
    assert "r.yaml:6: E-WINDOW: a window `by` an identity value counts registrations" in text
    assert "E-WINDOW: a window `by` an identity value counts distinct accounts" in text
    assert "r.yaml:7: E-THEN: `listed_for` applies to blacklist only, not freeze" in text


def test_shared_id_number_on_three_live_accounts_is_frozen_in_shadow(engine: Engine) -> None:
    """Three live accounts with one ID number within 30 days: a shadow freeze of the third,
    with the three registrations as evidence; status untouched. A cancelled account does not
    count, nor does one 30 days or more earlier."""
    engine.process(registration("a", 0 * DAY, "r1", id_number=LI, verification=None))
    engine.process(registration("b", 10 * DAY, "r2", id_number=LI_SPACED, verification=None))
    (decision,) = engine.process(
        registration("c", 20 * DAY, "r3", id_number=LI, verification=None)
    ).decisions
    assert (decision.rule_id, decision.mode, decision.action) == (SHARED, "shadow", "freeze")
    assert decision.evidence == ("r1", "r2", "r3")
    assert engine.status("c") == "active"

    engine.process(
        event(
            "identity_verification", "b", 21 * DAY, "v", status="failed", reason="forged_document"
        )
    )
    assert engine.status("b") == "cancelled"
    # In (1 d, 31 d]: b (cancelled) and c are there, a is too early: d makes only two.
    assert engine.process(registration("d", 31 * DAY, "r4", id_number=LI)).decisions == ()


def test_a_persistent_db_never_opens_without_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key at all: refused. Another key than the one it was written with: refused (its
    fingerprints would never match: a silent allow)."""
    db = tmp_path / "state.db"
    with Engine.from_path(db=db) as engine:
        blacklisted_li(engine)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(IdentityKeyError, match="never opens without one"):
        Engine.from_path(db=db)
    with pytest.raises(IdentityKeyError, match="another identity key"):
        Engine.from_path(db=db, identity_key=IdentityKey(b"x" * 40, "a test"))
    with Engine.from_path(db=db, identity_key=IdentityKey(TEST_KEY.encode(), "the test key")) as e:
        assert e.is_blacklisted({"id_number": LI})


def test_an_in_memory_engine_says_its_key_is_generated(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No key configured: an in-memory engine works, on a generated key, and logs so."""
    monkeypatch.delenv(KEY_ENV)
    with caplog.at_level(logging.WARNING, logger="blacklist_rules"):
        engine = Engine.from_path()
    assert "generated" in engine.identity_key.source
    assert "generated for this in-memory engine" in caplog.text
    blacklisted_li(engine)
    assert engine.is_blacklisted({"id_number": LI})


def test_raw_identity_values_never_reach_the_db_files(tmp_path: Path) -> None:
    """Registrations, a blacklist, a re-registration, a rejected registration and a reversal:
    no raw value (in any writing) is in the db, its WAL, or any audit record."""
    db = tmp_path / "state.db"
    values = [LI, "360426199101010071", PHONE, "8613800138000", "张三丰", "dev-secret-7", WANG]
    with Engine.from_path(db=db) as engine:
        engine.process(registration("li", 0 * DAY, "r1", id_number=LI, phone=PHONE, name="张三丰"))
        engine.process(impersonation("li", 1 * DAY, "i1"))
        engine.process(registration("li-2", 2 * DAY, "r2", id_number=LI, device_id="dev-secret-7"))
        bad = event("registration", "x", 3 * DAY, "r3", identity={"id_number": WANG, "pet": 1})
        assert engine.process(bad).rejection is not None
        records = repr(list(engine.audit_records()))
        files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.suffix != ".key")
    for value in values:
        assert value not in records
        assert value.encode() not in files
    # The fingerprints are there instead.
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM identities").fetchone()
    assert rows == (4,)  # ID number and phone of r1, ID number and device of r2


def test_rejected_inputs_are_remembered_under_the_identity_key(tmp_path: Path) -> None:
    """The digest of a rejected line is keyed with the identity key: the db holds no key of
    its own that would let it test a guessed line."""
    with Engine.from_path(db=tmp_path / "s.db") as engine:
        engine.process('{"event_id": "x", "type": "registration"}')
    store = SQLiteStore(tmp_path / "s.db")
    assert store.meta("rejection_key") is None
    store.close()


def test_a_shared_identity_rule_added_later_counts_registrations_already_in_the_db(
    tmp_path: Path,
) -> None:
    """Two registrations processed under a pack without the rule; the rule added, the third
    registration counts them (grouped by their fingerprints, not by account)."""
    without = tmp_path / "without"
    default_pack_with(without)
    (without / "identity" / f"{SHARED}.yaml").unlink()
    db = tmp_path / "state.db"
    with Engine.from_path(without, db=db) as engine:
        engine.process(registration("a", 0 * DAY, "r1", id_number=LI, verification=None))
        engine.process(registration("b", 1 * DAY, "r2", id_number=LI, verification=None))
    with Engine.from_path(db=db) as engine:
        (decision,) = engine.process(
            registration("c", 2 * DAY, "r3", id_number=LI, verification=None)
        ).decisions
        assert (decision.rule_id, decision.evidence) == (SHARED, ("r1", "r2", "r3"))


# --- regressions found in review -------------------------------------------------------------


def test_a_county_code_stdnum_knows_only_above_county_level_is_invalid(engine: Engine) -> None:
    """`110001…` has a right check character and birth date, but stdnum knows the code only as
    a prefecture (its own `validate` raises KeyError): an invalid ID number, cancelled, never
    a crash that leaves the account active."""
    first17 = "11000119900101123"
    number = first17 + ric.calc_check_digit(first17 + "0")
    (decision,) = engine.process(registration("a", 0 * DAY, "r", id_number=number)).decisions
    assert (decision.rule_id, engine.status("a")) == (
        "cancel-proven-fake-registration",
        "cancelled",
    )


def test_extra_status_or_reason_fields_do_not_hide_the_verification(engine: Engine) -> None:
    """A registration's verification is read from `verification`, not from an extra field of
    the same name: a passed one still lists, a victim's ID number is still not listed."""
    reg = registration("li", 0 * DAY, "r1", id_number=LI, phone=PHONE)
    engine.process({**reg, "status": "active"})
    engine.process(impersonation("li", 1 * DAY, "i1"))
    assert sorted(e.kind for e in engine.blacklist_entries("li")) == ["id_number", "phone"]

    victim = registration("imp", 0 * DAY, "r2", id_number=WANG, phone="13700137000")
    victim["verification"] = {"status": "failed", "reason": "identity_of_another_person"}
    engine.process({**victim, "reason": "web signup"})
    engine.process(event("identity_verification", "imp", 1 * DAY, "v2", status="passed"))
    engine.process(impersonation("imp", 2 * DAY, "i2"))
    assert [e.kind for e in engine.blacklist_entries("imp")] == ["phone"]


@pytest.mark.parametrize("how", ["victim", "lift"])
def test_a_removal_takes_effect_from_its_own_time_in_any_arrival_order(how: str) -> None:
    """li is blacklisted on day 1; a new account registers li's ID number on day 2; on day 3
    li's listing is removed. When the ID number turns out to be someone else's, the removal
    counts from its own time: the registration met the entry on day 2 whichever arrives first.
    When a reviewer lifts the blacklist, it was wrong from the start: the entry never was,
    and the re-registration's blacklist falls with it, whichever arrives first."""
    removal = (
        event("identity_verification", "li", 3 * DAY, "e4", status="failed", reason=VICTIM)
        if how == "victim"
        else event(
            "review_decision", "li", 3 * DAY, "e4", reviewer_id="r", action="lift", reason="x"
        )
    )
    first = [
        registration("li", 0 * DAY, "e1", id_number=LI, phone=PHONE),
        impersonation("li", 1 * DAY, "e2"),
    ]
    again = registration("other", 2 * DAY, "e3", id_number=LI, verification=None)
    statuses = []
    for order in ([*first, again, removal], [*first, removal, again]):
        with Engine.from_path() as engine:
            for item in order:
                engine.process(item)
            statuses.append(engine.status("other"))
            assert not engine.is_blacklisted({"id_number": LI})
            listed_then = engine.is_blacklisted({"id_number": LI}, at=T0 + 2 * DAY)
            assert listed_then == (how == "victim")
    expected = "blacklisted" if how == "victim" else "active"
    assert statuses == [expected, expected]


def test_durations_over_100_years_are_refused_at_load(tmp_path: Path) -> None:
    """`listed_for: 999999w` would overflow a date at the first blacklist: refused at load."""
    pack = write_rule(
        tmp_path / "pack",
        "r",
        "id: r\nversion: 1\ndescription: d\nbasis: b\non: impersonation_report\n"
        "then: {action: blacklist, reason: r, listed_for: 999999w}\n"
        "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC,"
        " ground: incompatible, reference: t}\n",
    )
    with pytest.raises(RuleLoadError, match="longer than 100 years"):
        load_ruleset(pack)


@pytest.mark.parametrize("phone", ["\ud800" * 70, "\ud800"])
def test_a_lone_surrogate_is_refused_without_leaking_the_input(engine: Engine, phone: str) -> None:
    """Text that cannot be encoded: a rejection or a failed verification, never a failure
    whose message (or audit record) quotes the rest of the input."""
    out = engine.process(
        event("registration", "c", T0, "c3", identity={"id_number": LI, "phone": phone})
    )
    assert out.failure is None
    assert LI not in repr(out)
    assert LI not in repr(list(engine.audit_records()))


def test_unknown_identity_keys_are_not_shown_when_they_could_be_values(engine: Engine) -> None:
    """`identity: {<an ID number>: …}`: the rejection names no key; neither does
    `is_blacklisted`. A key that reads as a field name is named (did you mean…)."""
    out = engine.process(event("registration", "a", T0, "r", identity={LI: "x"}))
    assert out.rejection is not None
    assert out.rejection.path == "identity.(unknown field)"
    assert LI not in repr(list(engine.audit_records()))
    with pytest.raises(EventError) as caught:
        engine.is_blacklisted({LI: "x"})
    assert LI not in str(caught.value)


def test_extra_fields_named_like_identity_values_are_never_stored(tmp_path: Path) -> None:
    """Extras are evidence, identity values excepted (DESIGN §2), at any depth."""
    with Engine.from_path(db=tmp_path / "s.db") as engine:
        engine.process(
            event("identity_verification", "a", T0, "v", status="passed", id_number=LI, phone=PHONE)
        )
        engine.process({**registration("b", DAY, "r"), "phone": PHONE})
        engine.process(
            event(
                "rumor_flag",
                "c",
                DAY,
                "f",
                content_id="p",
                verdict="rumor",
                source="user_report",
                evidence={"identity": {"id_number": LI}, "notes": [{"device_id": "dev-9x"}]},
            )
        )
        stored = engine.store.event_payload("f")
    assert stored is not None
    assert stored["evidence"] == {"notes": [{}]}
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.suffix != ".key")
    for value in (LI, PHONE, "dev-9x"):
        assert value.encode() not in files


def test_full_width_digits_and_ideographic_spaces_are_the_same_number(engine: Engine) -> None:
    """NFKC: li's ID number in full-width digits, or with ideographic spaces, is li's."""
    blacklisted_li(engine)
    wide = LI.translate({ord("0") + d: 0xFF10 + d for d in range(10)})  # full-width digits
    assert engine.is_blacklisted({"id_number": wide})
    assert engine.is_blacklisted({"id_number": LI_SPACED.replace(" ", "\u3000")})
    (decision,) = engine.process(registration("li-2", 2 * DAY, "r2", id_number=wide)).decisions
    assert decision.rule_id == RETURNING


def test_a_blank_device_id_is_no_device_and_fails_nothing(engine: Engine) -> None:
    """A valid ID number and phone with `device_id: "  "`: the registration passes."""
    reg = registration("a", 0 * DAY, "r", id_number=LI, phone=PHONE, device_id="  ")
    assert engine.process(reg).decisions == ()
    assert engine.status("a") == "active"


def test_the_same_event_id_with_another_identity_is_a_clash(engine: Engine) -> None:
    """The stored registration holds a keyed digest of its identity: an identical resend is a
    duplicate, the same id with another ID number is rejected."""
    engine.process(registration("a", 0 * DAY, "r", id_number=LI))
    assert engine.process(registration("a", 0 * DAY, "r", id_number=LI)).duplicate
    clash = engine.process(registration("a", 0 * DAY, "r", id_number=WANG))
    assert clash.rejection is not None
    assert "already used by a different event" in clash.rejection.reason


@pytest.mark.parametrize("identity", [None, "x", [LI]])
def test_is_blacklisted_refuses_what_is_not_a_mapping(engine: Engine, identity: Any) -> None:
    with pytest.raises(EventError, match="an identity is a mapping"):
        engine.is_blacklisted(identity)


def test_a_db_with_a_key_never_gets_a_new_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written under the environment's key, then opened (as `run` does, `create_key=True`)
    without it: refused for want of its key, and no new, useless key file is made."""
    db = tmp_path / "s.db"
    Engine.from_path(db=db).close()
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(IdentityKeyError, match="no identity key"):
        Engine.from_path(db=db, create_key=True)
    assert not Path(f"{db}.key").exists()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(range(6)))
def test_windows_by_an_identity_are_sets_not_arrival_orders(order: list[int]) -> None:
    """One ID number on accounts registering on days 0, 1, 2, 5 and 40, another on day 3: in
    any arrival order the shadow freezes fall on the same accounts at the same moments (a late
    registration decides for the later ones whose window it completes)."""
    events = [
        registration(f"a{n}", day * DAY, f"r{n}", id_number=LI, verification=None)
        for n, day in enumerate((0, 1, 2, 5, 40))
    ] + [registration("w", 3 * DAY, "r5", id_number=WANG, verification=None)]

    def shared(items: list[dict[str, Any]]) -> set[tuple[str, Any]]:
        # (The evidence may differ: a window decided before a late event came lacks it.)
        with Engine.from_path() as engine:
            return {
                (d.account_id, d.effective_at)
                for item in items
                for d in engine.process(item).decisions
                if d.rule_id == SHARED
            }

    expected = shared(events)
    assert expected == {("a2", T0 + 2 * DAY), ("a3", T0 + 5 * DAY)}
    assert shared([events[i] for i in order]) == expected
