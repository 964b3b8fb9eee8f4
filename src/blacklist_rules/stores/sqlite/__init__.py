"""The SQLite store, the embedded default: one module per concern, composed in `store`."""

from .events import PURGED
from .retention import BARE_ROWS, RETENTION_FLOOR
from .schema import LOGGED_BY_ACCOUNT, SCHEMA_VERSION
from .store import SQLiteStore

__all__ = [
    "BARE_ROWS",
    "LOGGED_BY_ACCOUNT",
    "PURGED",
    "RETENTION_FLOOR",
    "SCHEMA_VERSION",
    "SQLiteStore",
]
