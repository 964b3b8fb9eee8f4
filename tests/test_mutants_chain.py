"""The audit chain's hash and verdicts, exactly, through `blacklist_rules.model.chain` itself.

Written for the mutants of model/chain.py that the end-to-end audit tests let through (see
bench/README.md, "Mutation testing"): the canonical form a record is hashed in is fixed (trails
already written must keep verifying), and every verdict says exactly what it found.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import SQLiteStore
from blacklist_rules.model.chain import AuditHead, Verdict, record_hash, verify

VALUES = [
    2,
    "decision",
    "acct-é",
    "ev-1",
    "d-1",
    "2026-03-01T08:00:00+00:00",
    "2026-03-01T08:00:01+00:00",
    '{"reason": "谣言"}',
    "abc",
]


def _values(n: int) -> list[Any]:
    return [*VALUES[:3], f"ev-{n}", *VALUES[4:]]


def _old(n: int) -> tuple[int, list[Any], None, None]:
    """Record `n` as written before the chain: no hash, no previous hash, no ruleset digest
    (a record with a digest was written to be chained, and is a break without its hash)."""
    return (n, [*_values(n)[:8], None], None, None)


def _chain(n: int, first_seq: int = 1, previous: str = "") -> list[tuple[int, Any, Any, Any]]:
    """`n` chained rows from `first_seq`, linked to `previous`."""
    rows = []
    for i in range(n):
        values = _values(first_seq + i)
        digest = record_hash(values, previous)
        rows.append((first_seq + i, values, previous, digest))
        previous = digest
    return rows


def test_a_record_is_hashed_as_compact_json_with_its_text_unescaped() -> None:
    """The canonical form is a compact JSON list (no blanks), non-ASCII text as UTF-8, the
    previous hash last: the hash of a trail written by any version stays the same."""
    canonical = (
        '[2,"decision","acct-é","ev-1","d-1","2026-03-01T08:00:00+00:00",'
        '"2026-03-01T08:00:01+00:00","{\\"reason\\": \\"谣言\\"}","abc","prev"]'
    )
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert record_hash(VALUES, "prev") == expected


def test_a_record_with_a_lone_surrogate_is_hashed_not_refused() -> None:
    """Text that is no valid UTF-8 (a lone surrogate from a decoded JSON escape) still hashes,
    to the value it always had."""
    values = [*VALUES[:7], "lone \ud800 surrogate", VALUES[8]]
    assert record_hash(values, "") == (
        "71dc722993e792771a65756cf9249cc1f052431e84438f030b8e0b1bd644a01a"
    )


def test_an_intact_trail_reports_its_count_and_last_hash() -> None:
    """Three records after two unchained ones: ok, three checked, two older, head = the last
    hash; its text says so and mentions no purge."""
    rows = [_old(1), _old(2), *_chain(3, 3)]
    head = rows[-1][3]
    verdict = verify(rows, f"3:{head}")
    assert verdict == Verdict(True, 3, 2, head=head, recorded_at=str(VALUES[6]))
    older = "(2 older records predate the chain)"
    assert str(verdict) == f"chain intact: 3 records, head {head} {older}"


def test_an_intact_trail_without_older_records_says_nothing_of_them() -> None:
    """No unchained record: the text is the count and the head, nothing more."""
    rows = _chain(2)
    verdict = verify(rows, f"2:{rows[-1][3]}")
    assert str(verdict) == f"chain intact: 2 records, head {rows[-1][3]}"


def test_an_empty_trail_has_no_head() -> None:
    """Nothing chained: ok, nothing checked, and no head hash (not an empty string)."""
    assert verify([], None) == Verdict(True, 0, 0, head=None)


def test_a_record_without_a_hash_inside_the_chain_is_named() -> None:
    """One unchained record, two chained, then one without a hash: broken there, exactly."""
    rows = [_old(1), *_chain(2, 2), (4, _values(4), None, None)]
    verdict = verify(rows, None)
    assert verdict == Verdict(False, 2, 1, 4, "a record without a hash inside the chain")
    assert verdict.ok is False
    assert str(verdict) == (
        "chain broken at record #4: a record without a hash inside the chain (2 records checked)"
    )


def test_a_record_that_does_not_follow_is_named_with_what_was_checked() -> None:
    """The third chained record links to another hash: broken at it, two checked."""
    rows = [_old(1), *_chain(2, 2)]
    rows.append((4, _values(4), "0" * 64, record_hash(_values(4), "0" * 64)))
    verdict = verify(rows, None)
    assert verdict.ok is False
    assert (verdict.checked, verdict.unchained, verdict.seq) == (2, 1, 4)


def test_a_changed_record_is_named_with_what_was_checked() -> None:
    """The third chained record's content differs from its hash: broken at it, two checked."""
    rows = [_old(1), *_chain(3, 2)]
    seq, _, previous, digest = rows[-1]
    rows[-1] = (seq, _values(99), previous, digest)
    verdict = verify(rows, None)
    assert verdict == Verdict(False, 2, 1, 4, "its content was changed")
    assert verdict.ok is False


def test_a_head_that_counts_more_records_names_the_trails_end() -> None:
    """Records removed at the end: the verdict has no record number, says "the trail's end",
    and quotes the head's count and what the trail holds."""
    rows = _chain(2)
    verdict = verify(rows, f"9:{rows[-1][3]}")
    problem = "the head says 9 records, the trail holds 2: records were removed"
    assert verdict == Verdict(False, 2, 0, None, problem)
    assert verdict.ok is False
    assert str(verdict) == f"chain broken at the trail's end: {problem} (2 records checked)"


def test_a_head_with_a_colon_in_its_hash_is_read_by_its_count() -> None:
    """A tampered head whose hash part holds colons is still quoted by the count before the
    first colon."""
    rows = _chain(1)
    verdict = verify(rows, "7:not:a:hash")
    assert verdict.problem is not None
    assert verdict.problem.startswith("the head says 7 records, the trail holds 1:")


def test_a_checkpoint_whose_previous_hash_is_not_text_is_malformed() -> None:
    """Every key present, `removed` a count, but `previous` a number: malformed, at once."""
    checkpoint = '{"seq": 3, "previous": 5, "removed": 2, "before": "2026-01-01"}'
    found = verify([], None, checkpoint)
    assert (found.ok, found.problem) == (False, "the purge checkpoint is malformed: it was changed")


def test_a_verdict_checked_against_a_published_head_keeps_it_and_says_so() -> None:
    """`verify(..., expect=HEAD)` on an intact trail: the verdict holds the published head and
    its text names the record that carries it."""
    rows = _chain(3)
    published = AuditHead(2, rows[1][3])
    verdict = verify(rows, f"3:{rows[2][3]}", expect=published)
    assert verdict.ok
    assert verdict.expected == published
    assert (
        str(verdict)
        == f"chain intact: 3 records, head {rows[2][3]}; record 2 carries the published head"
    )


def test_a_head_that_is_not_one_shows_at_most_100_characters_of_it() -> None:
    """The refusal of a malformed head quotes the first 100 characters of what came."""
    with pytest.raises(ValueError, match="a head is COUNT:HASH") as caught:
        AuditHead.parse("x" * 150)
    assert str(caught.value).endswith(f"not {'x' * 100!r}")


def test_a_trail_cut_short_after_a_purge_counts_the_purged_records_too(tmp_path: Path) -> None:
    """Five records purged, then the last record deleted with plain SQL: the break says how
    many records the trail holds and how many were purged before them."""
    db = tmp_path / "a.db"
    store = SQLiteStore(db)
    store.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(5):
        store.audit("rejection", {"n": n})
    store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(3):
        store.audit("rejection", {"n": n})
    assert store.purge_audit(datetime(2025, 6, 1, tzinfo=UTC)) == (5, 6)
    store.audit("rejection", {"n": 9})
    store.close()
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    reader = SQLiteStore(db, read_only=True)
    try:
        assert str(reader.verify_audit()) == (
            "chain broken at the trail's end: the head says 10 records, the trail holds 4 "
            "(and 5 purged): records were removed (4 records checked)"
        )
    finally:
        reader.close()
