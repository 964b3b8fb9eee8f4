"""One door to every store: a PostgreSQL URL opens a `PostgresStore`, anything else a SQLite
file (or `":memory:"`). psycopg is imported only when a URL asks for PostgreSQL, so the SQLite
default needs no driver."""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard
from urllib.parse import urlsplit

from blacklist_rules.errors import StoreError
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite.connection import BUSY_TIMEOUT

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str | Path) -> TypeGuard[str]:
    """Does `target` name a PostgreSQL db (a `postgresql://` or `postgres://` URL)?"""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def describe(target: str | Path) -> str:
    """The db as messages name it: a path as it is, a URL as `postgresql://user@host:port/db`,
    never with its password or query string (which may hold one)."""
    if not is_postgres(target):
        return str(target)
    try:
        parts = urlsplit(target)
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or ""
    except ValueError:
        return "postgresql://(an unreadable URL)"
    return f"postgresql://{user}{host}{port}{parts.path}"


def open_store(
    target: str | Path, *, read_only: bool = False, busy_timeout: float = BUSY_TIMEOUT
) -> Store:
    """The store at `target`: a `PostgresStore` for a PostgreSQL URL, else a `SQLiteStore`
    (a path, or `":memory:"`). A URL without the driver installed is a `StoreError` that
    names the extra to install."""
    if is_postgres(target):
        try:
            from blacklist_rules.stores.postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"{describe(target)}: PostgreSQL needs psycopg: install blacklist-rules[postgres]"
            ) from exc
        return PostgresStore(str(target), read_only=read_only, busy_timeout=busy_timeout)
    from blacklist_rules.stores.sqlite import SQLiteStore

    return SQLiteStore(target, read_only=read_only, busy_timeout=busy_timeout)
