"""Account events: the input contract (DESIGN §2), validated with pydantic at the boundary.

Events are parsed from dicts, JSON text or JSONL files. Anything malformed becomes an
`EventError` with the field path and the reason, never a crash, and never with an identity
value in its message: registration identities are personal data.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Union

import attrs
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from blacklist_rules.errors import EventError

from . import bounds
from .bounds import MAX_EVENT_BYTES as MAX_LINE_BYTES
from .identity import IdentityKey, identity_value, mask_identity_values
from .phones import COUNTRIES, PHONE_KINDS
from .times import from_micros as from_micros
from .times import to_micros as to_micros
from .times import utc_text as utc_text
from .transparency import CATEGORIES, KEYWORDS, known

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _rfc3339_text(value: object) -> object:
    """Only RFC 3339 text: pydantic would otherwise read a number, even quoted, as Unix time.

    A cheap look at the shape (`YYYY-MM-DDThh…`) suffices: pydantic parses the rest strictly,
    and `AwareDatetime` demands the offset.
    """
    if (  # text first: what JSON gives
        isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] in "Tt "
    ) or isinstance(value, datetime):
        return value
    raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-05-01T09:00:00+08:00")


def _in_range(moment: datetime) -> datetime:
    """Event time must convert to UTC and be plausible: one bad clock moves everyone's clock."""
    if 1970 < moment.year < 2999:  # the common case: no offset can take it out of range
        return moment
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    if not _EARLIEST <= utc < _LATEST:
        raise ValueError("must lie between 1970 and 2999")
    return moment


def _not_identity(value: str) -> str:
    """An account id is shown and stored as it is: an ID number or a phone number is refused
    (fingerprinting it would leave operators an id that names no account they know)."""
    if identity_value(value) is not None:
        raise ValueError(
            "is an ID number or a phone number: account ids must not be identity values "
            "(they are stored and shown as they are); use the platform's opaque account id"
        )
    return value


Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
AccountId = Annotated[Id, AfterValidator(_not_identity)]
Text = Annotated[str, Field(max_length=2000)]
Short = Annotated[str, Field(min_length=1, max_length=100)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_in_range)]
IdentityValue = Annotated[str, Field(min_length=1, max_length=64)]


def _dsa_category(value: str) -> str:
    return known(value, CATEGORIES, "category")


def _dsa_keyword(value: str) -> str:
    return known(value, KEYWORDS, "keyword")


class _Strict(BaseModel):
    # Instances are validated again when given (`model_construct` skips validation).
    model_config = ConfigDict(extra="forbid", frozen=True, revalidate_instances="always")


class Identity(_Strict):
    """Raw identity values: used to derive keyed fingerprints, never stored."""

    id_number: IdentityValue | None = None
    name: IdentityValue | None = None
    phone: IdentityValue | None = None
    device_id: IdentityValue | None = None


class Verification(_Strict):
    status: Literal["passed", "failed", "pending"]
    reason: Short | None = None


class _Event(BaseModel):
    # Extra fields on a known type are kept as evidence. Instances are validated again when
    # given (`model_construct` skips validation).
    model_config = ConfigDict(extra="allow", frozen=True, revalidate_instances="always")

    event_id: Id
    account_id: AccountId
    occurred_at: Timestamp


class Registration(_Event):
    type: Literal["registration"]
    identity: Identity = Field(default_factory=Identity)
    verification: Verification | None = None


class IdentityVerification(_Event):
    type: Literal["identity_verification"]
    status: Literal["passed", "failed"]
    reason: Short | None = None


class ImpersonationReport(_Event):
    type: Literal["impersonation_report"]
    reporter_id: AccountId
    impersonated_name: Text | None = None
    impersonated_account_id: AccountId | None = None
    confirmed: StrictBool


class RumorFlag(_Event):
    type: Literal["rumor_flag"]
    content_id: Id
    verdict: Literal["malicious_rumor", "rumor", "not_rumor"]
    source: Literal["fact_check", "authority_notice", "user_report"]
    reach: Annotated[StrictInt, Field(ge=0, lt=bounds.INT_LIMIT)] | None = None


class ReviewDecision(_Event):
    type: Literal["review_decision"]
    reviewer_id: Id
    action: Literal["freeze", "cancel", "blacklist", "lift"]
    decision_id: Id | None = None
    reason: Text
    category: Annotated[str, AfterValidator(_dsa_category)] | None = None
    """Optional: the DSA statement category of the reviewer's decision (see `dsa`)."""
    category_specification: list[Annotated[str, AfterValidator(_dsa_keyword)]] | None = None


class AppealOutcome(_Event):
    type: Literal["appeal_outcome"]
    decision_id: Id
    outcome: Literal["upheld", "overturned"]
    reviewer_id: Id
    reason: Text | None = None


LIST_NAME = r"^[a-z][a-z0-9_]{0,39}$"
"""A list's name (`official`): lower-case, as rules name it in `unless_listed`."""


class ListUpdate(_Event):
    """An account added to or removed from a named list (`official`) at `occurred_at`."""

    type: Literal["list_update"]
    list: Annotated[str, Field(pattern=LIST_NAME)]
    op: Literal["add", "remove"]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    actor: Id | None = None


Event = Annotated[
    Registration
    | IdentityVerification
    | ImpersonationReport
    | RumorFlag
    | ReviewDecision
    | AppealOutcome
    | ListUpdate,
    Field(discriminator="type"),
]
EVENT_MODELS: dict[str, type[_Event]] = {
    model.model_fields["type"].annotation.__args__[0]: model
    for model in typing.get_args(typing.get_args(Event)[0])  # the union's members, in order
}
EVENT_TYPES: tuple[str, ...] = tuple(sorted(EVENT_MODELS))
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_SUBMODELS = {
    name: tuple(
        field
        for field, info in model.model_fields.items()
        if any(
            isinstance(kind, type) and issubclass(kind, BaseModel)
            for kind in (info.annotation, *typing.get_args(info.annotation))
        )
    )
    for name, model in EVENT_MODELS.items()
}
"""Per event type, its fields that are models (objects of their own, keys counted apart)."""
_PRIVATE = frozenset({"identity"})
"""Fields never stored, logged or offered to rule conditions."""
IDENTITY_DIGEST = "identity_digest"
"""Set by the engine on a registration: a keyed digest of its identity, stored in its place."""
PHONE_FACTS = {"phone_kind": "identity.phone_kind", "phone_country": "identity.phone_country"}
"""Set by the engine on a registration with a phone (`phones.phone_facts`), stored under these
names, offered to conditions under the dotted ones: what kind of line, which country."""
ENGINE_FIELDS = frozenset({IDENTITY_DIGEST, "verification_received", *PHONE_FACTS})
"""Extra fields the engine itself writes on a registration (kept when its history is purged)."""
_IDENTITY_KEYS = frozenset({"identity", "id_number", "phone", "device_id", "name"})
"""Extra fields by these names, at any depth, are identity values: never stored."""


def error_message(err: ErrorDetails) -> str:
    """pydantic's message for one error, without its `Value error, ` prefix."""
    return err["msg"].removeprefix("Value error, ")


def _error_from(exc: ValidationError, data: Mapping[str, Any]) -> EventError:
    """Field path and reason of each problem; pydantic's input values are left out on purpose.
    The input's event and account ids go with it (never another of its values)."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = err["loc"][1:] if err["loc"] and err["loc"][0] in EVENT_MODELS else err["loc"]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ("type",)
        if len(loc) > 1 and loc[0] == "identity" and loc[1] not in Identity.model_fields:
            loc = ("identity", "(unknown field)")  # its name could be a value
        problems.append((".".join(str(part) for part in loc), error_message(err)))
    path, reason = problems[0]
    if len(problems) > 1:
        reason += "; and " + "; ".join(f"{p or '(event)'}: {m}" for p, m in problems[1:])
    return EventError(
        reason,
        path=path,
        event_id=_stated(data, "event_id"),
        account_id=_stated(data, "account_id"),
    )


_STATED: dict[str, TypeAdapter[str]] = {
    "event_id": TypeAdapter(Id),
    "account_id": TypeAdapter(AccountId),
}


def _stated(data: Mapping[str, Any], field: str) -> str | None:
    """The input's `event_id` or `account_id` when it is usable as one: an `Id` (a non-empty
    string of at most 200 characters, no control character; an account id that is no
    identity value)."""
    value = data.get(field)
    if not isinstance(value, str):
        return None
    try:
        return _STATED[field].validate_python(value)
    except ValidationError:
        return None


def parse_event(data: object) -> Event:
    """An event model from a dict, a model, or JSON text; raises `EventError`.

    Whatever the input, it is bounded first (`bounds`: size, nesting, integer magnitude,
    duplicate JSON keys, …) and validated in full: a model built with `model_construct` too.
    """
    if data is _last[0]:  # what this function just made: `Engine.run` hands it back
        return typing.cast(Event, data)
    if isinstance(data, str | bytes):
        event = _parse_text(data)
    elif isinstance(data, Mapping | _Event):
        bounds.check(data)
        try:
            event = _ADAPTER.validate_python(data)
        except ValidationError as exc:
            raise _error_from(exc, data if isinstance(data, Mapping) else dict(data)) from None
    else:
        raise EventError("an event must be a JSON object")
    _last[0] = event
    return event


_last: list[_Event | None] = [None]
"""The event `parse_event` made last (frozen, so still valid): `iter_jsonl` makes it and
`Engine.run` gives it back at once, so it is not validated twice. Any other model, even a
copy of it, is validated again."""


def _parse_text(text: str | bytes) -> Event:
    """pydantic's own JSON parser first (about twice as fast as `json.loads` and
    `validate_python`), its extra fields bounded; the bounded parser of `bounds` when that
    fails, to say why, or when a key may have come twice (the fast parser keeps the last)."""
    if len(text) > MAX_LINE_BYTES or (
        isinstance(text, str)
        and 4 * len(text) > MAX_LINE_BYTES  # else its UTF-8 cannot be longer: not encoded
        and len(text.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES
    ):
        raise EventError(f"event is longer than {MAX_LINE_BYTES} bytes")
    try:
        event = _ADAPTER.validate_json(text)
    except ValidationError as exc:
        data = bounds.loads(text)  # raises first for what no event may hold, with its path
        if not isinstance(data, Mapping):
            raise EventError("an event must be a JSON object") from None
        raise _error_from(exc, data) from None
    extra, given = event.__pydantic_extra__, event.__pydantic_fields_set__  # not properties
    keys = len(given) - len(extra or ()) + (bounds.check(extra) if extra else 0)
    for name in _SUBMODELS[event.type]:
        value = event.__dict__[name]
        if value is not None:
            keys += len(value.__pydantic_fields_set__)
    if keys != bounds.keys_in_text(text):
        bounds.loads(text)  # a key given twice (raises), or a `\":` inside a string (fine)
    return event


@attrs.frozen
class ParsedLine:
    """One line of a JSONL source: the event, or why it was rejected."""

    line: int
    event: Event | None
    error: EventError | None
    text: str | None = None
    """The line as received: stored as it is when it can hold no identity value (no need to
    serialise the event again), and recognised by a keyed digest when it is rejected again."""


@typing.runtime_checkable
class _Readable(Protocol):
    def readline(self, size: int = -1, /) -> bytes | str: ...


@attrs.frozen
class _LongLine:
    """A line read no further than the limit: its length and digest, not its text."""

    size: int
    digest: str


def _bounded_lines(handle: _Readable) -> Iterator[bytes | str | _LongLine]:
    """The lines of a file, none held longer than the limit: a longer one is read on in
    bounded pieces to its end, digested, and reported by its size (a 200 MB line would
    otherwise be read whole before being refused)."""
    limit = MAX_LINE_BYTES + 2  # the longest line allowed, and its "\r\n"
    while raw := handle.readline(limit):
        if len(raw) < limit or raw[-1:] in ("\n", b"\n"):
            yield raw
            continue
        digest, size = hashlib.sha256(), 0
        while raw:
            piece = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
            digest.update(piece)
            size += len(piece)
            if piece.endswith(b"\n"):
                break
            raw = handle.readline(1 << 20)
        yield _LongLine(size, digest.hexdigest())


def iter_jsonl(source: Path | Iterable[bytes | str]) -> Iterator[ParsedLine]:
    """Parse a JSONL file or line iterable lazily; blank lines are skipped, numbering is kept.
    From a file (a path, or anything with `readline`) no line is read past the size limit."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            yield from iter_jsonl(handle)
        return
    lines = _bounded_lines(source) if isinstance(source, _Readable) else source
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, _LongLine):
            error = EventError(f"line is longer than {MAX_LINE_BYTES} bytes ({raw.size} bytes)")
            yield ParsedLine(number, None, error, f"(line of {raw.size} bytes, {raw.digest})")
            continue
        if number == 1:  # a byte-order mark is not part of the first event
            raw = (
                raw.removeprefix(b"\xef\xbb\xbf")
                if isinstance(raw, bytes)
                else raw.removeprefix("\ufeff")
            )
        raw = raw.strip()
        if not raw:
            continue
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            event = parse_event(raw)
        except EventError as exc:  # the text too: a rerun recognises the line by it
            yield ParsedLine(number, None, exc, text)
            continue
        yield ParsedLine(number, event, None, text)


_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def parse_time(value: object) -> datetime:
    """A moment under the rules of `occurred_at` (RFC 3339 with an offset); `EventError` if not."""
    try:
        return _TIMESTAMP.validate_python(value)
    except ValidationError as exc:
        raise EventError(error_message(exc.errors()[0]), path="time") from None


def stored_text(event: Event, received: str | None) -> str:
    """What is stored of an event: the text as received when it can hold no identity values
    (no extra fields, not a registration: it is then the evidence verbatim, and no
    serialisation is paid), else `stored_payload`."""
    if received is not None and event.type != "registration" and not event.model_extra:
        return received
    return stored_payload(event)


def stored_payload(event: Event) -> str:
    """The event as stored, as JSON text without raw identity values.

    Declared fields serialise in a fixed order and extra fields are sorted, so the same event
    always gives the same text: that is how a resend is told from a clash of event ids.
    """
    if not (extra := event.model_extra):
        return event.model_dump_json(exclude=set(_PRIVATE), exclude_none=True)
    payload = event.model_dump(mode="json", exclude=set(_PRIVATE), exclude_none=True)
    for name in extra:  # only extra fields can hold identity names (issue 19: the rest not walked)
        if name in _IDENTITY_KEYS:
            payload.pop(name, None)
        elif isinstance(payload.get(name), dict | list):
            payload[name] = _without_identity(payload[name])
    return _STORED.encode(payload)


_STORED = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""`json.dumps` with these options, made once: the same text, without an encoder built per
event (issue 19, branch `mixfast`: a registration's payload is always written this way)."""


def mask_extras(event: Event, key: IdentityKey) -> Event:
    """The event with every identity value in its extra fields (a value or a key, at any
    depth: an `id_card` or `mobile` a sender added) replaced by its keyed fingerprint, as
    `identity.mask_identity_values` defines them: evidence keeps that the value was there,
    and which, never the value."""
    extra = event.model_extra
    if not extra:
        return event
    masked, changed = mask_identity_values(extra, key)
    if not changed:
        return event
    declared = {name: event.__dict__[name] for name in type(event).model_fields}
    return type(event).model_validate({**declared, **masked})


def input_text(raw: object) -> str:
    """An input as text, to recognise it when it comes again (by a keyed digest: it may hold
    identity values). An input that cannot be written out (nested too deep, an integer too
    long to print, keys of mixed types) gets a text of its own: it is never the same again."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    try:
        if isinstance(raw, BaseModel):
            return raw.model_dump_json(warnings=False)
        return json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return f"(input that cannot be written out: {secrets.token_hex(8)})"


def declared_payload(text: str) -> str:
    """A stored event reduced to its declared fields: what is kept of it once its history
    is purged (extra fields, kept as evidence until then, are dropped)."""
    event = parse_event(text)
    extra = set(event.model_extra or ()) - ENGINE_FIELDS
    if not extra:
        return text
    return event.model_dump_json(exclude=set(_PRIVATE) | extra, exclude_none=True)


def _without_identity(value: Any) -> Any:
    """Extra fields with identity values' names dropped, at any depth (`evidence.phone`)."""
    if isinstance(value, dict):
        return {k: _without_identity(v) for k, v in value.items() if k not in _IDENTITY_KEYS}
    if isinstance(value, list):
        return [_without_identity(item) for item in value]
    return value


# --- the field catalog: which fields rule conditions may name, and their kinds ---------------


@attrs.frozen
class FieldKind:
    """The kind of an event field that conditions may test."""

    kind: Literal["str", "bool", "int", "enum", "duration"]
    choices: tuple[str, ...] = ()


def _kind_of(annotation: Any) -> FieldKind | type[BaseModel] | None:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _kind_of(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [_kind_of(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else None
    if origin is Literal:
        return FieldKind("enum", tuple(str(arg) for arg in typing.get_args(annotation)))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return {str: FieldKind("str"), bool: FieldKind("bool"), int: FieldKind("int")}.get(annotation)


def _catalog(model: type[BaseModel], prefix: str = "") -> dict[str, FieldKind]:
    fields: dict[str, FieldKind] = {}
    for name, info in model.model_fields.items():
        if name in _PRIVATE or name == "occurred_at":
            continue
        kind = _kind_of(info.annotation)
        if isinstance(kind, FieldKind):
            fields[prefix + name] = kind
        elif kind is not None:
            fields.update(_catalog(kind, f"{prefix}{name}."))
    return fields


FIELDS: dict[str, dict[str, FieldKind]] = {name: _catalog(m) for name, m in EVENT_MODELS.items()}
"""Per event type, the dotted field paths conditions may name."""


_NESTED = {name: [(p, p.split(".")) for p in fields if "." in p] for name, fields in FIELDS.items()}
_TOP = {name: tuple(p for p in fields if "." not in p) for name, fields in FIELDS.items()}

BLACKLISTED_IDENTITY = "identity.blacklisted"
"""True when a registration's ID number or phone matches a blacklist entry in force."""
DERIVED: dict[str, dict[str, FieldKind]] = {
    "registration": {
        BLACKLISTED_IDENTITY: FieldKind("bool"),
        PHONE_FACTS["phone_kind"]: FieldKind("enum", PHONE_KINDS),
        PHONE_FACTS["phone_country"]: FieldKind("enum", COUNTRIES),
    }
}
"""Fields the engine derives for conditions (never read from the event: a sender cannot set
them). The raw identity stays out of reach; what rules may know of it is derived here."""
ACCOUNT_STATUS = "account.status"
"""The account's status just before the event, in event time (`engine.account`)."""
ACCOUNT_AGE = "account.age"
"""Event time since the account's first registration, in µs; absent without one."""
ACCOUNT_FACTS: dict[str, FieldKind] = {
    ACCOUNT_STATUS: FieldKind("enum", ("active", "frozen", "cancelled", "blacklisted")),
    ACCOUNT_AGE: FieldKind("duration"),
}
"""Derived on every event type (compared with durations: `account.age: {lt: 7d}`)."""
DURATION_FIELDS = (ACCOUNT_AGE,)
"""Fields the snapshot carries as whole microseconds, compared with durations."""
for _type in EVENT_TYPES:
    DERIVED.setdefault(_type, {}).update(ACCOUNT_FACTS)
for _type, _fields in DERIVED.items():
    FIELDS[_type].update(_fields)


def flatten(event: Event) -> dict[str, str | bool | int]:
    """The condition fields as one flat dict with dotted keys; absent fields are left out."""
    values = event.__dict__
    kind = values["type"]
    flat = {}
    for name in _TOP[kind]:  # a loop, not a comprehension: each value read once (issue 19)
        value = values[name]
        if value is not None:
            flat[name] = value
    for path, parts in _NESTED[kind]:  # paths split once, not per event
        value = event
        for part in parts:
            value = getattr(value, part, None)
            if value is None:
                break
        if value is not None:
            flat[path] = value
    extra = event.__pydantic_extra__  # `model_extra` without the property's call
    if kind == "registration" and extra:
        for stored, field in PHONE_FACTS.items():  # the engine's, never a sender's (`identify`)
            fact = extra.get(stored)
            if isinstance(fact, str):
                flat[field] = fact
    return flat
