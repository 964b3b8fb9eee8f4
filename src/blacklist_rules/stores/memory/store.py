"""The in-memory store: every concern over plain Python containers, nothing on disk.

For fast unit tests and scratch worlds; it passes the same contract suite as SQLite
(tests/contract/). A transaction copies the tables when it begins (and at each savepoint):
cheap for the small worlds it is for, not for a db of millions of events.
"""

from __future__ import annotations

from blacklist_rules.stores.one_writer import OneWriter

from .deadlines import MemoryDeadlines
from .decisions import MemoryDecisions
from .history import MemoryHistory
from .identities import MemoryIdentities
from .lists import MemoryLists
from .outbox import MemoryOutbox
from .retention import MemoryRetention
from .seed import MemorySeeding


class MemoryStore(
    MemoryRetention,
    MemoryDecisions,
    MemoryHistory,
    MemoryDeadlines,
    MemoryIdentities,
    MemorySeeding,
    OneWriter,
    MemoryOutbox,
    MemoryLists,
):
    """Every store protocol, in memory."""
