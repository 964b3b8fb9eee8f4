"""The `blacklist-rules` command line; it uses only the public API.

Exit codes: 0 success; 1 rule files or events rejected (with `--strict`), or a check failed;
2 usage errors and unreadable inputs; 3 a rule evaluation failed (fail closed); 4 the db cannot
be used now (locked past `--busy-timeout`, disk full, read-only, damaged or not a database):
nothing of the interrupted batch was committed, run again once the cause is gone.

Verbs that only read (`status`, `check`, `explain`, `notice`, `audit show|verify|export`,
`diff --shadow`) open the db read-only: they never write it, and take no writer lock; the
others hold the db's writer lock while they run (one writer per db: see `writer_lock`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from . import (
    AuditHead,
    BlacklistRulesError,
    Coverage,
    Engine,
    EvaluationError,
    EventError,
    HistoryPurge,
    RuleLoadError,
    SQLiteStore,
    StatusChange,
    StoreUnavailableError,
    TimeBound,
    __version__,
    default_rules_path,
    dsa_statements,
    explain_decision,
    iter_jsonl,
    load_cases,
    load_ruleset,
    parse_duration,
    parse_time,
    render_html,
    render_notice,
    replay_diff,
    rule_json_schema,
    run_case,
    shadow_diff,
    why_not,
)
from .connection import BUSY_TIMEOUT

DEFAULT_DB = "blacklist-rules.db"
DEFAULT_CASES = "tests/cases"


def _print_json(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")


def _cmd_validate(args: argparse.Namespace) -> int:
    ruleset = load_ruleset(args.rules)
    where = args.rules or default_rules_path()
    print(f"{where}: {len(ruleset.rules)} rules OK, ruleset digest {ruleset.digest}")
    if ruleset.notices is not None:
        languages = ", ".join(sorted(ruleset.notices.languages))
        days = ruleset.notices.appeal_within / timedelta(days=1)
        print(f"  notices in {languages}, appeals within {days:g} days")
    for rule in ruleset.rules:
        when = f"on {', '.join(rule.event_types)}"
        if rule.window is not None:
            when += f", {rule.window.count} {rule.window.label}"
        if rule.deadline is not None:
            when = rule.deadline.label
        print(f"  {rule.id} v{rule.version}  {when}  → {rule.action} ({rule.mode})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    events = Path(args.events)
    if not events.is_file():
        problem = "is not a file" if events.exists() else "no such events file"
        print(f"error: {problem}: {events}", file=sys.stderr)
        return 2
    until = parse_time(args.until) if args.until is not None else None  # fail before running
    if args.force and until is None:
        print("error: --force only forces --until", file=sys.stderr)
        return 2
    counts: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    reversed_by: Counter[str] = Counter()
    with Engine.from_path(
        args.rules,
        db=args.db,
        create_key=True,
        max_lead=args.max_lead,
        busy_timeout=args.busy_timeout,
    ) as engine:
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
        for outcome in engine.run(iter_jsonl(events), source=str(events)):
            if outcome.rejection is not None:
                counts["rejected"] += 1
                print(f"{events}:{outcome.line}: rejected: {outcome.rejection}", file=sys.stderr)
            elif outcome.failure is not None:
                counts["failed"] += 1
                print(
                    f"{events}:{outcome.line}: FAILED (nothing decided): {outcome.failure}",
                    file=sys.stderr,
                )
            elif outcome.duplicate:
                counts["duplicates"] += 1
            else:
                counts["accepted"] += 1
            for decision in outcome.decisions:
                actions[f"{decision.action} ({decision.mode})"] += 1
                _print_json(decision.to_dict(), sys.stdout)
            if outcome.reversals:  # what an appeal or a lift undid, and what followed
                for reversal in outcome.reversals:
                    how = "by the cascade" if reversal.by_cascade else "by a person"
                    reversed_by[how] += 1
                    print(
                        f"{events}:{outcome.line}: {reversal.by_event} reversed "
                        f"{reversal.decision_id} of {reversal.account_id} "
                        f"({'by the cascade' if reversal.by_cascade else reversal.by})",
                        file=sys.stderr,
                    )
                _print_changes(outcome.status_changes)
        if until is not None:
            try:
                _move_clock(engine, until, args.force, actions)
            except EvaluationError as exc:  # recorded, nothing moved: a retry moves it all
                counts["failed"] += 1
                print(f"{events}: FAILED moving the clock (nothing moved): {exc}", file=sys.stderr)
    total = sum(counts.values())
    print(
        f"processed {total} events: {counts['accepted']} accepted, "
        f"{counts['duplicates']} duplicates (ignored), {counts['rejected']} rejected, "
        f"{counts['failed']} failed",
        file=sys.stderr,
    )
    summary = ", ".join(f"{n} {k}" for k, n in sorted(actions.items())) or "none"
    print(f"decisions: {summary}", file=sys.stderr)
    if reversed_by:
        undone = ", ".join(f"{n} {k}" for k, n in sorted(reversed_by.items(), reverse=True))
        print(f"reversals: {undone}", file=sys.stderr)
    if counts["failed"]:
        return 3
    return 1 if args.strict and counts["rejected"] else 0


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
            _print_json(decision.to_dict(), sys.stdout)
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


def _existing_db(path: str) -> Path:
    db = Path(path)
    if not db.is_file():
        raise BlacklistRulesError(f"no such db: {db}")
    return db


def _reader(args: argparse.Namespace) -> Engine:
    """An engine over the existing db, opened read-only: a query never writes."""
    return Engine.from_path(
        args.rules, db=_existing_db(args.db), read_only=True, busy_timeout=args.busy_timeout
    )


def _store(args: argparse.Namespace, *, read_only: bool) -> SQLiteStore:
    return SQLiteStore(_existing_db(args.db), read_only=read_only, busy_timeout=args.busy_timeout)


def _cmd_status(args: argparse.Namespace) -> int:
    with _reader(args) as engine:
        status = engine.status(args.account)
        standing = engine.standing(args.account)
        pending = [
            {**d, "starts_at": d["starts_at"].isoformat(), "due_at": d["due_at"].isoformat()}
            for d in engine.deadlines(args.account)
            if d["state"] == "pending"
        ]
        entries = engine.blacklist_entries(args.account)
        if args.json:
            _print_json(
                {
                    "account_id": args.account,
                    "status": status,
                    "standing": [d.to_dict() for d in standing],
                    "pending_deadlines": pending,
                    "blacklist_entries": [entry.to_dict() for entry in entries],
                },
                sys.stdout,
            )
            return 0
        print(f"{args.account}: {status}")
        for decision in standing:
            ends = [f"at {decision.expires_at.isoformat()}"] if decision.expires_at else []
            if decision.end_condition == "verification_passed":
                ends.append("when a verification passes")
            until = f" (ends {' or '.join(ends)})" if ends else ""
            print(
                f"  {decision.decision_id}  {decision.action}{until}  by {decision.rule_id} "
                f"v{decision.rule_version}  ({decision.reason})  evidence: "
                f"{', '.join(decision.evidence)}"
            )
        for deadline in pending:
            print(
                f"  deadline {deadline['rule_id']} due {deadline['due_at']} "
                f"(counted from {deadline['anchor']})"
            )
        for entry in entries:
            until = f" until {entry.ends_at.isoformat()}" if entry.ends_at else ""
            print(
                f"  on the blacklist: its {entry.kind} (fingerprint "
                f"{entry.fingerprint[:12]}…) by {entry.decision_id}{until}"
            )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    """Pre-registration checks: one identity (a JSON object) a line, one answer a line. The
    values come on a file or stdin, never as arguments (shell history, process lists)."""
    at = parse_time(args.at) if args.at is not None else None
    found = errors = 0
    if args.identities != "-" and not Path(args.identities).is_file():
        print(f"error: no such file: {args.identities}", file=sys.stderr)
        return 2
    with _reader(args) as engine:
        for number, line in enumerate(_lines(args.identities), start=1):
            if not line.strip():
                continue
            try:
                identity = json.loads(line)
                if not isinstance(identity, dict):
                    raise EventError("an identity must be a JSON object")
                entry = engine.blacklist_match(identity, at=at)
            except (json.JSONDecodeError, EventError) as exc:
                errors += 1
                reason = "malformed JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
                print(f"{args.identities}:{number}: {reason}", file=sys.stderr)
                _print_json({"line": number, "error": reason}, sys.stdout)
                continue
            found += entry is not None
            _print_json(
                {
                    "line": number,
                    "blacklisted": entry is not None,
                    "entry": entry.to_dict() if entry is not None else None,
                },
                sys.stdout,
            )
    return 1 if found else 2 if errors else 0


def _lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from sys.stdin
        return
    with open(path, encoding="utf-8") as handle:
        yield from handle


def _history_purged(done: HistoryPurge) -> str:
    cut = done.cut.isoformat(timespec="seconds")
    if done.kept_from is None:
        return f"event history: settled before {cut} already, nothing more to purge"
    kept = done.kept_from.isoformat(timespec="seconds")
    return (
        f"event history: settled before {cut}\n"
        "  events from before it are refused; the cascade re-evaluates nothing decided before it\n"
        f"  removed {done.removed} events from before {kept} (out of every window's reach)\n"
        f"  reduced {done.reduced} registrations and verifications (kept for the verified "
        "identity) to their declared fields"
    )


def _audit_store(args: argparse.Namespace, *, read_only: bool = True) -> SQLiteStore:
    """The store an `audit` verb reads: an existing blacklist-rules db. Any other file (an
    empty one included) is refused as it is, never given a schema and found "intact"."""
    db = _existing_db(args.db)
    if SQLiteStore.schema_of(db) is None:
        raise BlacklistRulesError(f"{db} is not a blacklist-rules db (it has no store schema)")
    return SQLiteStore(db, read_only=read_only, busy_timeout=args.busy_timeout)


def _audit_verify(args: argparse.Namespace) -> int:
    """`audit verify`: exit 1 with the first break, or when the trail does not reach the
    published head given with `--expect-head`."""
    store = _audit_store(args)
    try:
        verdict = store.verify_audit(args.expect_head)
    finally:
        store.close()
    print(verdict, file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1


def _audit_head(args: argparse.Namespace) -> int:
    """`audit head`: the head to publish, `COUNT:HASH` on one line, from a trail that
    verifies (publishing the head of a changed trail would vouch for the change)."""
    store = _audit_store(args)
    try:
        verdict = store.verify_audit()
    finally:
        store.close()
    if not verdict.ok:
        return _does_not_verify(args.db, verdict, "no head to publish")
    head = verdict.current
    if head is None:
        print(
            f"error: the audit trail of {args.db} holds no chained record yet: no head to publish",
            file=sys.stderr,
        )
        return 1
    if args.json:
        fields = {"count": head.count, "hash": head.hash, "recorded_at": head.recorded_at}
        _print_json({"head": str(head), **fields}, sys.stdout)
    else:
        print(head)
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        return _audit_verify(args)
    if args.audit_command == "head":
        return _audit_head(args)
    writes = args.audit_command == "purge" or getattr(args, "set", None) is not None
    store = _audit_store(args, read_only=not writes)
    if args.audit_command == "retention":
        try:
            if args.set is not None:
                store.set_retention(args.set)
            default = " (the default, the legal floor for logs; none is configured)"
            print(
                f"audit records are kept {store.retention().days} days"
                + (default if store.retention_is_default() else "")
            )
        finally:
            store.close()
        return 0
    if args.audit_command == "purge":
        try:
            before = parse_time(args.before) if args.before else None
            verdict = store.verify_audit()  # here, not in purge_audit: it sets the exit code
            if not verdict.ok:
                return _does_not_verify(args.db, verdict, "nothing purged")
            cut = args.before or f"the {store.retention().days}-day retention"
            removed, kept = store.purge_audit(before, verify=False)
            store.note_horizon(load_ruleset(args.rules).horizon_us)  # (if the db does not say)
            history = store.purge_history(before)
        finally:
            store.close()
        if removed:
            print(
                f"removed {removed} audit records logged before {cut}; the trail now "
                f"starts at #{kept}, and `audit verify` checks it from the checkpoint"
            )
        else:
            print(f"no audit record was logged before {cut}")
        print(_history_purged(history))
        return 0
    if args.audit_command == "export":
        try:
            return _export(args, store)
        finally:
            store.close()
    try:
        records = store.audit_records(args.account)
        if args.json:
            for record in records:
                _print_json(record, sys.stdout)
        else:
            _show_records(list(records))
    finally:
        store.close()
    return 0


def _show_records(records: list[dict[str, Any]]) -> None:
    """`audit show`: a record a line, its number, time and kind in columns as wide as the
    widest shown (a kind the code adds later aligns too), then the record."""
    rows = [
        (
            f"#{record['seq']}",
            record["occurred_at"] or "-",
            record["kind"],
            json.dumps(record["record"], ensure_ascii=False, default=str),
        )
        for record in records
    ]
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(3)]
    widths.append(0)  # the record itself, as it is
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 1 <= number <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 1000000, got {text!r}")
    return number


def _period(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _head(text: str) -> AuditHead:
    try:
        return AuditHead.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _does_not_verify(db: str, verdict: object, outcome: str, *hints: str) -> int:
    """A verb refused because the audit trail does not verify: a check failed, exit 1 (as
    `audit verify` exits)."""
    hint = "; ".join(("audit verify shows the break", *hints))
    print(
        f"error: the audit trail of {db} does not verify: {verdict}; {outcome} ({hint})",
        file=sys.stderr,
    )
    return 1


def _export(args: argparse.Namespace, store: SQLiteStore) -> int:
    """`audit export`: refused when the chain does not verify (what it holds may have been
    changed), unless `--force`; written whole or not at all."""
    verdict = store.verify_audit()
    if not verdict.ok:
        if not args.force:
            return _does_not_verify(args.db, verdict, "nothing exported", "--force exports anyway")
        print(
            f"warning: the audit trail of {args.db} does not verify: {verdict}; exporting "
            "anyway (--force): what follows may have been changed",
            file=sys.stderr,
        )
    if args.format == "dsa":
        lines: Iterator[Any] = iter(dsa_statements(store, verify=False))
    else:
        lines = store.audit_records()
    if args.output is None:
        for line in lines:
            _print_json(line, sys.stdout)
        return 0
    target = Path(args.output)
    count = 0
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            for line in lines:
                _print_json(line, handle)
                count += 1
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    what = "statements of reasons" if args.format == "dsa" else "audit records"
    print(f"wrote {count} {what} to {target}", file=sys.stderr)
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    """Run rule test cases, report failures by name, then coverage; exit 1 on any failure or
    coverage under `--min-coverage`."""
    ruleset = load_ruleset(args.rules)
    cases = load_cases([Path(p) for p in args.cases or [DEFAULT_CASES]])
    coverage = Coverage(ruleset)
    results = [run_case(ruleset, case, coverage) for case in cases]
    failed = [result for result in results if not result.passed]
    report = coverage.report()
    low = args.min_coverage is not None and report["percent"] < args.min_coverage
    if args.json:
        _print_json(
            {
                "cases": [
                    {"name": r.case.name, "where": r.case.where, "problems": list(r.problems)}
                    for r in results
                ],
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "coverage": report,
            },
            sys.stdout,
        )
        return 1 if failed or low else 0
    for result in failed:
        print(result.describe())
    print(f"{len(results)} cases: {len(results) - len(failed)} passed, {len(failed)} failed")
    print(f"coverage {report['percent']}% ({report['covered']} of {report['total']}):")
    for rule in report["rules"]:
        print(f"  {'fired' if rule['fired'] else 'NEVER FIRED':12} {rule['rule_id']}")
        for condition in rule["conditions"]:
            marks = ("T" if condition["seen_true"] else "-") + (
                "F" if condition["seen_false"] else "-"
            )
            print(f"      {marks}  {condition['condition']}")
    if low:
        print(f"coverage {report['percent']}% is below --min-coverage {args.min_coverage}")
    return 1 if failed or low else 0


def _cmd_explain(args: argparse.Namespace) -> int:
    """A decision explained, or why a rule did not act on an account."""
    if (args.decision is None) == (args.account is None or args.rule is None):
        print("error: give DECISION_ID, or --account and --rule", file=sys.stderr)
        return 2
    with _reader(args) as engine:
        if args.decision is not None:
            found = explain_decision(engine, args.decision)
            if args.json:
                _print_json(found, sys.stdout)
            else:
                _show_decision(found)
            return 0
        answer = why_not(engine, args.account, args.rule)
    if args.json:
        _print_json(answer, sys.stdout)
        return 0
    print(f"rule {answer['rule_id']} on {answer['account_id']}:")
    for deadline in answer.get("deadlines", ()):
        print(f"  deadline from {deadline['anchor']} due {deadline['due_at']}: {deadline['state']}")
    for seen in answer.get("events", ()):
        head = f"  {seen['event_id']}  {seen['type']}  {seen['occurred_at']}: "
        if "decision_id" in seen:
            print(head + f"the rule decided {seen['decision_id']}")
        elif seen["held"]:
            print(head + "every condition held, no decision (the status was already as high)")
        elif seen["held"] is None:
            print(head + f"unknown: {seen['unknown']}")
        else:
            failed = seen["first_failed"]
            print(head + f"`{failed['condition']}` failed, saw {json.dumps(failed['seen'])}")
    if "deadlines" in answer and not answer["deadlines"]:
        print("  no deadline of this rule was ever started for the account")
    if "events" in answer and not answer["events"]:
        print("  no event of the account is of a type this rule looks at")
    return 0


def _cmd_notice(args: argparse.Namespace) -> int:
    """A decision's notice, from the db alone: the pack that decided is kept there."""
    store = _store(args, read_only=True)
    try:
        notice = render_notice(store, args.decision, lang=args.lang, tz=args.tz)
    finally:
        store.close()
    if args.json:
        _print_json(notice.to_dict(), sys.stdout)
    else:
        sys.stdout.write(notice.text)
    return 0


def _show_decision(found: dict[str, Any]) -> None:
    record, rule = found["decision"], found["rule"] or {}
    print(
        f"decision {record['decision_id']}: {record['action']} of {record['account_id']} "
        f"({record['mode']}), effective {record['effective_at']}, "
        f"{record['status_before']} → {record['status_after']}"
    )
    if found["reversed_by"]:
        print(f"  reversed by {found['reversed_by']}")
    elif found["ended_at"]:
        print(f"  ended at {found['ended_at']}")
    print(
        f"rule {record['rule_id']} v{record['rule_version']} (pack {record['ruleset_digest'][:12]})"
    )
    for key in ("description", "basis"):
        if rule.get(key):
            print(f"  {key}: {rule[key]}")
    print(f"  reason: {record['reason']}")
    print("conditions, as the event saw them:")
    for match in found["matched"]:
        print(f"  {match['rule_id']} v{match['rule_version']} ({match['action']}, {match['mode']})")
        for c in match["conditions"]:
            mark = "true" if c["result"] else "false"  # (under a `not`, false is what held)
            print(
                f"    {c['field']} {c['op']} {json.dumps(c['expected'], ensure_ascii=False)}: "
                f"saw {json.dumps(c['seen'], ensure_ascii=False)} ({mark})"
            )
    print("evidence:")
    for item in found["evidence"]:
        event = item["event"]
        if event is None:
            print(f"  {item['event_id']} (a decision, see `explain {item['event_id']}`)")
            continue
        fields = {
            k: v
            for k, v in event.items()
            if k not in ("event_id", "type", "account_id", "occurred_at")
        }
        print(
            f"  {item['event_id']}  {event['type']}  {event['occurred_at']}  "
            f"{json.dumps(fields, ensure_ascii=False)}"
        )


def _cmd_diff(args: argparse.Namespace) -> int:
    """Replay the events through two rule versions; report what changes; gate on the share of
    irreversible outcomes that change."""
    if args.shadow:
        return _shadow_diff(args)
    if args.events is None or args.baseline is None or args.candidate is None:
        print("error: give EVENTS.jsonl, --baseline and --candidate (or --shadow)", file=sys.stderr)
        return 2
    events = Path(args.events)
    if not events.is_file():
        print(f"error: no such events file: {events}", file=sys.stderr)
        return 2
    if args.workdir is not None and not args.workdir.is_dir():
        print(f"error: --workdir is not a folder: {args.workdir}", file=sys.stderr)
        return 2
    baseline, candidate = load_ruleset(args.baseline), load_ruleset(args.candidate)
    with open(events, "rb") as handle:  # the progress bar's total: line ends, in 1 MiB reads
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    bar = tqdm(total=total, unit=" events", file=sys.stderr, disable=not sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="blacklist-rules-diff-", dir=args.workdir) as work:
        report = replay_diff(
            baseline,
            candidate,
            iter_jsonl(events),
            Path(work),
            samples=args.samples,
            advanced=bar.update,
        )
    bar.close()
    if args.format == "json":
        _print_json(report, sys.stdout)
    elif args.format == "html":
        sys.stdout.write(render_html(report))
    else:
        _show_diff(report)
    return _gate(report["irreversible"]["percent"], args.fail_on_irreversible)


def _gate(share: float, most: float | None) -> int:
    """Exit 1 when more than `most` percent of irreversible outcomes change."""
    if most is not None and share > most:
        print(
            f"{share} % of irreversible outcomes change: more than --fail-on-irreversible {most}",
            file=sys.stderr,
        )
        return 1
    return 0


def _shadow_diff(args: argparse.Namespace) -> int:
    """The db's shadow decisions against its enforced outcomes."""
    with _reader(args) as engine:
        report = shadow_diff(engine, samples=args.samples)
    if args.format == "json":
        _print_json(report, sys.stdout)
    elif args.format == "html":
        print("error: --shadow reports as text or json", file=sys.stderr)
        return 2
    else:
        irreversible = report["irreversible"]
        print(
            f"{report['accounts_with_shadow_decisions']:,} accounts have shadow decisions; "
            f"enforced, they would change {report['accounts_changed']:,}"
        )
        for transition in report["transitions"]:
            print(f"  {transition['from']} → {transition['to']}: {transition['accounts']:,}")
            for sample in transition["samples"]:
                shown = "; ".join(
                    f"{d['action']} by {d['rule_id']} (evidence {', '.join(d['evidence'])})"
                    for d in sample["shadow"]
                )
                print(f"      {sample['account_id']}: {shown}")
        for rule in report["rules"]:
            print(f"  {rule['rule_id']}: {rule['shadow_decisions']:,} shadow decisions")
        print(
            f"irreversible outcomes: {irreversible['enforced']:,} enforced, "
            f"{irreversible['added']:,} more if the shadow rules were ({irreversible['percent']} %)"
        )
    return _gate(report["irreversible"]["percent"], args.fail_on_irreversible)


def _show_diff(report: dict[str, Any]) -> None:
    irreversible = report["irreversible"]
    print(
        f"{report['events']:,} events ({report['rejected']:,} rejected); "
        f"baseline {report['baseline']['digest'][:12]} ({report['baseline']['rules']} rules), "
        f"candidate {report['candidate']['digest'][:12]} ({report['candidate']['rules']} rules)"
    )
    if report["refused_by_one_version"]:
        print(
            f"{report['refused_by_one_version']:,} events refused by one version only (an "
            "appeal or lift of a decision only the other took)"
        )
    print(
        f"{report['accounts_changed']:,} of {report['accounts_decided']:,} accounts decided "
        "about end differently"
    )
    for transition in report["transitions"]:
        print(f"  {transition['from']} → {transition['to']}: {transition['accounts']:,}")
        for sample in transition["samples"]:
            for side in ("baseline", "candidate"):
                shown = "; ".join(
                    f"{d['action']} by {d['rule_id']} ({d['mode']}, evidence "
                    f"{', '.join(d['evidence'])})"
                    for d in sample[side]
                )
                print(f"      {sample['account_id']} {side}: {shown or 'nothing'}")
    print("decisions per rule (baseline → candidate):")
    for rule in report["rules"]:
        change = rule["candidate"] - rule["baseline"]
        mark = f"  ({change:+d})" if change else ""
        print(
            f"  {rule['rule_id']} [{rule['mode']}]: {rule['baseline']:,} → "
            f"{rule['candidate']:,}{mark}"
        )
    print(
        f"irreversible outcomes (enforced cancel, blacklist): {irreversible['baseline']:,} → "
        f"{irreversible['candidate']:,}, {irreversible['changed']:,} changed "
        f"({irreversible['percent']} %)"
    )


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(rule_json_schema(), indent=2, ensure_ascii=False))
    return 0


def _percent(text: str) -> float:
    """A percentage from 0 to 100 (NaN, which compares false with everything, is refused)."""
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage from 0 to 100")
    return value


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more (NaN and infinity refused)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blacklist-rules",
        description="Declarative account-moderation rules: freeze, cancel, blacklist, audited.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--busy-timeout",
        type=_seconds,
        default=BUSY_TIMEOUT,
        metavar="SECONDS",
        help=f"wait this long for another process's lock on the db, then exit 4 "
        f"(default: {BUSY_TIMEOUT:g})",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def rules_option(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--rules",
            default=None,
            metavar="DIR",
            help="rule folder (default: the packaged default pack)",
        )

    validate = commands.add_parser("validate", help="load and check rule files")
    validate.add_argument("rules", nargs="?", default=None, metavar="RULES")
    validate.set_defaults(func=_cmd_validate)

    run = commands.add_parser("run", help="process a JSONL file of events")
    run.add_argument("events", metavar="EVENTS.jsonl")
    rules_option(run)
    run.add_argument("--db", default=DEFAULT_DB, help=f"SQLite db (default: {DEFAULT_DB})")
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
    run.set_defaults(func=_cmd_run)

    status = commands.add_parser("status", help="an account's status and the decisions behind it")
    status.add_argument("account", metavar="ACCOUNT")
    status.add_argument("--db", default=DEFAULT_DB)
    rules_option(status)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_cmd_status)

    audit = commands.add_parser("audit", help="read the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    show = audit_commands.add_parser("show", help="an account's audit records")
    show.add_argument("--account", required=True)
    show.add_argument("--json", action="store_true", help="JSON lines instead of text")
    show.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="PATH")
    verify = audit_commands.add_parser(
        "verify",
        help="re-compute the audit chain; name the first record changed or removed",
        description="Re-computes the audit chain and names the first record changed, removed "
        "or reordered (exit 1). With --expect-head COUNT:HASH, a head printed by `audit head` "
        "earlier and kept elsewhere: record COUNT must still carry HASH, which a trail "
        "rewritten whole with recomputed hashes does not (the trail may have grown since; a "
        "record purged since cannot be checked, and fails too).",
    )
    verify.add_argument(
        "--expect-head",
        type=_head,
        metavar="COUNT:HASH",
        help="a head published earlier (`audit head`): the trail must still reach it",
    )
    verify.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="PATH")
    head = audit_commands.add_parser(
        "head",
        help="the head of a trail that verifies, COUNT:HASH, to keep elsewhere",
        description="Verifies the trail, then prints its head, COUNT:HASH (how many records, "
        "purged ones counted, and the last one's hash), on one line: publish it somewhere the "
        "db's owner cannot rewrite, and give it to `audit verify --expect-head` later. Exit 1 "
        "when the trail does not verify or holds no chained record yet.",
    )
    head.add_argument(
        "--json", action="store_true", help="head, count, hash and recorded_at as one JSON line"
    )
    head.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="PATH")
    purge = audit_commands.add_parser(
        "purge",
        help="remove audit records and event history older than the retention",
        description="Removes the audit records logged before TIME (default: the configured "
        "retention ago; a prefix of the trail) and leaves a checkpoint so `audit verify` still "
        "passes. The event history is settled before TIME, or before the retention behind the "
        "latest event if that is earlier: events from before the cut are refused from then "
        "on, and the reversal cascade re-evaluates nothing decided before it; events older "
        "than the cut minus the longest window are removed, but for the evidence of decisions "
        "and reviewers' and appeals' events (kept whole) and registrations and verifications "
        "(the verified identity: their declared fields). Refused "
        "for anything younger than the retention (`audit retention`, at least 180 days, the "
        "legal floor for logs), or when the trail does not verify.",
    )
    purge.add_argument("--before", metavar="TIME")
    purge.add_argument(
        "--rules",
        help="the pack this db runs (default: the packaged one): how far back its windows "
        "reach, if the db does not say",
    )
    purge.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="PATH")
    retention = audit_commands.add_parser(
        "retention",
        help="show or set how long audit records are kept (at least 180 days)",
        description="Shows the retention of audit records; `--set 400d` configures it (whole "
        "days, never under 180, the legal floor for logs). The change is an audit record.",
    )
    retention.add_argument("--set", type=_period, metavar="PERIOD", help="e.g. 365d or 52w")
    retention.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="PATH")
    export = audit_commands.add_parser(
        "export",
        help="every audit record, or a DSA statement of reasons per enforced decision",
        description="jsonl: every audit record, one JSON object a line. dsa: one EU DSA "
        "Transparency Database statement of reasons per enforced decision (ended and reversed "
        "ones included), one JSON object a line. Refused when the audit trail does not verify, "
        "unless --force.",
    )
    export.add_argument("--format", choices=["jsonl", "dsa"], default="jsonl")
    export.add_argument(
        "--force", action="store_true", help="export even when the audit trail does not verify"
    )
    export.add_argument(
        "--output", metavar="FILE", help="write to FILE (whole or not at all) instead of stdout"
    )
    export.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="PATH")
    audit.set_defaults(func=_cmd_audit)

    check = commands.add_parser(
        "check",
        help="pre-registration check: is this ID number or phone blacklisted?",
        description='Read identities ({"id_number": …, "phone": …}), one JSON object '
        "a line, from a file or - (stdin); print one answer a line. Exit 1 when any is "
        "blacklisted, else 2 when a line was malformed, else 0.",
    )
    check.add_argument("identities", nargs="?", default="-", metavar="IDENTITIES.jsonl")
    check.add_argument("--db", default=DEFAULT_DB)
    check.add_argument("--at", metavar="TIME", help="in force at TIME (default: the db's clock)")
    rules_option(check)
    check.set_defaults(func=_cmd_check)

    test = commands.add_parser(
        "test",
        help="run rule test cases; report failures by name, then rule coverage",
        description="Run the YAML test cases (default: tests/cases/) against a rule folder "
        "(default: the packaged pack). A coverage line per rule says whether it fired; T/F per "
        "condition whether it was seen true / false.",
    )
    test.add_argument("rules", nargs="?", default=None, metavar="RULES")
    test.add_argument("cases", nargs="*", metavar="CASES", help="case files or folders")
    test.add_argument(
        "--min-coverage", type=_percent, metavar="N", help="fail below N percent coverage"
    )
    test.add_argument("--json", action="store_true", help="one JSON report instead of text")
    test.set_defaults(func=_cmd_test)

    explain = commands.add_parser(
        "explain",
        help="why a decision was taken, or why a rule did not act on an account",
        description="With DECISION_ID: the rule as written when it decided, each condition with "
        "the value it saw, the evidence events. With --account and --rule: for the account's "
        "latest events the rule looks at, the first condition that failed and its value.",
    )
    explain.add_argument("decision", nargs="?", default=None, metavar="DECISION_ID")
    explain.add_argument("--account", metavar="A")
    explain.add_argument("--rule", metavar="R")
    explain.add_argument("--db", default=DEFAULT_DB)
    rules_option(explain)
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(func=_cmd_explain)

    notice = commands.add_parser(
        "notice",
        help="the text a user is shown about a decision, in Chinese or English",
        description="What was decided, its basis, what was found in plain words and how to "
        "appeal, from the templates of the pack that decided (kept in the db). A reversed "
        "decision gets a notice that says so; a shadow decision gets none (exit 2).",
    )
    notice.add_argument("decision", metavar="DECISION_ID")
    notice.add_argument("--lang", default="zh", help="a language of the pack (default: zh)")
    notice.add_argument(
        "--tz", default="UTC", metavar="ZONE", help="time zone of the times shown (default: UTC)"
    )
    notice.add_argument("--db", default=DEFAULT_DB)
    notice.add_argument("--json", action="store_true", help="the notice and its fields as JSON")
    notice.set_defaults(func=_cmd_notice)

    diff = commands.add_parser(
        "diff",
        help="replay events through two rule versions and report what changes",
        description="Replays EVENTS.jsonl through the baseline and the candidate rule folders "
        "side by side (two temporary dbs) and reports the accounts that end differently, by "
        "transition, decisions per rule, samples with evidence, and the share of irreversible "
        "outcomes (enforced cancel, blacklist) that change. A progress bar shows on a terminal.",
    )
    diff.add_argument("events", nargs="?", metavar="EVENTS.jsonl")
    diff.add_argument("--baseline", metavar="DIR")
    diff.add_argument("--candidate", metavar="DIR")
    diff.add_argument(
        "--shadow",
        action="store_true",
        help="instead: the shadow decisions in --db against its enforced outcomes",
    )
    diff.add_argument("--db", default=DEFAULT_DB, help="with --shadow: the db to read")
    rules_option(diff)
    diff.add_argument("--format", choices=["text", "json", "html"], default="text")
    diff.add_argument("--samples", type=int, default=3, help="sample accounts per transition")
    diff.add_argument(
        "--fail-on-irreversible",
        type=_percent,
        metavar="PCT",
        help="exit 1 when more than PCT percent of cancel/blacklist outcomes change",
    )
    diff.add_argument("--workdir", type=Path, help="where the replay's dbs go (default: temp)")
    diff.set_defaults(func=_cmd_diff)

    schema = commands.add_parser("schema", help="print the JSON Schema of rule files")
    schema.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (`| head`). What was not committed runs again next time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("stopped: standard output was closed", file=sys.stderr)
        return 141
    except StoreUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    except RuleLoadError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} error(s); nothing was loaded", file=sys.stderr)
        return 1
    except BlacklistRulesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
