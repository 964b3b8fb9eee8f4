"""Identity values → checked, normalised forms → keyed fingerprints (DESIGN §3).

Raw identity values never leave this module: callers get fingerprints (HMAC-SHA-256 under the
identity key) and problem codes, never the values, not even in error messages. ID numbers are
checked against GB 11643 with python-stdnum (`stdnum.cn.ric`: length, check character, a real
birth date) and must not be born after the event; phones are parsed with phonenumbers (default
region CN), so `+86 138 0013 8000` and `13800138000` are one person.

The key comes from `BLACKLIST_RULES_IDENTITY_KEY`, else from a key file beside the db (created
mode 0600 on first use); an in-memory db may use a generated key. Without the key, a db alone
never suffices to test a guessed ID number.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import attrs
import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from .errors import IdentityKeyError

KEY_ENV = "BLACKLIST_RULES_IDENTITY_KEY"
MIN_KEY_CHARS = 32
"""A key in the environment or a key file: at least this many characters (128 bits as hex)."""
MAX_VALUE_CHARS = 64
INVALID_ID_NUMBER = "invalid_id_number"
INVALID_PHONE = "invalid_phone"
INVALID_DEVICE = "invalid_device_id"


@attrs.frozen
class IdentityKey:
    """The secret behind every fingerprint, and where it came from (never the secret)."""

    secret: bytes = attrs.field(repr=False)
    source: str

    def fingerprint(self, kind: str, value: str) -> str:
        """HMAC-SHA-256 of a normalised value, told apart by kind (an ID number is no phone)."""
        message = f"{kind}\x1f{value}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def _key(text: str, source: str) -> IdentityKey:
    text = text.strip()
    if len(text) < MIN_KEY_CHARS:
        raise IdentityKeyError(
            f"the identity key from {source} is too short: at least {MIN_KEY_CHARS} characters"
        )
    return IdentityKey(text.encode(), source)


def generated_key() -> IdentityKey:
    """A fresh random key, for an in-memory engine: its fingerprints die with it."""
    return IdentityKey(secrets.token_hex(32).encode(), "generated for this in-memory engine")


def load_key(db: str | Path | None, *, create: bool = False) -> IdentityKey:
    """The identity key: the environment first, else `<db>.key`; `create` writes a new key
    file (mode 0600) when there is none. A persistent db never opens without a key."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return _key(from_env, f"${KEY_ENV}")
    if db is None or str(db) == ":memory:":
        return generated_key()
    path = Path(f"{db}.key")
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
    return _key(path.read_text(encoding="ascii"), f"key file {path}")


def check_id_number(raw: object, on: date) -> str | None:
    """The 18-character upper-case form of a valid GB 11643 number, or None: wrong length or
    characters, a wrong check character, an impossible birth date or one after `on`."""
    if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS:
        return None
    try:
        number = ric.validate(raw.replace(" ", "").replace("-", ""))
        born = ric.get_birth_date(number)
    except ValidationError:
        return None
    return number if born <= on else None


def normalise_phone(raw: object, region: str = "CN") -> str | None:
    """The E.164 form of a valid phone number (national numbers read in `region`), or None."""
    if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS:
        return None
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_device(raw: object) -> str | None:
    """A device id as given, without surrounding blanks; None when empty or not text."""
    if not isinstance(raw, str) or len(raw) > MAX_VALUE_CHARS:
        return None
    return raw.strip() or None


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


def fingerprints(identity: Mapping[str, object], key: IdentityKey, on: date) -> Fingerprints:
    """Fingerprints of the given identity values; a value given but not valid is a problem
    (`invalid_id_number`, `invalid_phone`, `invalid_device_id`), never an exception."""
    found: dict[str, str | None] = {}
    problems = []
    checks = (
        ("id_number", "id_number", lambda v: check_id_number(v, on), INVALID_ID_NUMBER),
        ("phone", "phone", normalise_phone, INVALID_PHONE),
        ("device", "device_id", normalise_device, INVALID_DEVICE),
    )
    for kind, field, normalise, problem in checks:
        raw = identity.get(field)
        if raw is None:
            continue
        value = normalise(raw)
        if value is None:
            problems.append(problem)
        found[kind] = key.fingerprint(kind, value) if value is not None else None
    return Fingerprints(problems=tuple(problems), **found)
