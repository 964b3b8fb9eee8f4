"""Escalation over past decisions (`prior:`): the compiled test a rule's snapshot count is
checked against, and the load-time checks of the rules it names."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

import attrs

from blacklist_rules.errors import RuleFileError
from blacklist_rules.model.decisions import Action

from .conditions import suggest
from .loader import RuleSource
from .spec import Prior, parse_duration, span_text


@attrs.frozen
class PriorTest:
    """`count` or more of the account's enforced decisions of `action` (of `rules` only, if
    any), not reversed, effective in the `span_us` ending at the event (`prior:`)."""

    key: str
    """Snapshot key of the count: the same for rules that ask the same."""
    action: Action
    count: int
    span_us: int
    rules: tuple[str, ...]
    label: str


PRIOR_LABEL = re.compile(r"^(freeze|cancel|blacklist) decisions(?: of [a-z0-9_., -]+)? within \S+$")
"""A `prior:` test's trace label (`freeze decisions of R within 365d`), as `compile_prior`
writes it: how a decision's conditions are told apart from an event field's."""


def compile_prior(prior: Prior) -> PriorTest:
    """The compiled `prior:` test; its count's key names what it counts."""
    span = parse_duration(prior.within)
    span_us = int(span.total_seconds()) * 1_000_000
    rules = tuple(sorted(prior.rules or ()))
    text = json.dumps([prior.action, span_us, list(rules)])
    key = "p_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    of = f" of {', '.join(rules)}" if rules else ""
    label = f"{prior.action} decisions{of} within {span_text(span)}"
    return PriorTest(key, Action(prior.action), prior.count, span_us, rules, label)


def check_prior(rules: list[RuleSource]) -> Iterator[RuleFileError]:
    """`prior:` is for rules on events (not deadlines), and its `rules:` names other enforced
    rules of the pack that can take its action. Rules may name each other in a cycle: each
    counts only decisions stored before its event is decided, so no evaluation waits on
    another and a cycle ends."""
    by_id = {rule.spec.id: rule for rule in rules}
    for rule in rules:
        prior = rule.spec.prior
        if prior is None:
            continue
        if rule.spec.deadline is not None:
            yield rule.error(
                ("prior",),
                "E-PRIOR",
                "a deadline rule cannot use `prior`",
                "test the earlier decisions in a rule on the account's events",
            )
        many = len(prior.rules or ()) > 1
        for index, name in enumerate(prior.rules or ()):
            at = ("prior", "rules", *((index,) if many else ()))
            named = by_id.get(name)
            if name == rule.spec.id:
                yield rule.error(at, "E-PRIOR", "a rule cannot count its own decisions")
            elif named is None:
                others = [other for other in by_id if other != rule.spec.id]
                yield rule.error(
                    at, "E-PRIOR", f"no rule `{name}` in the pack", suggest(name, others)
                )
            elif named.spec.mode == "shadow":
                yield rule.error(
                    at,
                    "E-PRIOR",
                    f"`{name}` is a shadow rule: its decisions never take effect, so none counts",
                )
            elif named.spec.then.action != prior.action:
                yield rule.error(
                    at,
                    "E-PRIOR",
                    f"`{name}` takes `{named.spec.then.action}`, never `{prior.action}`",
                    f"write `action: {named.spec.then.action}` or name a rule that takes "
                    f"`{prior.action}`",
                )
