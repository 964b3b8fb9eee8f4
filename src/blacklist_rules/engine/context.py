"""What one event (or one move of the clock) carries through the stages: `EventContext`, made
fresh for each, so nothing of one event's scratch state outlives it; the `Occasion`s it is
decided on; and the `Outcome` the caller gets."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime
from time import perf_counter
from types import MappingProxyType

import attrs

from blacklist_rules.errors import EvaluationError, EventError
from blacklist_rules.model.decisions import Decision, Reversal, RuleMatch, Status, StatusChange
from blacklist_rules.model.events import Event
from blacklist_rules.model.identity import BlacklistEntry, Fingerprints
from blacklist_rules.windows import StreamWindow

_NO_ROWS: Mapping[str, StreamWindow] = MappingProxyType({})
"""No windows: the default a stage replaces whole (read only, shared)."""


@attrs.frozen
class Outcome:
    """What one event did. `decisions` holds enforced and shadow decisions alike.

    `ok` is False when evaluation failed (`failure` says why): then nothing was decided, the
    empty `decisions` mean "unknown", never "allowed", and the event may be retried. Only
    `process(..., failures="outcome")` and `run(..., failures="outcome")` return such
    outcomes; by default both raise the `failure`."""

    event_id: str | None
    account_id: str | None
    decisions: tuple[Decision, ...] = ()
    status_changes: tuple[StatusChange, ...] = ()
    status: Status | None = None
    reversals: tuple[Reversal, ...] = ()
    """Decisions the event reversed: the one an appeal or lift names, and the cascade's."""
    duplicate: bool = False
    rejection: EventError | None = None
    failure: EvaluationError | None = None
    line: int | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None and self.failure is None and not self.duplicate

    @property
    def ok(self) -> bool:
        """Evaluation completed: the decisions (maybe none) are all this event gets. A rejected
        or duplicate event is ok: it was handled, and will never decide."""
        return self.failure is None

    @classmethod
    def failed(cls, failure: EvaluationError) -> Outcome:
        """The outcome of an event whose evaluation failed, from what the error knows."""
        return cls(failure.event_id, failure.account_id, failure=failure, line=failure.line)


@attrs.frozen
class Occasion:
    """A moment at which rules matched for one account: an event's own time, a later moment a
    late event completed a window at, or a deadline's end."""

    at: datetime
    key: str
    """Seed of the decision id: the same events give the same ids on every replay."""
    event_id: str
    matches: tuple[RuleMatch, ...]
    evidence: MutableMapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Per rule, when the evidence is more than `event_id`: a window's events."""
    anchor: str | None = None
    windows: Mapping[str, StreamWindow] = attrs.field(factory=dict)
    """The windows its window counts were read from (capped: see `match.exact`)."""


class EventContext:
    """One event's (or one clock move's) state while the stages run: made by the facade for
    each unit of work and dropped with it. What the unit of work undoes on a failure is here
    (`inserted`, `saved`, `fed`, `moved`); the rest is what the stages hand one another.
    (A plain class with slots: one is made per event, on the hot path.)"""

    __slots__ = (
        "at_us",
        "changes",
        "decided",
        "elsewhere",
        "event",
        "fed",
        "hits",
        "input",
        "inserted",
        "moved",
        "prints",
        "replayed",
        "reversals",
        "rows",
        "saved",
        "started",
    )

    def __init__(self, input: object = None) -> None:
        self.started = perf_counter()
        """When the engine took it up (`time.perf_counter`): its duration in logs, metrics."""
        self.input = input
        """What the caller handed in (the raw line, dict or model): refused once, never
        quoted."""
        self.event: Event | None = None
        """The event, once parsed (masked, and fingerprinted if a registration)."""
        self.inserted = False
        """Its row was written to the log: an undo forgets it."""
        self.saved = False
        """A savepoint guards its further writes."""
        self.moved = False
        """It changed a mirror (`Mirrors`): an undo reads the mirrors again."""
        self.at_us = 0
        """The event's time in µs."""
        self.fed: list[tuple[str, str, int, str]] = []
        """The history rows it wrote (stream, group, time, event id): written before any
        savepoint, so an undo forgets them one by one."""
        self.prints: Fingerprints | None = None
        """The registration's fingerprints."""
        self.hits: Sequence[BlacklistEntry] = ()
        """The blacklist entries in force the registration matches."""
        self.rows: Mapping[str, StreamWindow] = _NO_ROWS
        """The windows of the streams it fed."""
        self.elsewhere: Sequence[tuple[int, str, str, frozenset[str]]] = ()
        """Later registrations whose window `by` an identity value a late event completed."""
        self.changes: list[StatusChange] = []
        self.reversals: list[Reversal] = []
        self.decided: list[Decision] = []
        """Decisions taken aside (deadlines, stored events decided again, the cascade's)."""
        self.replayed: set[str] = set()
        """Decisions the cascade's replay settled (reversed by a person or by it, or taken):
        its scratch world decided their accounts' events again in time order already, as they
        came, so `time_order.follow` does not decide them again from here."""
