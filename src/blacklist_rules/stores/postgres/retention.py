"""Retention: the purges of the event history and of the audit trail (each one an audit
record), as the SQLite store makes them; the settings are the shared `RetentionPolicy`."""

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

from .audit import PostgresAudit
from .events import PostgresEvents
from .schema import BY_ACCOUNT, EVIDENCE

_RECORDED = "SELECT 1 FROM audit a WHERE a.kind IN ({0}) AND {1}"
BARE_ROWS = (
    f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions d WHERE NOT EXISTS ("
    + _RECORDED.format(f"'decision', '{DECISION_CARRIED}'", "a.decision_id = d.decision_id")
    + ") ORDER BY position",
    "SELECT account_id, status FROM accounts s WHERE NOT EXISTS ("
    + _RECORDED.format(f"'status_change', '{STATUS_CARRIED}'", "a.account_id = s.account_id")
    + ") ORDER BY account_id",
    f"SELECT {', '.join(ENTRY_COLUMNS)} FROM blacklist b WHERE NOT EXISTS ("
    + _RECORDED.format(
        f"'blacklist_entry', 'blacklist_entry_removed', '{ENTRY_CARRIED}'",
        "a.record::jsonb ->> 'kind' = b.kind AND a.record::jsonb ->> 'fingerprint' = "
        "b.fingerprint AND a.decision_id = b.decision_id",
    )
    + ") ORDER BY kind, fingerprint, decision_id",
    f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines d WHERE NOT EXISTS ("
    + _RECORDED.format(
        f"'{DEADLINE_ROW}', '{DEADLINE_CARRIED}'",
        "a.record::jsonb ->> 'rule_id' = d.rule_id AND a.record::jsonb ->> 'anchor_id' = "
        "d.anchor_id",
    )
    + ") AND NOT EXISTS (SELECT 1 FROM audit a, "
    f"jsonb_array_elements(a.record::jsonb -> '{VOUCHES}' -> 'deadlines') x "
    "WHERE a.kind = 'decision' AND x ->> 'rule_id' = d.rule_id "
    "AND x ->> 'anchor_id' = d.anchor_id) ORDER BY rule_id, anchor_id",
)
BARE_LISTS = (
    f"SELECT {', '.join(LIST_COLUMNS)} FROM list_changes c WHERE NOT EXISTS ("
    + _RECORDED.format(
        f"'{LIST_CHANGE}', '{LIST_CARRIED}'",
        "a.account_id = c.account_id AND a.record::jsonb ->> 'event_id' = c.event_id "
        "AND a.record::jsonb ->> 'list' = c.list",
    )
    + ") ORDER BY account_id, occurred_us, event_id, list"
)
"""The list changes no kept record vouches for (as the SQLite store's `BARE_LISTS`)."""
"""The rows of the decisions, accounts, blacklist and deadlines tables no kept record vouches
for (as the SQLite store's `BARE_ROWS`): what an audit purge re-records. PostgreSQL plans each
`NOT EXISTS` as one anti-join over the trail, never a scan of it per row."""


class PostgresRetention(PostgresAudit, PostgresEvents, RetentionPolicy):
    """The purges of the PostgreSQL store (they read the log and write the trail)."""

    def purge_history(self, before: datetime | None = None) -> HistoryPurge:
        """Purge the event history before `before`, as `SQLiteStore.purge_history` does (see
        `Retention.purge_history`): what it keeps and why is the same."""
        self._history.clear()  # (rows go: those read ahead may be gone)
        before = self._purge_cut(before, "event history")
        clock = self.meta("clock")
        if clock is not None:  # no event younger than the retention either
            before = min(before, datetime.fromisoformat(clock) - self.retention())
        cut_us = to_micros(before)
        horizon = self.meta("horizon_us")
        if horizon is None:
            raise StoreError(
                f"{self.path}: how far back this db's rules reach is not recorded: open it "
                "with an Engine of its rules first (`audit purge` does, with its --rules)"
            )
        transaction = self.begin()
        try:
            if self._history_cut_us is not None and cut_us <= self._history_cut_us:
                transaction.commit()
                return HistoryPurge(from_micros(self._history_cut_us), 0, 0, None)
            first, line = self._history_kept(cut_us, int(horizon))
            settled = f"occurred_us < %(line)s AND arrival < {first}"
            gone = (
                f"{settled} AND NOT {BY_ACCOUNT} "
                f"AND type NOT IN ({', '.join(repr(t) for t in sorted(PERSONS))}) "
                f"AND event_id NOT IN ({EVIDENCE})"
            )
            self._db.execute(
                f"INSERT INTO purged_events SELECT event_id FROM events WHERE {gone} "
                "ON CONFLICT DO NOTHING",
                {"line": line},
            )
            removed = self._db.execute(f"DELETE FROM events WHERE {gone}", {"line": line})
            reduced = self._reduce_settled(settled, line)
            self.set_meta("history_cut_us", str(cut_us))
            self._history_cut_us = cut_us
            done = HistoryPurge(from_micros(cut_us), removed, reduced, from_micros(line))
            self.audit("history_purged", done.to_dict())
            transaction.commit()
        except BaseException:
            transaction.rollback()
            self._history_cut_us = int(self.meta("history_cut_us") or 0) or None
            raise
        return done

    def _reduce_settled(self, settled: str, line: int) -> int:
        """Reduce the settled registrations and verifications to their declared fields (the
        evidence of decisions is kept whole: explanations show it); how many changed."""
        rows = self._db.all(
            f"SELECT event_id, payload FROM events WHERE {settled} AND {BY_ACCOUNT} "
            f"AND event_id NOT IN ({EVIDENCE})",
            {"line": line},
        )
        changed = [
            (declared, event_id)
            for event_id, payload in rows
            if (declared := declared_payload(payload)) != payload
        ]
        self._db.run_many("UPDATE events SET payload = %s WHERE event_id = %s", changed)
        return len(changed)

    def _history_kept(self, cut_us: int, horizon_us: int) -> tuple[int, int]:
        """What a history purge keeps however old (as `SQLiteStore._history_kept`): the events
        from the log position of the first event from the cut on, and those from the time
        returned on."""
        first = self._db.value("SELECT min(arrival) FROM events WHERE occurred_us >= %s", (cut_us,))
        first = self.log_end() if first is None else int(first)
        line = cut_us - horizon_us
        late = self._db.value(
            "SELECT min(occurred_us) FROM events WHERE arrival >= %s AND occurred_us >= %s",
            (first, line),
        )
        return first, line if late is None else min(line, int(late) - horizon_us)

    def purge_audit(self, before: datetime | None = None, *, verify: bool = True) -> AuditPurge:
        """Remove the audit records logged before `before`, as `SQLiteStore.purge_audit` does
        (see `Retention.purge_audit`); returns (records removed, the first seq kept)."""
        before = self._purge_cut(before, "audit records")
        verdict = self.verify_audit() if verify else None
        if verdict is not None and not verdict.ok:
            raise StoreError(f"the audit trail does not verify ({verdict}); nothing purged")
        transaction = self.begin()
        try:
            found = self._purge_trail(before)
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
        return found

    def _purge_trail(self, before: datetime) -> AuditPurge:
        """The purge itself, inside the transaction (and under the chain's lock)."""
        self._audit_lock()
        first_kept = self._db.value(
            "SELECT min(seq) FROM audit WHERE recorded_at >= %s",
            (before.astimezone(UTC).isoformat(),),
        )
        last = self._db.value("SELECT max(seq) FROM audit")
        cut = int(first_kept) if first_kept is not None else int(last or 0) + 1
        gone = self._db.one("SELECT count(*), count(hash) FROM audit WHERE seq < %s", (cut,))
        if gone is None or not gone[0]:
            return AuditPurge(0, None)
        kept = self._db.one("SELECT prev_hash FROM audit WHERE seq = %s", (cut,))
        head = self.meta("audit_head") or f"0:{GENESIS}"
        old = json.loads(self.meta("audit_checkpoint") or '{"removed": 0}')
        checkpoint = {
            "seq": cut,
            # (None: the first record kept predates the chain, which starts later)
            "previous": (kept[0] if kept is not None else head.split(":", 1)[1]) or GENESIS,
            "removed": old["removed"] + gone[1],
            "before": before.isoformat(),
        }
        self._db.execute("DELETE FROM audit WHERE seq < %s", (cut,))
        self.set_meta("audit_checkpoint", json.dumps(checkpoint))
        # Numbered after what it removed, even when nothing is left to count on.
        seq = cut if first_kept is None else None
        bare = self._bare_rows()
        lists = sum(kind == LIST_CARRIED for kind, _ in bare)
        self.audit(
            PURGE_KIND,
            {**checkpoint, "records": gone[0], "carried": len(bare), LISTS_CARRIED: lists},
            seq=seq,
        )
        for kind, record in bare:
            self.audit(
                kind, record, account_id=record["account_id"], decision_id=record.get("decision_id")
            )
        return AuditPurge(int(gone[0]), cut)

    def _bare_rows(self) -> list[tuple[str, dict[str, Any]]]:
        """The rows a purge has just left without their records (`BARE_ROWS`), as they stand,
        to be recorded again (`audit_crosscheck`)."""
        decisions, accounts, entries, deadlines = (self._db.all(query) for query in BARE_ROWS)
        found = [(DECISION_CARRIED, carried_decision(row, self.event_rows)) for row in decisions]
        found += [(STATUS_CARRIED, {"account_id": row[0], "status": row[1]}) for row in accounts]
        found += [(ENTRY_CARRIED, dict(zip(ENTRY_COLUMNS, row, strict=True))) for row in entries]
        found += [
            (DEADLINE_CARRIED, dict(zip(DEADLINE_COLUMNS, row, strict=True))) for row in deadlines
        ]
        found += [
            (LIST_CARRIED, dict(zip(LIST_COLUMNS, row, strict=True)))
            for row in self._db.all(BARE_LISTS)
        ]
        return found
