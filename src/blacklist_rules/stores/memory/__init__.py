"""The in-memory store: the same protocols and contract as SQLite's, in Python containers."""

from .store import MemoryStore

__all__ = ["MemoryStore"]
