"""Savepoints sent lazily on SQLite (issue 19, as `test_postgres_savepoints` on PostgreSQL):
`SQLiteTransaction` keeps a `SAVEPOINT` until a statement inside it may write (any but a
`SELECT`); `RELEASE` and `ROLLBACK TO` of a mark never sent are not sent either. What must
hold: what a transaction reads and commits is what it would with every savepoint sent
(writes before and after each mark, nested marks, reads between, in any order); a mark
inside which nothing was written never reaches SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blacklist_rules.errors import StoreError
from blacklist_rules.stores.sqlite.connection import Connection

MARKS = ("SAVEPOINT", "RELEASE", "ROLLBACK TO")


class Traced:
    """A connection on a private in-memory db with one table `t`, noting what it runs."""

    def __init__(self) -> None:
        self.db = Connection(":memory:")
        self.db.execute("CREATE TABLE t (v INTEGER NOT NULL)")
        self.sent: list[str] = []
        self.db.trace(self.sent.append)

    def write(self, value: int) -> None:
        self.db.execute("INSERT INTO t VALUES (?)", (value,))

    def rows(self) -> list[int]:
        return sorted(int(row[0]) for row in self.db.execute("SELECT v FROM t").fetchall())

    def marks(self) -> list[str]:
        return [s for s in self.sent if s.startswith(MARKS)]


@pytest.fixture
def traced() -> Iterator[Traced]:
    made = Traced()
    yield made
    made.db.close()


def test_a_savepoint_inside_which_nothing_was_written_is_never_sent(traced: Traced) -> None:
    """SAVEPOINT then RELEASE, and SAVEPOINT, a read, ROLLBACK TO, RELEASE: SQLite sees none
    of them."""
    with traced.db.begin() as tx:
        tx.savepoint()
        tx.release_savepoint()
        tx.savepoint()
        assert traced.rows() == []
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert traced.marks() == []
    assert traced.sent == ["BEGIN IMMEDIATE", "SELECT v FROM t", "COMMIT"]


def test_a_write_sends_the_savepoint_just_before_it(traced: Traced) -> None:
    """The first write inside a mark sends it; RELEASE follows; the write is committed."""
    with traced.db.begin() as tx:
        tx.savepoint()
        assert traced.rows() == []
        traced.write(1)
        traced.write(2)
        tx.release_savepoint()
    assert traced.sent[1:5] == [
        "SELECT v FROM t",
        "SAVEPOINT event",
        "INSERT INTO t VALUES (1)",
        "INSERT INTO t VALUES (2)",
    ]
    assert traced.marks() == ["SAVEPOINT event", "RELEASE event"]
    assert traced.rows() == [1, 2]


def test_a_rollback_undoes_the_writes_after_the_mark_and_keeps_those_before(
    traced: Traced,
) -> None:
    """1 before the mark, 2 inside it, rolled back to: 1 is committed, 2 is not."""
    with traced.db.begin() as tx:
        traced.write(1)
        tx.savepoint()
        traced.write(2)
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert traced.marks() == ["SAVEPOINT event", "ROLLBACK TO event", "RELEASE event"]
    assert traced.rows() == [1]


def test_an_inner_mark_never_sent_leaves_the_outer_one_whole(traced: Traced) -> None:
    """Outer mark written in, inner mark not: rolling back to the inner one keeps the outer
    one's write (nothing is sent for it); rolling back to the outer one then undoes it."""
    with traced.db.begin() as tx:
        tx.savepoint()
        traced.write(1)
        tx.savepoint()
        tx.rollback_to_savepoint()
        tx.release_savepoint()
        assert traced.rows() == [1]
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert traced.marks() == ["SAVEPOINT event", "ROLLBACK TO event", "RELEASE event"]
    assert traced.rows() == []


def test_nested_marks_not_sent_go_together_before_the_write(traced: Traced) -> None:
    """Two marks, then a write: both are sent, in order, and each is released."""
    with traced.db.begin() as tx:
        tx.savepoint()
        tx.savepoint()
        traced.write(1)
        tx.rollback_to_savepoint()
        tx.release_savepoint()
        traced.write(2)
        tx.release_savepoint()
    assert traced.marks() == [
        "SAVEPOINT event",
        "SAVEPOINT event",
        "ROLLBACK TO event",
        "RELEASE event",
        "RELEASE event",
    ]
    assert traced.rows() == [2]


def test_the_end_of_a_transaction_ends_its_marks_not_sent(traced: Traced) -> None:
    """A mark left open (not sent) when the transaction ends does not reach the next one: its
    RELEASE there is SQLite's error, as it was when every mark was sent."""
    with traced.db.begin() as tx:
        tx.savepoint()
    with traced.db.begin() as tx, pytest.raises(StoreError, match="no such savepoint"):
        tx.release_savepoint()
    assert traced.db.unsent == 0


@attrs.frozen
class Step:
    """One step of a transaction: write a value, read, take a mark, release it, roll back."""

    op: str
    value: int = 0


STEPS = st.lists(
    st.one_of(
        st.builds(Step, st.just("write"), st.integers(0, 99)),
        st.builds(Step, st.sampled_from(["read", "mark", "release", "rollback"])),
    ),
    max_size=30,
)


@given(steps=STEPS)
def test_a_transaction_reads_and_commits_what_it_would_with_every_mark_sent(
    steps: list[Step],
) -> None:
    """Any order of writes, reads, marks, releases and rollbacks (a release or rollback
    only with a mark open): every read sees, and the commit keeps, what the model says;
    a SAVEPOINT is sent for exactly the marks a write came inside of."""
    traced = Traced()
    model: list[int] = []
    marks: list[list[int]] = []
    written = 0  # marks a write came inside of; `unwritten`: the open ones not yet
    unwritten = 0
    with traced.db.begin() as tx:
        for step in steps:
            if step.op == "write":
                traced.write(step.value)
                model.append(step.value)
                written, unwritten = written + unwritten, 0
            elif step.op == "read":
                assert traced.rows() == sorted(model)
            elif step.op == "mark":
                tx.savepoint()
                marks.append(list(model))
                unwritten += 1
            elif marks and step.op == "release":
                tx.release_savepoint()
                marks.pop()
                unwritten = max(unwritten - 1, 0)
            elif marks:
                tx.rollback_to_savepoint()
                model = list(marks[-1])
    assert traced.rows() == sorted(model)
    assert traced.marks().count("SAVEPOINT event") == written
    traced.db.close()
