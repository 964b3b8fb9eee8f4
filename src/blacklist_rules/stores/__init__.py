"""Storage behind typed protocols (`protocols`), with typed rows (`records`); `sqlite` is the
embedded implementation, `postgres` the one shared by processes, `memory` the one for tests
and scratch worlds. `open_store` opens the one a path or URL names."""

from .factory import is_postgres, open_store

__all__ = ["is_postgres", "open_store"]
