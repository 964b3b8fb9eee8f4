"""Claims made ahead (issue 16 item 5): on a store other writers share, a run committing
batches holds every account of the next batch in one round trip (`Claims.claim_accounts`)
before its first event, rather than one claim an event. The accounts are read cheaply from
what is about to come (an event's text is not parsed for it); a wrong guess costs nothing but
a lock held to the commit, as each event still claims its own account (found held). The
identity values of registrations go with it (each registration parsed and fingerprinted
ahead, once: the pipeline takes the event parsed, `identify` what was worked out), and the
events' ids, for a store to look them all up at once (a wrong one costs a look-up: each event
is still logged by its own id)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice

from blacklist_rules.errors import EventError
from blacklist_rules.model.events import Event, ParsedLine, Registration, parse_event

from .core import Core
from .registry import print_ahead

_REGISTRATION = re.compile(r'"type"\s*:\s*"registration"')
"""A JSON line that may be a registration (one that is not is never parsed ahead)."""
_FIELDS = {name: re.compile(rf'"{name}"\s*:\s*"([^"\\]*)"') for name in ("account_id", "event_id")}
"""The first value of a field in a JSON line (one with an escape in it is left to the event)."""


def field_of(item: object, name: str) -> str | None:
    """A text field (`account_id`, `event_id`) of an item to process, if it can be told
    without parsing it."""
    if isinstance(item, ParsedLine):
        item = item.event if item.event is not None else item.text
    if isinstance(item, str | bytes):
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        found = _FIELDS[name].search(text)
        return found.group(1) if found else None
    if isinstance(item, dict):
        value = item.get(name)
        return value if isinstance(value, str) else None
    value = getattr(item, name, None)
    return value if isinstance(value, str) else None


def account_of(item: object) -> str | None:
    """The account an item to process names, if it can be told without parsing it."""
    return field_of(item, "account_id")


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
    """Claim the accounts of the items in the open transaction, with the identity values of
    their registrations; when another writer committed meanwhile, read the mirrors again (as
    `Core.claim`)."""
    accounts = {account for item in items if (account := account_of(item)) is not None}
    ids = {event_id for item in items if (event_id := field_of(item, "event_id")) is not None}
    core.printed, core.parsed = {}, {}
    values = sorted({value for item in items for value in _identities(core, item)})
    pairs = _history(core, accounts, values)
    if accounts and core.store.claim_accounts(accounts, ids, values, pairs):
        core.mirrors.refresh(core.store)


def _history(
    core: Core, accounts: set[str], values: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The (stream, group) pairs whose history the batch's events read, their groups claimed
    with it: each stream grouped by account for each account, each grouped by an identity
    value for each value of its kind."""
    by_account, by_value = core.index.history_groups
    pairs = [(stream, account) for stream in by_account for account in accounts]
    pairs += [(stream, print_) for kind, print_ in values for stream in by_value.get(kind, ())]
    return pairs


def _identities(core: Core, item: object) -> list[tuple[str, str]]:
    """The identity values (kind, fingerprint) an item claims when it comes: a registration's
    (`registry.print_ahead`), none for any other item or one that does not parse (it is
    refused when it comes)."""
    if isinstance(item, ParsedLine):
        item = item.event if item.event is not None else item.text
    if isinstance(item, str | bytes) and _REGISTRATION.search(_text(item)) is None:
        return []
    if isinstance(item, dict) and item.get("type") != "registration":
        return []
    try:
        event = parse_event(item)
    except EventError:
        return []
    if not isinstance(event, Registration):
        return []
    if not isinstance(item, Mapping):  # text or a frozen model (a dict could change)
        core.parsed[id(item)] = (item, event)
    return print_ahead(core, event)


def parsed(core: Core, item: object) -> Event | None:
    """What an item was parsed to when claimed ahead (`claim`): given once, then forgotten
    (a retry parses it again); None for an item not parsed then."""
    found = core.parsed.pop(id(item), None)
    return found[1] if found is not None and found[0] is item else None


def _text(item: str | bytes) -> str:
    return item.decode("utf-8", "replace") if isinstance(item, bytes) else item
