"""Test support: event builders and small rule packs written to temporary folders."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from blacklist_rules import Engine, default_rules_path
from blacklist_rules.model.chain import Verdict
from blacklist_rules.model.decisions import Action, Decision, DecisionRecord, Mode, Status
from blacklist_rules.stores.sqlite import SQLiteStore
from blacklist_rules.stores.sqlite.connection import Connection

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
EDGES = {"inside": -US, "exact": timedelta(0), "outside": US}
"""Offsets from an edge: one microsecond before it, at it, one after it."""
TEST_KEY = "test-identity-key-" + "0123456789abcdef" * 2
"""The identity key every test has in its environment (see conftest)."""

EventFactory = Callable[..., dict[str, Any]]


def event(
    kind: str, account: str, at: datetime | timedelta, event_id: str, **fields: Any
) -> dict[str, Any]:
    """One contract event; `at` may be an offset from T0."""
    moment = T0 + at if isinstance(at, timedelta) else at
    return {
        "event_id": event_id,
        "type": kind,
        "account_id": account,
        "occurred_at": moment.isoformat(),
        **fields,
    }


def flag(at: datetime | timedelta, event_id: str, source: str = "fact_check") -> dict[str, Any]:
    """A malicious-rumour flag of account a (its content id is its event id)."""
    return event(
        "rumor_flag",
        "a",
        at,
        event_id,
        content_id=event_id,
        verdict="malicious_rumor",
        source=source,
    )


def write_rule(folder: Path, name: str, text: str) -> Path:
    """Write one rule file and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def default_pack_with(folder: Path, **rules: str) -> Path:
    """A copy of the default pack in `folder` with more rule files (name: text); with more
    rules, without its notice templates (the rules tests add say nothing to users)."""
    ignore = shutil.ignore_patterns("notices") if rules else None
    shutil.copytree(default_rules_path(), folder, ignore=ignore)
    for name, text in rules.items():
        write_rule(folder, name, text)
    return folder


RUMOR_FREEZE_30D = """
id: freeze-malicious-rumor
version: 1
description: A fact-checked malicious rumour freezes the account for 30 days.
basis: Test basis.
on: rumor_flag
when:
  all:
    - verdict: malicious_rumor
    - source: {in: [fact_check, authority_notice]}
then:
  action: freeze
  duration: 30d
  reason: Malicious rumour.
priority: 10
mode: enforce
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""

SHADOW_REPORT_FREEZE = """
id: shadow-freeze-on-report
version: 2
description: Any unconfirmed impersonation report freezes (shadow trial).
basis: Test basis.
on: impersonation_report
when:
  confirmed: false
then:
  action: freeze
  reason: Reported for impersonation.
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def final_status(events: list[dict[str, Any]], account: str) -> str:
    """The account's status after a fresh engine over the default pack runs `events` in order."""
    with Engine.from_path() as engine:
        list(engine.run(events))
        return str(engine.status(account))


def sqlite_connection(store: object) -> Connection:
    """The connection of a SQLite store: what a test of SQLite's own behaviour reads
    (PRAGMAs, query plans, whole tables), never what the store protocols answer."""
    assert isinstance(store, SQLiteStore), type(store)
    return store.connection


def decision_record(
    decision_id: str,
    account_id: str,
    effective_at: str,
    *,
    action: str = "freeze",
    mode: str = "enforce",
    rule_id: str = "r",
    end_condition: str | None = None,
    evidence: tuple[str, ...] = (),
) -> DecisionRecord:
    """A decision's record as a store takes it (`add_decision`), the fields a store test
    looks at given, the rest plain."""
    return DecisionRecord(
        Decision(
            decision_id=decision_id,
            account_id=account_id,
            action=Action(action),
            rule_id=rule_id,
            rule_version=1,
            ruleset_digest="digest",
            evidence=evidence,
            reason="test",
            mode=Mode(mode),
            effective_at=datetime.fromisoformat(effective_at),
            expires_at=None,
            status_before=Status.ACTIVE,
            status_after=Action(action).status,
            end_condition=end_condition,
        )
    )


def standing_decisions(engine: Engine, accounts: tuple[str, ...]) -> tuple[tuple[Any, ...], ...]:
    """The accounts' decisions not reversed, sorted, each as what order independence compares:
    account, mode, action, rule, the rules matched, effective time and evidence (an earlier
    decision in it by its rule and time, not its id: ids follow the occasion that took it)."""
    found = [
        d
        for account in accounts
        for d in engine.decisions(account)
        if (stored := engine.store.decision(d.decision_id)) is None or stored.reversed_by is None
    ]
    names = {d.decision_id: f"{d.rule_id}@{d.effective_at.isoformat()}" for d in found}
    return tuple(
        sorted(
            (
                d.account_id,
                str(d.mode),
                str(d.action),
                d.rule_id,
                tuple(sorted(m.rule_id for m in d.matched)),
                d.effective_at.isoformat(),
                tuple(sorted(names.get(item, item) for item in d.evidence)),
            )
            for d in found
        )
    )


def verdict_of(db: Path) -> Verdict:
    """`audit verify` of a SQLite db file, opened read-only as the command opens it."""
    store = SQLiteStore(db, read_only=True)
    try:
        return store.verify_audit()
    finally:
        store.close()
