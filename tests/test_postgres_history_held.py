"""History rows held on PostgreSQL (issue 16 item 5), on the real server: `add_history` holds
its row for one insert sent before the next statement that names `history` or the commit,
but for `history_page` (the read a window makes right after the row it was fed), which
merges the rows still held into the page it reads; and where the stream and group were read
with their claim ahead (up to `HISTORY_AHEAD` rows), the page is read from memory. What must
hold: the read costs one round trip (none, read ahead) and the insert goes at the commit;
every page read is what the in-memory store answers for the same writes, whatever was held,
sent, forgotten, stored before, added twice, or undone by a savepoint."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blacklist_rules.model.history import HistoryRow
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.postgres.base import HISTORY_AHEAD
from blacklist_rules.stores.postgres.driver import PgConnection
from tests.postgres import column, empty_tables, pg_store

pytestmark = pytest.mark.postgres


def test_a_window_read_after_its_row_is_one_round_trip_and_the_row_goes_at_the_commit(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """add_history then history_page of the same stream and group: the server is sent the
    page's SELECT only, which answers with the held row; the INSERT goes with the COMMIT
    (before: an INSERT, then the SELECT)."""
    sent: list[str] = []
    run, write = PgConnection._run, PgConnection._write_held

    def running(self: PgConnection, query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query).split()[0])
        return run(self, query, *args, **kw)

    def writing(self: PgConnection, item: Any) -> None:
        sent.append("held " + item.query.split()[0])
        write(self, item)

    store = pg_store(url)
    monkeypatch.setattr(PgConnection, "_run", running)
    monkeypatch.setattr(PgConnection, "_write_held", writing)
    try:
        with store.begin():
            sent.clear()
            store.add_history("s", "acct-1", 10, "e1", "x")
            page = store.history_page("s", "acct-1", (10, None), 0, 5, newest_first=True)
            assert page == [HistoryRow(10, "e1", "x")]
            assert sent == ["SELECT"]
        assert sorted(sent[1:]) == ["COMMIT", "UPDATE", "held INSERT"]  # (noted as asked)
        assert column(url, "SELECT event_id FROM history") == ["e1"]
    finally:
        store.close()


_ROW = st.tuples(
    st.sampled_from(["s", "t"]),
    st.sampled_from(["acct-1", "acct-2"]),
    st.sampled_from([10, 20, 30]),
    st.sampled_from(["e1", "e2", "e3"]),
    st.sampled_from([None, "x", "y", 3]),
)
_READ = st.tuples(
    st.just("read"),
    st.sampled_from(["s", "t"]),
    st.sampled_from(["acct-1", "acct-2"]),
    st.sampled_from([5, 10, 20, 30, 35]),
    st.sampled_from([None, "e1", "e2", "e3"]),
    st.sampled_from([0, 10, 20, 40]),
    st.sampled_from([1, 2, 5]),
    st.booleans(),
)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _ROW),
        st.tuples(st.just("forget"), _ROW),
        st.sampled_from([("savepoint",), ("undo",), ("keep",), ("send",)]),
        _READ,
    ),
    max_size=14,
)


def _apply(store: Any, op: tuple[Any, ...], depth: int) -> int:
    """One op on one store; the savepoint depth after it (at most one open)."""
    if op[0] == "add":
        store.add_history(*op[1])
    elif op[0] == "forget":
        store.forget_history(*op[1][:4])
    elif op[0] == "savepoint" and not depth:
        store.savepoint()
        return 1
    elif op[0] in ("undo", "keep") and depth:
        if op[0] == "undo":
            store.rollback_to_savepoint()
        store.release_savepoint()
        return 0
    elif op[0] == "send":
        store.history_count("s", "acct-1", 0, 40, 10, None)  # (names `history`: held go)
    return depth


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS, before=st.lists(_ROW, max_size=3), ahead=st.booleans())
@example(
    ops=[
        ("add", ("s", "acct-1", 20, "e2", "x")),
        ("savepoint",),
        ("add", ("s", "acct-1", 10, "e1", None)),
        ("undo",),
        ("read", "s", "acct-1", 30, None, 0, 5, True),
    ],
    before=[],
    ahead=True,
)
@example(
    ops=[
        ("add", ("s", "acct-1", 20, "e2", "y")),
        ("read", "s", "acct-1", 5, None, 40, 1, False),
        ("read", "s", "acct-1", 20, "e2", 0, 5, True),
        ("read", "s", "acct-1", 30, None, 0, 5, True),
        ("add", ("s", "acct-1", 30, "e1", None)),
        ("add", ("s", "acct-1", 30, "e1", "x")),
        ("read", "s", "acct-1", 5, None, 40, 5, False),
    ],
    before=[("s", "acct-1", 20, "e2", "x"), ("s", "acct-1", 10, "e3", None)],
    ahead=True,
)
@example(
    ops=[
        ("add", ("s", "acct-1", 20, "e2", "y")),
        ("send",),
        ("add", ("s", "acct-1", 20, "e3", 3)),
        ("forget", ("s", "acct-1", 20, "e2", "y")),
        ("read", "s", "acct-1", 35, None, 0, 5, True),
    ],
    before=[],
    ahead=True,
)
@example(
    ops=[
        ("add", ("s", "acct-1", 20, "e2", "y")),
        ("send",),
        ("read", "s", "acct-1", 35, None, 0, 5, True),
    ],
    before=[("s", "acct-1", 10, "e1", None)],
    ahead=True,
)
@example(
    ops=[
        ("add", ("s", "acct-1", 20, "e1", None)),
        ("add", ("s", "acct-1", 10, "e1", None)),
        ("read", "s", "acct-1", 30, None, 20, 5, True),
        ("read", "s", "acct-1", 5, None, 20, 5, False),
        ("read", "s", "acct-1", 20, "e1", 40, 5, False),
    ],
    before=[],
    ahead=True,
)
def test_every_page_read_is_what_the_in_memory_store_answers(
    postgres_url: str, ops: list[tuple[Any, ...]], before: list[tuple[Any, ...]], ahead: bool
) -> None:
    """The same rows stored before, then the same ops in one transaction, on PostgreSQL and
    on the in-memory store: each page read (any key, bound, limit and direction) gives the
    same rows in the same order, whether PostgreSQL read the stored rows ahead with the
    claim of their groups (`ahead`: pages then read from memory) or not; after the commit
    the two hold the same rows."""
    empty_tables(postgres_url)
    store, model = pg_store(postgres_url), MemoryStore()
    both: list[Any] = [store, model]
    try:
        for each in both:
            with each.begin():
                for row in before:
                    each.add_history(*row)
        depths = [0, 0]
        with store.begin(), model.begin():
            if ahead:
                accounts = ["acct-1", "acct-2"]
                pairs = [(stream, account) for stream in ("s", "t") for account in accounts]
                store.claim_accounts(accounts, (), (), pairs)
            for op in ops:
                if op[0] != "read":
                    depths = [_apply(s, op, d) for s, d in zip(both, depths, strict=True)]
                    continue
                stream, account, at_us, event_id, bound, limit, newest = op[1:]
                key = (at_us, event_id)
                assert store.history_page(
                    stream, account, key, bound, limit, newest_first=newest
                ) == model.history_page(stream, account, key, bound, limit, newest_first=newest)
            for either, depth in zip(both, depths, strict=True):
                if depth:
                    either.release_savepoint()
        for stream in ("s", "t"):
            for account in ("acct-1", "acct-2"):
                assert store.history(stream, account, 0, 40) == model.history(
                    stream, account, 0, 40
                )
    finally:
        store.close()
        model.close()


def _sending(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements PostgreSQL connections send from now on, by their first word."""
    sent: list[str] = []
    run = PgConnection._run

    def running(self: PgConnection, query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query).split()[0])
        return run(self, query, *args, **kw)

    monkeypatch.setattr(PgConnection, "_run", running)
    return sent


@pytest.mark.parametrize("stored", [HISTORY_AHEAD - 1, HISTORY_AHEAD, HISTORY_AHEAD + 1])
def test_pages_of_groups_claimed_ahead_are_read_from_memory_up_to_the_most_rows(
    url: str, monkeypatch: pytest.MonkeyPatch, stored: int
) -> None:
    """A group with `stored` rows claimed ahead with its stream, then a row added and a page
    read: up to `HISTORY_AHEAD` stored rows, the page costs no statement (the stored rows
    came with the claim); one more, the page is read from the server. Either way the page
    holds the row added and the stored ones, newest first."""
    store = pg_store(url)
    try:
        with store.begin():
            for i in range(stored):
                store.add_history("s", "acct-1", 10 + i, f"e{i:03}", None)
        sent = _sending(monkeypatch)
        with store.begin():
            store.claim_accounts(["acct-1"], (), (), [("s", "acct-1")])
            store.add_history("s", "acct-1", 100, "new", "x")
            sent.clear()
            page = store.history_page("s", "acct-1", (100, None), 0, 3, newest_first=True)
            assert sent == ([] if stored <= HISTORY_AHEAD else ["SELECT"])
        top = stored + 9
        assert page == [
            HistoryRow(100, "new", "x"),
            HistoryRow(top, f"e{stored - 1:03}", None),
            HistoryRow(top - 1, f"e{stored - 2:03}", None),
        ]
    finally:
        store.close()


def test_a_pair_whose_group_is_not_claimed_with_it_is_not_read_ahead(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pairs whose group is neither an account nor an identity value of the claim are left
    to be read as ever (nothing guarantees no other writer adds to them)."""
    store = pg_store(url)
    try:
        sent = _sending(monkeypatch)
        with store.begin():
            store.claim_accounts(["acct-1"], (), [("phone", "ab" * 32)], [("s", "acct-2")])
            sent.clear()
            store.history_page("s", "acct-2", (100, None), 0, 3, newest_first=True)
            assert sent == ["SELECT"]
            store.claim_accounts(["acct-3"], (), [("phone", "cd" * 32)], [("t", "cd" * 32)])
            sent.clear()
            store.history_page("t", "cd" * 32, (100, None), 0, 3, newest_first=True)
            assert sent == []
    finally:
        store.close()
