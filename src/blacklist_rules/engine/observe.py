"""Observe history: the event enters the streams it feeds, and each window's count goes into
its snapshot; a late event finds the later moments whose windows it completed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blacklist_rules.model.decisions import Status
from blacklist_rules.model.events import Event
from blacklist_rules.model.history import HistoryRow
from blacklist_rules.pack.compiler import CompiledRule, CompiledRuleset, Listener
from blacklist_rules.windows import Live, StreamWindow, WindowEvidence

from .context import EventContext
from .core import Core

GONE = frozenset({Status.CANCELLED, Status.BLACKLISTED})
"""Statuses of accounts that are no longer live (for windows `by` an identity value)."""


def observe(
    core: Core,
    ctx: EventContext,
    event: Event,
    snapshot: dict[str, Any],
    listening: list[Listener],
) -> dict[str, StreamWindow]:
    """Add the event to the streams it feeds; put each window's count in the snapshot.

    An event more than the horizon (the longest window or deadline) behind the clock is
    too late to count: it is kept in the log but enters no stream.
    """
    ruleset, store, at_us, clock_us = core.ruleset, core.store, ctx.at_us, core.mirrors.clock_us
    clock_us = at_us if clock_us is None else max(clock_us, at_us)
    if at_us < clock_us - ruleset.horizon_us:
        return {}
    found: dict[str, StreamWindow] = {}
    for listener in listening:
        if listener.stream is None or listener.stream in core.index.from_log:
            continue
        stream = ruleset.streams[listener.stream]
        group = event.account_id
        if stream.by is not None:  # grouped by an identity value: its fingerprint
            shared = dict(ctx.prints.all()).get(stream.by) if ctx.prints else None
            if shared is None:
                continue
            group = shared
        value = snapshot.get(stream.distinct) if stream.distinct else None
        store.add_history(stream.key, group, at_us, event.event_id, value)
        ctx.fed.append((stream.key, group, at_us, event.event_id))
        if ruleset.windows.get(stream.key):
            # Live accounts count in a window `by` an identity value.
            live = _liveness(core, ctx) if stream.by is not None else None
            distinct = stream.distinct is not None
            fed = HistoryRow(at_us, event.event_id, value)
            found[stream.key] = StreamWindow(store, stream.key, group, distinct, live, fed)
    snapshot.update(features(ruleset, found, at_us, core.index.caps))
    return found


def _liveness(core: Core, ctx: EventContext) -> Live:
    """`was_live` for this event, as a window reads it."""
    return lambda account: was_live(core, ctx, account)


def was_live(core: Core, ctx: EventContext, account: object) -> bool:
    """Was the account live when the event was matched? (Its decisions, and what its
    reversals cascade to, may change statuses before a window is read again.)"""
    for change in ctx.changes:
        if change.account_id == account:
            return change.status_before not in GONE
    return core.status(str(account)) not in GONE


def late(
    core: Core, ctx: EventContext, event: Event, rows: dict[str, StreamWindow]
) -> dict[int, tuple[str, set[str]]]:
    """Later moments whose windows the (late) event completes, and the rules firing then."""
    at_us = ctx.at_us
    moments: dict[int, tuple[str, set[str]]] = {}
    later: dict[str, bool] = {}  # has the stream rows after the event?
    for rule in core.ruleset.by_type.get(event.type, ()):
        test = rule.window
        if test is None or test.stream not in rows or core.ruleset.streams[test.stream].by:
            continue  # (windows `by` an identity: `late_elsewhere`)
        window = rows[test.stream]
        if test.stream not in later:
            later[test.stream] = window.has_after(at_us)
        if not later[test.stream]:
            continue  # in time order: nothing after it
        for firing in window.late_firings(test.span_us, test.count):
            moments.setdefault(firing.at_us, (firing.event_id, set()))[1].add(rule.id)
    return moments


def late_elsewhere(
    core: Core, ctx: EventContext, event: Event, rows: dict[str, StreamWindow]
) -> list[tuple[int, str, str, frozenset[str]]]:
    """Later registrations (of any account) whose window `by` an identity value the late
    event completes: (time, event id, account, rule ids). The rows' values are accounts."""
    found: dict[tuple[int, str], tuple[str, set[str]]] = {}
    for rule in core.ruleset.by_type.get(event.type, ()):
        test = rule.window
        if test is None or test.stream not in rows or not core.ruleset.streams[test.stream].by:
            continue
        window = rows[test.stream]
        if not was_live(core, ctx, window.fed[2]) or not window.has_after(window.fed[0]):
            continue
        for firing in window.late_firings(test.span_us, test.count):
            key = (firing.at_us, firing.event_id)
            found.setdefault(key, (str(firing.value), set()))[1].add(rule.id)
    return [
        (at_us, event_id, account, frozenset(ids))
        for (at_us, event_id), (account, ids) in sorted(found.items())
    ]


def features(
    ruleset: CompiledRuleset,
    rows: Mapping[str, StreamWindow],
    at_us: int,
    caps: Mapping[str, int] | None,
) -> dict[str, int]:
    """Each window's count at `at_us`, for the streams the event fed, up to the largest
    count a rule asks of it (`match.exact` reads the whole count for a decision); `caps`
    None: the whole counts."""
    return {
        test.key: window.exact(at_us, test.span_us)
        if caps is None
        else window.count(at_us, test.span_us, caps.get(test.key, 0))
        for key, window in rows.items()
        for test in ruleset.windows.get(key, ())
    }


def window_evidence(
    rules: list[CompiledRule], rows: Mapping[str, StreamWindow], at_us: int
) -> WindowEvidence:
    """For each window rule, the events in its window: the evidence of its decision."""
    return WindowEvidence(rules, rows, at_us)
