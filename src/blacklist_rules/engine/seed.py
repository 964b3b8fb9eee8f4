"""The seed/replay API: how an engine is made to replay for another (the cascade's scratch
world, `scratch`) through public methods, never by writing its internals. `Engine.seed`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from blacklist_rules.model.events import to_micros
from blacklist_rules.model.identity import Fingerprints
from blacklist_rules.stores.records import Veto

from . import deadlines
from . import record as recording
from .context import EventContext
from .core import Core
from .mirrors import due, load_listed
from .unit import UnitOfWork


class Seed:
    """One engine's seed/replay API."""

    __slots__ = ("_core", "_unit")

    def __init__(self, core: Core, unit: UnitOfWork) -> None:
        self._core = core
        self._unit = unit

    def inherit(
        self,
        vetoes: dict[Veto, set[str]],
        fingerprints: Mapping[str, Fingerprints],
    ) -> None:
        """Replay for another engine: never take again the decisions a person reversed there
        (`vetoes`, by account, rule and moment: shared with that engine, not copied), and
        fingerprint its stored registrations as they were when they came (by event id)."""
        mirrors = self._core.mirrors
        mirrors.vetoed = mirrors.inherited = vetoes
        self._core.given.update(fingerprints)

    def resume_at(self, clock: datetime | None, since_us: int) -> None:
        """Take up a store seeded from another (`Seeding.seed_from`) with the clock it
        had then: open the unit of work (which fills the windows from the events seeded),
        then settle the deadlines not yet due at `clock` (else `since_us`)."""
        self._core.mirrors.clock = clock
        self._unit.begin()
        self.settle_deadlines(to_micros(clock) if clock else since_us)

    def settle_deadlines(self, from_us: int) -> None:
        """Deadlines due from `from_us` on are met (by an `unless` event that had come) or
        pending; a rule the pack in force lacks is left as it is. The waiting accounts and
        the blacklist listing are read again."""
        core = self._core
        store = core.store
        for row in store.deadlines_from(from_us):
            rule = core.index.rules.get(row.rule_id)
            if rule is None or rule.deadline is None:
                continue
            keys = rule.deadline.unless
            met = any(
                deadlines.seen(core, key, row.account_id, row.start_us, row.due_us) for key in keys
            )
            store.set_deadline_state(row.rule_id, row.anchor_id, "met" if met else "pending")
        core.mirrors.waiting = store.waiting_accounts()
        core.mirrors.listed = load_listed(store)

    def recompute(self, accounts: Iterable[str], cause: str, at: datetime) -> None:
        """Each account's status from the decisions standing in the store (`cause` says why),
        and the next due moment read again."""
        ctx = EventContext()
        for account in sorted(accounts):
            recording.recompute(self._core, ctx, account, cause, at, None)
        self._core.mirrors.next_due = due(self._core.store)
