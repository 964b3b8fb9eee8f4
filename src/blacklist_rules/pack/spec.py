"""Rule-file specs: what one YAML rule file says, validated with pydantic, before any checks.

A rule file names the events it listens to (`on`), a condition tree (`when`), and the action it
takes (`then`). Conditions are data, never code: a tree of `all`, `any`, `not` and comparisons
`field: value` or `field: {operator: value}`. Shape errors carry the path inside the file so the
loader can turn them into `file:line` messages.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final, Literal

import attrs
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from blacklist_rules.model.events import LIST_NAME
from blacklist_rules.model.transparency import CATEGORIES, CONTENT_TYPES, KEYWORDS, SOURCE_TYPES

from .conditions import COMBINATORS, Condition, Path

SCHEMA_VERSION: Final = 1
"""Version of the rule-file format; files may state it as `schema: 1`."""


_DURATION = re.compile(r"^([1-9][0-9]{0,5})([smhdw])$")
_ANY_LENGTH = re.compile(r"^([1-9][0-9]*)([smhdw])$")
"""A number and a unit as `_DURATION`, with any number of digits: what to say of one it refuses."""
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


MAX_DURATION = timedelta(days=36_525)
"""100 years: longer spans would overflow dates (and mean "for ever": leave the key out)."""


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `15m`, `2w`, `45s`: a positive whole number (at most 6 digits) and one
    unit, at most 100 years."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(_not_a_duration(text))
    span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if span > MAX_DURATION:
        raise ValueError(_too_long(text))
    return span


def _not_a_duration(text: str) -> str:
    """Why `_DURATION` refuses `text`: a number of more than 6 digits is too long (or, in
    seconds or minutes, to be written in a larger unit); anything else is not a duration."""
    long = _ANY_LENGTH.match(text)
    if long is None:
        return (
            f"invalid duration {text!r}: write a positive whole number and a unit, "
            "one of s, m, h, d, w (e.g. `30d`)"
        )
    digits, unit = long.groups()
    # (13 digits or more are over 100 years in any unit: not read, however many there are)
    seconds = int(timedelta(**{_UNITS[unit]: 1}).total_seconds())
    if len(digits) > 12 or int(digits) * seconds > MAX_DURATION.total_seconds():
        return _too_long(text)
    return f"duration {text!r} has more than 6 digits: write it in a larger unit"


def span_text(span: timedelta) -> str:
    """A span as a rule file writes it: whole days as `30d`, anything else in seconds."""
    days, rest = divmod(int(span.total_seconds()), 86_400)
    if not rest:
        return f"{days}d"
    return f"{int(span.total_seconds())}s"


def _too_long(text: str) -> str:
    return f"duration {text!r} is longer than 100 years (36525d)"


def _checked_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str, AfterValidator(_checked_duration), Field(json_schema_extra={"pattern": _DURATION.pattern})
]
"""A span in a rule file (`within`, `duration`): checked at load, kept as written."""


_CONDITION_DEFS: dict[str, Any] = {
    "condition": {
        "description": "all / any / not, or field tests that must all hold",
        "type": "object",
        "minProperties": 1,
        "oneOf": [
            {
                "properties": {
                    "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}
                },
                "required": ["all"],
                "additionalProperties": False,
            },
            {
                "properties": {
                    "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/condition"}}
                },
                "required": ["any"],
                "additionalProperties": False,
            },
            {
                "properties": {"not": {"$ref": "#/$defs/condition"}},
                "required": ["not"],
                "additionalProperties": False,
            },
            {
                "not": {"anyOf": [{"required": [k]} for k in COMBINATORS]},
                "additionalProperties": {"$ref": "#/$defs/test"},
            },
        ],
    },
    "scalar": {"type": ["string", "boolean", "integer"]},
    "test": {
        "anyOf": [
            {"$ref": "#/$defs/scalar"},
            {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    **{
                        op: {"$ref": "#/$defs/scalar"}
                        for op in ("eq", "ne", "lt", "lte", "gt", "gte", "matches")
                    },
                    "in": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 500,
                        "items": {"$ref": "#/$defs/scalar"},
                    },
                    "not_in": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 500,
                        "items": {"$ref": "#/$defs/scalar"},
                    },
                    "exists": {"type": "boolean"},
                },
            },
        ]
    },
}


@attrs.frozen
class Filter:
    """Which events count: event types and an optional condition, at `path` in the file.

    A rule has one for its own `on`/`when` and, for a deadline, one for each `after`/`unless`.
    """

    types: tuple[str, ...]
    condition: Condition | None
    path: Path


class Window(BaseModel):
    """Repeated behaviour: at least `count` matching events (or distinct values of a field)
    whose event times lie less than `within` apart."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[int, Field(ge=1, le=10_000, strict=True)]
    within: Annotated[
        Duration, Field(description="the span, e.g. `180d`: the events lie less than this apart")
    ]
    distinct: Annotated[
        str | None,
        Field(description="count distinct values of this field instead of events"),
    ] = None
    by: Annotated[
        Literal["id_number", "phone", "device_id"] | None,
        Field(
            description="registrations only: group by this identity value instead of the "
            "account, and count the distinct live accounts that registered with it"
        ),
    ] = None


class Prior(BaseModel):
    """Escalation: at least `count` enforced decisions of `action` on the account, not
    reversed, whose effective time lies in the `within` ending at the event (of the named
    `rules` only, if given); read when the event arrives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["freeze", "cancel", "blacklist"]
    count: Annotated[int, Field(ge=1, le=1000, strict=True)]
    within: Annotated[
        Duration, Field(description="the span, e.g. `365d`: (t - within, t] ending at the event")
    ]
    rules: Annotated[
        list[str] | None,
        Field(min_length=1, description="only these rules' decisions count (default: any)"),
    ] = None


def _listed(value: object) -> object:
    return [value] if isinstance(value, str | dict) else value


_EVENT_TYPES_SCHEMA = {
    "description": "event type, or a list of them",
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
    ],
}
EventTypes = Annotated[
    list[str], BeforeValidator(_listed), Field(min_length=1), WithJsonSchema(_EVENT_TYPES_SCHEMA)
]
_CONDITION_MARK = "x-condition"
RawCondition = Annotated[dict[str, Any] | None, WithJsonSchema({_CONDITION_MARK: True})]


class EventFilter(BaseModel):
    """Events of these types for which the condition holds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    on: EventTypes
    when: RawCondition = None


class After(BaseModel):
    """What starts a deadline: a decision of one of the named rules, or a matching event."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # `min_length` on the list, not on `… | None`: pydantic applies it to `None` as well and
    # raises a bare TypeError for `decision: ~` (and `on: ~`).
    decision: Annotated[
        Annotated[list[str], Field(min_length=1)] | None,
        BeforeValidator(_listed),
        Field(description="rule ids whose enforced decisions start it"),
        WithJsonSchema(
            {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
        ),
    ] = None
    on: Annotated[Annotated[list[str], Field(min_length=1)] | None, BeforeValidator(_listed)] = None
    when: RawCondition = None


class Deadline(BaseModel):
    """The rule acts when `within` has passed since `after` with no `unless` event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: After
    within: Duration
    unless: Annotated[list[EventFilter], BeforeValidator(_listed)] = []


class Then(BaseModel):
    """The action a rule takes when its condition holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["freeze", "cancel", "blacklist"]
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True), Field(min_length=1, max_length=500)
    ]
    """(Trimmed: a folded YAML block, `reason: >`, would end in a newline.)"""
    duration: Annotated[
        Duration | None, Field(description="freeze only: how long it lasts, e.g. `30d`")
    ] = None
    until: Annotated[
        Literal["verification_passed"] | None,
        Field(description="freeze only: the event that ends it"),
    ] = None
    listed_for: Annotated[
        Duration | None,
        Field(
            description="blacklist only: how long the identity stays on the blacklist, "
            "e.g. `1095d` (default: until a lift or an overturned appeal)"
        ),
    ] = None


class Dsa(BaseModel):
    """How the rule's decisions are reported to the EU DSA Transparency Database (statements
    of reasons, `audit export --format dsa`). Values are the database's own names; `checks`
    refuses unknown ones with a did-you-mean."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: Annotated[
        str,
        Field(description="the statement category", json_schema_extra={"enum": list(CATEGORIES)}),
    ]
    keywords: Annotated[
        list[str],
        Field(
            max_length=20,
            description="`category_specification` keywords",
            json_schema_extra={"uniqueItems": True, "items": {"enum": list(KEYWORDS)}},
        ),
    ] = []
    keyword_other: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True),
        Field(min_length=1, max_length=500, description="with `KEYWORD_OTHER` only: which"),
    ] = None
    ground: Annotated[
        Literal["incompatible", "illegal"],
        Field(
            description="incompatible with the terms and conditions, or illegal content "
            "(`decision_ground`)"
        ),
    ]
    reference: Annotated[
        str,
        StringConstraints(strip_whitespace=True),
        Field(
            min_length=1,
            max_length=500,
            description="the contractual clause (incompatible) or the law (illegal) relied on",
        ),
    ]
    reference_url: Annotated[
        str | None,
        Field(
            max_length=500,
            pattern=r"^https?://[^\s]+$",
            description="where the terms or the law relied on can be read",
        ),
    ] = None
    also_illegal: Annotated[
        bool,
        Field(
            strict=True,
            description="incompatible only: the content is considered illegal too",
        ),
    ] = False
    source: Annotated[
        str,
        Field(
            description="what the decision acted on (`source_type`)",
            json_schema_extra={"enum": list(SOURCE_TYPES)},
        ),
    ] = "SOURCE_VOLUNTARY"
    content_type: Annotated[
        list[str],
        Field(
            min_length=1,
            description="the type of the content restricted (default: other, the account)",
            json_schema_extra={"uniqueItems": True, "items": {"enum": list(CONTENT_TYPES)}},
        ),
    ] = ["CONTENT_TYPE_OTHER"]
    automated: Annotated[
        Literal["fully", "partially"],
        Field(
            description="`partially` when the rule acts on a person's finding (a reviewer's "
            "confirmation): then neither detection nor decision was fully automated"
        ),
    ] = "fully"


LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
"""A notice language: `en`, `zh`, `zh-Hant` (BCP 47 style, lower-case language first)."""


class NoticeText(BaseModel):
    """A rule's words to the user in one language: its basis and what was found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: Annotated[
        str,
        StringConstraints(strip_whitespace=True),
        Field(min_length=1, max_length=2000, description="the rule's ground, in plain words"),
    ]
    evidence: Annotated[
        str,
        StringConstraints(strip_whitespace=True),
        Field(
            min_length=1,
            max_length=2000,
            description="what was found, in plain words; `$count`, `$first`, `$last`, "
            "`$anchor_at`, `$verification_reason` are filled in",
        ),
    ]


class RuleSpec(BaseModel):
    """One rule file. `when` stays raw here; `parse_condition` turns it into nodes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Annotated[Literal[1], Field(alias="schema")] = SCHEMA_VERSION
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
    version: Annotated[int, Field(ge=1, strict=True)]
    description: Annotated[str, Field(min_length=1, max_length=2000)]
    basis: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2000,
            description="the legal or terms-of-service ground of the rule",
        ),
    ]
    dsa: Annotated[
        Dsa, Field(description="how its decisions are reported to the DSA Transparency Database")
    ]
    on: Annotated[
        Annotated[list[str], Field(min_length=1)] | None,  # not on `| None`: see After
        BeforeValidator(_listed),
        WithJsonSchema(_EVENT_TYPES_SCHEMA),
    ] = None
    when: RawCondition = None
    window: Window | None = None
    deadline: Deadline | None = None
    unless_listed: Annotated[
        list[Annotated[str, StringConstraints(pattern=LIST_NAME)]] | None,
        Field(
            min_length=1,
            description="list names (`list_update` events): an account on any of them at the "
            "event's time is not decided by this rule",
        ),
    ] = None
    prior: Annotated[
        Prior | None,
        Field(description="escalation: the account's earlier enforced decisions of an action"),
    ] = None
    then: Then
    notice: Annotated[
        dict[Annotated[str, StringConstraints(pattern=LANGUAGE_TAG)], NoticeText] | None,
        Field(
            min_length=1,
            description="per language (`en`, `zh`): the text users are shown about a decision "
            "of this rule; required when the pack has a `notices/` folder",
        ),
    ] = None
    priority: Annotated[
        int, Field(ge=0, le=10_000, description="lower runs first; breaks ties of equal severity")
    ] = 100
    mode: Literal["enforce", "shadow"] = "enforce"

    def content(self) -> dict[str, Any]:
        """The spec as JSON (what its digest is of): a rule without `prior` keeps the digest
        it had before rules could have one."""
        content = self.model_dump(mode="json", by_alias=True)
        for key in ("prior", "unless_listed"):
            if content[key] is None:
                del content[key]
        return content

    @property
    def event_types(self) -> tuple[str, ...]:
        """The types of the rule's own events; a deadline rule has none (time moves it)."""
        return tuple(self.on or ())


def raw_filters(spec: RuleSpec) -> list[tuple[tuple[str, ...], dict[str, Any] | None, Path]]:
    """Every (event types, raw `when`, place in the file) the rule names: its own `on`/`when`,
    a deadline's `after` events and each `unless`."""
    found: list[tuple[tuple[str, ...], dict[str, Any] | None, Path]] = []
    if spec.on is not None:
        found.append((tuple(spec.on), spec.when, ()))
    if spec.deadline is not None:
        after = spec.deadline.after
        if after.on is not None:
            found.append((tuple(after.on), after.when, ("deadline", "after")))
        for index, unless in enumerate(spec.deadline.unless):
            found.append((tuple(unless.on), unless.when, ("deadline", "unless", index)))
    return found


def rule_json_schema() -> dict[str, Any]:
    """The JSON Schema of a rule file, for editors; published as `rules/rule.schema.json`."""

    def refer(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get(_CONDITION_MARK):
                return {"$ref": "#/$defs/condition"}
            return {key: refer(value) for key, value in node.items()}
        if isinstance(node, list):
            return [refer(item) for item in node]
        return node

    schema: dict[str, Any] = refer(RuleSpec.model_json_schema(by_alias=True))
    schema.setdefault("$defs", {}).update(_CONDITION_DEFS)
    schema["properties"]["when"] = {
        "$ref": "#/$defs/condition",
        "description": "when the rule holds; absent: always",
    }
    schema["properties"]["window"]["description"] = "repeated events within a span"
    schema["properties"]["deadline"]["description"] = "nothing happened within a span after"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "blacklist-rules rule file"
    return schema
