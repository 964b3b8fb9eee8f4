"""Identity values where none were expected (issue 13 item 5): an ID number or phone in an
extra field is kept as its keyed fingerprint, never raw; an account id that is one is refused.
Which values count is defined in `identity.identity_value`; both sides are tested."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine
from blacklist_rules.cli import main
from blacklist_rules.model.identity import ID_NUMBER, PHONE, identity_value

from .support import event

PEOPLE = [
    ("11010519491231002X", "13800138000"),
    ("440301198506151238", "13912345678"),
    ("320102197703044419", "15108470054"),
]


def forms(id_number: str, phone: str) -> list[str]:
    """The ways senders write them: spaced, lower-case x, +86, with and without blanks."""
    spaced_id = f"{id_number[:6]} {id_number[6:14]} {id_number[14:]}"
    spaced_phone = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return [
        id_number,
        id_number.lower(),
        spaced_id.lower(),
        phone,
        f"+86{phone}",
        f"+86 {spaced_phone}",
        spaced_phone,
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("11010519491231002X", ID_NUMBER),
        ("11010519491231002x", ID_NUMBER),
        ("110105 19491231 002x", ID_NUMBER),
        ("110105-19491231-002X", ID_NUMBER),
        ("13800138000", PHONE),
        (13800138000, PHONE),
        ("+86 138 0013 8000", PHONE),
        ("+8613800138000", PHONE),
        ("010 6552 9988", PHONE),
        ("+44 20 7946 0958", PHONE),
    ],
)
def test_what_counts_as_an_identity_value(value: object, kind: str) -> None:
    """A GB 11643 number with its right check character and a real birth date, in any
    writing; a phone number phonenumbers finds valid (CN, or with '+' any country)."""
    found = identity_value(value)
    assert found is not None
    assert found[0] == kind


@pytest.mark.parametrize(
    "value",
    [
        "12345",
        12345,
        "acct-13800138000",
        "11010519491231002Y",  # wrong check character
        "110105194912310021",  # wrong check character
        "110105194913310028",  # month 13 (its check character is right)
        "2026-05-01",
        "20260501",
        "12345678901",  # 11 digits, no Chinese number range
        "1.5",
        "192.168.1.1",
        "2026-05-01T09:00:00+08:00",
        "1-800-FLOWERS",
        True,
        "",
    ],
)
def test_what_does_not_count(value: object) -> None:
    """Plain numeric ids, dates, addresses, wrong check characters, impossible dates and
    letters stay what they are."""
    assert identity_value(value) is None


def rumor(event_id: str, account: str = "acct-1", **extra: Any) -> dict[str, Any]:
    return event(
        "rumor_flag",
        account,
        timedelta(0),
        event_id,
        content_id="c1",
        verdict="rumor",
        source="user_report",
        **extra,
    )


def test_an_extra_identity_value_is_stored_as_its_fingerprint(tmp_path: Path) -> None:
    """The stored event holds `fingerprint:<kind>:<hex>`, the fingerprint a registration of
    the same value gets, whatever the writing; other values stay as they came."""
    db = tmp_path / "s.db"
    with Engine.from_path(db=db) as engine:
        outcome = engine.process(
            rumor(
                "e1",
                id_card="110105 19491231 002x",
                mobile={"home": ["+86 138 0013 8000"]},
                order="12345",
                count=12345,
                day="2026-05-01",
            )
        )
        assert outcome.rejection is None
        key = engine.identity_key
    (payload,) = sqlite3.connect(db).execute("SELECT payload FROM events").fetchone()
    stored = json.loads(payload)
    assert stored["id_card"] == "fingerprint:id_number:" + key.fingerprint(
        ID_NUMBER, "11010519491231002X"
    )
    assert stored["mobile"] == {
        "home": ["fingerprint:phone:" + key.fingerprint(PHONE, "+8613800138000")]
    }
    assert (stored["order"], stored["count"], stored["day"]) == ("12345", 12345, "2026-05-01")


@pytest.mark.parametrize("account", ["13800138000", "+86 138 0013 8000", "11010519491231002x"])
def test_an_account_id_that_is_an_identity_value_is_refused(account: str) -> None:
    """Refused, not fingerprinted (an operator could not tell which account a fingerprint
    names): a rejection that names the field, with no account id kept."""
    engine = Engine.from_path()
    outcome = engine.process(rumor("e1", account=account))
    assert outcome.rejection is not None
    assert outcome.rejection.path == "account_id"
    assert "identity value" in outcome.rejection.reason
    assert outcome.account_id is None
    (record,) = list(engine.audit_records())
    assert account not in json.dumps(record.to_dict())


@pytest.mark.parametrize("account", ["12345", "acct-13800138000", "u13800138000", "1380013800"])
def test_plain_account_ids_stay(account: str) -> None:
    """Numeric and prefixed ids that are no identity value are accepted as they are."""
    outcome = Engine.from_path().process(rumor("e1", account=account))
    assert (outcome.rejection, outcome.account_id) == (None, account)


def probe_events() -> list[dict[str, Any]]:
    """Three people's ID numbers and phones in every writing, in extra fields (as values, in
    lists, nested, as keys) of events that become evidence, of a rejected event, and as
    account ids."""
    events: list[dict[str, Any]] = []
    for n, (id_number, phone) in enumerate(PEOPLE):
        written = forms(id_number, phone)
        account = f"acct-{n}"
        events.append(event("registration", account, timedelta(days=0), f"reg-{n}", identity={}))
        for k, form in enumerate(written):
            events.append(
                event(
                    "impersonation_report",
                    account,
                    timedelta(days=1, minutes=k),
                    f"rep-{n}-{k}",
                    reporter_id=f"reporter-{k}",
                    confirmed=k == 0,
                    id_card=form,
                    mobile=written[3 + k % 4],
                    contact={"mobile": [form], form: "as a key"},
                )
            )
        events.append({"event_id": f"bad-{n}", "type": "rumor_flag", "id_card": written[1]})
        events.append(rumor(f"acct-as-phone-{n}", account=written[5]))
    return events


def test_no_raw_identity_value_in_the_db_or_any_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probe of issue 13: events with three people's ID numbers and phones in extra
    fields and account ids, through `run`, then `status`, `explain`, `audit show` and
    `audit export` (jsonl and dsa): no raw value, in any writing, in their output, the db
    file or its WAL."""
    path, db = tmp_path / "events.jsonl", tmp_path / "state.db"
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in probe_events()) + "\n")
    assert main(["run", str(path), "--db", str(db)]) == 0
    out = capsys.readouterr()
    decisions = [json.loads(text) for text in out.out.splitlines()]
    assert {d["account_id"] for d in decisions} == {"acct-0", "acct-1", "acct-2"}
    texts = [out.out, out.err]
    commands = [["audit", "export", "--format", "jsonl", str(db)]]
    commands.append(["audit", "export", "--format", "dsa", str(db)])
    for n in range(len(PEOPLE)):
        commands += [
            ["status", f"acct-{n}", "--db", str(db)],
            ["status", f"acct-{n}", "--db", str(db), "--json"],
            ["audit", "show", "--account", f"acct-{n}", str(db)],
            ["audit", "show", "--account", f"acct-{n}", "--json", str(db)],
            [
                "explain",
                "--account",
                f"acct-{n}",
                "--rule",
                "blacklist-confirmed-impersonation",
                "--db",
                str(db),
            ],
        ]
    commands += [["explain", d["decision_id"], "--db", str(db)] for d in decisions]
    for command in commands:
        main(command)
        out = capsys.readouterr()
        texts.append(out.out + out.err)
    files = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*") if p.suffix != ".key")
    shown = "\n".join(texts)
    assert "fingerprint:id_number:" in shown  # the evidence is shown, fingerprinted
    assert "fingerprint:phone:" in shown
    for id_number, phone in PEOPLE:
        for value in {*forms(id_number, phone), id_number[:17], phone}:
            assert value not in shown, value
            assert value.encode() not in files, value
