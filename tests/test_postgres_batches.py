"""A batch's events on PostgreSQL (issue 16 item 5), on the real server: a batch that claims
its accounts ahead reads which of its event ids are stored in one statement, and holds the
new events' rows for one insert sent before the first statement that reads `events`, a
rollback or the commit. What must hold: the batch commits whole and others see its events
only then; a batch dropped midway commits nothing and its rerun doubles nothing; reads in
the batch see the held rows; a savepoint keeps what was held before it; an id another
writer logs after the look-ahead makes the batch run again, never logs it twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine
from blacklist_rules.engine.loading import load_ruleset
from blacklist_rules.errors import StoreConflictError
from blacklist_rules.stores import open_store
from blacklist_rules.stores.postgres.driver import PgConnection
from blacklist_rules.stores.records import EventRow
from blacklist_rules.testing import generate_events
from tests.postgres import column, empty_tables, pg_store
from tests.test_cli import cli

pytestmark = pytest.mark.postgres


def _lines(n: int, accounts: int = 20, seed: int = 3) -> list[str]:
    return [json.dumps(e) for e in generate_events(n, n_accounts=accounts, seed=seed)]


def _ids(lines: list[str]) -> list[str]:
    return [str(json.loads(line)["event_id"]) for line in lines]


def _logged(url: str) -> list[str]:
    """The event ids committed, in log order, as another connection sees them."""
    return [str(v) for v in column(url, "SELECT event_id FROM events ORDER BY arrival")]


def _decided(engine: Engine[Any], lines: list[str]) -> list[tuple[str, str, str]]:
    """Every decision on the accounts of these events: account, action, rule."""
    accounts = sorted({str(json.loads(line)["account_id"]) for line in lines})
    return sorted(
        (d.account_id, str(d.action), d.rule_id) for a in accounts for d in engine.decisions(a)
    )


def _engine(url: str, commit_every: int) -> Engine[Any]:
    engine = Engine(load_ruleset(), open_store(url), max_lead=None)
    engine.commit_every = commit_every
    return engine


@pytest.mark.parametrize("n", [49, 50, 51])
def test_a_batch_commits_whole_in_log_order_and_is_seen_only_then(url: str, n: int) -> None:
    """Batches of 50 over 49, 50 and 51 events (one short of, at, one past a batch): while
    the first batch is open another connection sees none of its events; once the run ends
    every event is logged once, in the order given."""
    lines = _lines(n)
    with _engine(url, 50) as engine:
        outcomes = engine.run(lines)
        for _ in range(min(n, 50) - 1):
            next(outcomes)
        assert _logged(url) == []  # held or uncommitted: not another's to see
        rest = list(outcomes)
    assert len(rest) == n - min(n, 50) + 1
    assert _logged(url) == _ids(lines)


def test_a_batch_dropped_midway_commits_nothing_and_its_rerun_doubles_nothing(
    url: str,
) -> None:
    """100 events in batches of 40; the run dies in the third batch (after 90 outcomes):
    the two committed batches are logged, nothing of the third. A rerun over all 100 finds
    80 duplicates, logs the other 20 once, and ends with the decisions of one whole run."""
    lines = _lines(100)
    with pytest.raises(RuntimeError, match="killed"):
        _die_after(url, lines, 90)
    assert _logged(url) == _ids(lines)[:80]
    with _engine(url, 40) as engine:
        outcomes = list(engine.run(lines))
        decided = _decided(engine, lines)
    assert sum(o.duplicate for o in outcomes) == 80
    assert _logged(url) == _ids(lines)
    with Engine(load_ruleset(), open_store(":memory:"), max_lead=None) as alone:
        list(alone.run(lines))
        assert decided == _decided(alone, lines)
    assert decided  # (the events decide something: the comparison says something)


def _die_after(url: str, lines: list[str], n: int) -> None:
    """A run in batches of 40 that dies after `n` outcomes (its open batch dropped)."""
    with _engine(url, 40) as engine:
        for i, _ in enumerate(engine.run(lines), start=1):
            if i == n:
                raise RuntimeError("killed")


def _row(event_id: str, account: str = "acct-1") -> tuple[str, str, str, int, str, None]:
    payload = json.dumps({"event_id": event_id, "account_id": account})
    return (event_id, account, "rumor_flag", 1, payload, None)


def test_reads_see_held_rows_and_a_savepoint_keeps_what_was_held_before_it(url: str) -> None:
    """e1 is held before a savepoint, e2 after it; a read in the savepoint sends both and
    sees them; rolled back to the savepoint, e1 is held again and e2 gone: the commit logs
    e1 only. An id logged twice in the batch is a repeat the second time."""
    store = pg_store(url)
    try:
        with store.begin():
            store.claim_accounts({"acct-1"}, {"e1", "e2"})
            assert store.add_event(*_row("e1")) is None
            store.savepoint()
            assert store.add_event(*_row("e2")) is None
            assert store.stored_payload_of("e2") == _row("e2")[4]
            store.rollback_to_savepoint()
            store.release_savepoint()
            assert store.add_event(*_row("e1")) == _row("e1")[4]  # a repeat
        assert _logged(url) == ["e1"]
    finally:
        store.close()


def _by_id(rows: list[EventRow]) -> list[EventRow]:
    return sorted(rows, key=lambda row: row.event_id)


def test_held_events_rows_are_read_from_memory_and_stay_held(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """e1 stored; e2 held, then e3 held in a savepoint: `event_rows` of e2 and e3 sends
    nothing (before: the held rows, then a read); rolled back to the savepoint, e3 is gone;
    of e1 and e2, one read (e1's) and still nothing held sent; committed, the server's rows
    are the ones read from memory."""
    store = pg_store(url)
    try:
        with store.begin():
            store.add_event(*_row("e1"))
        sent: list[str] = []
        run, write = PgConnection._run, PgConnection._write_held

        def running(self: PgConnection, query: Any, *args: Any, **kw: Any) -> Any:
            sent.append(str(query))
            return run(self, query, *args, **kw)

        def writing(self: PgConnection, item: Any) -> None:
            sent.append(item.query)
            write(self, item)

        with store.begin():
            store.claim_accounts({"acct-1"}, {"e2", "e3"})
            monkeypatch.setattr(PgConnection, "_run", running)
            monkeypatch.setattr(PgConnection, "_write_held", writing)
            store.add_event(*_row("e2"))
            store.savepoint()
            store.add_event(*_row("e3"))
            rows = store.event_rows(["e2", "e3"])
            assert _by_id(rows) == [EventRow(*_row("e2")), EventRow(*_row("e3"))]
            assert sent == []
            store.rollback_to_savepoint()
            store.release_savepoint()
            assert store.event_rows(["e2", "e3"]) == [EventRow(*_row("e2"))]
            sent.clear()
            rows = store.event_rows(["e1", "e2"])
            assert _by_id(rows) == [EventRow(*_row("e1")), EventRow(*_row("e2"))]
            assert [query.split()[0] for query in sent] == ["SELECT"]
        assert _logged(url) == ["e1", "e2"]
        assert _by_id(store.event_rows(["e1", "e2", "e3"])) == _by_id(rows)
    finally:
        store.close()


def test_an_id_another_writer_logs_after_the_look_ahead_makes_the_batch_run_again(
    url: str,
) -> None:
    """Writer a looks e1 and e2 up (neither stored) and holds both; writer b, on another
    account, logs e2 and commits first. a's commit is refused whole (`StoreConflictError`):
    nothing of it is logged; run again, a finds e2 stored (a repeat) and logs e1 once."""
    a, b = pg_store(url), pg_store(url)
    try:
        tx = a.begin()
        a.claim_accounts({"acct-1"}, {"e1", "e2"})
        a.add_event(*_row("e1"))
        a.add_event(*_row("e2"))
        with b.begin():
            assert b.add_event(*_row("e2", "acct-2")) is None
        with pytest.raises(StoreConflictError):
            tx.commit()
        assert _logged(url) == ["e2"]
        with a.begin():
            a.claim_accounts({"acct-1"}, {"e1", "e2"})
            assert a.add_event(*_row("e1")) is None
            assert a.add_event(*_row("e2")) == _row("e2", "acct-2")[4]
        assert _logged(url) == ["e2", "e1"]
    finally:
        a.close()
        b.close()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ids=st.lists(st.sampled_from([f"e{i}" for i in range(8)]), min_size=1, max_size=20),
    ahead=st.lists(st.booleans(), min_size=20, max_size=20),
    stored=st.sets(st.sampled_from([f"e{i}" for i in range(8)]), max_size=4),
)
def test_logging_held_or_not_gives_the_same_answers_and_log(
    postgres_url: str, ids: list[str], ahead: list[bool], stored: set[str]
) -> None:
    """Whichever ids were looked up ahead (held) and which not (sent at once), and whichever
    were stored before, each `add_event` answers as without any look-ahead (None: new; the
    stored payload: a repeat) and the log holds each id once, in first-seen order."""
    empty_tables(postgres_url)
    store = pg_store(postgres_url)
    try:
        with store.begin():
            for event_id in sorted(stored):
                store.add_event(*_row(event_id))
        looked = {event_id for event_id, yes in zip(ids, ahead, strict=False) if yes}
        answers = []
        with store.begin():
            store.claim_accounts({"acct-1"}, looked)
            for event_id in ids:
                answers.append(store.add_event(*_row(event_id)))
        seen = set(stored)
        expected = []
        for event_id in ids:
            expected.append(_row(event_id)[4] if event_id in seen else None)
            seen.add(event_id)
        assert answers == expected
        first_seen = list(dict.fromkeys([*sorted(stored), *ids]))
        assert _logged(postgres_url) == first_seen
    finally:
        store.close()


def _printed(stdout: str) -> list[tuple[str, str, str, str]]:
    """The decisions a run printed: account, action, rule, effective time."""
    found = [json.loads(line) for line in stdout.splitlines()]
    return sorted((d["account_id"], d["action"], d["rule_id"], d["effective_at"]) for d in found)


def test_run_on_postgres_commits_batches_prints_what_sqlite_prints_and_reruns_idle(
    url: str, tmp_path: Path
) -> None:
    """`run --db postgresql://… --commit-every 40` over 300 events commits in batches (far
    fewer commits than events), prints the decisions one SQLite run prints, each once; run
    again, it prints none and finds every event a duplicate."""
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(_lines(300, accounts=60, seed=5)) + "\n", encoding="utf-8")
    alone = cli("run", str(events), "--db", str(tmp_path / "one.db"), cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    ran = cli("run", str(events), "--db", url, "--commit-every", "40", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert _printed(ran.stdout) == _printed(alone.stdout)
    assert _printed(ran.stdout)  # (something was decided)
    (commits,) = column(url, "SELECT version FROM commits")
    assert isinstance(commits, int)
    assert commits < 300 // 4  # (300 with one event a commit)
    again = cli("run", str(events), "--db", url, "--commit-every", "40", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert "300 duplicates" in again.stderr


_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["add", "alone"]),
            st.sampled_from(["acct-1", "acct-2", "acct-3"]),
            st.sampled_from(["rumor_flag", "registration"]),
            st.integers(1, 4),
        ),
        st.tuples(st.sampled_from(["savepoint", "undo", "keep", "read", "send"])),
    ),
    max_size=25,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS, before=st.sets(st.sampled_from(["acct-1", "acct-2", "acct-3"])))
@example(
    ops=[("savepoint",), ("add", "acct-1", "rumor_flag", 2), ("undo",), ("read",)], before=set()
)
@example(
    ops=[
        ("add", "acct-1", "registration", 1),
        ("savepoint",),
        ("add", "acct-1", "rumor_flag", 2),
        ("send",),
        ("undo",),
        ("add", "acct-1", "rumor_flag", 2),
        ("read",),
    ],
    before={"acct-2"},
)
@example(ops=[("alone", "acct-3", "rumor_flag", 1), ("read",)], before=set())
def test_an_accounts_events_read_from_memory_are_what_the_server_holds(
    postgres_url: str, ops: list[tuple[Any, ...]], before: set[str]
) -> None:
    """Accounts claimed ahead with no event stored (`_fresh`) have `account_events` answered
    from the rows the transaction held, without a round trip: whatever was held, sent (a read
    of `events`) or written alone (an id not looked up ahead), inside savepoints kept or
    rolled back, each answer is the server's
    (read right after, in the same transaction: newest first, ties by id, up to the limit).
    Accounts with an event stored before (`before`) are read from the server."""
    empty_tables(postgres_url)
    store = pg_store(postgres_url)
    types = ("registration", "rumor_flag")
    try:
        with store.begin():
            for account in sorted(before):
                store.add_event(*_row(f"old-{account}", account))
        with store.begin():
            ids = {f"e{i}" for i in range(len(ops))}
            store.claim_accounts({"acct-1", "acct-2", "acct-3"}, ids)
            assert store._fresh == {"acct-1", "acct-2", "acct-3"} - before
            depth = 0
            for i, op in enumerate(ops):
                if op[0] in ("add", "alone"):  # (held, or written alone: not looked up)
                    event_id = f"e{i}" if op[0] == "add" else f"x{i}"
                    payload = json.dumps({"event_id": event_id, "account_id": op[1]})
                    store.add_event(event_id, op[1], op[2], op[3], payload, None)
                elif op[0] == "savepoint":
                    store.savepoint()
                    depth += 1
                elif op[0] in ("undo", "keep") and depth:
                    if op[0] == "undo":
                        store.rollback_to_savepoint()
                    store.release_savepoint()
                    depth -= 1
                elif op[0] == "send":
                    store.stored_payload_of("e0")  # (names `events`: the held rows go)
                else:
                    for account in ("acct-1", "acct-2", "acct-3"):
                        for wanted, limit in ((types, 10), (("rumor_flag",), 2)):
                            mine = store.account_events(account, wanted, limit)
                            fresh, store._fresh = store._fresh, set()  # (now: the server's)
                            server = store.account_events(account, wanted, limit)
                            store._fresh = fresh
                            assert mine == server
            for _ in range(depth):
                store.release_savepoint()
    finally:
        store.close()


def test_a_withdrawn_event_of_an_account_read_from_memory_is_left_out(url: str) -> None:
    """An account claimed ahead with no event stored is read from the rows its transaction
    held (`_fresh`); once an event is withdrawn in that transaction, `account_events` with
    `kept` leaves it out, as the server does (the held rows do not say which were withdrawn,
    so `withdraw` ends the reading from memory)."""
    store = pg_store(url)
    try:
        with store.begin():
            store.claim_accounts({"acct-1"}, {"e1", "e2"})
            assert store._fresh == {"acct-1"}
            for event_id in ("e1", "e2"):
                store.add_event(*_row(event_id))
            flags = ("rumor_flag",)
            assert store.account_events("acct-1", flags, 10, kept=True) == [
                _row("e2")[4],
                _row("e1")[4],
            ]
            store.withdraw("e2", "ap", "d1")
            assert store.account_events("acct-1", flags, 10, kept=True) == [_row("e1")[4]]
            assert len(store.account_events("acct-1", flags, 10)) == 2
    finally:
        store.close()


def test_in_a_transaction_the_commit_count_is_the_one_of_its_begin_or_last_claim(
    url: str,
) -> None:
    """`commits()` costs no round trip in a transaction: b's commit after a's `begin` is not
    seen (count as of the begin) until a's next claim that takes a new lock (which reads it
    again); outside a transaction it is read from the server."""
    a, b = pg_store(url), pg_store(url)
    try:
        start = a.commits()
        with a.begin():
            assert a.commits() == start
            with b.begin():
                b.add_event(*_row("e1", "acct-2"))
            assert a.commits() == start  # (b's commit: not seen yet)
            assert a.claim("acct-1") is True  # a new lock: the count read again, moved
            assert a.commits() == start + 1
            assert a.claim("acct-1") is False  # (held already: nothing read)
        assert a.commits() == start + 2  # (a's own commit)
    finally:
        a.close()
        b.close()
