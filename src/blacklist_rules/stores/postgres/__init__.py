"""The PostgreSQL store, shared by processes: one module per concern, composed in `store`;
psycopg 3 is imported only in `driver`, its seam. Needs the `postgres` extra."""

from .schema import MIGRATIONS, SCHEMA_VERSION, Migration
from .store import PostgresStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "PostgresStore"]
