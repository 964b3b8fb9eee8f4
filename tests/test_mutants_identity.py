"""Identity values and keys at their edges, through `blacklist_rules.model.identity` itself.

Written for the mutants of model/identity.py that the identity and blacklist tests let through (see
bench/README.md, "Mutation testing"): lengths exactly at their limits, every mode bit of a key
file, HMAC for keys of every size, and the shapes values come in.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType

import pytest
from stdnum.cn import ric

from blacklist_rules.errors import IdentityKeyError
from blacklist_rules.model.identity import (
    DEVICE,
    ID_NUMBER,
    INVALID_ID_NUMBER,
    INVALID_PHONE,
    KEY_ENV,
    MAX_VALUE_CHARS,
    MIN_KEY_CHARS,
    NO_USABLE_IDENTITY,
    PHONE,
    BlacklistEntry,
    Fingerprints,
    IdentityKey,
    Listing,
    check_id_number,
    compact_id_number,
    fingerprints,
    generated_key,
    identity_value,
    load_key,
    lookup_prints,
    mask_identity_values,
    normalise_device,
    normalise_phone,
)

KEY = IdentityKey(b"k" * 32, "test")
NUMBER = "360426199101010071"
"""python-stdnum's documented sample: born 1991-01-01."""
MOBILE = "13800138000"


def _hmac(secret: bytes, kind: str, value: str) -> str:
    message = f"{kind}\x1f{value}".encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("size", [1, 63, 64, 65, 200])
def test_fingerprints_are_hmac_sha256_for_keys_around_the_block_size(size: int) -> None:
    """Keys up to 64 bytes are padded, longer ones hashed first, as RFC 2104 says."""
    secret = bytes(range(256))[:size] if size <= 256 else b"x" * size
    assert IdentityKey(secret, "t").fingerprint("phone", "+86") == _hmac(secret, "phone", "+86")


def test_a_value_with_a_lone_surrogate_has_a_fingerprint() -> None:
    """Text that is no valid UTF-8 still fingerprints (as its surrogate code units)."""
    assert KEY.fingerprint("device", "a\ud800b") == _hmac(b"k" * 32, "device", "a\ud800b")


def test_a_keys_check_is_the_fingerprint_of_a_fixed_value() -> None:
    """The db keeps it to recognise its key: HMAC of `key-check` / `blacklist-rules`."""
    assert KEY.check == _hmac(b"k" * 32, "key-check", "blacklist-rules")


def test_a_generated_key_is_64_hex_characters() -> None:
    """256 random bits written as hex."""
    secret = generated_key().secret
    assert len(secret) == 64
    int(secret, 16)


def test_a_key_of_exactly_the_minimum_length_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """32 characters (blanks around them do not count) is enough; 31 is refused, naming the
    minimum."""
    monkeypatch.setenv(KEY_ENV, " " + "e" * MIN_KEY_CHARS + "\n")
    key = load_key(None)
    assert key.secret == b"e" * MIN_KEY_CHARS
    assert not key.created  # nothing was written
    monkeypatch.setenv(KEY_ENV, "e" * (MIN_KEY_CHARS - 1) + "   ")
    with pytest.raises(IdentityKeyError) as caught:
        load_key(None)
    assert str(caught.value) == (
        f"the identity key from ${KEY_ENV} is too short: at least {MIN_KEY_CHARS} characters"
    )


@pytest.mark.parametrize("bit", [0o040, 0o020, 0o010, 0o004, 0o002, 0o001])
def test_a_key_file_with_any_group_or_other_bit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bit: int
) -> None:
    """Each of the six group/other bits alone refuses the file; the message says its mode."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "s.db"
    load_key(db, create=True)
    path = Path(f"{db}.key")
    os.chmod(path, 0o600 | bit)
    with pytest.raises(IdentityKeyError) as caught:
        load_key(db)
    assert str(caught.value) == (
        f"{path} is readable by others (mode {0o600 | bit:o}): chmod 600 it"
    )


def test_a_key_file_readable_by_its_owner_only_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0400 and 0700 are owner-only: accepted, the key read without its newline."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "s.db"
    made = load_key(db, create=True)
    path = Path(f"{db}.key")
    for mode in (0o400, 0o700):
        os.chmod(path, mode)
        assert load_key(db).secret == made.secret


def test_a_new_key_file_says_it_was_created_and_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load writes 64 hex characters and a newline, mode 0600, and says `created`;
    later loads read the same key and do not."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "s.db"
    path = Path(f"{db}.key")
    made = load_key(db, create=True)
    text = path.read_text(encoding="ascii")
    assert (len(text), text[-1]) == (65, "\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert made.created
    assert made.source == f"key file {path}"
    again = load_key(db, create=True)
    assert not again.created
    assert again.secret == made.secret == text.strip().encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (NUMBER, NUMBER),
        ("44011320141005001x", "44011320141005001X"),
        ("".join(chr(0xFF10 + int(c)) for c in NUMBER), NUMBER),  # full-width digits
        ("360426\u300019910101-0071", NUMBER),  # an ideographic space and a hyphen
        (" 360426 19910101 0071 ", NUMBER),
    ],
)
def test_id_numbers_compact_to_18_upper_case_characters(raw: str, expected: str) -> None:
    """Blanks, hyphens, full-width forms and a lower-case x are what they look like."""
    assert compact_id_number(raw) == expected
    assert check_id_number(raw, date(2026, 1, 1)) == expected


def test_an_id_number_is_valid_from_its_birth_day() -> None:
    """Judged on the day of birth it is valid; the day before, not yet."""
    assert check_id_number(NUMBER, date(1991, 1, 1)) == NUMBER
    assert check_id_number(NUMBER, date(1990, 12, 31)) is None


@pytest.mark.parametrize("raw", [None, 360426199101010071, "", NUMBER[:17], NUMBER + "0"])
def test_what_is_not_an_18_character_number_is_no_id_number(raw: object) -> None:
    """Not text, or not 18 characters once compact: no ID number."""
    assert check_id_number(raw, date(2026, 1, 1)) is None


def test_an_id_number_written_with_too_many_blanks_is_refused() -> None:
    """Values are bounded before any work: 64 characters pass, 65 do not."""
    padded = NUMBER + " " * (MAX_VALUE_CHARS - len(NUMBER))
    assert check_id_number(padded, date(2026, 1, 1)) == NUMBER
    assert check_id_number(padded + " ", date(2026, 1, 1)) is None


def test_a_wrong_check_character_or_birth_date_is_no_id_number() -> None:
    """The check character must match; a 30 February is no birth date."""
    assert check_id_number(NUMBER[:17] + "2", date(2026, 1, 1)) is None
    feb30 = "36042619910230001"
    assert check_id_number(feb30 + ric.calc_check_digit(feb30 + "0"), date(2026, 1, 1)) is None


@pytest.mark.parametrize(
    "raw",
    [
        MOBILE,
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "(+86) 13800138000",
        "+8613800138000",
        "138 0013 8000",
        "".join(chr(0xFF10 + int(c)) for c in MOBILE),  # full-width digits
    ],
)
def test_writings_of_one_mobile_are_one_e164_number(raw: str) -> None:
    """Blanks, hyphens, brackets, the country code, full-width digits: one number."""
    assert normalise_phone(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", [None, 13800138000, "1380013800", "138001380001", "23800138000"])
def test_what_is_not_a_mobile_is_no_phone(raw: object) -> None:
    """Not text, ten or twelve digits, or not starting with 1: no phone."""
    assert normalise_phone(raw) is None


def test_a_phone_of_another_region_is_read_in_that_region() -> None:
    """A national number is read in the region given, not as a Chinese mobile."""
    assert normalise_phone("020 7946 0958", region="GB") == "+442079460958"
    assert normalise_phone(MOBILE, region="GB") is None


def test_a_phone_value_is_bounded_at_64_characters() -> None:
    """64 characters pass to the parser, 65 do not."""
    padded = MOBILE + " " * (MAX_VALUE_CHARS - len(MOBILE))
    assert normalise_phone(padded) == "+8613800138000"
    assert normalise_phone(padded + " ") is None


def test_a_device_id_is_text_of_at_most_64_characters_without_blanks_around() -> None:
    """Blanks around go; blank or not text is no device; 64 characters pass, 65 do not."""
    assert normalise_device("  pc-1 ") == "pc-1"
    assert normalise_device("   ") is None
    assert normalise_device(42) is None
    assert normalise_device("d" * MAX_VALUE_CHARS) == "d" * MAX_VALUE_CHARS
    assert normalise_device("d" * (MAX_VALUE_CHARS + 1)) is None


def test_fingerprints_name_each_kind_and_each_problem_in_order() -> None:
    """Valid values become fingerprints of their kind; invalid ones problems, ID number
    first; a blank device is neither."""
    on = date(2026, 1, 1)
    prints = fingerprints({"id_number": NUMBER, "phone": MOBILE, "device_id": "pc"}, KEY, on)
    assert prints == Fingerprints(
        id_number=KEY.fingerprint(ID_NUMBER, NUMBER),
        phone=KEY.fingerprint(PHONE, "+8613800138000"),
        device=KEY.fingerprint(DEVICE, "pc"),
    )
    assert prints.usable
    assert prints.listed() == [(ID_NUMBER, prints.id_number), (PHONE, prints.phone)]
    assert prints.all() == [*prints.listed(), (DEVICE, prints.device)]
    bad = fingerprints({"id_number": "x", "phone": "y", "device_id": " "}, KEY, on)
    assert bad.problems == (INVALID_ID_NUMBER, INVALID_PHONE, NO_USABLE_IDENTITY)
    assert not bad.usable
    assert (bad.listed(), bad.all()) == ([], [])
    blank = fingerprints({"device_id": " "}, KEY, on)
    assert blank.problems == (NO_USABLE_IDENTITY,)
    assert fingerprints({}, KEY, on) == Fingerprints()


def test_a_device_alone_is_usable_but_never_listed() -> None:
    """A device links accounts; a blacklist entry never holds one."""
    prints = fingerprints({"device_id": "pc"}, KEY, date(2026, 1, 1))
    assert prints.usable
    assert prints.listed() == []
    assert prints.all() == [(DEVICE, KEY.fingerprint(DEVICE, "pc"))]


def test_a_lookup_takes_any_mapping() -> None:
    """A read-only mapping is as good as a dict."""
    found = lookup_prints(MappingProxyType({"phone": MOBILE}), KEY)
    assert found == [(PHONE, KEY.fingerprint(PHONE, "+8613800138000"))]


def test_a_lookup_of_what_is_no_mapping_says_what_an_identity_is() -> None:
    """A list is refused with the shape expected."""
    with pytest.raises(ValueError, match=r"^an identity is a mapping: \{'id_number'"):
        lookup_prints([("phone", MOBILE)], KEY)  # type: ignore[arg-type]


def test_a_lookup_never_shows_an_unknown_key_that_looks_like_a_value() -> None:
    """An unknown key shaped like a field name is quoted; one that could be a value is not."""
    with pytest.raises(ValueError, match=r"^unknown identity field 'mobile': give"):
        lookup_prints({"mobile": MOBILE}, KEY)
    with pytest.raises(ValueError, match=r"^unknown identity field \(not shown\): give"):
        lookup_prints({MOBILE: MOBILE}, KEY)


def test_a_lookup_fingerprints_both_values_in_order() -> None:
    """ID number then phone, each in the form entries hold (compact number, E.164 phone)."""
    found = lookup_prints({"phone": "+86 138 0013 8000", "id_number": "44011320141005001x"}, KEY)
    assert found == [
        (ID_NUMBER, KEY.fingerprint(ID_NUMBER, "44011320141005001X")),
        (PHONE, KEY.fingerprint(PHONE, "+8613800138000")),
    ]


def test_a_blacklist_entrys_json_form_has_every_field() -> None:
    """Times as ISO 8601, no end as null, the fingerprint included."""
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    entry = BlacklistEntry("phone", "d-1", "a", "r", "why", at, None, "ab" * 32)
    assert entry.to_dict() == {
        "kind": "phone",
        "fingerprint": "ab" * 32,
        "decision_id": "d-1",
        "account_id": "a",
        "rule_id": "r",
        "reason": "why",
        "entered_at": "2026-03-01T08:00:00+00:00",
        "ends_at": None,
    }
    ends = BlacklistEntry("phone", "d-1", "a", "r", "why", at, at, "ab" * 32)
    assert ends.to_dict()["ends_at"] == "2026-03-01T08:00:00+00:00"


def test_an_entry_is_in_force_from_its_start_to_just_before_its_end() -> None:
    """An entry without an end is in force from its start on; one with an end until a µs
    before it; any entry counts when no time is asked."""
    listing = Listing()
    forever, bounded = "aa" * 32, "bb" * 32
    listing.add(forever, 100, None)
    listing.add(bounded, 100, 200)
    assert [listing.in_force(forever, t) for t in (99, 100, 10**12)] == [False, True, True]
    assert [listing.in_force(bounded, t) for t in (99, 100, 199, 200)] == [
        False,
        True,
        True,
        False,
    ]
    assert listing.in_force(bounded, None)
    assert not listing.in_force("cc" * 32, None)
    assert len(listing) == 2
    listing.add(forever, 300, None)
    assert len(listing) == 3
    listing.remove(forever, 100, None)
    assert [listing.in_force(forever, t) for t in (100, 299, 300)] == [False, False, True]


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ({"id_number": 5}, "id_number must be text of at most 64 characters"),
        ({"phone": "1" * (MAX_VALUE_CHARS + 1)}, "phone must be text of at most 64 characters"),
        ({"id_number": "12"}, "id_number is not 17 digits and a check character"),
        ({"phone": "abc"}, "phone is not a valid phone number"),
        ({}, "nothing to look up: give id_number and/or phone"),
    ],
)
def test_a_lookup_that_cannot_be_made_says_which_field(
    identity: dict[str, object], message: str
) -> None:
    """Each refusal names the field and what it must be, never the value."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        lookup_prints(identity, KEY)


def test_a_lookup_value_of_exactly_64_characters_is_taken() -> None:
    """The bound is inclusive: a phone written in 64 characters is looked up."""
    padded = MOBILE + " " * (MAX_VALUE_CHARS - len(MOBILE))
    assert lookup_prints({"phone": padded}, KEY) == [
        (PHONE, KEY.fingerprint(PHONE, "+8613800138000"))
    ]


def test_a_lookup_of_a_number_of_another_country_uses_its_e164_form() -> None:
    """Not a Chinese mobile: phonenumbers reads it, and its E.164 form is looked up."""
    assert lookup_prints({"phone": "+44 20 7946 0958"}, KEY) == [
        (PHONE, KEY.fingerprint(PHONE, "+442079460958"))
    ]


def test_a_lookup_of_a_mobile_shaped_number_does_not_check_its_validity() -> None:
    """Eleven digits starting with 1 are looked up as they are (no entry holds an invalid
    number, so the check would only cost time)."""
    writings = (
        "12000000000",
        "120 0000 0000",
        "+86 120-0000-0000",
        "(120) 0000 0000",
        "+86 (120 0000 0000",  # a stray bracket goes as well
        "120) 0000 0000",
    )
    for written in writings:
        assert lookup_prints({"phone": written}, KEY) == [
            (PHONE, KEY.fingerprint(PHONE, "+8612000000000"))
        ]


def test_a_lookup_of_eleven_digits_not_starting_with_1_is_no_mobile() -> None:
    """Eleven digits starting with 2 are read by phonenumbers, which finds no number."""
    for written in ("23800138000", "21000000000"):
        with pytest.raises(ValueError, match=r"^phone is not a valid phone number$"):
            lookup_prints({"phone": written}, KEY)


def test_a_persistent_db_without_a_key_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No environment variable, no key file, no `create`: the message names both ways."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "s.db"
    with pytest.raises(IdentityKeyError) as caught:
        load_key(db)
    assert str(caught.value) == (
        f"no identity key for {db}: set ${KEY_ENV} or provide {db}.key (mode 0600); "
        "a persistent db never opens without one"
    )


def test_a_key_file_with_a_non_ascii_character_is_refused_as_a_key_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key file is ASCII (hex as written): any other character is a key error, with no
    traceback and without the key's text in the message."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "s.db"
    path = Path(f"{db}.key")
    path.write_text("é" * MIN_KEY_CHARS, encoding="utf-8")
    os.chmod(path, 0o600)
    with pytest.raises(IdentityKeyError) as caught:
        load_key(db)
    assert "é" not in str(caught.value)
    assert str(caught.value) == (
        f"{path} is not an identity key: byte 0 is not ASCII "
        "(a key is printable ASCII, e.g. `openssl rand -hex 32`)"
    )


def test_a_key_file_that_cannot_be_read_says_why_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key path is a folder (mode 0700, so the mode check passes): the error gives the
    system's reason, "Is a directory", not the exception's whole text."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "s.db"
    path = Path(f"{db}.key")
    path.mkdir(mode=0o700)
    with pytest.raises(IdentityKeyError) as caught:
        load_key(db)
    assert str(caught.value) == f"{path} cannot be read: Is a directory"


def _with_check(first17: str) -> str:
    """An 18-character ID number: 17 digits and their GB 11643 check character."""
    return first17 + ric.calc_check_digit(first17 + "0")


@pytest.mark.parametrize(
    ("birth", "counts"),
    [
        pytest.param("20000101", True, id="year-2000"),
        pytest.param("19910110", True, id="day-10"),
        pytest.param("19910120", True, id="day-20"),
        pytest.param("19911301", False, id="month-13"),
        pytest.param("19910230", False, id="february-30"),
    ],
)
def test_an_extra_id_number_counts_only_with_a_real_birth_date(birth: str, counts: bool) -> None:
    """A stray 18-character number is an ID number when its birth date (characters 7-14,
    year, month, day) is a real date: years like 2000, days like the 10th and 20th are;
    month 13 and 30 February are not."""
    number = _with_check(f"360426{birth}007")
    assert (identity_value(number) == (ID_NUMBER, number)) is counts


@pytest.mark.parametrize(
    "value",
    [{"a": "x", "b": [1, "y"]}, {}, ["x", 2], [], "plain", 7, None],
    ids=["dict", "empty-dict", "list", "empty-list", "text", "int", "null"],
)
def test_masking_nothing_says_nothing_was_replaced(value: object) -> None:
    """A value holding no identity value comes back as itself, flagged unchanged."""
    masked, replaced = mask_identity_values(value, KEY)
    assert masked is value
    assert replaced is False


def test_masking_a_nested_id_number_says_it_was_replaced() -> None:
    """An ID number in a list in a dict is replaced by its fingerprint, flagged changed."""
    masked, replaced = mask_identity_values({"notes": ["x", NUMBER]}, KEY)
    assert replaced is True
    assert masked == {
        "notes": ["x", f"fingerprint:{ID_NUMBER}:{KEY.fingerprint(ID_NUMBER, NUMBER)}"]
    }


def test_a_stray_phone_counts_up_to_the_value_limit_with_blanks_around_it() -> None:
    """Blanks around a phone are no part of it: padded to exactly MAX_VALUE_CHARS (64) it is
    still a phone, leading blanks included; one character more and the value is not read."""
    padded = " " * 22 + MOBILE + " " * 31
    assert len(padded) == MAX_VALUE_CHARS
    assert identity_value(padded) == (PHONE, normalise_phone(MOBILE))
    assert identity_value(padded + " ") is None


def test_a_stray_phone_in_full_width_digits_counts() -> None:
    """Full-width digits (U+FF10-U+FF19, NFKC) are digits: the same mobile number."""
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in MOBILE)
    assert identity_value(full_width) == (PHONE, normalise_phone(MOBILE))
