"""Contract: the audit trail appends in order and verifies; settings, rule packs, the key
check and rejections are remembered; retention is whole days above the floor."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from blacklist_rules import StoreError
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import RecordedRule, RuleFile
from blacklist_rules.stores.sqlite import RETENTION_FLOOR

RULE = RuleFile("r", 1, "rules/r.yaml", "id: r\n")
"""A rule file as a pack leaves it in the db (no `dsa` block: a pack older than them)."""


def test_audit_records_come_back_in_order_and_by_account(store: Store) -> None:
    """Each record gets the next number; `audit_records(account)` keeps that account's; the
    chain verifies."""
    with store.begin():
        store.audit("note", {"n": 1}, account_id="a", event_id="e1", occurred_at="t")
        store.audit("note", {"n": 2}, account_id="b")
        store.audit("note", {"n": 3})
    records = list(store.audit_records())
    assert [r.record["n"] for r in records] == [1, 2, 3]
    assert [r.seq for r in records] == sorted({r.seq for r in records})
    (first,) = store.audit_records("a")
    assert (first.kind, first.event_id, first.occurred_at) == ("note", "e1", "t")
    assert store.verify_audit().ok


def test_a_rolled_back_record_leaves_the_chain_whole(store: Store) -> None:
    """A record whose transaction rolled back is gone, and the next one still chains."""
    with store.begin():
        store.audit("note", {"n": 1})
    transaction = store.begin()
    store.audit("note", {"n": 2})
    transaction.rollback()
    with store.begin():
        store.audit("note", {"n": 3})
    assert [r.record["n"] for r in store.audit_records()] == [1, 3]
    assert store.verify_audit().ok


def test_settings_and_packs_are_remembered(store: Store) -> None:
    """`set_meta` replaces; a pack's rules and notice templates read back by digest (none
    for an unknown one); the first key checked is adopted; a rejection is new once."""
    with store.begin():
        store.set_meta("k", "1")
        store.set_meta("k", "2")
        store.remember_ruleset("dg", [RULE], {"notices/en.txt": "text"})
        assert store.check_key("key-1")
        assert store.first_rejection("x")
        assert not store.first_rejection("x")
    assert store.meta("k") == "2"
    assert store.ruleset_rules("dg") == [RULE]
    assert store.notice_files("dg") == {"notices/en.txt": "text"}
    assert (store.ruleset_rules("none"), store.notice_files("none")) == ([], {})
    assert store.check_key("key-1")
    assert not store.check_key("key-2")


def test_recorded_rules_are_every_packs_rules_typed(store: Store) -> None:
    """Each pack's rule files as typed records under its digest, packs in the order first
    used."""
    rule = RuleFile("r", 1, "r.yaml", "id: r\n")
    with store.begin():
        store.remember_ruleset("d1", [rule])
        store.remember_ruleset("d2", [attrs.evolve(rule, version=2, text="id: r\n#2\n")])
        store.remember_ruleset("d1", [])  # a pack used again keeps what it had
    assert store.recorded_rules() == [
        RecordedRule("d1", "r", 1, "r.yaml", "id: r\n"),
        RecordedRule("d2", "r", 2, "r.yaml", "id: r\n#2\n"),
    ]


def test_retention_is_whole_days_from_the_floor(store: Store) -> None:
    """The default is the legal floor; a shorter one or part of a day is refused, a longer
    one kept (and recorded); no history is purged yet."""
    assert (store.retention(), store.retention_is_default()) == (RETENTION_FLOOR, True)
    with pytest.raises(StoreError, match="under the legal floor"):
        store.set_retention(RETENTION_FLOOR - timedelta(days=1))
    with pytest.raises(StoreError, match="whole days"):
        store.set_retention(RETENTION_FLOOR + timedelta(hours=1))
    store.set_retention(RETENTION_FLOOR + timedelta(days=1))
    assert (store.retention(), store.retention_is_default()) == (
        RETENTION_FLOOR + timedelta(days=1),
        False,
    )
    assert [r.kind for r in store.audit_records()] == ["retention_set"]
    assert store.history_cut_us is None
