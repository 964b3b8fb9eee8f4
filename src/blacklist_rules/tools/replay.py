"""Replay diff: the same events through two rule versions, side by side, and what differs.

Both versions run in one process on their own engine and db (files in a work folder, so memory
holds only the accounts that were decided about, never the events). Each event is parsed once
and handed to both. The report says which accounts end differently, grouped by transition
(`frozen → blacklisted`), how many decisions each rule took in each version, samples with their
evidence, the share of irreversible outcomes (enforced cancel and blacklist) that changed, and
enforced decisions per day (UTC) by action for both, every day from the first to the last.

Every changed account is listed with both versions' decisions; a decision a review or an appeal
(or the cascade) later reversed carries its reversal. The engine names a decision after its
event, account and mode, so both versions' decisions on one event share the engine's id: in the
report a decision's `decision_id` is qualified by its side (`baseline:d-…`, `candidate:d-…`),
and `engine_decision_id` keeps the engine's.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from blacklist_rules.engine import Engine, Outcome
from blacklist_rules.model.decisions import Action, Decision, DecisionRecord, Mode
from blacklist_rules.model.events import ParsedLine, to_micros
from blacklist_rules.model.identity import IdentityKey
from blacklist_rules.pack.compiler import CompiledRuleset
from blacklist_rules.stores.sqlite import SQLiteStore

IRREVERSIBLE = frozenset({"cancel", "blacklist"})
SIDES = ("baseline", "candidate")


def _summary(decision: Decision, side: str) -> dict[str, Any]:
    return {
        "decision_id": f"{side}:{decision.decision_id}",
        "engine_decision_id": decision.decision_id,
        "action": str(decision.action),
        "rule_id": decision.rule_id,
        "mode": str(decision.mode),
        "effective_at": decision.effective_at.isoformat(),
        "evidence": list(decision.evidence),
        "reversal": None,
    }


@attrs.define
class _Taken:
    """What both versions decided, per side and account, in order; a reversal is written onto
    the decision it reverses (`reversal`: by what, which event, when)."""

    decided: dict[str, dict[str, list[dict[str, Any]]]] = attrs.field(
        factory=lambda: {side: defaultdict(list) for side in SIDES}
    )
    by_id: dict[str, dict[str, dict[str, Any]]] = attrs.field(
        factory=lambda: {side: {} for side in SIDES}
    )

    def take(self, side: str, outcome: Outcome, at: datetime) -> None:
        for decision in outcome.decisions:
            summary = _summary(decision, side)
            self.decided[side][decision.account_id].append(summary)
            self.by_id[side][decision.decision_id] = summary
        for reversal in outcome.reversals:
            reversed_one = self.by_id[side].get(reversal.decision_id)
            if reversed_one is not None:
                reversed_one["reversal"] = {
                    "by": reversal.by,
                    "by_event": reversal.by_event,
                    "at": at.isoformat(),
                }


def _outcome(decisions: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """What two versions must agree on: which rules took which actions, in which mode."""
    return Counter((d["rule_id"], d["action"], d["mode"]) for d in decisions)


def replay_diff(
    baseline: CompiledRuleset,
    candidate: CompiledRuleset,
    lines: Iterable[ParsedLine],
    workdir: Path,
    *,
    samples: int = 3,
    advanced: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Replay `lines` through both versions (dbs in `workdir`) and report the differences.
    `advanced(n)` is called after each event (a progress bar)."""
    # One key for both sides, so identity matches agree; it dies with the replay.
    key = IdentityKey(secrets.token_hex(32).encode(), "this replay")
    # No wall-clock bound: what a pack change does to a log must not depend on the day.
    engines = {
        side: Engine(ruleset, SQLiteStore(workdir / f"{side}.db"), identity_key=key, max_lead=None)
        for side, ruleset in zip(SIDES, (baseline, candidate), strict=True)
    }
    taken = _Taken()
    counts: Counter[str] = Counter()
    try:
        with engines["baseline"].batch(), engines["candidate"].batch():
            for item in lines:
                counts["events"] += 1
                if item.event is None:
                    counts["rejected"] += 1
                else:
                    refused = []
                    for side, engine in engines.items():
                        outcome = engine.process(item.event, line=item.line)
                        refused.append(outcome.rejection is not None)
                        taken.take(side, outcome, item.event.occurred_at)
                    if all(refused):  # a clash of event ids, say
                        counts["rejected"] += 1
                    elif any(refused):  # an appeal of a decision only one version took, say
                        counts["refused_by_one_version"] += 1
                if advanced is not None:
                    advanced(1)
        decided = taken.decided
        accounts = sorted(set(decided["baseline"]) | set(decided["candidate"]))
        statuses = {
            side: {account: str(engine.status(account)) for account in accounts}
            for side, engine in engines.items()
        }
    finally:
        for engine in engines.values():
            engine.close()
    return _report(baseline, candidate, decided, statuses, accounts, counts, samples)


def _report(
    baseline: CompiledRuleset,
    candidate: CompiledRuleset,
    decided: dict[str, dict[str, list[dict[str, Any]]]],
    statuses: dict[str, dict[str, str]],
    accounts: list[str],
    counts: Counter[str],
    samples: int,
) -> dict[str, Any]:
    changed = [
        account
        for account in accounts
        if statuses["baseline"][account] != statuses["candidate"][account]
        or _outcome(decided["baseline"][account]) != _outcome(decided["candidate"][account])
    ]
    return {
        "baseline": {"digest": baseline.digest, "rules": len(baseline.rules)},
        "candidate": {"digest": candidate.digest, "rules": len(candidate.rules)},
        "events": counts["events"],
        "rejected": counts["rejected"],
        "refused_by_one_version": counts["refused_by_one_version"],
        "accounts_decided": len(accounts),
        "accounts_changed": len(changed),
        "transitions": _transitions(changed, statuses, decided, samples),
        "accounts": [
            {
                "account_id": account,
                "from": statuses["baseline"][account],
                "to": statuses["candidate"][account],
                "baseline": decided["baseline"][account],
                "candidate": decided["candidate"][account],
            }
            for account in changed
        ],
        **_by_rule(decided),
        "per_day": per_day(decided),
    }


def _transitions(
    changed: list[str],
    statuses: dict[str, dict[str, str]],
    decided: dict[str, dict[str, list[dict[str, Any]]]],
    samples: int,
) -> list[dict[str, Any]]:
    """The changed accounts grouped by (baseline, candidate) final status, largest first."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for account in changed:
        groups[(statuses["baseline"][account], statuses["candidate"][account])].append(account)
    return [
        {
            "from": before,
            "to": after,
            "accounts": len(members),
            "account_ids": members,
            "samples": [
                {
                    "account_id": account,
                    "baseline": decided["baseline"][account],
                    "candidate": decided["candidate"][account],
                }
                for account in members[:samples]
            ],
        }
        for (before, after), members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))
    ]


def _by_rule(decided: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Decisions per rule and mode in each version, and the irreversible outcomes (enforced
    cancel and blacklist, by account and action) and the share present in one version only."""
    by_rule: dict[str, Counter[tuple[str, str]]] = {side: Counter() for side in SIDES}
    irreversible: dict[str, set[tuple[str, str]]] = {side: set() for side in SIDES}
    for side in SIDES:
        for account, decisions in decided[side].items():
            for d in decisions:
                by_rule[side][(d["rule_id"], d["mode"])] += 1
                if d["mode"] == Mode.ENFORCE and d["action"] in IRREVERSIBLE:
                    irreversible[side].add((account, d["action"]))
    rules = sorted(set(by_rule["baseline"]) | set(by_rule["candidate"]))
    union = irreversible["baseline"] | irreversible["candidate"]
    moved = irreversible["baseline"] ^ irreversible["candidate"]
    return {
        "rules": [
            {
                "rule_id": rule_id,
                "mode": mode,
                "baseline": by_rule["baseline"][(rule_id, mode)],
                "candidate": by_rule["candidate"][(rule_id, mode)],
            }
            for rule_id, mode in rules
        ],
        "irreversible": {
            "baseline": len(irreversible["baseline"]),
            "candidate": len(irreversible["candidate"]),
            "changed": len(moved),
            "percent": round(100 * len(moved) / len(union), 2) if union else 0.0,
        },
    }


def per_day(decided: dict[str, dict[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Enforced decisions per day (UTC) and side, by action, with their severity (freeze 1,
    cancel 2, blacklist 3): every day from the first decision to the last, none skipped, so a
    chart of them has an even date axis; no decision, no days."""
    tally: dict[str, dict[date, Counter[str]]] = {side: defaultdict(Counter) for side in SIDES}
    for side in SIDES:
        for decisions in decided[side].values():
            for d in decisions:
                if d["mode"] == Mode.ENFORCE:
                    day = datetime.fromisoformat(d["effective_at"]).astimezone(UTC).date()
                    tally[side][day][d["action"]] += 1
    days = set(tally["baseline"]) | set(tally["candidate"])
    if not days:
        return []
    first, last = min(days), max(days)
    rows = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        counts = {side: tally[side].get(day, Counter()) for side in SIDES}
        rows.append(
            {
                "date": day.isoformat(),
                **{side: counts[side].total() for side in SIDES},
                "actions": {
                    side: {str(action): counts[side][action] for action in Action} for side in SIDES
                },
                "severity": {
                    side: sum(Action(a).severity * n for a, n in counts[side].items())
                    for side in SIDES
                },
            }
        )
    return rows


def shadow_diff(engine: Engine, *, samples: int = 3) -> dict[str, Any]:
    """What the db's shadow decisions would have done, enforced: per account, the current
    status against the most severe of it and its shadow actions that would still stand (a
    freeze past its end or after a passed verification it waits for, or a decision a reviewer
    later lifted the account's decisions over, would not), grouped by transition, with the
    share of cancel/blacklist outcomes they would add.

    An approximation, and said so: a shadow decision was taken as if alone, so an enforced
    rule would also have changed what came after it (a deadline it starts, a status another
    rule then sees). The exact answer is a `replay_diff` with the rule's mode set to enforce.
    """
    by_account: dict[str, list[DecisionRecord]] = defaultdict(list)
    lifts = engine.store.lifts()
    clock = engine.clock
    for record in (row.record for row in engine.store.shadow_decisions()):
        account_id = record.decision.account_id
        if not _would_stand(engine, record.decision, lifts.get(account_id, ()), clock):
            continue
        by_account[account_id].append(record)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    per_rule: Counter[str] = Counter()
    added: set[tuple[str, str]] = set()
    for account, records in sorted(by_account.items()):
        now = engine.status(account)
        actions = [record.decision.action.status for record in records]
        would = max([now, *actions], key=lambda status: status.severity)
        for decision in (record.decision for record in records):
            per_rule[decision.rule_id] += 1
            if decision.action in IRREVERSIBLE and decision.action.status.severity > now.severity:
                added.add((account, str(decision.action)))
        if would != now:
            groups[(str(now), str(would))].append(account)
    enforced = engine.store.enforced_irreversible()
    shadow = {account: [r.to_dict() for r in records] for account, records in by_account.items()}
    changed = [(account, *key) for key, members in groups.items() for account in members]
    return {
        "db": engine.store.path,
        "accounts_with_shadow_decisions": len(by_account),
        "accounts_changed": sum(len(members) for members in groups.values()),
        "transitions": _shadow_transitions(groups, shadow, samples),
        "rules": [{"rule_id": rule, "shadow_decisions": n} for rule, n in sorted(per_rule.items())],
        "irreversible": {
            "enforced": enforced,
            "added": len(added),
            "percent": round(100 * len(added) / (enforced + len(added)), 2) if added else 0.0,
        },
        "accounts": [
            {"account_id": account, "from": before, "to": after, "shadow": shadow[account]}
            for account, before, after in sorted(changed)
        ],
        "per_day": per_day(_as_enforced(engine, shadow)),
    }


def _shadow_transitions(
    groups: dict[tuple[str, str], list[str]],
    shadow: dict[str, list[dict[str, Any]]],
    samples: int,
) -> list[dict[str, Any]]:
    """The changed accounts by (now, with the shadow rules) status, largest group first."""
    return [
        {
            "from": before,
            "to": after,
            "accounts": len(members),
            "account_ids": members,
            "samples": [
                {"account_id": account, "shadow": shadow[account]} for account in members[:samples]
            ],
        }
        for (before, after), members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))
    ]


def _as_enforced(
    engine: Engine, shadow: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The db's enforced decisions (its audit trail's) as the baseline; as the candidate, the
    same and the shadow decisions that would stand, counted as enforced: what `per_day`
    charts."""
    enforced: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in engine.audit_records():
        if row.kind == "decision" and row.record.get("mode") == Mode.ENFORCE:
            enforced[str(row.record["account_id"])].append(row.record)
    candidate: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for account, decisions in enforced.items():
        candidate[account].extend(decisions)
    for account, decisions in shadow.items():
        candidate[account].extend({**d, "mode": str(Mode.ENFORCE)} for d in decisions)
    return {"baseline": enforced, "candidate": candidate}


def _would_stand(
    engine: Engine, decision: Decision, lifts: Iterable[int], clock: datetime | None
) -> bool:
    """Would this shadow decision, had it been enforced, still stand now?"""
    since_us = to_micros(decision.effective_at)
    if any(lift >= since_us for lift in lifts):  # a reviewer lifted what stood then
        return False
    expires = decision.expires_at
    if expires is not None and clock is not None and expires <= clock:
        return False
    if decision.end_condition == "verification_passed":
        return engine.store.passed_verification_since(decision.account_id, since_us) is None
    return True
