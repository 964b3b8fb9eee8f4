"""Shared fixtures: an event factory and an engine over the default pack."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from blacklist_rules import Engine
from blacklist_rules.model.identity import KEY_ENV

from .support import TEST_KEY, EventFactory, event


@pytest.fixture(autouse=True)
def identity_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with an identity key in the environment, as a deployment would; tests
    of the key file itself remove it."""
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    return TEST_KEY


@pytest.fixture
def make_event() -> EventFactory:
    """A factory of events with fresh ids: make_event("rumor_flag", "a", days=3, verdict=...)."""
    counter = itertools.count(1)

    def make(
        kind: str, account: str, *, days: float = 0, event_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        return event(
            kind, account, timedelta(days=days), event_id or f"ev-{next(counter):05d}", **fields
        )

    return make


@pytest.fixture
def engine() -> Iterator[Engine]:
    """The default rule pack over an in-memory db."""
    with Engine.from_path() as engine:
        yield engine


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server for this test run, dropped at its end
    (see `tests/postgres.py`); the tests that use it fail when the server is unreachable."""
    from .postgres import create_database, drop_database, url_of

    name = create_database()
    try:
        yield url_of(name)
    finally:
        drop_database(name)


@pytest.fixture
def url() -> Iterator[str]:
    """A PostgreSQL database of its own on the real server, migrated, dropped after the test
    (`tests/postgres.py`). Modules that need another (the run's shared database, a URL with a
    password, a scratch table) define their own `url`, which takes precedence."""
    from blacklist_rules.stores import open_store

    from .postgres import fresh_database

    with fresh_database() as made:
        open_store(made).close()
        yield made
