"""Account facts: what rules may know of the account itself when one of its events comes,
`account.status` (its status just before the event, in event time) and `account.age` (event
time since its first registration), read from the decisions and events stored."""

from __future__ import annotations

import json
from datetime import datetime

from blacklist_rules.model.decisions import Mode, Status
from blacklist_rules.model.events import ACCOUNT_AGE, ACCOUNT_STATUS, to_micros
from blacklist_rules.stores.protocols import Store

MAX_REGISTRATIONS = 1000
"""An account's registrations read for its age (newest first): far more than any has."""


def account_facts(store: Store, account_id: str, at_us: int) -> dict[str, str | int]:
    """`account.status` and, if the account registered at or before `at_us`, `account.age`
    (in µs) for an event of the account at `at_us`."""
    facts: dict[str, str | int] = {ACCOUNT_STATUS: str(status_at(store, account_id, at_us))}
    first = first_registration(store, account_id, at_us)
    if first is not None:
        facts[ACCOUNT_AGE] = at_us - first
    return facts


def status_at(
    store: Store, account_id: str, at_us: int, besides: frozenset[str] | None = None
) -> Status:
    """The account's status just before `at_us`: the most severe of its enforced decisions,
    not reversed, that took effect before `at_us` and had not ended (expired, lifted, ended
    by a verification) by then. A decision at the very same moment does not count yet (with
    `besides`, the ids of an event's own decisions, every other one at that moment does: the
    status an event at `at_us` is decided against in time order, deadlines due then fired),
    and a reversed one never counts (a reversal voids it): the answer is the same whatever
    order the decisions were recorded in."""
    status = Status.ACTIVE
    for taken in store.taken_of({account_id}):
        decision = taken.decision
        at = to_micros(decision.effective_at)
        now = besides is not None and at == at_us and decision.decision_id not in besides
        if decision.mode != Mode.ENFORCE or (at >= at_us and not now):
            continue
        ends = [_micros(taken.ended_at)] if taken.ended_at else []
        if decision.expires_at is not None:
            ends.append(to_micros(decision.expires_at))
        if ends and min(ends) <= at_us:
            continue
        found = decision.action.status
        if found.severity > status.severity:
            status = found
    return status


def first_registration(store: Store, account_id: str, at_us: int) -> int | None:
    """The time (µs) of the account's first registration at or before `at_us`, or None."""
    times = [
        moment
        for payload in store.account_events(account_id, ("registration",), MAX_REGISTRATIONS)
        if (moment := _micros(json.loads(payload)["occurred_at"])) <= at_us
    ]
    return min(times, default=None)


def _micros(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))
