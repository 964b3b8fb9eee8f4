"""The effects of an event by itself: a passed verification ends freezes, a reviewer decides
or lifts, an appeal is upheld or overturned; reversals start the cascade."""

from __future__ import annotations

from blacklist_rules.errors import EventError
from blacklist_rules.model.decisions import (
    HUMAN_REVIEW,
    Action,
    Decision,
    Mode,
    Reversal,
    Status,
    decision_id,
)
from blacklist_rules.model.events import (
    AppealOutcome,
    Event,
    IdentityVerification,
    Registration,
    ReviewDecision,
    from_micros,
    to_micros,
    utc_text,
)

from . import cascade, registry
from . import record as recording
from .context import EventContext
from .core import Core

VERIFICATION_PASSED = "verification_passed"
"""The end condition of a freeze a passed verification ends."""


def apply_event(core: Core, ctx: EventContext, event: Event) -> list[Decision]:
    """Effects of the event itself: passed verifications, human reviews, appeals."""
    if isinstance(event, IdentityVerification | Registration):
        _verified(core, ctx, event)
        return []
    if isinstance(event, ReviewDecision):
        return _review(core, ctx, event)
    if isinstance(event, AppealOutcome):
        _appeal(core, ctx, event)
    return []


def _verified(core: Core, ctx: EventContext, event: IdentityVerification | Registration) -> None:
    passed = (
        event.status
        if isinstance(event, IdentityVerification)
        else event.verification.status
        if event.verification
        else None
    )
    if passed == "passed" and event.account_id in core.mirrors.statuses:
        ended = core.store.end_decisions(
            event.account_id, VERIFICATION_PASSED, utc_text(event.occurred_at)
        )
        if ended:
            recording.recompute(
                core,
                ctx,
                event.account_id,
                f"verification passed: {', '.join(ended)}",
                event.occurred_at,
                event.event_id,
            )
    if core.status(event.account_id) == Status.BLACKLISTED:
        # What passed (or was found to be a victim's) changes what is listed.
        registry.sync(core, ctx, event.account_id, event.occurred_at, event.event_id)


def _review(core: Core, ctx: EventContext, event: ReviewDecision) -> list[Decision]:
    if event.action != "lift":
        action = Action(event.action)
        before = core.status(event.account_id)
        after = max(before, action.status, key=lambda s: s.severity)
        return [
            Decision(
                decision_id=decision_id(event.event_id, event.account_id, Mode.ENFORCE),
                account_id=event.account_id,
                action=action,
                rule_id=HUMAN_REVIEW,
                rule_version=0,
                ruleset_digest=core.digest,
                evidence=(event.event_id,),
                reason=event.reason,
                mode=Mode.ENFORCE,
                effective_at=event.occurred_at,
                expires_at=None,
                status_before=before,
                status_after=after,
            )
        ]
    if event.decision_id is not None:
        _reverse(core, ctx, standing_decision(core, event, event.decision_id), event)
        return []
    # Every decision standing when the reviewer lifted (not those taken after a late
    # lift), reversed together: one status change, from the status to what remains.
    clock = core.mirrors.clock
    at = utc_text(event.occurred_at)
    standing = core.store.standing(event.account_id, utc_text(clock) if clock else None, at)
    lifted = [row.decision for row in standing]
    for decision in lifted:
        _mark_reversed(core, ctx, decision, event)
    if lifted:
        reversed_ids = ", ".join(decision.decision_id for decision in lifted)
        cascade.cascade(core, ctx, lifted, event, f"review_decision lifted {reversed_ids}")
    return []


def standing_decision(core: Core, event: ReviewDecision | AppealOutcome, wanted: str) -> Decision:
    """The enforced decision not yet reversed a reviewer or an appeal names, or `EventError`."""
    found = core.store.decision(wanted)
    if found is None or found.decision.account_id != event.account_id:
        raise EventError(
            f"no decision {wanted} on account {event.account_id}",
            path="decision_id",
            event_id=event.event_id,
        )
    decision = found.decision
    if found.reversed_by is not None:
        raise EventError(
            f"decision {wanted} was already reversed by {found.reversed_by}",
            path="decision_id",
            event_id=event.event_id,
        )
    if decision.mode != Mode.ENFORCE:
        raise EventError(
            f"decision {wanted} is a shadow decision: it never took effect",
            path="decision_id",
            event_id=event.event_id,
        )
    return decision


def _appeal(core: Core, ctx: EventContext, event: AppealOutcome) -> None:
    decision = standing_decision(core, event, event.decision_id)
    if event.outcome == "overturned":
        _reverse(core, ctx, decision, event)
        return
    core.store.audit(
        "appeal_upheld",
        {
            "decision_id": event.decision_id,
            "event_id": event.event_id,
            "reviewer_id": event.reviewer_id,
            "reason": event.reason,
        },
        account_id=event.account_id,
        event_id=event.event_id,
        decision_id=event.decision_id,
        occurred_at=utc_text(event.occurred_at),
    )


def _reverse(
    core: Core, ctx: EventContext, decision: Decision, event: ReviewDecision | AppealOutcome
) -> None:
    _mark_reversed(core, ctx, decision, event)
    cascade.cascade(core, ctx, [decision], event, f"{event.type} reversed {decision.decision_id}")


def _mark_reversed(
    core: Core, ctx: EventContext, decision: Decision, event: ReviewDecision | AppealOutcome
) -> None:
    core.store.reverse_decision(decision.decision_id, event.event_id, event.type)
    ctx.reversals.append(
        Reversal(decision.decision_id, decision.account_id, event.type, event.event_id)
    )
    core.store.audit(
        "reversal",
        {
            "decision_id": decision.decision_id,
            "by_event": event.event_id,
            "by": event.type,
            "reviewer_id": event.reviewer_id,
            "reason": event.reason,
        },
        account_id=event.account_id,
        event_id=event.event_id,
        decision_id=decision.decision_id,
        occurred_at=utc_text(event.occurred_at),
    )


def end_if_already_verified(
    core: Core, ctx: EventContext, decision: Decision, event_id: str
) -> None:
    """A freeze decided on a late event ends at once if a verification passed after it:
    in time order that check would have ended it, so arrival order changes nothing."""
    since = to_micros(decision.effective_at)
    passed = core.store.passed_verification_since(decision.account_id, since)
    if passed is None:
        return
    at = from_micros(passed.occurred_us)
    core.store.end_decision(decision.decision_id, utc_text(at))
    recording.recompute(
        core,
        ctx,
        decision.account_id,
        f"verification passed: {decision.decision_id} (by {passed.event_id}, which came earlier)",
        at,
        event_id,
    )
