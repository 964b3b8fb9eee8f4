"""Every in-memory mirror of stored state, in one place (DESIGN §4, ARCHITECTURE.md).

The engine reads these on every event instead of asking the store. Each is true because one
writer changes the store only through the stages, which change the mirror beside it in the
same unit of work; an undone unit reads the mirrors it moved again (`EventContext.moved`),
and a transaction dropped, or another connection's commit (`Store.written_elsewhere`), reads
them all again before the next write (`reload`). On a store other processes write at once
(`Store.shared`), each event (a worker's batch) is a transaction and claims the accounts it
touches first (`Core.claim`): when another writer committed meanwhile, every mirror is read again
(`refresh`), so none is older than the last commit before the claim (ARCHITECTURE.md has the
table, mirror by mirror).
"""

from __future__ import annotations

from datetime import datetime

import attrs

from blacklist_rules.model.decisions import Status
from blacklist_rules.model.events import from_micros, to_micros
from blacklist_rules.model.identity import Listing
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import Veto, Watermark


@attrs.define(slots=True, eq=False)
class Mirrors:
    """What memory holds of the store. Read whole by `load`/`reload`; each stage that writes
    the stored state changes its mirror in the same step."""

    _clock: datetime | None = attrs.field(default=None, alias="clock")
    """Event time (`clock`, and `clock_us` beside it)."""
    clock_us: int | None = attrs.field(default=None, init=False)
    """`clock` in µs, set with it: the hot path compares integers, not aware datetimes
    (each such comparison or hash asks both sides' `utcoffset`; issue 19, runfast)."""
    _next_due: datetime | None = attrs.field(default=None, alias="next_due")
    """The next moment something happens by itself (`next_due`, and `next_due_us`)."""
    next_due_us: int | None = attrs.field(default=None, init=False)
    """`next_due` in µs, set with it."""
    due_at_commits: int | None = None
    """The db's commit count (`Store.commits`) when `next_due` was last read on a shared db:
    another writer's commit since may have added a deadline or a freeze that ends."""
    watermark: Watermark | None = None
    """The low watermark of a shared db (`Store.watermark`) as last read, with the commit count
    then (`watermark_at_commits`): every worker's progress and heartbeat is written in a
    commit (ours too), so while the count stays the same it still holds. A worker that goes
    silent without committing stops holding it only once the count moves: at the latest, our
    own next commit."""
    watermark_at_commits: int | None = None
    pruned_at_us: int | None = None
    """The history grid mark last pruned to (meta `pruned_at_us`), so a commit prunes only
    when the clock crossed a new mark. Another writer's prune just makes ours a no-op."""
    statuses: dict[str, Status] = attrs.field(factory=dict)
    """Accounts not `active` and their status (`store.flagged()`): set with
    `store.set_status` by `record.set_status` only. Another writer's change is unseen until
    `reload`: a decision would be taken against a stale status."""
    listed: Listing = attrs.field(factory=Listing)
    """Fingerprints in the blacklist and when each was in force (`store.listed_spans()`):
    changed with `store.enter` / `store.remove_entry` by `registry.sync`. Another writer's
    entry is unseen until `reload`: a registration could pass a check it should fail."""
    waiting: set[str] = attrs.field(factory=set)
    """Accounts that may have a pending deadline (a superset of `store.waiting_accounts()`:
    added to by `deadlines.schedule` and the cascade, shrunk only by a read). Another writer's
    deadline is unseen until `reload`: its `unless` event would not meet it."""
    inherited: dict[Veto, set[str]] = attrs.field(factory=dict)
    """Vetoes a scratch engine was given by the engine it replays for (`Engine.seed.inherit`): no
    stored state of its own, never reloaded away."""
    vetoed: dict[Veto, set[str]] = attrs.field(factory=dict)
    """Decisions a person reversed, never taken again: `inherited` plus `store.vetoed()`,
    added to by the cascade. Another writer's reversal is unseen until `reload`: the decision
    it reversed could be taken again."""

    @property
    def clock(self) -> datetime | None:
        """Event time: the latest `occurred_at` accepted. Kept by `deadlines.advance` (and the
        quiet path of `pipeline`); stored as meta `clock` only at commit (`unit.flush`).
        Another writer's later clock is seen only at `reload`: before it, ours may decide
        behind theirs."""
        return self._clock

    @clock.setter
    def clock(self, moment: datetime | None) -> None:
        self._clock = moment
        self.clock_us = None if moment is None else to_micros(moment)

    def move_clock(self, moment: datetime, moment_us: int) -> None:
        """Set the clock to `moment`, whose µs the caller has (`to_micros(moment)`)."""
        self._clock, self.clock_us = moment, moment_us

    @property
    def next_due(self) -> datetime | None:
        """The next moment a freeze ends or a deadline passes: `due(store)`, lowered by every
        decision with an end and every deadline scheduled. Another writer's earlier deadline
        is missed until `reload`: its freeze would end late."""
        return self._next_due

    @next_due.setter
    def next_due(self, moment: datetime | None) -> None:
        self._next_due = moment
        self.next_due_us = None if moment is None else to_micros(moment)

    @classmethod
    def load(cls, store: Store) -> Mirrors:
        """Every mirror read from the store."""
        mirrors = cls()
        mirrors.reload(store)
        return mirrors

    def reload(self, store: Store) -> None:
        """Read every mirror again: after a dropped transaction, or when another connection
        (a second writer) committed since our last transaction."""
        clock = store.meta("clock")
        self.clock = datetime.fromisoformat(clock) if clock else None
        pruned = store.meta("pruned_at_us")
        self.pruned_at_us = int(pruned) if pruned else None
        self.next_due = due(store)
        self.reread(store)

    def refresh(self, store: Store) -> None:
        """Another writer committed while our transaction is open (`Store.claim`): read
        every mirror again, but keep our clock when it is later (it is stored only at
        commit)."""
        clock = self.clock
        self.reload(store)
        if clock is not None and (self.clock is None or clock > self.clock):
            self.clock = clock

    def reread(self, store: Store) -> None:
        """Read the mirrors an event may move again (not the clock: the caller knows it)."""
        self.waiting = store.waiting_accounts()
        self.statuses = {row.account_id: Status(row.status) for row in store.flagged()}
        self.listed = load_listed(store)
        self.vetoed = self.load_vetoes(store)

    def load_vetoes(self, store: Store) -> dict[Veto, set[str]]:
        """Decisions never taken again: those reversed by a person in this store, and those a
        scratch engine was given by the engine it replays for."""
        return {**self.inherited, **store.vetoed()}

    def status(self, account_id: str) -> Status:
        return self.statuses.get(account_id, Status.ACTIVE)

    def due_by(self, moment: datetime) -> None:
        """Something happens by itself at `moment`: the next due moment is no later."""
        if self.next_due is None or moment < self.next_due:
            self.next_due = moment


def load_listed(store: Store) -> Listing:
    """The blacklist listing read from the store."""
    listed = Listing()
    for span in store.listed_spans():
        listed.add(span.fingerprint, span.entered_us, span.until_us)
    return listed


def due(store: Store) -> datetime | None:
    """The next moment something happens by itself: a freeze ends or a deadline passes."""
    text = store.next_expiry()
    expiry = datetime.fromisoformat(text) if text is not None else None
    deadline_us = store.next_deadline()
    deadline = from_micros(deadline_us) if deadline_us is not None else None
    return min((t for t in (expiry, deadline) if t is not None), default=None)
