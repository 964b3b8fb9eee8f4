"""Identity values: GB 11643 checks, E.164 phones, keyed fingerprints and the identity key.

Valid ID numbers are built with python-stdnum's own check-digit function, so the tests do not
restate its algorithm; `360426199101010071` is stdnum's own documented valid sample.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from datetime import date
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from blacklist_rules.engine import registry
from blacklist_rules.errors import IdentityKeyError
from blacklist_rules.model import events, identity
from blacklist_rules.model.identity import (
    INVALID_ID_NUMBER,
    INVALID_PHONE,
    KEY_ENV,
    NO_USABLE_IDENTITY,
    IdentityKey,
    Listing,
    check_id_number,
    fingerprints,
    generated_key,
    load_key,
    lookup_prints,
    normalise_phone,
    parse_phone,
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
    """No field, or only invalid ones: nothing to fingerprint, problems say why (and that
    nothing usable came, when something came)."""
    assert not fingerprints({}, KEY, TODAY).usable
    bad = fingerprints({"phone": "12", "id_number": 5}, KEY, TODAY)
    assert not bad.usable
    assert bad.problems == (INVALID_ID_NUMBER, INVALID_PHONE, NO_USABLE_IDENTITY)
    assert fingerprints({"name": "张三"}, KEY, TODAY).problems == (NO_USABLE_IDENTITY,)


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


# python-stdnum's own samples (its tests/test_cn_ric.doctest), as data.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("360426199101010071", "360426199101010071"),
        ("44011320141005001x", "44011320141005001X"),
        ("120110198012010073", "120110198012010073"),  # county 120110 before its 1991 rename
        ("120110199212010072", "120110199212010072"),  # and after
        ("T60426199101010078", None),  # format
        ("360426199113010079", None),  # month 13
        ("36042619910102009X", None),  # check character
        ("990426199112010074", None),  # no such county
        (valid("11011119801201007"), None),  # county not created yet in 1980
        (valid("11020119931201007"), None),  # county abolished before 1993
    ],
)
def test_python_stdnums_own_samples(raw: str, expected: str | None) -> None:
    """Valid and invalid samples from python-stdnum's tests, including county validity by
    birth year (the part our cache short-cuts)."""
    assert check_id_number(raw, TODAY) == expected


def _stdnum_verdict(raw: str) -> str | None:
    """The reference: stdnum's `ric.validate` on the same compact form, plus our birth rule."""
    try:
        number = ric.validate(raw.replace(" ", "").replace("-", ""))
    except (ValidationError, KeyError):  # KeyError: a code known above county level only
        return None
    return number if ric.get_birth_date(number) <= TODAY else None


near_valid = st.builds(
    lambda first17, tail, mutate: (valid(first17)[:-1] + tail) if mutate else valid(first17),
    st.builds(
        lambda area, born, seq: f"{area}{born:%Y%m%d}{seq:03d}",
        st.sampled_from(["110101", "110111", "110201", "120110", "360426", "440113", "990426"]),
        st.dates(date(1940, 1, 1), date(2030, 12, 31)),
        st.integers(0, 999),
    ),
    st.sampled_from(list("0123456789Xx")),
    st.booleans(),
)


@given(st.one_of(near_valid, st.text("0123456789Xx -", max_size=22)))
def test_our_id_number_check_agrees_with_stdnums_validate(raw: str) -> None:
    """The cached check gives exactly stdnum's verdict (counties that did or did not exist,
    check characters, dates, lengths, blanks)."""
    assert check_id_number(raw, TODAY) == _stdnum_verdict(raw)


@given(
    st.text("0123456789", min_size=10, max_size=10).map(lambda d: "1" + d),
    st.sampled_from(["{}", "+86{}", "+86 {}", "({})", "{0} ", "+86-{}"]),
    st.lists(st.integers(0, 10), max_size=3),
)
def test_the_short_way_for_cn_mobiles_agrees_with_the_parser(
    digits: str, form: str, cuts: list[int]
) -> None:
    """Any 11 digits from 1, written with or without +86, blanks or hyphens inside: the short
    way gives exactly what phonenumbers' parser gives (valid or not)."""
    for cut in sorted(set(cuts), reverse=True):
        digits = digits[:cut] + " " + digits[cut:] if cut else digits
    raw = form.format(digits)
    assert normalise_phone(raw) == parse_phone(raw)


@given(st.text("0123456789", min_size=10, max_size=10).map(lambda d: "1" + d))
def test_the_mobile_pattern_shortcut_says_valid_only_of_valid_numbers(digits: str) -> None:
    """The metadata's patterns (issue 19's shortcut, in use with today's phonenumbers) call
    a number valid only when `is_valid_number` does: what they do not call valid takes the
    full check, so the verdict is phonenumbers' either way."""
    assert identity._CN_MOBILE is not None
    number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
    if identity._CN_MOBILE(digits):
        assert phonenumbers.is_valid_number(number)


@given(digits17, st.sampled_from(["{}", "{} ", " {}"]), st.booleans())
def test_id_number_fingerprints_are_stable_under_formatting(
    first17: str, form: str, spaced: bool
) -> None:
    """Blanks, hyphens and a lower-case `x`: the same fingerprint, at registration and in a
    pre-registration lookup alike."""
    number = valid(first17)
    written = f"{number[:6]} {number[6:14]}-{number[14:]}" if spaced else number.lower()
    at_registration = fingerprints({"id_number": form.format(written)}, KEY, TODAY).id_number
    assert at_registration == fingerprints({"id_number": number}, KEY, TODAY).id_number
    assert lookup_prints({"id_number": written}, KEY) == [("id_number", at_registration)]


@given(
    st.binary(min_size=32, max_size=200),
    st.sampled_from(["id_number", "phone", "device", "rejected"]),
    st.text(max_size=300),
)
def test_fingerprints_are_hmac_sha256(secret: bytes, kind: str, value: str) -> None:
    """The precomputed pads give exactly the standard library's HMAC-SHA-256, for keys shorter
    and longer than a block."""
    expected = hmac.new(secret, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
    assert IdentityKey(secret, "test").fingerprint(kind, value) == expected


def test_stored_fingerprints_are_pinned() -> None:
    """Issue 19: fingerprints are stored and matched across versions, so a faster way to
    compute them must give these very digests (made on main e939c37): an ID number, a
    phone, a device id (stripped), the identity digest's, and a key longer than a block."""
    found = fingerprints(
        {"id_number": "360426199101010071", "phone": "+86 138 0013 8000", "device_id": " d1 "},
        KEY,
        TODAY,
    )
    assert found == identity.Fingerprints(
        id_number="b86a8b3aaf1110f0fa95eaf462cba5d69908e819bcdf0d63d72c86272d6d7be5",
        phone="26b82675c2a712aa48a76075a28707a34343eebcfc00fe55cfda3b1198ec9f6a",
        device="9717daa388808e8e660f8ee8b8d02b34284635f04ff066baeaf48c4f4891f98a",
    )
    values = {"id_number": "360426199101010071", "name": "张三", "phone": "+86 138 0013 8000"}
    assert (
        KEY.fingerprint("identity", registry._CANONICAL.encode(values))
        == "33117699905104c083c161fedfb95f016806c6ba2930e69b01553dd15fd7e109"
    )
    long = IdentityKey(b"q" * 100, "test")
    assert (
        long.fingerprint("phone", "+8613800138000")
        == "82972aa47aac1a4cab59c7fcff2e25d07d8cc3107ca43a114a2e5496bed013f1"
    )
    assert long.check == "c9a0e33d0e908bf2228d19183fa43e9a60837eecbbb9c1e6788ddae6cb2b34f3"


def test_the_listing_in_memory_follows_entries_in_and_out() -> None:
    """Entries with and without an end, two on one value, removal of one then the other."""
    listing = Listing()
    first, other = KEY.fingerprint("phone", "+8613800138000"), KEY.fingerprint("phone", "x")
    listing.add(first, 100, None)
    listing.add(first, 50, 80)
    assert (len(listing), listing.in_force(other, None)) == (2, False)
    assert [listing.in_force(first, t) for t in (49, 50, 79, 80, 99, 100)] == [
        False,
        True,
        True,
        False,
        False,
        True,
    ]
    listing.remove(first, 100, None)
    assert (listing.in_force(first, 100), listing.in_force(first, 60)) == (False, True)
    listing.remove(first, 50, 80)
    assert (len(listing), listing.in_force(first, None)) == (0, False)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(values=st.dictionaries(st.text(), st.text(), max_size=4), payload=_JSON)
def test_the_encoders_made_once_write_what_json_dumps_wrote(
    values: dict[str, str], payload: Any
) -> None:
    """Issue 19 (branch `mixfast`): the identity digest's canonical text and a stored
    payload come from encoders made once; their text is `json.dumps`'s with the same
    options, so stored digests and payloads stay byte for byte what they were."""
    assert registry._CANONICAL.encode(values) == json.dumps(
        values, sort_keys=True, ensure_ascii=False
    )
    assert events._STORED.encode(payload) == json.dumps(
        payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )


_UPDATES: list[dict[str, Any]] = [
    {},
    {"identity_digest": "d"},
    {"phone_kind": None, "phone_country": None},
    {"identity_digest": "d", "phone_kind": "mobile", "phone_country": "CN"},
    {"identity_digest": "d", "verification": "failed", "verification_received": {"s": 1}},
]


@pytest.mark.parametrize("update", _UPDATES)
@pytest.mark.parametrize("sent", [None, {"status": "failed", "reason": "x"}, {"status": "passed"}])
@pytest.mark.parametrize("extra", [{}, {"phone_kind": "sent"}, {"source": 1, "score": None}])
def test_the_registrations_update_is_pydantics_model_copy(
    extra: dict[str, Any], sent: dict[str, str] | None, update: dict[str, Any]
) -> None:
    """Issue 19: `identify`'s copy of a registration with the engine's facts is what
    `model_copy(update=...)` makes: the same fields, extra fields, fields set, and text."""
    raw = {
        "event_id": "e1",
        "type": "registration",
        "account_id": "a1",
        "occurred_at": "2026-11-28T00:00:00Z",
        "identity": {"name": "n"},
        **({"verification": sent} if sent else {}),
        **extra,
    }
    event = events.parse_event(raw)
    assert isinstance(event, events.Registration)
    if "verification" in update:
        failed = events.Verification(status="failed", reason="invalid_id_number")
        update = {**update, "verification": failed}
    ours, theirs = registry.updated(event, update), event.model_copy(update=update)
    assert ours == theirs
    assert ours.__dict__ == theirs.__dict__
    assert ours.model_extra == theirs.model_extra
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.__pydantic_private__ == theirs.__pydantic_private__
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert events.stored_text(ours, None) == events.stored_text(theirs, None)
