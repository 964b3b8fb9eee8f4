"""Tamper evidence for the audit trail: each record carries the hash of the one before it.

A record's hash is SHA-256 over a canonical serialisation (a JSON list of its fields in a fixed
order, the record text exactly as stored, the ruleset digest in force, and the previous hash),
so changing any field of any record, removing one or reordering two breaks the chain at that
point. The head (how many records, the last hash) is kept beside the trail, in the same
transaction: removing the last records breaks it too. `verify` re-computes everything and names
the first record that does not fit.
"""

from __future__ import annotations

import hashlib
import json
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
    """Rows of the decisions table whose decision record a purge removed: not checked."""

    def __str__(self) -> str:
        if self.ok:
            older = f" ({self.unchained} older records predate the chain)" if self.unchained else ""
            purged = f" ({self.purged} purged before them)" if self.purged else ""
            unchecked = (
                f"; {self.unchecked} decisions' records were purged: their rows in the "
                "decisions table are not checked"
                if self.unchecked
                else ""
            )
            return (
                f"chain intact: {self.checked} records{purged}, head {self.head}{older}{unchecked}"
            )
        where = f"record #{self.seq}" if self.seq is not None else "the trail's end"
        return f"chain broken at {where}: {self.problem} ({self.checked} records checked)"


def verify(
    rows: Iterable[tuple[int, Sequence[Any], str | None, str | None]],
    head: str | None,
    checkpoint: dict[str, Any] | None = None,
) -> Verdict:
    """Check rows `(seq, FIELDS values, prev_hash, hash)` in seq order against the head
    (`"<count>:<hash>"`), from a purge's checkpoint (`previous` hash, `removed` records)."""
    previous = str(checkpoint["previous"]) if checkpoint else GENESIS
    removed = int(checkpoint["removed"]) if checkpoint else 0
    checked, unchained = 0, 0
    for seq, values, prev_hash, stored in rows:
        if stored is None:
            if checked:
                return Verdict(
                    False, checked, unchained, seq, "a record without a hash inside the chain"
                )
            unchained += 1
            continue
        if prev_hash != previous:
            problem = (
                "it does not follow the record before it: one was removed or they were reordered"
            )
            return Verdict(False, checked, unchained, seq, problem)
        if record_hash(values, previous) != stored:
            return Verdict(False, checked, unchained, seq, "its content was changed")
        previous, checked = stored, checked + 1
    expected = f"{checked + removed}:{previous}"
    if head is not None and head != expected:
        count = head.split(":", 1)[0]
        holds = f"{checked}" + (f" (and {removed} purged)" if removed else "")
        problem = f"the head says {count} records, the trail holds {holds}: records were removed"
        return Verdict(False, checked, unchained, None, problem)
    return Verdict(True, checked, unchained, head=previous or None, purged=removed)
