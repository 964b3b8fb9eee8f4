"""The in-memory audit trail: the same hash chain and the same checks as SQLite's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from blacklist_rules.model.chain import FIELDS as CHAINED
from blacklist_rules.model.chain import GENESIS, AuditHead, Verdict, record_hash, verify
from blacklist_rules.stores.audit_crosscheck import (
    DECISION_COLUMNS,
    ENTRY_COLUMNS,
    CrossCheck,
    Mismatch,
)
from blacklist_rules.stores.records import AuditRecord
from blacklist_rules.stores.sqlite.audit import AUDIT_RECORD_VERSION
from blacklist_rules.stores.sqlite.schema import dumps

from .base import MemoryBase

_SHOWN = ("seq", *CHAINED[: CHAINED.index("record")])
"""The columns `audit_records` gives as they are (the record is parsed)."""


class MemoryAudit(MemoryBase):
    """The `audit` list; the chain's head in `meta`."""

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
        count, previous = (int(head.split(":")[0]), head.split(":")[1]) if head else (0, GENESIS)
        digest = record_hash(values, previous)
        trail = self._t.audit
        row = dict(zip(CHAINED, values, strict=True))
        number = seq if seq is not None else (trail[-1]["seq"] + 1 if trail else 1)
        trail.append({**row, "prev_hash": previous, "hash": digest, "seq": number})
        self.set_meta("audit_head", f"{count + 1}:{digest}")

    def verify_audit(self, expect_head: AuditHead | str | None = None) -> Verdict:
        if isinstance(expect_head, str):
            expect_head = AuditHead.parse(expect_head)
        check = CrossCheck()
        rows = (
            (r["seq"], tuple(r[name] for name in CHAINED), r["prev_hash"], r["hash"])
            for r in self._t.audit
        )
        verdict = verify(
            (check.see(row) for row in rows),
            self.meta("audit_head"),
            self.meta("audit_checkpoint"),
            expect_head,
        )
        if not verdict.ok:
            return verdict
        found = check.compare(
            [tuple(getattr(d, c) for c in DECISION_COLUMNS) for d in self._t.decisions.values()],
            list(self._t.accounts.items()),
            [tuple(getattr(e, c) for c in ENTRY_COLUMNS) for e in self._t.blacklist.values()],
            [tuple(row) for row in self._t.deadlines.values()],
            self._evidence_rows(check.evidence_ids()),
            self._list_rows(),
        )
        if isinstance(found, Mismatch):
            return attrs.evolve(verdict, ok=False, seq=found.seq, problem=found.problem)
        return attrs.evolve(verdict, unchecked=found)

    def _list_rows(self) -> list[tuple[Any, ...]]:
        """The `list_changes` rows (`LIST_COLUMNS`), by account, time, event and list."""
        return [
            (account, name, at_us, event_id, op)
            for account, rows in sorted(self._t.lists.items())
            for (at_us, event_id, name), op in sorted(rows.items())
        ]

    def _evidence_rows(self, event_ids: list[str]) -> list[tuple[Any, ...]]:
        """As the SQLite store's `EVIDENCE_ROWS`: each id, its event's row (Nones: not
        stored), then whether a history purge removed it."""
        rows = []
        for event_id in event_ids:
            e = self._t.events.get(event_id)
            stored = (
                (None,) * 5
                if e is None
                else (e.account_id, e.type, e.occurred_us, e.payload, e.clock_us)
            )
            rows.append((event_id, *stored, event_id in self._t.purged))
        return rows

    def audit_records(self, account_id: str | None = None) -> Iterator[AuditRecord]:
        for row in list(self._t.audit):
            if account_id is None or row["account_id"] == account_id:
                yield AuditRecord.from_row([row[name] for name in (*_SHOWN, "record")])
