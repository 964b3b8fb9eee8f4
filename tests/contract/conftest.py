"""The `store` fixture every contract test runs on: one per implementation (the in-memory
store, the SQLite store on a file and in memory); a new implementation is one more entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite import SQLiteStore

MAKERS: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _folder: MemoryStore(),
    "sqlite-memory": lambda _folder: SQLiteStore(":memory:"),
    "sqlite-file": lambda folder: SQLiteStore(folder / "contract.db"),
}


@pytest.fixture(params=sorted(MAKERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new, empty store of each implementation."""
    made = MAKERS[request.param](tmp_path)
    try:
        yield made
    finally:
        made.close()
