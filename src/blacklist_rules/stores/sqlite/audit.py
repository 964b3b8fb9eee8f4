"""The audit trail: records appended in a hash chain, verified against the tables they
vouch for, and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs

from blacklist_rules.errors import StoreUnavailableError
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

from .base import SQLiteBase
from .schema import (
    dumps,
)

AUDIT_RECORD_VERSION = 3
"""2: a decision's end is a record of its own (`decision_ended`), and an audit purge re-records
the rows whose records it removed (see `audit_crosscheck`); 3: a decision's record vouches for
its evidence events and the deadlines it started, and every other deadline change is a record."""
EVIDENCE_ROWS = (
    f"SELECT j.value, {', '.join('e.' + column for column in EVENT_COLUMNS[1:])}, "
    "EXISTS (SELECT 1 FROM purged_events p WHERE p.event_id = j.value) "
    "FROM json_each(?) j LEFT JOIN events e ON e.event_id = j.value"
)
"""Each id of a JSON list: its event's row (`EVENT_COLUMNS`; NULLs: not stored), then whether
a history purge removed it."""


class SQLiteAudit(SQLiteBase):
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
        never deleted. The previous hash is read from the db, not memory, so a rolled-back
        event never leaves the chain pointing at a record that is gone. `seq`: its number, when
        the trail cannot tell (a purge that removed every record)."""
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
        head = self.meta("audit_head")
        count, previous = (
            (int(head.split(":", 1)[0]), head.split(":", 1)[1]) if head else (0, GENESIS)
        )
        digest = record_hash(values, previous)
        self._db.execute(
            f"INSERT INTO audit ({', '.join(CHAINED)}, prev_hash, hash, seq) "
            f"VALUES ({', '.join('?' * (len(CHAINED) + 3))})",
            (*values, previous, digest, seq),
        )
        self.set_meta("audit_head", f"{count + 1}:{digest}")

    def verify_audit(self, expect_head: AuditHead | str | None = None) -> Verdict:
        """Re-compute the audit chain (from the purge checkpoint, if any); the first record
        that does not fit. With `expect_head` (an `AuditHead` or its `COUNT:HASH`, published
        earlier): record COUNT must still carry HASH, which a trail rewritten whole does not.
        Then the tables that decisions, exports and statuses read (decisions, accounts,
        blacklist, deadlines, the evidence events, list changes): each row must be what the
        chained records of it say (`audit_crosscheck`)."""
        if isinstance(expect_head, str):
            expect_head = AuditHead.parse(expect_head)
        # Damage that the queries below would not read (an index, a free page) is damage too.
        # (Its NOT NULL findings are left out: SQLite 3.40 reports NULLs in WITHOUT ROWID
        # tables that hold none.)
        problems = [
            str(row[0])
            for row in self._db.execute("PRAGMA quick_check(20)")
            if not str(row[0]).startswith(("ok", "NULL value in "))
        ]
        if problems:
            told = " ".join(problems[0].split())
            raise StoreUnavailableError(f"{self.path}: it is damaged ({told})")
        rows = self._db.execute(
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
            self._db.execute(f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions"),
            self._db.execute("SELECT account_id, status FROM accounts"),
            self._db.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM blacklist"),
            self._db.execute(f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines"),
            self._db.execute(EVIDENCE_ROWS, (json.dumps(check.evidence_ids()),)),
            self._db.execute(f"SELECT {', '.join(LIST_COLUMNS)} FROM list_changes"),
        )
        if isinstance(found, Mismatch):
            return attrs.evolve(verdict, ok=False, seq=found.seq, problem=found.problem)
        return attrs.evolve(verdict, unchecked=found)

    def audit_records(self, account_id: str | None = None) -> Iterator[AuditRecord]:
        query = (
            "SELECT seq, version, kind, account_id, event_id, decision_id, occurred_at, "
            "recorded_at, record FROM audit"
        )
        args: tuple[str, ...] = ()
        if account_id is not None:
            query, args = query + " WHERE account_id = ?", (account_id,)
        for row in self._db.execute(query + " ORDER BY seq", args):
            yield AuditRecord.from_row(row)
