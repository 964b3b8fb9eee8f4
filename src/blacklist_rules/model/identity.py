"""Identity values → checked, normalised forms → keyed fingerprints (DESIGN §3).

Raw identity values never leave this module: callers get fingerprints (HMAC-SHA-256 under the
identity key) and problem codes, never the values, not even in error messages. ID numbers are
checked against GB 11643 with python-stdnum (`stdnum.cn.ric`: length, check character, a real
birth date, a county that existed that year) and must not be born after the event; phones are
parsed with phonenumbers (default region CN), so `+86 138 0013 8000` and `13800138000` are one
person.

The key comes from `BLACKLIST_RULES_IDENTITY_KEY`, else from a key file beside the db (created
mode 0600 on first use); an in-memory db may use a generated key. Without the key, a db alone
never suffices to test a guessed ID number.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from blacklist_rules.errors import IdentityKeyError

KEY_ENV = "BLACKLIST_RULES_IDENTITY_KEY"
MIN_KEY_CHARS = 32
"""A key in the environment or a key file: at least this many characters (128 bits as hex)."""
MAX_VALUE_CHARS = 64
_BLOCK = 64
"""SHA-256's block size: HMAC pads (or first hashes) its key to this many bytes."""
INVALID_ID_NUMBER = "invalid_id_number"
INVALID_PHONE = "invalid_phone"
NO_USABLE_IDENTITY = "no_usable_identity"
ID_NUMBER, PHONE, DEVICE = "id_number", "phone", "device"
"""Kinds of fingerprint. A blacklist entry holds ID numbers and phones, never devices (shared
computers would shut out strangers); devices only link accounts."""
LISTED_KINDS = (ID_NUMBER, PHONE)


@attrs.frozen
class IdentityKey:
    """The secret behind every fingerprint, and where it came from (never the secret)."""

    secret: bytes = attrs.field(repr=False)
    source: str
    created: bool = attrs.field(default=False, eq=False)
    """True when `load_key` has just written its key file: the caller should say so."""
    _pads: tuple[Any, Any] = attrs.field(init=False, repr=False, eq=False)
    _kinds: dict[str, Any] = attrs.field(init=False, repr=False, eq=False, factory=dict)
    """The inner pad's state once `<kind>\x1f` is hashed, by kind (a few: the code's own)."""

    @_pads.default
    def _keyed(self) -> tuple[Any, Any]:
        # HMAC (RFC 2104) keyed once: SHA-256 states after the inner and outer pads. Copying
        # them costs half of `hmac.HMAC.copy`, and a pre-registration check makes two.
        key = self.secret if len(self.secret) <= _BLOCK else hashlib.sha256(self.secret).digest()
        key = key.ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        return inner, outer

    def fingerprint(self, kind: str, value: str) -> str:
        """HMAC-SHA-256 of a normalised value, told apart by kind (an ID number is no phone)."""
        inner = self._kinds.get(kind)
        if inner is None:  # (the UTF-8 of `kind\x1f` then of `value` is that of both)
            inner = self._kinds[kind] = self._pads[0].copy()
            inner.update(f"{kind}\x1f".encode("utf-8", "surrogatepass"))
        inner = inner.copy()
        inner.update(value.encode("utf-8", "surrogatepass"))
        outer = self._pads[1].copy()
        outer.update(inner.digest())
        return str(outer.hexdigest())

    @property
    def check(self) -> str:
        """A value a db keeps to recognise its key (and refuse another) without holding it."""
        return self.fingerprint("key-check", "blacklist-rules")


def _key(text: str, source: str, created: bool = False) -> IdentityKey:
    text = text.strip()
    if len(text) < MIN_KEY_CHARS:
        raise IdentityKeyError(
            f"the identity key from {source} is too short: at least {MIN_KEY_CHARS} characters"
        )
    return IdentityKey(text.encode(), source, created)


GENERATED = "generated for this in-memory engine"


def generated_key() -> IdentityKey:
    """A fresh random key, for an in-memory engine: its fingerprints die with it."""
    return IdentityKey(secrets.token_hex(32).encode(), GENERATED)


def load_key(
    db: str | Path | None,
    *,
    create: bool = False,
    key_file: str | Path | None = None,
    beside: bool = True,
) -> IdentityKey:
    """The identity key: the environment first, else `key_file`, else `<db>.key` beside the
    db; `create` writes a new key file (mode 0600) when there is none. A persistent db never
    opens without a key. `beside=False` (a server db, named by URL): there is no file beside
    it, so the key is the environment's or `key_file`'s, else `IdentityKeyError`."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return _key(from_env, f"${KEY_ENV}")
    if key_file is None and (db is None or str(db) == ":memory:"):
        return generated_key()
    if key_file is None and not beside:
        raise IdentityKeyError(
            f"no identity key for {db}: a server db has no key file beside it: set ${KEY_ENV} "
            "or name a key file (--key-file FILE)"
        )
    path = Path(key_file) if key_file is not None else Path(f"{db}.key")
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600) if create else None
    except FileExistsError:
        handle = None
    if handle is not None:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
    if not path.exists():
        raise IdentityKeyError(
            f"no identity key for {db}: set ${KEY_ENV} or provide {path} (mode 0600); "
            "a persistent db never opens without one"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise IdentityKeyError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as exc:
        raise IdentityKeyError(
            f"{path} is not an identity key: byte {exc.start} is not ASCII "
            "(a key is printable ASCII, e.g. `openssl rand -hex 32`)"
        ) from exc
    except OSError as exc:
        raise IdentityKeyError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    return _key(text, f"key file {path}", handle is not None)


def compact_id_number(raw: str) -> str:
    """An ID number without blanks or hyphens, upper case: the form fingerprints are made of.
    Full-width digits and ideographic spaces (NFKC) count as what they look like."""
    if len(raw) == 18 and raw.isalnum() and raw.isascii():  # already compact: the usual case
        return raw.upper()
    if not raw.isascii():
        raw = unicodedata.normalize("NFKC", raw)
    return "".join(raw.split()).replace("-", "").upper()


def check_id_number(raw: object, on: date) -> str | None:
    """The 18-character upper-case form of a valid GB 11643 number, or None: wrong length or
    characters, a wrong check character, an impossible birth date, a county that did not exist
    that year, or a birth after `on`.

    The steps of stdnum's `ric.validate`, with its check-character function, but the county
    lookup (two thirds of its cost) cached by county and year: a test holds the two equal.
    """
    if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS:
        return None
    number = compact_id_number(raw)
    head = number[:17]
    if len(number) != 18 or not (head.isascii() and head.isdigit()):
        return None
    if number[-1] != ric.calc_check_digit(number):
        return None
    try:  # what `ric.get_birth_date` does, without compacting the number once more
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    if born > on or not _county_existed(number[:6], born.year):
        return None
    return number


@functools.lru_cache(maxsize=1 << 16)
def _county_existed(county: str, year: int) -> bool:
    """Did stdnum's county list have this code in this year? (Only those two digits of a
    number matter to `get_birth_place`.)"""
    try:
        ric.get_birth_place(f"{county}{year:04d}0101000")
    except (ValidationError, KeyError):  # KeyError: a code stdnum knows above county level
        return False
    return True


_CN = 86


def never_matches(digits: str) -> None:
    """The test of a description a number's length is not possible for."""


def desc_test(desc: Any, length: int) -> Callable[[str], object] | None:
    """phonenumbers' test of a national number of `length` digits against one of its
    descriptions (its possible lengths, then its pattern, whole): true (a match) when the
    number passes; `never_matches` when the description does not allow that length; None where the
    description has no pattern. The lengths are asked once, here: the test is the compiled
    pattern's own `fullmatch`, no Python call (issue 19: 1.5 % of a registration-heavy run
    was these tests' lambdas)."""
    pattern = getattr(desc, "national_number_pattern", None)
    if pattern is None:
        return None
    lengths = desc.possible_length or ()
    if lengths and length not in lengths:
        return never_matches
    return re.compile(pattern).fullmatch


def _cn_mobile_test() -> Callable[[str], bool] | None:
    """A valid Chinese mobile number (11 digits from 1: `_cn_mobile_digits`), told from the
    metadata's general and mobile patterns alone. Such a number is valid for
    `is_valid_number` (its type is MOBILE, or one tested before it: never UNKNOWN), so True
    here needs no other check; anything else takes the full check. None when the metadata
    do not allow the shortcut."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if meta is None or meta.same_mobile_and_fixed_line_pattern:
        return None  # (mobile numbers then go by the fixed-line pattern)
    general, mobile = desc_test(meta.general_desc, 11), desc_test(meta.mobile, 11)
    if general is None or mobile is None:
        return None
    return lambda digits: general(digits) is not None and mobile(digits) is not None


_CN_MOBILE = _cn_mobile_test()
"""Measured on bench_core --mix registration-heavy (issue 19): `is_valid_number` was 64 µs
a registration, about 7 % of the run; two compiled patterns are about 2 µs."""


def _cn_mobile_digits(raw: str) -> str | None:
    """The 11 digits of `1xxxxxxxxxx` or `+86 1xxxxxxxxxx` (any blanks, hyphens, brackets)."""
    if len(raw) == 11 and raw[0] == "1" and raw.isdigit() and raw.isascii():
        return raw  # already plain: the usual case
    compact = raw.replace(" ", "").replace("-", "")  # (`replace` beats `translate` here)
    if "(" in compact or ")" in compact:
        compact = compact.replace("(", "").replace(")", "")
    digits = compact[3:] if compact.startswith("+86") else compact
    if len(digits) == 11 and digits[0] == "1" and digits.isascii() and digits.isdigit():
        return digits
    return None


def normalise_phone(raw: object, region: str = "CN") -> str | None:
    """The E.164 form of a valid phone number (national numbers read in `region`), or None.

    Chinese mobile numbers, nearly all that come, skip phonenumbers' text parser (most of its
    cost) but not its validity check: a test holds the short way equal to the long one.
    """
    if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS:
        return None
    digits = _cn_mobile_digits(raw) if region == "CN" else None
    if digits is not None:
        if _CN_MOBILE is not None and _CN_MOBILE(digits):
            return f"+86{digits}"
        number = phonenumbers.PhoneNumber(country_code=_CN, national_number=int(digits))
        return f"+86{digits}" if phonenumbers.is_valid_number(number) else None
    return parse_phone(raw, region)


def parse_phone(raw: str, region: str = "CN") -> str | None:
    """`normalise_phone` the long way: phonenumbers' parser for any writing of any number."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_device(raw: object) -> str | None:
    """A device id as given, without surrounding blanks; None when blank or not text (a blank
    device id is no device id: it makes no verification fail)."""
    if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS:
        return None
    return raw.strip() or None


_PHONE_TEXT = re.compile(r"\+?[0-9][0-9 ()./\-]{2,40}")
"""What a phone number written alone looks like: digits, an optional leading '+', blanks,
brackets, dots, slashes and hyphens (no letters: phonenumbers would read `1-800-FLOWERS`)."""
MASKED_PREFIX = "fingerprint:"
_FIRST = frozenset("0123456789+(")
"""How an ID number or a phone number written alone can begin."""


def identity_value(raw: object) -> tuple[str, str] | None:
    """`(kind, normalised form)` when `raw`, a whole text or integer value, is an identity
    value where none was expected (an extra field, an account id), else None.

    An ID number: 18 characters once blanks and hyphens are removed (a lower-case `x` counts),
    17 digits and the right GB 11643 check character, and a real birth date; the county and
    the birth's being past are not asked (a number that fails them is still someone's, or
    looks it). A phone: digits with at most a leading '+', blanks, brackets, dots, slashes and
    hyphens, that phonenumbers finds valid, read in region CN unless written with '+'
    (`13800138000`, `+86 138 0013 8000`, `010 6552 9988`, `+44 20 7946 0958`). Plain numeric
    ids such as `12345` are neither. Text inside a longer value is not searched.
    """
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**MAX_VALUE_CHARS:
        raw = str(raw)
    if not isinstance(raw, str) or not 3 <= len(raw) <= MAX_VALUE_CHARS:
        return None
    if not raw.isascii():
        raw = unicodedata.normalize("NFKC", raw)  # full-width digits are digits
    if raw.lstrip()[:1] not in _FIRST:  # the usual account id or text: cheaply not one
        return None
    number = compact_id_number(raw) if len(raw) >= 18 else ""
    if (  # the shape first: the check character is computed from digits
        _ID_SHAPE.fullmatch(number)
        and _real_birth(number)
        and number[-1] == ric.calc_check_digit(number)
    ):
        return ID_NUMBER, number
    text = raw.strip()
    if not _PHONE_TEXT.fullmatch(text):
        return None
    phone = normalise_phone(text)
    return (PHONE, phone) if phone is not None else None


def _real_birth(number: str) -> bool:
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return True


def mask_identity_values(value: Any, key: IdentityKey) -> tuple[Any, bool]:
    """`value` (JSON-like: dicts, lists, scalars) with every identity value, as a value or as a
    key, replaced by `fingerprint:<kind>:<keyed fingerprint>` (the fingerprint a registration
    of the same value gets), and whether anything was replaced."""
    if isinstance(value, dict):
        masked = {}
        changed = False
        for name, item in value.items():
            new_name, renamed = mask_identity_values(name, key)
            new_item, replaced = mask_identity_values(item, key)
            masked[new_name] = new_item
            changed = changed or renamed or replaced
        return (masked, True) if changed else (value, False)
    if isinstance(value, list | tuple):
        items = [mask_identity_values(item, key) for item in value]
        if any(replaced for _, replaced in items):
            return [item for item, _ in items], True
        return value, False
    found = identity_value(value)
    if found is None:
        return value, False
    kind, normal = found
    return f"{MASKED_PREFIX}{kind}:{key.fingerprint(kind, normal)}", True


@attrs.frozen
class Fingerprints:
    """What a registration's identity leaves behind: keyed fingerprints and problem codes."""

    id_number: str | None = None
    phone: str | None = None
    device: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return any((self.id_number, self.phone, self.device))

    def listed(self) -> list[tuple[str, str]]:
        """(kind, fingerprint) of the values a blacklist entry can hold: ID number, phone."""
        found = ((ID_NUMBER, self.id_number), (PHONE, self.phone))
        return [(kind, value) for kind, value in found if value is not None]

    def all(self) -> list[tuple[str, str]]:
        found = ((ID_NUMBER, self.id_number), (PHONE, self.phone), (DEVICE, self.device))
        return [(kind, value) for kind, value in found if value is not None]


def fingerprints(
    identity: Mapping[str, object],
    key: IdentityKey,
    on: date,
    *,
    phone: Callable[[object], str | None] = normalise_phone,
) -> Fingerprints:
    """Fingerprints of the given identity values; a value given but not valid is a problem
    (`invalid_id_number`, `invalid_phone`, and `no_usable_identity` when values came but none
    can be fingerprinted; a blank device id is left out), never an exception. `phone` is
    `normalise_phone`, or a caller's that gives its result already computed (not twice)."""
    prints: list[str | None] = [None, None, None]  # ID number, phone, device
    problems = []
    raw = identity.get("id_number")
    if raw is not None:
        number = check_id_number(raw, on)
        if number is None:
            problems.append(INVALID_ID_NUMBER)
        else:
            prints[0] = key.fingerprint(ID_NUMBER, number)
    raw = identity.get("phone")
    if raw is not None:
        e164 = phone(raw)
        if e164 is None:
            problems.append(INVALID_PHONE)
        else:
            prints[1] = key.fingerprint(PHONE, e164)
    raw = identity.get("device_id")
    if raw is not None and (device := normalise_device(raw)) is not None:
        prints[2] = key.fingerprint(DEVICE, device)
    if prints == [None, None, None] and any(v is not None for v in identity.values()):
        problems.append(NO_USABLE_IDENTITY)  # something was given, nothing can be checked
    return Fingerprints(prints[0], prints[1], prints[2], tuple(problems))


_LOOKUP_FIELDS = frozenset({"id_number", "phone"})
_FIELD_NAME = re.compile(r"[a-z_]{1,30}")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def lookup_prints(identity: Mapping[str, object], key: IdentityKey) -> list[tuple[str, str]]:
    """Fingerprints to look up before an account exists: `{"id_number": …, "phone": …}`.

    No validity checks: an invalid value is in no entry (entries hold only checked values), so
    normalising suffices, and the check stays cheap. Unknown keys, non-text values, or nothing
    to look up raise `ValueError` (naming the key, never the value): a typo must not read as
    "not blacklisted".
    """
    if type(identity) is not dict and not isinstance(identity, Mapping):
        raise ValueError("an identity is a mapping: {'id_number': ..., 'phone': ...}")
    if not identity.keys() <= _LOOKUP_FIELDS:
        unknown = sorted(str(name) for name in identity.keys() - _LOOKUP_FIELDS)[0]
        # A key is shown only when it looks like a field name: it could be a value.
        shown = repr(unknown) if _FIELD_NAME.fullmatch(unknown) else "(not shown)"
        raise ValueError(f"unknown identity field {shown}: give id_number and/or phone")
    found = []
    number, phone = identity.get("id_number"), identity.get("phone")
    for name, value in (("id_number", number), ("phone", phone)):
        if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE_CHARS):
            raise ValueError(f"{name} must be text of at most {MAX_VALUE_CHARS} characters")
    if isinstance(number, str):
        compact = compact_id_number(number)
        if not _ID_SHAPE.fullmatch(compact):
            raise ValueError("id_number is not 17 digits and a check character")
        found.append((ID_NUMBER, key.fingerprint(ID_NUMBER, compact)))
    if isinstance(phone, str):
        digits = _cn_mobile_digits(phone)
        e164 = f"+86{digits}" if digits is not None else parse_phone(phone)
        if e164 is None:
            raise ValueError("phone is not a valid phone number")
        found.append((PHONE, key.fingerprint(PHONE, e164)))
    if number is None and phone is None:
        raise ValueError("nothing to look up: give id_number and/or phone")
    return found


@attrs.frozen
class BlacklistEntry:
    """One fingerprint on the blacklist: whose decision put it there, why, and until when."""

    kind: str
    """`id_number` or `phone`."""
    decision_id: str
    account_id: str
    rule_id: str
    reason: str
    entered_at: datetime
    ends_at: datetime | None = None
    fingerprint: str = attrs.field(default="", repr=False)

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible form, as audit records and the CLI show it."""
        return {
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "decision_id": self.decision_id,
            "account_id": self.account_id,
            "rule_id": self.rule_id,
            "reason": self.reason,
            "entered_at": self.entered_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
        }


Span = tuple[int, int | None]
"""When an entry is in force: entered (µs) and, if it ends, its end."""


class Listing:
    """The blacklist in memory: every entry not removed, by fingerprint, with when it is in
    force. Read by every pre-registration check, so it answers without the store, in about 150
    bytes an entry (the full digest as bytes; an entry without an end as a bare int)."""

    def __init__(self) -> None:
        self._spans: dict[bytes, int | tuple[Span, ...]] = {}

    def __len__(self) -> int:
        return sum(len(self._of(key)) for key in self._spans)

    def _of(self, key: bytes) -> tuple[Span, ...]:
        value = self._spans.get(key, ())
        return ((value, None),) if isinstance(value, int) else value

    def _set(self, key: bytes, spans: tuple[Span, ...]) -> None:
        if not spans:
            del self._spans[key]
        elif len(spans) == 1 and spans[0][1] is None:
            self._spans[key] = spans[0][0]
        else:
            self._spans[key] = spans

    def add(self, fingerprint: str, entered_us: int, ends_us: int | None) -> None:
        key = bytes.fromhex(fingerprint)
        self._set(key, (*self._of(key), (entered_us, ends_us)))

    def remove(self, fingerprint: str, entered_us: int, ends_us: int | None) -> None:
        key = bytes.fromhex(fingerprint)
        spans = list(self._of(key))
        spans.remove((entered_us, ends_us))
        self._set(key, tuple(spans))

    def in_force(self, fingerprint: str, at_us: int | None) -> bool:
        """Has this value an entry in force at `at_us` (None: any entry)?"""
        value = self._spans.get(bytes.fromhex(fingerprint))
        if value is None:
            return False
        if at_us is None:
            return True
        if isinstance(value, int):
            return value <= at_us
        return any(start <= at_us and (end is None or at_us < end) for start, end in value)
