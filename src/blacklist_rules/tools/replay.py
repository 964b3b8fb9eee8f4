"""Replay diff: the same events through two rule versions, side by side, and what differs.

Both versions run in one process on their own engine and db (files in a work folder, so memory
holds only the accounts that were decided about, never the events). Each event is parsed once
and handed to both. The report says which accounts end differently, grouped by transition
(`frozen → blacklisted`), how many decisions each rule took in each version, samples with their
evidence, the share of irreversible outcomes (enforced cancel and blacklist) that changed, and
decisions per day for both.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from blacklist_rules.engine import Engine
from blacklist_rules.model.decisions import Action, Decision, Mode
from blacklist_rules.model.events import ParsedLine, to_micros
from blacklist_rules.model.identity import IdentityKey
from blacklist_rules.pack.compiler import CompiledRuleset
from blacklist_rules.stores.sqlite import SQLiteStore

IRREVERSIBLE = frozenset({"cancel", "blacklist"})
SIDES = ("baseline", "candidate")


def _summary(decision: Decision) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "action": str(decision.action),
        "rule_id": decision.rule_id,
        "mode": str(decision.mode),
        "effective_at": decision.effective_at.isoformat(),
        "evidence": list(decision.evidence),
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
    decided: dict[str, dict[str, list[dict[str, Any]]]] = {
        side: defaultdict(list) for side in SIDES
    }
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
                        for decision in outcome.decisions:
                            decided[side][decision.account_id].append(_summary(decision))
                    if all(refused):  # a clash of event ids, say
                        counts["rejected"] += 1
                    elif any(refused):  # an appeal of a decision only one version took, say
                        counts["refused_by_one_version"] += 1
                if advanced is not None:
                    advanced(1)
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
    transitions = _transitions(decided, statuses, changed, samples)
    by_rule, per_day, irreversible = _tallies(decided)
    rules = sorted(set(by_rule["baseline"]) | set(by_rule["candidate"]))
    union = irreversible["baseline"] | irreversible["candidate"]
    moved = irreversible["baseline"] ^ irreversible["candidate"]
    days = sorted(set(per_day["baseline"]) | set(per_day["candidate"]))
    return {
        "baseline": {"digest": baseline.digest, "rules": len(baseline.rules)},
        "candidate": {"digest": candidate.digest, "rules": len(candidate.rules)},
        "events": counts["events"],
        "rejected": counts["rejected"],
        "refused_by_one_version": counts["refused_by_one_version"],
        "accounts_decided": len(accounts),
        "accounts_changed": len(changed),
        "transitions": transitions,
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
        "per_day": [
            {
                "date": day,
                "baseline": per_day["baseline"][day],
                "candidate": per_day["candidate"][day],
            }
            for day in days
        ],
    }


def _transitions(
    decided: dict[str, dict[str, list[dict[str, Any]]]],
    statuses: dict[str, dict[str, str]],
    changed: list[str],
    samples: int,
) -> list[dict[str, Any]]:
    """The changed accounts grouped by (status before, after), largest group first, with up
    to `samples` accounts' decisions on each side."""
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


def _tallies(
    decided: dict[str, dict[str, list[dict[str, Any]]]],
) -> tuple[
    dict[str, Counter[tuple[str, str]]], dict[str, Counter[str]], dict[str, set[tuple[str, str]]]
]:
    """Per side: decisions by (rule, mode), enforced ones by day, and the (account, action)
    irreversible outcomes."""
    by_rule: dict[str, Counter[tuple[str, str]]] = {side: Counter() for side in SIDES}
    per_day: dict[str, Counter[str]] = {side: Counter() for side in SIDES}
    irreversible: dict[str, set[tuple[str, str]]] = {side: set() for side in SIDES}
    for side in SIDES:
        for account, decisions in decided[side].items():
            for d in decisions:
                by_rule[side][(d["rule_id"], d["mode"])] += 1
                if d["mode"] == Mode.ENFORCE:
                    per_day[side][d["effective_at"][:10]] += 1
                    if d["action"] in IRREVERSIBLE:
                        irreversible[side].add((account, d["action"]))
    return by_rule, per_day, irreversible


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
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    lifts = engine.store.lifts()
    clock = engine.clock
    for record in (row.record for row in engine.store.shadow_decisions()):
        if not _would_stand(engine, record, lifts.get(record["account_id"], ()), clock):
            continue
        by_account[record["account_id"]].append(record)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    per_rule: Counter[str] = Counter()
    added: set[tuple[str, str]] = set()
    for account, records in sorted(by_account.items()):
        now = engine.status(account)
        actions = [Action(record["action"]).status for record in records]
        would = max([now, *actions], key=lambda status: status.severity)
        for record in records:
            per_rule[record["rule_id"]] += 1
            if (
                record["action"] in IRREVERSIBLE
                and Action(record["action"]).status.severity > now.severity
            ):
                added.add((account, record["action"]))
        if would != now:
            groups[(str(now), str(would))].append(account)
    enforced = engine.store.enforced_irreversible()
    return {
        "db": engine.store.path,
        "accounts_with_shadow_decisions": len(by_account),
        "accounts_changed": sum(len(members) for members in groups.values()),
        "transitions": [
            {
                "from": before,
                "to": after,
                "accounts": len(members),
                "account_ids": members,
                "samples": [
                    {"account_id": account, "shadow": by_account[account]}
                    for account in members[:samples]
                ],
            }
            for (before, after), members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))
        ],
        "rules": [{"rule_id": rule, "shadow_decisions": n} for rule, n in sorted(per_rule.items())],
        "irreversible": {
            "enforced": enforced,
            "added": len(added),
            "percent": round(100 * len(added) / (enforced + len(added)), 2) if added else 0.0,
        },
    }


def _would_stand(
    engine: Engine, record: dict[str, Any], lifts: Iterable[int], clock: datetime | None
) -> bool:
    """Would this shadow decision, had it been enforced, still stand now?"""
    effective = datetime.fromisoformat(record["effective_at"])
    since_us = to_micros(effective)
    if any(lift >= since_us for lift in lifts):  # a reviewer lifted what stood then
        return False
    expires = record["expires_at"]
    if expires is not None and clock is not None and datetime.fromisoformat(expires) <= clock:
        return False
    if record.get("end_condition") == "verification_passed":
        return engine.store.passed_verification_since(record["account_id"], since_us) is None
    return True
