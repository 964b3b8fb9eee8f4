"""The state tables checked against the audit chain: what the chain alone does not cover.

`chain.verify` proves the audit trail was not edited; exports, notices and `status` read
other tables: `decisions`, `accounts` (statuses) and `blacklist` (listings). Each of their
rows is written in the same transaction as a chained record that says what it holds, so each
row must be exactly what the chained records of its key, taken in order, say it is:

- a decision: its `decision` record (every column; `effective_at` is the record's event
  time, `event_id` the one it was decided on), then `reversal` records (`reversed_by`,
  `reversed_how`) and `decision_ended` records (`ended_at`);
- an account's status: its last `status_change` record (`status_after`);
- a blacklist entry (kind, fingerprint, decision): its `blacklist_entry` record, then
  `blacklist_entry_removed` (`removed_us`, `removed_by`; a void entry is removed from its
  start);
- after an audit purge, the purge re-records (`*_carried`) every row whose records it removed,
  as it stands, so every row keeps a chained record.

A row without records, records without a row, or a column that differs is a break. One pass
over the trail builds the expected rows (one dict entry per row: linear memory), one pass
over each table compares them. The exceptions are dbs older than these records: rows whose
records predate the chain or were removed by a purge that re-recorded nothing are counted as
unchecked, and a decision recorded before `decision_ended` records existed (audit record
version 1) has its `ended_at` unchecked unless an end record names it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from .chain import FIELDS, PURGE_KIND
from .events import to_micros, utc_text

DECISION_ENDED = "decision_ended"
"""The kind of the record written when a decision ends (a freeze's time is up, a passed
verification): it vouches for `ended_at`. Written since audit record version 2."""
ENDS_RECORDED_FROM = 2
"""The audit record version from which a decision's end is always recorded."""
DECISION_CARRIED, STATUS_CARRIED, ENTRY_CARRIED = (
    "decision_carried",
    "status_carried",
    "entry_carried",
)
"""What an audit purge records of each row whose records it removed: the row as it stands."""
DECISION_COLUMNS = (
    "decision_id",
    "account_id",
    "event_id",
    "action",
    "mode",
    "rule_id",
    "effective_at",
    "expires_at",
    "end_condition",
    "ended_at",
    "reversed_by",
    "record",
    "reversed_how",
)
"""The columns of the `decisions` table, in the order `compare` reads them."""
ENTRY_COLUMNS = (
    "kind",
    "fingerprint",
    "decision_id",
    "account_id",
    "rule_id",
    "reason",
    "entered_us",
    "ends_us",
    "removed_us",
    "removed_by",
)
"""The columns of the `blacklist` table, in the order `compare` reads them."""
_UNKNOWN = object()
"""An `ended_at` no record vouches for (a decision recorded before end records existed)."""
_VERSION, _KIND, _ACCOUNT, _EVENT, _DECISION, _OCCURRED = (
    FIELDS.index(name)
    for name in ("version", "kind", "account_id", "event_id", "decision_id", "occurred_at")
)
_RECORD = FIELDS.index("record")


@attrs.frozen
class Mismatch:
    """A row that is not what the chain says: the record that says otherwise (None: none
    does) and what differs."""

    seq: int | None
    problem: str


@attrs.define
class _Expected:
    """A row as the chain says it is, and the last record that said so."""

    values: list[Any]
    seq: int


def _utc(text: str | None) -> str | None:
    return None if text is None else utc_text(datetime.fromisoformat(text))


def _micros(text: str | None) -> int | None:
    return None if text is None else to_micros(datetime.fromisoformat(text))


@attrs.define
class CrossCheck:
    """Watches the chained records go by (`see`), then compares the tables (`compare`)."""

    decisions: dict[str, _Expected] = attrs.Factory(dict)
    statuses: dict[str, _Expected] = attrs.Factory(dict)
    entries: dict[tuple[str, str, str], _Expected] = attrs.Factory(dict)
    unchained: bool = False
    """Records older than the chain were seen: rows they wrote have no chained record."""
    old_purge: bool = False
    """The last purge was made by a version that did not re-record the rows it left bare."""

    @property
    def legacy(self) -> bool:
        """Whether rows without records may be legitimate (see the two flags)."""
        return self.unchained or self.old_purge

    def see(
        self, row: tuple[int, Sequence[Any], str | None, str | None]
    ) -> tuple[int, Sequence[Any], str | None, str | None]:
        """Take note of one audit row `(seq, FIELDS values, prev_hash, hash)`; returns it."""
        seq, values, _prev, stored = row
        if stored is None:  # older than the chain: vouches for nothing
            self.unchained = True
            return row
        handler = _HANDLERS.get(str(values[_KIND]))
        if handler is not None:
            try:
                record = json.loads(values[_RECORD])
                if isinstance(record, dict):
                    handler(self, seq, values, record)
            except (ValueError, TypeError, KeyError):
                pass  # a changed record: the chain's walk names it
        return row

    def _decision(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        ended: Any = None if int(values[_VERSION]) >= ENDS_RECORDED_FROM else _UNKNOWN
        self.decisions[str(values[_DECISION])] = _Expected(
            [
                values[_DECISION],
                values[_ACCOUNT],
                values[_EVENT],
                record.get("action"),
                record.get("mode"),
                record.get("rule_id"),
                values[_OCCURRED],
                _utc(record.get("expires_at")),
                record.get("end_condition"),
                ended,
                None,
                values[_RECORD],
                None,
            ],
            seq,
        )

    def _change(self, seq: int, decision_id: Any, column: str, value: Any) -> None:
        found = self.decisions.get(str(decision_id))
        if found is not None:  # (none: its decision record was purged by an older version)
            found.values[DECISION_COLUMNS.index(column)] = value
            found.seq = seq

    def _reversal(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        self._change(seq, values[_DECISION], "reversed_by", record.get("by_event"))
        self._change(seq, values[_DECISION], "reversed_how", record.get("by"))

    def _ended(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        self._change(seq, values[_DECISION], "ended_at", record.get("ended_at"))

    def _status(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        status = record.get("status_after", record.get("status"))
        self.statuses[str(values[_ACCOUNT])] = _Expected([values[_ACCOUNT], status], seq)

    def _entry(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        entered = _micros(record.get("entered_at"))
        removed = None
        if "removed_at" in record:
            removed = entered if record.get("void_from_start") else _micros(record["removed_at"])
        expected = [
            record.get("kind"),
            record.get("fingerprint"),
            record.get("decision_id"),
            record.get("account_id"),
            record.get("rule_id"),
            record.get("reason"),
            entered,
            _micros(record.get("ends_at")),
            removed,
            record.get("by_event") if "removed_at" in record else None,
        ]
        self.entries[(str(expected[0]), str(expected[1]), str(expected[2]))] = _Expected(
            expected, seq
        )

    def _carried(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        kind = values[_KIND]
        if kind == DECISION_CARRIED:
            row = [record.get(column) for column in DECISION_COLUMNS]
            self.decisions[str(row[0])] = _Expected(row, seq)
        elif kind == STATUS_CARRIED:
            self.statuses[str(record.get("account_id"))] = _Expected(
                [record.get("account_id"), record.get("status")], seq
            )
        else:
            row = [record.get(column) for column in ENTRY_COLUMNS]
            self.entries[(str(row[0]), str(row[1]), str(row[2]))] = _Expected(row, seq)

    def _purged(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        # A purge by an older version removed records without re-recording their rows.
        self.old_purge = "carried" not in record

    def compare(
        self,
        decisions: Iterable[Sequence[Any]],
        accounts: Iterable[Sequence[Any]],
        entries: Iterable[Sequence[Any]],
    ) -> Mismatch | int:
        """The first row that is not what the chain says (or a row the chain says exists that
        is missing), else how many rows no chained record vouches for (legacy dbs only).
        Rows come as the tables' columns (`DECISION_COLUMNS`, account and status,
        `ENTRY_COLUMNS`)."""
        unchecked = 0
        for table, rows, expected, key in (
            ("decisions", decisions, self.decisions, lambda row: str(row[0])),
            ("accounts", accounts, self.statuses, lambda row: str(row[0])),
            ("blacklist", entries, self.entries, lambda row: tuple(map(str, row[:3]))),
        ):
            found = _compare(table, rows, expected, key, self.legacy)
            if isinstance(found, Mismatch):
                return found
            unchecked += found
        return unchecked


def _compare(
    table: str,
    rows: Iterable[Sequence[Any]],
    expected: dict[Any, _Expected],
    key: Any,
    legacy: bool,
) -> Mismatch | int:
    columns = {"decisions": DECISION_COLUMNS, "accounts": ("account_id", "status")}.get(
        table, ENTRY_COLUMNS
    )
    unchecked = 0
    for row in rows:
        said = expected.pop(key(row), None)
        if said is None:
            if legacy:
                unchecked += 1
                continue
            return Mismatch(None, f"{_name(table, row)} has no audit record: it was inserted")
        for column, have, want in zip(columns, row, said.values, strict=True):
            if want is _UNKNOWN or have == want:
                continue
            if column == "record":  # (too long to show)
                return Mismatch(said.seq, f"{_name(table, row)} differs from this record")
            return Mismatch(
                said.seq,
                f"{_name(table, row)}: its {column} is {have!r}, this record says {want!r}",
            )
    if expected:
        seq, missing = min((said.seq, k) for k, said in expected.items())
        what = missing if isinstance(missing, str) else "/".join(missing)
        return Mismatch(seq, f"the {table} table lacks the row of {what}: it was deleted")
    return unchecked


def _name(table: str, row: Sequence[Any]) -> str:
    if table == "decisions":
        return f"decision {row[0]} in the decisions table"
    if table == "accounts":
        return f"account {row[0]} in the accounts table"
    return f"blacklist entry {row[0]}/{row[1]} of decision {row[2]}"


_HANDLERS = {
    "decision": CrossCheck._decision,
    "reversal": CrossCheck._reversal,
    DECISION_ENDED: CrossCheck._ended,
    "status_change": CrossCheck._status,
    "blacklist_entry": CrossCheck._entry,
    "blacklist_entry_removed": CrossCheck._entry,
    DECISION_CARRIED: CrossCheck._carried,
    STATUS_CARRIED: CrossCheck._carried,
    ENTRY_CARRIED: CrossCheck._carried,
    PURGE_KIND: CrossCheck._purged,
}
