"""Contract: a stream's history per group, its time bounds (exclusive or inclusive, as each
read says), ordered by time then event id."""

from __future__ import annotations

from blacklist_rules.stores.protocols import Store

ROWS = ((10, "e1", "x"), (20, "e3", "y"), (20, "e2", None), (30, "e4", "x"))


def _fill(store: Store) -> None:
    with store.begin():
        for at_us, event_id, value in ROWS:
            store.add_history("s", "a", at_us, event_id, value)
            store.add_history("s", "a", at_us, event_id, value)  # the same row once
        store.add_history("s", "b", 20, "other", "z")
        store.add_history("t", "a", 20, "other", "z")


def test_history_lies_strictly_between_its_bounds(store: Store) -> None:
    """`history(after, before)` excludes both ends; by time, then event id; a row is kept
    once however often it is added."""
    _fill(store)
    assert store.history("s", "a", 10, 30) == [(20, "e2", None), (20, "e3", "y")]
    assert [row[1] for row in store.history("s", "a", 9, 31)] == ["e1", "e2", "e3", "e4"]
    assert store.history_size() == 6


def test_a_count_includes_its_end_and_stops_at_its_limit(store: Store) -> None:
    """`history_count`: after < time <= until, but the event `without`, up to `limit`."""
    _fill(store)
    assert store.history_count("s", "a", 10, 30, 10, None) == 3
    assert store.history_count("s", "a", 10, 30, 10, "e4") == 2
    assert store.history_count("s", "a", 0, 30, 2, None) == 2


def test_pages_go_on_from_their_key_both_ways(store: Store) -> None:
    """`history_page` reads on past the last row read, before the bound (newest first:
    after it); a key without an event id starts after that time (newest first: at it)."""
    _fill(store)
    assert store.history_page("s", "a", (10, None), 30, 2) == [(20, "e2", None), (20, "e3", "y")]
    assert store.history_page("s", "a", (20, "e2"), 31, 5) == [(20, "e3", "y"), (30, "e4", "x")]
    assert store.history_page("s", "a", (20, None), 10, 5, newest_first=True) == [
        (20, "e3", "y"),
        (20, "e2", None),
    ]
    assert store.history_page("s", "a", (20, "e3"), 0, 5, newest_first=True) == [
        (20, "e2", None),
        (10, "e1", "x"),
    ]


def test_value_reads_skip_nulls(store: Store) -> None:
    """The first row of another value, the distinct values one by one, and whether a value
    lies within after < time <= until (but `without`)."""
    _fill(store)
    assert store.history_first_other("s", "a", 0, 40, ["x"]) == (20, "e3", "y")
    assert store.history_first_other("s", "a", 0, 40, ["x", "y"]) is None
    assert store.history_next_value("s", "a", None) == "x"
    assert store.history_next_value("s", "a", "x") == "y"
    assert store.history_next_value("s", "a", "y") is None
    assert store.history_has_value("s", "a", "x", 10, 30, None)
    assert not store.history_has_value("s", "a", "x", 10, 30, "e4")
    assert not store.history_has_value("s", "a", "x", 10, 29, None)


def test_forgetting_and_pruning(store: Store) -> None:
    """`forget_history` removes one row; `prune_history` a stream's rows at or before a time
    (every group), and says how many."""
    _fill(store)
    with store.begin():
        store.forget_history("s", "a", 30, "e4")
        assert store.prune_history("s", 20) == 4
    assert store.history("s", "a", 0, 100) == []
    assert store.history("t", "a", 0, 100) == [(20, "other", "z")]


def test_a_stream_is_marked_filled_once(store: Store) -> None:
    """`filled_streams` holds the keys marked, each once."""
    with store.begin():
        store.mark_stream_filled("k")
        store.mark_stream_filled("k")
    assert store.filled_streams() == {"k"}
