"""The typed rows the store protocols return: frozen attrs records, never positional tuples
or string-keyed dicts (`to_dict()` only where a record leaves as JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from blacklist_rules.model.decisions import Decision, DecisionRecord
from blacklist_rules.model.events import utc_text


@attrs.frozen
class HistoryPurge:
    """What a history purge did: its cut (events from before it are refused from now on),
    events removed, registrations and verifications kept past the windows' reach for the
    verified identity but reduced to their declared fields, and from when events are kept
    whole (None: nothing new was purged)."""

    cut: datetime
    removed: int
    reduced: int
    kept_from: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-ready dict."""
        return {
            "cut": utc_text(self.cut),
            "removed": self.removed,
            "reduced": self.reduced,
            "kept_from": utc_text(self.kept_from) if self.kept_from else None,
        }


@attrs.frozen
class AuditRecord:
    """One record of the audit trail as read back (`AuditTrail.audit_records`): its number,
    the chained columns and its record (the JSON it was written with, parsed: open data, one
    shape per `kind`). `to_dict()` is its JSON line (`audit show --json`, `audit export`)."""

    seq: int
    version: int
    kind: str
    account_id: str | None
    event_id: str | None
    decision_id: str | None
    occurred_at: str | None
    recorded_at: str
    record: dict[str, Any]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuditRecord:
        """From its columns as stored: seq, the chained columns up to the record's JSON text."""
        seq, version, kind, account_id, event_id, decision_id, occurred_at, recorded_at, text = row
        return cls(
            seq,
            version,
            kind,
            account_id,
            event_id,
            decision_id,
            occurred_at,
            recorded_at,
            json.loads(text),
        )

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=False)


@attrs.frozen
class RuleFile:
    """A rule file as the db keeps it under its pack's digest (`Settings.remember_ruleset`):
    the file as written, and its `dsa` block as read (None: a pack older than DSA blocks), so
    any decision can be traced to its rule and exported without YAML."""

    id: str
    version: int
    file: str
    text: str
    dsa: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleFile:
        return cls(data["id"], data["version"], data["file"], data["text"], data.get("dsa"))

    def to_dict(self) -> dict[str, Any]:
        """As stored: the keys of `from_dict`, `dsa` left out when there is none."""
        data = attrs.asdict(self, recurse=False)
        if self.dsa is None:
            del data["dsa"]
        return data


class AuditPurge(NamedTuple):
    """What an audit purge did (`Retention.purge_audit`). A named tuple: callers unpack it as
    `removed, first_kept = store.purge_audit(...)`."""

    removed: int
    first_kept: int | None
    """The seq of the first record kept (None: nothing was purged)."""


@attrs.frozen
class StoredEvent:
    """Where and when a logged event happened (`EventLog.events_of`)."""

    event_id: str
    account_id: str
    type: str
    occurred_us: int


@attrs.frozen
class LoggedEvent:
    """An event's stored text and the clock when it came (None: no event before it)."""

    payload: str
    clock_us: int | None


@attrs.frozen
class GroupedPayload:
    """A stored event's text and the group its stream's history keeps it under: its account
    (`EventLog.events_since`) or a registration's fingerprint (`registrations_since`); the
    clock when it came, which says whether it came too late to enter any stream."""

    group: str
    payload: str
    clock_us: int | None


@attrs.frozen
class Arrival:
    """An event's position in arrival order and the clock when it came."""

    position: int
    clock_us: int | None


@attrs.frozen
class PassedVerification:
    """The event of a passed verification and its time."""

    event_id: str
    occurred_us: int


@attrs.frozen
class FirstSeen:
    """An account's first registration (None: none stored) and first event, in µs."""

    registered_us: int | None
    first_us: int


@attrs.frozen
class AccountStatus:
    account_id: str
    status: str


def decision_text(record: DecisionRecord) -> str:
    """A decision's record as every store writes it: compact JSON, the one serialiser of the
    stored text (the audit chain and decision digests cover it byte for byte): written once
    per record (`DecisionRecord.text`)."""
    return record.text


class Serialised(dict[str, Any]):
    """An audit record whose text is already written: the stores' `dumps` takes `text` as it
    is. Made only by `serialised`, whose text is what `dumps` writes of the dict."""

    __slots__ = ("text",)

    def __init__(self, data: dict[str, Any], text: str) -> None:
        super().__init__(data)
        self.text = text


def serialised(
    record: DecisionRecord, base: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """`data` with its text written (`Serialised`) from the record's stored text, when it is
    `base` (the record's `to_dict()`, its values the same objects, in the same order) with
    keys added after: the added pairs go in before the closing brace, byte for byte what
    compact JSON of the whole dict is. A decision's audit record (its row's record, then
    `VOUCHES`) is so serialised once, not again from the start. Any other `data` as it is."""
    keys = list(data)
    if keys[: len(base)] != list(base) or any(data[k] is not v for k, v in base.items()):
        return data
    added = {key: data[key] for key in keys[len(base) :]}
    if not added:
        return Serialised(data, record.text)
    pairs = json.dumps(added, ensure_ascii=False, separators=(",", ":"), default=str)
    return Serialised(data, f"{record.text[:-1]},{pairs[1:]}")


def decision_record(text: str) -> DecisionRecord:
    """A decision's record read back from its stored text (inverse of `decision_text`)."""
    return DecisionRecord.from_dict(json.loads(text))


@attrs.frozen
class StoredDecision:
    """A decision's record, when it ended (UTC text) and the event that reversed it."""

    record: DecisionRecord
    ended_at: str | None
    reversed_by: str | None

    @property
    def decision(self) -> Decision:
        return self.record.decision

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredDecision:
        """From the columns record (its JSON text), ended_at, reversed_by."""
        return cls(decision_record(row[0]), row[1], row[2])


@attrs.frozen
class TakenDecision:
    """A decision's record, when it ended, and the event being processed when it was
    recorded."""

    record: DecisionRecord
    ended_at: str | None
    event_id: str

    @property
    def decision(self) -> Decision:
        return self.record.decision


@attrs.frozen
class Veto:
    """A decision a person reversed, never taken again (`DecisionStore.vetoed`): its account,
    its rule and the moment it took effect (UTC text, as the decision's column)."""

    account_id: str
    rule_id: str
    at: str


@attrs.frozen
class Expiry:
    """A freeze ended because its time was up."""

    account_id: str
    decision_id: str
    expires_at: str


@attrs.frozen
class Deadline:
    """A rule's deadline counting from an anchor (an event, or a decision's id): pending,
    `met` (an `unless` event came in its span), `fired` or `void` (its anchor reversed)."""

    rule_id: str
    anchor_id: str
    account_id: str
    anchor_event_id: str
    start_us: int
    due_us: int
    state: str


@attrs.frozen
class Fingerprint:
    """A keyed fingerprint (hex) of one kind of identity value."""

    kind: str
    fingerprint: str


@attrs.frozen
class Registration:
    """A registration that carried an identity value."""

    account_id: str
    event_id: str
    registered_us: int


@attrs.frozen
class StoredEntry:
    """A blacklist entry as stored: one identity value under one decision, from when it
    entered until it ends (None: no end)."""

    kind: str
    fingerprint: str
    decision_id: str
    account_id: str
    rule_id: str
    reason: str
    entered_us: int
    ends_us: int | None


@attrs.frozen
class ListedSpan:
    """When an identity value was listed: from entry to the earlier of its end and its
    removal (None: still in force, no end)."""

    fingerprint: str
    entered_us: int
    until_us: int | None


@attrs.frozen
class Watermark:
    """The low watermark of a shared db: the least event-time progress of its live running
    workers, and the worker that holds it there."""

    at_us: int
    held_by: str

    @property
    def holder(self) -> str:
        """Who holds it, in words (`holder_words`)."""
        return holder_words(self.held_by)


def holder_words(held_by: str) -> str:
    """A holder of the watermark in words: `worker host:42`, or `partition MODERATION/3`."""
    if held_by.startswith(PARTITION):
        return f"partition {held_by.removeprefix(PARTITION)}"
    return f"worker {held_by}"


PARTITION = "partition:"
"""How the `workers` table names a partition of a log (`partition_holder`)."""


def partition_holder(log: str, partition: int) -> str:
    """The name a partition of a log holds the watermark under: `partition:NAME/3`."""
    return f"{PARTITION}{log}/{partition}"


@attrs.frozen
class EventRow:
    """A logged event's row as stored (`audit_crosscheck.EVENT_COLUMNS`): what a decision's
    audit record vouches for (`EventLog.event_rows`), and what a seed logs again elsewhere."""

    event_id: str
    account_id: str
    type: str
    occurred_us: int
    payload: str
    clock_us: int | None


@attrs.frozen
class SeedIdentity:
    """A registration's keyed fingerprint (hex) of one kind of identity value."""

    kind: str
    fingerprint: str
    account_id: str
    event_id: str
    registered_us: int


@attrs.frozen
class SeedDecision:
    """A decision's row: its columns, when it ended (None: standing) and its record."""

    decision_id: str
    account_id: str
    event_id: str
    action: str
    mode: str
    rule_id: str
    effective_at: str
    expires_at: str | None
    end_condition: str | None
    ended_at: str | None
    record: str
    """Its stored text, copied as it is (`decision_text`)."""


@attrs.frozen
class SeedEntry:
    """A blacklist entry's row with its removal (None: not removed)."""

    entry: StoredEntry
    removed_us: int | None
    removed_by: str | None


@attrs.frozen
class SeedListChange:
    """One list change of an account (`list_changes`), as a seed carries it."""

    account_id: str
    list: str
    op: str
    occurred_us: int
    event_id: str


@attrs.frozen
class Seed:
    """What a store held of some accounts at one point of its log (`Seeding.export_for`), in
    the order it came: what a scratch world starts from, whatever store holds each side."""

    events: tuple[EventRow, ...]
    identities: tuple[SeedIdentity, ...]
    decisions: tuple[SeedDecision, ...]
    deadlines: tuple[Deadline, ...]
    entries: tuple[SeedEntry, ...]
    lists: tuple[SeedListChange, ...] = ()
    """The accounts' list changes before the cut whose events came before the boundary (or
    were purged): the lists a replay's first events are on."""


def seeded_deadline(due: Deadline, cut_us: int) -> Deadline:
    """A deadline as a seed carries it: one fired from the cut on is pending again (its
    decision is not seeded; it fires again in the replay)."""
    if due.state == "fired" and due.due_us >= cut_us:
        return attrs.evolve(due, state="pending")
    return due


def seed_removal(at_us: int | None, by: str | None, cut_us: int) -> tuple[int | None, str | None]:
    """An entry's removal as it stood before the cut: one from the cut on is not yet made."""
    return (at_us, by) if at_us is not None and at_us < cut_us else (None, None)


@attrs.frozen
class RecordedRule:
    """One rule file of a pack the db has run (`Settings.recorded_rules`): the rule as
    written, under the digest of the pack it came with."""

    ruleset_digest: str
    rule_id: str
    version: int
    file: str
    text: str


def recorded_rules_of(digest: str, rules: str) -> list[RecordedRule]:
    """The rules of a `rulesets` row (its JSON list of id, version, file, text), skipping
    entries that lack any of them."""
    found = []
    for rule in json.loads(rules):
        if not isinstance(rule, dict):
            continue
        rule_id, version, file, text = (rule.get(k) for k in ("id", "version", "file", "text"))
        if (
            isinstance(rule_id, str)
            and isinstance(version, int)
            and not isinstance(version, bool)
            and isinstance(file, str)
            and isinstance(text, str)
        ):
            found.append(RecordedRule(digest, rule_id, version, file, text))
    return found


@attrs.frozen
class OutboxRow:
    """A decision waiting in the outbox (`Outbox`): its place in the outbox's order, its id,
    account, the decision as its JSON line, and when it was queued (wall clock, µs)."""

    position: int
    decision_id: str
    account_id: str
    payload: str
    created_us: int
