"""The state tables checked against the audit chain: what the chain alone does not cover.

`chain.verify` proves the audit trail was not edited; exports, notices and `status` read
other tables: `decisions`, `accounts` (statuses), `blacklist` (listings), the evidence events
of decisions (`events`) and `deadlines` (what freezes become). Each of their rows is written
in the same transaction as a chained record that says what it holds, so each row must be
exactly what the chained records of its key, taken in order, say it is:

- a decision: its `decision` record (every column; `effective_at` is the record's event
  time, `event_id` the one it was decided on), then `reversal` records (`reversed_by`,
  `reversed_how`) and `decision_ended` records (`ended_at`);
- an account's status: its last `status_change` record (`status_after`);
- a blacklist entry (kind, fingerprint, decision): its `blacklist_entry` record, then
  `blacklist_entry_removed` (`removed_us`, `removed_by`; a void entry is removed from its
  start);
- an evidence event: the digest of its stored row (`event_digest`) that the `decision` record
  of each decision taken on it keeps (`VOUCHES`, in the audit record only: the row and the
  output are the decision as ever); one a history purge removed (`purged_events`) is counted
  as unchecked;
- a deadline (rule, anchor): the `decision` record that started it (`VOUCHES`), or a
  `deadline` record (one started by an event, copied in by a cascade, met, void), then
  `fired` when its own decision is recorded (`anchor`), or a `deadline` record when none
  is; `deadlines_pruned` removes the settled ones due by then, as the engine's pruning does;
- a list change (`list_changes`: account, list, time, event): the `list_change` record of its
  `list_update` event (`op`);
- after an audit purge, the purge re-records (`*_carried`) every row whose records it removed,
  as it stands (a decision with its evidence digests), so every row keeps a chained record.
  List changes are re-recorded (`list_change_carried`) since the purge record says how many
  (`LISTS_CARRIED`); after an older purge, list change rows without records are unchecked.

A row without records, records without a row, or a column that differs is a break. One pass
over the trail builds the expected rows (one dict entry per row: linear memory), one pass
over each table compares them; the evidence events are read by id. The exceptions are dbs
older than these records: rows whose records predate the chain or were removed by a purge that
re-recorded nothing are counted as unchecked, and so are deadline rows while records older
than version 3 (`VOUCHED_FROM`) are in the trail since the last purge; a decision recorded
before `decision_ended` records existed (audit record version 1) has its `ended_at` unchecked
unless an end record names it, and one recorded before version 3 its evidence.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from blacklist_rules.model.chain import FIELDS, PURGE_KIND
from blacklist_rules.model.events import to_micros, utc_text
from blacklist_rules.stores.records import Deadline, EventRow

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
LIST_CHANGE, LIST_CARRIED = "list_change", "list_change_carried"
"""The record of a `list_update` event's change, and what an audit purge re-records of one."""
LISTS_CARRIED = "carried_lists"
"""The key of a purge record that says how many list changes it re-recorded: a purge without
it (an older version) re-recorded none."""
LIST_COLUMNS = ("account_id", "list", "occurred_us", "event_id", "op")
"""The columns of the `list_changes` table, in the order `compare` reads them."""
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
DEADLINE_COLUMNS = (
    "rule_id",
    "anchor_id",
    "account_id",
    "anchor_event_id",
    "start_us",
    "due_us",
    "state",
)
"""The columns of the `deadlines` table, in the order `compare` reads them."""
EVENT_COLUMNS = ("event_id", "account_id", "type", "occurred_us", "payload", "clock_us")
"""The columns of the `events` table an evidence digest covers (all but the id)."""
VOUCHED_FROM = 3
"""The audit record version from which a decision's record vouches for its evidence and the
deadlines it started, and every deadline row has a chained record."""
VOUCHES = "vouches_for"
"""The key, last in a decision's audit record (never in its row's `record`), of what the record
vouches for beside the row: `evidence`, `[event id, event_digest]` of each evidence event
stored when it was decided, and `deadlines`, the rows (as dicts) of the deadlines it started."""
DEADLINE_ROW, DEADLINE_CARRIED, DEADLINES_PRUNED = (
    "deadline",
    "deadline_carried",
    "deadlines_pruned",
)
"""A deadline row inserted or changed with no decision to say so (the row as it now is), one
re-recorded by an audit purge, and a prune (`due_up_to_us`: settled rows due by then)."""
PENDING, FIRED = "pending", "fired"
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


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""JSON text as the store writes records (one encoder: digests are on the hot path)."""


def event_digest(row: EventRow) -> str:
    """SHA-256 of a stored event's row (`EVENT_COLUMNS`: its payload and what is read beside
    it), as a decision's audit record keeps it for each evidence event."""
    return _digest((row.account_id, row.type, row.occurred_us, row.payload, row.clock_us))


def _digest(values: Sequence[Any]) -> str:
    """`event_digest` of an event's columns after its id, as read from a table."""
    return hashlib.sha256(_dumps(list(values)).encode("utf-8", "surrogatepass")).hexdigest()


def deadline_record(row: Deadline) -> dict[str, Any]:
    """A deadline's row as an audit record carries it (`DEADLINE_COLUMNS`)."""
    return attrs.asdict(row)


def vouched(
    record: dict[str, Any],
    events: Iterable[EventRow],
    deadlines: Sequence[Deadline] = (),
) -> dict[str, Any]:
    """A decision's audit record: its record, then (`VOUCHES`) the digests of its evidence
    events among `events` (their stored rows) and the deadlines it started."""
    digests = {row.event_id: event_digest(row) for row in events}
    evidence = [[item, digests[item]] for item in record["evidence"] if item in digests]
    started = [deadline_record(row) for row in deadlines]
    return {**record, VOUCHES: {"evidence": evidence, "deadlines": started}}


def carried_decision(
    row: Sequence[Any], events: Callable[[list[str]], Iterable[EventRow]]
) -> dict[str, Any]:
    """What an audit purge records of a decision row (`DECISION_COLUMNS`) it leaves without
    its records: the row, and the digests of its evidence events as `events` reads them."""
    carried = dict(zip(DECISION_COLUMNS, row, strict=True))
    evidence = list(json.loads(carried["record"])["evidence"])
    found = vouched({"evidence": evidence}, events(evidence) if evidence else ())
    return {**carried, VOUCHES: {"evidence": found[VOUCHES]["evidence"]}}


def _row_text(text: str, record: dict[str, Any]) -> str:
    """The `record` column of a decision's row: its audit record's text without `VOUCHES`.
    Written last, so the rest is the row's text exactly; and found last, as its own value
    holds no such key (and a quote inside a JSON string is escaped)."""
    if VOUCHES not in record:
        return text
    return text[: text.rfind(f',"{VOUCHES}":')] + "}"


@attrs.frozen
class _Evidence:
    """What a decision's record says one of its evidence events was: its digest."""

    digest: str
    seq: int
    decision_id: str


@attrs.define
class CrossCheck:
    """Watches the chained records go by (`see`), then compares the tables (`compare`)."""

    decisions: dict[str, _Expected] = attrs.Factory(dict)
    statuses: dict[str, _Expected] = attrs.Factory(dict)
    entries: dict[tuple[str, str, str], _Expected] = attrs.Factory(dict)
    deadlines: dict[tuple[str, str], _Expected] = attrs.Factory(dict)
    evidence: dict[str, _Evidence] = attrs.Factory(dict)
    lists: dict[tuple[str, ...], _Expected] = attrs.Factory(dict)
    unchained: bool = False
    """Records older than the chain were seen: rows they wrote have no chained record."""
    old_purge: bool = False
    """The last purge was made by a version that did not re-record the rows it left bare."""
    old_deadlines: bool = False
    """Records older than `VOUCHED_FROM` were seen since the last purge that re-recorded the
    deadlines: deadline rows they wrote have no record."""

    old_lists: bool = False
    """The last purge re-recorded no list changes (an older version): list change rows whose
    records it removed have none."""

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
        if not isinstance(values[_VERSION], int) or values[_VERSION] < VOUCHED_FROM:
            self.old_deadlines = True
        handler = _HANDLERS.get(str(values[_KIND]))
        if handler is not None:
            try:
                record = json.loads(values[_RECORD])
                if isinstance(record, dict):
                    handler(self, seq, values, record)
            except (ValueError, TypeError, KeyError, AttributeError):
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
                _row_text(str(values[_RECORD]), record),
                None,
            ],
            seq,
        )
        self._vouched(seq, str(values[_DECISION]), record)
        if record.get("anchor") is not None and "re_evaluated" not in record:
            # A deadline's decision: the deadline fired (`_fire` writes both).
            found = self.deadlines.get((str(record.get("rule_id")), str(record["anchor"])))
            if found is not None:
                found.values[-1], found.seq = FIRED, seq

    def _vouched(self, seq: int, decision_id: str, record: dict[str, Any]) -> None:
        said = record.get(VOUCHES) or {}
        for event_id, digest in said.get("evidence", ()):
            self.evidence[str(event_id)] = _Evidence(str(digest), seq, decision_id)
        for row in said.get("deadlines", ()):
            self._deadline(seq, (), row)

    def _deadline(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        row = [record.get(column) for column in DEADLINE_COLUMNS]
        self.deadlines[(str(row[0]), str(row[1]))] = _Expected(row, seq)

    def _deadlines_pruned(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        up_to = int(record["due_up_to_us"])
        for key, said in list(self.deadlines.items()):  # as `prune_deadlines` deletes
            if said.values[-1] != PENDING and int(said.values[-2]) <= up_to:
                del self.deadlines[key]

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
            self._vouched(seq, str(row[0]), record)
        elif kind == STATUS_CARRIED:
            self.statuses[str(record.get("account_id"))] = _Expected(
                [record.get("account_id"), record.get("status")], seq
            )
        else:
            row = [record.get(column) for column in ENTRY_COLUMNS]
            self.entries[(str(row[0]), str(row[1]), str(row[2]))] = _Expected(row, seq)

    def _list_change(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        if values[_KIND] == LIST_CARRIED:
            row = [record.get(column) for column in LIST_COLUMNS]
        else:
            row = [
                values[_ACCOUNT],
                record.get("list"),
                _micros(values[_OCCURRED]),
                record.get("event_id", values[_EVENT]),
                record.get("op"),
            ]
        self.lists[_list_key(row)] = _Expected(row, seq)

    def _purged(self, seq: int, values: Sequence[Any], record: dict[str, Any]) -> None:
        # A purge by an older version removed records without re-recording their rows.
        self.old_purge = "carried" not in record
        self.old_lists = LISTS_CARRIED not in record
        if isinstance(values[_VERSION], int) and values[_VERSION] >= VOUCHED_FROM:
            self.old_deadlines = False  # it re-recorded the deadlines too

    def evidence_ids(self) -> list[str]:
        """The events whose digests the records hold: what `compare` needs of the log."""
        return sorted(self.evidence)

    def compare(
        self,
        decisions: Iterable[Sequence[Any]],
        accounts: Iterable[Sequence[Any]],
        entries: Iterable[Sequence[Any]],
        deadlines: Iterable[Sequence[Any]] = (),
        evidence: Iterable[Sequence[Any]] = (),
        lists: Iterable[Sequence[Any]] = (),
    ) -> Mismatch | int:
        """The first row that is not what the chain says (or a row the chain says exists that
        is missing), else how many rows no chained record vouches for (legacy dbs, and
        evidence events a history purge removed). Rows come as the tables' columns
        (`DECISION_COLUMNS`, account and status, `ENTRY_COLUMNS`, `DEADLINE_COLUMNS`,
        `LIST_COLUMNS`);
        `evidence` has one row per id of `evidence_ids`: `EVENT_COLUMNS` (all None but the
        id when it is not stored), then whether a history purge removed it."""
        unchecked = 0
        for table, rows, expected, key, legacy in (
            ("decisions", decisions, self.decisions, _first, self.legacy),
            ("accounts", accounts, self.statuses, _first, self.legacy),
            ("blacklist", entries, self.entries, _three, self.legacy),
            ("deadlines", deadlines, self.deadlines, _two, self.legacy or self.old_deadlines),
            ("list_changes", lists, self.lists, _list_key, self.legacy or self.old_lists),
        ):
            found = _compare(table, rows, expected, key, legacy)
            if isinstance(found, Mismatch):
                return found
            unchecked += found
        found = self._evidence(evidence)
        return found if isinstance(found, Mismatch) else unchecked + found

    def _evidence(self, rows: Iterable[Sequence[Any]]) -> Mismatch | int:
        purged = 0
        for row in rows:
            said = self.evidence[str(row[0])]
            if row[1] is None and row[-1]:  # not stored: a history purge removed it
                purged += 1
            elif row[1] is None or _digest(row[1:-1]) != said.digest:
                what = f"event {row[0]}, evidence of decision {said.decision_id},"
                if row[1] is None:
                    return Mismatch(said.seq, f"{what} is not in the events table: it was deleted")
                return Mismatch(
                    said.seq,
                    f"{what} is not what this record says it was decided on: it was changed",
                )
        return purged


def _first(row: Sequence[Any]) -> str:
    return str(row[0])


def _two(row: Sequence[Any]) -> tuple[str, ...]:
    return tuple(map(str, row[:2]))


def _three(row: Sequence[Any]) -> tuple[str, ...]:
    return tuple(map(str, row[:3]))


def _list_key(row: Sequence[Any]) -> tuple[str, ...]:
    """A list change's key (`LIST_COLUMNS` but the op): account, list, time, event."""
    return tuple(map(str, row[:4]))


def _compare(
    table: str,
    rows: Iterable[Sequence[Any]],
    expected: dict[Any, _Expected],
    key: Any,
    legacy: bool,
) -> Mismatch | int:
    columns = _COLUMNS[table]
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


_COLUMNS = {
    "decisions": DECISION_COLUMNS,
    "accounts": ("account_id", "status"),
    "blacklist": ENTRY_COLUMNS,
    "deadlines": DEADLINE_COLUMNS,
    "list_changes": LIST_COLUMNS,
}


def _name(table: str, row: Sequence[Any]) -> str:
    if table == "decisions":
        return f"decision {row[0]} in the decisions table"
    if table == "accounts":
        return f"account {row[0]} in the accounts table"
    if table == "deadlines":
        return f"deadline {row[0]} of {row[1]} in the deadlines table"
    if table == "list_changes":
        return f"list change {row[3]} ({row[1]}) of account {row[0]} in the list_changes table"
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
    DEADLINE_ROW: CrossCheck._deadline,
    DEADLINE_CARRIED: CrossCheck._deadline,
    DEADLINES_PRUNED: CrossCheck._deadlines_pruned,
    LIST_CHANGE: CrossCheck._list_change,
    LIST_CARRIED: CrossCheck._list_change,
}
