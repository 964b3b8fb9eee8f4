"""The engine's read side (the queries of the facade): statuses, decisions, deadlines, the
audit trail, blacklist checks, the watermark, from the owner's thread only. A base of `Engine`
so that the facade reads as lifecycle and processing; it holds no state of its own."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from blacklist_rules.errors import EngineClosedError, EngineThreadError
from blacklist_rules.model.decisions import (
    Decision,
    ScheduledDeadline,
    Status,
)
from blacklist_rules.model.events import from_micros, utc_text
from blacklist_rules.model.identity import BlacklistEntry
from blacklist_rules.stores.records import AuditRecord, Watermark

from . import registry
from .core import Core
from .unit import UnitOfWork


class Queries:
    """What an engine answers without processing anything."""

    _core: Core
    _owner: threading.Thread
    _unit: UnitOfWork

    @property
    def clock(self) -> datetime | None:
        """Event time: the latest `occurred_at` processed."""
        return self._core.mirrors.clock

    @property
    def closed(self) -> bool:
        """`close()` was called (or the `with` block ended): any further use but another
        `close()` raises `EngineClosedError`."""
        return self._unit.closed

    def _owned(self) -> None:  # no use after close, nor from another thread than the owner's
        if self._unit.closed:
            raise EngineClosedError()
        if threading.current_thread() is not self._owner:
            raise EngineThreadError(
                thread_name(self._owner), thread_name(threading.current_thread())
            )

    @property
    def watermark(self) -> Watermark | None:
        """A shared db's low watermark (least progress of its live running workers) and who
        holds it; None when none runs, or on a store with one writer."""
        self._owned()
        return self._core.store.watermark(self._core.idle_timeout)

    # --- queries ------------------------------------------------------------------------
    def status(self, account_id: str) -> Status:
        """The account's status now: `active` for an account no decision stands against."""
        self._owned()
        return self._core.status(account_id)

    def standing(self, account_id: str) -> list[Decision]:
        """The enforced decisions behind the account's status."""
        self._owned()
        clock = utc_text(self.clock) if self.clock else None
        return [d.decision for d in self._core.store.standing(account_id, clock)]

    def decisions(self, account_id: str) -> list[Decision]:
        """Every decision ever taken on the account, enforced and shadow, oldest first."""
        self._owned()
        return [d.decision for d in self._core.store.decisions_of(account_id)]

    def deadlines(self, account_id: str) -> list[ScheduledDeadline]:
        """The account's deadlines: rule, anchor, start and due time (event time), and state:
        `pending`, `met` (an `unless` event came), `fired` or `void` (anchor reversed)."""
        self._owned()
        return [
            ScheduledDeadline(
                rule_id=row.rule_id,
                anchor=row.anchor_id,
                starts_at=from_micros(row.start_us),
                due_at=from_micros(row.due_us),
                state=row.state,
            )
            for row in self._core.store.deadlines_of(account_id)
        ]

    def audit_records(self, account_id: str | None = None) -> Iterator[AuditRecord]:
        """The audit trail's records (an account's, or all), oldest first; `to_dict()` gives
        each as `audit show --json` prints it."""
        self._owned()
        return self._core.store.audit_records(account_id)

    def is_blacklisted(
        self, identity: Mapping[str, object], *, at: datetime | str | None = None
    ) -> bool:
        """Does this ID number or phone match a blacklist entry in force? For operators to ask
        before they create an account. `identity` is `{"id_number": …, "phone": …}` (either);
        `at` defaults to the engine's clock. Unknown keys or non-text values: `EventError`."""
        self._owned()
        prints, at_us = registry.lookup(self._core, identity, at)
        listed = self._core.mirrors.listed
        return any(listed.in_force(fingerprint, at_us) for _, fingerprint in prints)

    def blacklist_match(
        self, identity: Mapping[str, object], *, at: datetime | str | None = None
    ) -> BlacklistEntry | None:
        """The entry `is_blacklisted` found (the earliest entered), or None."""
        self._owned()
        prints, at_us = registry.lookup(self._core, identity, at)
        found = registry.entries_at(self._core, prints, at_us)
        return min(found, key=lambda e: (e.entered_at, e.decision_id), default=None)

    def blacklist_entries(self, account_id: str | None = None) -> list[BlacklistEntry]:
        """Blacklist entries not removed: an account's, or all (fingerprints, never values)."""
        self._owned()
        return [registry.entry_of(row) for row in self._core.store.entries(account_id)]

    def notice(self, decision_id: str, lang: str = "zh", tz: str = "UTC") -> Any:
        """Deprecated: `blacklist_rules.render_notice(engine.store, decision_id, lang=…,
        tz=…)`, the report itself (a `Notice`), which needs no engine.

        Rendering is a report over the store, a layer above the engine, which imports none
        of it: this shim reaches it as a user does, through the package's public surface,
        and goes in the next minor release."""
        warnings.warn(
            "Engine.notice is deprecated: use blacklist_rules.render_notice(engine.store, "
            "decision_id, lang=..., tz=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        import blacklist_rules  # the public surface (no layer), not the reports layer

        return blacklist_rules.render_notice(self._core.store, decision_id, lang=lang, tz=tz)


def thread_name(thread: threading.Thread) -> str:
    return f"{thread.name!r} (ident {thread.ident})"
