"""Time order for what rules know of the account's past (`prior:`, `account.status`,
`account.age`): set semantics, as for windows. When an event changes those facts from an
earlier time than the clock (a late event's decision, a late registration, a reversal), the
account's later events that such a rule reads are decided again as they would have been in
time order, within the pack's horizon: a decision that no longer holds as it was is reversed
(as the cascade reverses: `cascade`, with a `reversal` record saying why) and the event is
decided again from what holds now, its decision dated at its own time and returned in the
outcome of the event that changed the facts. The reversal cascade's scratch world runs the
same stages, so a reversal re-decides what it reached in the same way.

A late `list_update` changes the account's past too (`unless_listed:`): the account's events
from its time on (the same microsecond included: a change at the very moment counts) are
decided again in time order, back to the history cut rather than the horizon (an exemption
does not fade with age), at most `MAX_LATER` of them. A decision reversed because the account
was on a list at its time says so (`RELISTED`). A window rule with `unless_listed` has its
window read again for an event within the horizon (its history is kept that long); for an
older one its match is kept as it was, unless the account is now known to be on a list.

A late `unless` event meets a deadline that already fired only because the clock was past it
when it was set (`meet_late`): the deadline is met, as in time order, and its decision (and a
fired deadline counted from that decision, and so on) is reversed with a record that says so
(`UNMET`, `UNANCHORED`); the account's later events are then decided again as for any reversal.

An event decided again is judged against the status the account had at its time in time
order (automation never lowers it; `account.status_at`: decisions before it, and those of
other occasions at that very moment, such as a deadline due then). A late change of that
status (a cancel taken back, a late freeze whose deadline fires at once) decides the
account's later events of every type again: a rule that held while the status then held it
back now decides; a decision, or a fired deadline's, that the status then would have held
back is reversed (`REDECIDED`). (A late event's own decision is still judged against the
status when it comes: `pipeline._effects`.)"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from blacklist_rules.model.decisions import (
    CASCADE,
    Action,
    Decision,
    Mode,
    Reversal,
    Status,
    decision_id,
)
from blacklist_rules.model.events import (
    Event,
    ListUpdate,
    Registration,
    parse_event,
    to_micros,
    utc_text,
)
from blacklist_rules.model.history import HistoryRow
from blacklist_rules.pack.compiler import DEADLINE, CompiledRule, Listener
from blacklist_rules.pack.lists import listed_key
from blacklist_rules.windows import StreamWindow

from . import decide as deciding
from . import match as matching
from . import observe, registry
from . import record as recording
from .account import account_facts, status_at
from .context import EventContext, Occasion
from .core import Core
from .lists import listed_facts
from .prior import prior_facts

MAX_LATER = 10_000
"""The account's events read back (newest first) when its facts changed: far more than the
horizon holds for one account."""
REDECIDED = "re-evaluated in time order: what it relied on of the account's past changed"
"""The reason of a reversal of a decision taken again in time order."""
RELISTED = "re-evaluated in time order: the account was on an exemption list at the event's time"
"""The reason of such a reversal when a rule that decided is now held back by `unless_listed`
(a late `list_update` put the account on one of its lists from before the event)."""
UNMET = "re-evaluated in time order: an event before the deadline met it"
"""The reason of a reversal of a deadline's decision a late `unless` event takes back: the
deadline fired only because the clock was already past it when that event came."""
UNANCHORED = "re-evaluated in time order: the decision its deadline counted from was reversed"
"""The reason of a reversal of a fired deadline's decision whose anchor decision `UNMET` took
back: in time order the deadline would have been void (`deadlines.fire`)."""


def follow(core: Core, ctx: EventContext, event: Event, decisions: Sequence[Decision]) -> None:
    """After an event's effects: from the earliest moment before the clock at which it
    changed an account's past (an enforced decision, a reversal, a registration), decide that
    account's later events again in time order. Nothing to do for an event in time order.
    A list change counts from its very microsecond, and reaches back to the history cut.
    What the reversal cascade settled is left as its replay left it (`EventContext.replayed`):
    that replay is the run without the reversed evidence, late events judged as they came."""
    clock = core.mirrors.clock
    if clock is None:
        return
    clock_us = to_micros(clock)
    since: dict[str, int] = {}
    relisted: set[str] = set()

    def changed(account: str, at_us: int) -> None:
        if at_us < clock_us:
            since[account] = min(since.get(account, at_us), at_us)

    replayed = ctx.replayed  # (the cascade's: its replay decided them in time order)
    for decision in (*decisions, *ctx.decided):
        if decision.mode == Mode.ENFORCE and decision.decision_id not in replayed:
            changed(decision.account_id, to_micros(decision.effective_at))
    for reversal in ctx.reversals:
        if reversal.decision_id in replayed:
            continue
        found = core.store.decision(reversal.decision_id)
        if found is not None:
            changed(reversal.account_id, to_micros(found.decision.effective_at))
    if isinstance(event, Registration):
        changed(event.account_id, ctx.at_us)
    if isinstance(event, ListUpdate) and ctx.at_us <= clock_us:
        since[event.account_id] = min(since.get(event.account_id, ctx.at_us), ctx.at_us)
        relisted.add(event.account_id)
    for account in sorted(since):
        back = account in relisted
        redecide_later(core, ctx, account, since[account], event.event_id, to_cut=back)


def follow_fired(core: Core, ctx: EventContext, event: Event, fired: Sequence[Decision]) -> None:
    """After the clock moved on at the end of an event: the decisions of deadlines that fired
    then (a late event's freeze whose deadline was already due) change their account's past
    from their time, as `follow` says: its later events are decided again in time order."""
    clock = core.mirrors.clock
    if clock is None:
        return
    since: dict[str, int] = {}
    for decision in fired:
        at_us = to_micros(decision.effective_at)
        if decision.mode == Mode.ENFORCE and at_us <= to_micros(clock):
            since[decision.account_id] = min(since.get(decision.account_id, at_us), at_us)
    for account in sorted(since):
        redecide_later(core, ctx, account, since[account], event.event_id)


def meet_late(core: Core, ctx: EventContext, event: Event, listening: list[Listener]) -> None:
    """A late event meets the account's fired deadlines whose span holds it (at or after the
    start, before the due time, as `unless` reads in time order): each is met, its decision
    reversed (`UNMET`), and so, in turn, those of fired deadlines counted from a reversed
    decision. A pending one it meets is `deadlines.listen`'s; nothing to do in time order.
    An event more than the horizon behind the clock meets none (its rows may be pruned)."""
    clock = core.mirrors.clock
    clock_us = to_micros(clock) if clock is not None else ctx.at_us
    if not clock_us - core.ruleset.horizon_us <= ctx.at_us < clock_us:
        return
    streams = {it.stream for it in listening if it.stream is not None}
    rules = {rule for key in streams for rule in core.index.unless.get(key, ())}
    if not rules:
        return
    fired = {
        (row.rule_id, row.anchor_id): row
        for row in core.store.deadlines_of(event.account_id)
        if row.state == "fired"
    }  # (the rows still fired: one met or voided here leaves it, never set twice)
    met = [
        row
        for row in fired.values()
        if row.rule_id in rules and row.start_us <= ctx.at_us < row.due_us
    ]
    state, reason = "met", UNMET  # (then "void": counted from a reversed decision, as `fire`)
    while met:
        taken: list[Decision] = []
        for row in met:
            del fired[row.rule_id, row.anchor_id]
            now = core.store.set_deadline_state(row.rule_id, row.anchor_id, state)
            recording.audit_deadline(core, now)
            taken.extend(_deadline_decisions(core, row.rule_id, row.anchor_id, row.account_id))
        _reverse(core, ctx, taken, event.event_id, reason)
        if any(d.action == Action.BLACKLIST and d.mode == Mode.ENFORCE for d in taken):
            registry.sync(core, ctx, event.account_id, event.occurred_at, event.event_id)
        fallen = {d.decision_id for d in taken if d.mode == Mode.ENFORCE}
        met = [row for row in fired.values() if row.anchor_id in fallen]
        state, reason = "void", UNANCHORED


def _deadline_decisions(core: Core, rule_id: str, anchor: str, account_id: str) -> list[Decision]:
    """The standing decisions a deadline took when it fired (`deadlines.fire`), both modes."""
    key = f"{DEADLINE}:{rule_id}:{anchor}"
    found = [core.store.decision(decision_id(key, account_id, mode)) for mode in Mode]
    return [it.decision for it in found if it is not None and it.reversed_by is None]


def redecide_later(
    core: Core,
    ctx: EventContext,
    account_id: str,
    from_us: int,
    by_event: str,
    *,
    to_cut: bool = False,
) -> None:
    """Decide again, in time order, the account's events from `from_us` (and within the
    horizon of the clock; with `to_cut`, a list change's, back to the history cut) that a
    rule listens to (its past, or its status then, may have changed); at each moment first
    the decisions of the deadlines that fired then (`_deadline_again`), as in time order.
    Only events that still count: one withdrawn with a reversed decision is in no window and
    in no replay, and is never decided again (FOUND_7_DEC_2026 in tests/test_cascade.py)."""
    types = tuple(sorted(set(core.ruleset.by_type) - {DEADLINE}))
    clock = core.mirrors.clock
    if not types or clock is None:
        return
    if to_cut:
        low = max(from_us, core.store.history_cut_us or from_us)
    else:
        low = max(from_us, to_micros(clock) - core.index.time_horizon_us)
    later = sorted(
        (
            (to_micros(stored.occurred_at), stored.event_id, stored)
            for stored in (
                parse_event(json.loads(text))
                for text in core.store.account_events(account_id, types, MAX_LATER, kept=True)
            )
            if to_micros(stored.occurred_at) >= low and stored.event_id != by_event
        ),
        key=lambda item: (item[0], item[1]),
    )
    fired = [
        (to_micros(taken.decision.effective_at), taken.decision.decision_id, taken.decision)
        for taken in core.store.taken_of({account_id})
        if taken.decision.anchor is not None and to_micros(taken.decision.effective_at) >= low
    ]
    for at_us, _, stored in _merged(fired, later):
        if isinstance(stored, Decision):
            _deadline_again(core, ctx, stored, at_us, by_event)
        else:
            _again(core, ctx, stored, at_us, by_event)


def _merged(
    fired: list[tuple[int, str, Decision]], later: list[tuple[int, str, Event]]
) -> list[tuple[int, str, Decision | Event]]:
    """Deadlines' decisions and events in time order: at one moment the deadlines first
    (one due fires before an event at its moment is decided), then by id."""
    items: list[tuple[int, int, str, Decision | Event]] = [
        *((at, 0, key, decision) for at, key, decision in fired),
        *((at, 1, key, stored) for at, key, stored in later),
    ]
    return [(at, key, item) for at, _, key, item in sorted(items, key=lambda it: it[:3])]


def _deadline_again(
    core: Core, ctx: EventContext, decision: Decision, at_us: int, by_event: str
) -> None:
    """A fired deadline's decision reversed if, against the account's status at its time as
    it now stands (a late event raised it), it would not have taken effect: in time order
    the deadline fired with no decision (automation never lowers a status)."""
    found = core.store.decision(decision.decision_id)
    if found is None or found.reversed_by is not None:
        return
    status = status_at(core.store, decision.account_id, at_us, frozenset({decision.decision_id}))
    if not _still_above(decision, status):
        _reverse(core, ctx, [decision], by_event, REDECIDED)


def _again(core: Core, ctx: EventContext, stored: Event, at_us: int, by_event: str) -> None:
    """One stored event decided again if a rule reading the account's past now holds where
    it did not, no longer holds where it did, or counts other decisions; or if, against the
    account's status at the event's time as it now stands, a rule that held with no decision
    (the status then held it back) would take effect, or a decision no longer would. (A
    window rule's match is otherwise kept as it was, its window not read again, but for a
    rule with `unless_listed`: see `_windows`.)"""
    index, account = core.index, stored.account_id
    snapshot, counted = _snapshot(core, stored, at_us)
    rows = _windows(core, stored, snapshot, at_us)
    candidates = core.ruleset.by_type.get(stored.type, ())
    fired = [rule for rule in candidates if rule.guard(snapshot)]
    exempting = {r.id for r in candidates if r.window is not None and r.unless_listed}
    reread = {r.id for r in candidates if r.window is not None and r.window.stream in rows}
    reread &= exempting
    held = [rule for rule in fired if rule.window is None or rule.id in reread]
    dependent = {r.id for r in candidates if r.window is None} & index.time_ordered | exempting
    old = _own_decisions(core, stored, at_us)
    kept = [
        m
        for d in old
        for m in d.matched
        if index.rules[m.rule_id].window is not None
        and m.rule_id not in reread
        and not _exempt(index.rules[m.rule_id], snapshot)
    ]
    before = {m.rule_id for d in old for m in d.matched if m.rule_id in dependent}
    after = {rule.id for rule in held} | {m.rule_id for m in kept}
    proofs = {  # a `prior:` rule's evidence: the event, then the decisions it counted
        rule.id: (stored.event_id, *counted.get(rule.prior.key, ()))
        for rule in held
        if rule.prior is not None
    }
    same = all(tuple(d.evidence) == proofs.get(d.rule_id, tuple(d.evidence)) for d in old)
    status = status_at(core.store, account, at_us, frozenset(d.decision_id for d in old))
    unread = [rule for rule in fired if rule.id not in reread]
    back = _held_back(core, stored, snapshot, unread, old, rows, status)
    stale = any(not _still_above(d, status) for d in old)
    if same and before == after & dependent and not back and not stale:
        return
    names = [it.name for it in core.ruleset.listeners.get(stored.type, ()) if it.guard(snapshot)]
    core.agree(f"{stored.event_id} again (time order)", snapshot, [r.id for r in fired] + names)
    exempted = any(_exempt(index.rules[m.rule_id], snapshot) for d in old for m in d.matched)
    _reverse(core, ctx, old, by_event, RELISTED if exempted else REDECIDED)
    evidence = {d.rule_id: d.evidence for d in old if d.rule_id in {m.rule_id for m in kept}}
    evidence.update(proofs)
    back = [rule for rule in back if rule not in held]  # (the window rules: `held` has the rest)
    windowed = [*back, *(rule for rule in held if rule.id in reread)]
    evidence.update(observe.window_evidence(windowed, rows, at_us))
    occasion = Occasion(
        stored.occurred_at,
        f"{stored.event_id}@{by_event}",
        stored.event_id,
        (*kept, *(matching.match_of(rule, snapshot) for rule in (*held, *back))),
        evidence,
        windows=rows,
    )
    deciding.decide_aside(core, ctx, account, occasion, by_event, status)


def _held_back(
    core: Core,
    stored: Event,
    snapshot: dict[str, Any],
    fired: Sequence[CompiledRule],
    old: Sequence[Decision],
    rows: dict[str, StreamWindow],
    status: Status,
) -> list[CompiledRule]:
    """Of the rules that hold on the event (`fired`: plain rules, and window rules over the
    windows read again, `_windows`), those in no decision of its own, if one of them would
    now take effect against `status`, the account's status at the event's time: in time
    order the status then held them back, and a late event changed that status; else none."""
    matched = {m.rule_id for d in old for m in d.matched}
    found = [
        rule
        for rule in fired
        if (rule.window is None or rule.window.stream in rows) and rule.id not in matched
    ]
    if not found:
        return []
    trial = Occasion(
        stored.occurred_at,
        f"{stored.event_id}@trial",
        stored.event_id,
        tuple(matching.match_of(rule, snapshot) for rule in found),
        windows=rows,
    )
    takes = any(deciding.decide(core, stored.account_id, trial, mode, status) for mode in Mode)
    return found if takes else []


def _still_above(decision: Decision, status: Status) -> bool:
    """Does the decision still take effect against `status`, the account's status at its
    time now (a late event may have raised it: automation never lowers a status)? A freeze
    of a frozen account is left as it was (`decide._takes_effect` reads the freezes that
    cover it, this one among them)."""
    if decision.action.status.severity > status.severity:
        return True
    return decision.action == Action.FREEZE and status == Status.FROZEN


def _snapshot(
    core: Core, stored: Event, at_us: int
) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """A stored event's snapshot with what holds now of the account's past at its time
    (account facts, `prior:` counts, lists), and the decisions each `prior:` test counted."""
    store, ruleset, account = core.store, core.ruleset, stored.account_id
    snapshot = ruleset.snapshot(ruleset.flat(stored), stored.type)
    if stored.type in core.index.reads_account:
        snapshot.update(account_facts(store, account, at_us))
    tests = core.index.prior.get(stored.type, {}).values()
    counts, counted = prior_facts(store, account, at_us, tests, stored.event_id)
    snapshot.update(counts)
    snapshot.update(listed_facts(store, account, at_us, core.index.listed.get(stored.type, ())))
    return snapshot, counted


def _windows(
    core: Core, stored: Event, snapshot: dict[str, Any], at_us: int
) -> dict[str, StreamWindow]:
    """The windows of the event's rules with `unless_listed` (grouped by account), read again
    at its time with their whole counts put in the snapshot: a late `list_update` that takes
    the account off a list decides what its window held. Only within the horizon (history is
    kept that long); none for a window `by` an identity value (kept by fingerprint)."""
    ruleset, clock = core.ruleset, core.mirrors.clock
    if clock is None or at_us < to_micros(clock) - ruleset.horizon_us:
        return {}
    found: dict[str, StreamWindow] = {}
    for rule in ruleset.by_type.get(stored.type, ()):
        test = rule.window
        if test is None or test.stream in found:
            continue
        stream = ruleset.streams[test.stream]
        if stream.by is not None:
            continue
        value = snapshot.get(stream.distinct) if stream.distinct else None
        fed = HistoryRow(at_us, stored.event_id, value)
        distinct = stream.distinct is not None
        found[stream.key] = StreamWindow(
            core.store, stream.key, stored.account_id, distinct, None, fed
        )
    snapshot.update(observe.features(ruleset, found, at_us, None))
    return found


def _exempt(rule: CompiledRule, snapshot: dict[str, Any]) -> bool:
    """Is the account on one of the rule's `unless_listed` lists in the snapshot?"""
    return any(snapshot.get(listed_key(name)) is True for name in rule.unless_listed)


def _own_decisions(core: Core, stored: Event, at_us: int) -> list[Decision]:
    """The standing decisions taken on the event's own occasion (at its time, on it)."""
    at = utc_text(stored.occurred_at)
    ids = {rule.id for rule in core.ruleset.by_type.get(stored.type, ())}
    return [
        taken.decision
        for taken in core.store.taken_of({stored.account_id})
        if utc_text(taken.decision.effective_at) == at
        and taken.decision.rule_id in ids
        and stored.event_id in taken.decision.evidence
        and to_micros(taken.decision.effective_at) == at_us
    ]


def _reverse(
    core: Core, ctx: EventContext, old: Iterable[Decision], by_event: str, reason: str
) -> None:
    """The event's decisions reversed, each with its record (`reason`); the status follows."""
    found = list(old)
    if not found:
        return
    when = ctx.event.occurred_at if ctx.event is not None else found[0].effective_at
    for decision in found:
        core.store.reverse_decision(decision.decision_id, by_event, CASCADE)
        ctx.reversals.append(Reversal(decision.decision_id, decision.account_id, CASCADE, by_event))
        core.store.audit(
            "reversal",
            {
                "decision_id": decision.decision_id,
                "by": CASCADE,
                "by_event": by_event,
                "reason": reason,
            },
            account_id=decision.account_id,
            event_id=by_event,
            decision_id=decision.decision_id,
            occurred_at=utc_text(when),
        )
    recording.recompute(core, ctx, found[0].account_id, CASCADE, when, by_event)
