"""The cascade's scratch world: the linked accounts replayed on a second engine from their
events that still count, with every decision a person reversed vetoed, up to our clock. It is
driven through the engine's public seed/replay API (`Engine.seed`: `inherit`, `resume_at`,
`recompute`; `process`, `advance_to`), never its internals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from blacklist_rules.model.events import from_micros
from blacklist_rules.model.identity import DEVICE, ID_NUMBER, PHONE, Fingerprints
from blacklist_rules.stores.records import Deadline, RuleFile, TakenDecision
from blacklist_rules.stores.sqlite import SQLiteStore

from .core import Core

if TYPE_CHECKING:
    from .facade import Engine

HISTORY_CUT = "the state at the history cut"
"""The cause of a replay's statuses at its start, when the history before it was purged."""


class Hypothetical(SQLiteStore):
    """The scratch world's store. What it decides is only compared with ours, then dropped
    with it at `close`, and nothing reads its audit trail or its rule texts before that: it
    keeps neither (a fifth of an appeal's or lift's instructions, counted by callgrind:
    bench/README.md, "Speed (issue 19)")."""

    def audit(self, kind: str, record: dict[str, Any], **where: Any) -> None:
        """Nothing: a hypothetical decision is never on the record."""

    def remember_ruleset(
        self, digest: str, rules: Sequence[RuleFile], notices: Mapping[str, str] | None = None
    ) -> None:
        """Only the digest (the decisions carry it); the rule texts are in our store."""
        self._digest = digest


def replay_without(
    core: Core, accounts: set[str]
) -> tuple[list[TakenDecision], list[Deadline], int]:
    """The decisions the replay took on the accounts, its pending deadlines of them, and the
    log position the replay started at (0, unless history was purged: see `_settle_into`)."""
    from .facade import Engine  # (the facade builds on the stages: imported when used)

    key = attrs.evolve(core.identity_key, source=f"{core.identity_key.source} (replay)")
    # SQLite in memory, not `MemoryStore`: measured on bench/bench_appeal.py (20,000 events,
    # 20 appeals) the in-memory store made an appeal ~20 % slower (median 4.1 ms against
    # 3.4 ms). Either is seeded at a history cut through the protocols (`Seeding`).
    store = Hypothetical()
    world = Engine(
        core.ruleset,
        store,
        prefilter=core.prefilter,
        prune=False,
        identity_key=key,
        max_lead=None,  # it replays what this engine admitted
    )
    world.hooks.mute = True  # its decisions are hypothetical: no log line, no metric
    try:
        boundary = _replay_into(core, world, store, accounts)
        return store.taken_of(accounts), store.pending_deadlines_of(accounts), boundary
    finally:
        world.close()


def _replay_into(core: Core, world: Engine, store: Hypothetical, accounts: set[str]) -> int:
    given = {}
    for event_id, pairs in core.store.prints_of(accounts).items():
        found = {pair.kind: pair.fingerprint for pair in pairs}
        given[event_id] = Fingerprints(
            id_number=found.get(ID_NUMBER), phone=found.get(PHONE), device=found.get(DEVICE)
        )
    world.seed.inherit(core.mirrors.vetoed, given)
    cut_us = core.store.history_cut_us
    with world.batch():
        boundary = 0 if cut_us is None else _settle_into(core, world, store, accounts, cut_us)
        for logged in core.store.replay_of(accounts, boundary):
            payload, clock_us = logged.payload, logged.clock_us
            if clock_us is not None and (
                world.clock is None or world.clock < from_micros(clock_us)
            ):
                world.advance_to(from_micros(clock_us))  # time other accounts moved
            world.process(payload)
        if core.mirrors.clock is not None:
            world.advance_to(core.mirrors.clock)
    return boundary


def _settle_into(
    core: Core, world: Engine, store: Hypothetical, accounts: set[str], cut_us: int
) -> int:
    """Start the replay where history is no longer settled: at the accounts' first event
    from the history cut on, from their state when it came (the events before it, the
    decisions before the cut recorded by then, their deadlines and blacklist entries,
    statuses). Returns that event's position in the log: the replay goes on from it."""
    source = core.store  # any store: seeding goes through the protocols (`Seeding`)
    first = source.first_arrival_since(accounts, cut_us)
    if first is None:  # none came yet: their state now
        boundary, clock = source.log_end(), core.mirrors.clock
    else:
        boundary = first.position
        clock = from_micros(first.clock_us) if first.clock_us is not None else None
    store.seed_from(source, accounts, cut_us, boundary)
    world.seed.resume_at(clock, cut_us)
    world.seed.recompute(accounts, HISTORY_CUT, clock or from_micros(cut_us))
    return boundary
