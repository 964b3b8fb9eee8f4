"""How far event time may run ahead of the wall clock.

Event time is the latest `occurred_at` accepted, so one event dated years ahead (a producer's
clock typed wrong, a hostile sender) would put every later event beyond the history horizon and
fire every deadline at once. Stream processors bound it against the wall clock at ingestion
(Kafka's `message.timestamp.after.max.ms`, once `message.timestamp.difference.max.ms`):
an event may lead the wall clock by at most `max_lead`; a further one is refused whole, never
clamped, so the clock, history and statuses stay as they were. The wall clock only bounds what
is admitted: decisions are still taken in event time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from blacklist_rules.errors import ClockError, EventError

from .events import utc_text

DEFAULT_MAX_LEAD = timedelta(days=1)
"""A day: producers' clocks and time zones mistaken by hours pass, a year's typo does not."""
MAX_LEAD_LIMIT = timedelta(days=36_525)
"""100 years, the longest duration the rule files and the CLI read."""


def _lead(instance: object, attribute: object, value: timedelta | None) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta) or not timedelta(0) <= value <= MAX_LEAD_LIMIT:
        raise ValueError(f"max_lead must be a timedelta from 0 to 100 years or None, got {value!r}")


def duration_text(span: timedelta) -> str:
    """`1d`, `2h`, `90m`, `1.5s`: the form durations are written in, largest exact unit."""
    micros = span // timedelta(microseconds=1)
    for unit, size in (("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if micros and micros % (size * 1_000_000) == 0:
            return f"{micros // (size * 1_000_000)}{unit}"
    return f"{micros / 1_000_000:g}s"


@attrs.frozen
class TimeBound:
    """Event time may lead the wall clock by at most `max_lead` (`None`: unbounded, for
    replays of logs already admitted, and simulations)."""

    max_lead: timedelta | None = attrs.field(default=DEFAULT_MAX_LEAD, validator=_lead)

    def limit(self, wall: datetime) -> datetime | None:
        """The latest event time admitted when the wall clock reads `wall` (inclusive)."""
        return None if self.max_lead is None else wall + self.max_lead

    def exceeded(self, moment: datetime, wall: datetime) -> bool:
        """Is `moment` beyond the limit?"""
        limit = self.limit(wall)
        return limit is not None and moment > limit

    def admit(
        self, occurred_at: datetime, wall: datetime, *, event_id: str, account_id: str
    ) -> None:
        """Refuse an event dated beyond the limit: `EventError` on `occurred_at`."""
        if self.exceeded(occurred_at, wall):
            raise EventError(
                f"{utc_text(occurred_at)} is more than max_lead ({self._margin()}) ahead of the "
                f"wall clock ({utc_text(wall)}): a producer's clock or a date is wrong",
                path="occurred_at",
                event_id=event_id,
                account_id=account_id,
            )

    def refuse_move(self, moment: datetime, wall: datetime) -> None:
        """Refuse a move of the clock beyond the limit: `ClockError`."""
        if self.exceeded(moment, wall):
            raise ClockError(
                f"moving event time to {utc_text(moment)} refused: more than {self._margin()} "
                f"ahead of the wall clock ({utc_text(wall)}); force it (audited) if it is meant"
            )

    def forced_record(
        self, clock: datetime | None, moment: datetime, wall: datetime
    ) -> dict[str, object]:
        """The audit record of a move beyond the limit that was forced: what moved, when."""
        return {
            "from": utc_text(clock) if clock is not None else None,
            "to": utc_text(moment),
            "wall_clock": utc_text(wall),
            "max_lead": self._margin(),
            "forced": True,
        }

    def _margin(self) -> str:
        return duration_text(self.max_lead) if self.max_lead else "0s"
