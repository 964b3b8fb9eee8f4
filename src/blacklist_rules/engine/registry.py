"""Identify and the blacklist registry: a registration's fingerprints, the entries in force
for them, and the entries an account's standing blacklist decisions call for (with the
listing mirror), deciding again the registrations a new entry reaches back to."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from blacklist_rules.errors import EventError, IdentityKeyError
from blacklist_rules.model.decisions import Action, Decision, Status
from blacklist_rules.model.events import (
    BLACKLISTED_IDENTITY,
    IDENTITY_DIGEST,
    PHONE_FACTS,
    Registration,
    Verification,
    from_micros,
    parse_time,
    to_micros,
    utc_text,
)
from blacklist_rules.model.identity import (
    GENERATED,
    ID_NUMBER,
    INVALID_ID_NUMBER,
    LISTED_KINDS,
    BlacklistEntry,
    IdentityKey,
    fingerprints,
    load_key,
    lookup_prints,
    normalise_phone,
)
from blacklist_rules.model.phones import facts_of
from blacklist_rules.stores.factory import is_postgres
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import StoredEntry

from . import decide as deciding
from .context import EventContext
from .core import Core, Printed

_log = logging.getLogger("blacklist_rules")

VICTIM = "identity_of_another_person"
"""A failed verification with this reason: the ID number is the victim's, never blacklisted."""

_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
"""`json.dumps(values, sort_keys=True, ensure_ascii=False)` made once: the same text (so the
same stored `identity_digest`), without building an encoder per registration (issue 19,
branch `mixfast`: 5.4 -> 2.4 us a registration in `timeit`)."""

EntryKey = tuple[str, str, str]
"""An entry by (kind, fingerprint, decision id)."""


def key_for(store: Store, identity_key: IdentityKey | None) -> IdentityKey:
    """The identity key an engine runs with (`identity_key`, else from the environment or the
    store's key file, else generated: logged), checked against the one the store was written
    under: another key's fingerprints would never match."""
    in_memory = store.path == ":memory:"
    key = identity_key or load_key(
        None if in_memory else store.path, beside=not is_postgres(store.path)
    )
    if not store.check_key(key.check):
        raise IdentityKeyError(
            f"{store.path} was written under another identity key than the one from "
            f"{key.source}: its fingerprints would never match"
        )
    if key.source == GENERATED:
        _log.warning("identity key %s: fingerprints and blacklist entries die with it", key.source)
    return key


def identify(core: Core, ctx: EventContext, event: Registration) -> Registration:
    """Fingerprint the registration's identity (kept in `ctx.prints`; the raw values are never
    stored; a keyed digest of them is, as `identity_digest`). A value that fails its check
    makes the verification a failed one: an invalid ID number always (reason
    `invalid_id_number`, whatever was sent), another problem unless a failure was already
    sent. What was sent is kept as `verification_received`."""
    given = core.given.get(event.event_id) if core.given else None
    if given is not None:  # a stored registration replayed: fingerprinted when it came
        ctx.prints = given
        return event
    values = event.identity.model_dump(exclude_none=True)
    printed = core.printed.pop(event.event_id, None) if core.printed else None
    if printed is None or not printed.of(values, event.occurred_at.date()):
        printed = _printed(core, values, event)
    e164 = printed.e164
    update = _phone_facts(event, e164)
    if values:
        ctx.prints = found = printed.prints
        # A keyed digest of the whole identity stands for it in the stored event: a resend
        # with another identity is then a clash of event ids, not a duplicate.
        canonical = _CANONICAL.encode(values)
        update[IDENTITY_DIGEST] = core.identity_key.fingerprint("identity", canonical)
        update.update(_verification(event.verification, found.problems))
    # One copy of the model (issue 19: it was two, the phone facts' and this one).
    return updated(event, update) if update else event


def updated(event: Registration, update: dict[str, Any]) -> Registration:
    """`event.model_copy(update=update)` without its generic steps (`copy.copy` thrice, the
    config read, a deep-copy branch): the same fields, extra fields and fields set, no
    validation (issue 19: about half of its 2.5 µs; a test holds the two equal)."""
    cls = type(event)
    fields = cls.__pydantic_fields__
    values = event.__dict__.copy()
    extra = dict(event.__pydantic_extra__ or ())
    for name, value in update.items():
        (values if name in fields else extra)[name] = value
    copied = cls.__new__(cls)
    object.__setattr__(copied, "__dict__", values)
    object.__setattr__(copied, "__pydantic_extra__", extra)
    fields_set = event.__pydantic_fields_set__ | update.keys()  # (`model_fields_set`: 1 µs)
    object.__setattr__(copied, "__pydantic_fields_set__", fields_set)
    object.__setattr__(copied, "__pydantic_private__", None)
    return copied


def _printed(core: Core, values: dict[str, Any], event: Registration) -> Printed:
    phone = event.identity.phone
    e164 = normalise_phone(phone) if phone is not None else None
    on = event.occurred_at.date()
    found = fingerprints(values, core.identity_key, on, phone=lambda _: e164)
    return Printed(values, on, e164, found)


def print_ahead(core: Core, event: Registration) -> list[tuple[str, str]]:
    """The identity values (kind, fingerprint) a registration about to come claims, worked
    out now (claims ahead hold them with its account) and kept for its `identify`, which
    then does not work them out again."""
    given = core.given.get(event.event_id) if core.given else None
    if given is not None:
        return given.all()
    values = event.identity.model_dump(exclude_none=True)
    if not values:
        return []
    printed = core.printed[event.event_id] = _printed(core, values, event)
    return printed.prints.all()


def _phone_facts(event: Registration, e164: str | None) -> dict[str, Any]:
    """The engine's phone facts (`phones.facts_of`) as the registration's `phone_kind` and
    `phone_country`, whatever a sender put there (None: absent); nothing to change, {}."""
    kind, country = facts_of(e164) if event.identity.phone is not None else (None, None)
    extra = event.model_extra or {}
    if kind is None and not any(extra.get(name) is not None for name in PHONE_FACTS):
        return {}
    return {"phone_kind": kind, "phone_country": country}


def _verification(sent: Verification | None, problems: tuple[str, ...]) -> dict[str, Any]:
    """A value that fails its check makes the verification a failed one: an invalid ID
    number always, another problem unless a failure was sent (what was, kept as
    `verification_received`)."""
    if not problems or not (
        INVALID_ID_NUMBER in problems or sent is None or sent.status != "failed"
    ):
        return {}
    reason = INVALID_ID_NUMBER if INVALID_ID_NUMBER in problems else problems[0]
    update: dict[str, Any] = {"verification": Verification(status="failed", reason=reason)}
    if sent is not None:
        update["verification_received"] = sent.model_dump(exclude_none=True)
    return update


def entries_at(
    core: Core, prints: list[tuple[str, str]], at_us: int | None
) -> list[BlacklistEntry]:
    """Entries in force at `at_us` for these fingerprints: the listing in memory answers,
    the store gives the details of what it finds."""
    listed = core.mirrors.listed
    return [
        entry_of(row)
        for kind, fingerprint in prints
        if listed.in_force(fingerprint, at_us)
        for row in core.store.entries_at(kind, fingerprint, at_us)
    ]


def sync(
    core: Core, ctx: EventContext, account_id: str, at: datetime, event_id: str | None
) -> None:
    """Make the account's blacklist entries what its standing blacklist decisions and
    verified identity call for: each verified ID number and phone under each standing
    blacklist decision. Only what passed verification is listed, and never an ID number
    found to be someone else's (the victim's). Every change is an audit record."""
    wanted = _wanted(core, account_id)
    held = {
        (row.kind, row.fingerprint, row.decision_id): entry_of(row)
        for row in core.store.entries(account_id)
    }
    for key in sorted(held.keys() - wanted.keys()):
        _remove(core, ctx, key, held[key], at, event_id)
    for key in sorted(wanted.keys() - held.keys()):
        _enter(core, ctx, wanted[key], event_id)


def _wanted(core: Core, account_id: str) -> dict[EntryKey, BlacklistEntry]:
    """The entries the account's standing blacklist decisions call for."""
    store, clock = core.store, core.mirrors.clock
    standing = [
        d.decision
        for d in store.standing(account_id, utc_text(clock) if clock else None)
        if d.decision.action == Action.BLACKLIST
    ]
    wanted: dict[EntryKey, BlacklistEntry] = {}
    if not standing or not store.has_verification(account_id, "passed"):
        return wanted
    victim = store.has_verification(account_id, "failed", VICTIM)
    for value in store.identities_of(account_id):
        kind, fingerprint = value.kind, value.fingerprint
        if kind not in LISTED_KINDS or (kind == ID_NUMBER and victim):
            continue
        for decision in standing:
            wanted[(kind, fingerprint, decision.decision_id)] = _entry_for(
                core, decision, kind, fingerprint
            )
    return wanted


def _entry_for(core: Core, decision: Decision, kind: str, fingerprint: str) -> BlacklistEntry:
    rule = core.index.rules.get(decision.rule_id)
    listed_for = rule.listed_for if rule is not None else None
    return BlacklistEntry(
        kind=kind,
        decision_id=decision.decision_id,
        account_id=decision.account_id,
        rule_id=decision.rule_id,
        reason=decision.reason,
        entered_at=decision.effective_at,
        ends_at=decision.effective_at + listed_for if listed_for else None,
        fingerprint=fingerprint,
    )


def _remove(
    core: Core,
    ctx: EventContext,
    key: EntryKey,
    entry: BlacklistEntry,
    at: datetime,
    event_id: str | None,
) -> None:
    """Remove an entry no standing decision calls for any more."""
    store, listed = core.store, core.mirrors.listed
    start, end = span(entry)
    # In force until its removal (a registration before it still met it), unless its
    # decision was reversed: then it never was, whatever arrives later.
    found = store.decision(entry.decision_id)
    void = found is not None and found.reversed_by is not None
    removed_us = start if void else to_micros(at)
    store.remove_entry(*key, removed_us, event_id)
    ctx.moved = True
    listed.remove(entry.fingerprint, start, end)
    if removed_us > start:
        listed.add(entry.fingerprint, start, min(end or removed_us, removed_us))
    at_text = utc_text(at)
    record = {
        **entry.to_dict(),
        "removed_at": at_text,
        "by_event": event_id,
        "void_from_start": void,
    }
    store.audit(
        "blacklist_entry_removed",
        record,
        account_id=entry.account_id,
        event_id=event_id,
        decision_id=entry.decision_id,
        occurred_at=at_text,
    )


def _enter(core: Core, ctx: EventContext, entry: BlacklistEntry, event_id: str | None) -> None:
    """Enter an entry a standing decision calls for, and decide again what it reaches."""
    ends_us = to_micros(entry.ends_at) if entry.ends_at else None
    core.claim(entry.account_id, [(entry.kind, entry.fingerprint)])  # before its catch-up reads
    core.store.enter(
        entry.kind,
        entry.fingerprint,
        entry.decision_id,
        entry.account_id,
        entry.rule_id,
        entry.reason,
        to_micros(entry.entered_at),
        ends_us,
    )
    ctx.moved = True
    core.mirrors.listed.add(entry.fingerprint, *span(entry))
    core.store.audit(
        "blacklist_entry",
        entry.to_dict(),
        account_id=entry.account_id,
        event_id=event_id,
        decision_id=entry.decision_id,
        occurred_at=utc_text(entry.entered_at),
    )
    _catch_up(core, ctx, entry, event_id)


def _catch_up(core: Core, ctx: EventContext, entry: BlacklistEntry, event_id: str | None) -> None:
    """Registrations with the entry's value, later in event time but processed before it:
    in time order they would have matched it, so they are decided now (in the outcome of
    the event that made the entry), and arrival order changes nothing."""
    reads = core.index.reads_blacklist
    if not reads:
        return
    ends_us = to_micros(entry.ends_at) if entry.ends_at else None
    found = core.store.registrations_with(
        entry.kind, entry.fingerprint, to_micros(entry.entered_at), ends_us
    )
    for row in found:
        account_id, registration_id, at_us = row.account_id, row.event_id, row.registered_us
        if account_id == entry.account_id:
            continue
        core.claim(account_id)  # (another writer's account: its status as committed)
        if core.status(account_id) == Status.BLACKLISTED:
            continue
        deciding.decide_stored(
            core,
            ctx,
            registration_id,
            account_id,
            at_us,
            {BLACKLISTED_IDENTITY: True},
            reads,
            entry.decision_id,
            dict.fromkeys(reads, (registration_id, entry.decision_id)),
            event_id or registration_id,
        )


def entry_of(row: StoredEntry) -> BlacklistEntry:
    """A blacklist entry from the store's row of it."""
    return BlacklistEntry(
        kind=row.kind,
        decision_id=row.decision_id,
        account_id=row.account_id,
        rule_id=row.rule_id,
        reason=row.reason,
        entered_at=from_micros(row.entered_us),
        ends_at=from_micros(row.ends_us) if row.ends_us is not None else None,
        fingerprint=row.fingerprint,
    )


def span(entry: BlacklistEntry) -> tuple[int, int | None]:
    return to_micros(entry.entered_at), to_micros(entry.ends_at) if entry.ends_at else None


def lookup(
    core: Core, identity: Mapping[str, object], at: datetime | str | None
) -> tuple[list[tuple[str, str]], int | None]:
    """The fingerprints of an identity asked about, and the moment asked for (default: the
    clock); `EventError` for unknown keys or values that are not text."""
    try:
        prints = lookup_prints(identity, core.identity_key)
    except ValueError as exc:
        raise EventError(str(exc), path="identity") from None
    moment = parse_time(at) if at is not None else core.mirrors.clock
    return prints, to_micros(moment) if moment is not None else None
