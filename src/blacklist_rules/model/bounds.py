"""What an event may hold, checked before it is validated: hostile input made harmless.

pydantic validates the declared fields; what it lets through untouched (extra fields, kept as
evidence) and what breaks before it runs is bounded here, the same way for JSON text, dicts and
models: nesting depth, integer magnitude (durable-rules and SQLite compare 64-bit integers),
finite numbers, text that encodes as UTF-8, size, and, in JSON text, duplicate keys (the last
value would silently win). Each problem is an `EventError` with the field path, never a crash,
and never with a value (a key is named only when it looks like a field name: it could be one).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel

from blacklist_rules.errors import EventError

MAX_EVENT_BYTES = 64 * 1024
"""A JSON line longer than this is rejected unread; a dict or model whose JSON would
certainly be longer (a lower bound is counted) likewise."""
MAX_DEPTH = 32
"""Objects and arrays nested deeper than this (the event itself is level 1) are rejected:
deep nesting is how a short line exhausts a recursive parser."""
INT_LIMIT = 2**63
"""Integers with a magnitude of at least this are rejected: rules, durable-rules and SQLite
compare signed 64-bit integers."""
_INT_DIGITS = len(str(INT_LIMIT))
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_KEY_END = re.compile(r'"[ \t\r\n]*:')
_KEY_END_BYTES = re.compile(rb'"[ \t\r\n]*:')
_SPACED = re.compile(r'"[ \t\r\n]+:')
_SPACED_BYTES = re.compile(rb'"[ \t\r\n]+:')
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class _Refused:
    """Left by the JSON parser where a value cannot be taken; `check` reports it with its path."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Duplicated(dict[str, Any]):
    """An object that named a key twice (the key is kept to say which)."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


_TOO_LARGE = _Refused("is an integer of magnitude 2^63 or more (beyond 64 bits)")
_NOT_FINITE = _Refused("is not a finite number (NaN and infinities are not JSON)")


def _int(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > _INT_DIGITS:  # before `int()`: 4,301 digits raise there
        return _TOO_LARGE
    number = int(text)
    return number if -INT_LIMIT < number < INT_LIMIT else _TOO_LARGE


def _float(text: str) -> float | _Refused:
    number = float(text)
    return number if math.isfinite(number) else _NOT_FINITE


def _constant(_: str) -> _Refused:
    return _NOT_FINITE


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return _Duplicated(pairs, key)
        seen.add(key)
    return found  # not reached: fewer keys than pairs means a key came twice


def key_name(key: object) -> str:
    """A key as an error may show it: only when it looks like a field name (it could be a
    value: an ID number used as a key)."""
    return key if isinstance(key, str) and _NAME.fullmatch(key) else "(key)"


def nesting(text: str | bytes) -> int:
    """How deep the JSON text nests its objects and arrays (strings left out)."""
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def loads(text: str | bytes) -> Any:
    """JSON text as Python values, bounded: `EventError` for malformed JSON, nesting deeper than
    `MAX_DEPTH`, and (with their paths) duplicate keys, huge integers and non-finite numbers."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    opened = raw.count(b"[") + raw.count(b"{")
    if opened > MAX_DEPTH and nesting(text) > MAX_DEPTH:
        raise EventError(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as bad:
        raise EventError(f"malformed JSON: {bad.msg}") from None
    except UnicodeDecodeError as bad:
        raise EventError(f"malformed JSON: {bad.reason}") from None
    except RecursionError:  # not reached past the nesting check above; kept as a backstop
        raise EventError(f"nesting deeper than {MAX_DEPTH} levels") from None
    check(value)
    return value


def keys_in_text(text: str | bytes) -> int:
    """At least the number of keys in JSON text (a `\\":` inside a string counts too): equal to
    the keys of what it parsed into only when no object named a key twice."""
    if isinstance(text, str):
        count = text.count('":')  # the usual writing: no blank before the colon
        return len(_KEY_END.findall(text)) if _SPACED.search(text) else count
    count = text.count(b'":')
    return len(_KEY_END_BYTES.findall(text)) if _SPACED_BYTES.search(text) else count


def check(value: object, path: str = "") -> int:
    """Raise `EventError` (with the path) for what no event may hold; else the number of keys
    of the objects in `value` (to tell whether a fast parser dropped a duplicate key).

    Paths cost more than the walk: they are made only once a problem is known, by a second
    walk that meets the same problem first."""
    try:
        return _walk(value, None)
    except EventError as unlocated:
        _walk(value, path)  # raises the same problem, located
        raise unlocated from None


def _walk(value: object, path: str | None) -> int:
    keys = size = 0
    stack: list[tuple[object, str | None, int]] = [(value, path, 1)]
    while stack and size <= MAX_EVENT_BYTES:
        item, where, depth = stack.pop()
        size += 2
        if isinstance(item, str):
            size += len(item)
            if not item.isascii():
                _text(item, where)
            continue
        if item is None or isinstance(item, bool | date):
            continue
        if isinstance(item, int | float):
            _number(item, where)
            continue
        if depth > MAX_DEPTH:
            raise EventError(f"nesting deeper than {MAX_DEPTH} levels", path=where or "")
        if isinstance(item, BaseModel):
            item = dict(item)
        if isinstance(item, Mapping | list | tuple) and size + 4 * len(item) > MAX_EVENT_BYTES:
            size = MAX_EVENT_BYTES + 1  # too many members to be small: not worth walking
            break
        if isinstance(item, Mapping):
            keys += len(item)
            size += sum(len(key) + 3 for key in item if isinstance(key, str))  # '"":' at least
            stack.extend(_members(item, where, depth))
        elif isinstance(item, list | tuple):
            stack.extend((v, _join(where, str(i)), depth + 1) for i, v in enumerate(item))
        else:
            _refuse(item, where)
    if size > MAX_EVENT_BYTES:
        raise EventError(f"event is larger than {MAX_EVENT_BYTES} bytes as JSON")
    return keys


def _members(
    item: Mapping[Any, Any], where: str | None, depth: int
) -> list[tuple[object, str | None, int]]:
    if isinstance(item, _Duplicated):
        raise EventError(f"names the key {key_name(item.key)} twice", path=where or "")
    members = []
    for key, member in item.items():
        if not isinstance(key, str):
            raise EventError("keys must be text", path=where or "")
        if not key.isascii():
            _text(key, where)
        members.append((member, None if where is None else _join(where, key_name(key)), depth + 1))
    return members


def _join(path: str | None, part: str) -> str | None:
    if path is None:
        return None
    return f"{path}.{part}" if path else part


def _text(item: str, where: str | None) -> None:
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError("is not valid Unicode text (a lone surrogate)", path=where or "") from None


def _number(item: float, where: str | None) -> None:
    if isinstance(item, int):
        if not -INT_LIMIT < item < INT_LIMIT:
            raise EventError(_TOO_LARGE.reason, path=where or "")
    elif not math.isfinite(item):
        raise EventError(_NOT_FINITE.reason, path=where or "")


def _refuse(item: object, where: str | None) -> None:
    if isinstance(item, _Refused):
        raise EventError(item.reason, path=where or "")
    raise EventError(f"is not a JSON value ({type(item).__name__})", path=where or "")
