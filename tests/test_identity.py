"""Identity values: GB 11643 checks, E.164 phones, keyed fingerprints and the identity key.

Valid ID numbers are built with python-stdnum's own check-digit function, so the tests do not
restate its algorithm; `360426199101010071` is stdnum's own documented valid sample.
"""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from blacklist_rules.errors import IdentityKeyError
from blacklist_rules.identity import (
    INVALID_ID_NUMBER,
    INVALID_PHONE,
    KEY_ENV,
    IdentityKey,
    check_id_number,
    fingerprints,
    generated_key,
    load_key,
    normalise_phone,
)

TODAY = date(2026, 11, 28)
KEY = IdentityKey(b"k" * 32, "test")


def valid(first17: str) -> str:
    """A GB 11643 number: 17 digits and stdnum's check character (it takes a whole number)."""
    return first17 + ric.calc_check_digit(first17 + "0")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("360426199101010071", "360426199101010071"),  # stdnum's documented sample
        (" 360426 19910101 0071 ", "360426199101010071"),  # separators and blanks go
        (valid("11010119900307123").lower(), valid("11010119900307123")),
    ],
)
def test_valid_id_numbers_normalise_to_18_upper_case_characters(raw: str, expected: str) -> None:
    """A valid number comes back compact and upper case (a final `x` becomes `X`)."""
    assert check_id_number(raw, TODAY) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "360426199101010072",  # wrong check character
        "36042619910101007",  # 17 characters
        valid("36042619911301007"),  # month 13, with a right check character
        valid("36042619910230007"),  # 30 February
        valid("11010120991231001"),  # born in 2099: after the event
        "3604261991010100711",  # 19 characters
        "36042619910101007A",
        "",
        "1" * 1000,
    ],
)
def test_invalid_id_numbers_are_refused(raw: str) -> None:
    """Check character, length, characters, impossible or future birth dates: all refused."""
    assert check_id_number(raw, TODAY) is None


def test_a_birth_date_is_judged_against_the_event_not_the_wall_clock() -> None:
    """Born on 2026-12-01: valid for an event after that day, invalid for one before."""
    number = valid("11010120261201001")
    assert check_id_number(number, date(2026, 12, 1)) == number
    assert check_id_number(number, date(2026, 11, 30)) is None


@pytest.mark.parametrize(
    "raw",
    ["13800138000", "+86 138 0013 8000", "+86-138-0013-8000", "(+86) 13800138000", "138 0013 8000"],
)
def test_phone_formats_of_one_number_are_one_e164_number(raw: str) -> None:
    """National and international writings of one mobile number normalise alike (region CN)."""
    assert normalise_phone(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["12345", "not a phone", "+86 000", "", "1" * 200])
def test_phones_that_do_not_parse_or_are_not_valid_are_refused(raw: str) -> None:
    """Too short, not digits, an unassigned prefix, over-long: None, never an exception."""
    assert normalise_phone(raw) is None


def test_fingerprints_keep_no_raw_value_and_report_problems() -> None:
    """Valid values become 64-hex fingerprints; invalid ones are problems, not exceptions; the
    raw values appear nowhere in the result."""
    identity = {"id_number": "360426199101010072", "phone": "+86 138 0013 8000", "device_id": "d1"}
    found = fingerprints(identity, KEY, TODAY)

    assert found.problems == (INVALID_ID_NUMBER,)
    assert found.id_number is None
    assert found.phone is not None
    assert len(found.phone) == 64
    assert found.usable
    assert "13800138000" not in repr(found)
    assert "360426" not in repr(found)


def test_an_identity_with_nothing_usable() -> None:
    """No field, or only invalid ones: nothing to fingerprint, problems say why."""
    assert not fingerprints({}, KEY, TODAY).usable
    bad = fingerprints({"phone": "12", "id_number": 5}, KEY, TODAY)
    assert not bad.usable
    assert set(bad.problems) == {INVALID_ID_NUMBER, INVALID_PHONE}


def test_kinds_and_keys_separate_fingerprints() -> None:
    """The same text as an ID number and as a device id, or under two keys, differs."""
    assert KEY.fingerprint("id_number", "x") != KEY.fingerprint("device", "x")
    assert KEY.fingerprint("id_number", "x") != IdentityKey(b"j" * 32, "t").fingerprint(
        "id_number", "x"
    )


mobile = st.integers(0, 99_999_999).map(lambda n: f"138{n:08d}")


@given(mobile, st.sampled_from(["{}", "+86{}", "+86 {}", "0086{}", "+86-{}"]))
def test_phone_fingerprints_are_stable_under_formatting(number: str, form: str) -> None:
    """Any writing of a mobile number gives the fingerprint of its plain national form."""
    plain = fingerprints({"phone": number}, KEY, TODAY).phone
    assert plain is not None
    assert fingerprints({"phone": form.format(number)}, KEY, TODAY).phone == plain


digits17 = st.builds(
    lambda area, born, seq: f"{area}{born:%Y%m%d}{seq:03d}",
    st.sampled_from(["110101", "110102", "310101", "310104"]),  # counties since before 1930
    st.dates(date(1930, 1, 1), date(2020, 12, 31)),
    st.integers(0, 999),
)


@given(digits17, digits17)
def test_distinct_id_numbers_have_distinct_fingerprints(a: str, b: str) -> None:
    """Two valid numbers share a fingerprint only when they are the same number."""
    first = fingerprints({"id_number": valid(a)}, KEY, TODAY).id_number
    second = fingerprints({"id_number": valid(b)}, KEY, TODAY).id_number
    assert first is not None
    assert second is not None
    assert (first == second) == (a == b)


def test_key_from_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`BLACKLIST_RULES_IDENTITY_KEY` is used as it is; a short one is refused."""
    monkeypatch.setenv(KEY_ENV, "e" * 40)
    assert load_key(tmp_path / "x.db").source == f"${KEY_ENV}"
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(IdentityKeyError, match="too short"):
        load_key(tmp_path / "x.db")


def test_a_persistent_db_needs_a_key_file_made_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the environment variable: no key file and no `create` is an error; `create`
    writes one, mode 0600, reused afterwards; a key file others can read is refused."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "state.db"
    with pytest.raises(IdentityKeyError, match="never opens without one"):
        load_key(db)
    made = load_key(db, create=True)
    path = Path(f"{db}.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(db) == made
    assert load_key(db, create=True) == made  # an existing file is never overwritten
    os.chmod(path, 0o644)
    with pytest.raises(IdentityKeyError, match="readable by others"):
        load_key(db)


def test_an_in_memory_engine_gets_a_generated_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No db and no environment variable: a fresh random key each time, said to be generated."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    first, second = load_key(None), load_key(":memory:")
    assert first != second
    assert "generated" in first.source
    assert generated_key().secret != first.secret
    assert first.secret.decode() not in repr(first)  # the key never shows in a repr
