"""The one adapter to durable-rules: its dialect, and a stateless matcher over snapshot facts.

Only this module imports durable-rules or writes its dialect: a compiled plan's named tests
(`CompiledRuleset.matchables`) are translated here into ruleset documents
(`{ruleset: {name: {"all": [{"m": ...}], "pri": n, "run": name}}}`), with a catch-all last.

Pitfalls handled here, each measured on durable-rules 2.0.28 (DESIGN §5):
- one `Host` per process, used from the thread that created it (concurrent `post` segfaults);
- ruleset names are unique per host and cannot be replaced: a pack is registered once under a
  name derived from its digest, and reused;
- no match raises `MessageNotHandledException`: every pack has a catch-all guarded by a field
  only snapshots have, so it never matches engine state;
- an exception in an action is swallowed into the returned state: actions only append a name,
  and the result is checked, failing closed;
- per-sid state is capped (1,024 sids) and heavy: every evaluation uses one sid, and its fact is
  retracted at once, so nothing accumulates;
- it has no `not`, and expands `or` into alternatives: `not` is pushed down to the comparisons,
  and a condition expanding into too many alternatives is refused at load;
- no `post_batch`, timers, correlation rules or persistence callbacks.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from durable import engine as _engine

from blacklist_rules.errors import EvaluationError
from blacklist_rules.pack.compiler import CompiledRuleset, Matchable, feature_key, listed
from blacklist_rules.pack.conditions import All, AnyOf, Compare, Condition, Not

_SID = "0"
CATCH_ALL = "__catch_all__"
PROBE = "eval_id"
"""A field only our snapshots carry: guards the catch-all so it never matches engine state."""
_CATCH_ALL_PRIORITY = 1_000_000

# --- the dialect: a plan translated -----------------------------------------------------------
_NEGATED_OP = {
    "eq": "ne",
    "ne": "eq",
    "lt": "gte",
    "lte": "gt",
    "gt": "lte",
    "gte": "lt",
    "in": "not_in",
    "not_in": "in",
}
_DURABLE_OP = {
    "ne": "$neq",
    "lt": "$lt",
    "lte": "$lte",
    "gt": "$gt",
    "gte": "$gte",
}


def _compare_durable(test: Compare, op: str) -> dict[str, Any]:
    field, value = test.field, test.value
    if op == "matches":
        return {feature_key(test): True}
    if op == "eq":
        return {field: value}
    if op == "exists":
        return {"$ex" if value else "$nex": {field: 1}}
    if op == "in":
        return {"$or": [{field: item} for item in listed(test)]}
    if op == "not_in":
        return {"$and": [{"$neq": {field: item}} for item in listed(test)]}
    return {_DURABLE_OP[op]: {field: value}}


def to_durable(node: Condition, negate: bool = False) -> dict[str, Any]:
    """A durable-rules expression; `not` is pushed down to the comparisons (it has no `$not`).

    Every comparison but `exists` is false on an absent field, in durable-rules and in the
    guards (`compiler.to_guard`), so the negation of one is "absent, or the opposite comparison".
    """
    if isinstance(node, Not):
        return to_durable(node.item, not negate)
    if isinstance(node, All | AnyOf):
        joins_all = isinstance(node, All) != negate
        return {"$and" if joins_all else "$or": [to_durable(item, negate) for item in node.items]}
    if not negate:
        return _compare_durable(node, node.op)
    if node.op == "exists":
        return _compare_durable(attrs.evolve(node, value=not node.value), "exists")
    if node.op == "matches":  # the feature is false when the field is absent, too
        return {feature_key(node): False}
    opposite = _compare_durable(node, _NEGATED_OP[node.op])
    return {"$or": [{"$nex": {node.field: 1}}, opposite]}


MAX_ALTERNATIVES = 64
"""durable-rules expands `$or` into alternatives; past this many, building slows sharply."""


def alternatives(expression: dict[str, Any]) -> int:
    """How many alternatives durable-rules expands an expression into (its DNF size)."""
    if "$and" in expression:
        return math.prod(alternatives(item) for item in expression["$and"])
    if "$or" in expression:
        return sum(alternatives(item) for item in expression["$or"])
    return 1


Rule = dict[str, Any]
"""One rule of a ruleset document, as `register_rulesets` takes it."""


def _rule(test: Matchable, pri: int) -> Rule:
    """One named test as a durable-rules rule: a snapshot (never engine state) of one of its
    types, for which its condition holds."""
    types = [{"type": name} for name in test.types]
    terms: list[dict[str, Any]] = [{"$ex": {PROBE: 1}}, {"$or": types}]
    if test.condition is not None:
        terms.append(to_durable(test.condition))
    return {"all": [{"m": {"$and": terms}}], "pri": pri, "run": test.name}


def translate(plan: CompiledRuleset) -> dict[str, Rule]:
    """The plan as one durable-rules ruleset: its tests in priority order, then the catch-all
    that turns "no match" into an empty list instead of an exception."""
    definition = {test.name: _rule(test, pri) for pri, test in enumerate(plan.matchables)}
    probe = {"$ex": {PROBE: 1}}
    definition[CATCH_ALL] = {"all": [{"m": probe}], "pri": _CATCH_ALL_PRIORITY, "run": CATCH_ALL}
    return definition


def build_problems(plan: CompiledRuleset, names: Iterable[str]) -> dict[str, str]:
    """Why durable-rules cannot build some of the plan's tests `names` (or not in time), by
    name; the tests it can build are not in it."""
    wanted = set(names)
    problems = {}
    for pri, test in enumerate(plan.matchables):
        if test.name in wanted:
            rule = _rule(test, pri)
            count = alternatives(rule["all"][0]["m"])
            if count > MAX_ALTERNATIVES:
                problem: str | None = (
                    f"the condition expands to {count} alternatives (at most {MAX_ALTERNATIVES})"
                )
            else:
                problem = rule_problem(rule)
            if problem is not None:
                problems[test.name] = problem
    return problems


class _Host(_engine.Host):  # type: ignore[misc]
    """Actions are names appended to the list of the evaluation under way."""

    def __init__(self) -> None:
        self.fired: list[str] = []
        super().__init__()

    def _run(self) -> None:
        """Start no background threads. The stock host re-arms two `threading.Timer`s per
        registered ruleset every 0.2 s (a new thread each) to dispatch queued actions and its
        wall-clock timers, neither of which we use (DESIGN §5); those threads call into the
        non-thread-safe C engine beside the thread that posts, and cost CPU that grows with
        the number of rulesets registered in the process."""

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        fired = self.fired

        def action(_context: Any) -> None:
            fired.append(action_name)

        return action


_host: _Host | None = None
_owner: int | None = None
_owner_thread: threading.Thread | None = None
_registered: set[str] = set()
_counter = itertools.count(1)


def host_thread() -> threading.Thread | None:
    """The thread durable-rules' one host of the process belongs to (the first that used it),
    or None before any use."""
    return _owner_thread


def _get_host() -> _Host:
    global _host, _owner, _owner_thread
    if _host is None:
        _host, _owner = _Host(), threading.get_ident()
        _owner_thread = threading.current_thread()
    if threading.get_ident() != _owner:
        raise EvaluationError(
            "durable-rules is not thread-safe: use the engine from the thread that created it, "
            "or one process per partition of accounts"
        )
    return _host


_ERROR_CODES = {
    "113": "the condition is too complex for durable-rules (expression limit)",
}
_problems: dict[str, str | None] = {}


def rule_problem(rule: Mapping[str, Any]) -> str | None:
    """Why durable-rules refuses one compiled rule, or None. Some rules our checks accept fail
    only when durable-rules builds them, with an opaque code: find out at load, not at run."""
    text = json.dumps(rule, sort_keys=True)
    if text not in _problems:
        name = "probe_" + hashlib.sha256(text.encode()).hexdigest()[:16]
        try:
            _get_host().register_rulesets({name: {"p": copy.deepcopy(dict(rule))}})
            _problems[text] = None
        except EvaluationError:
            raise
        except Exception as exc:
            code = str(exc).rsplit(" ", 1)[-1]
            _problems[text] = _ERROR_CODES.get(code, str(exc))
    return _problems[text]


class DurableMatcher:
    """Matches snapshots against one registered ruleset; returns every rule that fired (a
    `protocol.Matcher`)."""

    @classmethod
    def for_plan(cls, plan: CompiledRuleset, name: str | None = None) -> DurableMatcher:
        """The matcher of a compiled plan, registered under the plan's name (or `name`) once
        per process: translated only the first time."""
        name = name or plan.name
        return cls(name, {} if name in _registered else translate(plan))

    def __init__(self, name: str, definition: Mapping[str, Any]) -> None:
        """`definition` is a durable-rules ruleset document; it is ignored when `name` is
        registered already (a registered ruleset cannot be replaced)."""
        host = _get_host()
        if name not in _registered:
            try:
                # register_rulesets mutates what it is given.
                host.register_rulesets({name: copy.deepcopy(dict(definition))})
            except Exception as exc:
                raise EvaluationError(f"durable-rules refused ruleset {name}: {exc}") from exc
            _registered.add(name)
        self.name = name
        self._closed = False

    def close(self) -> None:
        """Refuse further snapshots. The ruleset stays registered (durable-rules cannot delete
        one safely) and is reused by the next matcher of the same plan."""
        self._closed = True

    def match(self, snapshot: Mapping[str, Any]) -> list[str]:
        """Rule names whose condition holds, in priority order; raises `EvaluationError`."""
        if self._closed:
            raise EvaluationError(f"the matcher of {self.name} is closed")
        host = _get_host()
        fact = {**snapshot, "sid": _SID, "eval_id": next(_counter)}
        host.fired.clear()
        try:
            state = host.assert_fact(self.name, fact)
            host.retract_fact(self.name, fact)
        except Exception as exc:
            raise EvaluationError(f"durable-rules failed on {self.name}: {exc}") from exc
        if isinstance(state, Mapping) and "exception" in state:
            raise EvaluationError(f"a rule action failed: {state['exception']}")
        fired = list(host.fired)
        if CATCH_ALL not in fired:
            raise EvaluationError("durable-rules did not evaluate the snapshot (no catch-all)")
        # durable-rules expands `$or` into alternatives, each of which can fire: once is enough.
        return [name for name in dict.fromkeys(fired) if name != CATCH_ALL]

    def post(self, message: Mapping[str, Any]) -> str | None:
        """Raw `post()` of one event: the baseline the benchmark measures against."""
        host = _get_host()
        host.fired.clear()
        host.post(self.name, {**message, "sid": _SID, "eval_id": next(_counter)})
        return host.fired[0] if host.fired else None
