"""The real PostgreSQL server for tests: a fresh database per test run, dropped at its end.

The server is `BLACKLIST_RULES_TEST_POSTGRES` (a URL to its maintenance db), by default
`postgresql://postgres@127.0.0.1:5432/postgres`: this project's machines and CI run
PostgreSQL 15 there. When it cannot be reached, the tests that need it fail (CI has the
server: a skip would hide a store that no test ran); deselect them with `-m "not postgres"`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from blacklist_rules.stores import open_store
from blacklist_rules.stores.postgres import PostgresStore
from blacklist_rules.stores.postgres.schema import TABLES

SERVER = os.environ.get(
    "BLACKLIST_RULES_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def admin() -> psycopg.Connection[tuple[object, ...]]:
    """A connection to the server's maintenance db; a clear failure when there is none."""
    try:
        return psycopg.connect(SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        told = " ".join(str(exc).split())
    pytest.fail(
        f"PostgreSQL is not reachable at {SERVER} (set BLACKLIST_RULES_TEST_POSTGRES, or "
        f"deselect these tests with -m 'not postgres'): {told}",
        pytrace=False,
    )


def url_of(dbname: str) -> str:
    """The server's URL with another database."""
    return urlsplit(SERVER)._replace(path=f"/{dbname}").geturl()


def create_database() -> str:
    """A new, empty database of a name no other run uses; its name."""
    name = f"br_test_{uuid.uuid4().hex[:12]}"
    with admin() as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    """Drop a test database, closing what is still connected to it."""
    with admin() as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def empty_tables(url: str) -> None:
    """Empty every table of the store: a new store's state, without the cost of a new
    database or schema; the migrations stay applied. `DELETE`, not `TRUNCATE`: a test's few
    rows go at once, where a truncation makes new files for every table (0.25 s a test)."""
    with psycopg.connect(url, autocommit=True) as db:
        exists = db.execute("SELECT to_regclass('meta')").fetchone()
        if exists is not None and exists[0] is not None:
            with db.transaction():
                for table in TABLES:
                    db.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A database of its own for one test (migrations from none), dropped after it: its URL."""
    name = create_database()
    try:
        yield url_of(name)
    finally:
        drop_database(name)


def execute(url: str, statement: str) -> None:
    """Run one statement on the db behind the store's back (a tamperer, a newer version)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(statement.encode())


def column(url: str, query: str) -> list[object]:
    """The first column of a query's rows, read behind the store's back (what it holds)."""
    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute(query.encode())]


def pg_store(url: str) -> PostgresStore:
    """The store of a PostgreSQL URL, typed as what it is (tests reach past the protocol)."""
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    return store
