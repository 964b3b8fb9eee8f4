"""The transactional outbox end to end: a decision is queued in the transaction that takes
it, relayed only once committed, and a crash between the publish and the mark publishes it
again, never loses it; on PostgreSQL two relays never hold the same row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Decision, Engine
from blacklist_rules.cli import main
from blacklist_rules.delivery.relay import Relay, enqueue
from blacklist_rules.delivery.sinks import JsonlFileSink
from blacklist_rules.stores import open_store
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import OutboxRow

from .postgres import fresh_database

EVENTS = [
    {
        "event_id": f"e-{n}",
        "type": "impersonation_report",
        "account_id": f"acct-{n}",
        "occurred_at": f"2026-03-0{n}T10:00:00+00:00",
        "reporter_id": "r-1",
        "confirmed": True,
    }
    for n in range(1, 5)
]


class Collect:
    """A sink that keeps what it was sent; it can be told to crash after delivering (the
    process dying between the publish and the mark)."""

    def __init__(self) -> None:
        self.rows: list[OutboxRow] = []
        self.crash_after_send = False

    def send(self, rows: Sequence[OutboxRow]) -> None:
        self.rows.extend(rows)
        if self.crash_after_send:
            raise KeyboardInterrupt("killed after the publish, before the mark")

    def close(self) -> None:
        """Nothing to close."""


def _decide(engine: Engine[Any], events: list[dict[str, object]]) -> list[Decision]:
    """Process events in one batch, queueing their decisions in its transaction."""
    queued: list[Decision] = []

    def before_commit() -> None:
        enqueue(engine.store, queued)

    engine.before_commit = before_commit
    for outcome in engine.run(json.dumps(e) for e in events):
        queued.extend(outcome.decisions)
    return list(queued)


def test_a_crash_between_publish_and_mark_publishes_again_never_loses() -> None:
    """The sink got the rows, then the relay died before marking them: they are still
    waiting, and the next relay sends them again (at least once), then nothing more."""
    engine: Engine[Store] = Engine(Engine.from_path().ruleset, MemoryStore())
    taken = [d.decision_id for d in _decide(engine, EVENTS)]
    assert len(taken) == 4
    sink = Collect()
    sink.crash_after_send = True
    with pytest.raises(KeyboardInterrupt):
        Relay(engine.store, sink, batch=10).drain()
    assert engine.store.outbox_backlog() == 4
    sink.crash_after_send = False
    assert Relay(engine.store, sink, batch=10).drain() == 4
    assert [row.decision_id for row in sink.rows] == taken + taken
    assert Relay(engine.store, sink).drain() == 0
    assert engine.store.outbox_backlog() == 0


def test_the_relay_sends_the_json_line_run_prints(tmp_path: Path) -> None:
    """What the relay writes to a JSONL file is each decision's `to_dict()`, in the order
    taken, fsynced before the rows are marked sent."""
    with Engine.from_path(db=tmp_path / "o.db", create_key=True) as engine:
        decided = [d.to_dict() for d in _decide(engine, EVENTS)]
        sink = JsonlFileSink(tmp_path / "out.jsonl")
        Relay(engine.store, sink, batch=3).drain()
        sink.close()
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == decided


def test_an_event_rolled_back_leaves_nothing_to_publish() -> None:
    """A batch dropped before its commit (the process died) queued nothing: no decision is
    ever published that was not committed."""
    engine: Engine[Store] = Engine(Engine.from_path().ruleset, MemoryStore())
    transaction = engine.store.begin()
    engine.store.outbox_add("d-x", "acct-x", "{}", 0)
    transaction.rollback()
    sink = Collect()
    assert Relay(engine.store, sink).drain() == 0
    assert sink.rows == []


@pytest.mark.postgres
def test_on_postgresql_nothing_is_relayed_before_its_commit() -> None:
    """A relay on another session sees a queued decision only once its transaction has
    committed; two relays in flight at once never hold the same row (SKIP LOCKED)."""
    with fresh_database() as url:
        writer, relay_a, relay_b = open_store(url), open_store(url), open_store(url)
        try:
            transaction = writer.begin()
            writer.outbox_add("d-1", "acct-1", '{"n":1}', 0)
            writer.outbox_add("d-2", "acct-2", '{"n":2}', 0)
            sink = Collect()
            assert Relay(relay_a, sink).drain() == 0  # not committed: not there
            transaction.commit()
            held = relay_a.begin()
            claimed = relay_a.outbox_pending(1)
            other = relay_b.begin()
            assert [r.decision_id for r in relay_b.outbox_pending(10)] == ["d-2"]
            other.rollback()
            held.rollback()
            assert [r.decision_id for r in claimed] == ["d-1"]
            assert Relay(relay_b, sink).drain() == 2
            assert relay_a.outbox_backlog() == 0
        finally:
            for store in (writer, relay_a, relay_b):
                store.close()


def test_the_relay_command_sends_what_waits_and_says_what_is_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`blacklist-rules relay --db DB --to FILE`: what a stopped worker left in the outbox
    goes out; a second relay sends nothing."""
    db = tmp_path / "o.db"
    with Engine.from_path(db=db, create_key=True) as engine:
        taken = [d.decision_id for d in _decide(engine, EVENTS)]
    out = tmp_path / "out.jsonl"
    assert main(["relay", "--db", str(db), "--to", str(out)]) == 0
    assert "relayed 4 decisions; 0 waiting" in capsys.readouterr().err
    assert main(["relay", "--db", str(db), "--to", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["decision_id"] for line in lines] == taken
