"""Replay diff against two plain runs over the same events: throughput and memory.

    PYTHONPATH=src:bench python bench/bench_diff.py                  # 1,000,000 events, 2 rounds
    PYTHONPATH=src:bench python bench/bench_diff.py --events 100000 --accounts 10000 --repeat 1
    PYTHONPATH=src:bench python bench/bench_diff.py --json diff.json

The issue's target: `diff` over 1,000,000 events at no less than 0.8x the rate of two plain
`run`s over the same events, with memory that does not grow with the number of events.

Variants, each in a fresh process reading the same JSONL file into memory first (not timed):

- **two runs**: `Engine.run(iter_jsonl(lines))` with the baseline pack (the default pack), then
  again with the candidate (the default pack without `blacklist-confirmed-impersonation`), each
  into its own SQLite file: what a team would do without `diff`.
- **diff**: `replay_diff(baseline, candidate, iter_jsonl(lines), workdir)`: both engines side by
  side, each event parsed once, plus the report.

Ratio = (events / diff seconds) / (events / two-runs seconds). Memory: RSS growth over the
timed part; the diff is also run over the first half of the events, to see whether its memory
grows with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_core import add_output_arguments, emit, fmt_mib, machine, rss_bytes, workload_lines

from blacklist_rules import (
    Engine,
    IdentityKey,
    SQLiteStore,
    iter_jsonl,
    load_ruleset,
    replay_diff,
)
from blacklist_rules.engine import default_rules_path

REMOVED = "blacklist-confirmed-impersonation"
KEY = IdentityKey(b"bench-diff-key-" + b"0" * 32, "bench")


def candidate_pack(folder: Path) -> Path:
    shutil.copytree(default_rules_path(), folder)
    next(folder.rglob(f"{REMOVED}.yaml")).unlink()
    return folder


def child(variant: str, lines_path: Path, work: Path, candidate: Path, limit: int | None) -> None:
    """One measurement: read the lines, then time the variant; print JSON."""
    lines = lines_path.read_bytes().splitlines()[:limit]
    baseline_rules, candidate_rules = load_ruleset(), load_ruleset(candidate)
    before = rss_bytes()
    start = time.perf_counter()
    if variant == "two_runs":
        for name, ruleset in (("b", baseline_rules), ("c", candidate_rules)):
            store = SQLiteStore(work / f"{name}.db")
            with Engine(ruleset, store, identity_key=KEY, max_lead=None) as engine:
                for _ in engine.run(iter_jsonl(lines)):
                    pass
        changed = None
    else:
        report = replay_diff(baseline_rules, candidate_rules, iter_jsonl(lines), work)
        changed = report["accounts_changed"]
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "variant": variant,
                "events": len(lines),
                "seconds": seconds,
                "rss_growth": rss_bytes() - before,
                "accounts_changed": changed,
            }
        )
    )


def measure(
    script: Path, variant: str, lines: Path, candidate: Path, tmp: Path, limit: int | None
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(dir=tmp))
    command = [sys.executable, str(script), "--child", variant, "--lines", str(lines)]
    command += ["--work", str(work), "--candidate", str(candidate)]
    if limit is not None:
        command += ["--limit", str(limit)]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=True, text=True)
    shutil.rmtree(work)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    rate = result["events"] / result["seconds"]
    print(
        f"  {variant:8} {result['events']:>9,} events  {rate:>8,.0f} events/s  "
        f"RSS +{fmt_mib(result['rss_growth'])}",
        file=sys.stderr,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", choices=["two_runs", "diff"])
    parser.add_argument("--lines", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--candidate", type=Path)
    parser.add_argument("--limit", type=int)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("BLACKLIST_RULES_IDENTITY_KEY", "bench-diff-" + "0" * 32)
    if args.child:
        child(args.child, args.lines, args.work, args.candidate, args.limit)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-diff-", dir=args.tmpdir) as tmp_name:
        tmp = Path(tmp_name)
        print(
            f"generating {args.events:,} events for {args.accounts:,} accounts ...", file=sys.stderr
        )
        lines = tmp / "events.jsonl"
        lines.write_bytes(b"\n".join(workload_lines(args.events, args.accounts, args.seed, 0.95)))
        candidate = candidate_pack(tmp / "candidate")
        script = Path(__file__).resolve()
        rounds: dict[str, list[dict[str, Any]]] = {"two_runs": [], "diff": []}
        for round_ in range(args.repeat):
            print(f"round {round_ + 1}/{args.repeat}", file=sys.stderr)
            order = ["two_runs", "diff"] if round_ % 2 == 0 else ["diff", "two_runs"]
            for variant in order:
                rounds[variant].append(measure(script, variant, lines, candidate, tmp, None))
        half = measure(script, "diff", lines, candidate, tmp, args.events // 2)
    rates = {v: [r["events"] / r["seconds"] for r in rs] for v, rs in rounds.items()}
    ratios = [d / t for d, t in zip(rates["diff"], rates["two_runs"], strict=True)]
    report = {
        "machine": machine(),
        "events": args.events,
        "accounts": args.accounts,
        "rounds": args.repeat,
        "events_per_s": {v: statistics.median(r) for v, r in rates.items()},
        "rounds_events_per_s": rates,
        "ratios": ratios,
        "ratio": statistics.median(ratios),
        "target_met": statistics.median(ratios) >= 0.8,
        "rss_growth": {v: max(r["rss_growth"] for r in rs) for v, rs in rounds.items()},
        "diff_half_events_rss_growth": half["rss_growth"],
        "accounts_changed": rounds["diff"][0]["accounts_changed"],
    }

    def show(out: Any) -> None:
        print(
            f"{args.events:,} events, {args.accounts:,} accounts, {args.repeat} rounds "
            f"(candidate: the default pack without {REMOVED})",
            file=out,
        )
        for variant, rate in report["events_per_s"].items():
            each = " / ".join(f"{r:,.0f}" for r in rates[variant])
            print(f"  {variant:8} {rate:>8,.0f} events/s  ({each})", file=out)
        met = "met" if report["target_met"] else "MISSED"
        each = " / ".join(f"{r:.3f}" for r in ratios)
        print(
            f"  ratio diff / two runs: {report['ratio']:.3f} ({each}); target 0.8: {met}", file=out
        )
        print(
            f"  RSS growth: two runs +{fmt_mib(report['rss_growth']['two_runs'])}, diff "
            f"+{fmt_mib(report['rss_growth']['diff'])}; diff over half the events "
            f"+{fmt_mib(report['diff_half_events_rss_growth'])}",
            file=out,
        )
        print(f"  accounts that end differently: {report['accounts_changed']:,}", file=out)

    return emit(report, args.json, show)


if __name__ == "__main__":
    sys.exit(main())
