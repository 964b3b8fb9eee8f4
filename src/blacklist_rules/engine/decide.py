"""Decide: of the rules that hold on an occasion, the most severe that takes effect; a person's
reversal vetoes a decision for good. Also the decisions taken aside from the current event's
own: a deadline's, a stored event's decided again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from blacklist_rules.errors import EvaluationError
from blacklist_rules.model.decisions import Action, Decision, Mode, RuleMatch, Status, decision_id
from blacklist_rules.model.events import from_micros, parse_event, utc_text
from blacklist_rules.stores.records import Veto

from . import match as matching
from . import record as recording
from .account import account_facts
from .context import EventContext, Occasion
from .core import Core
from .lists import listed_facts
from .prior import prior_facts


def decide(
    core: Core, account_id: str, occasion: Occasion, mode: Mode, status: Status | None = None
) -> Decision | None:
    """The most severe match that takes effect: automation never lowers a status (the
    current one, or `status`: the account's at the occasion's time, for an event decided
    again in time order)."""
    matches = sorted((m for m in occasion.matches if m.mode == mode), key=_precedence)
    vetoes = core.mirrors.vetoed
    if mode == Mode.ENFORCE and vetoes:
        at = utc_text(occasion.at)
        for m in matches:
            vetoed = vetoes.get(Veto(account_id, m.rule_id, at))
            evidence = occasion.evidence.get(m.rule_id, (occasion.event_id,))
            if vetoed is not None and vetoed.intersection(evidence):
                return None  # a person reversed this decision: it is never taken again
    before = core.status(account_id) if status is None else status
    for best in matches:
        rule = core.ruleset.rule(best.rule_id)
        expires = occasion.at + rule.duration if rule.duration else None
        if _takes_effect(core, account_id, best, occasion.at, expires, before):
            break
    else:
        return None
    enforce = best.mode == Mode.ENFORCE
    return Decision(
        decision_id=decision_id(occasion.key, account_id, best.mode),
        account_id=account_id,
        action=best.action,
        rule_id=best.rule_id,
        rule_version=best.rule_version,
        ruleset_digest=core.digest,
        evidence=occasion.evidence.get(best.rule_id, (occasion.event_id,)),
        reason=best.reason,
        mode=best.mode,
        effective_at=occasion.at,
        expires_at=expires,
        status_before=before,
        status_after=max(before, best.action.status, key=lambda s: s.severity)
        if enforce
        else before,
        end_condition=rule.until if best.action == Action.FREEZE else None,
        matched=tuple(matching.exact(core, m, occasion) for m in matches),
        anchor=occasion.anchor,
    )


def _takes_effect(
    core: Core,
    account_id: str,
    match: RuleMatch,
    at: datetime,
    expires: datetime | None,
    status: Status,
) -> bool:
    """Above the status, or a freeze of a frozen account that no freeze of the same rule
    already covers: freezes end on their own terms, so each reason stands on its own."""
    if match.action.status.severity > status.severity:
        return True
    if match.action != Action.FREEZE or status != Status.FROZEN:
        return False
    until = utc_text(expires) if expires else None
    return not core.store.covered(account_id, match.rule_id, match.mode, utc_text(at), until)


def _precedence(match: RuleMatch) -> tuple[int, int, str]:
    """Most severe first; then the lower priority number; then the rule id, for determinism."""
    return (-match.action.severity, match.priority, match.rule_id)


def decide_aside(
    core: Core,
    ctx: EventContext,
    account_id: str,
    occasion: Occasion,
    event_id: str,
    status: Status | None = None,
) -> bool:
    """Decide an occasion that is not the current event's own (a deadline, a stored
    registration decided again): recorded at once, returned in the outcome's decisions.
    Whether any was. `status`: as `decide`'s."""
    recorded = False
    for mode in (Mode.ENFORCE, Mode.SHADOW):
        decision = decide(core, account_id, occasion, mode, status)
        if decision is not None:
            recording.record_decision(core, ctx, decision, event_id)
            ctx.decided.append(decision)
            recorded = True
    return recorded


def decide_stored(
    core: Core,
    ctx: EventContext,
    registration_id: str,
    account_id: str,
    at_us: int,
    derived: dict[str, Any],
    rule_ids: frozenset[str],
    cause: str,
    evidence: Mapping[str, tuple[str, ...]],
    event_id: str,
) -> None:
    """Decide a stored event again with what it could not see when it came (a blacklist
    entry, a window a late event completed): only the rules `rule_ids` may decide, the
    decisions come in the outcome of the event being processed (`event_id`)."""
    payload = core.store.event_payload(registration_id)
    if payload is None:
        raise EvaluationError(f"the stored event {registration_id} is gone")
    stored = parse_event(payload)
    ruleset = core.ruleset
    snapshot = ruleset.snapshot(ruleset.flat(stored), stored.type)
    if stored.type in core.index.reads_account:
        snapshot.update(account_facts(core.store, account_id, at_us))
    tests = core.index.prior.get(stored.type, {}).values()
    snapshot.update(prior_facts(core.store, account_id, at_us, tests, registration_id)[0])
    lists = core.index.listed.get(stored.type, ())
    snapshot.update(listed_facts(core.store, account_id, at_us, lists))
    snapshot.update(derived)
    held = [r for r in ruleset.by_type.get(stored.type, ()) if r.guard(snapshot)]
    names = [it.name for it in ruleset.listeners.get(stored.type, ()) if it.guard(snapshot)]
    core.agree(f"{registration_id} again ({cause})", snapshot, [r.id for r in held] + names)
    new = [rule for rule in held if rule.id in rule_ids]
    occasion = Occasion(
        from_micros(at_us),
        f"{registration_id}@{cause}",
        registration_id,
        tuple(matching.match_of(rule, snapshot) for rule in new),
        {rule.id: evidence[rule.id] for rule in new},
    )
    decide_aside(core, ctx, account_id, occasion, event_id)
