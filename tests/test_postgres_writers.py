"""Many writers, one truth (issue 16 item 2), on the real PostgreSQL server with real
processes: `claim` serialises writers per account and identity value, every event is
processed once by id whoever runs it, and two `run` processes over a split of the accounts end
where one SQLite process ends, a blacklisted identity coming back on the other partition's
account included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine
from blacklist_rules.errors import StoreUnavailableError
from blacklist_rules.stores import open_store
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.testing import _check_char
from tests.postgres import execute
from tests.support import T0

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = 300
"""Enough that the two workers run side by side for a while (each of their events is a
transaction: the windows in which one could miss the other are milliseconds wide)."""


def test_a_claimed_account_waits_for_the_claimer_to_commit(url: str) -> None:
    """A second writer's claim of the same account blocks until the first commits, then
    says that another writer committed (its memory must be read again); a claim of another
    account does not wait; a store with one writer claims nothing."""
    first, second = open_store(url), open_store(url)
    try:
        first_tx = first.begin()
        assert first.claim("acct-1") is False  # nobody else committed since we began
        with second.begin():
            assert second.claim("acct-2") is False  # another account: no wait
        done: list[bool] = []
        tx = second.begin()
        waiter = threading.Thread(target=lambda: done.append(second.claim("acct-1")))
        waiter.start()
        time.sleep(0.3)
        assert done == []  # still waiting for the first writer
        first.set_meta("x", "1")
        first_tx.commit()
        waiter.join(timeout=10)
        assert done == [True]
        tx.commit()
    finally:
        first.close()
        second.close()
    memory = open_store(":memory:")
    with memory.begin():
        assert memory.claim("acct-1", [("phone", "ab")]) is False
    memory.close()


def test_accounts_claimed_ahead_wait_for_their_claimer_and_are_held_after(url: str) -> None:
    """`claim_accounts` takes many accounts in one statement (issue 16 item 5): it waits for a
    writer holding one of them, says when another committed meanwhile, and the accounts are
    then held: a `claim` of one of them asks nothing more. SQLite and memory hold nothing."""
    first, second = open_store(url, busy_timeout=1.0), open_store(url)
    try:
        first_tx = first.begin()
        assert first.claim("acct-2") is False
        done: list[bool] = []
        tx = second.begin()
        waiter = threading.Thread(
            target=lambda: done.append(second.claim_accounts({"acct-1", "acct-2", "acct-3"}))
        )
        waiter.start()
        time.sleep(0.3)
        assert done == []  # acct-2 is the first writer's until it commits
        first.set_meta("x", "1")
        first_tx.commit()
        waiter.join(timeout=10)
        assert done == [True]
        assert second.claim("acct-3") is False  # held already
        blocked = first.begin()
        with pytest.raises(StoreUnavailableError):  # held by `second` past the timeout
            first.claim("acct-1")
        blocked.rollback()
        tx.commit()
    finally:
        first.close()
        second.close()
    for single in (open_store(":memory:"), MemoryStore()):
        with single.begin():
            assert single.claim_accounts({"acct-1"}) is False
        single.close()


def _id_number(n: int) -> str:
    first17 = f"11010119900101{n:03d}"
    return first17 + _check_char(first17)


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def _event(event_id: str, kind: str, account: str, hours: float, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "account_id": account,
        "occurred_at": _at(hours),
        **fields,
    }


def _people(count: int) -> list[dict[str, Any]]:
    """Per person: a first account, blacklisted by a confirmed impersonation report, and a
    second account under the same ID number on the OTHER partition, registered after the
    listing (a `blacklist-returning-identity`, whichever worker sees its registration
    first: the entry's catch-up decides one seen before the listing) or, for every third
    person, before it in event time (no decision); rumour strikes on a bystander account
    beside them."""
    events: list[dict[str, Any]] = []
    for n in range(count):
        id_number, base = _id_number(n), n * 5.0
        first, second = f"p{n}-a", f"p{n}-b"
        identity = {"id_number": id_number, "phone": f"1380013{n:04d}"}
        events.append(
            _event(
                f"reg-{first}",
                "registration",
                first,
                base,
                identity=identity,
                verification={"status": "passed"},
            )
        )
        events.append(
            _event(
                f"imp-{first}",
                "impersonation_report",
                first,
                base + 2,
                reporter_id="r",
                impersonated_name="someone",
                confirmed=True,
            )
        )
        again = base + (1 if n % 3 == 0 else 3)
        events.append(
            _event(
                f"reg-{second}",
                "registration",
                second,
                again,
                identity={"id_number": id_number},
                verification={"status": "passed"},
            )
        )
        for strike in range(n % 4):
            events.append(
                _event(
                    f"rum-{n}-{strike}",
                    "rumor_flag",
                    f"p{n}-c",
                    base + 1 + strike,
                    content_id=f"c{n}{strike}",
                    verdict="malicious_rumor",
                    source="fact_check",
                )
            )
    return sorted(events, key=lambda e: (e["occurred_at"], e["event_id"]))


def _partition(account: str, parts: int) -> int:
    """A person's first and second accounts land on different partitions (two workers)."""
    if parts == 2 and account[-2:] in ("-a", "-b"):
        return (zlib.crc32(account[:-2].encode()) + (account[-1] == "b")) % 2
    return zlib.crc32(account.encode()) % parts


def _write(events: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events))
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _workers(files: list[Path], url: str, out: Path) -> list[subprocess.CompletedProcess[str]]:
    """`blacklist-rules run FILE --db URL` for each file, all at once, as processes. Their
    output goes to files: a pipe nobody reads yet would stop a worker inside its commit
    (decisions are flushed just before it), holding its claims."""
    started = []
    for n, events in enumerate(files):
        with (out / f"{n}.out").open("w") as stdout, (out / f"{n}.err").open("w") as stderr:
            command = ["run", str(events), "--db", url, "--quiet"]
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "blacklist_rules", *command],
                    env=_env(),
                    stdout=stdout,
                    stderr=stderr,
                )
            )
    done = []
    for n, process in enumerate(started):
        code = process.wait(timeout=600)
        text = [(out / f"{n}.{kind}").read_text() for kind in ("out", "err")]
        done.append(subprocess.CompletedProcess(process.args, code, *text))
    return done


def _state(db: str, accounts: list[str]) -> tuple[list[Any], dict[str, str], list[Any]]:
    """Decisions (account, action, rule, effective time, evidence, reversed), statuses and
    the blacklist, in a fixed order."""
    with Engine.from_path(db=db, read_only=True) as engine:
        decisions = sorted(
            (
                d["account_id"],
                d["action"],
                d["rule_id"],
                d["effective_at"],
                tuple(d["evidence"]),
                d["mode"],
            )
            for account in accounts
            for d in (x.to_dict() for x in engine.decisions(account))
        )
        statuses = {account: str(engine.status(account)) for account in accounts}
        listed = sorted(
            (e.kind, e.fingerprint, e.account_id, e.rule_id) for e in engine.blacklist_entries()
        )
        assert engine.store.verify_audit().ok
    return decisions, statuses, listed


ODD_ACCOUNTS = ("a,b", 'q"uote', "back\\slash", "{brace}", "NULL", " spaced ", "é")
"""Account ids an array's text form must quote or escape (the claim's keys go in binary)."""


def test_accounts_a_text_array_must_quote_are_claimed_as_they_are(url: str) -> None:
    """Claimed ahead in one statement, each account of `ODD_ACCOUNTS` is held as itself: a
    second writer's claim of it waits past its timeout; of a piece of one (`a` of `a,b`,
    `null` of `NULL`), it does not wait."""
    first, second = open_store(url), open_store(url, busy_timeout=0.2)
    try:
        first_tx = first.begin()
        first.claim_accounts(set(ODD_ACCOUNTS))
        for account in ODD_ACCOUNTS:
            tx = second.begin()
            with pytest.raises(StoreUnavailableError):
                second.claim(account)
            tx.rollback()
        for piece in ("a", "b", "null", "brace", "spaced"):
            with second.begin():
                assert second.claim(piece) is False
        first_tx.rollback()
    finally:
        first.close()
        second.close()


def test_two_workers_over_a_split_end_where_one_sqlite_process_ends(
    url: str, tmp_path: Path
) -> None:
    """Two `run` processes at once, each over its partition of the accounts in event-time
    order, on one PostgreSQL db: the same decisions, statuses and blacklist as one SQLite
    process over all the events, each returning identity blacklisted whichever worker saw
    which registration first; the audit chain verifies."""
    events = _people(PEOPLE)
    accounts = sorted({e["account_id"] for e in events})
    files = [
        _write([e for e in events if _partition(e["account_id"], 2) == i], tmp_path / f"p{i}")
        for i in range(2)
    ]
    assert all(f.stat().st_size for f in files)
    for done in _workers(files, url, tmp_path):
        assert done.returncode == 0, done.stderr
    one = tmp_path / "one.db"
    single = subprocess.run(
        [
            sys.executable,
            "-m",
            "blacklist_rules",
            "run",
            str(_write(events, tmp_path / "all")),
            "--db",
            str(one),
            "--quiet",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr
    expected = _state(str(one), accounts)
    returning = [d for d in expected[0] if d[2] == "blacklist-returning-identity"]
    assert len(returning) == sum(1 for n in range(PEOPLE) if n % 3)
    assert _state(url, accounts) == expected


def test_every_event_is_processed_once_whoever_runs_it(url: str, tmp_path: Path) -> None:
    """Three processes run the same events on one db at once: each event is logged and
    decided once (the decisions the three print add up to one run's), the rest are
    duplicates."""
    events = _write(_people(12), tmp_path / "all")
    done = _workers([events, events, events], url, tmp_path)
    for each in done:
        assert each.returncode == 0, each.stderr
    printed = [json.loads(line)["decision_id"] for d in done for line in d.stdout.splitlines()]
    assert len(printed) == len(set(printed))
    one = tmp_path / "one.db"
    single = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", "run", str(events), "--db", str(one)],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert sorted(printed) == sorted(
        json.loads(x)["decision_id"] for x in single.stdout.splitlines()
    )


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE audit SET record = '{\"n\":9}' WHERE seq = 7", "its content was changed"),
        ("DELETE FROM audit WHERE seq = 7", "one was removed or they were reordered"),
        (
            "UPDATE audit SET seq = -seq WHERE seq IN (7, 8); "
            "UPDATE audit SET seq = 15 + seq WHERE seq < 0",
            "one was removed or they",
        ),
    ],
)
def test_a_trail_two_writers_wrote_still_shows_tampering(
    url: str, tmp_path: Path, tamper: str, problem: str
) -> None:
    """The one chain two writers appended to at once verifies; a record changed, removed or
    two swapped behind the store's back, it no longer does, and `audit verify --db URL`
    exits 1."""
    events = _people(12)
    files = [
        _write([e for e in events if _partition(e["account_id"], 2) == i], tmp_path / f"p{i}")
        for i in range(2)
    ]
    for done in _workers(files, url, tmp_path):
        assert done.returncode == 0, done.stderr
    store = open_store(url, read_only=True)
    try:
        assert store.verify_audit().ok
        execute(url, tamper)
        verdict = store.verify_audit()
        assert not verdict.ok
        assert problem in str(verdict)
    finally:
        store.close()
    verified = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", "audit", "verify", "--db", url],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert verified.returncode == 1, verified.stdout + verified.stderr
