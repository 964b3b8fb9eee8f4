"""Workers fed by the real NATS JetStream (marker `nats`): events published keyed by account,
consumed per partition, each batch committed then acknowledged; a worker killed at any point
loses and doubles nothing, and its decisions are those of a plain `run`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine
from blacklist_rules.delivery.jetstream import read_stream
from blacklist_rules.delivery.sinks import JsonlFileSink, StreamSink
from blacklist_rules.delivery.source import BrokerError, parse_partitions, partition_of, share
from blacklist_rules.delivery.worker import Worker, open_engine
from blacklist_rules.errors import BlacklistRulesError, StoreUnavailableError
from blacklist_rules.model.identity import KEY_ENV
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.memory.base import MemoryTransaction
from blacklist_rules.testing import generate_events, write_jsonl

from .broker import SERVER, connect, decisions_stream, decisions_subject, fresh_stream
from .postgres import fresh_database

pytestmark = pytest.mark.nats

KEY = "k" * 40
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    """One identity key for the workers and the plain runs they are compared with."""
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
def stream() -> Iterator[str]:
    """A stream name of this test's own, deleted after it."""
    with fresh_stream() as name:
        yield name


def _events(n: int, accounts: int, seed: int = 5) -> list[dict[str, Any]]:
    return list(generate_events(n, n_accounts=accounts, seed=seed))


def _publish(stream: str, events: list[dict[str, Any]], partitions: int) -> None:
    with connect() as broker:
        count = broker.ensure_stream(stream, partitions)
        broker.publish(
            stream,
            count,
            ((partition_of(e["account_id"], count), e["event_id"], json.dumps(e)) for e in events),
        )


def _plain_run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decisions of one engine over the events in the given order, as `run` gives them."""
    with Engine.from_path(db=None) as engine:
        return [d.to_dict() for o in engine.run(json.dumps(e) for e in events) for d in o.decisions]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _by_id(decisions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["decision_id"]: d for d in decisions}


def _cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), KEY_ENV: KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "blacklist_rules", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_the_command_line_runs_without_the_broker_extra(tmp_path: Path) -> None:
    """A plain install has no nats-py: every other verb works, and a broker verb says which
    extra to install (exit 4) instead of the whole command line failing to import."""
    script = (
        "import sys; sys.modules['nats'] = None\n"  # `import nats` now raises ImportError
        "from blacklist_rules.cli import main\n"
        "assert main(['validate']) == 0\n"
        "sys.exit(main(['publish', '--stream', 'S', sys.argv[1]]))\n"
    )
    events = tmp_path / "events.jsonl"
    events.write_text("", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", script, str(events)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 4, done.stderr
    assert "pip install 'blacklist-rules[broker]'" in done.stderr


def test_an_account_has_one_stable_partition() -> None:
    """CRC-32 of the account id, modulo P: the same in every process (not Python's salted
    `hash`), known values included, and every partition reachable."""
    assert partition_of("acct-1", 1) == 0
    assert partition_of("123456789", 1 << 32) == 0xCBF43926  # CRC-32's check value
    assert partition_of("acct-7", 8) == zlib.crc32(b"acct-7") % 8
    assert {partition_of(f"acct-{n}", 4) for n in range(100)} == {0, 1, 2, 3}


def test_a_fixed_assignment_gives_each_partition_to_one_worker() -> None:
    """`--index i --of N` splits the partitions p mod N; `--partitions` is checked."""
    assert share(4, 0, 2) == [0, 2]
    assert share(4, 1, 2) == [1, 3]
    assert sorted(p for i in range(3) for p in share(5, i, 3)) == [0, 1, 2, 3, 4]
    assert parse_partitions("2, 0", 4) == [0, 2]
    with pytest.raises(BlacklistRulesError, match="gets none"):
        share(2, 2, 3)
    with pytest.raises(BlacklistRulesError, match="partitions 0 to 1"):
        parse_partitions("2", 2)
    with pytest.raises(BlacklistRulesError, match="expected numbers"):
        parse_partitions("a", 2)


def test_publish_keys_by_account_and_the_broker_drops_repeats(stream: str) -> None:
    """Each event lands on its account's partition subject, in order; publishing the same
    events again stores nothing (Nats-Msg-Id = event id); another partition count is refused."""
    events = _events(60, 6)
    with connect() as broker:
        assert broker.ensure_stream(stream, 3) == 3
        items = [(partition_of(e["account_id"], 3), e["event_id"], json.dumps(e)) for e in events]
        first = broker.publish(stream, 3, items)
        again = broker.publish(stream, 3, items)
        assert (first.stored, first.repeats) == (60, 0)
        assert (again.stored, again.repeats) == (0, 60)
        assert broker.partitions(stream) == 3
        with pytest.raises(BrokerError, match="has 3 partition"):
            broker.ensure_stream(stream, 2)
    stored = read_stream(SERVER, stream)
    assert [msg_id for msg_id, _ in stored] == [e["event_id"] for e in events]


def test_what_was_fetched_and_never_acknowledged_comes_again_first(stream: str) -> None:
    """A worker that fetched and died before acknowledging: the next owner of the partition
    gets those events again at once, in order, before the rest; acknowledged ones never."""
    events = _events(30, 3)
    _publish(stream, events, 1)
    with connect() as broker:
        first = broker.source(stream, [0])
        acked = first.fetch(10, 1.0)
        first.ack(acked)
        lost = first.fetch(10, 1.0)  # never acknowledged: its owner "dies"
        first.close()
        second = broker.source(stream, [0])
        again = second.fetch(30, 1.0)
        second.close()
    texts = [json.loads(d.text)["event_id"] for d in again]
    assert texts[: len(lost)] == [json.loads(d.text)["event_id"] for d in lost]
    assert texts == [e["event_id"] for e in events[10:]]
    assert second.redelivered == len(lost)


def test_a_worker_decides_as_a_plain_run(stream: str, tmp_path: Path) -> None:
    """One partition, one worker over SQLite: the decisions out of the outbox are those of a
    plain run, each once, every event processed once, in batches of at most 200."""
    events = _events(1500, 150)
    _publish(stream, events, 1)
    out = tmp_path / "decisions.jsonl"
    db = tmp_path / "w.db"
    with connect() as broker, Engine.from_path(db=db, create_key=True) as engine:
        source = broker.source(stream, [0])
        sink = JsonlFileSink(out)
        worker = Worker(engine, source, sink, batch_size=200, poll=0.2)
        tally = worker.run(until_idle=True)
        source.close()
        sink.close()
        assert engine.store.outbox_backlog() == 0
    assert (tally.accepted, tally.duplicates) == (1500, 0)
    assert tally.batches >= 8
    assert _lines(out) == _plain_run(events)


@pytest.mark.postgres
def test_a_worker_on_postgresql_decides_as_a_plain_run(stream: str) -> None:
    """The same worker over the PostgreSQL store, its relay on a session of its own."""
    events = _events(600, 60)
    _publish(stream, events, 1)
    sink = io.StringIO()
    with fresh_database() as url, connect() as broker:
        engine = open_engine(None, url, max_lead=None, busy_timeout=5.0)
        relay_store = open_engine(None, url, max_lead=None, busy_timeout=5.0).store
        with engine:
            source = broker.source(stream, [0])
            Worker(
                engine, source, StreamSink(sink), relay_store=relay_store, batch_size=150, poll=0.2
            ).run(until_idle=True)
            source.close()
        relay_store.close()
    decided = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert decided == _plain_run(events)


def test_two_workers_on_disjoint_partitions_process_every_event_once(
    stream: str, tmp_path: Path
) -> None:
    """Four partitions, two workers (`--index 0/1 --of 2`) in turn on one SQLite db: every
    event is processed exactly once and every decision leaves once. (Across partitions the
    clock is each worker's until the low watermark of issue 16 item 3.)"""
    events = _events(800, 80)
    _publish(stream, events, 4)
    out = tmp_path / "decisions.jsonl"
    db = tmp_path / "w.db"
    total = 0
    for index in (0, 1):
        with connect() as broker, Engine.from_path(db=db, create_key=True) as engine:
            source = broker.source(stream, share(4, index, 2))
            sink = JsonlFileSink(out)
            tally = Worker(engine, source, sink, batch_size=100, poll=0.2).run(until_idle=True)
            source.close()
            sink.close()
            total += tally.accepted
            assert tally.duplicates == 0
    assert total == len(events)
    decided = _lines(out)
    assert len(decided) == len(_by_id(decided))
    with Engine.from_path(db=db, read_only=True) as engine:
        stored = {
            d.decision_id for a in {e["account_id"] for e in events} for d in engine.decisions(a)
        }
    assert set(_by_id(decided)) == stored


def test_sigkill_mid_stream_loses_and_doubles_nothing(stream: str, tmp_path: Path) -> None:
    """A real `worker` process killed (SIGKILL) mid-stream, then restarted: every event is
    processed once, and the decisions (each once in the db; the file may repeat one sent
    just before the kill) are those of a plain `run`."""
    events = _events(6000, 400)
    _publish(stream, events, 1)
    db, out = tmp_path / "w.db", tmp_path / "out.jsonl"
    common = ["worker", "--db", str(db), "--nats", SERVER, "--stream", stream]
    common += ["--partitions", "0", "--batch", "100", "--decisions-out", str(out)]
    first = _cli(*common, "--poll", "0.2")
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    second = _cli(*common, "--poll", "0.5", "--until-idle", "--summary-json", str(tmp_path / "s"))
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    summary = json.loads((tmp_path / "s").read_text())
    assert 0 < summary["accepted"] < len(events)  # the kill came mid-stream
    decided = _lines(out)
    assert list(_by_id(decided).values()) == _plain_run(events)
    with Engine.from_path(db=db, read_only=True) as engine:
        accounts = {e["account_id"] for e in events}
        stored = [d.decision_id for a in sorted(accounts) for d in engine.decisions(a)]
        logged = engine.store.arrivals({e["event_id"] for e in events})
    assert len(stored) == len(set(stored)) == len(_by_id(decided))
    assert len(logged) == len(events)


def test_sigterm_stops_after_the_batch_and_a_restart_goes_on(stream: str, tmp_path: Path) -> None:
    """SIGTERM: the worker ends its batch, commits, acknowledges, exits 0; restarted, it
    processes the rest and nothing twice."""
    events = _events(3000, 300)
    _publish(stream, events, 2)
    db = tmp_path / "w.db"
    common = ["worker", "--db", str(db), "--nats", SERVER, "--stream", stream, "--index", "0"]
    common += ["--of", "1", "--batch", "100", "--poll", "0.2"]
    first = _cli(*common, "--summary-json", str(tmp_path / "a"))
    assert first.stderr is not None
    started = first.stderr.readline()  # printed just before the SIGTERM handler is set:
    assert "consuming into" in started, started  # a fixed sleep lost the race under load
    time.sleep(1.0)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=60)
    err = started + err
    assert first.returncode == 0, err
    assert "SIGTERM: stopping after this batch" in err
    second = _cli(*common, "--until-idle", "--summary-json", str(tmp_path / "b"))
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    a, b = (json.loads((tmp_path / n).read_text()) for n in "ab")
    assert a["accepted"] + b["accepted"] == len(events)
    assert a["duplicates"] == b["duplicates"] == 0


def test_publish_worker_decisions_out_through_the_cli(stream: str, tmp_path: Path) -> None:
    """End to end through the real CLI: `publish` a JSONL file, `worker` with decisions to a
    NATS subject, read back: the decisions of `run` over the file, each with its decision id
    as Nats-Msg-Id; a second `publish` of the file stores nothing new."""
    events = _events(1200, 120)
    path = tmp_path / "events.jsonl"
    write_jsonl(events, path)
    for _ in range(2):
        done = _cli("publish", str(path), "--nats", SERVER, "--stream", stream, "--partitions", "1")
        _, err = done.communicate(timeout=60)
        assert done.returncode == 0, err
    assert "published 0 events" in err
    assert "1200 repeats dropped" in err
    worker = _cli(
        "worker", "--db", str(tmp_path / "w.db"), "--nats", SERVER, "--stream", stream,
        "--partitions", "0", "--until-idle", "--poll", "0.3",
        "--decisions-out", f"nats:{decisions_subject(stream)}",
    )  # fmt: skip
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    plain = _cli("run", str(path), "--db", str(tmp_path / "r.db"))
    printed, _ = plain.communicate(timeout=120)
    published = read_stream(SERVER, decisions_stream(stream))
    assert [json.loads(text) for _, text in published] == [
        json.loads(line) for line in printed.splitlines()
    ]
    assert [msg_id for msg_id, _ in published] == [
        json.loads(text)["decision_id"] for _, text in published
    ]


class FlakyStore(MemoryStore):
    """The in-memory store, refusing its first commits as a server does in a deadlock."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    def begin(self) -> MemoryTransaction:
        transaction = super().begin()
        store = self
        commit = transaction.commit

        def refusing_commit() -> None:
            if store.refusals:
                store.refusals -= 1
                raise StoreUnavailableError("deadlock detected (a test's)")
            commit()

        transaction.commit = refusing_commit  # type: ignore[method-assign]
        return transaction


def test_a_batch_the_store_refuses_is_tried_again_whole(stream: str) -> None:
    """A commit refused (deadlock, lock timeout) drops the batch's transaction; the worker
    tries the whole batch again and acknowledges it once committed: nothing lost, nothing
    counted twice; past its retries the error goes up, nothing acknowledged."""
    events = _events(300, 30)
    _publish(stream, events, 1)
    ruleset = Engine.from_path().ruleset
    with connect() as broker:
        engine: Engine[Any] = Engine(ruleset, FlakyStore(refusals=2))
        source = broker.source(stream, [0])
        tally = Worker(engine, source, batch_size=300, poll=0.2).run(until_idle=True)
        source.close()
        assert (tally.accepted, tally.retried) == (300, 2)
        accounts = sorted({e["account_id"] for e in events})
        decided = {d.decision_id for a in accounts for d in engine.decisions(a)}
        assert decided == set(_by_id(_plain_run(events)))
    with fresh_stream() as other, connect() as broker:
        _publish(other, events[:50], 1)
        stubborn: Engine[Any] = Engine(ruleset, FlakyStore(refusals=99))
        source = broker.source(other, [0])
        with pytest.raises(StoreUnavailableError):
            Worker(stubborn, source, batch_size=300, poll=0.2, retries=2).run(until_idle=True)
        source.close()
        assert broker.source(other, [0]).fetch(100, 1.0) != []  # nothing was acknowledged


@pytest.mark.postgres
def test_the_worker_command_on_postgresql(stream: str, tmp_path: Path) -> None:
    """`worker --db postgresql://…` with `--decisions-out FILE`: the relay on a session of
    its own; the decisions of a plain run, each once, and nothing left in the outbox."""
    events = _events(500, 50)
    _publish(stream, events, 2)
    out = tmp_path / "out.jsonl"
    with fresh_database() as url:
        worker = _cli(
            "worker", "--db", url, "--nats", SERVER, "--stream", stream, "--index", "0",
            "--of", "1", "--until-idle", "--poll", "0.2", "--decisions-out", str(out),
        )  # fmt: skip
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        relay = _cli("relay", "--db", url, "--to", str(tmp_path / "more.jsonl"))
        _, err = relay.communicate(timeout=60)
    assert "relayed 0 decisions; 0 waiting" in err
    decided = _lines(out)
    assert len(decided) == len(_by_id(decided))
    with connect() as broker:
        source = broker.source(stream, [0, 1])
        assert source.fetch(100, 0.2) == []  # every event acknowledged
        source.close()
