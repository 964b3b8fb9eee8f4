"""The typed rows the store protocols return: frozen attrs records, never positional tuples
or string-keyed dicts (`to_dict()` only where a record leaves as JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from blacklist_rules.events import utc_text


@attrs.frozen
class HistoryPurge:
    """What a history purge did: its cut (events from before it are refused from now on),
    events removed, registrations and verifications kept past the windows' reach for the
    verified identity but reduced to their declared fields, and from when events are kept
    whole (None: nothing new was purged)."""

    cut: datetime
    removed: int
    reduced: int
    kept_from: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cut": utc_text(self.cut),
            "removed": self.removed,
            "reduced": self.reduced,
            "kept_from": utc_text(self.kept_from) if self.kept_from else None,
        }
