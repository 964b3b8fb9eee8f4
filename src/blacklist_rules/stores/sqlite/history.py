"""Each stream's history: the events a window counts, per account, read a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime

from blacklist_rules.model.history import HistoryRow

from .base import SQLiteBase


class SQLiteHistory(SQLiteBase):
    """The `history` and `streams` tables, and the log reads that fill a new stream."""

    def add_history(
        self, stream: str, account_id: str, occurred_us: int, event_id: str, value: object
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO history VALUES (?, ?, ?, ?, ?)",
            (stream, account_id, occurred_us, event_id, value),
        )

    def forget_history(self, stream: str, account_id: str, occurred_us: int, event_id: str) -> None:
        self._db.execute(
            "DELETE FROM history WHERE stream = ? AND account_id = ? AND occurred_us = ? "
            "AND event_id = ?",
            (stream, account_id, occurred_us, event_id),
        )

    def history(
        self, stream: str, account_id: str, after_us: int, before_us: int
    ) -> list[HistoryRow]:
        """(time, event id, value) of the stream's events with after < time < before."""
        rows = self._db.execute(
            "SELECT occurred_us, event_id, value FROM history WHERE stream = ? AND account_id = ? "
            "AND occurred_us > ? AND occurred_us < ? ORDER BY occurred_us, event_id",
            (stream, account_id, after_us, before_us),
        ).fetchall()
        return [HistoryRow(int(row[0]), str(row[1]), row[2]) for row in rows]

    def history_count(
        self,
        stream: str,
        account_id: str,
        after_us: int,
        until_us: int,
        limit: int,
        without: str | None,
    ) -> int:
        """Rows with after < time <= until, but the event `without`, counted up to `limit`."""
        return int(
            self._db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM history WHERE stream = ? AND account_id = ? "
                "AND occurred_us > ? AND occurred_us <= ? AND event_id IS NOT ? LIMIT ?)",
                (stream, account_id, after_us, until_us, without, limit),
            ).fetchone()[0]
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
    ) -> list[HistoryRow]:
        """Up to `limit` rows past the key, in time order, before `bound_us` (newest first:
        after it): a window read a page at a time. The key is the last row read (time, event
        id), or (time, None) for the rows later than that time (newest first: at that time
        and earlier)."""
        time_us, event_id = key
        past, bound, order = ("<", ">", "DESC") if newest_first else (">", "<", "ASC")
        if event_id is None:
            since = f"occurred_us {'<=' if newest_first else '>'} ?"
            args: tuple[object, ...] = (time_us,)
        else:
            since = f"(occurred_us, event_id) {past} (?, ?)"
            args = (time_us, event_id)
        rows = self._db.execute(
            "SELECT occurred_us, event_id, value FROM history WHERE stream = ? AND account_id = ? "
            f"AND {since} AND occurred_us {bound} ? "
            f"ORDER BY occurred_us {order}, event_id {order} LIMIT ?",
            (stream, account_id, *args, bound_us, limit),
        ).fetchall()
        return [HistoryRow(int(row[0]), str(row[1]), row[2]) for row in rows]

    def history_first_other(
        self, stream: str, account_id: str, after_us: int, before_us: int, known: list[object]
    ) -> HistoryRow | None:
        """The first row with after < time < before and a value, not one of `known`."""
        marks = ", ".join("?" * len(known))
        row = self._db.execute(
            "SELECT occurred_us, event_id, value FROM history WHERE stream = ? AND account_id = ? "
            "AND occurred_us > ? AND occurred_us < ? AND value IS NOT NULL "
            f"AND value NOT IN ({marks}) ORDER BY occurred_us, event_id LIMIT 1",
            (stream, account_id, after_us, before_us, *known),
        ).fetchone()
        return None if row is None else HistoryRow(int(row[0]), str(row[1]), row[2])

    def history_next_value(self, stream: str, account_id: str, above: object) -> object:
        """The least non-null value of the stream's rows above `above` (None: from the
        least), or None when there is none: the distinct values, one index seek each."""
        if above is None:
            query = "value IS NOT NULL"
            args: tuple[object, ...] = (stream, account_id)
        else:
            query = "value > ?"
            args = (stream, account_id, above)
        row = self._db.execute(
            f"SELECT value FROM history WHERE stream = ? AND account_id = ? AND {query} "
            "ORDER BY value LIMIT 1",
            args,
        ).fetchone()
        return None if row is None else row[0]

    def history_has_value(
        self,
        stream: str,
        account_id: str,
        value: object,
        after_us: int,
        until_us: int,
        without: str | None,
    ) -> bool:
        """Does a row but the event `without` have `value` and after < time <= until?"""
        row = self._db.execute(
            "SELECT 1 FROM history WHERE stream = ? AND account_id = ? AND value = ? "
            "AND occurred_us > ? AND occurred_us <= ? AND event_id IS NOT ? LIMIT 1",
            (stream, account_id, value, after_us, until_us, without),
        ).fetchone()
        return row is not None

    def prune_history(self, stream: str, up_to_us: int) -> int:
        """Forget the stream's events at or before `up_to_us`: no window can reach them."""
        return self._db.execute(
            "DELETE FROM history WHERE stream = ? AND occurred_us <= ?", (stream, up_to_us)
        ).rowcount

    def history_size(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM history").fetchone()[0])

    def filled_streams(self) -> set[str]:
        return {str(row[0]) for row in self._db.execute("SELECT key FROM streams")}

    def mark_stream_filled(self, key: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO streams VALUES (?, ?)", (key, datetime.now(UTC).isoformat())
        )
