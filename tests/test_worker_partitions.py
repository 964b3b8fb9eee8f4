"""A worker over several partitions of the real NATS JetStream (issue 16): it takes the
events of its partitions in event-time order, so its event time never runs ahead of a
partition it has not read yet, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine
from blacklist_rules.delivery.source import partition_of
from blacklist_rules.delivery.worker import Worker, open_engine
from blacklist_rules.model.identity import KEY_ENV
from blacklist_rules.stores.records import Watermark, partition_holder

from .broker import connect, fresh_stream
from .postgres import fresh_database
from .support import event

pytestmark = pytest.mark.nats

KEY = "k" * 40
CANCEL = "cancel-unverified-after-freeze"
FROZEN, BUSY = "frozen", "busy"  # partitions 1 and 0 of 2


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    """One identity key for the workers and the plain runs they are compared with."""
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
def stream() -> Iterator[str]:
    """A stream name of this test's own, deleted after it."""
    with fresh_stream() as name:
        yield name


def _publish(stream: str, events: list[dict[str, Any]], partitions: int) -> None:
    with connect() as broker:
        count = broker.ensure_stream(stream, partitions)
        broker.publish(
            stream,
            count,
            ((partition_of(e["account_id"], count), e["event_id"], json.dumps(e)) for e in events),
        )


def _lagging() -> list[dict[str, Any]]:
    """`frozen` (partition 1) fails its verification on day 0 (a freeze; a cancel due on
    day 15 unless a verification passes) and passes one on day 10; `busy` (partition 0) has
    reports from day 1 to day 30, denser in event time than `frozen`'s partition."""
    assert (partition_of(FROZEN, 2), partition_of(BUSY, 2)) == (1, 0)
    frozen = [
        event(
            "registration",
            FROZEN,
            timedelta(0),
            "f0",
            identity={},
            verification={"status": "failed", "reason": "name_id_mismatch"},
        ),
        *(_report(FROZEN, day, f"f{day}") for day in (3, 6)),
        event("identity_verification", FROZEN, timedelta(days=10), "f10", status="passed"),
    ]
    busy = [_report(BUSY, day, f"b{day}") for day in (1, 20, 25, 30)]
    return frozen + busy


def _report(account: str, day: int, event_id: str) -> dict[str, Any]:
    return event(
        "impersonation_report",
        account,
        timedelta(days=day),
        event_id,
        reporter_id="r",
        impersonated_name="x",
        confirmed=False,
    )


def _in_time_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decisions (rule, account, effective time) of one engine over the events in
    event-time order."""
    ordered = sorted(events, key=lambda e: e["occurred_at"])
    with Engine.from_path(db=None) as engine:
        outcomes = list(engine.run(json.dumps(e) for e in ordered))
    return [
        {"rule": d.rule_id, "account": d.account_id, "at": d.effective_at.isoformat()}
        for o in outcomes
        for d in o.decisions
    ]


def _decided(engine: Engine[Any], accounts: list[str]) -> list[dict[str, Any]]:
    return sorted(
        (
            {"rule": d.rule_id, "account": d.account_id, "at": d.effective_at.isoformat()}
            for a in accounts
            for d in engine.decisions(a)
        ),
        key=lambda d: (d["at"], d["account"], d["rule"]),
    )


STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("store", STORES)
def test_a_partition_behind_in_event_time_holds_the_workers_clock(
    stream: str, tmp_path: Path, store: str
) -> None:
    """One worker over 2 partitions, fetching 2 events of each at a time: `busy`'s day-20
    report comes in the same fetch as `frozen`'s failed registration (day 0), yet `frozen`'s
    cancel (due day 15) does not fire before its passed verification (day 10) is read: no
    cancel, the decisions of one engine over the events in event-time order."""
    events = _lagging()
    _publish(stream, events, 2)
    expected = _in_time_order(events)
    assert CANCEL not in {d["rule"] for d in expected}
    with _database(store, tmp_path) as db, connect() as broker:
        engine = open_engine(None, db, max_lead=None, busy_timeout=5.0)
        with engine:
            source = broker.source(stream, [0, 1])
            tally = Worker(engine, source, batch_size=4, poll=0.2).run(until_idle=True)
            source.close()
            assert tally.accepted == len(events)
            assert _decided(engine, [FROZEN, BUSY]) == sorted(
                expected, key=lambda d: (d["at"], d["account"], d["rule"])
            )


def _database(store: str, tmp_path: Path) -> contextlib.AbstractContextManager[str]:
    """A SQLite file in `tmp_path`, or a fresh PostgreSQL database."""
    if store == "postgresql":
        return fresh_database()
    return contextlib.nullcontext(str(tmp_path / "w.db"))


@pytest.mark.parametrize("store", STORES)
def test_an_idle_partition_holds_neither_the_merge_nor_the_watermark(
    stream: str, tmp_path: Path, store: str
) -> None:
    """3 partitions, and no event on partition 1: the broker has nothing for it, so it is
    idle and the worker goes on with the other two (it does not wait for it forever), decides
    as one engine in event-time order, and on PostgreSQL leaves nothing holding the
    watermark once it has finished."""
    events = _lagging()
    assert {partition_of(e["account_id"], 3) for e in events} == {0, 2}
    _publish(stream, events, 3)
    expected = sorted(_in_time_order(events), key=lambda d: (d["at"], d["account"], d["rule"]))
    with _database(store, tmp_path) as db, connect() as broker:
        engine = open_engine(None, db, max_lead=None, busy_timeout=5.0)
        with engine:
            source = broker.source(stream, [0, 1, 2])
            tally = Worker(engine, source, batch_size=4, poll=0.2).run(until_idle=True)
            source.close()
            assert tally.accepted == len(events)
            assert _decided(engine, [FROZEN, BUSY]) == expected
        with Engine.from_path(db=db, read_only=True) as reader:
            assert reader.watermark is None


def test_the_holder_of_the_watermark_in_words() -> None:
    """`status` says which worker or which partition of which stream holds the watermark."""
    assert Watermark(0, partition_holder("MODERATION", 1)).holder == "partition MODERATION/1"
    assert Watermark(0, "host-a:4242").holder == "worker host-a:4242"
