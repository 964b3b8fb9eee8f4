"""`run EVENTS.jsonl`: process events; decisions as JSON lines on stdout, a summary on stderr."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import attrs

from blacklist_rules import (
    Engine,
    EvaluationError,
    Outcome,
    StatusChange,
    TimeBound,
    iter_jsonl,
    parse_time,
)

from ._common import (
    KEY_HELP,
    Commands,
    _period,
    _positive,
    db_option,
    print_json,
    rules_option,
)


def add_parser(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="process a JSONL file of events",
        description="Processes the events of EVENTS.jsonl, one JSON object a line, in order: "
        "decisions as JSON lines on stdout, rejected lines, reversals and a summary on stderr. "
        "Events already processed (by event_id) are ignored, so a second run changes nothing.",
        epilog=KEY_HELP + " Where neither is set, run creates the key file (mode 0600).",
    )
    run.add_argument("events", metavar="EVENTS.jsonl", help="the events, one JSON object a line")
    rules_option(run)
    db_option(run, "the SQLite db to write (made if missing)")
    run.add_argument("--strict", action="store_true", help="exit 1 if any event was rejected")
    run.add_argument(
        "--until",
        metavar="TIME",
        help="then move event time to TIME (RFC 3339), ending the freezes whose time is up",
    )
    run.add_argument(
        "--max-lead",
        type=_period,
        default=TimeBound().max_lead,
        metavar="DURATION",
        help="how far an event may lead the wall clock; further ones are rejected (default 1d)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="let --until move event time beyond the wall clock plus --max-lead (audited)",
    )
    run.add_argument(
        "--commit-every",
        type=_positive,
        default=1000,
        metavar="N",
        help="commit (and flush decisions to stdout) every N events (default 1000)",
    )
    run.set_defaults(func=handle)


@attrs.define
class _Tally:
    """What a run did, for the summary on stderr: events by outcome, decisions by action and
    mode, reversals by who undid them."""

    counts: Counter[str] = attrs.field(factory=Counter)
    actions: Counter[str] = attrs.field(factory=Counter)
    reversed_by: Counter[str] = attrs.field(factory=Counter)


def handle(args: argparse.Namespace) -> int:
    events = Path(args.events)
    if not events.is_file():
        problem = "is not a file" if events.exists() else "no such events file"
        print(f"error: {problem}: {events}", file=sys.stderr)
        return 2
    until = parse_time(args.until) if args.until is not None else None  # fail before running
    if args.force and until is None:
        print("error: --force only forces --until", file=sys.stderr)
        return 2
    tally = _Tally()
    with Engine.from_path(
        args.rules,
        db=args.db,
        create_key=True,
        max_lead=args.max_lead,
        busy_timeout=args.busy_timeout,
    ) as engine:
        _start(engine, args, until)
        for outcome in engine.run(iter_jsonl(events), source=str(events)):
            _report(outcome, events, tally)
        if until is not None:
            try:
                _move_clock(engine, until, args.force, tally.actions)
            except EvaluationError as exc:  # recorded, nothing moved: a retry moves it all
                tally.counts["failed"] += 1
                print(f"{events}: FAILED moving the clock (nothing moved): {exc}", file=sys.stderr)
    _summarize(tally)
    if tally.counts["failed"]:
        return 3
    return 1 if args.strict and tally.counts["rejected"] else 0


def _start(engine: Engine, args: argparse.Namespace, until: datetime | None) -> None:
    """Before the first event: flush before commits, refuse an `--until` too far ahead, and
    say so when the identity key was created."""
    # Decisions reach the pipe before the batch that decided them commits (a kill then
    # loses none: a pipe keeps what was written; no fsync, it has no disk).
    engine.before_commit, engine.commit_every = sys.stdout.flush, args.commit_every
    if until is not None and not args.force and (engine.clock is None or until > engine.clock):
        engine.time_bound.refuse_move(until, engine.store.now())  # ClockError: exit 2
    if engine.identity_key.created:
        print(
            f"created the identity {engine.identity_key.source} (mode 0600): keep it with "
            "the db and back it up; without it the db cannot be opened",
            file=sys.stderr,
        )


def _report(outcome: Outcome, events: Path, tally: _Tally) -> None:
    """One event's outcome: its decisions on stdout, a rejection, failure or reversal on
    stderr."""
    if outcome.rejection is not None:
        tally.counts["rejected"] += 1
        print(f"{events}:{outcome.line}: rejected: {outcome.rejection}", file=sys.stderr)
    elif outcome.failure is not None:
        tally.counts["failed"] += 1
        print(
            f"{events}:{outcome.line}: FAILED (nothing decided): {outcome.failure}",
            file=sys.stderr,
        )
    elif outcome.duplicate:
        tally.counts["duplicates"] += 1
    else:
        tally.counts["accepted"] += 1
    for decision in outcome.decisions:
        tally.actions[f"{decision.action} ({decision.mode})"] += 1
        print_json(decision.to_dict(), sys.stdout)
    if outcome.reversals:  # what an appeal or a lift undid, and what followed
        for reversal in outcome.reversals:
            how = "by the cascade" if reversal.by_cascade else "by a person"
            tally.reversed_by[how] += 1
            print(
                f"{events}:{outcome.line}: {reversal.by_event} reversed "
                f"{reversal.decision_id} of {reversal.account_id} "
                f"({'by the cascade' if reversal.by_cascade else reversal.by})",
                file=sys.stderr,
            )
        _print_changes(outcome.status_changes)


def _summarize(tally: _Tally) -> None:
    counts = tally.counts
    total = sum(counts.values())
    print(
        f"processed {total} events: {counts['accepted']} accepted, "
        f"{counts['duplicates']} duplicates (ignored), {counts['rejected']} rejected, "
        f"{counts['failed']} failed",
        file=sys.stderr,
    )
    summary = ", ".join(f"{n} {k}" for k, n in sorted(tally.actions.items())) or "none"
    print(f"decisions: {summary}", file=sys.stderr)
    if tally.reversed_by:
        undone = ", ".join(f"{n} {k}" for k, n in sorted(tally.reversed_by.items(), reverse=True))
        print(f"reversals: {undone}", file=sys.stderr)


def _move_clock(engine: Engine, until: datetime, force: bool, actions: Counter[str]) -> None:
    """`run --until`: deadline decisions to stdout, flushed before they commit."""
    if engine.clock is not None and until <= engine.clock:
        print(
            f"clock already at {engine.clock.isoformat()}: --until "
            f"{until.isoformat()} moves nothing (event time never goes back)",
            file=sys.stderr,
        )
        return
    with engine.batch():  # committed once printed
        moved = engine.advance_to(until, force=force)
        for decision in moved.decisions:
            actions[f"{decision.action} ({decision.mode})"] += 1
            print_json(decision.to_dict(), sys.stdout)
    print(
        f"clock advanced to {engine.clock.isoformat() if engine.clock else '-'}: "
        f"{len(moved.decisions)} deadline decision(s), "
        f"{len(moved.status_changes)} status change(s)",
        file=sys.stderr,
    )
    _print_changes(moved.status_changes)


def _print_changes(changes: tuple[StatusChange, ...]) -> None:
    for change in changes:
        print(
            f"  {change.account_id}: {change.status_before} → {change.status_after} "
            f"({change.cause})",
            file=sys.stderr,
        )
