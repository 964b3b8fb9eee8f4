"""Match: the rules that hold for an event. The guards pick them and the matcher must agree;
a late event adds the later moments whose windows it completed (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from blacklist_rules.model.decisions import ConditionTrace, RuleMatch
from blacklist_rules.model.events import (
    BLACKLISTED_IDENTITY,
    Event,
    from_micros,
    to_micros,
)
from blacklist_rules.pack.compiler import CompiledRule, Listener, trace
from blacklist_rules.pack.prior import PriorTest
from blacklist_rules.windows import StreamWindow, WindowEvidence

from . import observe, registry
from .account import account_facts
from .context import EventContext, Occasion
from .core import Core
from .lists import listed_facts
from .prior import prior_facts, worth_reading

REVERSING = frozenset({"review_decision", "appeal_outcome"})
"""Event types whose reversals withdraw events from windows: a window they feed is read before."""


def match(core: Core, ctx: EventContext, event: Event) -> tuple[list[Occasion], list[Listener]]:
    """Rules that hold for the event, and the listeners whose filter it passes.

    Events that feed a stream enter history first, so the snapshot carries each window's
    count. The first occasion is the event's own; a late event adds the later moments
    whose windows it completed.
    """
    ruleset, at_us, clock_us = core.ruleset, ctx.at_us, core.mirrors.clock_us
    # No rule or listener of the type can hold (see gate.py): no rule, no listener, as the
    # whole path finds. Without the prefilter (every event asked of durable-rules) or with
    # an observer (coverage: every count) the whole path is taken.
    gate = core.index.gates.get(event.type) if core.prefilter and core.observe is None else None
    if gate is not None and gate.shut_before(event):
        return [], []
    snapshot = ruleset.snapshot(ruleset.flat(event), event.type)
    if gate is not None and gate.shut_after(snapshot):
        return [], []
    if event.type in core.index.reads_account:
        snapshot.update(account_facts(core.store, event.account_id, at_us))
    lists = core.index.listed.get(event.type, ())
    snapshot.update(listed_facts(core.store, event.account_id, at_us, lists))
    if event.type == "registration":
        ctx.hits = registry.entries_at(core, ctx.prints.listed() if ctx.prints else [], at_us)
        snapshot[BLACKLISTED_IDENTITY] = bool(ctx.hits)
    listening = [it for it in ruleset.listeners.get(event.type, ()) if it.guard(snapshot)]
    rows = observe.observe(core, ctx, event, snapshot, listening) if listening else {}
    candidates = ruleset.by_type.get(event.type, ())
    decisions: dict[str, tuple[str, ...]] = {}
    if event.type in core.index.prior:
        tests: Iterable[PriorTest] = core.index.prior[event.type].values()
        if core.observe is None:  # (an observer sees every count: coverage reads them)
            tests = worth_reading(candidates, snapshot)
        counts, decisions = prior_facts(core.store, event.account_id, at_us, tests)
        snapshot.update(counts)
    if core.observe is not None:
        core.observe(event, snapshot)
    # A window rule can hold only when the event fed its stream (its count is there).
    checked = candidates if rows else core.index.without_windows.get(event.type, ())
    guarded = [rule for rule in checked if rule.guard(snapshot)]
    # Only an event behind the clock can have history after it (no query otherwise).
    behind = rows and clock_us is not None and at_us < clock_us
    late = observe.late(core, ctx, event, rows) if behind else {}
    ctx.elsewhere = observe.late_elsewhere(core, ctx, event, rows) if behind else []
    ctx.rows = rows
    names = [it.name for it in listening]
    if guarded or not core.prefilter:
        core.agree(event.event_id, snapshot, [rule.id for rule in guarded] + names)
    elif not late:
        # The prefilter's contract: no rule can hold, so durable-rules is not asked. What
        # enters history is then the guard's call alone (proven equal to durable-rules by
        # the differential tests; prefilter=False checks it on every event).
        return [], listening
    occasions = [_own(core, ctx, event, snapshot, guarded, decisions)]
    occasions += _later(core, event, snapshot, late, names, rows)
    if event.type in REVERSING and rows:
        occasions = [settle(core, occasion) for occasion in occasions]
    return occasions, listening


def _own(
    core: Core,
    ctx: EventContext,
    event: Event,
    snapshot: dict[str, Any],
    guarded: list[CompiledRule],
    decisions: dict[str, tuple[str, ...]],
) -> Occasion:
    """The event's own occasion: the rules that hold at its time (`decisions`: the earlier
    decisions each `prior:` test counted, evidence too)."""
    evidence = observe.window_evidence(guarded, ctx.rows, ctx.at_us)
    for rule in guarded:
        if rule.prior is not None:
            counted = decisions.get(rule.prior.key, ())
            evidence[rule.id] = (*evidence.get(rule.id, (event.event_id,)), *counted)
        if rule.id in core.index.reads_blacklist and ctx.hits:
            # The earlier decisions behind the entries it matched are evidence too.
            earlier = dict.fromkeys(entry.decision_id for entry in ctx.hits)
            evidence[rule.id] = (*evidence.get(rule.id, (event.event_id,)), *earlier)
    return Occasion(
        event.occurred_at,
        event.event_id,
        event.event_id,
        tuple(match_of(rule, snapshot) for rule in guarded),
        evidence,
        windows=ctx.rows,
    )


def _later(
    core: Core,
    event: Event,
    snapshot: dict[str, Any],
    late: dict[int, tuple[str, set[str]]],
    names: list[str],
    rows: dict[str, StreamWindow],
) -> list[Occasion]:
    """The later moments whose windows the (late) event completed, and what fires then (the
    account's lists read at that moment: `unless_listed` asks about the firing time)."""
    found = []
    candidates = core.ruleset.by_type.get(event.type, ())
    lists = core.index.listed.get(event.type, ())
    for moment, (firing_event, rule_ids) in sorted(late.items()):
        later = {**snapshot, **listed_facts(core.store, event.account_id, moment, lists)}
        later.update(observe.features(core.ruleset, rows, moment, core.index.caps))
        held = [rule for rule in candidates if rule.guard(later)]
        core.agree(event.event_id, later, [rule.id for rule in held] + names)
        new = [rule for rule in held if rule.id in rule_ids]
        found.append(
            Occasion(
                from_micros(moment),
                f"{event.event_id}@{firing_event}",
                event.event_id,
                tuple(match_of(rule, later) for rule in new),
                observe.window_evidence(new, rows, moment),
                windows=rows,
            )
        )
    return found


def settle(core: Core, occasion: Occasion) -> Occasion:
    """The occasion with its windows read whole now: the event's reversals may withdraw
    events from them before it is decided."""
    if isinstance(occasion.evidence, WindowEvidence):
        occasion.evidence.settle()
    matches = tuple(exact(core, match, occasion) for match in occasion.matches)
    return attrs.evolve(occasion, matches=matches, windows={})


def exact(core: Core, match: RuleMatch, occasion: Occasion) -> RuleMatch:
    """The match with its window's whole count, where the snapshot's count stopped at the
    largest a rule asks (see windows.py): read only for a decision."""
    test = core.index.rules[match.rule_id].window
    seen = match.conditions[-1].seen if test is not None and match.conditions else None
    if test is None or test.stream not in occasion.windows or seen != core.index.caps[test.key]:
        return match
    window = occasion.windows[test.stream]
    count = window.exact(to_micros(occasion.at), test.span_us)
    last = attrs.evolve(match.conditions[-1], seen=count)
    return attrs.evolve(match, conditions=(*match.conditions[:-1], last))


def match_of(rule: CompiledRule, snapshot: dict[str, Any]) -> RuleMatch:
    """What a rule that holds says: its trace of conditions, and its window's count."""
    conditions = trace(rule.condition, snapshot)
    if rule.prior is not None:  # before the window's: `exact` reads that one last
        seen = snapshot.get(rule.prior.key)
        held = seen is not None and seen >= rule.prior.count
        test = ConditionTrace(rule.prior.label, "gte", rule.prior.count, seen, held)
        conditions = (*conditions, test)
    if rule.window is not None:
        seen = snapshot.get(rule.window.key)
        held = seen is not None and seen >= rule.window.count
        test = ConditionTrace(rule.window.label, "gte", rule.window.count, seen, held)
        conditions = (*conditions, test)
    return RuleMatch(
        rule.id,
        rule.version,
        rule.action,
        rule.mode,
        rule.priority,
        rule.reason,
        conditions,
    )
