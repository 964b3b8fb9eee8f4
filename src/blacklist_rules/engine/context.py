"""What one event (or one move of the clock) carries through the stages: `EventContext`, made
fresh for each, so nothing of one event's scratch state outlives it; the `Occasion`s it is
decided on; and the `Outcome` the caller gets."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime

import attrs

from blacklist_rules.decisions import Decision, Reversal, RuleMatch, Status, StatusChange
from blacklist_rules.errors import EvaluationError, EventError
from blacklist_rules.events import Event
from blacklist_rules.identity import BlacklistEntry, Fingerprints
from blacklist_rules.windows import StreamWindow


@attrs.frozen
class Outcome:
    """What one event did. `decisions` holds enforced and shadow decisions alike."""

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


@attrs.define(slots=True, eq=False)
class EventContext:
    """One event's (or one clock move's) state while the stages run: made by the facade for
    each unit of work and dropped with it. What the unit of work undoes on a failure is here
    (`inserted`, `saved`, `fed`, `moved`); the rest is what the stages hand one another."""

    input: object = None
    """What the caller handed in (the raw line, dict or model): refused once, never quoted."""
    event: Event | None = None
    """The event, once parsed (masked, and fingerprinted if a registration)."""
    inserted: bool = False
    """Its row was written to the log: an undo forgets it."""
    saved: bool = False
    """A savepoint guards its further writes."""
    moved: bool = False
    """It changed a mirror (`Mirrors`): an undo reads the mirrors again."""
    at_us: int = 0
    """The event's time in µs."""
    fed: list[tuple[str, str, int, str]] = attrs.field(factory=list)
    """The history rows it wrote (stream, group, time, event id): written before any savepoint,
    so an undo forgets them one by one."""
    prints: Fingerprints | None = None
    """The registration's fingerprints."""
    hits: list[BlacklistEntry] = attrs.field(factory=list)
    """The blacklist entries in force the registration matches."""
    rows: dict[str, StreamWindow] = attrs.field(factory=dict)
    """The windows of the streams it fed."""
    elsewhere: list[tuple[int, str, str, frozenset[str]]] = attrs.field(factory=list)
    """Later registrations whose window `by` an identity value a late event completed."""
    changes: list[StatusChange] = attrs.field(factory=list)
    reversals: list[Reversal] = attrs.field(factory=list)
    decided: list[Decision] = attrs.field(factory=list)
    """Decisions taken aside (deadlines, stored events decided again, the cascade's)."""
