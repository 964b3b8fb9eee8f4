"""One event through the stages, in order (DESIGN §4): validate → identify → log → observe
history → match → decide → record → effects → outcome. Each stage is a module of this
package; this one only says in which order they run, and takes the quiet path (an event
nothing matches: one write) when it can."""

from __future__ import annotations

from blacklist_rules.errors import EventError
from blacklist_rules.model.decisions import Decision, Mode
from blacklist_rules.model.events import (
    Event,
    ListUpdate,
    Registration,
    mask_extras,
    stored_text,
    to_micros,
)
from blacklist_rules.pack.compiler import Listener

from . import ahead, deadlines, human, intake, lists, observe, registry, time_order
from . import decide as deciding
from . import match as matching
from . import record as recording
from .context import EventContext, Occasion, Outcome
from .core import Core
from .unit import UnitOfWork

TYPES_WITH_EFFECTS = frozenset(
    {"identity_verification", "registration", "review_decision", "appeal_outcome", "list_update"}
)
"""Event types that can change state by themselves (end a freeze, decide, reverse)."""


def process(
    core: Core,
    unit: UnitOfWork,
    ctx: EventContext,
    raw: object,
    line: int | None,
    source: str | None,
    received: str | None,
) -> Outcome:
    """The outcome of one event; `EventError` when it asks for what cannot be (undone by the
    caller), any other exception a failure."""
    try:  # (a registration claimed ahead was parsed then: `ahead.parsed`)
        event = intake.admit(core, raw, ahead.parsed(core, raw) if core.parsed else None)
    except EventError as exc:
        return intake.reject(core, ctx, exc, line, source)
    event = mask_extras(event, core.identity_key)  # no raw identity value in evidence
    if isinstance(event, Registration):
        event = registry.identify(core, ctx, event)
    ctx.event = event
    ctx.at_us = to_micros(event.occurred_at)
    core.claim(event.account_id, ctx.prints.all() if ctx.prints is not None else ())
    logged = intake.log(core, ctx, event, stored_text(event, received), line, source)
    if logged is not None:
        return logged
    core.progress_us = max(core.progress_us, ctx.at_us)  # (a worker's, reported at commit)
    occasions, listening = matching.match(core, ctx, event)
    mirrors = core.mirrors
    if (
        not any(occasion.matches for occasion in occasions)
        and event.type not in TYPES_WITH_EFFECTS
        and not deadlines.meets_or_starts(core, ctx, event, listening)
        and (mirrors.next_due_us is None or mirrors.next_due_us > ctx.at_us)
    ):
        # The common case: nothing matched, nothing changes, no freeze ends: one write
        # (and the event's history rows, if it feeds a window). Times compared in µs.
        if mirrors.clock_us is None or ctx.at_us > mirrors.clock_us:
            mirrors.move_clock(event.occurred_at, ctx.at_us)
        return Outcome(
            event.event_id, event.account_id, status=core.status(event.account_id), line=line
        )
    # More than one write may follow: under a savepoint, so a failure undoes them all.
    unit.savepoint(ctx)
    if ctx.prints is not None:  # (one statement for all of them: issue 19)
        core.store.add_identities(ctx.prints.all(), event.account_id, event.event_id, ctx.at_us)
    _advance(core, ctx, event)
    deadlines.listen(core, ctx, event, listening)
    decisions = _effects(core, ctx, event, occasions, listening)
    _advance_again(core, ctx, event)
    return Outcome(
        event.event_id,
        event.account_id,
        (*decisions, *ctx.decided),
        tuple(ctx.changes),
        core.status(event.account_id),
        line=line,
        reversals=tuple(ctx.reversals),
    )


def _advance(core: Core, ctx: EventContext, event: Event) -> None:
    """Event time moves to the event: by the engine's clock, or on a shared db by the
    account's own time and the workers' low watermark (`deadlines.advance_shared`)."""
    if core.worker_id is not None:
        deadlines.advance_shared(core, ctx, event)
    else:
        deadlines.advance(core, ctx, event.occurred_at, event.event_id)


def _advance_again(core: Core, ctx: EventContext, event: Event) -> None:
    """After the event's effects: a freeze over ends now, a deadline they set already due
    fires; its decision, before the clock, is a late change of the account's past."""
    mirrors = core.mirrors
    if mirrors.next_due is not None and mirrors.clock and mirrors.next_due <= mirrors.clock:
        done = len(ctx.decided)
        _advance(core, ctx, event)
        if core.index.time_ordered:
            time_order.follow_fired(core, ctx, event, ctx.decided[done:])


def _effects(
    core: Core,
    ctx: EventContext,
    event: Event,
    occasions: list[Occasion],
    listening: list[Listener],
) -> list[Decision]:
    """The deadlines a late event meets after they fired (`time_order.meet_late`), the
    event's own effects (a person's decision, a reversal), then the decisions on each
    occasion, then the later registrations a late event completed a window for, then the
    account's later events a late change of its past decides again (`time_order`)."""
    time_order.meet_late(core, ctx, event, listening)
    if isinstance(event, ListUpdate):
        lists.apply(core.store, event)
    human_decisions = human.apply_event(core, ctx, event)  # may refuse it: EventError
    decisions = list(human_decisions)
    for decision in human_decisions:
        recording.record_decision(core, ctx, decision, event.event_id)
    for occasion in occasions:
        # One decision per event and account: a reviewer's decision is the event's decision.
        own = human_decisions and occasion.key == event.event_id
        for mode in (Mode.SHADOW,) if own else (Mode.ENFORCE, Mode.SHADOW):
            # Recorded before the next occasion is decided: each sees the status the
            # earlier ones left (a late event's blacklist stops its later freezes).
            chosen = deciding.decide(core, event.account_id, occasion, mode)
            if chosen is None:
                continue
            decisions.append(chosen)
            recording.record_decision(core, ctx, chosen, event.event_id)
            if chosen.end_condition == human.VERIFICATION_PASSED and chosen.mode == Mode.ENFORCE:
                human.end_if_already_verified(core, ctx, chosen, event.event_id)
    for at_us, firing_id, account_id, rule_ids in ctx.elsewhere:
        # A later registration of the group whose window this (late) one completed.
        rules = [rule for rule in core.ruleset.rules if rule.id in rule_ids]
        rows = {rule.window.stream: ctx.rows[rule.window.stream] for rule in rules if rule.window}
        deciding.decide_stored(
            core,
            ctx,
            firing_id,
            account_id,
            at_us,
            observe.features(core.ruleset, rows, at_us, None),
            rule_ids,
            event.event_id,
            dict(observe.window_evidence(rules, rows, at_us)),
            event.event_id,
        )
    if core.index.time_ordered:  # a late change of the account's past: `time_order`
        time_order.follow(core, ctx, event, decisions)
    return decisions
