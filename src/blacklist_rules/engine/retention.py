"""History retention: a stream new to the store is filled from the log back to the horizon;
what no window can reach any more is forgotten, on a fixed grid of event time."""

from __future__ import annotations

from blacklist_rules.model.events import to_micros
from blacklist_rules.stores.audit_crosscheck import DEADLINES_PRUNED

from .core import Core


def fill_streams(core: Core) -> None:
    """A stream new to this store (a rule added since, or a scratch world's seeded at a history
    cut) starts from the events already in the log, back to the horizon; its rules decide
    nothing about the past. An event that came more than the horizon behind the clock entered
    no stream then (`observe`), so it enters none here: else a replay seeded at the cut counts
    what the live engine and a replay of the whole log never counted."""
    store, ruleset, clock = core.store, core.ruleset, core.mirrors.clock
    filled = store.filled_streams()
    clock_us = to_micros(clock) if clock else None
    for key, stream in sorted(ruleset.streams.items()):
        if key in filled or key in core.index.from_log:
            continue
        if clock_us is not None:
            since = clock_us - ruleset.horizon_us - stream.span_us
            if stream.by is not None:  # grouped by the registrations' fingerprints
                logged = store.registrations_since(stream.by, since)
            else:
                logged = store.events_since(stream.listener.types, since)
            for row in logged:
                found = core.stored_match(row.payload, stream.listener)
                if found is not None:
                    event, snapshot = found
                    at_us = to_micros(event.occurred_at)
                    if row.clock_us is not None and at_us < row.clock_us - ruleset.horizon_us:
                        continue  # it came too late to enter any stream (`observe`)
                    value = snapshot.get(stream.distinct) if stream.distinct else None
                    store.add_history(key, row.group, at_us, event.event_id, value)
        store.mark_stream_filled(key)


def prune_history(core: Core) -> None:
    """Forget what no window can reach: events more than the horizon plus their stream's
    span behind the clock. Pruning steps on a fixed grid of event time (an eighth of the
    horizon), so what is kept depends on the clock only, never on where commits fell."""
    mirrors, store, horizon = core.mirrors, core.store, core.ruleset.horizon_us
    if not core.prune or mirrors.clock is None or not horizon:
        return
    step = max(horizon // 8, 1)
    mark = to_micros(mirrors.clock) // step * step
    if mirrors.pruned_at_us is not None and mark <= mirrors.pruned_at_us:
        return
    for key, stream in core.ruleset.streams.items():
        store.prune_history(key, mark - horizon - stream.span_us)
    if store.prune_deadlines(mark - 2 * horizon):
        store.audit(DEADLINES_PRUNED, {"due_up_to_us": mark - 2 * horizon})
    mirrors.pruned_at_us = mark
    store.set_meta("pruned_at_us", str(mark))
