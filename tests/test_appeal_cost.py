"""What an appeal costs (issue 14, finding 5): a refused appeal reads nothing back of the whole
db, an overturned one reads only what the reversal reaches, and what memory mirrors of the db
(statuses, the blacklist listing, waiting accounts, vetoes) stays equal to it either way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from blacklist_rules import Decision, Engine, SQLiteStore, Status
from blacklist_rules.engine.mirrors import load_listed
from blacklist_rules.model.events import to_micros
from blacklist_rules.stores.sqlite import SCHEMA_VERSION

from .strategies import APPEAL_IDENTITIES, appeal_steps
from .support import T0, sqlite_connection
from .test_blacklist import impersonation, registration
from .test_cascade import DAY, FREEZE_RUMOURS, clocked_db, only, overturn, strike

WHOLE_TABLE_READS = (
    "FROM blacklist WHERE until",  # the listing: every entry
    "FROM accounts WHERE status",  # the flagged statuses
    "DISTINCT account_id FROM deadlines",  # the waiting accounts
)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine's db runs inside the block, parameters bound."""
    db = sqlite_connection(engine.store)
    seen: list[str] = []
    db.trace(seen.append)
    try:
        yield seen
    finally:
        db.trace(None)


def _listed_and_frozen(engine: Engine) -> Decision:
    """Two accounts blacklisted (four entries) and zhang frozen by two rumours: the freeze id."""
    engine.process(registration("li", 0 * DAY, "reg-li", id_number="360426199101010071"))
    engine.process(impersonation("li", 1 * DAY, "imp-li"))
    engine.process(registration("wang", 0 * DAY, "reg-wang", id_number="11010519491231002X"))
    engine.process(impersonation("wang", 1 * DAY, "imp-wang"))
    engine.process(registration("zhang", 0 * DAY, "reg-zhang", id_number="110101199001010015"))
    engine.process(strike("zhang", 2 * DAY, "s1", "c1"))
    return only(engine.process(strike("zhang", 3 * DAY, "s2", "c2")).decisions, FREEZE_RUMOURS)


def test_a_refused_appeal_reads_no_whole_table_back(tmp_path: Path) -> None:
    """An appeal of a decision the db does not know is refused, and its undo reads none of
    the tables memory mirrors (before the fix it read every blacklist entry, every flagged
    account and every waiting one: 262 ms at 100,000 entries); what memory holds still
    answers as before."""
    with Engine.from_path(db=tmp_path / "a.db", max_lead=None) as engine:
        _listed_and_frozen(engine)
        appeal = overturn("zhang", 4 * DAY, "ap-unknown", "no-such-decision")
        with statements(engine) as seen:
            outcome = engine.process(appeal)
        assert outcome.rejection is not None
        assert [s for s in seen if any(read in s for read in WHOLE_TABLE_READS)] == []
        assert engine.is_blacklisted({"id_number": "360426199101010071"})
        assert (engine.status("li"), engine.status("zhang")) == ("blacklisted", "frozen")


def _scans(engine: Engine, seen: list[str]) -> dict[str, list[str]]:
    """The statements among `seen` that SQLite plans as a scan of a whole table, with the
    plan's scan lines."""
    db = sqlite_connection(engine.store)
    scans = {}
    for sql in dict.fromkeys(seen):
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}") if "SCAN" in row[3]]
            if plan:
                scans[sql] = plan
    return scans


def test_an_overturned_appeal_scans_no_table(tmp_path: Path) -> None:
    """Every statement an overturned appeal runs reads by key or index, never a whole
    table (before the fix the replay scanned the events table and the vetoes the decisions
    table), and it reads no table memory mirrors whole."""
    with Engine.from_path(db=tmp_path / "a.db", max_lead=None) as engine:
        freeze = _listed_and_frozen(engine)
        with statements(engine) as seen:
            outcome = engine.process(overturn("zhang", 4 * DAY, "ap", freeze.decision_id))
        assert outcome.rejection is None
        assert engine.status("zhang") == Status.ACTIVE
        scans = _scans(engine, seen)
        assert scans == {}
        assert [s for s in seen if any(read in s for read in WHOLE_TABLE_READS)] == []


def _mirrors(engine: Engine) -> tuple[Any, ...]:
    """What the engine holds in memory beside the db: statuses, listing, vetoes."""
    listing = engine.mirrors.listed
    spans = {key: sorted(listing._of(key), key=str) for key in listing._spans}
    return dict(engine.mirrors.statuses), spans, engine.mirrors.vetoed


def _as_read(engine: Engine) -> tuple[Any, ...]:
    """The same, read afresh from the db."""
    listing = load_listed(engine.store)
    spans = {key: sorted(listing._of(key), key=str) for key in listing._spans}
    statuses = {row.account_id: Status(row.status) for row in engine.store.flagged()}
    return statuses, spans, engine.mirrors.load_vetoes(engine.store)


def _step(engine: Engine, item: dict[str, Any]) -> None:
    if item["type"] == "registration":
        identity = {"id_number": APPEAL_IDENTITIES[item["account_id"]]}
        item = {**item, "identity": identity, "verification": {"status": "passed"}}
    if item["type"] != "appeal":
        engine.process(item)
        return
    account, how = item["account_id"], item.pop("how")
    taken = [d for a in sorted(APPEAL_IDENTITIES) for d in engine.decisions(a)]
    named = taken[item.pop("pick") % len(taken)] if taken else None
    wanted = named.decision_id if named is not None and how != "unknown" else "no-such"
    if named is not None and how != "elsewhere":
        account = named.account_id
    fields: dict[str, Any] = {"reviewer_id": "rev", "reason": "appeal"}
    if how == "lift":
        fields |= {"action": "lift", "decision_id": wanted}
        engine.process({**item, "account_id": account, "type": "review_decision", **fields})
    else:
        fields |= {"decision_id": wanted, "outcome": how if how == "upheld" else "overturned"}
        engine.process({**item, "account_id": account, "type": "appeal_outcome", **fields})


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=appeal_steps)
def test_memory_mirrors_the_db_through_refused_and_granted_appeals(
    steps: list[dict[str, Any]],
) -> None:
    """Whatever appeals come (granted, upheld, lifts, refused for an unknown, reversed, shadow
    or other account's decision), after each step the statuses, the blacklist listing and
    the vetoes held in memory equal what a fresh read of the db gives, and every account
    with a pending deadline is among the waiting ones: a refused appeal that reloads nothing
    and a cascade that adds only its own vetoes leave memory true."""
    with Engine.from_path(max_lead=None) as engine:
        for item in steps:
            _step(engine, dict(item))
            assert _mirrors(engine) == _as_read(engine)
            assert engine.mirrors.waiting >= engine.store.waiting_accounts()


def test_a_schema_6_db_gains_the_indexes_and_keeps_its_clocks(tmp_path: Path) -> None:
    """A db of schema 6 opened for writing is upgraded in place: the two indexes appeals read
    through are there, and the clock each event came at stays as stored (the log's estimate
    for older dbs, here the 92nd day instead of the 200th, is not written over it)."""
    db = tmp_path / "six.db"
    stored = clocked_db(db)
    with sqlite3.connect(db) as connection:
        connection.executescript(
            "DROP INDEX events_by_account; DROP INDEX decisions_reversed;"
            "UPDATE meta SET value = '6' WHERE key = 'schema_version';"
        )
    SQLiteStore(db).close()
    with sqlite3.connect(db) as connection:
        upgraded = connection.execute("SELECT clock_us FROM events ORDER BY rowid").fetchall()
        version = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(SCHEMA_VERSION),)
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert upgraded == stored == [(None,), (to_micros(T0),), (to_micros(T0 + 200 * DAY),)]
    assert {"events_by_account", "decisions_reversed", "deadlines_of_account"} <= indexes


def test_an_overturned_appeal_after_a_history_purge_scans_no_table(tmp_path: Path) -> None:
    """After a history purge the cascade seeds its scratch world from the db at the cut: that
    read too goes by key or index (before issue 19 it scanned the identities and the deadlines
    tables whole, a cost that grew with the db), and the appeal is granted as before."""
    with Engine.from_path(db=tmp_path / "a.db", max_lead=None) as engine:
        freeze = _listed_and_frozen(engine)
        assert engine.store.purge_history(T0 + 1 * DAY).cut is not None
        assert engine.store.history_cut_us is not None
        with statements(engine) as seen:
            outcome = engine.process(overturn("zhang", 4 * DAY, "ap", freeze.decision_id))
        assert outcome.rejection is None
        assert engine.status("zhang") == Status.ACTIVE
        scans = _scans(engine, seen)
        assert any("FROM identities WHERE account_id IN" in sql for sql in seen)
        assert scans == {}
