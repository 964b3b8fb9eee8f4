"""Deadlines and event time: moving the clock (deadlines that pass act, freezes whose time is
up end), starting deadlines, meeting them with `unless` events, firing them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from blacklist_rules.errors import EvaluationError
from blacklist_rules.model.decisions import ConditionTrace, Status
from blacklist_rules.model.events import Event, from_micros, parse_event, to_micros, utc_text
from blacklist_rules.pack.compiler import DEADLINE, CompiledRule, Listener
from blacklist_rules.stores.records import Deadline, Watermark

from . import decide as deciding
from . import match as matching
from . import record as recording
from .context import EventContext, Occasion
from .core import Core
from .mirrors import due


def advance(
    core: Core,
    ctx: EventContext,
    moment: datetime,
    event_id: str | None,
    until: datetime | None = None,
) -> None:
    """Move the clock to `moment` (never back): deadlines that pass act, freezes whose
    time is up end (with `until`: only those up to it, the low watermark of a shared db). A
    deadline's decision may start another deadline: repeat until none is due (deadlines form
    no cycle: checked at load)."""
    mirrors, store = core.mirrors, core.store
    if mirrors.clock is None or moment > mirrors.clock:
        mirrors.clock = moment
    clock = mirrors.clock if until is None else min(mirrors.clock, until)
    while mirrors.next_due is not None and mirrors.next_due <= clock:
        acted = False
        for row in _due_claimed(core, to_micros(clock)):
            fire(
                core,
                ctx,
                row.rule_id,
                row.anchor_id,
                row.account_id,
                row.anchor_event_id,
                row.due_us,
            )
            acted = True
        for ended in store.expire(utc_text(clock)):
            core.claim(ended.account_id)
            recording.recompute(
                core,
                ctx,
                ended.account_id,
                f"freeze {ended.decision_id} ended",
                datetime.fromisoformat(ended.expires_at),
                event_id,
            )
            acted = True
        mirrors.next_due = due(store)
        # Nothing acted, so the store is as it was: a moment still due would be forever.
        if not acted and mirrors.next_due is not None and mirrors.next_due <= clock:
            raise EvaluationError(f"{mirrors.next_due} is due but nothing acts on it")


def advance_shared(core: Core, ctx: EventContext, event: Event) -> None:
    """On a shared db (issue 16 item 3), before an event: its own account's deadlines and
    freezes up to the event's time act first (every earlier event of the account came: it
    is one worker's, in event-time order), then everyone's up to the low watermark, the
    least progress of the live running workers (`Workers.watermark`): an account another
    worker is behind on keeps its deadlines until that worker's progress passes them."""
    moment, account = event.occurred_at, event.account_id
    commits = core.store.commits()  # (ours move it only at the commit; Workers.commits)
    if not _may_be_due(core, moment, commits):  # (the clock only: nothing of anyone's is due)
        advance(core, ctx, moment, event.event_id, until=moment)
        return
    mirrors = core.mirrors
    if account in mirrors.waiting or mirrors.status(account) != Status.ACTIVE:
        _own_due(core, ctx, event)
    mark = _watermark(core, commits)  # (ours: this event's time)
    limit = moment if mark is None else min(moment, from_micros(mark.at_us))
    advance(core, ctx, moment, event.event_id, until=limit)


def _own_due(core: Core, ctx: EventContext, event: Event) -> None:
    """The account's own deadlines and freezes up to the event's time act. Only for an
    account that may have some: one waiting for a deadline (`Mirrors.waiting`, a superset)
    or not active (an enforced decision stands, which may end); for any other the two reads
    are saved."""
    moment, account = event.occurred_at, event.account_id
    at_us, text = to_micros(moment), utc_text(moment)
    store = core.store
    acted = False
    for _ in range(_ROUNDS):  # a deadline's decision may start another one already due
        rows = store.due_deadlines(at_us, account)
        for row in rows:
            fire(core, ctx, row.rule_id, row.anchor_id, account, row.anchor_event_id, row.due_us)
        ended = store.expire(text, account)
        for expiry in ended:
            recording.recompute(
                core,
                ctx,
                account,
                f"freeze {expiry.decision_id} ended",
                datetime.fromisoformat(expiry.expires_at),
                event.event_id,
            )
        if not rows and not ended:
            break
        acted = True
    else:
        raise EvaluationError(f"deadlines of {account} keep falling due at {text}")
    if acted:
        core.mirrors.next_due = due(store)


def _watermark(core: Core, commits: int) -> Watermark | None:
    """The low watermark (`Workers.watermark`), read again only when the db's commit count
    (`commits`, read for this event) moved since (`Mirrors.watermark_at_commits`): the
    workers' progress and heartbeats change only with a commit (ours included, which
    reports our progress). A commit after `commits` was read is seen by the next event."""
    mirrors = core.mirrors
    if commits != mirrors.watermark_at_commits:
        mirrors.watermark = core.store.watermark(core.idle_timeout, core.holds)
        mirrors.watermark_at_commits = commits
    return mirrors.watermark


def _may_be_due(core: Core, moment: datetime, commits: int) -> bool:
    """Whether a deadline or a freeze's end of any account may be due by `moment`: the next
    due moment (`Mirrors.next_due`, read again when another writer committed since) is no
    later. When not, neither the account's own nor anyone's up to the watermark can act, and
    the statements that look for them are saved (five an event)."""
    mirrors = core.mirrors
    if commits != mirrors.due_at_commits:
        mirrors.next_due, mirrors.due_at_commits = due(core.store), commits
    return mirrors.next_due is not None and mirrors.next_due <= moment


_ROUNDS = 100
"""At most this many rounds of one account's deadlines falling due at one moment."""


def _due_claimed(core: Core, clock_us: int) -> list[Deadline]:
    """The deadlines due by `clock_us`, their accounts held against other writers first
    (`Core.claim`); read again after, as another writer may have fired one meanwhile."""
    rows = list(core.store.due_deadlines(clock_us))
    if not core.store.shared:
        return rows
    claimed: set[str] = set()
    while True:
        for account in sorted({row.account_id for row in rows} - claimed):
            core.claim(account)
            claimed.add(account)
        again = list(core.store.due_deadlines(clock_us))
        if {row.account_id for row in again} <= claimed:
            return again
        rows = again


def meets_or_starts(core: Core, ctx: EventContext, event: Event, listening: list[Listener]) -> bool:
    """Would `listen` write: start a deadline, or meet one of the account's? (A late event
    may meet one that already fired: `time_order.meet_late`.)"""
    after, unless, waiting = core.index.after, core.index.unless, core.mirrors.waiting
    clock_us = core.mirrors.clock_us
    late = clock_us is not None and ctx.at_us < clock_us
    for listener in listening:
        if listener.name in after:
            return True
        if listener.stream in unless and (late or event.account_id in waiting):
            return True
    return False


def listen(core: Core, ctx: EventContext, event: Event, listening: list[Listener]) -> None:
    """The event meets the deadlines it is an `unless` of, and starts those it anchors."""
    at_us = ctx.at_us
    for listener in listening:
        rule = core.index.after.get(listener.name)
        if rule is not None:
            row = schedule(core, ctx, rule, event.account_id, event.event_id, event.event_id, at_us)
            recording.audit_deadline(core, row)
        waiting = core.index.unless.get(listener.stream) if listener.stream else None
        if waiting and event.account_id in core.mirrors.waiting:
            for met in core.store.meet_deadlines(event.account_id, waiting, at_us):
                recording.audit_deadline(core, met)


def schedule(
    core: Core,
    ctx: EventContext,
    rule: CompiledRule,
    account_id: str,
    anchor: str,
    event_id: str,
    start_us: int,
) -> Deadline | None:
    """Start the deadline `rule` counts from `anchor` (a decision or event id). One older
    than the horizon is not started: history that could meet it may be gone. The row when
    one was written."""
    if rule.deadline is None:
        raise EvaluationError(f"rule {rule.id} has no deadline to start")
    clock = core.mirrors.clock
    clock_us = to_micros(clock) if clock else start_us
    if start_us < clock_us - core.ruleset.horizon_us:
        return None
    due_us = start_us + rule.deadline.span_us
    met = _met(core, rule.deadline.unless, account_id, start_us, due_us)
    state = "met" if met else "pending"
    row = Deadline(rule.id, anchor, account_id, event_id, start_us, due_us, state)
    written = core.store.add_deadline(
        rule.id, anchor, account_id, event_id, start_us, due_us, state
    )
    if not met:
        ctx.moved = True
        core.mirrors.waiting.add(account_id)
        core.mirrors.due_by(from_micros(due_us))
    return row if written else None


def seen(core: Core, key: str, account_id: str, start_us: int, due_us: int) -> bool:
    """Did an event of the stream come at or after start and before due?"""
    if key not in core.index.from_log:
        return bool(core.store.history(key, account_id, start_us - 1, due_us))
    listener = core.ruleset.streams[key].listener
    logged = core.store.logged_events(account_id, start_us - 1, due_us)
    return any(core.stored_match(payload, listener) for payload in logged)


def _met(core: Core, keys: tuple[str, ...], account_id: str, start_us: int, due_us: int) -> bool:
    """Did an event of one of the streams `keys` come at or after start and before due?
    (`seen` of each, at once: the streams read from the log share one read of the account's
    log, each event in it parsed and matched once.)"""
    from_log = core.index.from_log
    for key in keys:
        if key not in from_log and core.store.history(key, account_id, start_us - 1, due_us):
            return True
    listeners = [core.ruleset.streams[key].listener for key in keys if key in from_log]
    if not listeners:
        return False
    logged = core.store.logged_events(account_id, start_us - 1, due_us)
    return any(_taken(core, payload, listeners) for payload in logged)


def _taken(core: Core, payload: str, listeners: list[Listener]) -> bool:
    """Does one of `listeners` take the stored event? The guards decide and durable-rules
    must agree on each (fail closed), as `Core.stored_match` checks one: one parse and one
    match for them all."""
    event = parse_event(payload)
    ruleset = core.ruleset
    snapshot = ruleset.snapshot(ruleset.flat(event), event.type)
    fired = core.matcher.match(snapshot)
    taken = False
    for listener in listeners:
        held = event.type in listener.types and listener.guard(snapshot)
        if held != (listener.name in fired):
            raise EvaluationError(f"rule engines disagree on {event.event_id} ({listener.name})")
        taken = taken or held
    return taken


def fire(
    core: Core,
    ctx: EventContext,
    rule_id: str,
    anchor: str,
    account_id: str,
    event_id: str,
    due_us: int,
) -> None:
    """A deadline passed with nothing to meet it: durable-rules matches the deadline's
    snapshot like an event's, and the rule decides. A reversed anchor decision voids it."""
    store = core.store
    rule = core.ruleset.rule(rule_id)
    if rule.deadline is None:
        raise EvaluationError(f"rule {rule_id} has no deadline to fire")
    evidence: tuple[str, ...] = (event_id,)
    if rule.deadline.after_rules:
        found = store.decision(anchor)
        if found is None or found.reversed_by is not None:
            recording.audit_deadline(core, store.set_deadline_state(rule_id, anchor, "void"))
            return
        evidence = found.decision.evidence
    fired = store.set_deadline_state(rule_id, anchor, "fired")
    snapshot: dict[str, Any] = {"type": DEADLINE, DEADLINE: rule_id}
    held = [r for r in core.ruleset.by_type.get(DEADLINE, ()) if r.guard(snapshot)]
    core.agree(f"deadline {rule_id} of {anchor}", snapshot, [r.id for r in held])
    at = from_micros(due_us)
    passed = ConditionTrace(rule.deadline.label, "passed", None, utc_text(at), True)
    occasion = Occasion(
        at,
        f"{DEADLINE}:{rule_id}:{anchor}",
        event_id,
        tuple(attrs.evolve(matching.match_of(r, snapshot), conditions=(passed,)) for r in held),
        {rule_id: evidence},
        anchor,
    )
    if not deciding.decide_aside(core, ctx, account_id, occasion, event_id):
        recording.audit_deadline(core, fired)  # (a deadline's decision says it fired)
