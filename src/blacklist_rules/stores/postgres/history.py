"""Each stream's history: the events a window counts, per group, read a page at a time.

A row's value (a distinct field's value, or None) is JSONB, so it keeps its type as SQLite's
untyped column does: values compare and order as JSON values (for the distinct values read one
at a time, any one total order does).

Rows added are held (`PgConnection.hold`) and go as one statement before the next statement
that names `history` or the commit, but for `history_page`, the read a window makes right
after the row it was fed (issue 16 item 5: 0.23 of a round trip an event): that read merges
the rows still held into the page it reads, so the insert waits for the commit. Where the
stream and group were read ahead with their claim (`claim_accounts`: `_history`), the page
is read from those rows and this transaction's: no round trip."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import attrs

from blacklist_rules.model.history import HistoryRow

from .base import PostgresBase
from .driver import json_read, json_value

_ADD_MANY = (
    "INSERT INTO history SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[], "
    "%b::text[], %b::jsonb[]) ON CONFLICT DO NOTHING"
)
"""Rows held (`add_history`), in one statement; a repeat changes nothing."""
_NAMES_HISTORY = re.compile(r"\bhistory\b")
_ROW = "SELECT occurred_us, event_id, value FROM history WHERE stream = %s AND account_id = %s "


def _row(row: tuple[Any, ...]) -> HistoryRow:
    return HistoryRow(int(row[0]), str(row[1]), row[2])


@attrs.frozen
class _Page:
    """Which rows a page of `history_page` holds, as its SQL says, for the rows still held:
    the stream's and group's, past the key (time, event id; or after the time, newest first
    at or before it, when no event id), before the bound (newest first: after it)."""

    stream: str
    account_id: str
    key: tuple[int, str | None]
    bound_us: int
    newest_first: bool

    def has(self, at_us: int, event_id: str) -> bool:
        time_us, key_id = self.key
        if self.newest_first:
            past = at_us <= time_us if key_id is None else (at_us, event_id) < (time_us, key_id)
            return bool(past) and at_us > self.bound_us
        past = at_us > time_us if key_id is None else (at_us, event_id) > (time_us, key_id)
        return bool(past) and at_us < self.bound_us

    def merged(
        self, found: list[HistoryRow], held: list[tuple[Any, ...]], limit: int
    ) -> list[HistoryRow]:
        """The page read merged with the rows held for it, in its order, up to `limit`; a
        held row with the key of a stored one (or of one held before it) is left out, as
        its insert leaves it (`ON CONFLICT DO NOTHING`)."""
        seen = {(row.at_us, row.event_id) for row in found}
        for row in held:
            mine = row[0] == self.stream and row[1] == self.account_id
            if mine and self.has(row[2], row[3]) and (row[2], row[3]) not in seen:
                seen.add((row[2], row[3]))
                found.append(HistoryRow(row[2], row[3], json_read(row[4])))
        found.sort(key=lambda row: (row.at_us, row.event_id), reverse=self.newest_first)
        return found[:limit]


class PostgresHistory(PostgresBase):
    """The `history` and `streams` tables."""

    def add_history(
        self, stream: str, account_id: str, occurred_us: int, event_id: str, value: object
    ) -> None:
        """Held for the next statement that names `history` (but `history_page`), a
        rollback or the commit, with the other rows held (one statement)."""
        row = (stream, account_id, occurred_us, event_id, json_value(value))
        self._db.hold(
            _ADD_MANY,
            row,
            _NAMES_HISTORY,
            "history rows kept",
            exact=False,
            kept=True,
        )

    def forget_history(self, stream: str, account_id: str, occurred_us: int, event_id: str) -> None:
        self._history.pop((stream, account_id), None)  # (read from the db again)
        self._db.execute(
            "DELETE FROM history WHERE stream = %s AND account_id = %s AND occurred_us = %s "
            "AND event_id = %s",
            (stream, account_id, occurred_us, event_id),
        )

    def history(
        self, stream: str, account_id: str, after_us: int, before_us: int
    ) -> list[HistoryRow]:
        """(time, event id, value) of the stream's events with after < time < before."""
        rows = self._db.all(
            _ROW + "AND occurred_us > %s AND occurred_us < %s ORDER BY occurred_us, event_id",
            (stream, account_id, after_us, before_us),
        )
        return [_row(row) for row in rows]

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
            self._db.value(
                "SELECT count(*) FROM (SELECT 1 FROM history WHERE stream = %s "
                "AND account_id = %s AND occurred_us > %s AND occurred_us <= %s "
                "AND event_id IS DISTINCT FROM %s::text LIMIT %s) AS counted",
                (stream, account_id, after_us, until_us, without, limit),
            )
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
        page = _Page(stream, account_id, key, bound_us, newest_first)
        stored = self._history.get((stream, account_id))
        if stored is not None and self._db.transaction is not None:  # (read ahead: memory)
            found = [row for row in stored if page.has(row.at_us, row.event_id)]
            return page.merged(found, self._db.written.get(_ADD_MANY, []), limit)
        time_us, event_id = key
        past, bound, order = ("<", ">", "DESC") if newest_first else (">", "<", "ASC")
        if event_id is None:
            since = f"occurred_us {'<=' if newest_first else '>'} %s"
            args: tuple[object, ...] = (time_us,)
        else:
            since = f"(occurred_us, event_id) {past} (%s, %s)"
            args = (time_us, event_id)
        rows = self._db.all(
            _ROW + f"AND {since} AND occurred_us {bound} %s "
            f"ORDER BY occurred_us {order}, event_id {order} LIMIT %s",
            (stream, account_id, *args, bound_us, limit),
            keep=_ADD_MANY,
        )
        found = [_row(row) for row in rows]
        held = self._db.unsent(_ADD_MANY)
        return page.merged(found, held, limit) if held else found

    def history_first_other(
        self, stream: str, account_id: str, after_us: int, before_us: int, known: list[object]
    ) -> HistoryRow | None:
        """The first row with after < time < before and a value, not one of `known`."""
        row = self._db.one(
            _ROW + "AND occurred_us > %s AND occurred_us < %s AND value IS NOT NULL "
            "AND value <> ALL(%s::jsonb[]) ORDER BY occurred_us, event_id LIMIT 1",
            (stream, account_id, after_us, before_us, [json_value(value) for value in known]),
        )
        return None if row is None else _row(row)

    def history_next_value(self, stream: str, account_id: str, above: object) -> object:
        """The least non-null value of the stream's rows above `above` (None: from the
        least), or None when there is none: the distinct values, one index seek each."""
        return self._db.value(
            "SELECT value FROM history WHERE stream = %s AND account_id = %s "
            "AND value IS NOT NULL AND (%s::jsonb IS NULL OR value > %s::jsonb) "
            "ORDER BY value LIMIT 1",
            (stream, account_id, json_value(above), json_value(above)),
        )

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
        row = self._db.one(
            "SELECT 1 FROM history WHERE stream = %s AND account_id = %s AND value = %s "
            "AND occurred_us > %s AND occurred_us <= %s AND event_id IS DISTINCT FROM %s::text "
            "LIMIT 1",
            (stream, account_id, json_value(value), after_us, until_us, without),
        )
        return row is not None

    def prune_history(self, stream: str, up_to_us: int) -> int:
        """Forget the stream's events at or before `up_to_us`: no window can reach them."""
        self._history.clear()
        return self._db.execute(
            "DELETE FROM history WHERE stream = %s AND occurred_us <= %s", (stream, up_to_us)
        )

    def history_size(self) -> int:
        return int(self._db.value("SELECT count(*) FROM history"))

    def filled_streams(self) -> set[str]:
        return {str(row[0]) for row in self._db.all("SELECT key FROM streams")}

    def mark_stream_filled(self, key: str) -> None:
        self._db.execute(
            "INSERT INTO streams VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (key, datetime.now(UTC).isoformat()),
        )
