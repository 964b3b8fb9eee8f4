"""The PostgreSQL schema as versioned, ordered migrations, and the SQL fragments every
concern's queries share.

`schema_migrations` holds one row per migration applied (version, what it did, when). Opening a
store for writing applies the missing ones in order, in one transaction under an advisory lock
(so two processes opening a new db at once apply each migration once); a db of a newer version
than this code knows is refused untouched, as is a read-only open of a db not at this version.
A change of the schema is a new migration at the end of `MIGRATIONS`, never an edit of one
applied.

The tables are those of the SQLite store (schema 7; migrations 2 to 6 add the workers, the
outbox, schema 9's index, the list changes and the claims' function), with PostgreSQL's
types: times in integer microseconds (BIGINT), arrival order an explicit identity column
(`events.arrival`, `decisions.position`, `blacklist.position`), the stored text of events,
decisions and audit records kept as TEXT exactly as written (their digests and hashes cover
that text; JSON is read from it with `::jsonb`), and text compared byte-wise (`COLLATE "C"`),
as SQLite does.
"""

from __future__ import annotations

import attrs

from blacklist_rules.errors import StoreError
from blacklist_rules.stores.sqlite.schema import LOGGED_BY_ACCOUNT

from .driver import PgConnection
from .outbox import OUTBOX_MIGRATION

LOCKS = 0x62_6C_72_75  # "blru"
"""The first key of this library's advisory locks (the second names the lock)."""
MIGRATION_LOCK, CHAIN_LOCK = 1, 2
"""Held while migrations run; held by a transaction from its first audit record to its end,
so the audit chain is one serialised sequence whatever the number of writers."""

_T = 'TEXT COLLATE "C"'

BY_ACCOUNT = f"type IN ({', '.join(repr(t) for t in sorted(LOGGED_BY_ACCOUNT))})"
"""The partial index's condition, written out the same way in every query that should use it."""
VERIFIED = (
    "(CASE type WHEN 'registration' THEN payload::jsonb -> 'verification' ->> '{0}' "
    "ELSE payload::jsonb ->> '{0}' END)"
)
"""A logged verification's status or reason, from the field its type declares."""
KEPT = "event_id NOT IN (SELECT event_id FROM withdrawn)"
"""Events that still count: not withdrawn by the reversal of a decision taken on them."""
STANDING = "mode = 'enforce' AND ended_at IS NULL AND reversed_by IS NULL"
EVIDENCE = "SELECT jsonb_array_elements_text(record::jsonb -> 'evidence') FROM decisions"
"""The ids of every decision's evidence."""
ENTRY = "kind, fingerprint, decision_id, account_id, rule_id, reason, entered_us, ends_us"
IN_FORCE = (
    "((%(at)s::bigint IS NULL AND removed_us IS NULL) OR (entered_us <= %(at)s "
    "AND (ends_us IS NULL OR ends_us > %(at)s) AND (removed_us IS NULL OR removed_us > %(at)s)))"
)
"""An entry in force at the time `at`: entered, not ended, not yet removed (None: every entry
not removed)."""

_FIRST = f"""
CREATE TABLE meta (key {_T} PRIMARY KEY, value {_T} NOT NULL);
CREATE TABLE commits (only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    version BIGINT NOT NULL);
INSERT INTO commits VALUES (TRUE, 0);
CREATE TABLE rulesets (digest {_T} PRIMARY KEY, first_used_at {_T} NOT NULL, rules {_T} NOT NULL);
CREATE TABLE events (
    event_id {_T} PRIMARY KEY, account_id {_T} NOT NULL, type {_T} NOT NULL,
    occurred_us BIGINT NOT NULL, payload {_T} NOT NULL, clock_us BIGINT,
    arrival BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE);
CREATE INDEX verifications_by_account ON events (account_id, occurred_us) WHERE {BY_ACCOUNT};
CREATE INDEX events_by_account ON events (account_id, arrival);
CREATE INDEX events_by_type ON events (type, occurred_us);
CREATE INDEX events_by_time ON events (occurred_us);
CREATE TABLE accounts (account_id {_T} PRIMARY KEY, status {_T} NOT NULL);
CREATE TABLE decisions (
    decision_id {_T} PRIMARY KEY, account_id {_T} NOT NULL, event_id {_T} NOT NULL,
    action {_T} NOT NULL, mode {_T} NOT NULL, rule_id {_T} NOT NULL,
    effective_at {_T} NOT NULL, expires_at {_T}, end_condition {_T},
    ended_at {_T}, reversed_by {_T}, record {_T} NOT NULL, reversed_how {_T},
    position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE);
CREATE INDEX decisions_by_account ON decisions (account_id, position);
CREATE INDEX decisions_reversed ON decisions (reversed_how) WHERE reversed_by IS NOT NULL;
CREATE INDEX decisions_by_expiry ON decisions (expires_at)
    WHERE expires_at IS NOT NULL AND ended_at IS NULL AND reversed_by IS NULL;
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY, version INTEGER NOT NULL, kind {_T} NOT NULL,
    account_id {_T}, event_id {_T}, decision_id {_T}, occurred_at {_T},
    recorded_at {_T} NOT NULL, record {_T} NOT NULL,
    ruleset_digest {_T}, prev_hash {_T}, hash {_T});
CREATE INDEX audit_by_account ON audit (account_id, seq);
CREATE TABLE history (
    stream {_T} NOT NULL, account_id {_T} NOT NULL, occurred_us BIGINT NOT NULL,
    event_id {_T} NOT NULL, value JSONB,
    PRIMARY KEY (stream, account_id, occurred_us, event_id));
CREATE INDEX history_by_value ON history (stream, account_id, value, occurred_us);
CREATE INDEX history_by_time ON history (stream, occurred_us);
CREATE TABLE streams (key {_T} PRIMARY KEY, filled_at {_T} NOT NULL);
CREATE TABLE rejections (digest {_T} PRIMARY KEY);
CREATE TABLE withdrawn (
    event_id {_T} PRIMARY KEY, by_event {_T} NOT NULL, decision_id {_T} NOT NULL);
CREATE INDEX withdrawn_by_decision ON withdrawn (decision_id);
CREATE TABLE deadlines (
    rule_id {_T} NOT NULL, anchor_id {_T} NOT NULL, account_id {_T} NOT NULL,
    anchor_event_id {_T} NOT NULL, start_us BIGINT NOT NULL, due_us BIGINT NOT NULL,
    state {_T} NOT NULL, PRIMARY KEY (rule_id, anchor_id));
CREATE INDEX deadlines_due ON deadlines (due_us) WHERE state = 'pending';
CREATE INDEX deadlines_by_account ON deadlines (account_id) WHERE state = 'pending';
CREATE TABLE identities (
    kind {_T} NOT NULL, fingerprint BYTEA NOT NULL, account_id {_T} NOT NULL,
    event_id {_T} NOT NULL, registered_us BIGINT NOT NULL,
    PRIMARY KEY (kind, fingerprint, registered_us, account_id, event_id));
CREATE INDEX identities_by_account ON identities (account_id);
CREATE INDEX identities_by_event ON identities (event_id);
CREATE TABLE blacklist (
    kind {_T} NOT NULL, fingerprint {_T} NOT NULL, decision_id {_T} NOT NULL,
    account_id {_T} NOT NULL, rule_id {_T} NOT NULL, reason {_T} NOT NULL,
    entered_us BIGINT NOT NULL, ends_us BIGINT, removed_us BIGINT, removed_by {_T},
    position BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,
    PRIMARY KEY (kind, fingerprint, decision_id));
CREATE INDEX blacklist_by_account ON blacklist (account_id);
CREATE TABLE notice_templates (digest {_T} PRIMARY KEY, files {_T} NOT NULL);
CREATE TABLE purged_events (event_id {_T} PRIMARY KEY);
"""


@attrs.frozen
class Migration:
    """One step of the schema: its version (the steps are numbered 1, 2, … in order), what
    it does, and its SQL (no parameters; several statements)."""

    version: int
    does: str
    sql: str


_WORKERS = f"""
CREATE TABLE workers (
    worker_id {_T} PRIMARY KEY, progress_us BIGINT, state {_T} NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(), heartbeat TIMESTAMPTZ NOT NULL DEFAULT now());
"""
"""The writers of the db and their event-time progress: the low watermark (issue 16 item 3)."""

_LISTS = f"""
CREATE TABLE list_changes (
    account_id {_T} NOT NULL, list {_T} NOT NULL, occurred_us BIGINT NOT NULL,
    event_id {_T} NOT NULL, op {_T} NOT NULL,
    PRIMARY KEY (account_id, occurred_us, event_id, list));
"""
"""Each account's list changes in event time (`list_update` events, issue 18)."""

_CLAIM = """
CREATE FUNCTION blacklist_claim(keys text[]) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k text;
BEGIN
    FOREACH k IN ARRAY keys LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(k, 0));
    END LOOP;
    RETURN (SELECT version FROM commits);
END $$;
"""
"""Claims in one round trip (issue 16 item 5): a transaction-scoped advisory lock on each key,
in the order given, then the commit count as of after the last lock (a statement of its own
inside the function: read committed, it sees the commits we waited for)."""

MIGRATIONS = (
    Migration(1, "the store's tables, as the SQLite store's schema 7 has them", _FIRST),
    Migration(2, "workers: each writer's event-time progress and heartbeat", _WORKERS),
    Migration(3, "the transactional outbox of decisions to publish", OUTBOX_MIGRATION),
    Migration(
        4,
        "the deadlines by account in every state, as the SQLite store's schema 9 (issue 19)",
        "CREATE INDEX deadlines_of_account ON deadlines (account_id);",
    ),
    Migration(5, "each account's list changes, as the SQLite store's schema 10 (issue 18)", _LISTS),
    Migration(6, "blacklist_claim(keys): many claims in one round trip (issue 16)", _CLAIM),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
TABLES = (
    "meta",
    "workers",
    "rulesets",
    "events",
    "accounts",
    "decisions",
    "audit",
    "history",
    "streams",
    "rejections",
    "withdrawn",
    "deadlines",
    "identities",
    "blacklist",
    "notice_templates",
    "purged_events",
    "outbox",
    "list_changes",
)
"""The store's tables (but `commits` and `schema_migrations`, which are the db's own)."""


def found_version(db: PgConnection) -> int | None:
    """The highest migration applied to the db, or None when it has none."""
    if db.value("SELECT to_regclass('schema_migrations')") is None:
        return None
    found = db.value("SELECT max(version) FROM schema_migrations")
    return None if found is None else int(found)


def migrate(db: PgConnection) -> int | None:
    """Check the db's version, then (on a writable open) apply the missing migrations in order;
    the version found before. A newer db, or a read-only open of one not at this version, is
    refused untouched (`StoreError`)."""
    found = found_version(db)
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(
            f"{db.path} has store schema {found}; this version reads {SCHEMA_VERSION}: "
            "nothing was changed"
        )
    if found == SCHEMA_VERSION:
        return found
    if db.read_only:
        raise StoreError(
            f"{db.path} has store schema {found or 'none'}; opened read-only, it cannot be "
            f"migrated to {SCHEMA_VERSION}: open it for writing once"
        )
    with db.begin():
        db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCKS, MIGRATION_LOCK))
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            f"does {_T} NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = found_version(db) or 0  # (another process may have migrated meanwhile)
        for step in MIGRATIONS[done:]:
            db.execute(step.sql)
            db.execute(
                "INSERT INTO schema_migrations (version, does) VALUES (%s, %s)",
                (step.version, step.does),
            )
    return found
