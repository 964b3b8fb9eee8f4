"""The engine's stages and their shared pieces on their own (ARCHITECTURE.md, issue 15): the
engine over any `Store`, the mirrors against a fresh read, the quiet path's single write, the
seed/replay API, and the intake stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from blacklist_rules import EventError, SQLiteStore, load_ruleset
from blacklist_rules.engine import Engine, intake
from blacklist_rules.engine.context import EventContext
from blacklist_rules.engine.mirrors import Mirrors
from blacklist_rules.engine.seed import Seed
from blacklist_rules.model.events import to_micros
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import Veto
from blacklist_rules.testing import generate_events

from .support import EDGES, T0, US, event
from .test_cascade import DAY, overturn, three_strikes

RULESET = load_ruleset()
BENIGN = event(
    "rumor_flag", "a", DAY, "f", content_id="c", verdict="not_rumor", source="user_report"
)
"""An event that feeds a window but that no rule matches."""


def _outcomes(store: Store, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    with Engine(RULESET, store, max_lead=None) as engine:
        return [
            (
                o.event_id,
                o.status,
                [d.to_dict() for d in o.decisions],
                [c.to_dict() for c in o.status_changes],
                o.duplicate,
                str(o.rejection),
            )
            for o in engine.run(events)
        ]


def test_the_engine_runs_on_any_store_with_the_same_outcomes() -> None:
    """`Engine` takes any `Store`: over the in-memory store a synthetic workload gives the
    outcomes it gives over SQLite, decision for decision."""
    events = list(generate_events(1500, n_accounts=150, seed=5, benign_share=0.5))
    on_memory = _outcomes(MemoryStore(), events)
    assert on_memory == _outcomes(SQLiteStore(), events)
    assert any(decisions for _, _, decisions, *_ in on_memory)


def test_the_mirrors_equal_a_fresh_read_of_the_store() -> None:
    """After decisions, a blacklist, a deadline and an overturned appeal, what the stages kept
    in memory equals the mirrors read afresh from the store (waiting: at least those)."""
    with Engine.from_path(max_lead=None) as engine:
        freeze, _ = three_strikes(engine)
        engine.process(overturn("zhang", 30 * DAY, "appeal", freeze))
        engine.process(event("identity_verification", "li", 31 * DAY, "v", status="failed"))
        kept, fresh = engine.mirrors, Mirrors.load(engine.store)
        assert fresh.statuses == kept.statuses
        assert fresh.vetoed == kept.vetoed
        assert fresh.listed._spans == kept.listed._spans
        assert kept.waiting >= fresh.waiting
        assert (fresh.clock, fresh.next_due) == (kept.clock, kept.next_due)


def test_an_event_nothing_matches_is_one_write_without_a_savepoint() -> None:
    """The quiet path: a benign event writes its row (and history) and takes no savepoint,
    so nothing costs more than one write when nothing happens."""
    store = SQLiteStore()
    with Engine(RULESET, store, max_lead=None) as engine:
        engine.process(event("identity_verification", "a", 0 * DAY, "v", status="passed"))

        def refuse() -> None:
            raise AssertionError("a savepoint on the quiet path")

        store.savepoint = refuse  # type: ignore[method-assign]
        outcome = engine.process(BENIGN)
        assert outcome.accepted
        assert outcome.decisions == ()


def test_the_seed_api_shares_the_vetoes_and_gives_fingerprints() -> None:
    """`Engine.seed.inherit` makes the engine replay for another: the vetoes are that
    engine's own dict (not a copy), kept through a reload of the mirrors."""
    with Engine.from_path(max_lead=None) as engine:
        vetoes: dict[Veto, set[str]] = {Veto("a", "rule", "2026"): {"e"}}
        assert isinstance(engine.seed, Seed)
        engine.seed.inherit(vetoes, {})
        assert engine.mirrors.vetoed is vetoes
        engine.mirrors.reload(engine.store)
        assert engine.mirrors.vetoed == vetoes


def test_intake_refuses_a_malformed_event_and_logs_a_resend_once() -> None:
    """The intake stage alone: a malformed event is an `EventError`; an event logged twice
    is a duplicate the second time, and only the first is written."""
    with Engine(RULESET, SQLiteStore()) as engine:
        core = engine._core
        with pytest.raises(EventError):
            intake.admit(core, {"type": "rumor_flag"})
        admitted = intake.admit(core, BENIGN)
        first, again = EventContext(input=BENIGN), EventContext(input=BENIGN)
        with engine.batch():
            engine._unit.begin()
            assert intake.log(core, first, admitted, '{"x": 1}', None, None) is None
            resent = intake.log(core, again, admitted, '{"x": 1}', None, None)
        assert first.inserted
        assert resent is not None
        assert resent.duplicate
        assert not again.inserted


def test_an_event_no_rule_can_match_is_one_statement_and_no_durable_call() -> None:
    """Issue 19: the path of an event that no rule can match does no work it does not need:
    durable-rules is not asked, and inside a batch the event is one statement (its row)."""
    store = SQLiteStore()
    with Engine(RULESET, store, max_lead=None) as engine:
        engine.process(event("identity_verification", "a", 0 * DAY, "v", status="passed"))
        core = engine._core

        def refuse(snapshot: Mapping[str, Any]) -> list[str]:
            raise AssertionError("durable-rules asked on the quiet path")

        core.matcher.match = refuse  # type: ignore[method-assign]
        seen: list[str] = []
        with engine.batch():  # its transaction opened by a first quiet event
            engine.process({**BENIGN, "event_id": "f0"})
            store.connection.trace(seen.append)
            outcome = engine.process(BENIGN)
            store.connection.trace(None)
        assert outcome.accepted
        assert outcome.decisions == ()
        assert len(seen) == 1, seen
        assert seen[0].lstrip().upper().startswith("INSERT OR IGNORE INTO EVENTS "), seen


def test_the_mirrors_keep_the_clock_and_next_due_in_microseconds_beside_them() -> None:
    """The hot path compares `clock_us` and `next_due_us`, not aware datetimes (issue 19,
    runfast): setting either moment sets its µs, clearing it clears them, `move_clock` takes
    both, and a fresh read of the store sets them as well."""
    mirrors = Mirrors()
    assert (mirrors.clock_us, mirrors.next_due_us) == (None, None)
    moment = T0 + DAY
    mirrors.clock, mirrors.next_due = moment, moment + US
    assert (mirrors.clock_us, mirrors.next_due_us) == (to_micros(moment), to_micros(moment) + 1)
    mirrors.move_clock(moment + US, to_micros(moment) + 1)
    assert (mirrors.clock, mirrors.clock_us) == (moment + US, to_micros(moment) + 1)
    mirrors.clock = mirrors.next_due = None
    assert (mirrors.clock_us, mirrors.next_due_us) == (None, None)
    with Engine.from_path(max_lead=None) as engine:
        three_strikes(engine)
        fresh = Mirrors.load(engine.store)
        assert fresh.clock is not None
        assert fresh.next_due is not None
        assert fresh.clock_us == to_micros(fresh.clock)
        assert fresh.next_due_us == to_micros(fresh.next_due)


@pytest.mark.parametrize("edge", sorted(EDGES))
def test_a_quiet_event_at_a_freeze_end_ends_it_and_one_before_does_not(edge: str) -> None:
    """The quiet path is taken only before the next due moment, compared in µs: another
    account's benign event one µs before a freeze's end leaves it frozen; at the end or one
    µs after, that event's outcome ends the freeze."""
    with Engine.from_path(max_lead=None) as engine:
        for n, at in enumerate((DAY, 2 * DAY)):
            fields = {"content_id": f"c{n}", "verdict": "malicious_rumor", "source": "fact_check"}
            engine.process(event("rumor_flag", "a", at, f"m{n}", **fields))
        assert engine.status("a") == "frozen"
        end = engine.mirrors.next_due
        assert end is not None
        outcome = engine.process(
            {**BENIGN, "account_id": "b", "occurred_at": (end + EDGES[edge]).isoformat()}
        )
        ended = [c for c in outcome.status_changes if c.account_id == "a"]
        assert engine.status("a") == ("frozen" if edge == "inside" else "active")
        assert len(ended) == (0 if edge == "inside" else 1)


def _kept(store: SQLiteStore) -> dict[str, list[tuple[Any, ...]]]:
    """What a run left in the tables an undo touches (recorded times left out)."""
    db = store.connection
    queries = {
        "events": "SELECT event_id, payload FROM events ORDER BY event_id",
        "history": "SELECT stream, account_id, occurred_us, event_id FROM history ORDER BY 1, 2, 3",
        "audit": "SELECT seq, kind, account_id, event_id FROM audit ORDER BY seq",
        "rulesets": "SELECT digest FROM rulesets",
        "decisions": "SELECT decision_id, account_id, action FROM decisions ORDER BY 1",
    }
    return {
        name: [tuple(row) for row in db.execute(sql).fetchall()] for name, sql in queries.items()
    }


def _refused_then_kept() -> list[dict[str, Any]]:
    """A refused appeal first (the db's first write goes with it), then a freeze by three
    rumour flags, a refused appeal between them, and a duplicate."""
    flag = {"content_id": "c", "verdict": "malicious_rumor", "source": "fact_check"}
    unknown = {"decision_id": "d-unknown", "outcome": "overturned", "reviewer_id": "r"}
    return [
        event("appeal_outcome", "a", 0 * DAY, "e1", **unknown),
        event("rumor_flag", "a", 1 * DAY, "e2", **flag),
        event("appeal_outcome", "a", 2 * DAY, "e3", **unknown),
        event("rumor_flag", "a", 3 * DAY, "e4", **flag),
        event("rumor_flag", "a", 3 * DAY, "e4", **flag),
        event("identity_verification", "b", 4 * DAY, "e5", status="failed", reason="x"),
    ]


def test_process_outside_a_batch_takes_no_savepoint_and_inside_one_does() -> None:
    """Issue 19 (branch `mixfast`): an event alone in its transaction (`process()` outside a
    batch) is undone by rolling the transaction back, so it takes no `SAVEPOINT`/`RELEASE`;
    the same event inside a batch, beside others, still does."""
    store = SQLiteStore()
    with Engine(RULESET, store, max_lead=None) as engine:
        engine.process(event("identity_verification", "a", 0 * DAY, "v", status="passed"))
        failed = {"status": "failed", "reason": "forged_document"}
        for name, batch in (("alone", False), ("batched", True)):
            seen: list[str] = []
            store.connection.trace(seen.append)
            if batch:
                with engine.batch():
                    outcome = engine.process(
                        event("identity_verification", name, DAY, name, **failed)
                    )
            else:
                outcome = engine.process(event("identity_verification", name, DAY, name, **failed))
            store.connection.trace(None)
            assert outcome.decisions, name  # (a path that writes more than its row)
            marks = [s for s in seen if s.split()[0].upper() in ("SAVEPOINT", "RELEASE")]
            assert marks == ([] if not batch else ["SAVEPOINT event", "RELEASE event"]), name


def test_an_event_undone_alone_leaves_what_one_undone_in_a_batch_leaves() -> None:
    """Refused events undone by a rollback of their own transaction (`process()` outside a
    batch; the first one took the db's first write, the pack's record, with it) leave the
    tables, outcomes and audit chain that the same events undone to a savepoint in a batch
    leave: nothing of theirs but the rejection."""
    events = _refused_then_kept()
    kept: list[dict[str, list[tuple[Any, ...]]]] = []
    told: list[list[tuple[Any, ...]]] = []
    for batch in (False, True):
        store = SQLiteStore()
        with Engine(RULESET, store, max_lead=None) as engine:
            if batch:
                with engine.batch():
                    outcomes = [engine.process(item) for item in events]
            else:
                outcomes = [engine.process(item) for item in events]
            assert store.verify_audit().ok
            kept.append(_kept(store))
        told.append([(o.event_id, o.status, str(o.rejection), o.duplicate) for o in outcomes])
    assert kept[0] == kept[1]
    assert told[0] == told[1]
    assert [row[0] for row in kept[0]["events"]] == ["e2", "e4", "e5"]
    assert len(kept[0]["rulesets"]) == 1
    assert [row[1] for row in kept[0]["audit"]].count("rejected_event") == 2
