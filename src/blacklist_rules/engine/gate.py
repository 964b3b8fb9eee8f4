"""The gate of each event type: can any of its rules or listeners hold on the event's own
fields, whatever the facts the engine reads after them?

Built once per pack from its named tests (`CompiledRuleset.matchables`): in each, a
comparison of a fact read after the event's fields (account facts, lists, the blacklist,
window and `prior:` counts) is taken as unknown, replaced by what makes the test weakest
(true, or false under a `not`). The gate of a type, the `any` of its tests so weakened, is
then implied by every rule and listener of the type: where it fails on the event's fields,
no fact read can make one hold, and `match` reads none, feeds no stream and asks
durable-rules nothing (issue 19: most events of the default mix are rumour flags no rule
or stream wants). A type with a test that holds whatever its fields has no gate.

A gate that reads only top-level fields of the event's model (and the pack declares none for
the type) is tested before the event is flattened, on those fields read as `flatten` reads
them (a field is there when its value is not None): the flat snapshot is then built only for
the events that pass.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from blacklist_rules.model.events import (
    ACCOUNT_FACTS,
    BLACKLISTED_IDENTITY,
    EVENT_MODELS,
    FIELDS,
    Event,
)
from blacklist_rules.pack.compiler import CompiledRuleset, Guard, to_guard
from blacklist_rules.pack.conditions import All, AnyOf, Compare, Condition, Not, comparisons
from blacklist_rules.pack.lists import LISTED


@attrs.frozen
class Gate:
    """What every rule and listener of an event type implies (see the module)."""

    test: Guard
    fields: tuple[str, ...] | None
    """The top-level model fields it reads, when it reads no other (tested before the event
    is flattened); None: it is tested on the flat snapshot."""

    def shut_before(self, event: Event) -> bool:
        """Does it fail on the event's own fields (a gate of top-level fields only)?"""
        if self.fields is None:
            return False
        values = event.__dict__
        return not self.test(own_fields(values, self.fields))

    def shut_after(self, snapshot: Mapping[str, Any]) -> bool:
        """Does it fail on the flat snapshot (a gate that reads other fields)?"""
        return self.fields is None and not self.test(snapshot)


def own_fields(values: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The fields of `flatten`'s snapshot among `fields`, top-level model fields: those whose
    value is not None."""
    return {name: value for name in fields if (value := values[name]) is not None}


def facts_read_later(ruleset: CompiledRuleset) -> frozenset[str]:
    """The snapshot keys `match` adds after the event's fields (and pattern results)."""
    windows = (feature.key for found in ruleset.windows.values() for feature in found)
    priors = (rule.prior.key for rule in ruleset.rules if rule.prior is not None)
    return frozenset({*ACCOUNT_FACTS, BLACKLISTED_IDENTITY, *windows, *priors})


def weakened(node: Condition, unknown: Collection[str], positive: bool = True) -> Condition | bool:
    """The condition with each comparison of an `unknown` key (or a list's) made true where
    that weakens it (`positive`) and false where it sits under a `not`: implied by `node`
    whatever those keys hold. True or False when nothing known is left to test."""
    if isinstance(node, Compare):
        if node.field in unknown or node.field.startswith(LISTED):
            return positive
        return node
    if isinstance(node, Not):
        inner = weakened(node.item, unknown, not positive)
        return (not inner) if isinstance(inner, bool) else Not(inner, node.path)
    items = [weakened(item, unknown, positive) for item in node.items]
    joins_all = isinstance(node, All)
    if any(item is (not joins_all) for item in items):
        return not joins_all  # a false item in an `all`, a true one in an `any`
    kept = tuple(item for item in items if not isinstance(item, bool))
    if not kept:
        return joins_all
    if len(kept) == 1:
        return kept[0]
    return All(kept, node.path) if joins_all else AnyOf(kept, node.path)


def gates(ruleset: CompiledRuleset) -> Mapping[str, Gate]:
    """Per event type with a gate: the `any` of its tests weakened (see the module)."""
    unknown = facts_read_later(ruleset)
    tests: dict[str, dict[Condition, None] | None] = {}
    for test in ruleset.matchables:
        node = True if test.condition is None else weakened(test.condition, unknown)
        for name in test.types:
            found = tests.setdefault(name, {})
            if found is None or node is False:
                continue
            if node is True:
                tests[name] = None  # holds on any fields: no gate
            else:
                found[node] = None
    return {
        name: _gate(ruleset, name, AnyOf(tuple(found), ()))
        for name, found in tests.items()
        if found is not None
    }


def _gate(ruleset: CompiledRuleset, event_type: str, node: AnyOf) -> Gate:
    if not node.items:
        return Gate(_never, ())
    read = tuple(dict.fromkeys(test.field for test in comparisons(node)))
    model = EVENT_MODELS.get(event_type)
    own = (
        model is not None
        and not ruleset.declared.by_type.get(event_type)
        and all("." not in name and name in model.model_fields for name in read)
        and set(read) <= set(FIELDS[event_type])
    )
    return Gate(to_guard(node), read if own else None)


def _never(_snapshot: object) -> bool:
    return False
