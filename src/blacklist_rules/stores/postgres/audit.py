"""The audit trail: the SQLite store's records and hash chain (`chain`), verified against the
tables they vouch for (`audit_crosscheck`), and read back.

One serialised chain for the whole db: a transaction takes the chain's advisory lock
(`CHAIN_LOCK`, held to its end) before it reads the head, so writers append one after the
other and the chain never forks. The records of a transaction wait in memory
(`_pending_audit`) and are chained and appended together just before its commit (or before
anything reads the trail or its head in it): the lock is taken last, after every account's,
so writers queue on it only for their commit, and a batch's records cost two statements.
A savepoint rolled back drops the records written after it, a rollback all of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from blacklist_rules.model.chain import FIELDS as CHAINED
from blacklist_rules.model.chain import GENESIS, AuditHead, Verdict, record_hash, verify
from blacklist_rules.stores.audit_crosscheck import (
    DEADLINE_COLUMNS,
    DECISION_COLUMNS,
    ENTRY_COLUMNS,
    EVENT_COLUMNS,
    LIST_COLUMNS,
    CrossCheck,
    Mismatch,
)
from blacklist_rules.stores.records import AuditRecord
from blacklist_rules.stores.sqlite.audit import AUDIT_RECORD_VERSION
from blacklist_rules.stores.sqlite.schema import dumps

from .base import PostgresBase
from .schema import CHAIN_LOCK, LOCKS

EVIDENCE_ROWS = (
    f"SELECT j.value, {', '.join('e.' + column for column in EVENT_COLUMNS[1:])}, "
    "EXISTS (SELECT 1 FROM purged_events p WHERE p.event_id = j.value) "
    "FROM unnest(%s::text[]) AS j(value) LEFT JOIN events e ON e.event_id = j.value"
)
"""Each id of a list: its event's row (`EVENT_COLUMNS`; NULLs: not stored), then whether a
history purge removed it."""
_APPEND = (
    "INSERT INTO audit ({columns}, prev_hash, hash, seq) VALUES ({marks}, "
    "COALESCE(%s, (SELECT max(seq) + 1 FROM audit), 1))"
).format(columns=", ".join(CHAINED), marks=", ".join(["%s"] * (len(CHAINED) + 2)))
"""One record appended (the head is moved once, after the transaction's last)."""


class PostgresAudit(PostgresBase):
    """The `audit` table; the chain's head in `meta`."""

    def audit(
        self,
        kind: str,
        record: dict[str, Any],
        *,
        account_id: str | None = None,
        event_id: str | None = None,
        decision_id: str | None = None,
        occurred_at: str | None = None,
        seq: int | None = None,
    ) -> None:
        """Append one audit record, chained to the one before it (see `chain`); never updated,
        never deleted. The previous hash is read from the db (under the chain's lock), not
        memory, so a rolled-back event never leaves the chain pointing at a record that is
        gone. `seq`: its number, when the trail cannot tell (a purge that removed every
        record). Outside a transaction, the record is one of its own. Kept in memory until
        the transaction commits (`_append_audit`)."""
        if self._db.transaction is None:
            with self._own_transaction():
                self.audit(
                    kind,
                    record,
                    account_id=account_id,
                    event_id=event_id,
                    decision_id=decision_id,
                    occurred_at=occurred_at,
                    seq=seq,
                )
            return
        values = (
            AUDIT_RECORD_VERSION,
            kind,
            account_id,
            event_id,
            decision_id,
            occurred_at,
            self.now().isoformat(),
            dumps(record),
            self._digest,
        )
        self._pending_audit.append((values, seq))

    def _append_audit(self) -> None:
        """Chain and append the open transaction's records waiting in memory, under the
        chain's lock (held to the transaction's end), and move the head to the last."""
        pending, self._pending_audit = self._pending_audit, []
        self._audit_mark = 0
        if not pending:
            return
        self._audit_lock()
        head = self._db.value("SELECT value FROM meta WHERE key = 'audit_head'")
        count, previous = (
            (int(head.split(":", 1)[0]), head.split(":", 1)[1]) if head else (0, GENESIS)
        )
        rows = []
        for values, seq in pending:
            digest = record_hash(values, previous)
            rows.append((*values, previous, digest, seq))
            count, previous = count + 1, digest
        self._db.run_many(_APPEND, rows)
        self._db.execute(
            "INSERT INTO meta VALUES ('audit_head', %s) ON CONFLICT (key) DO UPDATE SET "
            "value = excluded.value",
            (f"{count}:{previous}",),
        )

    def _before_commit(self) -> None:
        """The store's last word in each transaction: its audit records, then its count."""
        self._append_audit()
        self._count_commit()

    def _audit_lock(self) -> None:
        """Take the chain's lock until the open transaction ends (again: a no-op). A statement
        of its own: under READ COMMITTED what is read after it is what the last writer to hold
        it committed (or ours)."""
        self._db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCKS, CHAIN_LOCK))

    def verify_audit(self, expect_head: AuditHead | str | None = None) -> Verdict:
        """Re-compute the audit chain (from the purge checkpoint, if any); the first record
        that does not fit. With `expect_head` (an `AuditHead` or its `COUNT:HASH`, published
        earlier): record COUNT must still carry HASH, which a trail rewritten whole does not.
        Then the tables that decisions, exports and statuses read (decisions, accounts,
        blacklist, deadlines, the evidence events, list changes): each row must be what the
        chained records of it say (`audit_crosscheck`). Read in one snapshot (`REPEATABLE
        READ`), so writers at work meanwhile are not seen half-way."""
        if isinstance(expect_head, str):
            expect_head = AuditHead.parse(expect_head)
        if self._db.transaction is not None:  # what the open transaction sees
            self._append_audit()
            return self._verify(expect_head)
        self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            return self._verify(expect_head)
        finally:
            self._db.rollback_raw()

    def _verify(self, expect_head: AuditHead | None) -> Verdict:
        rows = self._db.all(
            f"SELECT seq, {', '.join(CHAINED)}, prev_hash, hash FROM audit ORDER BY seq"
        )
        check = CrossCheck()
        verdict = verify(
            (check.see((row[0], row[1 : 1 + len(CHAINED)], row[-2], row[-1])) for row in rows),
            self.meta("audit_head"),
            self.meta("audit_checkpoint"),
            expect_head,
        )
        if not verdict.ok:
            return verdict
        found = check.compare(
            self._db.all(f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions"),
            self._db.all("SELECT account_id, status FROM accounts"),
            self._db.all(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM blacklist"),
            self._db.all(f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines"),
            self._db.all(EVIDENCE_ROWS, (check.evidence_ids(),)),
            self._db.all(f"SELECT {', '.join(LIST_COLUMNS)} FROM list_changes"),
        )
        if isinstance(found, Mismatch):
            return attrs.evolve(verdict, ok=False, seq=found.seq, problem=found.problem)
        return attrs.evolve(verdict, unchecked=found)

    def audit_records(self, account_id: str | None = None) -> Iterator[AuditRecord]:
        if self._db.transaction is not None:  # (ours too, as written)
            self._append_audit()
        rows = self._db.all(
            "SELECT seq, version, kind, account_id, event_id, decision_id, occurred_at, "
            "recorded_at, record FROM audit WHERE (%(a)s::text IS NULL OR account_id = %(a)s) "
            "ORDER BY seq",
            {"a": account_id},
        )
        for row in rows:
            yield AuditRecord.from_row(row)
