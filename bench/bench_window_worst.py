"""Worst-case window benchmark: per-event cost with n events in one account's window.

    PYTHONPATH=src python bench/bench_window_worst.py                    # 2k and 20k, late events
    PYTHONPATH=src python bench/bench_window_worst.py --sizes 200 2000   # smaller windows
    PYTHONPATH=src python bench/bench_window_worst.py --no-late          # in-order cost only
    PYTHONPATH=src python bench/bench_window_worst.py --json results.json

One account receives n events of one stream, a minute apart (all inside one window: 20,000
minutes are 14 days), processed in time order by `Engine.process` into a fresh SQLite file (the
filling is not timed). Then `--measure` more events of the same account are timed one by one:
the per-event cost with n events in the window. The **baseline**, measured in the same run and
the same process, is the same number of events on fresh accounts (one event in each window).
Then one **late** event, dated just after the first of the n, is timed: every later event's
window now holds it, which is what late-event re-evaluation must look at.

Scenarios (each a stream of the rule packs' windows):

- `distinct`: the default pack's rumour rules (`distinct: content_id`), every flag about
  another piece of content.
- `repeated`: the same rules, every flag about the same piece of content (one distinct value:
  the count stays at 1, no rule fires, the whole window must be looked at to know it).
- `count`: a pack of one rule "3 malicious rumour flags within 180 days: blacklist" (no
  `distinct`).

The figure to watch is the ratio of the per-event cost at the largest size to the smallest
(flat costs give a ratio near 1), and the late event's time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_core import machine

from blacklist_rules import Engine

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=UTC)
SCENARIOS = ("distinct", "repeated", "count")
COUNT_RULE = """\
schema: 1
id: blacklist-three-flags
version: 1
description: Three malicious rumour flags within 180 days, whatever the content.
basis: Benchmark pack.
dsa:
  category: STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS
  keywords: [KEYWORD_MISINFORMATION_DISINFORMATION]
  ground: incompatible
  reference: Terms of Service 5.2
  source: SOURCE_TYPE_OTHER_NOTIFICATION
on: rumor_flag
when:
  verdict: malicious_rumor
window:
  count: 3
  within: 180d
then:
  action: blacklist
  reason: Three malicious rumour flags within 180 days.
priority: 10
mode: enforce
"""


def rules_for(scenario: str, workdir: Path) -> Path:
    """The default pack's rumour rules, or the one-rule pack without `distinct`."""
    target = workdir / f"rules-{scenario}"
    if target.exists():
        return target
    if scenario == "count":
        target.mkdir()
        (target / "blacklist-three-flags.yaml").write_text(COUNT_RULE)
    else:
        shutil.copytree(ROOT / "rules" / "rumours", target)
    return target


def flag(scenario: str, account: str, index: int, at: datetime) -> dict[str, Any]:
    """The index-th rumour flag of the account, at `at`."""
    content = "c-same" if scenario == "repeated" else f"c-{index}"
    return {
        "event_id": f"{account}-{index}",
        "type": "rumor_flag",
        "account_id": account,
        "occurred_at": at.isoformat(),
        "content_id": content,
        "verdict": "malicious_rumor",
        "source": "fact_check",
    }


def timed(engine: Engine, events: Sequence[dict[str, Any]]) -> list[float]:
    """Seconds each event took in `Engine.process`."""
    spent = []
    for event in events:
        began = time.perf_counter()
        engine.process(event)
        spent.append(time.perf_counter() - began)
    return spent


def one_size(
    scenario: str, size: int, measure: int, late: bool, workdir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """Fill one account's window with `size` events, then time `measure` more and a late one."""
    db = workdir / f"{scenario}-{size}.db"
    engine = Engine.from_path(rules_for(scenario, workdir), db=db, create_key=True, max_lead=None)
    minute = timedelta(minutes=1)
    began = time.perf_counter()
    for i in range(size):
        engine.process(flag(scenario, "acct-worst", i, START + i * minute))
    engine.flush()
    filled = time.perf_counter() - began
    say(f"  {scenario} n={size}: filled in {filled:.1f} s")
    # Baseline: the same events on fresh accounts, one event in each window.
    base_at = START + (size + measure + 10) * minute
    fresh = [flag(scenario, f"acct-fresh-{j}", 0, base_at + j * minute) for j in range(measure)]
    crowded = [
        flag(scenario, "acct-worst", size + j, base_at + (measure + j) * minute)
        for j in range(measure)
    ]
    base = timed(engine, fresh)
    worst = timed(engine, crowded)
    engine.flush()
    found: dict[str, Any] = {
        "scenario": scenario,
        "events_in_window": size,
        "fill_s": round(filled, 2),
        "baseline_us": round(statistics.median(base) * 1e6, 1),
        "per_event_us": round(statistics.median(worst) * 1e6, 1),
    }
    found["ratio_to_baseline"] = round(found["per_event_us"] / found["baseline_us"], 2)
    if late:
        event = flag(scenario, "acct-worst", -1, START + minute // 2)
        event["event_id"] = "acct-worst-late"
        began = time.perf_counter()
        outcome = engine.process(event)
        found["late_s"] = round(time.perf_counter() - began, 4)
        found["late_decisions"] = len(outcome.decisions)
        engine.flush()
    engine.close()
    say(f"  {scenario} n={size}: {json.dumps(found)}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--measure", type=int, default=200, help="events timed per size")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--no-late", action="store_true", help="skip the late events")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    report: dict[str, Any] = {"machine": machine(), "results": []}
    with tempfile.TemporaryDirectory(prefix="bench-window-") as tmp:
        for scenario in args.scenarios:
            for size in args.sizes:
                found = one_size(scenario, size, args.measure, not args.no_late, Path(tmp), say)
                report["results"].append(found)
    smallest, largest = min(args.sizes), max(args.sizes)
    print(
        f"{'scenario':<10} {'n':>7} {'baseline µs':>12} {'per event µs':>13} {'x baseline':>11} "
        f"{'late event s':>13}"
    )
    for row in report["results"]:
        late = f"{row['late_s']:.4f}" if "late_s" in row else "-"
        print(
            f"{row['scenario']:<10} {row['events_in_window']:>7} {row['baseline_us']:>12.1f} "
            f"{row['per_event_us']:>13.1f} {row['ratio_to_baseline']:>11.2f} {late:>13}"
        )
    for scenario in args.scenarios:
        rows = {r["events_in_window"]: r for r in report["results"] if r["scenario"] == scenario}
        ratio = rows[largest]["per_event_us"] / rows[smallest]["per_event_us"]
        report.setdefault("growth", {})[scenario] = round(ratio, 2)
        print(f"{scenario}: per-event cost at n={largest} / n={smallest}: {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
