"""Claims made ahead (issue 16 item 5): on a store other writers share, a run committing
batches holds every account of the next batch in one round trip (`Claims.claim_accounts`)
before its first event, rather than one claim an event. The accounts are read cheaply from
what is about to come (an event's text is not parsed for it); a wrong guess costs nothing but
a lock held to the commit, as each event still claims its own account (found held)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from blacklist_rules.model.events import ParsedLine

from .core import Core

_ACCOUNT = re.compile(r'"account_id"\s*:\s*"([^"\\]*)"')
"""The first `account_id` of a JSON line (one with an escape in it is left to the event)."""


def account_of(item: object) -> str | None:
    """The account an item to process names, if it can be told without parsing it."""
    if isinstance(item, ParsedLine):
        item = item.event if item.event is not None else item.text
    if isinstance(item, str | bytes):
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        found = _ACCOUNT.search(text)
        return found.group(1) if found else None
    if isinstance(item, dict):
        value = item.get("account_id")
        return value if isinstance(value, str) else None
    value = getattr(item, "account_id", None)
    return value if isinstance(value, str) else None


def claimed_ahead(
    items: Iterable[object], size: int, claim_ahead: Callable[[list[object]], None]
) -> Iterator[object]:
    """The items, each `size` of them claimed (`Engine.claim_ahead`) before the first of
    them comes out; one at a time (nothing claimed ahead) when `size` is 1."""
    if size <= 1:
        yield from items
        return
    it = iter(items)
    while chunk := list(islice(it, size)):
        claim_ahead(chunk)
        yield from chunk


def claim(core: Core, items: list[object]) -> None:
    """Claim the accounts of the items in the open transaction; when another writer
    committed meanwhile, read the mirrors again (as `Core.claim`)."""
    accounts = {account for item in items if (account := account_of(item)) is not None}
    if accounts and core.store.claim_accounts(accounts):
        core.mirrors.refresh(core.store)
