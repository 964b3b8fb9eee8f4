"""`run EVENTS.jsonl`: process events; decisions as JSON lines on stdout, a summary on stderr
(and, with `--summary-json`, in a file); `-` reads the events from stdin.

On a db other writers share (`postgresql://`), a batch of `--commit-every` events is one
transaction too, its accounts claimed ahead; as the server may refuse a batch whole (a
deadlock with another writer), each batch's outcomes are printed once it has committed, and a
refused batch runs again whole (up to `BATCH_TRIES` times): no decision is printed that was
not committed, none twice. A kill between a commit and its printing loses those lines from
stdout, not from the db (`status` shows them; a rerun finds the events done)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from tqdm import tqdm

from blacklist_rules import (
    Engine,
    EvaluationError,
    Outcome,
    StatusChange,
    StoreUnavailableError,
    iter_jsonl,
    parse_time,
)

from . import _logging
from ._common import (
    KEY_HELP,
    Commands,
    Exit,
    _positive,
    db_option,
    max_lead_option,
    print_json,
    progress,
    rules_option,
    shown,
    write_whole,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from blacklist_rules import EngineMetrics

STDIN = "-"
BATCH_TRIES = 5
"""Times a batch on a shared db is run before the store's refusal is the run's error."""
_log = logging.getLogger(__name__)


def add_parser(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="process a JSONL file of events",
        description="Processes the events of EVENTS.jsonl (- reads stdin), one JSON object a "
        "line, in order: decisions as JSON lines on stdout, rejected lines, reversals and a "
        "summary on stderr, and a progress bar when stderr is a terminal. Events already "
        "processed (by event_id) are ignored, so a second run changes nothing.",
        epilog=KEY_HELP + " Where neither is set, run creates the key file (mode 0600).",
    )
    run.add_argument(
        "events",
        metavar="EVENTS.jsonl",
        help="the events, one JSON object a line; - reads them from stdin",
    )
    rules_option(run)
    db_option(run, "the db to write (made if missing)")
    _worker_option(run)
    run.add_argument("--strict", action="store_true", help="exit 1 if any event was rejected")
    run.add_argument(
        "--until",
        metavar="TIME",
        help="then move event time to TIME (RFC 3339), ending the freezes whose time is up",
    )
    max_lead_option(run)
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
    run.add_argument(
        "--quiet",
        action="store_true",
        help="on stderr only what needs acting on: failures, errors, a new identity key; no "
        "rejected lines, reversals, progress or summary (default: all of them)",
    )
    run.add_argument(
        "--summary-json",
        type=Path,
        metavar="FILE",
        help="also write the summary to FILE as one JSON object (written whole; default: none)",
    )
    _logging.add_options(run)
    run.set_defaults(func=handle)


@attrs.define
class _Tally:
    """What a run did, for the summary: events by outcome, decisions by action and mode,
    reversals by who undid them."""

    counts: Counter[str] = attrs.field(factory=Counter)
    actions: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    reversed_by: Counter[str] = attrs.field(factory=Counter)

    def decided(self, action: str, mode: str) -> None:
        self.actions[(action, mode)] += 1

    def to_dict(self) -> dict[str, Any]:
        """The summary as `--summary-json` writes it."""
        counts = self.counts
        return {
            "events": {
                "processed": sum(counts.values()),
                **{k: counts[k] for k in ("accepted", "duplicates", "rejected", "failed")},
            },
            "decisions": [
                {"action": action, "mode": mode, "count": n}
                for (action, mode), n in sorted(self.actions.items())
            ],
            "reversals": {
                "by_person": self.reversed_by["by a person"],
                "by_cascade": self.reversed_by["by the cascade"],
            },
        }


@attrs.frozen
class _Say:
    """Where a run's lines on stderr go: through the progress bar (which redraws below
    them), and, with `--quiet`, only those that need acting on."""

    quiet: bool
    bar: tqdm[Any]

    def line(self, text: str) -> None:
        """What the run did: rejected lines, reversals, the summary."""
        if not self.quiet:
            self.always(text)

    def always(self, text: str) -> None:
        """What needs acting on: failures, a new identity key."""
        tqdm.write(text, file=sys.stderr)


def _worker_option(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--worker-id",
        default=None,
        metavar="NAME",
        help="on a postgresql:// db: this run's name among the db's workers (default: "
        "host:pid); a restarted worker gives its old name",
    )


def handle(args: argparse.Namespace) -> int:
    events = None if args.events == STDIN else Path(args.events)
    if events is not None and not events.is_file():
        problem = "is not a file" if events.exists() else "no such events file"
        print(f"error: {problem}: {events}", file=sys.stderr)
        return Exit.USAGE
    name = "<stdin>" if events is None else str(events)
    until = parse_time(args.until) if args.until is not None else None  # fail before running
    if args.force and until is None:
        print("error: --force only forces --until", file=sys.stderr)
        return Exit.USAGE
    return _run(args, events, name, until)


def _run(args: argparse.Namespace, events: Path | None, name: str, until: datetime | None) -> int:
    tally = _Tally()
    with Engine.from_path(
        args.rules,
        db=args.db,
        create_key=True,
        key_file=args.key_file,
        max_lead=args.max_lead,
        worker_id=args.worker_id,
        busy_timeout=args.busy_timeout,
    ) as engine:
        say = _Say(args.quiet, progress(events, quiet=args.quiet))
        _start(engine, args, until, say)
        metrics, stop = _metrics(engine, args)
        try:
            _events(engine, events, name, until, args.force, tally, say)
        finally:
            if stop is not None:
                stop()
        clock, digest = engine.clock, engine.digest
    if metrics is not None:
        metrics.write_textfile(args.metrics_file)
    _summarize(tally, say)
    code = Exit.EVALUATION if tally.counts["failed"] else Exit.OK
    if not code and args.strict and tally.counts["rejected"]:
        code = Exit.FAILED
    if args.summary_json is not None:
        summary: dict[str, Any] = {"source": name, "db": shown(args.db), "ruleset_digest": digest}
        summary |= tally.to_dict()
        summary |= {"clock": clock.isoformat() if clock else None, "exit_code": int(code)}
        write_whole([summary], args.summary_json)
    return code


def _events(
    engine: Engine,
    events: Path | None,
    name: str,
    until: datetime | None,
    force: bool,
    tally: _Tally,
    say: _Say,
) -> None:
    """The events, then the clock's move: failures reported, the run goes on."""
    lines = iter_jsonl(sys.stdin.buffer if events is None else events)
    shared = engine.store.shared and engine.commit_every > 1
    outcomes = _committed(engine, lines, name) if shared else _run_all(engine, lines, name)
    for outcome in outcomes:
        _report(outcome, name, tally, say)
        say.bar.update()
    say.bar.close()
    if until is not None:
        try:
            _move_clock(engine, until, force, tally, say)
        except EvaluationError as exc:  # recorded, nothing moved: a retry moves it all
            tally.counts["failed"] += 1
            say.always(f"{name}: FAILED moving the clock (nothing moved): {exc}")


def _run_all(engine: Engine, lines: Iterable[object], name: str) -> Iterator[Outcome]:
    return engine.run(lines, source=name, failures="outcome")


def _committed(engine: Engine, lines: Iterable[object], name: str) -> Iterator[Outcome]:
    """On a shared db: each batch of `commit_every` events run in one transaction, its
    outcomes given once it committed; a batch the store refused runs again whole."""
    it = iter(lines)
    while chunk := list(islice(it, engine.commit_every)):
        for attempt in range(1, BATCH_TRIES + 1):
            try:
                outcomes = list(engine.run(chunk, source=name, failures="outcome"))
            except StoreUnavailableError as exc:  # dropped whole: nothing of it committed
                if attempt == BATCH_TRIES:
                    raise
                _log.warning("%s: batch run again (%d/%d): %s", name, attempt, BATCH_TRIES, exc)
                time.sleep(0.05 * attempt)
                continue
            break
        yield from outcomes


def _metrics(
    engine: Engine, args: argparse.Namespace
) -> tuple[EngineMetrics | None, Callable[[], None] | None]:
    """Metrics when `--metrics-file` or `--metrics-port` asks for them (prometheus-client is
    imported only then), and what stops the HTTP server."""
    if args.metrics_file is None and args.metrics_port is None:
        return None, None
    from blacklist_rules import EngineMetrics

    metrics = EngineMetrics().attach(engine)
    stop = metrics.serve(args.metrics_port) if args.metrics_port is not None else None
    return (metrics if args.metrics_file is not None else None), stop


def _start(engine: Engine, args: argparse.Namespace, until: datetime | None, say: _Say) -> None:
    """Before the first event: flush before commits, refuse an `--until` too far ahead, and
    say so when the identity key was created."""
    # Decisions reach the pipe before the batch that decided them commits (a kill then
    # loses none: a pipe keeps what was written; no fsync, it has no disk).
    engine.before_commit = sys.stdout.flush
    # (on a shared db the outcomes come once their batch committed: `_committed`)
    engine.commit_every = args.commit_every
    if until is not None and not args.force and (engine.clock is None or until > engine.clock):
        engine.time_bound.refuse_move(until, engine.store.now())  # ClockError: exit 2
    if engine.identity_key.created:
        say.always(
            f"created the identity {engine.identity_key.source} (mode 0600): keep it with "
            "the db and back it up; without it the db cannot be opened"
        )


def _report(outcome: Outcome, name: str, tally: _Tally, say: _Say) -> None:
    """One event's outcome: its decisions on stdout, a rejection, failure or reversal on
    stderr."""
    if outcome.rejection is not None:
        tally.counts["rejected"] += 1
        say.line(f"{name}:{outcome.line}: rejected: {outcome.rejection}")
    elif outcome.failure is not None:
        tally.counts["failed"] += 1
        say.always(f"{name}:{outcome.line}: FAILED (nothing decided): {outcome.failure}")
    elif outcome.duplicate:
        tally.counts["duplicates"] += 1
    else:
        tally.counts["accepted"] += 1
    for decision in outcome.decisions:
        tally.decided(decision.action, decision.mode)
        print_json(decision.to_dict(), sys.stdout)
    if outcome.reversals:  # what an appeal or a lift undid, and what followed
        for reversal in outcome.reversals:
            how = "by the cascade" if reversal.by_cascade else "by a person"
            tally.reversed_by[how] += 1
            say.line(
                f"{name}:{outcome.line}: {reversal.by_event} reversed "
                f"{reversal.decision_id} of {reversal.account_id} "
                f"({'by the cascade' if reversal.by_cascade else reversal.by})"
            )
        _print_changes(outcome.status_changes, say)


def _summarize(tally: _Tally, say: _Say) -> None:
    counts = tally.counts
    total = sum(counts.values())
    say.line(
        f"processed {total} events: {counts['accepted']} accepted, "
        f"{counts['duplicates']} duplicates (ignored), {counts['rejected']} rejected, "
        f"{counts['failed']} failed"
    )
    actions = sorted(tally.actions.items())
    summary = ", ".join(f"{n} {action} ({mode})" for (action, mode), n in actions) or "none"
    say.line(f"decisions: {summary}")
    if tally.reversed_by:
        undone = ", ".join(f"{n} {k}" for k, n in sorted(tally.reversed_by.items(), reverse=True))
        say.line(f"reversals: {undone}")


def _move_clock(engine: Engine, until: datetime, force: bool, tally: _Tally, say: _Say) -> None:
    """`run --until`: deadline decisions to stdout, flushed before they commit."""
    if engine.clock is not None and until <= engine.clock:
        say.line(
            f"clock already at {engine.clock.isoformat()}: --until "
            f"{until.isoformat()} moves nothing (event time never goes back)"
        )
        return
    with engine.batch():  # committed once printed
        moved = engine.advance_to(until, force=force)
        for decision in moved.decisions:
            tally.decided(decision.action, decision.mode)
            print_json(decision.to_dict(), sys.stdout)
    say.line(
        f"clock advanced to {engine.clock.isoformat() if engine.clock else '-'}: "
        f"{len(moved.decisions)} deadline decision(s), "
        f"{len(moved.status_changes)} status change(s)"
    )
    _print_changes(moved.status_changes, say)


def _print_changes(changes: tuple[StatusChange, ...], say: _Say) -> None:
    for change in changes:
        say.line(
            f"  {change.account_id}: {change.status_before} → {change.status_after} "
            f"({change.cause})"
        )
