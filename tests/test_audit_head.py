"""The head published elsewhere: `audit head` prints it, `audit verify --expect-head` checks a
trail against it; a trail rewritten whole with recomputed hashes passes the db's own checks,
and fails only against a published head."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blacklist_rules import AuditHead, Engine, SQLiteStore, iter_jsonl
from blacklist_rules.cli import main
from blacklist_rules.model.chain import FIELDS, GENESIS, record_hash

from .test_chain import ROOT, count, tampered, trail

__all__ = ["trail"]  # the fixture, shared with test_chain

HEX = "0123456789abcdef" * 4


def head_of(db: Path) -> str:
    """The head `audit head` prints (checked against the meta row beside the trail)."""
    with sqlite3.connect(db) as connection:
        (stored,) = connection.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
    return str(stored)


def hashes(db: Path) -> list[str]:
    """The hash of every chained record, in order: `hashes(db)[n - 1]` is record n's."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT hash FROM audit WHERE hash IS NOT NULL ORDER BY seq")
        return [str(row[0]) for row in rows]


def rewrite(db: Path, statement: str) -> None:
    """Run `statement`, then recompute every hash and the head, as someone who can rewrite
    the whole file would."""
    with sqlite3.connect(db) as connection:
        connection.execute(statement)
        rows = connection.execute(f"SELECT seq, {', '.join(FIELDS)} FROM audit ORDER BY seq")
        previous = GENESIS
        for row in rows.fetchall():
            digest = record_hash(row[1:], previous)
            connection.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (previous, digest, row[0])
            )
            previous = digest
        (total,) = connection.execute("SELECT count(*) FROM audit").fetchone()
        connection.execute(
            "UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"{total}:{previous}",)
        )


def test_audit_head_prints_the_head_to_publish_on_one_line(
    trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit head PATH`: `COUNT:HASH` and a newline, nothing else on stdout, the head kept
    beside the trail; `--json`: the same with its parts and when the last record was logged."""
    assert main(["audit", "head", str(trail)]) == 0
    out = capsys.readouterr().out
    assert out == f"{head_of(trail)}\n"
    assert out.strip() == f"{count(trail)}:{hashes(trail)[-1]}"
    assert main(["audit", "head", "--json", str(trail)]) == 0
    shown = json.loads(capsys.readouterr().out)
    with sqlite3.connect(trail) as connection:
        (last,) = connection.execute("SELECT max(recorded_at) FROM audit").fetchone()
    assert shown == {
        "head": out.strip(),
        "count": count(trail),
        "hash": hashes(trail)[-1],
        "recorded_at": last,
    }


def test_audit_head_refuses_a_trail_that_does_not_verify_or_holds_nothing(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A head printed from a changed trail would vouch for the change: exit 1, the break
    named, nothing on stdout. A db with no record yet has no head: exit 1 too."""
    db = tampered(trail, tmp_path, "UPDATE audit SET kind = 'x' WHERE seq = 5")
    assert main(["audit", "head", str(db)]) == 1
    seen = capsys.readouterr()
    assert seen.out == ""
    assert "does not verify: chain broken at record #5: its content was changed" in seen.err
    assert "no head to publish" in seen.err
    empty = tmp_path / "new.db"
    SQLiteStore(empty).close()
    assert main(["audit", "head", str(empty)]) == 1
    seen = capsys.readouterr()
    assert seen.out == ""
    assert "holds no chained record yet: no head to publish" in seen.err


def test_a_trail_rewritten_with_recomputed_hashes_fails_against_the_published_head(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One record changed, every hash after it and the head recomputed: the db's own checks
    pass (what the chain cannot show), and `--expect-head` with the head published before
    names the published record, exit 1."""
    published = head_of(trail)
    db = tampered(trail, tmp_path)
    rewrite(db, "UPDATE audit SET recorded_at = '2020-01-01T00:00:00+00:00' WHERE seq = 7")
    assert main(["audit", "verify", str(db)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--expect-head", published, str(db)]) == 1
    total = count(trail)
    assert capsys.readouterr().err.startswith(
        f"chain broken at record #{total}: it is record {total} of the trail and its hash is "
        f"not the published head's ({published}): the trail was rewritten since"
    )


def test_the_published_head_still_holds_as_the_trail_grows(tmp_path: Path) -> None:
    """A head published after the first run, checked after a second run added records: record
    COUNT still carries HASH, so it passes; a head published after the second run does too."""
    db = tmp_path / "grow.db"
    events = list(iter_jsonl(ROOT / "examples" / "events.jsonl"))
    with Engine.from_path(db=db) as engine:
        for _ in engine.run(events[:600]):
            pass
    first = head_of(db)
    with Engine.from_path(db=db) as engine:
        for _ in engine.run(events[600:]):
            pass
    assert int(head_of(db).split(":")[0]) > int(first.split(":")[0])
    for published in (first, head_of(db)):
        assert main(["audit", "verify", "--expect-head", published, str(db)]) == 0


def test_the_published_count_at_the_edges_of_the_trail(trail: Path) -> None:
    """COUNT = the trail's length and COUNT one less, each with its record's hash: pass. One
    more than the trail holds: fails, records were removed. A right count with another
    record's hash: fails at that record."""
    total, known = count(trail), hashes(trail)
    store = SQLiteStore(trail)
    try:
        assert store.verify_audit(f"{total}:{known[-1]}").ok
        assert store.verify_audit(AuditHead(total - 1, known[-2])).ok
        longer = store.verify_audit(f"{total + 1}:{known[-1]}")
        wrong = store.verify_audit(AuditHead(total - 1, known[-1]))
    finally:
        store.close()
    assert str(longer) == (
        f"chain broken at the trail's end: the published head {total + 1}:{known[-1]} names "
        f"record {total + 1}, the trail holds {total}: records were removed, or the trail was "
        f"rewritten ({total} records checked)"
    )
    assert not wrong.ok
    assert wrong.seq == total - 1
    assert "the trail was rewritten since" in str(wrong)


def test_a_published_head_across_a_purge(tmp_path: Path) -> None:
    """A purge removed records 1..R. The head naming record R (the checkpoint holds its hash)
    and R + 1 (the first kept) check; R with another hash fails; R - 1 was purged: it cannot
    be checked, and fails (a forged purge would otherwise hide any rewrite)."""
    db = tmp_path / "purge.db"
    events = list(iter_jsonl(ROOT / "examples" / "events.jsonl"))
    with Engine.from_path(db=db) as engine:
        engine.store.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[:600]):
            pass
        engine.store.now = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        for _ in engine.run(events[600:]):
            pass
        known = hashes(db)
        removed, _kept = engine.store.purge_audit(datetime(2025, 6, 1, tzinfo=UTC))
        store = engine.store
        assert 1 < removed < len(known)
        assert store.verify_audit(AuditHead(removed, known[removed - 1])).ok
        assert store.verify_audit(AuditHead(removed + 1, known[removed])).ok
        other = store.verify_audit(AuditHead(removed, known[removed]))
        purged = store.verify_audit(AuditHead(removed - 1, known[removed - 2]))
    assert str(other).startswith(
        f"chain broken at the trail's end: the published head {removed}:{known[removed]} is "
        "not the last record the purge removed: the trail was rewritten since"
    )
    assert str(purged).startswith(
        f"chain broken at the trail's end: the published head {removed - 1}:"
        f"{known[removed - 2]} names record {removed - 1}, purged since (the trail starts "
        f"after record {removed}): it cannot be checked; publish the head again after each purge"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        HEX,
        f"0:{HEX}",
        f"-1:{HEX}",
        f"1:{HEX[:-1]}",
        f"1:{HEX}0",
        f"1:{HEX[:-1]}g",
        f"1 :{HEX}",
        f"{'9' * 5000}:{HEX}",
        f"\uff11:{HEX}",  # a full-width digit one
    ],
)
def test_a_malformed_head_is_a_usage_error(
    text: str, trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not COUNT:HASH (a count from 1, 64 hex digits): exit 2 with what a head is, before
    the db is read; `AuditHead.parse` and `verify_audit` raise `ValueError` saying the same."""
    with pytest.raises(SystemExit) as usage:
        main(["audit", "verify", f"--expect-head={text}", str(trail)])
    assert usage.value.code == 2
    assert "a head is COUNT:HASH, a record number from 1 and its 64-hex-digit SHA-256" in (
        capsys.readouterr().err
    )
    with pytest.raises(ValueError, match="a head is COUNT:HASH"):
        AuditHead.parse(text)
    store = SQLiteStore(trail)
    try:
        with pytest.raises(ValueError, match="a head is COUNT:HASH"):
            store.verify_audit(text)
    finally:
        store.close()


def test_a_head_reads_back_as_written() -> None:
    """`str` and `parse` round-trip; upper-case hex and surrounding blanks (a line read from a
    file) are accepted; when the record was logged is not part of equality."""
    head = AuditHead(1, HEX, "2026-01-01T00:00:00+00:00")
    assert str(head) == f"1:{HEX}"
    assert AuditHead.parse(f" 1:{HEX.upper()}\n") == head
    assert AuditHead.parse(str(AuditHead(10**17, HEX))) == AuditHead(10**17, HEX)


def test_every_chain_column_emptied_is_caught_by_the_db_alone(
    trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hashes, previous hashes and ruleset digests all NULLed and the head deleted: the trail
    looks like records from before the chain, but an upgraded db chains a record after its
    old ones at once, so records without a hash and none with one are a break (issue 14: it
    passed as "0 records ... predate the chain"), with or without the published head."""
    published = head_of(trail)
    db = tampered(
        trail,
        tmp_path,
        "UPDATE audit SET hash = NULL, prev_hash = NULL, ruleset_digest = NULL",
        "DELETE FROM meta WHERE key = 'audit_head'",
    )
    said = f"{count(trail)} records without a hash and none with one after them"
    assert main(["audit", "verify", str(db)]) == 1
    assert said in capsys.readouterr().err
    assert main(["audit", "verify", "--expect-head", published, str(db)]) == 1
    assert said in capsys.readouterr().err
