"""Savepoints sent lazily (issue 16 item 5), on the real server: `PgConnection` keeps a
`SAVEPOINT` until a statement goes inside it, so an event that sends nothing between
`SAVEPOINT` and `RELEASE` but plain reads costs no round trip for them. What must hold:
what a transaction commits is what it would with every savepoint sent (rows written and
held, before and after each mark, nested marks, in any order); a savepoint inside which
nothing was written never reaches the server, nor its `RELEASE` or `ROLLBACK TO`; a read
that takes a lock is a write; a read that fails where no savepoint was sent drops the
transaction whole."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules.errors import StoreError, StoreUnavailableError
from blacklist_rules.stores.postgres.driver import Params, PgConnection
from tests.postgres import column, fresh_database

pytestmark = pytest.mark.postgres

T = TypeVar("T")
HOLD = "INSERT INTO t SELECT unnest(%s::int[])"
NAMES_T = re.compile(r"\bt\b")


class Recording(PgConnection):
    """The store's connection, noting each statement it sends to the server."""

    def __init__(self, url: str) -> None:
        self.sent: list[str] = []
        super().__init__(url, read_only=False, busy_timeout=5.0)

    def _run(
        self,
        query: Any,
        args: Params | None,
        read: Callable[[Any], T],
        record: type[Any] | None = None,
        *,
        send: bool = True,
    ) -> T:
        if send:  # (what goes first, savepoints and held rows, is noted first)
            self._send_held(query)
        self.sent.append(str(query))
        return super()._run(query, args, read, record, send=False)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """A database of its own with one scratch table `t`."""
    with fresh_database() as made:
        db = PgConnection(made, read_only=False, busy_timeout=5.0)
        db.execute("CREATE TABLE t (v int NOT NULL)")
        db.close()
        yield made


@pytest.fixture
def db(url: str) -> Iterator[Recording]:
    """A recording connection on an empty `t`, its set-up statements forgotten."""
    made = Recording(url)
    made.execute("DELETE FROM t")
    made.sent = []
    yield made
    made.close()


def _stored(url: str) -> list[int]:
    return sorted(int(str(v)) for v in column(url, "SELECT v FROM t"))


def _hold(db: PgConnection, value: int) -> None:
    db.hold(HOLD, (value,), NAMES_T, "rows of t")


def _write(db: PgConnection, value: int) -> None:
    db.execute("INSERT INTO t VALUES (%s)", (value,))


def _marks_sent(db: Recording) -> list[str]:
    return [s for s in db.sent if s.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))]


def test_a_savepoint_inside_which_nothing_was_sent_never_reaches_the_server(
    db: Recording, url: str
) -> None:
    """SAVEPOINT then RELEASE, and SAVEPOINT, ROLLBACK TO, RELEASE, with nothing between:
    the server sees BEGIN and COMMIT only."""
    with db.begin() as tx:
        tx.savepoint()
        tx.release_savepoint()
        tx.savepoint()
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert db.sent == ["BEGIN", "COMMIT"]
    assert _stored(url) == []


def test_a_write_then_release_sends_the_savepoint_first_and_commits_the_write(
    db: Recording, url: str
) -> None:
    """A write inside a savepoint: SAVEPOINT goes just before it, RELEASE after."""
    with db.begin() as tx:
        tx.savepoint()
        _write(db, 1)
        tx.release_savepoint()
    assert _marks_sent(db) == ["SAVEPOINT event", "RELEASE event"]
    assert db.sent.index("SAVEPOINT event") == db.sent.index("INSERT INTO t VALUES (%s)") - 1
    assert _stored(url) == [1]


def test_a_write_then_rollback_is_undone_by_the_server(db: Recording, url: str) -> None:
    """A write before the savepoint stays; one inside it, rolled back to, is gone."""
    with db.begin() as tx:
        _write(db, 1)
        tx.savepoint()
        _write(db, 2)
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert _marks_sent(db) == ["SAVEPOINT event", "ROLLBACK TO event", "RELEASE event"]
    assert _stored(url) == [1]


@pytest.mark.parametrize("read_inside", [False, True])
def test_rows_held_after_the_mark_go_with_a_rollback_those_before_it_stay(
    db: Recording, url: str, read_inside: bool
) -> None:
    """1 held before the mark, 2 after it, then rolled back to: 1 is committed, 2 is not.
    Without a read inside (nothing sent) no savepoint statement reaches the server; with a
    read of `t` inside (both rows sent after the SAVEPOINT) the server undoes both and 1
    is held again."""
    with db.begin() as tx:
        _hold(db, 1)
        tx.savepoint()
        _hold(db, 2)
        if read_inside:
            assert sorted(r[0] for r in db.all("SELECT v FROM t")) == [1, 2]
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert _stored(url) == [1]
    expected = ["SAVEPOINT event", "ROLLBACK TO event", "RELEASE event"] if read_inside else []
    assert _marks_sent(db) == expected


def test_rows_held_after_a_released_mark_are_committed(db: Recording, url: str) -> None:
    """1 held before the mark, 2 inside it, released without anything sent: both commit,
    sent at the commit in one statement, no savepoint statement sent."""
    with db.begin() as tx:
        _hold(db, 1)
        tx.savepoint()
        _hold(db, 2)
        tx.release_savepoint()
    assert _stored(url) == [1, 2]
    assert _marks_sent(db) == []
    assert db.sent == ["BEGIN", "COMMIT"]


def test_nested_marks_are_sent_outer_first_and_only_those_a_statement_went_inside(
    db: Recording, url: str
) -> None:
    """Outer mark, inner mark, a write in the inner one: both SAVEPOINTs go, outer first.
    The inner rolled back and released, a second inner one with nothing inside (not sent),
    then the outer rolled back: nothing is committed."""
    with db.begin() as tx:
        tx.savepoint()
        _hold(db, 1)
        tx.savepoint()
        _write(db, 2)
        tx.rollback_to_savepoint()
        tx.release_savepoint()
        tx.savepoint()
        tx.release_savepoint()
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert _stored(url) == []
    assert _marks_sent(db) == [
        "SAVEPOINT event",
        "SAVEPOINT event",
        "ROLLBACK TO event",
        "RELEASE event",
        "ROLLBACK TO event",
        "RELEASE event",
    ]


def test_an_unsent_inner_mark_inside_a_sent_outer_one(db: Recording, url: str) -> None:
    """The outer mark sent (a write inside), an inner one with only a held row, rolled back:
    the held row is dropped without the server; the outer write commits."""
    with db.begin() as tx:
        tx.savepoint()
        _write(db, 1)
        tx.savepoint()
        _hold(db, 2)
        tx.rollback_to_savepoint()
        tx.release_savepoint()
        tx.release_savepoint()
    assert _stored(url) == [1]
    assert _marks_sent(db) == ["SAVEPOINT event", "RELEASE event"]


def test_a_plain_read_inside_a_savepoint_sends_no_savepoint(db: Recording, url: str) -> None:
    """A read of another table (the held row not needed by it) inside the mark: no
    savepoint statement is sent; the held row commits."""
    with db.begin() as tx:
        tx.savepoint()
        _hold(db, 1)
        assert db.value("SELECT count(*) FROM pg_class WHERE relname = 'nothing'") == 0
        tx.release_savepoint()
    assert _marks_sent(db) == []
    assert _stored(url) == [1]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT pg_advisory_xact_lock(7)",
        "SELECT v FROM t FOR UPDATE",
        "SELECT 1 FROM t FOR SHARE",
        "WITH x AS (SELECT 1) SELECT * FROM x",
    ],
)
def test_a_read_that_takes_a_lock_or_is_not_plain_sends_the_savepoint(
    db: Recording, query: str
) -> None:
    """A lock taken (advisory, rows for update or share) or a statement not read as a plain
    SELECT: the savepoint goes before it, as before a write."""
    with db.begin() as tx:
        tx.savepoint()
        db.all(query)
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert _marks_sent(db) == ["SAVEPOINT event", "ROLLBACK TO event", "RELEASE event"]


def test_a_read_that_fails_where_no_savepoint_was_sent_drops_the_transaction(
    db: Recording, url: str
) -> None:
    """A write before the mark, a failing read inside it (the savepoint not sent): rolling
    back to the mark is refused (`StoreUnavailableError`: nothing to roll back to), the
    transaction ends with nothing committed; a later transaction works."""
    tx = db.begin()
    _write(db, 1)
    tx.savepoint()
    with pytest.raises(StoreError):
        db.all("SELECT 1 / 0")
    with pytest.raises(StoreUnavailableError, match="nothing to roll back to"):
        tx.rollback_to_savepoint()
    tx.rollback()
    assert _stored(url) == []
    with db.begin():
        _write(db, 2)
    assert _stored(url) == [2]


def test_a_read_that_fails_after_a_write_inside_the_savepoint_is_rolled_back_to(
    db: Recording, url: str
) -> None:
    """A write inside the mark sent the savepoint; a read that fails after it is rolled back
    to as before: the write before the mark commits."""
    with db.begin() as tx:
        _write(db, 1)
        tx.savepoint()
        _write(db, 2)
        with pytest.raises(StoreError):
            db.all("SELECT 1 / 0")
        tx.rollback_to_savepoint()
        tx.release_savepoint()
    assert _stored(url) == [1]


@attrs.frozen
class Step:
    """One step of a transaction: `hold`, `write`, `read`, `mark`, `release`, `rollback`."""

    kind: str
    value: int


STEPS = st.lists(
    st.builds(
        Step,
        st.sampled_from(["hold", "write", "read", "mark", "release", "rollback"]),
        st.integers(0, 9),
    ),
    max_size=14,
)


def _apply(db: PgConnection, step: Step, model: list[int], marks: list[list[int]]) -> None:
    """One step on the connection and on the model (what must commit)."""
    tx = db.transaction
    assert tx is not None
    if step.kind in ("hold", "write"):
        (_hold if step.kind == "hold" else _write)(db, step.value)
        model.append(step.value)
    elif step.kind == "read":
        assert sorted(r[0] for r in db.all("SELECT v FROM t")) == sorted(model)
    elif step.kind == "mark":
        tx.savepoint()
        marks.append(list(model))
    elif marks and step.kind == "release":
        tx.release_savepoint()
        marks.pop()
    elif marks:  # rollback
        tx.rollback_to_savepoint()
        model[:] = marks[-1]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_a_transaction_commits_what_it_would_with_every_savepoint_sent(
    db: Recording, url: str, steps: list[Step]
) -> None:
    """Any order of held rows, writes, reads, marks, releases and rollbacks: reads see, and
    the commit stores, what the model says; a SAVEPOINT is sent at most once a mark and only
    when a statement was sent after it."""
    db.execute("DELETE FROM t")
    db.sent = []
    model: list[int] = []
    marks: list[list[int]] = []
    with db.begin():
        for step in steps:
            _apply(db, step, model, marks)
    assert _stored(url) == sorted(model)
    assert db.sent.count("SAVEPOINT event") <= sum(s.kind == "mark" for s in steps)
    if not any(s.kind == "write" for s in steps) and not any(
        s.kind == "read" and any(h.kind == "hold" for h in steps[:i]) for i, s in enumerate(steps)
    ):
        assert _marks_sent(db) == []
