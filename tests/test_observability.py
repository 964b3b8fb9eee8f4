"""Observability (docs/observability.md): log records at their levels with their fields, and
Prometheus metrics read at their edges, from the library and from `run`; the page's code runs."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import (
    Decision,
    Engine,
    EngineMetrics,
    EvaluationError,
    SQLiteStore,
    StoreUnavailableError,
    load_ruleset,
)
from blacklist_rules.cli import main
from tests.support import EventFactory
from tests.test_embedding import Flaky, blocks

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "observability.md"
EVENTS = ROOT / "examples" / "events.jsonl"


def test_every_code_block_of_the_observability_page_runs_as_written() -> None:
    """Each block of docs/observability.md executes, its assertions included."""
    found = blocks(PAGE)
    assert len(found) == 2
    for block in found:
        exec(compile(block, str(PAGE), "exec"), {"__name__": "docs"})


def _report(make_event: EventFactory, account: str) -> dict[str, Any]:
    return make_event("impersonation_report", account, reporter_id="r", confirmed=True)


def test_records_come_at_their_levels_with_their_fields(
    engine: Engine, make_event: EventFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG each event (with its duration), INFO each decision and the run's summary, WARNING
    a rejected event, all on `blacklist_rules.engine`, fields as record attributes."""
    quiet = make_event("registration", "q")
    decided = _report(make_event, "a")
    with caplog.at_level(logging.DEBUG, logger="blacklist_rules"):
        list(engine.run([quiet, decided, {"event_id": "x", "type": "rumor_flag"}], source="s"))
    records = [r for r in caplog.records if r.name == "blacklist_rules.engine"]
    got: list[tuple[str, Any, Any]] = [
        (r.levelname, getattr(r, "outcome", None), getattr(r, "event_id", None)) for r in records
    ]
    assert got == [
        ("DEBUG", "quiet", quiet["event_id"]),
        ("DEBUG", "decided", decided["event_id"]),
        ("INFO", "decided", decided["event_id"]),
        ("WARNING", "rejected", "x"),
        ("INFO", None, None),
    ]
    decision = records[2]
    for field in ("account_id", "decision_id", "rule_id", "action", "mode"):
        assert getattr(decision, field), field
    assert decision.rule_id == "blacklist-confirmed-impersonation"  # type: ignore[attr-defined]
    assert all(r.duration >= 0 for r in records[:4])  # type: ignore[attr-defined]
    assert records[4].tally == {"quiet": 1, "decided": 1, "rejected": 1}  # type: ignore[attr-defined]


def test_nothing_is_logged_below_warning_by_default(
    engine: Engine, make_event: EventFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """At the default level (WARNING) a decided event logs nothing, and costs no queueing."""
    with caplog.at_level(logging.WARNING):
        engine.process(_report(make_event, "a"))
    assert [r for r in caplog.records if r.name.startswith("blacklist_rules")] == []


def test_a_failure_warns_and_a_store_failure_is_an_error_that_tells_nothing_rolled_back(
    make_event: EventFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed evaluation is a WARNING; a store that fails mid-batch is an ERROR naming how
    many events were dropped, and neither hooks nor metrics hear of the dropped decision."""
    metrics = EngineMetrics()
    told: list[Decision] = []
    engine = Engine.from_path()
    metrics.attach(engine)
    engine.hooks.on_decision(told.append)
    with caplog.at_level(logging.WARNING, logger="blacklist_rules"), engine.batch():
        engine.process(_report(make_event, "a"))
        real = SQLiteStore.add_event

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailableError("disk full")

        monkeypatch.setattr(SQLiteStore, "add_event", unavailable)
        with pytest.raises(StoreUnavailableError):
            engine.process(_report(make_event, "b"))
        monkeypatch.setattr(SQLiteStore, "add_event", real)
    engine.close()
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert error.name == "blacklist_rules.engine"
    assert error.dropped == 1  # type: ignore[attr-defined]
    assert told == []
    value = metrics.registry.get_sample_value
    assert value("blacklist_rules_failures_total", {"kind": "store"}) == 1
    assert value("blacklist_rules_events_total", {"outcome": "decided"}) == 0

    caplog.clear()
    flaky = Engine(load_ruleset(), SQLiteStore(":memory:"), matcher=Flaky({"bad"}))
    with flaky, caplog.at_level(logging.WARNING, logger="blacklist_rules"):
        flaky.process(_report(make_event, "bad"), failures="outcome")
    (warning,) = caplog.records
    assert (warning.levelname, warning.outcome) == ("WARNING", "failed")  # type: ignore[attr-defined]
    assert warning.account_id == "bad"  # type: ignore[attr-defined]


def test_metrics_count_every_outcome_at_its_edges(make_event: EventFactory) -> None:
    """Events by outcome (each at 0 before it happens), decisions by rule, action and mode,
    the latency histogram, and failures by kind (event, clock, hook), in the registry given."""
    metrics = EngineMetrics()
    value = metrics.registry.get_sample_value
    for outcome in ("decided", "quiet", "rejected", "duplicate", "failed"):
        assert value("blacklist_rules_events_total", {"outcome": outcome}) == 0
    decided = _report(make_event, "a")
    with Engine(load_ruleset(), SQLiteStore(":memory:"), matcher=Flaky({"bad"})) as engine:
        metrics.attach(engine)

        @engine.hooks.on_decision
        def broken(decision: Decision) -> None:
            raise RuntimeError("hook bug")

        engine.process(decided)
        engine.process(decided)  # duplicate
        engine.process(make_event("registration", "q"))
        engine.process({"event_id": "x", "type": "rumor_flag"})
        with pytest.raises(EvaluationError):
            engine.process(_report(make_event, "bad"))
        engine.process(make_event("identity_verification", "v", status="failed"))
        engine.advance_to("2026-12-31T00:00:00Z", force=True)
    counts = {
        o: value("blacklist_rules_events_total", {"outcome": o})
        for o in ("decided", "quiet", "rejected", "duplicate", "failed")
    }
    assert counts == {"decided": 2, "quiet": 1, "rejected": 1, "duplicate": 1, "failed": 1}
    rules = {
        (s.labels["rule_id"], s.labels["action"], s.labels["mode"]): s.value
        for family in metrics.registry.collect()
        if family.name == "blacklist_rules_decisions"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert rules[("blacklist-confirmed-impersonation", "blacklist", "enforce")] == 1
    assert rules[("freeze-failed-verification", "freeze", "enforce")] == 1
    assert rules[("cancel-unverified-after-freeze", "cancel", "enforce")] == 1  # the clock's
    assert value("blacklist_rules_evaluation_seconds_count") == 6
    assert (value("blacklist_rules_evaluation_seconds_sum") or 0) > 0
    assert value("blacklist_rules_failures_total", {"kind": "event"}) == 1
    assert value("blacklist_rules_failures_total", {"kind": "hook"}) == 3


def test_metrics_use_their_own_registry_unless_given_one() -> None:
    """A fresh registry by default; the process-wide one only when passed (and never twice)."""
    from prometheus_client import REGISTRY  # noqa: TID251 - checking what we did not touch

    metrics = EngineMetrics()
    assert metrics.registry is not REGISTRY
    assert REGISTRY.get_sample_value("blacklist_rules_events_total", {"outcome": "quiet"}) is None


def test_metrics_served_over_http(make_event: EventFactory) -> None:
    """`serve(port)` answers a scrape with the registry's text; the function it returns stops
    it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = EngineMetrics()
    stop = metrics.serve(port)
    try:
        with Engine.from_path() as engine:
            metrics.attach(engine)
            engine.process(_report(make_event, "a"))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    finally:
        stop()
    assert 'blacklist_rules_events_total{outcome="decided"} 1.0' in text


def test_run_writes_metrics_and_json_log_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --metrics-file` writes the textfile collector's format at the end; `--log-level
    INFO --log-format json` puts one JSON object a record on stderr, with its fields."""
    prom = tmp_path / "run.prom"
    code = main(
        [
            "run", str(EVENTS), "--db", str(tmp_path / "m.db"), "--quiet",
            "--metrics-file", str(prom), "--log-level", "info", "--log-format", "json",
        ]
    )  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    decided = len(out.splitlines())
    text = prom.read_text(encoding="utf-8")
    found = re.search(r'^blacklist_rules_events_total\{outcome="quiet"\} (\S+)$', text, re.M)
    assert found is not None
    assert float(found.group(1)) > 0
    total = sum(
        float(n) for n in re.findall(r"^blacklist_rules_decisions_total\{.*\} (\S+)$", text, re.M)
    )
    assert total == decided > 0
    records = [json.loads(line) for line in err.splitlines()]
    decisions = [r for r in records if "decision_id" in r]
    assert len(decisions) == decided
    assert {"time", "level", "logger", "message", "event_id", "rule_id"} <= decisions[0].keys()
    assert records[-1]["logger"] == "blacklist_rules.engine"
    assert "tally" in records[-1]
    assert not logging.getLogger("blacklist_rules").handlers[1:]  # the CLI took its handler off


def test_the_library_works_without_prometheus_client() -> None:
    """Without the metrics extra the engine runs; only `EngineMetrics` says what to install."""
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from blacklist_rules import Engine\n"
        "with Engine.from_path() as engine:\n"
        "    engine.process({'event_id': 'e', 'type': 'impersonation_report',"
        " 'account_id': 'a', 'occurred_at': '2026-05-01T09:00:00Z', 'reporter_id': 'r',"
        " 'confirmed': True})\n"
        "try:\n"
        "    from blacklist_rules import EngineMetrics\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert "pip install 'blacklist-rules[metrics]'" in done.stdout


def test_the_cascades_scratch_world_logs_and_counts_nothing(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """An appeal replays the account in a scratch engine: its hypothetical decisions reach no
    log line and no metric; only the real engine's decisions are told."""
    from tests.test_cascade import DAY, overturn, three_strikes  # the worked example

    freeze_id, _ = three_strikes(engine)
    metrics = EngineMetrics().attach(engine)
    with caplog.at_level(logging.DEBUG, logger="blacklist_rules"):
        outcome = engine.process(overturn("zhang", 25 * DAY, "ap1", freeze_id))
    told = [getattr(r, "decision_id", None) for r in caplog.records]
    assert [d for d in told if d] == [d.decision_id for d in outcome.decisions]
    assert len(outcome.decisions) == 1
    events = sum(
        metrics.registry.get_sample_value("blacklist_rules_events_total", {"outcome": o}) or 0
        for o in ("decided", "quiet", "rejected", "duplicate", "failed")
    )
    assert events == 1


def test_every_verb_takes_the_log_options() -> None:
    """`--log-level` and `--log-format` are options of every verb (each `audit` action
    included), not only of `run`."""
    from blacklist_rules.cli import build_parser
    from tests.cli_reference import parsers

    leaves = [
        (path, parser)
        for path, parser in parsers(build_parser())
        if path and not any(a.dest in ("command", "audit_command") for a in parser._actions)
    ]
    assert len(leaves) >= 20, [path for path, _ in leaves]
    for path, parser in leaves:
        options = {option for action in parser._actions for option in action.option_strings}
        assert {"--log-level", "--log-format"} <= options, path


def test_a_verb_shows_the_records_it_logs_and_takes_its_handler_off_after(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A verb other than `run` shows the library's records at `--log-level` and above, as
    JSON with `--log-format json`; the handler is gone once the verb ends, and without
    `--log-level` nothing is shown."""
    from blacklist_rules.cli import validate

    def logging_handle(args: object) -> int:
        logging.getLogger("blacklist_rules.pack").info("loaded %s", "a pack")
        logging.getLogger("blacklist_rules.pack").debug("below the level")
        return 0

    monkeypatch.setattr(validate, "handle", logging_handle)
    logger = logging.getLogger("blacklist_rules")
    before = list(logger.handlers)
    assert main(["validate", "--log-level", "info", "--log-format", "json"]) == 0
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert (record["level"], record["logger"], record["message"]) == (
        "INFO",
        "blacklist_rules.pack",
        "loaded a pack",
    )
    assert logger.handlers == before
    assert logger.level == logging.NOTSET
    assert main(["validate"]) == 0
    assert capsys.readouterr().err == ""
