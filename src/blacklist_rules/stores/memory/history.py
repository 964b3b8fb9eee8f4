"""In-memory stream histories: rows per (stream, group), read in (time, event id) order."""

from __future__ import annotations

from datetime import UTC, datetime

from blacklist_rules.model.history import HistoryRow as Row

from .base import MemoryBase


def _order(value: object) -> tuple[int, object]:
    """SQLite's order of values of any type: NULL, numbers, text, blobs."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, value) if isinstance(value, str) else (3, value)


class MemoryHistory(MemoryBase):
    """The `history` and `streams` tables, and the log reads that fill a new stream."""

    def _rows(self, stream: str, account_id: str) -> list[Row]:
        found = self._t.history.get((stream, account_id), {})
        return [Row(at_us, event_id, found[(at_us, event_id)]) for at_us, event_id in sorted(found)]

    def add_history(
        self, stream: str, account_id: str, occurred_us: int, event_id: str, value: object
    ) -> None:
        if isinstance(value, bool):  # SQLite keeps a bool as its integer
            value = int(value)
        rows = self._t.history.setdefault((stream, account_id), {})
        rows.setdefault((occurred_us, event_id), value)

    def forget_history(self, stream: str, account_id: str, occurred_us: int, event_id: str) -> None:
        self._t.history.get((stream, account_id), {}).pop((occurred_us, event_id), None)

    def history(self, stream: str, account_id: str, after_us: int, before_us: int) -> list[Row]:
        return [r for r in self._rows(stream, account_id) if after_us < r.at_us < before_us]

    def history_count(
        self,
        stream: str,
        account_id: str,
        after_us: int,
        until_us: int,
        limit: int,
        without: str | None,
    ) -> int:
        rows = self._rows(stream, account_id)
        return min(
            limit, sum(1 for r in rows if after_us < r.at_us <= until_us and r.event_id != without)
        )

    def history_page(
        self,
        stream: str,
        account_id: str,
        key: tuple[int, str | None],
        bound_us: int,
        limit: int,
        *,
        newest_first: bool = False,
    ) -> list[Row]:
        time_us, event_id = key
        rows = self._rows(stream, account_id)
        if newest_first:
            rows.reverse()
            past = [r for r in rows if (r.at_us <= time_us if event_id is None else r[:2] < key)]
            return [r for r in past if r.at_us > bound_us][:limit]
        past = [r for r in rows if (r.at_us > time_us if event_id is None else r[:2] > key)]
        return [r for r in past if r.at_us < bound_us][:limit]

    def history_first_other(
        self, stream: str, account_id: str, after_us: int, before_us: int, known: list[object]
    ) -> Row | None:
        for row in self.history(stream, account_id, after_us, before_us):
            if row.value is not None and row.value not in known:
                return row
        return None

    def history_next_value(self, stream: str, account_id: str, above: object) -> object:
        values = {r.value for r in self._rows(stream, account_id) if r.value is not None}
        if above is not None:
            values = {v for v in values if _order(v) > _order(above)}
        return min(values, key=_order, default=None)

    def history_has_value(
        self,
        stream: str,
        account_id: str,
        value: object,
        after_us: int,
        until_us: int,
        without: str | None,
    ) -> bool:
        return any(
            r.value is not None
            and r.value == value
            and after_us < r.at_us <= until_us
            and r.event_id != without
            for r in self._rows(stream, account_id)
        )

    def prune_history(self, stream: str, up_to_us: int) -> int:
        gone = 0
        for (name, _group), rows in self._t.history.items():
            if name == stream:
                old = [key for key in rows if key[0] <= up_to_us]
                gone += len(old)
                for key in old:
                    del rows[key]
        return gone

    def history_size(self) -> int:
        return sum(len(rows) for rows in self._t.history.values())

    def filled_streams(self) -> set[str]:
        return set(self._t.streams)

    def mark_stream_filled(self, key: str) -> None:
        self._t.streams.setdefault(key, datetime.now(UTC).isoformat())
