"""Specs → a compiled ruleset: the backend-neutral plan the matcher, explain and cases read.

The plan holds streams, windows, deadlines, the index by event type, the digest, and the named
tests a matcher evaluates (`matchables`: rules and listeners, in priority order, as our own
condition trees). The matcher translates them into its own terms (`matching.durable`); here
each tree is also compiled into Python closures (the guard that decides which events are
worth matching, and the tracer that records the values each comparison saw). Differential
tests prove the two equal; at run time a disagreement fails closed.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from blacklist_rules.errors import EvaluationError, RuleLoadError
from blacklist_rules.model.decisions import Action, ConditionTrace, Mode
from blacklist_rules.model.events import DURATION_FIELDS, Event, flatten
from blacklist_rules.model.identity import DEVICE, ID_NUMBER, PHONE
from blacklist_rules.model.patterns import Pattern, compile_pattern

from .conditions import All, AnyOf, Compare, Condition, Not, comparisons
from .fields import NONE, DeclaredFields
from .lists import with_unless_listed
from .loader import RuleSource
from .notice_templates import NoticePack
from .prior import PriorTest, compile_prior
from .spec import (
    SCHEMA_VERSION,
    Deadline,
    Filter,
    RuleSpec,
    Window,
    parse_duration,
    span_text,
)

COMPILER_VERSION = 3
"""Bumped when compilation changes meaning, so the digest of an unchanged pack changes too."""

Snapshot = Mapping[str, Any]
Guard = Callable[[Snapshot], bool]


def feature_key(test: Compare) -> str:
    """The snapshot key holding a `matches` test's result, computed in Python.

    durable-rules' own regex test is not used: measured on 2.0.28, its regex engine disagrees with
    Python's on plain patterns (`1*.?(aa)*` does not match "111", `(1*a|a*)` matches "1"),
    refuses some (`(a|[^a])`), never finishes building others (`(a*)*`), and matches the
    JSON-escaped text. The match is a boolean feature of the snapshot instead, computed by RE2
    (`patterns`) in time linear in the text: no rule's pattern reaches durable-rules.
    """
    digest = hashlib.sha256(f"{test.field}\x1f{test.value}".encode()).hexdigest()[:12]
    return f"match_{digest}"


_MISSING = object()


def _compare_python(test: Compare) -> Guard:
    field, value, op = test.field, test.value, test.op
    if op == "exists":
        return (lambda s: field in s) if value else (lambda s: field not in s)
    if op == "matches":
        pattern = compile_pattern(str(value))
        return lambda s: isinstance(v := s.get(field), str) and pattern.fullmatch(v)
    if op in ("in", "not_in"):
        members = frozenset(value) if isinstance(value, tuple) else frozenset((value,))
        if op == "in":
            return lambda s: s.get(field, _MISSING) in members
        return lambda s: (v := s.get(field, _MISSING)) is not _MISSING and v not in members
    if op == "eq":
        return lambda s: s.get(field, _MISSING) == value
    compare: Callable[[Any, Any], bool] = {
        "ne": operator.ne,
        "lt": operator.lt,
        "lte": operator.le,
        "gt": operator.gt,
        "gte": operator.ge,
    }[op]
    return lambda s: (v := s.get(field, _MISSING)) is not _MISSING and compare(v, value)


def to_guard(node: Condition | None) -> Guard:
    """The condition as a Python closure: what the matcher computes (`Matcher.match`)."""
    if node is None:
        return lambda s: True
    if isinstance(node, Not):
        inner = to_guard(node.item)
        return lambda s: not inner(s)
    if isinstance(node, All | AnyOf):
        parts = tuple(to_guard(item) for item in node.items)
        joins_all = isinstance(node, All)
        # Guards run on every event of their types: small joins without a generator.
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            if joins_all:
                return lambda s: a(s) and b(s)
            return lambda s: a(s) or b(s)
        if joins_all:
            return lambda s: all(part(s) for part in parts)
        return lambda s: any(part(s) for part in parts)
    return _compare_python(node)


def condition_text(field: str, op: str, expected: Any) -> str:
    """A comparison as a rule file writes it: `source in [fact_check, authority_notice]`."""

    def shown(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return "[" + ", ".join(shown(item) for item in value) + "]"
        return str(value)

    if field in DURATION_FIELDS and isinstance(expected, int) and expected % 1_000_000 == 0:
        return f"{field} {op} {span_text(timedelta(microseconds=expected))}"  # as written
    return f"{field} {op} {shown(expected)}"


def trace(node: Condition | None, snapshot: Snapshot) -> tuple[ConditionTrace, ...]:
    """Every comparison in the tree with the value it saw: the explanation of a match."""
    if node is None:
        return ()
    if isinstance(node, Not):
        return trace(node.item, snapshot)
    if isinstance(node, All | AnyOf):
        return tuple(t for item in node.items for t in trace(item, snapshot))
    expected = list(node.value) if isinstance(node.value, tuple) else node.value
    return (
        ConditionTrace(
            node.field, node.op, expected, snapshot.get(node.field), _compare_python(node)(snapshot)
        ),
    )


@attrs.frozen
class CompiledRule:
    """One rule, ready to run."""

    id: str
    version: int
    action: Action
    mode: Mode
    priority: int
    reason: str
    event_types: tuple[str, ...]
    condition: Condition | None
    guard: Guard = attrs.field(eq=False, repr=False)
    duration: timedelta | None = None
    until: str | None = None
    listed_for: timedelta | None = None
    """A blacklist's: how long the identity stays on the blacklist (None: until lifted)."""
    source: str = ""
    text: str = attrs.field(default="", repr=False)
    """The rule file as written, kept with every pack the store has used."""
    window: WindowTest | None = None
    deadline: DeadlineSpec | None = None
    prior: PriorTest | None = attrs.field(default=None, repr=False)
    unless_listed: tuple[str, ...] = attrs.field(default=(), repr=False)
    """(Not in the repr: a pack without `prior:` compiles as it did before there was one.)"""
    dsa: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """The rule's `dsa` block (every key, defaults filled in): kept with the pack in the
    store, so a decision is reported with the category of the pack that took it."""
    content: str = attrs.field(default="", repr=False)
    """`rule_digest` of the rule: what it says, whatever its layout and comments (a db that
    holds other text under the same id and version is refused, `engine.loading`)."""


@attrs.frozen
class Listener:
    """A filter that is not a rule: events that feed a stream, or that start a deadline.

    The matcher runs it beside the rules (named `stream:<key>` or `after:<rule id>`), so what
    enters history is matched by the same engine as what decides.
    """

    name: str
    types: tuple[str, ...]
    condition: Condition | None
    guard: Guard = attrs.field(eq=False, repr=False)
    stream: str | None = None
    """The key of the stream it feeds; None for a deadline's `after` events."""


@attrs.frozen
class Stream:
    """Events an account's windows and deadlines count: kept in the store's history table."""

    key: str
    listener: Listener
    distinct: str | None
    span_us: int
    """The longest span anything reads from this stream."""
    by: str | None = None
    """Grouped by this identity value (a fingerprint kind) instead of by account."""


@attrs.frozen
class Feature:
    """A count the snapshot carries: a stream's events (or values) within a span."""

    key: str
    span_us: int


@attrs.frozen
class WindowTest:
    """`count` or more events (or distinct values) of a stream within `span_us`."""

    key: str
    """Snapshot key of the feature: the count in the window ending at the evaluated time."""
    stream: str
    count: int
    span_us: int
    label: str


@attrs.frozen
class DeadlineSpec:
    """Acts `span_us` after an anchor unless an event of an `unless` stream came first."""

    span_us: int
    after_rules: tuple[str, ...]
    after_listener: str | None
    unless: tuple[str, ...]
    label: str


@attrs.frozen
class Matchable:
    """One named test a matcher evaluates: a rule, or a listener (`Listener.name`)."""

    name: str
    types: tuple[str, ...]
    condition: Condition | None
    """The whole test for an event of one of `types`: for a window rule, its count first."""


@attrs.frozen
class CompiledRuleset:
    """A rule pack compiled: immutable, named after its content digest."""

    digest: str
    rules: tuple[CompiledRule, ...]
    by_type: Mapping[str, tuple[CompiledRule, ...]]
    matchables: tuple[Matchable, ...] = attrs.field(default=(), repr=False)
    """Every named test, in priority order: the rules (by priority, then id), then the
    listeners (by name). A matcher answers with names from here, in this order."""
    features: Mapping[str, tuple[tuple[str, str, Pattern], ...]] = attrs.field(
        factory=dict, repr=False
    )
    """Per event type: (snapshot key, field, pattern) of every `matches` test."""
    listeners: Mapping[str, tuple[Listener, ...]] = attrs.field(factory=dict, repr=False)
    """Per event type: the stream and deadline-anchor filters listening to it."""
    streams: Mapping[str, Stream] = attrs.field(factory=dict, repr=False)
    windows: Mapping[str, tuple[Feature, ...]] = attrs.field(factory=dict, repr=False)
    """Per stream key: the counts the snapshot carries from it."""
    horizon_us: int = 0
    """The longest window or deadline: events at most this far behind the clock still count."""
    notices: NoticePack | None = attrs.field(default=None, repr=False)
    """The pack's notice templates (`notices/`), kept with its rules under its digest."""
    declared: DeclaredFields = attrs.field(default=NONE, repr=False)
    """The pack's declared fields (`fields.yaml`), part of its digest."""

    @property
    def name(self) -> str:
        """A short name from the digest: a matcher registers the pack under it, so a new
        pack never replaces one in use."""
        return f"br_{self.digest[:16]}"

    def rule(self, rule_id: str) -> CompiledRule:
        """The compiled rule of this id (`StopIteration` when the pack has none)."""
        return next(rule for rule in self.rules if rule.id == rule_id)

    def flat(self, event: Event) -> dict[str, Any]:
        """The event's condition fields: built-in (`flatten`) and the pack's declared ones."""
        fields: dict[str, Any] = flatten(event)
        if self.declared.by_type:
            fields.update(self.declared.values(event.type, event.model_extra))
        return fields

    def snapshot(self, fields: dict[str, Any], event_type: str) -> dict[str, Any]:
        """What durable-rules sees: the event's fields and each pattern's result."""
        for key, field, pattern in self.features.get(event_type, ()):
            value = fields.get(field)
            fields[key] = isinstance(value, str) and pattern.fullmatch(value)
        return fields


def _rule_content(source: RuleSource) -> dict[str, Any]:
    content = source.spec.content()
    if content["notice"] is None:  # a pack without notices keeps the digest it had before
        del content["notice"]
    return content


def rule_digest(spec: RuleSpec) -> str:
    """The SHA-256 of what one rule says (its spec, normalised): the same whatever the
    file's layout, comments or key order, different when any value changes."""
    content = spec.content()
    return hashlib.sha256(_canonical(content).encode()).hexdigest()


def _digest(rules: list[RuleSource], notices: NoticePack | None, declared: DeclaredFields) -> str:
    content: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "compiler": COMPILER_VERSION,
        "rules": sorted(map(_rule_content, rules), key=lambda d: d["id"]),
    }
    if notices is not None:
        content["notices"] = notices.content()
    if declared.by_type:  # a pack without fields.yaml keeps the digest it had before
        content["fields"] = declared.content()
    canonical = json.dumps(
        content,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def _listener(name: str, filter_: Filter, stream: str | None = None) -> Listener:
    return Listener(name, filter_.types, filter_.condition, to_guard(filter_.condition), stream)


def listed(test: Compare) -> tuple[Any, ...]:
    """The list an `in` or `not_in` test compares with (the spec makes it one)."""
    if not isinstance(test.value, tuple):
        raise EvaluationError(f"`{test.field} {test.op}` compares with a list, not {test.value!r}")
    return test.value


_KEY_OPPOSITE = {
    "eq": "ne",
    "ne": "eq",
    "lt": "gte",
    "lte": "gt",
    "gt": "lte",
    "gte": "lt",
    "in": "not_in",
    "not_in": "in",
}
_KEY_SPELLING = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def _key_term(test: Compare, op: str, value: Any) -> dict[str, Any]:
    field = test.field
    if op == "eq":
        return {field: value}
    if op == "exists":
        return {"$ex" if value else "$nex": {field: 1}}
    if op == "in":
        return {"$or": [{field: item} for item in listed(test)]}
    if op == "not_in":
        return {"$and": [{"$neq": {field: item}} for item in listed(test)]}
    return {_KEY_SPELLING[op]: {field: value}}


def stream_key_form(node: Condition, negate: bool = False) -> dict[str, Any]:
    """A filter's condition as a stream's key hashes it (`not` pushed down to comparisons).

    Not a matcher's input: history rows are stored under stream keys, so this form is frozen.
    It is the text durable-rules was given up to COMPILER_VERSION 3, kept here so that the
    matcher's translation (`matching.durable`) can change without orphaning stored history.
    """
    if isinstance(node, Not):
        return stream_key_form(node.item, not negate)
    if isinstance(node, All | AnyOf):
        joins_all = isinstance(node, All) != negate
        items = [stream_key_form(item, negate) for item in node.items]
        return {"$and" if joins_all else "$or": items}
    if node.op == "matches":  # the feature is false when the field is absent, too
        return {feature_key(node): not negate}
    if not negate:
        return _key_term(node, node.op, node.value)
    if node.op == "exists":
        return _key_term(node, "exists", not node.value)
    opposite = _key_term(node, _KEY_OPPOSITE[node.op], node.value)
    return {"$or": [{"$nex": {node.field: 1}}, opposite]}


def _stream_key(filter_: Filter, distinct: str | None, by: str | None) -> str:
    """A stream's name: a hash of what it counts. History rows are stored under it."""
    form = stream_key_form(filter_.condition) if filter_.condition is not None else None
    text = _canonical([sorted(filter_.types), form, distinct, *([by] if by else [])])
    return "s_" + hashlib.sha256(text.encode()).hexdigest()[:12]


class _Builder:
    """Collects streams, windows and listeners while rules are compiled."""

    def __init__(self) -> None:
        self.streams: dict[str, Stream] = {}
        self.windows: dict[str, dict[str, Feature]] = {}
        self.listeners: dict[str, Listener] = {}

    def stream(
        self, filter_: Filter, distinct: str | None, span_us: int, by: str | None = None
    ) -> str:
        key = _stream_key(filter_, distinct, by)
        known = self.streams.get(key)
        if known is None:
            listener = _listener(f"stream:{key}", filter_, key)
            known = Stream(key, listener, distinct, span_us, by)
            self.listeners[listener.name] = listener
        self.streams[key] = attrs.evolve(known, span_us=max(known.span_us, span_us))
        return key

    def window(self, source: RuleSource, window: Window) -> WindowTest:
        own = source.filter(())
        if own is None:
            raise RuleLoadError([source.error((), "E-WINDOW", "a window needs the rule's `on`")])
        span = parse_duration(window.within)
        span_us = int(span.total_seconds()) * 1_000_000
        by = _BY_KIND[window.by] if window.by else None
        distinct = "account_id" if by else window.distinct
        stream = self.stream(own, distinct, span_us, by)
        what = f"distinct {window.distinct}" if window.distinct else "events"
        if window.by:
            what = f"live accounts sharing {window.by}"
        key = "w_" + hashlib.sha256(f"{stream}\x1f{span_us}".encode()).hexdigest()[:12]
        test = WindowTest(key, stream, window.count, span_us, f"{what} within {span_text(span)}")
        self.windows.setdefault(stream, {})[key] = Feature(key, span_us)
        return test

    def deadline(self, source: RuleSource, deadline: Deadline) -> DeadlineSpec:
        span = parse_duration(deadline.within)
        span_us = int(span.total_seconds()) * 1_000_000
        unless = tuple(
            self.stream(f, None, span_us)
            for f in source.filters
            if f.path[:2] == ("deadline", "unless")
        )
        after = source.filter(("deadline", "after"))
        listener = None
        if after is not None:
            listener = f"after:{source.spec.id}"
            self.listeners[listener] = _listener(listener, after)
        anchor = (
            f"decision of {', '.join(deadline.after.decision)}"
            if deadline.after.decision
            else "event"
        )
        return DeadlineSpec(
            span_us,
            tuple(deadline.after.decision or ()),
            listener,
            unless,
            f"{span_text(span)} after {anchor}",
        )


_BY_KIND = {"id_number": ID_NUMBER, "phone": PHONE, "device_id": DEVICE}
"""`window.by` names the registration field; streams are grouped by its fingerprint kind."""

DEADLINE = "deadline"
"""The `type` of the snapshot posted when a deadline passes (no event type has this name)."""


def _first(test: Compare, rest: Condition | None) -> Condition:
    return test if rest is None else All((test, rest), test.path)


def _compile_rule(build: _Builder, source: RuleSource) -> tuple[CompiledRule, Matchable]:
    """One rule, and its named test: its streams and listeners go to `build`."""
    spec, then = source.spec, source.spec.then
    window = build.window(source, spec.window) if spec.window else None
    deadline = build.deadline(source, spec.deadline) if spec.deadline else None
    condition = with_unless_listed(source.condition, spec.unless_listed)
    types = spec.event_types
    if deadline is not None:
        types, condition = (DEADLINE,), Compare(DEADLINE, "eq", spec.id, ("deadline",))
    full = condition
    prior = compile_prior(spec.prior) if spec.prior else None
    if prior is not None:  # the count is a snapshot key like a window's (engine.prior)
        full = _first(Compare(prior.key, "gte", prior.count, ("prior",)), full)
    if window is not None:
        # The count first: it is there only when the event fed the stream, so the guard
        # of the many events that did not is one dict lookup.
        full = _first(Compare(window.key, "gte", window.count, ("window",)), full)
    rule = CompiledRule(
        id=spec.id,
        version=spec.version,
        action=Action(then.action),
        mode=Mode(spec.mode),
        priority=spec.priority,
        reason=then.reason,
        event_types=types,
        condition=condition,
        guard=to_guard(full),
        duration=parse_duration(then.duration) if then.duration else None,
        until=then.until,
        listed_for=parse_duration(then.listed_for) if then.listed_for else None,
        source=source.file,
        text=source.text,
        window=window,
        deadline=deadline,
        prior=prior,
        unless_listed=tuple(spec.unless_listed or ()),
        dsa=spec.dsa.model_dump(mode="json"),
        content=rule_digest(spec),
    )
    return rule, Matchable(rule.id, types, full)


def _pattern_features(rules: list[RuleSource]) -> dict[str, tuple[tuple[str, str, Pattern], ...]]:
    """Per event type: (snapshot key, field, pattern) of every `matches` test on it."""
    features: dict[str, dict[str, tuple[str, str, Pattern]]] = {}
    for source in rules:
        for filter_ in source.filters:
            for test in comparisons(filter_.condition):
                if test.op == "matches":
                    key = feature_key(test)
                    for name in filter_.types:
                        features.setdefault(name, {})[key] = (
                            key,
                            test.field,
                            compile_pattern(str(test.value)),
                        )
    return {name: tuple(found.values()) for name, found in features.items()}


def in_micros(node: Condition | None) -> Condition | None:
    """The condition with durations (`account.age: {lt: 7d}`) as whole microseconds, as the
    snapshot carries them; checked rules compare durations with duration fields only."""
    if node is None:
        return None
    if isinstance(node, Not):
        return Not(in_micros(node.item) or node.item, node.path)
    if isinstance(node, All | AnyOf):
        items = tuple(in_micros(item) or item for item in node.items)
        return All(items, node.path) if isinstance(node, All) else AnyOf(items, node.path)
    if node.field in DURATION_FIELDS and isinstance(node.value, str):
        span = parse_duration(node.value)
        return attrs.evolve(node, value=int(span.total_seconds()) * 1_000_000)
    return node


def _with_micros(source: RuleSource) -> RuleSource:
    filters = tuple(attrs.evolve(f, condition=in_micros(f.condition)) for f in source.filters)
    return attrs.evolve(source, filters=filters)


def compile_rules(
    rules: list[RuleSource],
    notices: NoticePack | None = None,
    declared: DeclaredFields = NONE,
) -> CompiledRuleset:
    """Compile checked rules (and the pack's notice templates and declared fields, part of its
    digest); the caller has run `checks.check_rules` and `notice_templates.check_rule_notices`
    and found no error."""
    compiled = []
    matchables: list[Matchable] = []
    build = _Builder()
    digest = _digest(rules, notices, declared)
    rules = [_with_micros(source) for source in rules]
    for source in sorted(rules, key=lambda r: (r.spec.priority, r.spec.id)):
        rule, matchable = _compile_rule(build, source)
        compiled.append(rule)
        matchables.append(matchable)
    for listener in sorted(build.listeners.values(), key=lambda x: x.name):
        matchables.append(Matchable(listener.name, listener.types, listener.condition))
    by_type: dict[str, list[CompiledRule]] = {}
    for rule in compiled:
        for name in rule.event_types:
            by_type.setdefault(name, []).append(rule)
    listeners: dict[str, list[Listener]] = {}
    for listener in build.listeners.values():
        for name in listener.types:
            listeners.setdefault(name, []).append(listener)
    spans = [s.span_us for s in build.streams.values()]
    spans += [rule.deadline.span_us for rule in compiled if rule.deadline]
    return CompiledRuleset(
        digest=digest,
        rules=tuple(compiled),
        by_type={name: tuple(group) for name, group in by_type.items()},
        matchables=tuple(matchables),
        features=_pattern_features(rules),
        listeners={name: tuple(group) for name, group in listeners.items()},
        streams=dict(build.streams),
        windows={key: tuple(found.values()) for key, found in build.windows.items()},
        horizon_us=max(spans, default=0),
        notices=notices,
        declared=declared,
    )
