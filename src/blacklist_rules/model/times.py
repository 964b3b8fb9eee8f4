"""Event time as the store keeps it (whole microseconds since the epoch) and as it writes it
(fixed-form UTC text); `model.events` offers the same names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    """Event time as whole microseconds since the epoch, as the store keeps it.

    Cached as `to_micros` (issue 19): an event's time is converted two or three times on its
    way (match, windows, record); equal datetimes are the same instant (an aware and a naive
    one are never equal), so the cache never answers for another moment. (Wrapped, not
    decorated: mutmut 3 leaves decorated functions unmutated, bench/mutation.py.)"""
    return round(moment.timestamp() * 1_000_000)


to_micros = lru_cache(maxsize=4096)(_micros)


def from_micros(micros: int) -> datetime:
    """The UTC moment of `to_micros`, exactly (no float round trip)."""
    return _EPOCH + timedelta(microseconds=micros)


def utc_text(moment: datetime) -> str:
    """Fixed-form UTC ISO text: it sorts lexically in time order, so SQLite can compare it."""
    return moment.astimezone(UTC).isoformat()
