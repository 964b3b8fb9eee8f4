"""Event time with many workers (issue 16 item 3) on the real PostgreSQL server: other
accounts' deadlines fire by the low watermark (the least progress of the live running
workers), an account's own deadlines before its own later events, a stopped worker holds the
watermark until declared gone; and the property: N worker processes over any split of the
accounts, one of them killed (SIGKILL) and restarted, end where one SQLite process ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, load_ruleset
from blacklist_rules.delivery.source import partition_of
from blacklist_rules.model.events import utc_text
from blacklist_rules.stores import open_store
from blacklist_rules.stores.records import Watermark, partition_holder
from blacklist_rules.testing import generate_events
from tests.broker import SERVER, connect, fresh_stream
from tests.postgres import execute, fresh_database
from tests.support import EDGES, T0, event

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
CANCEL_UNVERIFIED = "cancel-unverified-after-freeze"


def _frozen(account: str, days: float, event_id: str) -> dict[str, Any]:
    """A registration whose verification failed: a freeze, and a 15-day deadline to cancel."""
    return event(
        "registration",
        account,
        timedelta(days=days),
        event_id,
        identity={},
        verification={"status": "failed", "reason": "name_id_mismatch"},
    )


def _report(account: str, days: float, event_id: str) -> dict[str, Any]:
    return event(
        "impersonation_report",
        account,
        timedelta(days=days),
        event_id,
        reporter_id="r",
        impersonated_name="x",
        confirmed=False,
    )


def _cancels(engine: Engine, account: str) -> list[str]:
    return [d.rule_id for d in engine.decisions(account) if d.rule_id == CANCEL_UNVERIFIED]


def _silence(url: str, besides: str) -> None:
    """Every worker but `besides` last heard of an hour ago."""
    execute(
        url,
        f"UPDATE workers SET heartbeat = heartbeat - interval '1 hour' "
        f"WHERE worker_id <> '{besides}'",
    )


def test_a_worker_behind_holds_other_accounts_deadlines_until_declared_gone(url: str) -> None:
    """Worker a freezes account x (deadline on day 15); a worker that joined and went quiet
    holds the watermark at the start: worker b's events of day 20 and 21 fire none of x's.
    `status` names the holder. Once the quiet worker is silent past the idle timeout it is
    gone, and b's next event fires x's deadline, effective on day 15. The silence is made by
    moving the others' heartbeats back an hour, not by sleeping: a loaded machine must not
    declare the ghost gone before the first check."""
    ghost = open_store(url)
    ghost.join_worker("ghost")
    ghost.close()
    a = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="a", idle_timeout=600)
    b = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="b", idle_timeout=600)
    try:
        a.process(_frozen("x", 0, "x1"))
        b.process(_report("y", 20, "y1"))
        assert _cancels(b, "x") == []
        mark = b.watermark
        assert mark is not None
        assert mark.held_by == "ghost"
        _silence(url, besides="b")  # a and the ghost silent past the idle timeout: gone
        b.process(_report("y", 21, "y2"))
        assert _cancels(b, "x") == [CANCEL_UNVERIFIED]
        cancel = next(d for d in b.decisions("x") if d.rule_id == CANCEL_UNVERIFIED)
        assert cancel.effective_at.date().day == 16  # day 15 after 2026-03-01
    finally:
        a.close()
        b.close()


def test_an_accounts_own_deadline_fires_before_its_own_later_event(url: str) -> None:
    """However far behind the watermark is, an account's deadline due before its own next
    event fires first: its worker has every earlier event of it."""
    ghost = open_store(url)
    ghost.join_worker("ghost")
    ghost.close()
    with Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="a") as a:
        a.process(_frozen("x", 0, "x1"))
        outcome = a.process(_report("x", 20, "x2"))
        assert [d.rule_id for d in outcome.decisions] == [CANCEL_UNVERIFIED]
        assert str(a.status("x")) == "cancelled"


def test_a_registration_caught_up_later_is_the_decision_one_process_takes(
    url: str, tmp_path: Path
) -> None:
    """Worker b has c's registration (day 20, written at +08:00) before worker a has the
    strikes (days 1 to 3) that blacklist a, whose verified ID number c registers again: c
    is caught up when a's blacklist comes, dated from the stored time (so in UTC), where one
    SQLite process in time order decides at the registration (its own offset). Both end
    alike: the same instant. The many-worker property once compared the offset too and
    failed when a killed worker lagged (workers=2, salt=153, seed=20, kill_after=1.0)."""
    east = timezone(timedelta(hours=8))
    ident = {"identity": {"id_number": "360426199101010071"}}
    first = [event("registration", "a", T0, "reg-a", **ident, verification={"status": "passed"})]
    first += [
        event(
            "rumor_flag",
            "a",
            timedelta(days=n),
            f"s{n}",
            content_id=f"c{n}",
            verdict="malicious_rumor",
            source="fact_check",
        )
        for n in (1, 2, 3)
    ]
    late = event("registration", "c", (T0 + timedelta(days=20)).astimezone(east), "reg-c", **ident)
    a = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="a")
    b = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="b")
    with a, b:
        assert b.process(late).decisions == ()
        for item in first:
            a.process(item)
    one = str(tmp_path / "one.db")
    with Engine.from_path(db=one, max_lead=None) as single:
        for item in [*first, late]:
            single.process(item)
    got, want = _state(url, ["a", "c"]), _state(one, ["a", "c"])
    assert got == want
    assert got[1] == ["blacklisted", "blacklisted"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _run(events: Path, url: str, worker: str, out: Path) -> subprocess.Popen[bytes]:
    with (out / f"{worker}.out").open("a") as stdout, (out / f"{worker}.err").open("a") as err:
        command = ["run", str(events), "--db", url, "--quiet", "--worker-id", worker]
        return subprocess.Popen(
            [sys.executable, "-m", "blacklist_rules", *command],
            env=_env(),
            stdout=stdout,
            stderr=err,
        )


def _state(db: str, accounts: list[str]) -> tuple[Any, ...]:
    """Decisions (account, action, rules, effective time, evidence), statuses, the
    blacklist and pending deadlines, in a fixed order. Times as UTC text: the instant, not
    the offset it is written with (a decision taken at its event keeps the event's offset,
    the same one caught up later from the stored time is in UTC: it once failed so)."""
    with Engine.from_path(db=db, read_only=True) as engine:
        decisions = sorted(
            (d.account_id, d.action, d.rule_id, utc_text(d.effective_at), d.evidence)
            for a in accounts
            for d in engine.decisions(a)
        )
        statuses = [str(engine.status(a)) for a in accounts]
        listed = sorted((e.kind, e.fingerprint, e.account_id) for e in engine.blacklist_entries())
        pending = sorted(
            (a, d.rule_id, utc_text(d.due_at))
            for a in accounts
            for d in engine.deadlines(a)
            if d.state == "pending"
        )
        assert engine.store.verify_audit().ok
    return decisions, statuses, listed, pending


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(workers=2, salt=153, seed=20, kill_after=1.0)  # the worker killed lagged: a catch-up
@given(
    workers=st.integers(min_value=2, max_value=3),
    salt=st.integers(min_value=0, max_value=1000),
    seed=st.integers(min_value=1, max_value=50),
    kill_after=st.floats(min_value=0.5, max_value=3.0),
)
def test_workers_over_any_split_with_a_kill_end_where_one_sqlite_process_ends(
    tmp_path_factory: pytest.TempPathFactory, workers: int, salt: int, seed: int, kill_after: float
) -> None:
    """N `run` processes over a split of the accounts (each share in event-time order), at
    once on one PostgreSQL db; the first is killed with SIGKILL after a while and restarted
    under its worker id over its whole share (what it committed comes back as duplicates):
    the same decisions, statuses, blacklist and pending deadlines as one SQLite process over
    every event in event-time order."""
    folder = tmp_path_factory.mktemp("split")
    every = list(generate_events(1500, n_accounts=120, seed=seed, benign_share=0.5))
    accounts = sorted({e["account_id"] for e in every})
    shares = []
    for n in range(workers):
        mine = [e for e in every if zlib.crc32(f"{salt}:{e['account_id']}".encode()) % workers == n]
        shares.append(folder / f"share-{n}.jsonl")
        shares[-1].write_text("".join(json.dumps(e) + "\n" for e in mine))
    (folder / "all.jsonl").write_text("".join(json.dumps(e) + "\n" for e in every))
    with fresh_database() as url:
        open_store(url).close()
        running = [_run(share, url, f"w{n}", folder) for n, share in enumerate(shares)]
        time.sleep(kill_after)
        if running[0].poll() is None:
            running[0].send_signal(signal.SIGKILL)
            running[0].wait(timeout=60)
            running[0] = _run(shares[0], url, "w0", folder)
        for process in running:
            assert process.wait(timeout=600) == 0, (folder / "w0.err").read_text()
        got = _state(url, accounts)
    one = folder / "one.db"
    command = ["run", str(folder / "all.jsonl"), "--db", str(one), "--quiet"]
    single = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", *command],
        env=_env(),
        capture_output=True,
        check=False,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr
    assert got == _state(str(one), accounts)


def _worker(url: str, stream: str, index: int, of: int, out: Path) -> subprocess.Popen[bytes]:
    """A `worker` process over the partitions p mod `of` == `index` of `stream`."""
    with (out / f"p{index}.err").open("a") as err:
        command = ["worker", "--db", url, "--nats", SERVER, "--stream", stream, "--quiet"]
        command += ["--index", str(index), "--of", str(of), "--until-idle"]
        command += ["--batch", "100", "--poll", "0.3"]
        return subprocess.Popen(
            [sys.executable, "-m", "blacklist_rules", *command],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


@pytest.mark.nats
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    workers=st.integers(min_value=1, max_value=2),
    each=st.integers(min_value=2, max_value=3),
    seed=st.integers(min_value=1, max_value=50),
    kill_after=st.floats(min_value=0.5, max_value=3.0),
    late=st.booleans(),
)
def test_workers_over_several_partitions_each_end_where_one_sqlite_process_ends(
    tmp_path_factory: pytest.TempPathFactory,
    workers: int,
    each: int,
    seed: int,
    kill_after: float,
    late: bool,
) -> None:
    """`worker` processes fed by NATS JetStream, each over several partitions (`--index I
    --of N`, `each` partitions apiece), on one PostgreSQL db: the first is killed with
    SIGKILL after a while and restarted; with `late`, the last one starts only once the
    others have finished. The same decisions, statuses, blacklist and pending deadlines as
    one SQLite process over every event in event-time order."""
    folder = tmp_path_factory.mktemp("parts")
    got, one = _partitioned(folder, workers, each, seed, kill_after, late and workers > 1)
    assert got == one


@pytest.mark.nats
def test_a_worker_joining_after_the_others_finished_decides_as_one_process(
    tmp_path: Path,
) -> None:
    """Worker 0 of 2 consumes its 2 of 4 partitions to the end and leaves; only then does
    worker 1 start on the other 2: the partitions nobody had consumed hold the watermark at
    the beginning of time meanwhile (worker 0's leaving moved nothing), and the end is that
    of one SQLite process over the events in event-time order."""
    got, one = _partitioned(tmp_path, workers=2, each=2, seed=7, kill_after=None, late=True)
    assert got == one


def _partitioned(
    folder: Path, workers: int, each: int, seed: int, kill_after: float | None, late: bool
) -> tuple[Any, Any]:
    """The end state of `workers` worker processes over `workers * each` partitions (the
    first killed and restarted after `kill_after` s; with `late`, the last started once the
    others finished) on a new PostgreSQL db, and that of one SQLite process."""
    every = list(generate_events(1500, n_accounts=120, seed=seed, benign_share=0.5))
    accounts = sorted({e["account_id"] for e in every})
    (folder / "all.jsonl").write_text("".join(json.dumps(e) + "\n" for e in every))
    with fresh_stream() as stream, fresh_database() as url, connect() as broker:
        count = broker.ensure_stream(stream, workers * each)
        broker.publish(
            stream,
            count,
            ((partition_of(e["account_id"], count), e["event_id"], json.dumps(e)) for e in every),
        )
        open_store(url).close()
        first = workers - 1 if late else workers
        running = [_worker(url, stream, n, workers, folder) for n in range(first)]
        if kill_after is not None:
            time.sleep(kill_after)
            if running[0].poll() is None:
                running[0].send_signal(signal.SIGKILL)
                running[0].wait(timeout=60)
                running[0] = _worker(url, stream, 0, workers, folder)
        for process in running:
            assert process.wait(timeout=600) == 0, (folder / "p0.err").read_text()
        if late:  # the partitions nobody consumed yet hold the watermark at the beginning
            store = open_store(url)
            mark = store.watermark(60.0)
            store.close()
            assert mark == Watermark(0, partition_holder(stream, workers - 1))
            last = _worker(url, stream, workers - 1, workers, folder)
            assert last.wait(timeout=600) == 0, (folder / f"p{workers - 1}.err").read_text()
        got = _state(url, accounts)
    one = folder / "one.db"
    command = ["run", str(folder / "all.jsonl"), "--db", str(one), "--quiet"]
    single = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", *command],
        env=_env(),
        capture_output=True,
        check=False,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr
    return got, _state(str(one), accounts)


def _flags(account: str, days: tuple[float, ...]) -> list[dict[str, Any]]:
    """Malicious-rumour flags of `account`, one a day given: two freeze it for 30 days."""
    return [
        event(
            "rumor_flag",
            account,
            timedelta(days=day),
            f"{account}-s{day}",
            content_id=f"{account}-c{day}",
            verdict="malicious_rumor",
            source="fact_check",
        )
        for day in days
    ]


def _one_process(events: list[dict[str, Any]], folder: Path, accounts: list[str]) -> Any:
    """What one SQLite process ends with over `events` in event-time order."""
    one = str(folder / "one.db")
    with Engine.from_path(db=one, max_lead=None) as single:
        for item in sorted(events, key=lambda e: str(e["occurred_at"])):
            single.process(item)
    return _state(one, accounts)


@pytest.mark.parametrize("edge", sorted(EDGES))
def test_the_last_worker_to_leave_ends_a_freeze_committed_after_its_last_event(
    url: str, tmp_path: Path, edge: str
) -> None:
    """Worker a moves the db's clock to day 31 (and `edge`: 1 µs before, at, 1 µs after the
    end of the freeze to come); then worker b freezes y for 30 days from day 1, behind a's
    progress, and leaves while a still runs. a leaves last and moves event time to the db's
    clock: the freeze ends when its end is reached, as with one SQLite process. Once, a's
    leaving transaction took b's commits as seen, its mirrors (the next due moment) were
    not read again, and y stayed frozen (the many-worker property failed so, 7 Dec 2026)."""
    end = T0 + timedelta(days=31)
    x = event("registration", "x", end + EDGES[edge], "x1", identity={})
    a = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="a")
    b = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="b")
    a.process(x)
    with b:
        for item in _flags("y", (0, 1)):
            b.process(item)
        assert str(b.status("y")) == "frozen"  # (b's time never reaches its end)
    a.close()
    got = _state(url, ["x", "y"])
    assert got == _one_process([x, *_flags("y", (0, 1))], tmp_path, ["x", "y"])
    assert got[1] == ["active", "frozen" if edge == "inside" else "active"]


@pytest.mark.parametrize("edge", sorted(EDGES))
def test_the_last_worker_to_leave_fires_a_deadline_started_after_its_last_event(
    url: str, tmp_path: Path, edge: str
) -> None:
    """As above with a deadline: b freezes z (failed verification) on day 0 after a moved
    the clock to day 15 (`edge` around the 15-day deadline to cancel); a leaves last and
    the deadline fires when reached, as with one SQLite process."""
    x = event("registration", "x", T0 + timedelta(days=15) + EDGES[edge], "x1", identity={})
    z = _frozen("z", 0, "z1")
    a = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="a")
    with Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="b") as b:
        a.process(x)
        b.process(z)
    a.close()
    got = _state(url, ["x", "z"])
    assert got == _one_process([x, z], tmp_path, ["x", "z"])
    assert got[1] == ["active", "frozen" if edge == "inside" else "cancelled"]


def test_a_partition_gone_idle_does_not_hide_another_workers_blacklist(
    url: str, tmp_path: Path
) -> None:
    """Worker b blacklists a (three rumour flags, a verified ID number); then a partition of
    worker a goes idle and comes back (each a transaction of a's store of its own), and a
    takes a registration of c with that ID number: c is blacklisted, as with one SQLite
    process. Once, the idle partition's transaction took b's commits as seen, a's next event
    did not read its mirrors again, and c passed the blacklist it had not read."""
    ident = {"identity": {"id_number": "360426199101010071"}}
    first = [event("registration", "a", T0, "reg-a", **ident, verification={"status": "passed"})]
    first += _flags("a", (1, 2, 3))
    late = event("registration", "c", timedelta(days=20), "reg-c", **ident)
    a = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="a")
    b = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="b")
    with a, b:
        a.consume("log", 2, [0])
        b.consume("log", 2, [1])
        for item in first:
            b.process(item)
        a.partition_idle("log", 0, idle=True)
        a.partition_idle("log", 0, idle=False)
        assert [d.action for d in a.process(late).decisions] == ["blacklist"]
    got = _state(url, ["a", "c"])
    assert got == _one_process([*first, late], tmp_path, ["a", "c"])
    assert got[1] == ["blacklisted", "blacklisted"]


def test_two_workers_that_both_leave_last_end_freezes_once(url: str, tmp_path: Path) -> None:
    """Two workers leave at nearly the same moment, both after the other marked itself
    finished: a's leave is written, then b leaves and finds nobody running (it moves event
    time to the db's clock: y's freeze ends), then a finds nobody running too and moves it
    again: nothing is left to act on (no error, no second end), the state is one SQLite
    process's."""
    x = event("registration", "x", timedelta(days=40), "x1", identity={})
    a = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="a")
    b = Engine(load_ruleset(), open_store(url), max_lead=None, worker_id="b")
    a.process(x)
    with b:
        for item in _flags("y", (0, 1)):
            b.process(item)
        a.store.leave_worker("a")  # (the first step of a's `close`)
    a.close()
    got = _state(url, ["x", "y"])
    assert got == _one_process([x, *_flags("y", (0, 1))], tmp_path, ["x", "y"])
    assert got[1] == ["active", "active"]
