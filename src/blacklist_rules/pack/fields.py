"""Declared fields: a pack's `fields.yaml` names extra event fields its rules may test.

The platform sends fields the contract does not know (`channel` on a registration, `topic` on a
rumour flag). A pack declares them per event type, with a type (`text`, `int`, `bool`) or the
values of an enum; rules then name them like built-in fields, events carrying one of the wrong
type are refused with its path, and the declaration is part of the pack's digest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any, Final

import attrs

from blacklist_rules.errors import EventError, RuleFileError
from blacklist_rules.model import bounds
from blacklist_rules.model.events import ENGINE_FIELDS, EVENT_TYPES, FIELDS, FieldKind

from .conditions import Path, suggest
from .loader import FIELDS_FILE, parse_yaml, read_source

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TYPES = {"text": "str", "int": "int", "bool": "bool"}
_RESERVED = frozenset({"identity", "id_number", "phone", "device_id", "name", "type"})
"""Names no declared field may take: identity values (never stored nor offered) and `type`."""
MAX_TEXT: Final = 2000
"""A declared text field is at most this long, as the contract's free text fields are."""


@attrs.frozen
class DeclaredFields:
    """Per event type, the fields a pack declares and their kinds."""

    by_type: Mapping[str, Mapping[str, FieldKind]] = attrs.field(factory=dict)

    def catalog(self) -> dict[str, dict[str, FieldKind]]:
        """Built-in and declared fields per event type: what conditions may name."""
        merged = {name: dict(fields) for name, fields in FIELDS.items()}
        for event_type, fields in self.by_type.items():
            merged[event_type].update(fields)
        return merged

    def content(self) -> dict[str, dict[str, Any]]:
        """The declaration as data, for the pack's digest (sorted, so order never matters)."""
        return {
            event_type: {
                name: {"enum": list(kind.choices)} if kind.kind == "enum" else {"type": kind.kind}
                for name, kind in sorted(fields.items())
            }
            for event_type, fields in sorted(self.by_type.items())
            if fields
        }

    def values(self, event_type: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        """The declared fields an event carries, each of its kind (a value of another kind,
        from an event stored under another pack, is left out: absent)."""
        fields = self.by_type.get(event_type)
        if not fields or not extra:
            return {}
        return {
            name: extra[name]
            for name, kind in fields.items()
            if extra.get(name) is not None and fits(kind, extra[name])
        }

    def check(
        self, event_type: str, extra: Mapping[str, Any] | None, event_id: str, account_id: str
    ) -> None:
        """`EventError` with the field's path when the event carries a declared field of the
        wrong type (null is absent, as for built-in fields). Never quotes the value."""
        for name, kind in self.by_type.get(event_type, {}).items():
            value = (extra or {}).get(name)
            if value is not None and not fits(kind, value):
                raise EventError(
                    f"must be {describe(kind)} (a field declared in the pack's {FIELDS_FILE})",
                    path=name,
                    event_id=event_id,
                    account_id=account_id,
                )


NONE = DeclaredFields()
"""A pack without `fields.yaml`."""


def fits(kind: FieldKind, value: object) -> bool:
    """Is the value one the declared field takes?"""
    if kind.kind == "bool":
        return isinstance(value, bool)
    if kind.kind == "int":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and -bounds.INT_LIMIT < value < bounds.INT_LIMIT
        )
    if kind.kind == "enum":
        return isinstance(value, str) and value in kind.choices
    return isinstance(value, str) and len(value) <= MAX_TEXT


def describe(kind: FieldKind) -> str:
    """What a declared field takes, in words."""
    if kind.kind == "enum":
        return "one of " + ", ".join(kind.choices)
    return {"bool": "true or false", "int": "a whole number"}.get(
        kind.kind, f"text of at most {MAX_TEXT} characters"
    )


def read_declared_fields(folder: FsPath) -> tuple[DeclaredFields, list[RuleFileError]]:
    """The pack's declared fields (none without `fields.yaml`), and every error in the file."""
    path = folder / FIELDS_FILE
    if not folder.is_dir() or not path.is_file():
        return NONE, []
    text = read_source(path)
    if isinstance(text, RuleFileError):
        return NONE, [text]
    return parse_declared_fields(text, str(path))


def parse_declared_fields(text: str, source: str) -> tuple[DeclaredFields, list[RuleFileError]]:
    """`fields.yaml` text as declared fields, with a located error for each problem."""
    data, line_of, errors = parse_yaml(text, source)
    if errors or line_of is None:
        return NONE, errors
    if data is None:
        return NONE, []
    if not isinstance(data, Mapping):
        message = f"{FIELDS_FILE} maps event types to their fields"
        return NONE, [RuleFileError(source, 1, "E-FIELDS", message)]
    found: dict[str, dict[str, FieldKind]] = {}
    for event_type, fields in data.items():
        at: Path = (event_type,)
        if event_type not in EVENT_TYPES:
            hint = suggest(event_type, EVENT_TYPES)
            message = f"unknown event type `{event_type}`"
            errors.append(RuleFileError(source, line_of(at), "E-EVENT-TYPE", message, hint))
            continue
        if not isinstance(fields, Mapping) or not fields:
            message = (
                f"`{event_type}` takes a mapping of field names to `{{type: …}}` or `{{enum: […]}}`"
            )
            errors.append(RuleFileError(source, line_of(at), "E-FIELDS", message))
            continue
        for name, raw in fields.items():
            kind, problem = _declared(event_type, name, raw)
            if problem is not None:
                code, message, hint = problem
                errors.append(RuleFileError(source, line_of((*at, name)), code, message, hint))
            elif kind is not None:
                found.setdefault(event_type, {})[name] = kind
    return DeclaredFields(found), errors


Problem = tuple[str, str, str | None]


def _declared(event_type: str, name: str, raw: object) -> tuple[FieldKind | None, Problem | None]:
    """One declared field's kind, or what is wrong with it."""
    if not _NAME.match(name):
        return None, (
            "E-FIELDS",
            f"`{name}` is not a field name",
            "lower case letters, digits and `_`, starting with a letter",
        )
    if name in FIELDS[event_type] or name in ENGINE_FIELDS or name in _RESERVED:
        return None, (
            "E-FIELDS",
            f"`{name}` is a built-in field of `{event_type}` events (or reserved): "
            "it cannot be declared",
            "choose another name",
        )
    if not isinstance(raw, Mapping) or len(raw) != 1:
        return None, (
            "E-FIELDS",
            f"`{name}` takes `{{type: text|int|bool}}` or `{{enum: […]}}`",
            None,
        )
    ((key, value),) = raw.items()
    if key == "type":
        if value not in _TYPES:
            message = f"`{name}`: unknown type `{value}`; one of text, int, bool"
            return None, ("E-FIELDS", message, suggest(str(value), _TYPES))
        return FieldKind(_TYPES[value]), None  # type: ignore[arg-type]
    if key == "enum":
        if (
            not isinstance(value, list)
            or not value
            or len(value) > 500
            or not all(isinstance(v, str) and v for v in value)
        ):
            message = f"`{name}`: `enum` takes a list of 1 to 500 values, each non-empty text"
            return None, ("E-FIELDS", message, "quote values YAML would read otherwise")
        if len(set(value)) != len(value):
            return None, ("E-FIELDS", f"`{name}`: an `enum` value is listed twice", None)
        return FieldKind("enum", tuple(value)), None
    return None, ("E-KEY", f"unknown key `{key}` in `{name}`", suggest(str(key), ("type", "enum")))


def event_schema(declared: DeclaredFields) -> dict[str, Any]:
    """The declared fields as JSON Schema, per event type (for `schema --rules DIR`)."""
    schemas: dict[str, Any] = {}
    for event_type, fields in sorted(declared.by_type.items()):
        properties: dict[str, Any] = {}
        for name, kind in sorted(fields.items()):
            if kind.kind == "enum":
                properties[name] = {"enum": list(kind.choices)}
            elif kind.kind == "str":
                properties[name] = {"type": "string", "maxLength": MAX_TEXT}
            else:
                properties[name] = {"type": "integer" if kind.kind == "int" else "boolean"}
        schemas[event_type] = {"type": "object", "properties": properties}
    return schemas
