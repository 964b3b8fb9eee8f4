"""Seeding on PostgreSQL: not built yet (issue 16).

The cascade seeds its scratch world from the store it runs over only behind a history cut; the
scratch world itself is SQLite. Until PostgreSQL can export a seed, such a cascade fails with a
clear `StoreError` instead of replaying from incomplete state.
"""

from __future__ import annotations

from typing import NoReturn

from blacklist_rules.errors import StoreError
from blacklist_rules.stores.protocols import Seeding
from blacklist_rules.stores.records import Seed

_MISSING = "seeding a scratch world from PostgreSQL is not built yet (issue 16)"


class PostgresSeeding:
    """`Seeding` refused with one clear error, so the store conforms and nothing half-seeds."""

    def export_for(self, accounts: set[str], cut_us: int, boundary: int) -> NoReturn:
        """See `Seeding.export_for`: refused."""
        raise StoreError(_MISSING)

    def load_seed(self, seed: Seed) -> NoReturn:
        """See `Seeding.load_seed`: refused."""
        raise StoreError(_MISSING)

    def seed_from(
        self, source: Seeding, accounts: set[str], cut_us: int, boundary: int
    ) -> NoReturn:
        """See `Seeding.seed_from`: refused."""
        raise StoreError(_MISSING)
