"""Named lists of accounts: a `list_update` event's change kept in event time with its audit
record, and which lists an account is on at an event's time (`unless_listed:`)."""

from __future__ import annotations

from collections.abc import Iterable

from blacklist_rules.model.events import ListUpdate, to_micros, utc_text
from blacklist_rules.pack.lists import listed_key
from blacklist_rules.stores.audit_crosscheck import LIST_CHANGE
from blacklist_rules.stores.lists import on_lists
from blacklist_rules.stores.protocols import Store

__all__ = ["LIST_CHANGE", "apply", "listed_facts"]


def apply(store: Store, event: ListUpdate) -> None:
    """Keep the event's change and its audit record (in the event's transaction)."""
    store.add_list_change(
        event.account_id, event.list, event.op, to_micros(event.occurred_at), event.event_id
    )
    record = {
        "event_id": event.event_id,
        "list": event.list,
        "op": event.op,
        "reason": event.reason,
        "actor": event.actor,
    }
    store.audit(
        LIST_CHANGE,
        record,
        account_id=event.account_id,
        event_id=event.event_id,
        occurred_at=utc_text(event.occurred_at),
    )


def listed_facts(
    store: Store, account_id: str, at_us: int, names: Iterable[str]
) -> dict[str, bool]:
    """Per list a rule names: is the account on it at `at_us` (snapshot keys `listed.NAME`)?
    Read from the changes stored when the event is matched, as account facts are."""
    names = list(names)
    if not names:
        return {}
    on = on_lists(store.list_changes(account_id, at_us), at_us)
    return {listed_key(name): name in on for name in names}
