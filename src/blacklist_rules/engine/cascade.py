"""The reversal cascade: what a person's reversal reached, re-evaluated as if the reversed
decisions' evidence never came. The linked accounts are replayed without it in a scratch
world (`scratch`), and this store is reconciled with what the replay took."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from blacklist_rules.model.decisions import (
    CASCADE,
    HUMAN_REVIEW,
    Decision,
    DecisionRecord,
    ReEvaluation,
    Reversal,
    decision_id,
)
from blacklist_rules.model.events import (
    AppealOutcome,
    ReviewDecision,
    from_micros,
    to_micros,
    utc_text,
)
from blacklist_rules.stores.records import Deadline, TakenDecision

from . import record as recording
from . import registry, scratch
from .context import EventContext
from .core import Core
from .mirrors import due

FELL = "re-evaluated without the reversed decision and its evidence: no longer taken"

Pair = tuple[Decision, Decision | None]
"""One of our decisions and the same decision in the replay, if it took it."""


@attrs.frozen
class Reach:
    """Which decisions a reversal can have changed."""

    settled: str
    """The history cut as UTC text ('' without one)."""
    arrival: Mapping[str, int]
    boundary: int
    start: int
    since: str

    def replayed(self, row: TakenDecision) -> bool:
        """Automatic, and not settled by a history cut (taken before it, on an event that
        came before the replay's start): the replay decided it again. One the replay no
        longer takes falls wherever it lies: a late event that came after the first one the
        reversal touches can take back, in time order, what lies before both."""
        if row.decision.rule_id == HUMAN_REVIEW:
            return False
        taken = utc_text(row.decision.effective_at)
        return not (taken < self.settled and self.arrival.get(row.event_id, 0) < self.boundary)

    def __call__(self, row: TakenDecision) -> bool:
        """`replayed`, and taken on an event that came after the first one the reversal
        touches, or at a moment after it: what lies before both the replay takes as we
        did, unless a later event took it back (`replayed`, in `_pair`)."""
        if not self.replayed(row):
            return False
        taken = utc_text(row.decision.effective_at)
        return self.arrival.get(row.event_id, self.start) >= self.start or taken >= self.since


def cascade(
    core: Core,
    ctx: EventContext,
    reversed_decisions: list[Decision],
    event: ReviewDecision | AppealOutcome,
    cause: str,
) -> None:
    """Re-evaluate what the reversed decisions reached, as if their evidence never came.

    The evidence each was taken on is withdrawn (it stops counting in every window). The
    accounts linked to this one are replayed without it on a scratch engine, in the order
    their events came and under the clock each came at, with every decision a person
    reversed vetoed. From the first event and moment the reversal touches, the two are
    reconciled: an automatic decision the replay no longer takes is reversed in its own
    record, linked to the cause; one it takes that was never taken (a freeze a blacklist
    had made pointless, a late strike's blacklist) is recorded as re-evaluated; shadow
    decisions alike, so a shadow rule is judged on the evidence that stands. Statuses
    and blacklist entries follow. The replay runs the pack in force, as late events do.
    """
    store = core.store
    withdrawn = _withdraw(core, reversed_decisions, event)
    fallen = sorted(decision.decision_id for decision in reversed_decisions)
    ctx.moved = True
    for key, evidence in store.vetoed(fallen).items():  # theirs join the vetoes
        core.mirrors.vetoed.setdefault(key, set()).update(evidence)
    touched = {*withdrawn, *store.recorded_by(fallen).values()}
    accounts = _linked_claimed(core, event.account_id)
    found, waiting, boundary = scratch.replay_without(core, accounts)
    old = store.taken_of(accounts)
    arrival = store.arrivals({*touched, *(row.event_id for row in (*old, *found))})
    since = min(
        [utc_text(decision.effective_at) for decision in reversed_decisions]
        + [utc_text(from_micros(at_us)) for at_us in withdrawn.values()]
    )
    reach = Reach(
        _settled(core, event, fallen, since),
        arrival,
        boundary,
        min((arrival[e] for e in touched if e in arrival), default=0),
        since,
    )
    link = {"by_event": event.event_id, "cascade_of": fallen}
    again = ReEvaluation(event.event_id, tuple(fallen), utc_text(event.occurred_at))
    pairs, added, ids = _pair(old, found, reach, event.event_id)
    gone = {*withdrawn, *fallen}
    gone.update(decision.decision_id for decision, twin in pairs if twin is None)
    _reconcile(core, ctx, pairs, ids, gone, link, event)
    _add(core, ctx, added, ids, again, event)
    ctx.replayed.update(fallen, (ours.decision_id for ours, twin in pairs if twin is None))
    ctx.replayed.update(ids[row.decision.decision_id] for row in added)
    _carry(core, waiting, ids, accounts, withdrawn)
    for account in sorted(accounts):
        recording.recompute(core, ctx, account, cause, event.occurred_at, event.event_id)
    for account in sorted(accounts):
        registry.sync(core, ctx, account, event.occurred_at, event.event_id)
    core.mirrors.next_due = due(store)


def _linked_claimed(core: Core, account_id: str) -> set[str]:
    """The accounts linked to this one, each held against other writers before the replay
    reads them (`Core.claim`); read again until no other writer's commit added one."""
    accounts = core.store.linked_accounts(account_id, core.index.linking)
    while True:
        for account in sorted(accounts):
            core.claim(account)
        if not core.store.shared:
            return accounts
        again = core.store.linked_accounts(account_id, core.index.linking)
        if again <= accounts:
            return accounts
        accounts |= again


def _settled(
    core: Core, event: ReviewDecision | AppealOutcome, fallen: list[str], since: str
) -> str:
    """The history cut as text; an audit record when the reversal reaches behind it: what
    followed before the cut stays as it was."""
    cut = core.store.history_cut_us
    settled = utc_text(from_micros(cut)) if cut is not None else ""
    if since < settled:
        core.store.audit(
            "cascade_settled",
            {"by_event": event.event_id, "cascade_of": fallen, "history_cut": settled},
            account_id=event.account_id,
            event_id=event.event_id,
            occurred_at=utc_text(event.occurred_at),
        )
    return settled


def _pair(
    old: list[TakenDecision], found: list[TakenDecision], reach: Reach, by_event: str
) -> tuple[list[Pair], list[TakenDecision], dict[str, str]]:
    """Our decisions the reversal reached, each with its twin in the replay (or None); the
    replay's decisions we never took; and the replay's decision ids -> ours (new ids for
    those we never took)."""
    twins: dict[tuple[str, ...], list[TakenDecision]] = {}
    for row in found:
        twins.setdefault(_content(row.decision), []).append(row)
    ids: dict[str, str] = {}
    pairs: list[Pair] = []
    for row in old:
        same = twins.get(_content(row.decision))
        twin = same.pop(0).decision if same else None
        if twin is not None:
            ids[twin.decision_id] = row.decision.decision_id
        if reach(row) or (twin is None and reach.replayed(row)):
            pairs.append((row.decision, twin))
    added = [row for row in found if row.decision.decision_id not in ids and reach(row)]
    for taken in (row.decision for row in added):
        seed = f"{taken.decision_id}@{by_event}"
        ids[taken.decision_id] = decision_id(seed, taken.account_id, taken.mode)
    return pairs, added, ids


def _reconcile(
    core: Core,
    ctx: EventContext,
    pairs: list[Pair],
    ids: dict[str, str],
    gone: set[str],
    link: dict[str, Any],
    event: ReviewDecision | AppealOutcome,
) -> None:
    """A decision the replay no longer takes is reversed; one whose evidence is partly gone
    but that the replay still takes says what still supports it."""
    at_text = utc_text(event.occurred_at)
    for ours, twin in pairs:
        decision = ours.decision_id
        if twin is None:
            core.store.reverse_decision(decision, event.event_id, CASCADE)
            ctx.reversals.append(Reversal(decision, ours.account_id, CASCADE, event.event_id))
            kind, what = "reversal", {"by": CASCADE, **link, "reason": FELL}
        elif gone.intersection(ours.evidence):
            supported = [ids.get(item, item) for item in twin.evidence]
            kind, what = "re_evaluation", {"still_supported_by": supported, **link}
        else:
            continue
        core.store.audit(
            kind,
            {"decision_id": decision, **what},
            account_id=ours.account_id,
            event_id=event.event_id,
            decision_id=decision,
            occurred_at=at_text,
        )


def _add(
    core: Core,
    ctx: EventContext,
    added: list[TakenDecision],
    ids: dict[str, str],
    again: ReEvaluation,
    event: ReviewDecision | AppealOutcome,
) -> None:
    """The replay's decisions we never took: recorded now, dated at their past moment."""
    store = core.store
    for taken, ended in ((row.decision, row.ended_at) for row in added):
        anchor = taken.anchor
        decision = attrs.evolve(
            taken,
            decision_id=ids[taken.decision_id],
            evidence=tuple(ids.get(item, item) for item in taken.evidence),
            anchor=ids.get(anchor, anchor) if anchor else None,
        )
        # Decided now, dated at its past moment: `decided_at` says when it was decided.
        stored = DecisionRecord(decision, again)
        expires = utc_text(decision.expires_at) if decision.expires_at else None
        at = utc_text(decision.effective_at)
        store.add_decision(stored, event.event_id, at, expires)
        store.audit(
            "decision",
            recording.vouch(core, stored),
            account_id=decision.account_id,
            event_id=event.event_id,
            decision_id=decision.decision_id,
            occurred_at=at,
        )
        if ended is not None:
            store.end_decision(decision.decision_id, ended)
        ctx.decided.append(decision)


def _carry(
    core: Core,
    waiting: list[Deadline],
    ids: dict[str, str],
    accounts: set[str],
    withdrawn: dict[str, int],
) -> None:
    """The replay's pending deadlines join ours (one we have, pending or not, stays as it
    is); ours counted from an event that no longer counts are void."""
    store = core.store
    for due_row in waiting:
        kept = attrs.evolve(
            due_row, anchor_id=ids.get(due_row.anchor_id, due_row.anchor_id), state="pending"
        )
        if store.add_deadline(*attrs.astuple(kept)):
            recording.audit_deadline(core, kept)
        core.mirrors.waiting.add(due_row.account_id)
    for due_row in store.pending_deadlines_of(accounts):
        if due_row.anchor_id in withdrawn:
            recording.audit_deadline(
                core, store.set_deadline_state(due_row.rule_id, due_row.anchor_id, "void")
            )


def _withdraw(
    core: Core, reversed_decisions: list[Decision], event: ReviewDecision | AppealOutcome
) -> dict[str, int]:
    """Withdraw the evidence each reversed decision was taken on: the events of its evidence
    at its own moment (the strike that completed a window, the report, the reviewer's own
    event), never a registration (the account's identity stays), nothing for a deadline's
    decision. They leave every window; their ids and times."""
    store = core.store
    found: dict[str, int] = {}
    for decision in reversed_decisions:
        at_us = to_micros(decision.effective_at)
        for logged in store.events_of(list(decision.evidence)):
            event_id, account, occurred_us = logged.event_id, logged.account_id, logged.occurred_us
            if (
                logged.type == "registration"
                or occurred_us != at_us
                or account != decision.account_id
            ):
                continue
            if not store.withdraw(event_id, event.event_id, decision.decision_id):
                continue
            for key in core.ruleset.streams:
                store.forget_history(key, account, occurred_us, event_id)
            store.audit(
                "evidence_withdrawn",
                {
                    "event_id": event_id,
                    "decision_id": decision.decision_id,
                    "by_event": event.event_id,
                },
                account_id=account,
                event_id=event.event_id,
                decision_id=decision.decision_id,
                occurred_at=utc_text(event.occurred_at),
            )
            found[event_id] = occurred_us
    return found


def _content(decision: Decision) -> tuple[str, ...]:
    """What makes two worlds' decisions the same decision, whatever their ids."""
    expires = decision.expires_at
    return (
        decision.account_id,
        decision.mode,
        decision.rule_id,
        decision.action,
        utc_text(decision.effective_at),
        utc_text(expires) if expires else "",
    )
