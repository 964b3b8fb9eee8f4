"""In-memory purges of the history and of the trail: what SQLite's do, over the tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from blacklist_rules.errors import StoreError
from blacklist_rules.model.chain import GENESIS, PURGE_KIND
from blacklist_rules.model.events import declared_payload, from_micros, to_micros
from blacklist_rules.stores.audit_crosscheck import (
    DEADLINE_CARRIED,
    DEADLINE_COLUMNS,
    DEADLINE_ROW,
    DECISION_CARRIED,
    DECISION_COLUMNS,
    ENTRY_CARRIED,
    ENTRY_COLUMNS,
    LIST_CARRIED,
    LIST_CHANGE,
    LIST_COLUMNS,
    LISTS_CARRIED,
    STATUS_CARRIED,
    VOUCHES,
    carried_decision,
)
from blacklist_rules.stores.records import AuditPurge, HistoryPurge
from blacklist_rules.stores.sqlite.retention import PERSONS, RetentionPolicy
from blacklist_rules.stores.sqlite.schema import LOGGED_BY_ACCOUNT

from .audit import MemoryAudit
from .base import PATH
from .events import MemoryEvents

_ENTRY_RECORDS = ("blacklist_entry", "blacklist_entry_removed", ENTRY_CARRIED)


class MemoryRetention(MemoryAudit, MemoryEvents, RetentionPolicy):
    """The purges of the in-memory store."""

    def purge_history(self, before: datetime | None = None) -> HistoryPurge:
        """As `SQLiteStore.purge_history`."""
        before = self._purge_cut(before, "event history")
        clock = self.meta("clock")
        if clock is not None:
            before = min(before, datetime.fromisoformat(clock) - self.retention())
        cut_us = to_micros(before)
        horizon = self.meta("horizon_us")
        if horizon is None:
            raise StoreError(
                f"{PATH}: how far back this db's rules reach is not recorded: open it with an "
                "Engine of its rules first"
            )
        transaction = self.begin()
        try:
            if self._history_cut_us is not None and cut_us <= self._history_cut_us:
                transaction.commit()
                return HistoryPurge(from_micros(self._history_cut_us), 0, 0, None)
            first, line = self._history_kept(cut_us, int(horizon))
            evidence = {
                item
                for d in self._t.decisions.values()
                for item in json.loads(d.record)["evidence"]
            }
            settled = [
                e
                for e in self._t.events.values()
                if e.occurred_us < line and e.position < first and e.event_id not in evidence
            ]
            gone = [e for e in settled if e.type not in LOGGED_BY_ACCOUNT | PERSONS]
            for e in gone:
                self._t.purged.add(e.event_id)
                del self._t.events[e.event_id]
            reduced = 0
            for e in settled:
                if e.type in LOGGED_BY_ACCOUNT and declared_payload(e.payload) != e.payload:
                    e.payload = declared_payload(e.payload)
                    reduced += 1
            self.set_meta("history_cut_us", str(cut_us))
            self._history_cut_us = cut_us
            done = HistoryPurge(from_micros(cut_us), len(gone), reduced, from_micros(line))
            self.audit("history_purged", done.to_dict())
            transaction.commit()
        except BaseException:
            transaction.rollback()
            self._history_cut_us = int(self.meta("history_cut_us") or 0) or None
            raise
        return done

    def _history_kept(self, cut_us: int, horizon_us: int) -> tuple[int, int]:
        """As `SQLiteStore._history_kept`."""
        events = self._t.events.values()
        first = min((e.position for e in events if e.occurred_us >= cut_us), default=None)
        first = self.log_end() if first is None else first
        line = cut_us - horizon_us
        late = [e.occurred_us for e in events if e.position >= first and e.occurred_us >= line]
        return first, min(line, min(late) - horizon_us) if late else line

    def purge_audit(self, before: datetime | None = None, *, verify: bool = True) -> AuditPurge:
        """As `SQLiteStore.purge_audit`."""
        before = self._purge_cut(before, "audit records")
        verdict = self.verify_audit() if verify else None
        if verdict is not None and not verdict.ok:
            raise StoreError(f"the audit trail does not verify ({verdict}); nothing purged")
        with self.begin():
            trail = self._t.audit
            since = before.astimezone(UTC).isoformat()
            young = [r["seq"] for r in trail if r["recorded_at"] >= since]
            cut = min(young) if young else max((r["seq"] for r in trail), default=0) + 1
            gone = [r for r in trail if r["seq"] < cut]
            if not gone:
                return AuditPurge(0, None)
            kept = [r["prev_hash"] for r in trail if r["seq"] == cut]
            head = self.meta("audit_head") or f"0:{GENESIS}"
            old = json.loads(self.meta("audit_checkpoint") or '{"removed": 0}')
            checkpoint = {
                "seq": cut,
                "previous": (kept[0] if kept else head.split(":", 1)[1]) or GENESIS,
                "removed": old["removed"] + sum(1 for r in gone if r["hash"] is not None),
                "before": before.isoformat(),
            }
            self._t.audit = [r for r in trail if r["seq"] >= cut]
            self.set_meta("audit_checkpoint", json.dumps(checkpoint))
            bare = self._bare_rows()
            lists = sum(kind == LIST_CARRIED for kind, _ in bare)
            record = {
                **checkpoint,
                "records": len(gone),
                "carried": len(bare),
                LISTS_CARRIED: lists,
            }
            self.audit(PURGE_KIND, record, seq=None if young else cut)
            for kind, carried in bare:
                self.audit(
                    kind,
                    carried,
                    account_id=carried["account_id"],
                    decision_id=carried.get("decision_id"),
                )
        return AuditPurge(len(gone), cut)

    def _bare_rows(self) -> list[tuple[str, dict[str, Any]]]:
        """As `SQLiteStore._bare_rows`: the rows no kept record vouches for."""
        trail = self._t.audit
        decided = {r["decision_id"] for r in trail if r["kind"] in ("decision", DECISION_CARRIED)}
        told = {r["account_id"] for r in trail if r["kind"] in ("status_change", STATUS_CARRIED)}
        entered = set()
        for r in trail:
            if r["kind"] in _ENTRY_RECORDS:
                record = json.loads(r["record"])
                entered.add((record.get("kind"), record.get("fingerprint"), r["decision_id"]))
        found: list[tuple[str, dict[str, Any]]] = [
            (
                DECISION_CARRIED,
                carried_decision(tuple(getattr(d, c) for c in DECISION_COLUMNS), self.event_rows),
            )
            for d in self._t.decisions.values()
            if d.decision_id not in decided
        ]
        found += [
            (STATUS_CARRIED, {"account_id": account, "status": status})
            for account, status in sorted(self._t.accounts.items())
            if account not in told
        ]
        entries = sorted(self._t.blacklist.items())
        found += [
            (ENTRY_CARRIED, {c: getattr(e, c) for c in ENTRY_COLUMNS})
            for key, e in entries
            if key not in entered
        ]
        vouched = self._vouched_deadlines()
        found += [
            (DEADLINE_CARRIED, dict(zip(DEADLINE_COLUMNS, row, strict=True)))
            for key, row in sorted(self._t.deadlines.items())
            if key not in vouched
        ]
        changed = {
            (r["account_id"], record.get("event_id"), record.get("list"))
            for r in trail
            if r["kind"] in (LIST_CHANGE, LIST_CARRIED)
            for record in (json.loads(r["record"]),)
        }
        found += [
            (LIST_CARRIED, dict(zip(LIST_COLUMNS, row, strict=True)))
            for row in self._list_rows()
            if (row[0], row[3], row[1]) not in changed
        ]
        return found

    def _vouched_deadlines(self) -> set[tuple[str, str]]:
        """(rule, anchor) of every deadline a kept record vouches for: a `deadline` or
        carried record, or the decision record that started it."""
        found = set()
        for r in self._t.audit:
            record = json.loads(r["record"])
            if r["kind"] in (DEADLINE_ROW, DEADLINE_CARRIED):
                found.add((record.get("rule_id"), record.get("anchor_id")))
            elif r["kind"] == "decision":
                for d in record.get(VOUCHES, {}).get("deadlines", []):
                    found.add((d.get("rule_id"), d.get("anchor_id")))
        return found
