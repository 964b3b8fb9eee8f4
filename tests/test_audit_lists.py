"""Issue 18, item 5: every list change is an audit record, so `audit verify` checks the
`list_changes` table against the chain as it does the other state tables (`audit_crosscheck`):
a row changed, deleted or inserted outside the chain is a break naming the table. A history
purge keeps the list changes, and an audit purge re-records those whose records it removed
(`list_change_carried`), so the trail still verifies and every account's lists are the same
at any time after the cut."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine, SQLiteStore, load_ruleset
from blacklist_rules.cli import main
from blacklist_rules.model.events import to_micros
from blacklist_rules.model.identity import KEY_ENV
from blacklist_rules.stores.audit_crosscheck import LIST_CARRIED, LIST_CHANGE, LISTS_CARRIED
from blacklist_rules.stores.lists import on_lists
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.postgres import PostgresStore
from blacklist_rules.stores.sqlite import retention as retention_module

from .postgres import empty_tables, execute
from .support import T0, TEST_KEY, event, verdict_of

DAY = timedelta(days=1)
WALL = T0 + 1000 * DAY
"""The wall clock of the later records (the earlier ones are logged 400 days before)."""
CUT = T0 + 250 * DAY
"""The history purge's cut: list changes on both sides of it."""
AUDIT_CUT = WALL - 300 * DAY
"""The audit purge's cut: it removes the records of the earlier changes."""
ACCOUNTS = ("a", "b", "c")
BEFORE = (
    ("a", 10, "l1", "official", "add"),
    ("a", 20, "l2", "press", "add"),
    ("b", 30, "l3", "official", "add"),
    ("a", 40, "l4", "official", "remove"),
    ("c", 50, "l5", "press", "add"),
    ("b", 200, "l6", "press", "add"),
)
AFTER = (
    ("a", 300, "l7", "official", "add"),
    ("b", 350, "l8", "official", "remove"),
    ("a", 360, "l9", "press", "remove"),
)


def _update(account: str, day: int, event_id: str, name: str, op: str) -> dict[str, object]:
    return event("list_update", account, day * DAY, event_id, list=name, op=op, reason="checked")


def _feed(engine: Engine) -> None:
    """The changes before the cut logged 400 days before the wall clock, the rest at it."""
    engine.store.now = lambda: WALL - 400 * DAY
    for change in BEFORE:
        engine.process(_update(*change))
    engine.store.now = lambda: WALL
    for change in AFTER:
        engine.process(_update(*change))
    engine.advance_to(T0 + 440 * DAY)  # the cut is older than the retention


def _lists(store: object, account: str, days: range) -> list[list[str]]:
    changes = store.list_changes(account)  # type: ignore[attr-defined]
    return [sorted(on_lists(changes, to_micros(CUT + d * DAY))) for d in days]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("lists") / "base.db"
    with pytest.MonkeyPatch.context() as patch:  # (the autouse key is per test)
        patch.setenv(KEY_ENV, TEST_KEY)
        with Engine.from_path(db=db, max_lead=None) as engine:
            _feed(engine)
    return db


def _copy(base: Path, folder: Path) -> Path:
    target = folder / f"e{uuid.uuid4().hex}.db"
    shutil.copyfile(base, target)
    return target


def test_an_intact_db_verifies_with_its_list_changes_checked(base: Path) -> None:
    verdict = verdict_of(base)
    assert verdict.ok, verdict
    assert verdict.unchecked == 0


@pytest.mark.parametrize(
    ("statement", "found"),
    [
        (
            "UPDATE list_changes SET op = 'add' WHERE event_id = 'l4'",
            "list change l4 (official) of account a in the list_changes table: "
            "its op is 'add', this record says 'remove'",
        ),
        (
            "UPDATE list_changes SET list = 'press' WHERE event_id = 'l3'",
            "list change l3 (press) of account b in the list_changes table has no audit record",
        ),
        (
            "UPDATE list_changes SET occurred_us = occurred_us + 1 WHERE event_id = 'l7'",
            "list change l7 (official) of account a in the list_changes table has no audit record",
        ),
        ("DELETE FROM list_changes WHERE event_id = 'l8'", "the list_changes table lacks the row"),
        (
            "INSERT INTO list_changes VALUES ('c', 'official', 1, 'forged', 'add')",
            "list change forged (official) of account c in the list_changes table has no audit "
            "record: it was inserted",
        ),
    ],
)
def test_a_list_change_row_edited_outside_the_chain_is_found(
    base: Path, tmp_path: Path, statement: str, found: str
) -> None:
    db = _copy(base, tmp_path)
    with sqlite3.connect(db) as connection:
        assert connection.execute(statement).rowcount == 1
    verdict = verdict_of(db)
    assert not verdict.ok
    assert found in str(verdict)
    assert "list_changes" in str(verdict)


def test_the_cli_exits_1_on_an_edited_list_change(base: Path, tmp_path: Path) -> None:
    db = _copy(base, tmp_path)
    command = [sys.executable, "-m", "blacklist_rules", "audit", "verify", str(db)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM list_changes WHERE event_id = 'l1'")
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1, done
    assert "the list_changes table lacks the row of a/official/" in done.stderr


def _status_lists(db: Path, account: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["status", account, "--db", str(db), "--json"]) == 0
    return list(json.loads(capsys.readouterr().out)["lists"])


def test_purges_keep_the_lists_and_the_trail_verifies(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """History purge, then audit purge (as `audit purge` makes both): the list_update events
    before the cut are gone, their changes stay; the audit records of the earlier changes are
    gone, their rows are re-recorded; verify passes, then still finds an edit of a carried
    row; `status` and the lists at any time after the cut are as before."""
    db = _copy(base, tmp_path)
    shown = {account: _status_lists(db, account, capsys) for account in ACCOUNTS}
    assert shown == {"a": ["official"], "b": ["press"], "c": ["press"]}
    store = SQLiteStore(db)
    try:
        lists = {account: _lists(store, account, range(0, 200, 7)) for account in ACCOUNTS}
        store.now = lambda: WALL
        done = store.purge_history(CUT)
        assert done.cut == CUT
        assert done.removed > 0
        assert store.verify_audit().ok
        removed, _kept = store.purge_audit(AUDIT_CUT)
        assert removed >= len(BEFORE)
        kinds = [r.kind for r in store.audit_records()]
        assert kinds.count(LIST_CARRIED) == len(BEFORE)
        assert kinds.count(LIST_CHANGE) == len(AFTER)
        (purge,) = [r for r in store.audit_records() if r.kind == "audit_purged"]
        assert purge.record[LISTS_CARRIED] == len(BEFORE)
        verdict = store.verify_audit()
        assert verdict.ok, verdict
        assert verdict.unchecked == 0
        assert {a: _lists(store, a, range(0, 200, 7)) for a in ACCOUNTS} == lists
        assert store.purge_audit(AUDIT_CUT) == (0, None)
    finally:
        store.close()
    assert {account: _status_lists(db, account, capsys) for account in ACCOUNTS} == shown
    assert str(verdict_of(db)).startswith("chain intact")
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE list_changes SET op = 'remove' WHERE event_id = 'l5'")
    assert "its op is 'remove', this record says 'add'" in str(verdict_of(db))


def test_after_an_older_purge_bare_list_changes_are_unchecked(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purge by a version that carried no list changes (its record without
    `carried_lists`) leaves the earlier rows without records: not checked, no break; the
    next purge carries them and they are checked again."""
    db = _copy(base, tmp_path)
    with monkeypatch.context() as old:
        old.setattr(retention_module, "LISTS_CARRIED", "unknown")
        old.setattr(retention_module, "BARE_LISTS", "SELECT * FROM list_changes WHERE 0")
        store = SQLiteStore(db)
        try:
            store.now = lambda: WALL
            store.purge_audit(AUDIT_CUT)
        finally:
            store.close()
    verdict = verdict_of(db)
    assert verdict.ok, verdict
    assert verdict.unchecked == len(BEFORE)
    store = SQLiteStore(db)
    try:
        store.now = lambda: WALL + 400 * DAY
        removed, _kept = store.purge_audit(WALL + 100 * DAY)  # (every record so far)
        assert removed > 0
        kinds = [r.kind for r in store.audit_records()]
        assert kinds.count(LIST_CARRIED) == len(BEFORE) + len(AFTER)
        verdict = store.verify_audit()
        assert verdict.ok, verdict
        assert verdict.unchecked == 0
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_memory_and_postgres_stores_check_and_carry_list_changes(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """The same on the other stores: verify passes after both purges, the earlier changes
    carried; an op changed, then the row deleted, outside the chain is found."""
    if kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        request.addfinalizer(lambda: empty_tables(url))
        store: Any = PostgresStore(url)
        request.addfinalizer(store.close)
    else:
        store = MemoryStore()
    with Engine(load_ruleset(), store, max_lead=None) as engine:
        _feed(engine)
        assert store.verify_audit().ok
        store.now = lambda: WALL
        store.purge_history(CUT)
        store.purge_audit(AUDIT_CUT)
        assert [r.kind for r in store.audit_records()].count(LIST_CARRIED) == len(BEFORE)
        verdict = store.verify_audit()
        assert verdict.ok, verdict
        assert verdict.unchecked == 0
        if kind == "postgres":
            edit, drop = (
                "UPDATE list_changes SET op = 'remove' WHERE event_id = 'l6'",
                "DELETE FROM list_changes WHERE event_id = 'l6'",
            )
            execute(url, edit)
            assert "list change l6 (press) of account b" in str(store.verify_audit())
            execute(url, drop)
        else:
            rows = store._t.lists["b"]
            key = next(k for k in rows if k[1] == "l6")
            rows[key] = "remove"
            assert "list change l6 (press) of account b" in str(store.verify_audit())
            del rows[key]
        assert "the list_changes table lacks the row of b/press/" in str(store.verify_audit())
