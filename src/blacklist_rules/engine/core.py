"""What every stage reads and no event changes: the pack and the indexes derived from it, the
store, the identity key, the matcher, the switches, and the mirrors (`Mirrors`). One `Core`
per engine; the stages are functions over it and the event's `EventContext`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import attrs

from blacklist_rules.errors import EvaluationError
from blacklist_rules.matching.protocol import Matcher
from blacklist_rules.model.clock import TimeBound
from blacklist_rules.model.decisions import Status
from blacklist_rules.model.events import (
    ACCOUNT_FACTS,
    BLACKLISTED_IDENTITY,
    Event,
    parse_event,
)
from blacklist_rules.model.identity import LISTED_KINDS, Fingerprints, IdentityKey
from blacklist_rules.pack.compiler import CompiledRule, CompiledRuleset, Listener
from blacklist_rules.pack.conditions import comparisons
from blacklist_rules.pack.prior import PriorTest
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite import LOGGED_BY_ACCOUNT
from blacklist_rules.windows import feature_caps

from .gate import gates
from .mirrors import Mirrors


class Indexes:
    """The pack's rules and streams indexed the ways the stages look them up."""

    __slots__ = (
        "after",
        "anchored",
        "caps",
        "from_log",
        "gates",
        "history_groups",
        "linking",
        "listed",
        "prior",
        "reads_account",
        "reads_blacklist",
        "rules",
        "time_horizon_us",
        "time_ordered",
        "unless",
        "without_windows",
    )

    def __init__(self, ruleset: CompiledRuleset) -> None:
        self.anchored: dict[str, list[CompiledRule]] = {}
        """Which deadline rules an enforced decision of a rule starts."""
        self.unless: dict[str, list[str]] = {}
        """Which deadline rules an event of a stream meets."""
        for rule in ruleset.rules:
            if rule.deadline is not None:
                for name in rule.deadline.after_rules:
                    self.anchored.setdefault(name, []).append(rule)
                for key in rule.deadline.unless:
                    self.unless.setdefault(key, []).append(rule.id)
        self.after = {
            rule.deadline.after_listener: rule
            for rule in ruleset.rules
            if rule.deadline is not None and rule.deadline.after_listener
        }
        """The deadline rule each `after` listener starts."""
        self.from_log = {
            key
            for key, stream in ruleset.streams.items()
            if key not in ruleset.windows and set(stream.listener.types) <= LOGGED_BY_ACCOUNT
        }
        """Streams of verifications only, read by no window (a deadline's `unless`): the log
        already indexes those by account and time, so they are read from there."""
        self.history_groups = _history_groups(ruleset, self.from_log)
        self.caps = feature_caps(ruleset)  # see windows.py
        self.without_windows = {
            name: tuple(rule for rule in rules if rule.window is None)
            for name, rules in ruleset.by_type.items()
        }
        self.rules = {rule.id: rule for rule in ruleset.rules}
        self.gates = gates(ruleset)  # see gate.py
        self.linking = frozenset(LISTED_KINDS).union(
            stream.by for stream in ruleset.streams.values() if stream.by is not None
        )
        """The identity values through which one account's decisions reach another's: those
        the blacklist lists, and those some window groups registrations by."""
        self.reads_account, self.time_ordered, self.time_horizon_us = _past_readers(ruleset)
        self.listed: dict[str, tuple[str, ...]] = {}
        """Per event type: the lists its rules' `unless_listed` name (engine.lists)."""
        for rule in ruleset.rules:
            for name in rule.event_types:
                found = self.listed.get(name, ()) + tuple(rule.unless_listed)
                self.listed[name] = tuple(dict.fromkeys(found))
        self.prior: dict[str, dict[str, PriorTest]] = {}
        """Per event type: the `prior:` tests of its rules, by snapshot key (engine.prior)."""
        for rule, test in ((r, r.prior) for r in ruleset.rules if r.prior is not None):
            for name in rule.event_types:
                self.prior.setdefault(name, {})[test.key] = test
        self.reads_blacklist = frozenset(
            rule.id
            for rule in ruleset.rules
            if any(t.field == BLACKLISTED_IDENTITY for t in comparisons(rule.condition))
        )


def _past_readers(ruleset: CompiledRuleset) -> tuple[frozenset[str], frozenset[str], int]:
    """What reads the account's past: the event types some rule of which reads account facts
    (`reads_account`: only their snapshots carry them, two store reads an event); the rules
    that read account facts, have a `prior:` test or an `unless_listed` (`time_ordered`: a
    late change of the past, a late `list_update` included, decides the account's later
    events again, `engine.time_order`); and how far behind the clock that reaches
    (`time_horizon_us`: the pack's horizon, or a longer `prior:` span; a list change reaches
    back to the history cut)."""
    reading = [
        rule
        for rule in ruleset.rules
        if any(t.field in ACCOUNT_FACTS for t in comparisons(rule.condition))
    ]
    priors = [rule for rule in ruleset.rules if rule.prior is not None]
    exempting = [rule for rule in ruleset.rules if rule.unless_listed]
    return (
        frozenset(name for rule in reading for name in rule.event_types),
        frozenset(rule.id for rule in (*reading, *priors, *exempting)),
        max([ruleset.horizon_us] + [rule.prior.span_us for rule in priors if rule.prior]),
    )


_INDEXED: dict[int, tuple[CompiledRuleset, Indexes]] = {}
"""Each pack's `Indexes` by `id`, the pack held beside them (so the id is never reused)."""


def indexes_of(ruleset: CompiledRuleset) -> Indexes:
    """The pack's `Indexes`, built once: the reversal cascade builds a scratch engine per
    appeal or lift, and the pack, immutable, is indexed the same way each time."""
    found = _INDEXED.get(id(ruleset))
    if found is None or found[0] is not ruleset:
        if len(_INDEXED) >= 16:  # (packs reloaded many times: keep a few)
            _INDEXED.clear()
        found = _INDEXED[id(ruleset)] = (ruleset, Indexes(ruleset))
    return found[1]


WORKER_IDLE_TIMEOUT = 60.0
"""Seconds without a commit after which a worker is declared gone (default)."""


def _history_groups(
    ruleset: CompiledRuleset, from_log: set[str]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The streams with history rows grouped by account, and by each identity kind those
    grouped by its values (claims ahead read their rows: `ahead`)."""
    streams = ruleset.streams
    by_account = tuple(k for k, s in streams.items() if s.by is None and k not in from_log)
    by_value: dict[str, tuple[str, ...]] = {}
    for key, stream in streams.items():
        if stream.by is not None:
            by_value[stream.by] = (*by_value.get(stream.by, ()), key)
    return by_account, by_value


@attrs.frozen
class Printed:
    """A registration's phone in E.164 form and fingerprints (`registry.print_ahead`), and
    what they were worked out from (its identity values and day)."""

    values: dict[str, Any]
    on: date
    e164: str | None
    prints: Fingerprints

    def of(self, values: dict[str, Any], on: date) -> bool:
        return self.values == values and self.on == on


class Core:
    """The engine's shared state: built once, read by every stage."""

    __slots__ = (
        "given",
        "holds",
        "identity_key",
        "idle_timeout",
        "index",
        "matcher",
        "mirrors",
        "observe",
        "parsed",
        "prefilter",
        "printed",
        "progress_us",
        "prune",
        "ruleset",
        "store",
        "time_bound",
        "worker_id",
    )

    def __init__(
        self,
        ruleset: CompiledRuleset,
        store: Store,
        identity_key: IdentityKey,
        matcher: Matcher,
        *,
        prefilter: bool,
        prune: bool,
        time_bound: TimeBound,
    ) -> None:
        self.ruleset = ruleset
        self.store = store
        self.identity_key = identity_key
        self.matcher = matcher
        self.prefilter = prefilter
        self.prune = prune
        self.time_bound = time_bound
        self.index = indexes_of(ruleset)
        self.mirrors = Mirrors.load(store)
        self.observe: Callable[[Event, dict[str, Any]], None] | None = None
        self.given: dict[str, Fingerprints] = {}
        """Registrations' fingerprints a scratch engine was given (`Engine.seed.inherit`): a
        stored registration replayed is fingerprinted as when it came."""
        self.printed: dict[str, Printed] = {}
        """Registrations of the batch claimed ahead, fingerprinted then (`ahead.claim`), by
        event id: `identify` takes theirs from here."""
        self.parsed: dict[int, tuple[object, Event]] = {}
        """The same registrations as parsed then, by the id of the item (kept with it, so the
        id is not reused): `pipeline.process` takes the event once (`ahead.parsed`)."""
        self.worker_id: str | None = None
        """On a shared db, this engine's name among its workers (`Workers`): deadlines of
        other accounts then fire by the low watermark. None: one writer, one clock."""
        self.holds: tuple[str, ...] = ()
        """What this worker's progress holds the watermark by: its own name, or the
        partitions of a log it consumes (`workers.take_partitions`)."""
        self.progress_us = 0
        """The latest event time this worker processed (its share is in event-time order)."""
        self.idle_timeout = WORKER_IDLE_TIMEOUT
        """Seconds after which a silent worker no longer holds the watermark back."""

    @property
    def digest(self) -> str:
        return self.ruleset.digest

    def status(self, account_id: str) -> Status:
        return self.mirrors.statuses.get(account_id, Status.ACTIVE)

    def claim(self, account_id: str, identities: Iterable[tuple[str, str]] = ()) -> None:
        """Before reading or writing an account's state (or checking identity values): hold
        it against every other writer until our transaction ends (`Store.claim`); when one
        committed meanwhile, read the mirrors again (`Mirrors.refresh`). Nothing on a store
        with one writer."""
        if self.store.shared and self.store.claim(account_id, identities):
            self.mirrors.refresh(self.store)

    def agree(self, what: str, snapshot: dict[str, Any], expected: list[str]) -> None:
        """Durable-rules must fire what the guards found (fail closed)."""
        fired = self.matcher.match(snapshot)
        if sorted(fired) != sorted(expected):
            raise EvaluationError(
                f"rule engines disagree on {what}: durable-rules fired "
                f"{sorted(fired)}, the guard {sorted(expected)}"
            )

    def stored_match(self, payload: str, listener: Listener) -> tuple[Event, dict[str, Any]] | None:
        """A stored event and its snapshot, if the listener's filter holds for it: the guard
        decides and durable-rules must agree (fail closed), as for a live event; as for one,
        durable-rules is asked only when the guard holds, or always without the prefilter."""
        event = parse_event(payload)
        snapshot = self.ruleset.snapshot(self.ruleset.flat(event), event.type)
        held = event.type in listener.types and listener.guard(snapshot)
        if not held and self.prefilter:
            return None
        if held != (listener.name in self.matcher.match(snapshot)):
            raise EvaluationError(f"rule engines disagree on {event.event_id} ({listener.name})")
        return (event, snapshot) if held else None
