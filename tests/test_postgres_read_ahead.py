"""Decisions and deadlines read with the batch's claim on PostgreSQL (issue 16 item 5), on the
real server: `claim_accounts` also reads the decisions not reversed and the deadlines of the
accounts it newly holds, and `taken_of` (one account) and `deadlines_of` answer from them
until the transaction writes one of the account's. With two workers the shared clock runs
ahead of each, so most events come late and `time_order` reads both for them (0.108 and 0.076
statements an event more than one worker, pg1). What must hold: no round trip for them; each
read is what the server answers, whatever the transaction wrote, ended, reversed or undid
since; after the transaction, the server is read again."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blacklist_rules.stores.postgres import PostgresStore
from blacklist_rules.stores.postgres.driver import PgConnection
from tests.postgres import empty_tables, pg_store
from tests.support import decision_record

pytestmark = pytest.mark.postgres

T1, T2, T3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"
ACCOUNTS = ("a", "b")


def _decide(
    store: PostgresStore, decision_id: str, account: str, at: str = T1, ends: str | None = None
) -> None:
    record = decision_record(decision_id, account, at, evidence=(f"e-{decision_id}",))
    store.add_decision(record, f"e-{decision_id}", at, ends)


def _read(store: PostgresStore, account: str) -> tuple[Any, ...]:
    """The account's decisions, deadlines, deadlines due by 20 and by 25, and whether a
    standing freeze of it would expire by `T3` (what `expire` reads; from memory: none, if
    the account is `_lasting`)."""
    return (
        store.taken_of({account}),
        store.deadlines_of(account),
        store.due_deadlines(20, account),
        store.due_deadlines(25, account),
        False if account in store._lasting else _expiring(store, account),
    )


def _expiring(store: PostgresStore, account: str) -> bool:
    """Whether the server holds a standing freeze of the account that expires by `T3`
    (`standing` leaves out those expired by the clock it is given)."""
    return len(store.standing(account, None)) > len(store.standing(account, T3))


def _stored(store: PostgresStore, account: str) -> tuple[Any, ...]:
    """What the server holds of the account (nothing kept ahead), as `_read` gives it."""
    kept = store._taken, store._deadlines, store._lasting
    store._taken, store._deadlines, store._lasting = {}, {}, set()
    try:
        return _read(store, account)
    finally:
        store._taken, store._deadlines, store._lasting = kept


def _before(store: PostgresStore) -> None:
    """Stored before the claim: each account's decision (`b`'s a freeze that expires), fired
    and pending deadlines, one reversed decision of `a` (never read ahead), a decision of an
    account not claimed."""
    with store.begin():
        for account in ACCOUNTS:
            _decide(store, f"old-{account}", account, T1, T2 if account == "b" else None)
            store.add_deadline("r", f"anchor-{account}", account, "e0", 10, 20, "fired")
            store.add_deadline("r", f"wait-{account}", account, "e0", 10, 25, "pending")
        _decide(store, "gone", "a", T2)
        store.reverse_decision("gone", "e-x", "appeal_outcome")
        _decide(store, "other", "c")


def test_the_claimed_accounts_decisions_and_deadlines_cost_no_round_trip(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `claim_accounts(a, b)`, `taken_of({a})` and `deadlines_of(a)` send nothing and
    give what was stored (the reversed decision left out); `taken_of({a, b})` and an
    account not claimed are read from the server (before: one statement each)."""
    store = pg_store(url)
    try:
        _before(store)
        sent: list[str] = []
        run = PgConnection._run

        def running(self: PgConnection, query: Any, *args: Any, **kw: Any) -> Any:
            sent.append(str(query))
            return run(self, query, *args, **kw)

        with store.begin():
            store.claim_accounts(ACCOUNTS)
            monkeypatch.setattr(PgConnection, "_run", running)
            taken, deadlines = store.taken_of({"a"}), store.deadlines_of("a")
            assert sent == []
            assert [t.decision.decision_id for t in taken] == ["old-a"]
            states = [(d.anchor_id, d.state) for d in deadlines]
            assert states == [("anchor-a", "fired"), ("wait-a", "pending")]
            assert [d.anchor_id for d in store.due_deadlines(25, "a")] == ["wait-a"]
            assert store.due_deadlines(24, "a") == []
            assert store.expire(T3, "a") == []
            assert sent == []
            assert _read(store, "a") == _stored(store, "a")
            sent.clear()
            assert len(store.taken_of({"a", "b"})) == 2
            assert [t.decision.decision_id for t in store.taken_of({"c"})] == ["other"]
            assert store.deadlines_of("c") == []
            assert [e.decision_id for e in store.expire(T3, "b")] == ["old-b"]
            assert len(sent) == 5  # (the three reads, then expire's UPDATE and its record)
    finally:
        store.close()


def test_after_the_transaction_another_writers_decision_is_read(url: str) -> None:
    """Once the transaction that claimed ahead is over, its memory is not: a decision and a
    deadline another connection committed since are in the next reads."""
    store, other = pg_store(url), pg_store(url)
    try:
        _before(store)
        with store.begin():
            store.claim_accounts(ACCOUNTS)
            assert len(store.taken_of({"a"})) == 1
        with other.begin():
            _decide(other, "later", "a", T3)
            other.add_deadline("r", "anchor-2", "a", "e0", 10, 30, "pending")
        assert [t.decision.decision_id for t in store.taken_of({"a"})] == ["old-a", "later"]
        assert len(store.deadlines_of("a")) == 3
    finally:
        store.close()
        other.close()


_ACCOUNT = st.sampled_from(ACCOUNTS)
_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("decide"), _ACCOUNT, st.sampled_from([T1, T2, T3]), st.sampled_from([None, T2])
        ),
        st.tuples(st.just("expire"), _ACCOUNT, st.sampled_from([T1, T3])),
        st.tuples(st.just("end"), st.sampled_from(["old-a", "old-b", "n0", "n1"])),
        st.tuples(st.just("reverse"), st.sampled_from(["old-a", "old-b", "n0", "n1"])),
        st.tuples(st.just("deadline"), _ACCOUNT, st.sampled_from([15, 25])),
        st.tuples(st.just("state"), st.sampled_from(["anchor-a", "anchor-b", "n0"])),
        st.tuples(st.just("meet"), _ACCOUNT),
        st.tuples(st.just("prune"), st.sampled_from([20, 30])),
        st.sampled_from([("savepoint",), ("undo",), ("keep",)]),
    ),
    max_size=12,
)


def _apply(store: PostgresStore, op: tuple[Any, ...], made: list[str], depth: int) -> int:
    """One op in the open transaction; the savepoint depth after it (at most one open)."""
    if op[0] == "decide":
        made.append(f"n{len(made)}")
        _decide(store, made[-1], op[1], op[2], op[3])
    elif op[0] == "expire":
        store.expire(op[2], op[1])
    elif op[0] == "end":
        store.end_decision(op[1], T3)
    elif op[0] == "reverse":
        store.reverse_decision(op[1], "e-r", "review_decision")
    elif op[0] == "deadline":
        store.add_deadline("r", f"n{op[2]}", op[1], "e0", 10, op[2], "pending")
    elif op[0] == "state":
        store.set_deadline_state("r", op[1], "void")
    elif op[0] == "meet":
        store.meet_deadlines(op[1], ["r"], 12)
    elif op[0] == "prune":
        store.prune_deadlines(op[1])
    elif op[0] == "savepoint" and not depth:
        store.savepoint()
        return 1
    elif op[0] in ("undo", "keep") and depth:
        if op[0] == "undo":
            store.rollback_to_savepoint()
        store.release_savepoint()
        return 0
    return depth


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
@example(ops=[("decide", "a", T2, None)])
@example(ops=[("decide", "a", T1, T2)])
@example(ops=[("expire", "b", T3)])
@example(ops=[("end", "old-a")])
@example(ops=[("reverse", "old-b")])
@example(ops=[("deadline", "a", 15), ("state", "n15")])
@example(ops=[("state", "anchor-a")])
@example(ops=[("deadline", "b", 15), ("meet", "b")])
@example(ops=[("meet", "a")])
@example(ops=[("prune", 20)])
@example(ops=[("savepoint",), ("decide", "a", T1, None), ("undo",)])
def test_every_read_is_what_the_server_holds(postgres_url: str, ops: list[tuple[Any, ...]]) -> None:
    """The decisions and deadlines stored before, the accounts claimed ahead, then any
    writes of them in the transaction (added, ended, reversed, met, set, pruned, undone by
    a savepoint, freezes expired): after each, `taken_of`, `deadlines_of`, `due_deadlines` of
    each account give what the server holds at that moment, and `expire` ends nothing from
    memory where the server holds a freeze it would end."""
    empty_tables(postgres_url)
    store = pg_store(postgres_url)
    try:
        _before(store)
        made: list[str] = []
        depth = 0
        with store.begin():
            store.claim_accounts(ACCOUNTS)
            for op in ops:
                depth = _apply(store, op, made, depth)
                for account in ACCOUNTS:
                    assert _read(store, account) == _stored(store, account), (op, account)
    finally:
        store.close()
