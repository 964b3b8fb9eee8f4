"""Retention: how long audit records are kept, and the purges of the event history and of
the audit trail (each one an audit record)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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
from blacklist_rules.stores.protocols import Transaction
from blacklist_rules.stores.records import AuditPurge, HistoryPurge

from .audit import SQLiteAudit
from .events import SQLiteEvents
from .schema import (
    BY_ACCOUNT,
    EVIDENCE,
)

PERSONS = frozenset({"appeal_outcome", "review_decision"})
"""Events of a person's decision: kept whole by a history purge, as the evidence of decisions
is: notices, explanations and DSA statements read them."""
RETENTION_FLOOR = timedelta(days=180)
"""Audit records younger than this are never purged: the legal floor for logs."""
_KEPT_RECORD = "SELECT {0} FROM audit WHERE kind IN ({1}) AND {0} IS NOT NULL"
BARE_ROWS = (
    f"SELECT {', '.join(DECISION_COLUMNS)} FROM decisions WHERE decision_id NOT IN "
    f"({_KEPT_RECORD.format('decision_id', repr('decision') + ', ' + repr(DECISION_CARRIED))}) "
    "ORDER BY rowid",
    "SELECT account_id, status FROM accounts WHERE account_id NOT IN "
    f"({_KEPT_RECORD.format('account_id', repr('status_change') + ', ' + repr(STATUS_CARRIED))}) "
    "ORDER BY account_id",
    f"SELECT {', '.join(ENTRY_COLUMNS)} FROM blacklist WHERE "
    "json_array(kind, fingerprint, decision_id) NOT IN (SELECT json_array("
    "json_extract(record, '$.kind'), json_extract(record, '$.fingerprint'), decision_id) "
    "FROM audit WHERE kind IN ('blacklist_entry', 'blacklist_entry_removed', "
    f"'{ENTRY_CARRIED}')) ORDER BY kind, fingerprint, decision_id",
    f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadlines WHERE json_array(rule_id, anchor_id) "
    "NOT IN (SELECT json_array(json_extract(record, '$.rule_id'), json_extract(record, "
    f"'$.anchor_id')) FROM audit WHERE kind IN ('{DEADLINE_ROW}', '{DEADLINE_CARRIED}') UNION ALL "
    "SELECT json_array(json_extract(d.value, '$.rule_id'), json_extract(d.value, '$.anchor_id')) "
    f"FROM audit, json_each(audit.record, '$.{VOUCHES}.deadlines') d "
    "WHERE audit.kind = 'decision') ORDER BY rule_id, anchor_id",
)
BARE_LISTS = (
    f"SELECT {', '.join(LIST_COLUMNS)} FROM list_changes WHERE "
    "json_array(account_id, event_id, list) NOT IN (SELECT json_array(account_id, "
    "json_extract(record, '$.event_id'), json_extract(record, '$.list')) FROM audit "
    f"WHERE kind IN ('{LIST_CHANGE}', '{LIST_CARRIED}')) "
    "ORDER BY account_id, occurred_us, event_id, list"
)
"""The list changes no kept record vouches for (`list_change` or `list_change_carried`):
what a purge re-records with the rows of `BARE_ROWS`."""
"""The rows of the decisions, accounts, blacklist and deadlines tables no kept record vouches
for fully (a decision without its `decision` record, an account without a status change, an
entry without its entry record, a deadline without a `deadline` record or the decision record
that started it; what a purge carried counts): what a purge re-records. Each list is built
once (a temporary b-tree), never a correlated scan of the trail per row: the trail has no
index on `decision_id`."""


class RetentionPolicy:
    """The retention setting and the cuts purges may make: storage-neutral (it reads and
    writes through `meta`, `begin` and `audit` only), so every store shares it. It lives here,
    beside the SQLite purges, so that the mutation target `retention` keeps one module."""

    now: Callable[[], datetime]
    read_only: bool
    _history_cut_us: int | None

    if TYPE_CHECKING:

        def meta(self, key: str) -> str | None: ...

        def set_meta(self, key: str, value: str) -> None: ...

        def begin(self) -> Transaction: ...

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
        ) -> None: ...

    def retention(self) -> timedelta:
        """How long audit records are kept: the configured period, else `RETENTION_FLOOR`."""
        days = self.meta("audit_retention_days")
        return timedelta(days=int(days)) if days else RETENTION_FLOOR

    def retention_is_default(self) -> bool:
        """Whether no retention was configured (`retention` is then `RETENTION_FLOOR`)."""
        return self.meta("audit_retention_days") is None

    def set_retention(self, period: timedelta) -> None:
        """Configure how long audit records are kept (whole days, never under the floor);
        the change is itself an audit record."""
        if period % timedelta(days=1):
            raise StoreError(f"a retention is whole days: {period} is not")
        if period < RETENTION_FLOOR:
            raise StoreError(
                f"a retention of {period.days} days is under the legal floor for logs: "
                f"at least {RETENTION_FLOOR.days} days"
            )
        days = period.days
        previous = self.retention().days
        with self.begin():
            self.set_meta("audit_retention_days", str(days))
            self.audit("retention_set", {"days": days, "previous_days": previous})

    def _purge_cut(self, before: datetime | None, what: str) -> datetime:
        """`before`, or the retention ago; refused when younger than the retention."""
        kept_for = self.retention()
        limit = self.now() - kept_for
        if before is None:
            return limit
        if before > limit:
            floor = "the legal floor for logs" if kept_for == RETENTION_FLOOR else "as configured"
            raise StoreError(
                f"{what} younger than {kept_for.days} days are kept ({floor}): "
                f"purge before {limit.isoformat(timespec='seconds')} at the latest"
            )
        return before

    @property
    def history_cut_us(self) -> int | None:
        """The history cut (event time, µs): the events before it were purged or settled;
        None while no history was purged."""
        return self._history_cut_us

    def note_horizon(self, horizon_us: int) -> None:
        """Remember the longest reach back in time of any pack that ran on this db: a
        history purge keeps what windows that long can count."""
        if not self.read_only and horizon_us > int(self.meta("horizon_us") or 0):
            self.set_meta("horizon_us", str(horizon_us))


class SQLiteRetention(SQLiteAudit, SQLiteEvents, RetentionPolicy):
    """The purges of the SQLite store (they read the log and write the trail)."""

    def purge_history(self, before: datetime | None = None) -> HistoryPurge:
        """Purge the event history before `before` (default: the retention ago; never younger
        than the retention, counted on the wall clock and on event time alike).

        Before the cut, history is settled: an event from before it is refused (a resend of
        one the db had is a duplicate), and the reversal cascade re-evaluates nothing decided
        before it. Events within the longest window before the cut are kept whole (a replay's
        windows after the cut count them), as are those that came after the first event from
        the cut on and what their windows reach (see `_history_kept`). Older ones are removed
        (their ids are kept, to recognise resends), but for the evidence of every decision and
        persons' reviews and appeals, kept whole (what notices, DSA statements and explanations
        read), and each account's registrations and identity verifications (its verified
        identity), kept with only their declared fields. Decisions, the blacklist and the keyed
        fingerprints of registrations are account state and stay. The purge is an audit
        record."""
        before = self._purge_cut(before, "event history")
        clock = self.meta("clock")
        if clock is not None:  # no event younger than the retention either
            before = min(before, datetime.fromisoformat(clock) - self.retention())
        cut_us = to_micros(before)
        horizon = self.meta("horizon_us")
        if horizon is None:
            raise StoreError(
                f"{self.path}: how far back this db's rules reach is not recorded (it was written "
                "before history purges were): open it with an Engine of its rules first "
                "(`audit purge` does, with its --rules)"
            )
        transaction = self.begin()
        try:
            if self._history_cut_us is not None and cut_us <= self._history_cut_us:
                transaction.commit()
                return HistoryPurge(from_micros(self._history_cut_us), 0, 0, None)
            first, line = self._history_kept(cut_us, int(horizon))
            settled = f"occurred_us < ? AND rowid < {first}"
            gone = (
                f"{settled} AND NOT {BY_ACCOUNT} "
                f"AND type NOT IN ({', '.join(repr(t) for t in sorted(PERSONS))}) "
                f"AND event_id NOT IN ({EVIDENCE})"
            )
            self._db.execute(
                f"INSERT OR IGNORE INTO purged_events SELECT event_id FROM events WHERE {gone}",
                (line,),
            )
            removed = self._db.execute(f"DELETE FROM events WHERE {gone}", (line,)).rowcount
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
        reduced = 0
        rows = self._db.execute(
            f"SELECT event_id, payload FROM events WHERE {settled} AND {BY_ACCOUNT} "
            f"AND event_id NOT IN ({EVIDENCE})",
            (line,),
        ).fetchall()
        for event_id, payload in rows:
            declared = declared_payload(payload)
            if declared != payload:
                self._db.execute(
                    "UPDATE events SET payload = ? WHERE event_id = ?", (declared, event_id)
                )
                reduced += 1
        return reduced

    def _history_kept(self, cut_us: int, horizon_us: int) -> tuple[int, int]:
        """What a history purge keeps however old: the events from the log position of the
        first event from the cut on (the cascade replays them: see `engine.scratch`),
        and those from the time returned on: the longest window before the cut, or before
        the oldest of those replayed that a window still counts (its windows reach back)."""
        (first,) = self._db.execute(
            "SELECT min(rowid) FROM events WHERE occurred_us >= ?", (cut_us,)
        ).fetchone()
        first = self.log_end() if first is None else int(first)
        line = cut_us - horizon_us
        (late,) = self._db.execute(
            "SELECT min(occurred_us) FROM events WHERE rowid >= ? AND occurred_us >= ?",
            (first, line),
        ).fetchone()
        return first, line if late is None else min(line, int(late) - horizon_us)

    def purge_audit(self, before: datetime | None = None, *, verify: bool = True) -> AuditPurge:
        """Remove the audit records logged before `before` (default: the configured retention
        ago; a prefix of the trail) and leave a checkpoint, so what remains still verifies; the
        purge is itself an audit record. Refused for anything younger than the retention
        (never under `RETENTION_FLOOR`), or when the chain does not verify (`verify=False`:
        the caller has just verified it, as the CLI does to set its exit code). Returns
        (records removed, the first seq kept)."""
        before = self._purge_cut(before, "audit records")
        verdict = self.verify_audit() if verify else None
        if verdict is not None and not verdict.ok:
            raise StoreError(f"the audit trail does not verify ({verdict}); nothing purged")
        transaction = self.begin()
        try:
            row = self._db.execute(
                "SELECT min(seq) FROM audit WHERE recorded_at >= ?",
                (before.astimezone(UTC).isoformat(),),
            ).fetchone()
            last = self._db.execute("SELECT max(seq) FROM audit").fetchone()[0]
            cut = row[0] if row[0] is not None else (last or 0) + 1
            gone = self._db.execute(
                "SELECT count(*), count(hash) FROM audit WHERE seq < ?", (cut,)
            ).fetchone()
            if not gone[0]:
                transaction.commit()
                return AuditPurge(0, None)
            kept = self._db.execute("SELECT prev_hash FROM audit WHERE seq = ?", (cut,)).fetchone()
            head = self.meta("audit_head") or f"0:{GENESIS}"
            old = json.loads(self.meta("audit_checkpoint") or '{"removed": 0}')
            checkpoint = {
                "seq": cut,
                # (None: the first record kept predates the chain, which starts later)
                "previous": (kept[0] if kept is not None else head.split(":", 1)[1]) or GENESIS,
                "removed": old["removed"] + gone[1],
                "before": before.isoformat(),
            }
            self._db.execute("DELETE FROM audit WHERE seq < ?", (cut,))
            self.set_meta("audit_checkpoint", json.dumps(checkpoint))
            # Numbered after what it removed, even when nothing is left to count on.
            seq = cut if row[0] is None else None
            bare = self._bare_rows()
            lists = sum(kind == LIST_CARRIED for kind, _ in bare)
            self.audit(
                PURGE_KIND,
                {**checkpoint, "records": gone[0], "carried": len(bare), LISTS_CARRIED: lists},
                seq=seq,
            )
            for kind, record in bare:
                self.audit(
                    kind,
                    record,
                    account_id=record["account_id"],
                    decision_id=record.get("decision_id"),
                )
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
        return AuditPurge(int(gone[0]), int(cut))

    def _bare_rows(self) -> list[tuple[str, dict[str, Any]]]:
        """The rows a purge has just left without their records (`BARE_ROWS`), as they stand,
        to be recorded again (`audit_crosscheck`)."""
        decisions, accounts, entries, deadlines = (
            self._db.execute(query).fetchall() for query in BARE_ROWS
        )
        found = [(DECISION_CARRIED, carried_decision(row, self.event_rows)) for row in decisions]
        found += [(STATUS_CARRIED, {"account_id": row[0], "status": row[1]}) for row in accounts]
        found += [(ENTRY_CARRIED, dict(zip(ENTRY_COLUMNS, row, strict=True))) for row in entries]
        found += [
            (DEADLINE_CARRIED, dict(zip(DEADLINE_COLUMNS, row, strict=True))) for row in deadlines
        ]
        found += [
            (LIST_CARRIED, dict(zip(LIST_COLUMNS, row, strict=True)))
            for row in self._db.execute(BARE_LISTS)
        ]
        return found
