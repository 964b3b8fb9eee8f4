"""Semantic checks of loaded rules: one function per invariant, every error collected.

The spec says a file is well-formed; these say it makes sense: event types exist, conditions
name fields those event types have, values fit the field, regular expressions are RE2 syntax
(matched in linear time, see `patterns`), and rule ids are unique.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from blacklist_rules.errors import RuleFileError
from blacklist_rules.model.events import (
    ACCOUNT_FACTS,
    DURATION_FIELDS,
    EVENT_TYPES,
    FIELDS,
    FieldKind,
)
from blacklist_rules.model.patterns import MAX_PATTERN, PatternError, compile_pattern
from blacklist_rules.model.transparency import (
    CATEGORIES,
    CONTENT_TYPES,
    KEYWORD_OTHER,
    KEYWORDS,
    SOURCE_TYPES,
    closest,
)

from .conditions import Compare, Path, comparisons, suggest
from .lists import check_unless_listed
from .loader import RuleSource
from .prior import check_prior
from .spec import Filter, parse_duration

_OPS_BY_KIND = {
    "str": {"eq", "ne", "in", "not_in", "matches", "exists"},
    "enum": {"eq", "ne", "in", "not_in", "exists"},
    "bool": {"eq", "ne", "exists"},
    "int": {"eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists"},
    "duration": {"lt", "lte", "gt", "gte", "exists"},
}


def check_event_types(rule: RuleSource) -> Iterator[RuleFileError]:
    for filter_ in rule.filters:
        seen: set[str] = set()
        for index, name in enumerate(filter_.types):
            at = (*filter_.path, "on", index) if len(filter_.types) > 1 else (*filter_.path, "on")
            if name not in EVENT_TYPES:
                yield rule.error(
                    at, "E-EVENT-TYPE", f"unknown event type `{name}`", suggest(name, EVENT_TYPES)
                )
            elif name in seen:
                yield rule.error(at, "E-EVENT-TYPE", f"event type `{name}` is listed twice")
            seen.add(name)


def check_shape(rule: RuleSource) -> Iterator[RuleFileError]:
    """A rule listens to events (`on`) or waits for a deadline, never both."""
    spec = rule.spec
    if spec.deadline is None:
        if spec.on is None:
            yield rule.error(  # at `on: ~` if that is how it is missing, else the file's top
                ("on",), "E-MISSING", "missing required key `on`", "or write a `deadline` rule"
            )
        return
    for key in ("on", "when", "window"):
        if getattr(spec, key) is not None:
            yield rule.error(
                (key,),
                "E-DEADLINE",
                f"a deadline rule takes no `{key}`",
                "its events are named in `deadline.after` and `deadline.unless`",
            )
    after = spec.deadline.after
    if (after.decision is None) == (after.on is None):
        yield rule.error(
            ("deadline", "after"),
            "E-DEADLINE",
            "`after` names either `decision` (rule ids) or `on` (events), exactly one",
        )
    elif after.when is not None and after.on is None:
        yield rule.error(("deadline", "after", "when"), "E-DEADLINE", "`when` needs `on`")


Catalog = Mapping[str, Mapping[str, FieldKind]]
"""Per event type, the fields conditions may name: built-in, derived and the pack's declared."""


def _field_kind(
    rule: RuleSource, types: tuple[str, ...], field: str, at: Path, fields: Catalog
) -> Iterator[RuleFileError]:
    known = [name for name in types if name in fields]
    lacking = [name for name in known if field not in fields[name]]
    if lacking:
        names = sorted({f for name in lacking for f in fields[name]})
        yield rule.error(
            at,
            "E-FIELD",
            f"`{lacking[0]}` events have no field `{field}`",
            _field_hint(field, names),
        )


def check_window(rule: RuleSource, fields: Catalog = FIELDS) -> Iterator[RuleFileError]:
    window = rule.spec.window
    if window is None:
        return
    if window.by is not None:
        if tuple(rule.spec.event_types) != ("registration",):
            yield rule.error(
                ("window", "by"),
                "E-WINDOW",
                "a window `by` an identity value counts registrations: `on` must be "
                "`registration` alone",
            )
        if window.distinct not in (None, "account_id"):
            yield rule.error(
                ("window", "distinct"),
                "E-WINDOW",
                "a window `by` an identity value counts distinct accounts: leave `distinct` out",
            )
    elif window.distinct is not None:
        at: Path = ("window", "distinct")
        yield from _field_kind(rule, rule.spec.event_types, window.distinct, at, fields)


def check_deadline_anchors(rules: list[RuleSource]) -> Iterator[RuleFileError]:
    """`after: {decision: …}` names enforced rules of the pack, and deadlines form no cycle."""
    by_id = {rule.spec.id: rule for rule in rules}
    anchors: dict[str, list[str]] = {}
    for rule in rules:
        deadline = rule.spec.deadline
        if deadline is None or deadline.after.decision is None:
            continue
        many = len(deadline.after.decision) > 1
        for index, name in enumerate(deadline.after.decision):
            at: Path = ("deadline", "after", "decision", *((index,) if many else ()))
            named = by_id.get(name)
            if named is None:
                yield rule.error(
                    at, "E-DEADLINE", f"no rule `{name}` in the pack", suggest(name, by_id)
                )
            elif named.spec.mode == "shadow":
                yield rule.error(
                    at,
                    "E-DEADLINE",
                    f"`{name}` is a shadow rule: its decisions never take effect, so they "
                    "start no deadline",
                )
            else:
                anchors.setdefault(rule.spec.id, []).append(name)
    for start in sorted(anchors):
        # Follow anchors from each deadline rule; reaching it again is a cycle.
        seen, todo = set(), list(anchors[start])
        while todo:
            name = todo.pop()
            if name == start:
                yield by_id[start].error(
                    ("deadline", "after"),
                    "E-DEADLINE",
                    f"deadlines form a cycle through `{start}`: each decision would start the next",
                )
                break
            if name not in seen:
                seen.add(name)
                todo.extend(anchors.get(name, ()))


def _field_hint(name: str, known: list[str]) -> str | None:
    """Did-you-mean, also for a nested field named by its last part (`status`)."""
    last = name.rsplit(".", 1)[-1]
    if last != name and last in known:  # `verification.status` where it is `status`
        return f"did you mean `{last}`?"
    nested = [field for field in known if field.endswith("." + name)]
    nested.sort(key=lambda field: field in ACCOUNT_FACTS)  # the event's own fields first
    return f"did you mean `{nested[0]}`?" if nested else suggest(name, known)


def _value_hint(value: str, choices: tuple[str, ...]) -> str | None:
    """Did-you-mean for an enum value: the same in another case first (`cn`: `CN`)."""
    same = next((choice for choice in choices if choice.lower() == value.lower()), None)
    return f"did you mean `{same}`?" if same else suggest(value, choices)


def _check_value(test: Compare, kind: FieldKind) -> str | None:
    values = test.value if isinstance(test.value, tuple) else (test.value,)
    if test.op == "exists":
        return None
    if kind.kind == "duration":
        return _check_duration(test)
    for value in values:
        if isinstance(value, str) and _looks_like_duration(value) and kind.kind == "int":
            return (
                f"`{test.field}` is a whole number, not a duration: durations compare with "
                f"duration fields only ({', '.join(DURATION_FIELDS)})"
            )
        if kind.kind == "bool" and not isinstance(value, bool):
            return f"`{test.field}` is true or false, not {value!r}"
        if kind.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            return f"`{test.field}` is a whole number, not {value!r}"
        if kind.kind in ("str", "enum") and not isinstance(value, str):
            return f"`{test.field}` is text, not {value!r}: quote it"
    return None


def _looks_like_duration(value: str) -> bool:
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def _check_duration(test: Compare) -> str | None:
    """A duration field compares with a duration (`7d`), never a number."""
    if not isinstance(test.value, str):
        return f"`{test.field}` is a duration: compare it with one such as `7d`, not {test.value!r}"
    try:
        parse_duration(test.value)
    except ValueError as exc:
        return f"`{test.field}`: {exc}"
    return None


def check_conditions(rule: RuleSource, fields: Catalog = FIELDS) -> Iterator[RuleFileError]:
    for filter_ in rule.filters:
        yield from _check_filter(rule, filter_, fields)


def _check_filter(rule: RuleSource, filter_: Filter, fields: Catalog) -> Iterator[RuleFileError]:
    types = [name for name in filter_.types if name in fields]
    for test in comparisons(filter_.condition):
        kinds = [fields[name].get(test.field) for name in types]
        if not types:
            continue
        if None in kinds:
            lacking = [name for name, kind in zip(types, kinds, strict=True) if kind is None]
            known = sorted({f for name in lacking for f in fields[name]})
            yield rule.error(
                test.path,
                "E-FIELD",
                f"`{lacking[0]}` events have no field `{test.field}`",
                _field_hint(test.field, known),
            )
            continue
        kind = next(k for k in kinds if k is not None)  # (every one is: see above)
        if test.op not in _OPS_BY_KIND[kind.kind]:
            yield rule.error(
                test.path,
                "E-OP-KIND",
                f"`{test.op}` does not apply to `{test.field}` ({kind.kind})",
                f"use one of: {', '.join(sorted(_OPS_BY_KIND[kind.kind]))}",
            )
            continue
        problem = _check_value(test, kind)
        if problem:
            yield rule.error(test.path, "E-VALUE-TYPE", problem)
            continue
        if kind.kind == "enum" and test.op != "exists":
            values = test.value if isinstance(test.value, tuple) else (test.value,)
            for value in values:
                if value not in kind.choices:
                    yield rule.error(
                        test.path,
                        "E-VALUE",
                        f"`{test.field}` is never {value!r}; it is one of "
                        + (
                            ", ".join(kind.choices)
                            if len(kind.choices) <= 12
                            else f"{len(kind.choices)} values ({', '.join(kind.choices[:3])}, …)"
                        ),
                        _value_hint(str(value), kind.choices),
                    )
        if test.op == "matches":
            yield from _check_regex(rule, test)


def _check_regex(rule: RuleSource, test: Compare) -> Iterator[RuleFileError]:
    pattern = str(test.value)
    if len(pattern) > MAX_PATTERN:
        yield rule.error(test.path, "E-REGEX", f"pattern is longer than {MAX_PATTERN} characters")
        return
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        yield rule.error(
            test.path,
            "E-REGEX",
            f"invalid pattern {pattern!r}: {exc}",
            exc.hint,
        )


def check_then(rule: RuleSource) -> Iterator[RuleFileError]:
    then = rule.spec.then
    for key, action in (("duration", "freeze"), ("until", "freeze"), ("listed_for", "blacklist")):
        if then.action != action and getattr(then, key) is not None:
            yield rule.error(
                ("then", key), "E-THEN", f"`{key}` applies to {action} only, not {then.action}"
            )


def _meant(value: str, known: tuple[str, ...]) -> str | None:
    near = closest(value, known)
    return f"did you mean `{near}`?" if near else None


def check_dsa(rule: RuleSource) -> Iterator[RuleFileError]:
    """The `dsa` block names Transparency Database values, and its keys fit together."""
    dsa = rule.spec.dsa
    if dsa.category not in CATEGORIES:
        yield rule.error(
            ("dsa", "category"),
            "E-DSA",
            f"unknown DSA category `{dsa.category}`",
            _meant(dsa.category, CATEGORIES),
        )
    for key, what, values, known in (
        ("keywords", "keyword", dsa.keywords, KEYWORDS),
        ("content_type", "content type", dsa.content_type, CONTENT_TYPES),
    ):
        for index, value in enumerate(values):
            at: Path = ("dsa", key, index)
            if value not in known:
                yield rule.error(at, "E-DSA", f"unknown DSA {what} `{value}`", _meant(value, known))
            elif value in values[:index]:
                yield rule.error(at, "E-DSA", f"`{value}` is listed twice")
    if dsa.source not in SOURCE_TYPES:
        yield rule.error(
            ("dsa", "source"),
            "E-DSA",
            f"unknown DSA source type `{dsa.source}`",
            _meant(dsa.source, SOURCE_TYPES),
        )
    if (KEYWORD_OTHER in dsa.keywords) != (dsa.keyword_other is not None):
        yield rule.error(
            ("dsa", "keyword_other" if dsa.keyword_other is not None else "keywords"),
            "E-DSA",
            "`keyword_other` goes with the keyword `KEYWORD_OTHER`, and only with it",
        )
    if dsa.also_illegal and dsa.ground == "illegal":
        yield rule.error(
            ("dsa", "also_illegal"),
            "E-DSA",
            "`also_illegal` applies to `ground: incompatible` only",
        )


def check_unique_ids(rules: list[RuleSource]) -> Iterator[RuleFileError]:
    first: dict[str, RuleSource] = {}
    for rule in rules:
        earlier = first.setdefault(rule.spec.id, rule)
        if earlier is not rule:
            yield rule.error(
                ("id",),
                "E-DUP-ID",
                f"rule id `{rule.spec.id}` is already used",
                f"first used in {earlier.file}:{earlier.line_of(('id',))}",
            )


def check_account_facts(rule: RuleSource) -> Iterator[RuleFileError]:
    """Account facts (`account.status`, `account.age`) are read when an event is matched:
    not in what feeds a window or a deadline, which stored events are matched again for."""
    for filter_ in rule.filters:
        if filter_.path == () and rule.spec.window is None:
            continue
        for test in comparisons(filter_.condition):
            if test.field in ACCOUNT_FACTS:
                yield rule.error(
                    test.path,
                    "E-FIELD",
                    f"`{test.field}` is not offered in a window's or a deadline's filters",
                    "test it in a rule without `window` or `deadline`",
                )


PER_RULE = (
    check_shape,
    check_unless_listed,
    check_account_facts,
    check_event_types,
    check_then,
    check_dsa,
)
WITH_FIELDS = (check_conditions, check_window)
"""Checks that read the field catalog (the pack's declared fields too)."""


def check_rules(rules: list[RuleSource], fields: Catalog = FIELDS) -> list[RuleFileError]:
    """Every semantic error in a rule pack, sorted by file and line; `fields` is the pack's
    catalog (`DeclaredFields.catalog`: built-in and declared fields)."""
    errors = [error for rule in rules for check in PER_RULE for error in check(rule)]
    errors += [error for rule in rules for check in WITH_FIELDS for error in check(rule, fields)]
    errors.extend(check_unique_ids(rules))
    errors.extend(check_deadline_anchors(rules))
    errors.extend(check_prior(rules))
    return sorted(errors)
