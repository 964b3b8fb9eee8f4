"""Tamper evidence for the audit trail: each record carries the hash of the one before it.

A record's hash is SHA-256 over a canonical serialisation (a JSON list of its fields in a fixed
order, the record text exactly as stored, the ruleset digest in force, and the previous hash),
so changing any field of any record, removing one or reordering two breaks the chain at that
point. The head (how many records, the last hash) is kept beside the trail, in the same
transaction: removing the last records breaks it too, and so does removing the head with them. A
purge's checkpoint (where the trail now starts) counts only when the chain itself holds the
`audit_purged` record that wrote it. `verify` re-computes everything and names the first record
that does not fit; the state tables that decisions, exports and statuses read are then checked
against the chain's records (`audit_crosscheck`).

What the db alone cannot show is a whole trail rewritten with recomputed hashes: a copy of the
head kept elsewhere (`AuditHead`, `COUNT:HASH`, as `audit head` prints it) can. `verify` with
`expect` checks that record number COUNT of the trail still carries HASH.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

GENESIS = ""
"""The previous hash of the first chained record."""
FIELDS = (
    "version",
    "kind",
    "account_id",
    "event_id",
    "decision_id",
    "occurred_at",
    "recorded_at",
    "record",
    "ruleset_digest",
)
"""The audit columns a record's hash covers, in this order (then the previous hash)."""


def record_hash(values: Sequence[Any], previous: str) -> str:
    """The hash of one record: its `FIELDS` values and the previous record's hash."""
    canonical = json.dumps([*values, previous], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


_HEAD = re.compile(r"([1-9][0-9]{0,17}):([0-9a-fA-F]{64})")
PURGE_KIND = "audit_purged"
"""The kind of the record a purge writes; it names the checkpoint the purge left."""
_CHECKPOINT_KEYS = ("seq", "previous", "removed", "before")
"""What a checkpoint says, and what the purge's record must say alike."""
_KIND, _RECORDED_AT, _RECORD, _DIGEST = (
    FIELDS.index(name) for name in ("kind", "recorded_at", "record", "ruleset_digest")
)


@attrs.frozen
class AuditHead:
    """A point of the trail to keep elsewhere: record number `count` (purged records counted)
    has hash `hash`. Published after a run and checked later (`verify(expect=...)`), it shows a
    trail rewritten whole, which the db alone cannot. `recorded_at`: when that record was
    logged; shown, never compared."""

    count: int
    hash: str
    recorded_at: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def parse(cls, text: str) -> AuditHead:
        """`COUNT:HASH` (as `str()` writes it): a record number from 1 and the record's
        SHA-256 in hex. Raises `ValueError` saying what a head is."""
        found = _HEAD.fullmatch(text.strip())
        if found is None:
            raise ValueError(
                f"a head is COUNT:HASH, a record number from 1 and its 64-hex-digit SHA-256 "
                f"(as `audit head` prints it), not {text[:100]!r}"
            )
        return cls(int(found.group(1)), found.group(2).lower())

    def __str__(self) -> str:
        return f"{self.count}:{self.hash}"


@attrs.frozen
class Verdict:
    """What `verify` found: `ok`, how many records it checked, and the first problem."""

    ok: bool
    checked: int
    unchained: int = 0
    """Records older than the chain (written before the store kept one)."""
    seq: int | None = None
    problem: str | None = None
    head: str | None = None
    purged: int = 0
    """Chained records removed by a purge (before its checkpoint)."""
    unchecked: int = 0
    """Rows of the decisions, accounts, blacklist and deadlines tables no chained record
    vouches for (written before the chain or, deadlines, by an older version; or left bare by
    a purge of an older version), and evidence events a history purge removed: not
    checked."""
    recorded_at: str | None = None
    """When the last chained record was logged."""
    expected: AuditHead | None = None
    """The published head the trail was checked against, when one was given."""

    @property
    def current(self) -> AuditHead | None:
        """The head to publish: None when the chain is broken or holds no record yet."""
        if not self.ok or self.head is None:
            return None
        return AuditHead(self.checked + self.purged, self.head, self.recorded_at)

    def __str__(self) -> str:
        if self.ok:
            older = f" ({self.unchained} older records predate the chain)" if self.unchained else ""
            purged = f" ({self.purged} purged before them)" if self.purged else ""
            unchecked = (
                f"; {self.unchecked} rows of the decisions, accounts, blacklist and deadlines "
                "tables have no chained record (older than the chain or its version, or "
                "purged by an older version), or are evidence a history purge removed: "
                "not checked"
                if self.unchecked
                else ""
            )
            expected = (
                f"; record {self.expected.count} carries the published head"
                if self.expected
                else ""
            )
            return (
                f"chain intact: {self.checked} records{purged}, head {self.head}{older}"
                f"{unchecked}{expected}"
            )
        where = f"record #{self.seq}" if self.seq is not None else "the trail's end"
        return f"chain broken at {where}: {self.problem} ({self.checked} records checked)"


class _BrokenError(Exception):
    """A problem found: where (`seq`, None for the trail's end) and what."""

    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem


@attrs.define
class _Walk:
    """The state of one pass over the trail."""

    start: str
    """The hash the first chained record follows: the checkpoint's, or `GENESIS`."""
    removed: int
    expect: AuditHead | None
    previous: str = attrs.field(default=attrs.Factory(lambda walk: walk.start, takes_self=True))
    checked: int = 0
    unchained: int = 0
    recorded_at: str | None = None
    purge_record: str | None = None
    """The text of the last chained `audit_purged` record: it must name the checkpoint."""
    next_seq: int = 1
    """The number the next record must have: records are numbered on, one by one, from 1 or
    from the purge checkpoint's `seq` (the number is not hashed: this keeps it honest)."""
    renumbered: tuple[int, int] | None = None
    """The first record whose number is not the one expected, and that number."""

    def step(
        self, seq: int, values: Sequence[Any], prev_hash: str | None, stored: str | None
    ) -> None:
        if seq != self.next_seq and self.renumbered is None:
            self.renumbered = (seq, self.next_seq)  # (told last: other breaks say more)
        self.next_seq = seq + 1
        if stored is None:
            if self.checked:
                raise _BrokenError(seq, "a record without a hash inside the chain")
            if prev_hash is not None or values[_DIGEST] is not None:
                # Records from before the chain (store schema 3) have neither column set.
                raise _BrokenError(seq, "its hash was removed: it was written to be chained")
            self.unchained += 1
            return
        if prev_hash != self.previous:
            raise _BrokenError(
                seq,
                "it does not follow the record before it: one was removed or they were reordered",
            )
        if record_hash(values, self.previous) != stored:
            raise _BrokenError(seq, "its content was changed")
        self.previous, self.checked = stored, self.checked + 1
        self.recorded_at = str(values[_RECORDED_AT])
        if values[_KIND] == PURGE_KIND:
            self.purge_record = str(values[_RECORD])
        at = self.expect
        if at is not None and self.removed + self.checked == at.count and stored != at.hash:
            raise _BrokenError(
                seq,
                f"it is record {at.count} of the trail and its hash is not the published "
                f"head's ({at}): the trail was rewritten since",
            )

    def end(self, head: str | None, checkpoint: dict[str, Any] | None) -> None:
        if self.unchained and not self.checked:
            # An upgraded db chains a record (`chain_started`) after its old ones at once.
            raise _BrokenError(
                None,
                f"{self.unchained} records without a hash and none with one after them: the "
                "hashes were removed (a db from before the chain gets a chained record when "
                "it is upgraded)",
            )
        if checkpoint is not None:
            _corroborate(checkpoint, self.purge_record)
        elif self.purge_record is not None:
            raise _BrokenError(None, "a purge is recorded, but its checkpoint is missing")
        total = self.checked + self.removed
        if head is None and total:
            raise _BrokenError(
                None,
                f"the head is missing beside {total} chained records: records were removed "
                "from the end, the head with them",
            )
        if head is not None and head != f"{total}:{self.previous}":
            count = head.split(":", 1)[0]
            holds = str(self.checked) + (f" (and {self.removed} purged)" if self.removed else "")
            raise _BrokenError(
                None,
                f"the head says {count} records, the trail holds {holds}: records were removed",
            )
        if self.expect is not None:
            self._reach(self.expect, total)
        if self.renumbered is not None:
            seq, expected = self.renumbered
            raise _BrokenError(seq, f"it should be record #{expected}: records were renumbered")

    def _reach(self, expect: AuditHead, total: int) -> None:
        """The published head's record must be in the trail, or be the last one purged (the
        checkpoint holds its hash); one purged before that cannot be checked: a failure, not a
        warning, since a forged purge would otherwise hide any rewrite."""
        if expect.count > total:
            raise _BrokenError(
                None,
                f"the published head {expect} names record {expect.count}, the trail holds "
                f"{total}: records were removed, or the trail was rewritten",
            )
        if expect.count == self.removed and self.start != expect.hash:
            raise _BrokenError(
                None,
                f"the published head {expect} is not the last record the purge removed: the "
                "trail was rewritten since",
            )
        if expect.count < self.removed:
            raise _BrokenError(
                None,
                f"the published head {expect} names record {expect.count}, purged since (the "
                f"trail starts after record {self.removed}): it cannot be checked; publish "
                "the head again after each purge",
            )


def _checkpoint(text: str | None) -> dict[str, Any] | None:
    """The purge checkpoint kept beside the trail, read without trusting it."""
    if text is None:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if (
        not isinstance(found, dict)
        or not all(key in found for key in _CHECKPOINT_KEYS)
        or not isinstance(found["previous"], str)
        or type(found["removed"]) is not int
        or type(found["seq"]) is not int
        or found["removed"] < 0
    ):
        raise _BrokenError(None, "the purge checkpoint is malformed: it was changed")
    return found


def _corroborate(checkpoint: dict[str, Any], purge_record: str | None) -> None:
    """A checkpoint counts only when the last purge in the chain recorded it, word for word:
    one written by hand would hide the records removed before it."""
    try:
        recorded = json.loads(purge_record) if purge_record is not None else None
    except ValueError:
        recorded = None
    said = {key: checkpoint[key] for key in _CHECKPOINT_KEYS}
    if not isinstance(recorded, dict) or {k: recorded.get(k) for k in _CHECKPOINT_KEYS} != said:
        raise _BrokenError(
            None,
            f"the purge checkpoint (trail from record #{checkpoint['seq']}, "
            f"{checkpoint['removed']} removed before it) is not the one the last purge in the "
            "chain recorded: records were removed from the start",
        )


def verify(
    rows: Iterable[tuple[int, Sequence[Any], str | None, str | None]],
    head: str | None,
    checkpoint: str | None = None,
    expect: AuditHead | None = None,
) -> Verdict:
    """Check rows `(seq, FIELDS values, prev_hash, hash)` in seq order against the head
    (`"<count>:<hash>"`), from a purge's checkpoint (its JSON text: `previous` hash, `removed`
    records, corroborated by the purge's own record in the chain), and, with `expect`, against
    a head published earlier."""
    walk = _Walk(GENESIS, 0, expect)
    try:
        found = _checkpoint(checkpoint)
        if found is not None:
            walk = _Walk(found["previous"], found["removed"], expect, next_seq=found["seq"])
        for seq, values, prev_hash, stored in rows:
            walk.step(seq, values, prev_hash, stored)
        walk.end(head, found)
    except _BrokenError as broken:
        return Verdict(False, walk.checked, walk.unchained, broken.seq, broken.problem)
    return Verdict(
        True,
        walk.checked,
        walk.unchained,
        head=walk.previous or None,
        purged=walk.removed,
        recorded_at=walk.recorded_at,
        expected=expect,
    )
