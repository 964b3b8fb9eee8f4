"""The `store` fixture every contract test runs on: one per implementation (the in-memory
store, the SQLite store on a file and in memory, the PostgreSQL store on the real server); a
new implementation is one more entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blacklist_rules.stores import open_store
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite import SQLiteStore

MAKERS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _folder: MemoryStore(),
    "sqlite-memory": lambda _folder: SQLiteStore(":memory:"),
    "sqlite-file": lambda folder: SQLiteStore(folder / "contract.db"),
}
"""The implementations that need nothing but this machine, by name."""


@pytest.fixture(
    params=[*sorted(MAKERS), pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new, empty store of each implementation. PostgreSQL's is the run's database with
    its tables emptied after each test (cheaper than a database or schema per test)."""
    if request.param == "postgres":
        from tests.postgres import empty_tables

        url = request.getfixturevalue("postgres_url")
        made = open_store(url)
        try:
            yield made
        finally:
            made.close()
            empty_tables(url)
        return
    made = MAKERS[request.param](tmp_path)
    try:
        yield made
    finally:
        made.close()
