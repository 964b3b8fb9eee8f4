"""Record: a decision's row and audit record, the deadlines it starts, the status it sets
(with the statuses mirror), the blacklist entries it calls for; statuses recomputed from the
decisions that stand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from blacklist_rules.model.decisions import (
    Action,
    Decision,
    DecisionRecord,
    Mode,
    Status,
    StatusChange,
)
from blacklist_rules.model.events import to_micros, utc_text
from blacklist_rules.stores.audit_crosscheck import DEADLINE_ROW, deadline_record, vouched
from blacklist_rules.stores.records import Deadline, serialised

from . import deadlines, registry
from .context import EventContext
from .core import Core


def record_decision(core: Core, ctx: EventContext, decision: Decision, event_id: str) -> None:
    """Store the decision and its audit record; start the deadlines it anchors; set the
    status it calls for and the blacklist entries of a blacklist."""
    store = core.store
    record = DecisionRecord(decision)
    expires = utc_text(decision.expires_at) if decision.expires_at else None
    store.add_decision(record, event_id, utc_text(decision.effective_at), expires)
    started = []  # the deadlines it starts: its audit record vouches for them
    if decision.mode == Mode.ENFORCE:
        start_us = to_micros(decision.effective_at)
        for rule in core.index.anchored.get(decision.rule_id, ()):
            row = deadlines.schedule(
                core, ctx, rule, decision.account_id, decision.decision_id, event_id, start_us
            )
            if row is not None:
                started.append(row)
    store.audit(
        "decision",
        vouch(core, record, started),
        account_id=decision.account_id,
        event_id=event_id,
        decision_id=decision.decision_id,
        occurred_at=utc_text(decision.effective_at),
    )
    if decision.expires_at is not None:
        core.mirrors.due_by(decision.expires_at)
    now = core.status(decision.account_id)  # (its `status_before` may be an earlier time's)
    if decision.mode == Mode.ENFORCE and decision.status_after.severity > now.severity:
        set_status(
            core,
            ctx,
            decision.account_id,
            now,
            decision.status_after,
            f"decision {decision.decision_id}",
            decision.effective_at,
            event_id,
            decision.decision_id,
        )
    if decision.mode == Mode.ENFORCE and decision.action == Action.BLACKLIST:
        registry.sync(core, ctx, decision.account_id, decision.effective_at, event_id)


def vouch(core: Core, record: DecisionRecord, started: Sequence[Deadline] = ()) -> dict[str, Any]:
    """A decision's audit record (JSON: the trail's edge): it vouches for its evidence events
    as stored and the deadlines it started (`audit_crosscheck.vouched`); its row and output
    are the record. Its text is the row's with `VOUCHES` added (`serialised`)."""
    evidence = list(record.decision.evidence)
    rows = core.store.event_rows(evidence) if evidence else ()
    base = record.to_dict()
    return serialised(record, base, vouched(base, rows, started))


def audit_deadline(core: Core, row: Deadline | None) -> None:
    """Say in the trail what a deadline row now is, when no decision's record says so:
    `audit verify` checks the row against it."""
    if row is not None:
        core.store.audit(DEADLINE_ROW, deadline_record(row), account_id=row.account_id)


def set_status(
    core: Core,
    ctx: EventContext,
    account_id: str,
    before: Status,
    after: Status,
    cause: str,
    at: datetime,
    event_id: str | None,
    decision: str | None = None,
) -> None:
    """Store the account's new status, with the statuses mirror, and say why."""
    core.store.set_status(account_id, after)
    ctx.moved = True
    if after == Status.ACTIVE:
        core.mirrors.statuses.pop(account_id, None)
    else:
        core.mirrors.statuses[account_id] = after
    change = StatusChange(account_id, before, after, cause, at, event_id, decision)
    core.store.audit(
        "status_change",
        change.to_dict(),
        account_id=account_id,
        event_id=event_id,
        decision_id=decision,
        occurred_at=utc_text(at),
    )
    ctx.changes.append(change)


def recompute(
    core: Core, ctx: EventContext, account_id: str, cause: str, at: datetime, event_id: str | None
) -> None:
    """Status from the decisions still standing; `active` when none stands."""
    clock = core.mirrors.clock
    standing = core.store.standing(account_id, utc_text(clock) if clock else None)
    after = max(
        (d.decision.action.status for d in standing),
        key=lambda s: s.severity,
        default=Status.ACTIVE,
    )
    before = core.status(account_id)
    if after != before:
        set_status(core, ctx, account_id, before, after, cause, at, event_id)
