"""Intake: validate the event (its shape, its time against the wall clock), log it (once: a
resend is a duplicate, a clash of ids or an event behind the history cut is refused), and
record why an event was refused."""

from __future__ import annotations

from blacklist_rules.errors import EventError
from blacklist_rules.model.events import (
    PHONE_FACTS,
    Event,
    declared_payload,
    from_micros,
    input_text,
    parse_event,
    stored_payload,
    utc_text,
)
from blacklist_rules.stores.sqlite import PURGED

from .context import EventContext, Outcome
from .core import Core


def admit(core: Core, raw: object, parsed: Event | None = None) -> Event:
    """The event, parsed (unless `parsed` is what `raw` was parsed to already), its declared
    fields (the pack's `fields.yaml`) of their types, and within the time bound; `EventError`
    otherwise."""
    if isinstance(raw, EventError):
        raise raw
    event = parse_event(raw) if parsed is None else parsed
    core.ruleset.declared.check(event.type, event.model_extra, event.event_id, event.account_id)
    core.time_bound.admit(
        event.occurred_at,
        core.store.now(),
        event_id=event.event_id,
        account_id=event.account_id,
    )
    return event


def log(
    core: Core, ctx: EventContext, event: Event, text: str, line: int | None, source: str | None
) -> Outcome | None:
    """Write the event to the log (`ctx.inserted`); or the outcome of one that is not new:
    a resend (a duplicate), or one refused (behind the history cut, or an id used by another
    event)."""
    store, micros = core.store, ctx.at_us
    cut_us = store.history_cut_us
    if cut_us is not None and micros < cut_us:  # settled: a resend, or refused
        known = store.stored_payload_of(event.event_id)
        if known is not None and (
            known == PURGED or same_event(known, text, event) or known == declared_payload(text)
        ):
            return resent(core, event, line)
        raise EventError(
            f"occurred before the history cut {utc_text(from_micros(cut_us))}: the history "
            "it would be weighed with is purged",
            path="occurred_at",
            event_id=event.event_id,
        )
    clock_us = core.mirrors.clock_us
    known = store.add_event(event.event_id, event.account_id, event.type, micros, text, clock_us)
    if known is not None and same_event(known, text, event):
        return resent(core, event, line)
    if known is not None:
        clash = EventError(
            "event_id was already used by a different event",
            path="event_id",
            event_id=event.event_id,
        )
        return reject(core, ctx, clash, line, source, event.account_id)
    ctx.inserted = True
    return None


def resent(core: Core, event: Event, line: int | None) -> Outcome:
    """A repeat of an event the store had: ignored, and reported as a duplicate."""
    return Outcome(
        event.event_id,
        event.account_id,
        duplicate=True,
        line=line,
        status=core.status(event.account_id),
    )


def reject(
    core: Core,
    ctx: EventContext,
    error: EventError,
    line: int | None,
    source: str | None,
    account_id: str | None = None,
) -> Outcome:
    """Record why an event was refused (once: the same input refused again, say by a rerun
    over the same file, is reported but not recorded again); identity values never reach
    the record. The account is the one the event names, else the input's own if usable."""
    account_id = account_id or error.account_id
    digest = core.identity_key.fingerprint("rejected", input_text(ctx.input))
    if not core.store.first_rejection(digest):
        return Outcome(error.event_id, account_id, rejection=error, line=line)
    record = {
        "line": line,
        "source": source,
        "event_id": error.event_id,
        "account_id": account_id,
        "path": error.path,
        "reason": error.reason,
    }
    core.store.audit("rejected_event", record, account_id=account_id, event_id=error.event_id)
    return Outcome(error.event_id, account_id, rejection=error, line=line)


def same_event(stored: str, text: str, event: Event) -> bool:
    """A resend of the stored event, however its JSON was formatted? (A registration stored
    before the engine derived phone facts is the same event without them.)"""
    if stored == text:
        return True
    known = stored_payload(parse_event(stored))
    if known == stored_payload(event):
        return True
    bare = event.model_copy(update=dict.fromkeys(PHONE_FACTS))
    return event.type == "registration" and known == stored_payload(bare)
