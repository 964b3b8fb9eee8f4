"""Embedding (docs/embedding.md): one failure model in `process` and `run`, hooks told only
after commit, the thread model enforced, and the asyncio wrapper; the page's code runs."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from blacklist_rules import (
    Decision,
    Engine,
    EngineClosedError,
    EngineError,
    EngineThreadError,
    EvaluationError,
    Outcome,
    SQLiteStore,
    load_ruleset,
)
from blacklist_rules.matching.durable import DurableMatcher
from tests.support import EventFactory

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "embedding.md"


def blocks(page: Path) -> list[str]:
    """The page's ```python blocks, in order."""
    return re.findall(r"```python[^\n]*\n(.*?)```", page.read_text(encoding="utf-8"), re.S)


def in_fresh_process(code: str) -> None:
    """Run `code` in a new interpreter: durable-rules belongs to the first thread that uses it,
    and in this test process that is the main thread, never an `AsyncEngine`'s."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT)) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": path},
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def test_every_code_block_of_the_embedding_page_runs_as_written() -> None:
    """Each block of docs/embedding.md executes, its assertions included (the asyncio one in
    a fresh interpreter, as an asyncio application would run it)."""
    found = blocks(PAGE)
    assert len(found) == 5
    for block in found[:4]:
        exec(compile(block, str(PAGE), "exec"), {"__name__": "docs"})
    in_fresh_process(found[4])


class Flaky:
    """A matcher that fails for some accounts and asks durable-rules for the others."""

    def __init__(self, failing: set[str]) -> None:
        self.inner = DurableMatcher.for_plan(load_ruleset())
        self.failing = failing

    def match(self, snapshot: Mapping[str, Any]) -> list[str]:
        if snapshot.get("account_id") in self.failing:
            raise EvaluationError("evaluator crashed")
        return self.inner.match(snapshot)

    def close(self) -> None:
        self.inner.close()


def _flaky_engine(failing: set[str], db: str = ":memory:") -> Engine:
    return Engine(load_ruleset(), SQLiteStore(db), matcher=Flaky(failing))


def _reports(make_event: EventFactory, accounts: list[str]) -> list[dict[str, Any]]:
    return [
        make_event("impersonation_report", a, reporter_id="r", confirmed=True) for a in accounts
    ]


def test_the_documented_pipeline_sees_every_failure(make_event: EventFactory) -> None:
    """The pipeline of docs/embedding.md, over an evaluator that fails for two accounts in the
    middle of a batch: every failure reaches it, none reads as "no decision", and the others
    are acted on."""
    namespace: dict[str, Any] = {"__name__": "docs"}
    exec(compile(blocks(PAGE)[1], str(PAGE), "exec"), namespace)
    pipeline = namespace["pipeline"]
    accounts = ["a", "bad-1", "b", "bad-2", "c"]
    events = [*_reports(make_event, accounts), {"event_id": "x", "type": "rumor_flag"}]
    with _flaky_engine({"bad-1", "bad-2"}) as engine:
        engine.commit_every = 100
        acted, dead_letter, held = pipeline(engine, events)
        assert sorted(o.event_id for o in held) == sorted(
            e["event_id"] for e in events[:5] if e["account_id"].startswith("bad")
        )
        assert all(not o.ok and o.failure is not None and o.decisions == () for o in held)
        assert [d.account_id for d in acted] == ["a", "b", "c"]
        assert [o.event_id for o in dead_letter] == ["x"]
        failed = [r for r in engine.audit_records() if r.kind == "evaluation_failed"]
        assert len(failed) == 2


def test_process_and_run_raise_the_same_failure_by_default(make_event: EventFactory) -> None:
    """Without `failures="outcome"`, `process` and `run` both raise `EvaluationError` naming the
    event and account; with it, both return the same failed outcome."""
    (event,) = _reports(make_event, ["bad"])
    with _flaky_engine({"bad"}) as engine:
        for call in (lambda: engine.process(event), lambda: list(engine.run([event]))):
            with pytest.raises(EvaluationError, match="evaluator crashed") as info:
                call()
            assert (info.value.event_id, info.value.account_id) == (event["event_id"], "bad")
        single = engine.process(event, failures="outcome")
        (many,) = engine.run([event], failures="outcome")
        assert attrs.evolve(single, failure=None) == attrs.evolve(many, failure=None)
        assert str(single.failure) == str(many.failure)
        assert (single.ok, single.event_id, single.account_id) == (False, event["event_id"], "bad")
        with pytest.raises(ValueError, match="failures must be"):
            engine.process(event, failures="ignore")  # type: ignore[arg-type]


def test_a_hook_never_sees_a_decision_that_is_rolled_back(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """A batch whose commit is refused (`before_commit` raises) and dropped on the way out of
    `with Engine`: its decision is never told; the rerun commits it and tells it once."""
    db = tmp_path / "h.db"
    (event,) = _reports(make_event, ["a"])
    seen: list[Decision] = []

    def refuse() -> None:
        raise RuntimeError("downstream unavailable")

    def refused_run() -> None:
        with Engine.from_path(db=db) as engine:
            engine.hooks.on_decision(seen.append)
            engine.before_commit = refuse
            with engine.batch():
                assert [d.action for d in engine.process(event).decisions] == ["blacklist"]
                assert seen == []  # inside a batch: not before the commit

    with pytest.raises(RuntimeError, match="downstream"):
        refused_run()
    assert seen == []
    with Engine.from_path(db=db) as engine:
        engine.hooks.on_decision(seen.append)
        with engine.batch():
            engine.process(event)
            assert seen == []
        assert [d.account_id for d in seen] == ["a"]


def test_hooks_are_told_in_order_and_a_raising_hook_is_logged_and_skipped(
    engine: Engine, make_event: EventFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Decisions, rejections and failures reach their hooks; a hook that raises is logged at
    ERROR with its traceback, the next hook still runs, and the engine goes on."""
    told: list[str] = []

    def broken(decision: Decision) -> None:
        raise RuntimeError("hook bug")

    engine.hooks.on_decision(broken)
    engine.hooks.on_decision(lambda d: told.append(f"decision {d.account_id}"))
    engine.hooks.on_reject(lambda o: told.append(f"reject {o.event_id}"))
    with caplog.at_level(logging.ERROR, logger="blacklist_rules.engine.hooks"):
        engine.process(_reports(make_event, ["a"])[0])
        engine.process({"event_id": "x", "type": "rumor_flag"})
        engine.process(_reports(make_event, ["b"])[0])
    assert told == ["decision a", "reject x", "decision b"]
    errors = [r for r in caplog.records if r.name == "blacklist_rules.engine.hooks"]
    assert len(errors) == 2
    assert errors[0].levelname == "ERROR"
    assert errors[0].exc_info is not None
    assert errors[0].account_id == "a"  # type: ignore[attr-defined]
    engine.hooks.remove(broken)
    engine.process(_reports(make_event, ["c"])[0])
    assert told[-1] == "decision c"


def test_a_hook_may_query_but_not_process(
    engine: Engine, make_event: EventFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Inside a hook the engine answers queries; processing raises `EngineError` (logged as the
    hook's failure), and nothing is processed twice."""
    statuses: list[str] = []
    first, second = _reports(make_event, ["a", "b"])

    @engine.hooks.on_decision
    def nested(decision: Decision) -> None:
        statuses.append(engine.status(decision.account_id))
        engine.process(second)

    with caplog.at_level(logging.ERROR, logger="blacklist_rules.engine.hooks"):
        engine.process(first)
    assert statuses == ["blacklisted"]
    (record,) = caplog.records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], EngineError)
    assert engine.status("b") == "active"


def test_failures_reach_on_failure_whatever_failures_says(make_event: EventFactory) -> None:
    """`on_failure` hears each failure once committed, raised or returned."""
    failed: list[Outcome] = []
    with _flaky_engine({"bad"}) as engine:
        engine.hooks.on_failure(failed.append)
        (event,) = _reports(make_event, ["bad"])
        with pytest.raises(EvaluationError):
            engine.process(event)
        engine.process(event, failures="outcome")
    assert [o.event_id for o in failed] == [event["event_id"]] * 2


def test_an_engine_used_from_another_thread_says_which_threads(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """Processing, querying or closing from a thread other than the owner's raises
    `EngineThreadError` naming both threads (never sqlite's ProgrammingError), and does
    nothing; the owner goes on."""
    (event,) = _reports(make_event, ["a"])
    caught: list[BaseException] = []
    with Engine.from_path(db=tmp_path / "t.db") as engine:

        def intruder() -> None:
            for call in (
                lambda: engine.process(event),
                lambda: engine.status("a"),
                engine.close,
                lambda: engine.advance_to("2026-06-01T00:00:00Z"),
            ):
                try:
                    call()
                except BaseException as exc:
                    caught.append(exc)

        thread = threading.Thread(target=intruder, name="intruder")
        thread.start()
        thread.join()
        assert len(caught) == 4
        assert all(isinstance(exc, EngineThreadError) for exc in caught), caught
        message = str(caught[0])
        assert "'MainThread'" in message
        assert "'intruder'" in message
        assert engine.status("a") == "active"
        assert [d.action for d in engine.process(event).decisions] == ["blacklist"]


def test_an_engine_used_after_close_says_it_is_closed(
    tmp_path: Path, make_event: EventFactory
) -> None:
    """After `close()` (or its `with` block), processing, running, moving the clock, flushing,
    a batch and every query raise `EngineClosedError` (an `EngineError`), never sqlite's
    `ProgrammingError` nor a matcher's failure; closing again does nothing."""
    (event,) = _reports(make_event, ["a"])
    with Engine.from_path(db=tmp_path / "c.db") as engine:
        engine.process(event)
    assert engine.closed
    engine.close()  # again: nothing
    calls: dict[str, Callable[[], object]] = {
        "process": lambda: engine.process(event),
        "run": lambda: list(engine.run([event], failures="outcome")),
        "advance_to": lambda: engine.advance_to("2026-06-01T00:00:00Z"),
        "flush": engine.flush,
        "batch": lambda: engine.batch().__enter__(),
        "status": lambda: engine.status("a"),
        "decisions": lambda: engine.decisions("a"),
        "audit_records": lambda: list(engine.audit_records()),
        "is_blacklisted": lambda: engine.is_blacklisted({"phone": "13800138000"}),
        "watermark": lambda: engine.watermark,
    }
    for name, call in calls.items():
        with pytest.raises(EngineClosedError, match=r"^this engine is closed") as info:
            call()
        assert isinstance(info.value, EngineError), name
    with Engine.from_path(db=tmp_path / "c.db", read_only=True) as again:
        assert again.status("a") == "blacklisted"  # what it had committed stands


def test_the_async_engine_runs_on_its_own_thread_under_asyncio() -> None:
    """`AsyncEngine` under asyncio (in a fresh interpreter): calls awaited together run one at a
    time on the engine thread (not the loop's), a failure is raised through `await`, several
    `AsyncEngine`s share the thread, and a closed one refuses calls."""
    in_fresh_process(ASYNC_SCRIPT)


def test_an_engine_made_on_another_thread_than_durable_rules_is_refused() -> None:
    """durable-rules belongs to the first thread that used it: an `Engine` (or `AsyncEngine`)
    made on another thread gets `EngineThreadError` naming both, not a crash."""
    Engine.from_path().close()  # durable-rules now belongs to this (the main) thread
    caught: list[BaseException] = []

    def elsewhere() -> None:
        try:
            Engine.from_path()
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=elsewhere, name="late")
    thread.start()
    thread.join()
    (error,) = caught
    assert isinstance(error, EngineThreadError)
    assert "durable-rules" in str(error)
    assert "'late'" in str(error)


ASYNC_SCRIPT = textwrap.dedent(
    """
    import asyncio, threading

    from blacklist_rules import AsyncEngine, EngineClosedError, EvaluationError, SQLiteStore
    from blacklist_rules import Engine, load_ruleset
    from tests.test_embedding import Flaky


    def report(n, account):
        return {
            "event_id": f"ev-{n}", "type": "impersonation_report", "account_id": account,
            "occurred_at": "2026-05-01T09:00:00+08:00", "reporter_id": "r", "confirmed": True,
        }


    def flaky():
        return Engine(load_ruleset(), SQLiteStore(":memory:"), matcher=Flaky({"bad"}))


    async def main():
        async with AsyncEngine(factory=flaky) as engine, AsyncEngine() as other:
            reports = [report(n, a) for n, a in enumerate(["a", "b", "c", "bad"])]
            outcomes = await asyncio.gather(*(engine.process(e) for e in reports[:3]))
            assert [d.action for o in outcomes for d in o.decisions] == ["blacklist"] * 3
            names = await asyncio.gather(
                *(e.call(lambda _: threading.current_thread().name) for e in (engine, other))
            )
            assert len(set(names)) == 1, names
            assert names[0].startswith("blacklist-rules-engine"), names
            assert names[0] != threading.current_thread().name
            try:
                await engine.process(reports[3])
                raise AssertionError("no failure raised")
            except EvaluationError as exc:
                assert exc.account_id == "bad"
            (failed,) = await engine.run(reports[3:], failures="outcome")
            assert not failed.ok
            assert await engine.status("b") == "blacklisted"
            assert await other.status("b") == "active"
        await engine.close()  # again: nothing
        for call in (lambda: engine.status("b"), engine.open, lambda: engine.process(reports[0])):
            try:
                await call()
                raise AssertionError("a closed AsyncEngine answered")
            except EngineClosedError as exc:
                assert str(exc).startswith("this AsyncEngine is closed"), exc


    asyncio.run(main())
    """
)
