"""What an overturned appeal costs: the reversal cascade beside a full replay of the db.

    PYTHONPATH=src python bench/bench_appeal.py                      # 100,000 events
    PYTHONPATH=src python bench/bench_appeal.py --events 20000 --accounts 2000 --appeals 10

The synthetic workload runs into a SQLite file (the full replay: timed, it is the baseline, what
re-evaluating by replaying everything would cost). Then `--appeals` automatic decisions, each
taken on an event of its own account, are overturned one at a time, each timed on its own: the
withdrawal, the replay of the linked accounts (one scan of the event log), the reconcile and
the commit. Printed: the median and worst appeal, the full replay, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from blacklist_rules import Engine, iter_jsonl
from blacklist_rules.synthetic import generate_events

KEY = "bench-identity-key-" + "0123456789abcdef" * 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_appeal.py", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--appeals", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="JSON on stdout, no table")
    return parser


def appealable(engine: Engine, payloads: dict[str, dict[str, Any]]) -> list[Any]:
    """Enforced automatic decisions taken on a non-registration event of their own account."""
    rows = engine.store._db.execute(  # a bench may read the store directly
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
    return {
        "event_id": f"bench-appeal-{index}",
        "type": "appeal_outcome",
        "account_id": record["account_id"],
        "occurred_at": (clock + timedelta(seconds=index + 1)).isoformat(),
        "decision_id": record["decision_id"],
        "outcome": "overturned",
        "reviewer_id": "bench",
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"workload: {args.events:,} events, {args.accounts:,} accounts, seed {args.seed}")
    print(f"baseline, full replay of the db:  {replay_s:8.2f} s")
    print(f"overturned appeal, median:        {report['appeal_median_ms']:8.2f} ms")
    print(f"overturned appeal, worst:         {report['appeal_max_ms']:8.2f} ms")
    print(f"ratio appeal / full replay:       {report['ratio_median_appeal_to_full_replay']:8.5f}")
    each = report["decisions_and_status_changes_per_appeal"]
    print(f"appeals: {len(timings)}; decisions + status changes each: {each}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
