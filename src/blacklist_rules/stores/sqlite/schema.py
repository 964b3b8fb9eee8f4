"""The SQLite schema: its version, its tables, the upgrades of older dbs, and the SQL
fragments every concern's queries share (written once, so that each query uses the index
it names).

An older db is upgraded in place when opened for writing (`upgrade`): the tables and
indexes of this version are created if missing, then the columns added since.
"""

from __future__ import annotations

import json
from typing import Any

from blacklist_rules.stores.records import Serialised
from blacklist_rules.stores.sqlite.connection import Connection

SCHEMA_VERSION = 10
"""2 added history, streams, deadlines and rejections; 3 identities and the blacklist; 4 the
audit chain (three columns); 5 withdrawn evidence and how a decision was reversed; 6 the clock
each event came at, and the ids of events a history purge removed; 7 two indexes, so that an
appeal reads only what it reaches: the events by account (`events_by_account`, the cascade's
replay) and the reversed decisions (`decisions_reversed`, the vetoes); 8 the transactional
outbox (`outbox.OUTBOX_SCHEMA`), decisions waiting to be published; 9 the deadlines by
account in every state (`deadlines_of_account`: an appeal after a history purge, and
`Engine.deadlines`, read one account's, not the table; issue 19); 10 each account's list
changes (`list_changes`: `list_update` events, issue 18). An older db is upgraded
in place; its older audit records stay outside the chain, which starts with the first record
written after."""
LOGGED_BY_ACCOUNT = frozenset({"identity_verification", "registration"})
"""Event types the events table indexes by account and time (`verifications_by_account`):
a stream of only these types can be read from the log instead of being kept twice."""
BY_ACCOUNT = f"type IN ({', '.join(repr(t) for t in sorted(LOGGED_BY_ACCOUNT))})"
"""The index's condition, written out the same way in every query that should use it."""
VERIFIED = (
    "(CASE type WHEN 'registration' THEN json_extract(payload, '$.verification.{0}') "
    "ELSE json_extract(payload, '$.{0}') END)"
)
"""A logged verification's status or reason, from the field its type declares (an extra field
of the same name elsewhere in a registration is not it)."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rulesets (
    digest TEXT PRIMARY KEY, first_used_at TEXT NOT NULL, rules TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, type TEXT NOT NULL,
    occurred_us INTEGER NOT NULL, payload TEXT NOT NULL, clock_us INTEGER);
CREATE INDEX IF NOT EXISTS verifications_by_account ON events (account_id, occurred_us)
    WHERE {BY_ACCOUNT};
CREATE INDEX IF NOT EXISTS events_by_account ON events (account_id);
CREATE TABLE IF NOT EXISTS accounts (account_id TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, event_id TEXT NOT NULL,
    action TEXT NOT NULL, mode TEXT NOT NULL, rule_id TEXT NOT NULL,
    effective_at TEXT NOT NULL, expires_at TEXT, end_condition TEXT,
    ended_at TEXT, reversed_by TEXT, record TEXT NOT NULL, reversed_how TEXT);
CREATE INDEX IF NOT EXISTS decisions_by_account ON decisions (account_id);
CREATE INDEX IF NOT EXISTS decisions_reversed ON decisions (reversed_how)
    WHERE reversed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS decisions_by_expiry ON decisions (expires_at)
    WHERE expires_at IS NOT NULL AND ended_at IS NULL AND reversed_by IS NULL;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, version INTEGER NOT NULL, kind TEXT NOT NULL,
    account_id TEXT, event_id TEXT, decision_id TEXT, occurred_at TEXT,
    recorded_at TEXT NOT NULL, record TEXT NOT NULL,
    ruleset_digest TEXT, prev_hash TEXT, hash TEXT);
CREATE INDEX IF NOT EXISTS audit_by_account ON audit (account_id);
CREATE TABLE IF NOT EXISTS history (
    stream TEXT NOT NULL, account_id TEXT NOT NULL, occurred_us INTEGER NOT NULL,
    event_id TEXT NOT NULL, value,
    PRIMARY KEY (stream, account_id, occurred_us, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS history_by_value ON history (stream, account_id, value, occurred_us);
CREATE TABLE IF NOT EXISTS streams (key TEXT PRIMARY KEY, filled_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (digest TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS withdrawn (
    event_id TEXT PRIMARY KEY, by_event TEXT NOT NULL, decision_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS withdrawn_by_decision ON withdrawn (decision_id);
CREATE TABLE IF NOT EXISTS deadlines (
    rule_id TEXT NOT NULL, anchor_id TEXT NOT NULL, account_id TEXT NOT NULL,
    anchor_event_id TEXT NOT NULL, start_us INTEGER NOT NULL, due_us INTEGER NOT NULL,
    state TEXT NOT NULL, PRIMARY KEY (rule_id, anchor_id));
CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines (due_us) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deadlines_by_account ON deadlines (account_id)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deadlines_of_account ON deadlines (account_id);
CREATE TABLE IF NOT EXISTS identities (
    kind TEXT NOT NULL, fingerprint BLOB NOT NULL, account_id TEXT NOT NULL,
    event_id TEXT NOT NULL, registered_us INTEGER NOT NULL,
    PRIMARY KEY (kind, fingerprint, registered_us, account_id, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identities_by_account ON identities (account_id);
CREATE TABLE IF NOT EXISTS blacklist (
    kind TEXT NOT NULL, fingerprint TEXT NOT NULL, decision_id TEXT NOT NULL,
    account_id TEXT NOT NULL, rule_id TEXT NOT NULL, reason TEXT NOT NULL,
    entered_us INTEGER NOT NULL, ends_us INTEGER, removed_us INTEGER, removed_by TEXT,
    PRIMARY KEY (kind, fingerprint, decision_id));
CREATE INDEX IF NOT EXISTS blacklist_by_account ON blacklist (account_id);
CREATE TABLE IF NOT EXISTS notice_templates (digest TEXT PRIMARY KEY, files TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS purged_events (event_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS list_changes (
    account_id TEXT NOT NULL, list TEXT NOT NULL, occurred_us INTEGER NOT NULL,
    event_id TEXT NOT NULL, op TEXT NOT NULL,
    PRIMARY KEY (account_id, occurred_us, event_id, list)) WITHOUT ROWID;
"""
_ADDED_COLUMNS = (
    ("audit", "ruleset_digest TEXT"),
    ("audit", "prev_hash TEXT"),
    ("audit", "hash TEXT"),
    ("decisions", "reversed_how TEXT"),
    ("events", "clock_us INTEGER"),
)
_OLD_CLOCKS = (
    "UPDATE events SET clock_us = w.clock FROM (SELECT rowid AS arrival, MAX(occurred_us) "
    "OVER (ORDER BY rowid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS clock "
    "FROM events) AS w WHERE w.arrival = events.rowid"
)
"""Events logged before schema 6 came at the latest time of the events before them: what the
log can tell (moves of the clock without an event went unrecorded)."""
KEPT = "event_id NOT IN (SELECT event_id FROM withdrawn)"
"""Events that still count: not withdrawn by the reversal of a decision taken on them."""
ENTRY = "kind, fingerprint, decision_id, account_id, rule_id, reason, entered_us, ends_us"
IN_FORCE = (
    "((? IS NULL AND removed_us IS NULL) OR (entered_us <= ? AND (ends_us IS NULL OR ends_us > ?) "
    "AND (removed_us IS NULL OR removed_us > ?)))"
)
"""An entry in force at a time given four times: entered, not ended, not yet removed (NULL:
not removed). A removal takes effect at its own event time, so a registration before it still
met the entry, in whatever order the two arrive."""

STANDING = "mode = 'enforce' AND ended_at IS NULL AND reversed_by IS NULL"
EVIDENCE = "SELECT value FROM decisions, json_each(decisions.record, '$.evidence')"
"""The ids of every decision's evidence."""


def dumps(value: Any) -> str:
    """Compact JSON, as every stored record is written (a `Serialised` one is already)."""
    if type(value) is Serialised:
        return value.text
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def add_columns(db: Connection) -> None:
    """Add the columns this version has and an older db lacks (its clocks, if `clock_us` is
    new)."""
    for table, column in _ADDED_COLUMNS:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column.split()[0] not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
            if (table, column) == ("events", "clock_us INTEGER"):  # (stored since 6)
                db.execute(_OLD_CLOCKS)
