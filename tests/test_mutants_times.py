"""Mutation-testing gaps in model/times.py (bench/mutation.py, target `times`): the stored text
of a moment is UTC whatever zone the machine runs in, and microseconds are exact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from blacklist_rules.model.times import from_micros, to_micros, utc_text

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def machine_in_shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone set to UTC+8 for the test, then put back."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("machine_in_shanghai")
def test_utc_text_is_utc_on_a_machine_in_another_zone() -> None:
    """The stored text is UTC, not the machine's local time: text compared lexically in SQLite
    must be in one zone, so a machine in UTC+8 writes the same text as one in UTC."""
    moment = datetime(2026, 12, 4, 8, 30, tzinfo=SHANGHAI)
    assert utc_text(moment) == "2026-12-04T00:30:00+00:00"
    assert utc_text(datetime(2026, 12, 4, 0, 30, tzinfo=UTC)) == "2026-12-04T00:30:00+00:00"


def test_micros_are_exact_at_the_epoch_and_one_microsecond_either_side() -> None:
    """`to_micros` counts whole microseconds from the epoch, and `from_micros` is its exact
    inverse, at the epoch and one microsecond either side of it. (The cache is emptied first:
    the conversion itself is under test, not answers cached by earlier tests.)"""
    to_micros.cache_clear()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for micros in (-1, 0, 1, 1_000_000, 1_764_806_400_000_001):
        moment = epoch + timedelta(microseconds=micros)
        assert to_micros(moment) == micros
        assert from_micros(micros) == moment
