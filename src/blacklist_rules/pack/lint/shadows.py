"""Rules that can never decide. Of the rules that hold on an occasion the engine takes the
most severe that is above the account's status (`engine/decide.py`); a rule that only ever
holds beside a more severe one of its mode is listed among the matches but never decides.

What is proven, and so reported (anything else is left alone, never guessed):

- `W-SHADOWED`: rule A never decides when another rule B of the same mode, neither a
  deadline rule, listens to every event type A does, B's condition holds whenever A's does
  (`implies`), B's window, if any, is reached whenever A's is (same `distinct` and `by`, a
  count no higher, a span no shorter), and B comes first: a more severe action, or the same
  cancel or blacklist with a lower priority (then id). Two freezes never shadow each other:
  a frozen account takes a second freeze of another rule.
- `W-SHADOWED` between two deadline rules of the same mode: A never decides when B has the
  same deadline (`after`, `within`, `unless`), and so is started by the same anchors, due at
  the same moment and met by the same events, and B fires first: deadlines due together
  fire in order of rule id, so B's id comes before A's (with and without its punctuation:
  a PostgreSQL collation may pass over it), and B's action is at least A's
  (A then finds the account at B's status or above; two freezes excepted, as above).
- `W-NEVER-ABOVE`: a deadline rule that starts only from decisions of cancel or blacklist
  rules at least as severe as its own action: while the anchor stands (a reversed one voids
  the deadline) the account is at least that, and automation never lowers a status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from blacklist_rules.errors import RuleFileError
from blacklist_rules.model.decisions import Action
from blacklist_rules.pack.conditions import All, AnyOf, Compare, Condition
from blacklist_rules.pack.loader import RuleSource
from blacklist_rules.pack.spec import RuleSpec, parse_duration

SHADOWED = "W-SHADOWED"
NEVER_ABOVE = "W-NEVER-ABOVE"


def implies(a: Condition | None, b: Condition | None) -> bool:
    """Whenever `a` holds, `b` holds: True only when provable from the two trees (no
    condition is always true; equal trees, `all` taking parts, `any` giving one, and the
    comparisons of `_compare_implies`)."""
    if b is None:
        return True
    if a is None:
        return False
    if a == b:
        return True
    if isinstance(b, All):
        return all(implies(a, item) for item in b.items)
    if isinstance(a, AnyOf):
        return all(implies(item, b) for item in a.items)
    if isinstance(a, All) and any(implies(item, b) for item in a.items):
        return True
    if isinstance(b, AnyOf):
        return any(implies(a, item) for item in b.items)
    if isinstance(a, Compare) and isinstance(b, Compare):
        return _compare_implies(a, b)
    return False


def _values(test: Compare) -> frozenset[object]:
    return frozenset(test.value) if isinstance(test.value, tuple) else frozenset((test.value,))


_BOUNDS = {"eq": (0, 0), "gt": (1, None), "gte": (0, None), "lt": (None, -1), "lte": (None, 0)}
"""An order test on whole numbers as (low, high) offsets from its value (None: unbounded)."""


def _interval(test: Compare) -> tuple[float, float] | None:
    value = test.value
    if test.op not in _BOUNDS or not isinstance(value, int) or isinstance(value, bool):
        return None
    low, high = _BOUNDS[test.op]
    return (
        float("-inf") if low is None else value + low,
        float("inf") if high is None else value + high,
    )


def _compare_implies(a: Compare, b: Compare) -> bool:
    """`a` ⇒ `b` for two comparisons of one field: every test but `exists` is false on an
    absent field, so any of them implies `exists: true`; equal tests; a value in a list;
    a list in a larger one; a value outside a `not_in` list; number ranges inside others."""
    if a.field != b.field:
        return False
    if b.op == "exists":
        return b.value is True and (a.op != "exists" or a.value is True)
    if (a.op, b.op) in (("eq", "in"), ("in", "in")):
        return _values(a) <= _values(b)
    if (a.op, b.op) in (("not_in", "not_in"),):
        return _values(b) <= _values(a)
    if (a.op, b.op) in (("eq", "not_in"), ("eq", "ne"), ("in", "not_in"), ("in", "ne")):
        return not _values(a) & _values(b) and all(map(_same_kind(b), _values(a)))
    if a.op == b.op and _values(a) == _values(b):
        return True
    inner, outer = _interval(a), _interval(b)
    if inner is None or outer is None:
        return False
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _same_kind(b: Compare) -> Callable[[object], bool]:
    """Whether a value is of the kind of all of `b`'s (a bool is no number here: `True ==
    1`)."""
    kinds = {type(value) for value in _values(b)}
    return lambda value: kinds == {type(value)}


def _span(text: str) -> float:
    return parse_duration(text).total_seconds()


def _window_implied(a: RuleSpec, b: RuleSpec) -> bool:
    """B's window is reached whenever A's is (A's events are among B's: the caller knows)."""
    if b.window is None:
        return True
    if a.window is None:
        return False
    wa, wb = a.window, b.window
    return (
        (wa.distinct, wa.by) == (wb.distinct, wb.by)
        and wb.count <= wa.count
        and _span(wb.within) >= _span(wa.within)
    )


def _comes_first(a: RuleSpec, b: RuleSpec) -> bool:
    """Of A and B holding together, B decides: more severe, or as severe (not a freeze) and
    first by priority, then id."""
    action_a, action_b = Action(a.then.action), Action(b.then.action)
    if action_b.severity != action_a.severity:
        return action_b.severity > action_a.severity
    return action_a != Action.FREEZE and (b.priority, b.id) < (a.priority, a.id)


def shadowed_by(a: RuleSource, b: RuleSource) -> bool:
    """B holds, and decides instead, on every occasion where A holds."""
    sa, sb = a.spec, b.spec
    if a is b or sa.mode != sb.mode or sa.deadline is not None or sb.deadline is not None:
        return False
    if not set(sa.event_types) <= set(sb.event_types):
        return False
    return _comes_first(sa, sb) and _window_implied(sa, sb) and implies(a.condition, b.condition)


def deadline_shadowed_by(a: RuleSource, b: RuleSource) -> bool:
    """B's deadline fires whenever A's does, at the same moment and first, and leaves the
    account where A's action is not above it."""
    sa, sb = a.spec, b.spec
    if a is b or sa.mode != sb.mode or sa.deadline is None or sa.deadline != sb.deadline:
        return False
    action_a, action_b = Action(sa.then.action), Action(sb.then.action)
    if action_a == action_b == Action.FREEZE:
        return False
    return (
        action_b.severity >= action_a.severity
        and _fires_before(sb.id, sa.id)
        and implies(a.condition, b.condition)
    )


def _fires_before(b: str, a: str) -> bool:
    """Deadlines due together fire by rule id in the store's order: a SQLite db sorts ids by
    code point, a PostgreSQL one by its collation, which may pass over punctuation first; so
    only ids that sort the same both ways count."""
    bare = [re.sub(r"[^0-9a-z]", "", rule_id.lower()) for rule_id in (b, a)]
    return b < a and bare[0] < bare[1]


def shadow_findings(rules: list[RuleSource]) -> Iterator[RuleFileError]:
    """`W-SHADOWED` for each rule another always overrules, naming the first such rule."""
    for rule in rules:
        over = next((other for other in rules if shadowed_by(rule, other)), None)
        spec = rule.spec
        if over is not None:
            by = over.spec
            yield rule.error(
                ("then", "action"),
                SHADOWED,
                f"rule `{spec.id}` ({spec.then.action}) can never decide: `{by.id}` "
                f"({by.then.action}) holds on every event where it holds, and comes first",
                f"narrow `{by.id}` or remove `{spec.id}`; it only ever shows among the matches",
            )
            continue
        over = next((other for other in rules if deadline_shadowed_by(rule, other)), None)
        if over is not None:
            by = over.spec
            yield rule.error(
                ("then", "action"),
                SHADOWED,
                f"rule `{spec.id}` ({spec.then.action}) can never decide: `{by.id}` "
                f"({by.then.action}) has the same deadline and fires first (by id)",
                f"give one of them another deadline, or remove `{spec.id}`",
            )


def never_above_findings(rules: list[RuleSource]) -> Iterator[RuleFileError]:
    """`W-NEVER-ABOVE` for a deadline rule whose anchors leave it nothing to raise."""
    by_id = {rule.spec.id: rule.spec for rule in rules}
    for rule in rules:
        deadline, action = rule.spec.deadline, Action(rule.spec.then.action)
        if deadline is None or not deadline.after.decision:
            continue
        anchors = [by_id.get(name) for name in deadline.after.decision]
        if any(
            anchor is None
            or Action(anchor.then.action) == Action.FREEZE
            or Action(anchor.then.action).severity < action.severity
            for anchor in anchors
        ):
            continue
        names = ", ".join(f"`{name}`" for name in deadline.after.decision)
        least = min((Action(a.then.action) for a in anchors if a), key=lambda x: x.severity)
        yield rule.error(
            ("then", "action"),
            NEVER_ABOVE,
            f"rule `{rule.spec.id}` ({action}) can never decide: it fires only while a "
            f"decision of {names} stands, when the account is already {least.status}",
            "automation never lowers a status: anchor it on a milder rule, or take a more "
            "severe action",
        )
