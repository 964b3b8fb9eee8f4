"""What an overturned appeal costs: the reversal cascade beside a full replay of the db.

    PYTHONPATH=src python bench/bench_appeal.py                      # 100,000 events
    PYTHONPATH=src python bench/bench_appeal.py --events 20000 --accounts 2000 --appeals 10

The synthetic workload runs into a SQLite file (the full replay: timed, it is the baseline, what
re-evaluating by replaying everything would cost). Then `--appeals` automatic decisions, each
taken on an event of its own account, are overturned one at a time, each timed on its own: the
withdrawal, the replay of the linked accounts (their events, through `events_by_account`),
the reconcile and the commit. Printed: the median and worst appeal, the full replay, and
their ratio.

    PYTHONPATH=src python bench/bench_appeal.py --worst              # 10k vs 100k entries

`--worst` builds two dbs in one run, `--small` and `--large` blacklisted people (two entries
each: 10,000 and 100,000 entries by default) beside `--repeat` appellants frozen by two
rumours, as many of them with a `--history`-event past. On each it times rejected appeals
(an unknown decision), overturned ones (short and long history) and `--checks` calls of
`Engine.is_blacklisted`; printed: both, and large / baseline (near 1: bounded by what the
appeal reaches, not by the db).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from blacklist_rules import Engine, SQLiteStore, iter_jsonl
from blacklist_rules.testing import _check_char, generate_events

KEY = "bench-identity-key-" + "0123456789abcdef" * 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_appeal.py", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--appeals", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="JSON on stdout, no table")
    parser.add_argument(
        "--worst", action="store_true", help="the worst cases: a large blacklist, a long history"
    )
    parser.add_argument("--small", type=int, default=5_000, help="--worst: baseline people")
    parser.add_argument("--large", type=int, default=50_000, help="--worst: people listed")
    parser.add_argument("--history", type=int, default=2_000, help="--worst: long history")
    parser.add_argument("--checks", type=int, default=20_000, help="--worst: is_blacklisted calls")
    parser.add_argument("--repeat", type=int, default=5, help="--worst: appeals of each kind")
    return parser


def appealable(engine: Engine, payloads: dict[str, dict[str, Any]]) -> list[Any]:
    """Enforced automatic decisions taken on a non-registration event of their own account."""
    assert isinstance(engine.store, SQLiteStore)
    rows = engine.store.connection.execute(  # a bench may read the SQLite tables
        "SELECT record FROM decisions WHERE mode = 'enforce' AND reversed_by IS NULL "
        "AND rule_id != 'human-review' ORDER BY rowid"
    ).fetchall()
    found, accounts = [], set()
    for (text,) in rows:
        record = json.loads(text)
        if record["account_id"] in accounts:
            continue
        own = [
            payloads[e]
            for e in record["evidence"]
            if e in payloads
            and payloads[e]["type"] != "registration"
            and payloads[e]["account_id"] == record["account_id"]
        ]
        if own:
            found.append(record)
            accounts.add(record["account_id"])
    return found


def overturn(record: dict[str, Any], clock: datetime, index: int) -> dict[str, Any]:
    """The `index`th bench appeal: it overturns the decision, `index + 1` seconds after `clock`."""
    at = clock + timedelta(seconds=index + 1)
    return _appeal(record["account_id"], f"bench-appeal-{index}", at, record["decision_id"])


def _json_out(report: dict[str, Any]) -> int:
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worst:
        return worst(args)
    events = list(
        generate_events(args.events, n_accounts=args.accounts, seed=args.seed, benign_share=0.9)
    )
    lines = [json.dumps(e) for e in events]
    payloads = {e["event_id"]: e for e in events}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BLACKLIST_RULES_IDENTITY_KEY"] = KEY
        db = Path(tmp) / "appeal.db"
        with Engine.from_path(db=db, max_lead=None) as engine:
            started = time.perf_counter()
            for _ in engine.run(iter_jsonl(lines)):
                pass
            replay_s = time.perf_counter() - started
            chosen = appealable(engine, payloads)[: args.appeals]
            clock = engine.clock
            assert clock is not None
            timings, changed = [], []
            for index, record in enumerate(chosen):
                appeal = overturn(record, clock, index)
                started = time.perf_counter()
                outcome = engine.process(appeal)
                timings.append(time.perf_counter() - started)
                assert outcome.rejection is None, outcome.rejection
                changed.append(len(outcome.decisions) + len(outcome.status_changes))
    report = {
        "events": args.events,
        "accounts": args.accounts,
        "seed": args.seed,
        "appeals": len(timings),
        "full_replay_s": round(replay_s, 3),
        "appeal_median_ms": round(statistics.median(timings) * 1000, 2),
        "appeal_max_ms": round(max(timings) * 1000, 2),
        "ratio_median_appeal_to_full_replay": round(statistics.median(timings) / replay_s, 5),
        "decisions_and_status_changes_per_appeal": round(statistics.mean(changed), 2),
    }
    if args.json:
        return _json_out(report)
    print(f"workload: {args.events:,} events, {args.accounts:,} accounts, seed {args.seed}")
    print(f"baseline, full replay of the db:  {replay_s:8.2f} s")
    print(f"overturned appeal, median:        {report['appeal_median_ms']:8.2f} ms")
    print(f"overturned appeal, worst:         {report['appeal_max_ms']:8.2f} ms")
    print(f"ratio appeal / full replay:       {report['ratio_median_appeal_to_full_replay']:8.5f}")
    each = report["decisions_and_status_changes_per_appeal"]
    print(f"appeals: {len(timings)}; decisions + status changes each: {each}")
    return 0


# --- worst cases (issue 14, finding 5) ---------------------------------------------------
DAY = timedelta(days=1)
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _id_number(index: int) -> str:
    """A valid GB 11643 ID number, one per index (birth dates from 1960 on, 1,000 a day)."""
    born = (date(1960, 1, 1) + timedelta(days=index // 1000)).strftime("%Y%m%d")
    first17 = f"110101{born}{index % 1000:03d}"
    return first17 + _check_char(first17)


def _event(kind: str, account: str, at: datetime, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "account_id": account,
        "occurred_at": at.isoformat(),
        **fields,
    }


def _strike(account: str, at: datetime, event_id: str, verdict: str) -> dict[str, Any]:
    fields = {"content_id": event_id, "verdict": verdict, "source": "fact_check"}
    return _event("rumor_flag", account, at, event_id, **fields)


def listed_people(people: int) -> Iterator[dict[str, Any]]:
    """`people` accounts, each registered with a verified ID number and phone, then found to
    impersonate someone: blacklisted, two entries each (ID number, phone)."""
    for index in range(people):
        account, at = f"listed-{index}", T0 + timedelta(seconds=index)
        identity = {"id_number": _id_number(index), "phone": f"139{index:08d}"}
        yield _event(
            "registration",
            account,
            at,
            f"reg-{index}",
            identity=identity,
            verification={"status": "passed"},
        )
        yield _event(
            "impersonation_report",
            account,
            at + timedelta(milliseconds=1),
            f"imp-{index}",
            reporter_id="bench",
            confirmed=True,
        )


def appellant(account: str, index: int, at: datetime, history: int) -> Iterator[dict[str, Any]]:
    """A verified account with `history` rumour flags that decide nothing and feed no window
    (the cascade replays them all the same), then two malicious rumours a day apart (the
    second freezes it)."""
    identity = {"id_number": _id_number(900_000 + index), "phone": f"137{index:08d}"}
    yield _event(
        "registration",
        account,
        at,
        f"{account}-reg",
        identity=identity,
        verification={"status": "passed"},
    )
    for n in range(history):
        yield _strike(account, at + timedelta(seconds=n + 1), f"{account}-h{n}", "not_rumor")
    yield _strike(account, at + DAY, f"{account}-s1", "malicious_rumor")
    yield _strike(account, at + 2 * DAY, f"{account}-s2", "malicious_rumor")


def _appeal(account: str, event_id: str, at: datetime, decision_id: str) -> dict[str, Any]:
    return _event(
        "appeal_outcome",
        account,
        at,
        event_id,
        decision_id=decision_id,
        outcome="overturned",
        reviewer_id="bench",
    )


def _timed(engine: Engine, item: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    outcome = engine.process(item)
    return time.perf_counter() - started, outcome


def _freeze_of(engine: Engine, account: str) -> str:
    (found,) = [d.decision_id for d in engine.standing(account)]
    return found


def worst_world(people: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """One db: `people` blacklisted accounts (2 x `people` entries), `--repeat` appellants
    with a short history and as many with a `--history`-event one. Timed: `--repeat` rejected
    appeals (unknown decisions), the overturn of each appellant's freeze (medians), and
    `--checks` pre-registration checks."""
    db = tmp / f"worst-{people}.db"
    end = T0 + timedelta(seconds=people) + 10 * DAY
    shorts = [f"short-{n}" for n in range(args.repeat)]
    longs = [f"long-{n}" for n in range(args.repeat)]
    with Engine.from_path(db=db, max_lead=None) as engine:
        started = time.perf_counter()
        feed = [*listed_people(people)]
        for index, account in enumerate([*shorts, *longs]):
            feed += appellant(account, index, end, 3 if index < args.repeat else args.history)
        for _ in engine.run(feed):
            pass
        built_s = time.perf_counter() - started
        later = end + 30 * DAY
        engine.advance_to(later)  # (the clock's move, and the history pruning it brings, apart)
        rejected = [
            _timed(engine, _appeal(account, f"bad-{account}", later, "no-such"))[0]
            for account in shorts
        ]
        overturned: dict[str, list[float]] = {"short": [], "long": []}
        for account in [*shorts, *longs]:
            appeal = _appeal(account, f"ap-{account}", later, _freeze_of(engine, account))
            took, out = _timed(engine, appeal)
            assert out.rejection is None, out
            assert out.reversals, out
            overturned[account.split("-")[0]].append(took)
        asked = [
            {"id_number": _id_number(n * 7919 % (2 * people))}
            if n % 2
            else {"phone": f"139{n * 7919 % (2 * people):08d}"}
            for n in range(args.checks)
        ]
        started = time.perf_counter()
        listed = sum(engine.is_blacklisted(identity) for identity in asked)
        check_s = (time.perf_counter() - started) / args.checks
        entries = len(engine.blacklist_entries())
    return {
        "entries": entries,
        "build_s": built_s,
        "rejected_appeal_ms": statistics.median(rejected) * 1000,
        "overturned_short_history_ms": statistics.median(overturned["short"]) * 1000,
        "overturned_long_history_ms": statistics.median(overturned["long"]) * 1000,
        "is_blacklisted_us": check_s * 1e6,
        "checks_listed": listed,
    }


def worst(args: argparse.Namespace) -> int:
    """Baseline (`--small` people) and worst case (`--large`) in one run, and their ratios."""
    os.environ["BLACKLIST_RULES_IDENTITY_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp:
        small = worst_world(args.small, args, Path(tmp))
        print(f"small: {small}", file=sys.stderr)
        large = worst_world(args.large, args, Path(tmp))
        print(f"large: {large}", file=sys.stderr)
    rows = [
        ("rejected appeal (ms, median)", "rejected_appeal_ms"),
        ("overturned appeal, short history (ms, median)", "overturned_short_history_ms"),
        (f"overturned, {args.history:,}-event history (ms, median)", "overturned_long_history_ms"),
        ("is_blacklisted (µs a check)", "is_blacklisted_us"),
    ]
    report = {"small": small, "large": large, "history": args.history}
    if args.json:
        return _json_out(report)
    print(f"blacklist entries: {small['entries']:,} (baseline) vs {large['entries']:,}")
    print(f"{'':44} {'baseline':>10} {'large':>10} {'ratio':>7}")
    for label, key in rows:
        ratio = large[key] / small[key]
        print(f"{label:44} {small[key]:10.2f} {large[key]:10.2f} {ratio:7.2f}")
    ratio = small["overturned_long_history_ms"] / small["overturned_short_history_ms"]
    print(f"long / short history appeal, baseline db: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
