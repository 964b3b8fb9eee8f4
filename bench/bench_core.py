"""Core-engine benchmark: raw durable-rules `post()` against our end-to-end engine.

    PYTHONPATH=src python bench/bench_core.py                     # 200k events, 3 rounds
    PYTHONPATH=src python bench/bench_core.py --events 20000 --accounts 2000 --repeat 1
    PYTHONPATH=src python bench/bench_core.py --json results.json  # table, plus JSON to a file
    PYTHONPATH=src python bench/bench_core.py --json               # JSON on stdout, no table
    PYTHONPATH=src python bench/bench_core.py --events 20000 --accounts 2000 --profile

One process, one workload, the same events for every variant:

- **baseline**: the default pack's durable-rules definition registered under its own name, and
  `post()` called once per event on snapshots prepared before the clock starts (no JSON parsing,
  no validation, no storage): the cost of asking durable-rules alone.
- **ours**: `Engine.run(iter_jsonl(lines))` from JSON bytes to committed SQLite rows (validate →
  history → match → decide → audit) in a real file in a temporary directory.
- **prefilter off**: the same with `prefilter=False`, so every event goes to durable-rules;
  it shows what the guard-based prefilter buys.

Rounds alternate the variants (their order rotates each round) and the medians are reported:
the machine is small and shared, so compare ratios rather than absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

from workload import MIXES, events_of

from blacklist_rules.engine import Engine, Outcome, load_ruleset
from blacklist_rules.matching.durable import CATCH_ALL, DurableMatcher
from blacklist_rules.model.events import flatten, iter_jsonl, parse_event
from blacklist_rules.pack.compiler import CompiledRuleset

DEFAULT_EVENTS = 200_000
DEFAULT_ACCOUNTS = 20_000
DEFAULT_SEED = 1
DEFAULT_BENIGN_SHARE = 0.95
DEFAULT_REPEAT = 3

BASELINE = "baseline"
OURS = "ours"
PREFILTER_OFF = "prefilter_off"
PROCESS = "process"
LABELS = {
    BASELINE: "baseline: raw durable-rules post()",
    OURS: "ours: Engine.run end-to-end",
    PREFILTER_OFF: "ours, prefilter off",
    PROCESS: "ours: process() outside a batch",
}
ENGINE_VARIANTS = (OURS, PREFILTER_OFF, PROCESS)
MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")

Snapshot = dict[str, str | bool | int]


@dataclass
class Pass:
    """One timed pass of one variant over the whole workload."""

    variant: str
    round: int
    events: int
    seconds: float
    rss_before: int
    rss_after: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    @property
    def us_per_event(self) -> float:
        return self.seconds / self.events * 1e6 if self.events else 0.0

    @property
    def rss_growth(self) -> int:
        return self.rss_after - self.rss_before

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["events_per_s"] = round(self.events_per_s, 1)
        data["us_per_event"] = round(self.us_per_event, 2)
        data["rss_growth"] = self.rss_growth
        return data


@dataclass
class Phase(Pass):
    """A pass of this benchmark, with what it decided."""

    cpu_seconds: float = 0.0
    """CPU time of the pass (`time.process_time`: this process, all its threads)."""
    matched: int = 0
    """Baseline: events on which some rule (not the catch-all) fired."""
    decisions: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    duplicates: int = 0
    failures: int = 0
    db_bytes: int = 0


# --- measurement helpers ------------------------------------------------------------------


@dataclass
class Tally:
    """What a timed `Engine.run` pass produced, counted as it went."""

    events: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_action: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    duplicates: int = 0
    failures: int = 0
    cpu_seconds: float = 0.0
    """CPU time of the timed pass (`time.process_time`), beside the wall time returned."""

    def count(self, outcome: Outcome) -> None:
        self.events += 1
        if outcome.decisions:
            for decision in outcome.decisions:
                self.by_rule[decision.rule_id] += 1
                shadow = "" if decision.mode == "enforce" else " (shadow)"
                self.by_action[f"{decision.action}{shadow}"] += 1
        elif outcome.rejection is not None:
            self.rejected += 1
        elif outcome.failure is not None:
            self.failures += 1
        elif outcome.duplicate:
            self.duplicates += 1


def timed_run(
    engine: Engine,
    lines: Sequence[bytes],
    profiler: cProfile.Profile | None = None,
    *,
    process: bool = False,
) -> tuple[Tally, float]:
    """`Engine.run` (or `process()` per line) over the JSON lines, timed to the last commit."""
    tally = Tally()
    if profiler is not None:
        profiler.enable()
    start, cpu = time.perf_counter(), time.process_time()
    if process:  # a commit per event (WAL, synchronous = NORMAL)
        for line in lines:
            tally.count(engine.process(line, failures="outcome"))
    else:
        for outcome in engine.run(iter_jsonl(lines), failures="outcome"):
            tally.count(outcome)
    seconds = time.perf_counter() - start
    tally.cpu_seconds = time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
    return tally, seconds


def remove_db(db: Path) -> None:
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        path.unlink(missing_ok=True)


def emit(report: dict[str, Any], json_to: str | None, show: Callable[[TextIO], None]) -> int:
    """The report as JSON on stdout (`--json` alone), or the table and JSON to a file."""
    if json_to == "-":
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    show(sys.stdout)
    if json_to:
        Path(json_to).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every benchmark takes: where results and SQLite files go, profile length."""
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the results as JSON to PATH; alone, JSON replaces the table on stdout",
    )
    parser.add_argument(
        "--tmpdir", type=Path, default=None, help="where the SQLite files go (default: system)"
    )
    parser.add_argument("--profile-lines", type=int, default=40, help="rows of profile output")


def rss_bytes() -> int:
    """Resident set size now, from /proc/self/statm (0 where there is no /proc)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except OSError:
        return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (`ru_maxrss` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)


def db_bytes(path: Path) -> int:
    """The db file with its WAL and shared-memory files, whichever exist."""
    return sum(
        candidate.stat().st_size
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if candidate.exists()
    )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": affinity,
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "durable_rules": _version("durable-rules"),
        "pydantic": _version("pydantic"),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- the workload -------------------------------------------------------------------------


def workload_lines(
    n_events: int, n_accounts: int, seed: int, benign_share: float, mix: str = "default"
) -> list[bytes]:
    """The events as JSONL lines, serialized as `testing.write_jsonl` writes them."""
    return [
        json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        for event in events_of(mix, n_events, n_accounts, seed, benign_share)
    ]


def snapshots_of(lines: Sequence[bytes], ruleset: CompiledRuleset) -> list[Snapshot]:
    """What the baseline posts: each event validated and flattened (with the pack's pattern
    results, as the engine hands them to durable-rules), ahead of the clock."""
    snapshots = []
    for line in lines:
        event = parse_event(line)
        snapshots.append(ruleset.snapshot(flatten(event), event.type))
    return snapshots


# --- the variants -------------------------------------------------------------------------


def run_baseline(matcher: DurableMatcher, snapshots: Sequence[Snapshot], round_: int) -> Phase:
    """Time one `post()` per prepared snapshot; nothing else happens inside the clock."""
    post = matcher.post
    gc.collect()
    before = rss_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    fired = [post(snapshot) for snapshot in snapshots]
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    after = rss_bytes()
    first = Counter(name for name in fired if name is not None and name != CATCH_ALL)
    return Phase(
        BASELINE,
        round_,
        len(snapshots),
        seconds,
        before,
        after,
        cpu_seconds=cpu_seconds,
        matched=sum(first.values()),
        by_action=dict(sorted(first.items())),
    )


def run_engine(
    lines: Sequence[bytes],
    workdir: Path,
    round_: int,
    *,
    prefilter: bool,
    profiler: cProfile.Profile | None = None,
    process: bool = False,
) -> Phase:
    """Time `Engine.run` over the JSON lines into a fresh SQLite file, to the last commit."""
    variant = PROCESS if process else OURS if prefilter else PREFILTER_OFF
    db = workdir / f"{variant}-{round_}.db"
    engine = Engine.from_path(None, db=db, prefilter=prefilter, create_key=True, max_lead=None)
    gc.collect()
    before = rss_bytes()
    tally, seconds = timed_run(engine, lines, profiler, process=process)
    after = rss_bytes()
    engine.close()
    size = db_bytes(db)
    remove_db(db)
    return Phase(
        variant,
        round_,
        tally.events,
        seconds,
        before,
        after,
        cpu_seconds=tally.cpu_seconds,
        decisions=sum(tally.by_action.values()),
        by_action=dict(sorted(tally.by_action.items())),
        rejected=tally.rejected,
        duplicates=tally.duplicates,
        failures=tally.failures,
        db_bytes=size,
    )


# --- reporting ----------------------------------------------------------------------------


def summarize(phases: list[Phase], rounds: int) -> dict[str, Any]:
    by_variant: dict[str, list[Phase]] = {}
    for phase in phases:
        by_variant.setdefault(phase.variant, []).append(phase)
    medians = {
        name: statistics.median(p.events_per_s for p in group) for name, group in by_variant.items()
    }
    ratios: dict[str, list[float]] = {}
    cpu_ratios: dict[str, list[float]] = {}
    for variant in ENGINE_VARIANTS:
        pairs = list(
            zip(
                sorted(by_variant.get(variant, []), key=lambda p: p.round),
                sorted(by_variant.get(BASELINE, []), key=lambda p: p.round),
                strict=False,
            )
        )
        ratios[variant] = [ours.events_per_s / base.events_per_s for ours, base in pairs]
        # CPU time: what other processes on a shared machine take from the wall clock is left
        # out (events per CPU second, ours ÷ baseline).
        cpu_ratios[variant] = [
            base.cpu_seconds / ours.cpu_seconds for ours, base in pairs if ours.cpu_seconds > 0
        ]
    summary: dict[str, Any] = {
        "rounds": rounds,
        "median_events_per_s": {k: round(v, 1) for k, v in medians.items()},
        "per_round_ratio": {k: [round(r, 4) for r in v] for k, v in ratios.items() if v},
        "median_ratio": {k: round(statistics.median(v), 4) for k, v in ratios.items() if v},
        "per_round_cpu_ratio": {k: [round(r, 4) for r in v] for k, v in cpu_ratios.items() if v},
        "median_cpu_ratio": {k: round(statistics.median(v), 4) for k, v in cpu_ratios.items() if v},
    }
    if BASELINE in medians and OURS in medians:
        summary["ratio_of_medians"] = round(medians[OURS] / medians[BASELINE], 4)
    return summary


def fmt_mib(n: int) -> str:
    return f"{n / MIB:,.1f} MiB"


def fmt_signed_mib(n: int) -> str:
    return f"{n / MIB:+,.1f} MiB"


def print_table(report: dict[str, Any], phases: list[Phase], out: Any) -> None:
    cfg, mach, summ, mem = report["config"], report["machine"], report["summary"], report["memory"]

    def say(text: str = "") -> None:
        print(text, file=out)

    say(
        f"blacklist-rules core benchmark ({cfg['mix']} mix): {cfg['events']:,} events, "
        f"{cfg['accounts']:,} accounts, "
        f"seed {cfg['seed']}, benign share {cfg['benign_share']}, {cfg['repeat']} round(s)"
    )
    say(
        f"machine: {mach['cpus']} CPUs ({mach['cpu_model']}), Python {mach['python']}, "
        f"durable-rules {mach['durable_rules']}, pydantic {mach['pydantic']}, "
        f"SQLite {mach['sqlite']}, load average at start {mach['load_average_at_start']}"
    )
    rs = report["ruleset"]
    say(
        f"rule pack: {rs['rules']} rules ({rs['name']}); events some rule matches: "
        f"{rs['matched_events']:,} ({rs['matched_share'] * 100:.2f} %)"
    )
    say(
        f"not timed: workload generated in {cfg['generate_s']:.1f} s; "
        f"validate + flatten of every event for the baseline: {cfg['snapshot_s']:.1f} s "
        f"({cfg['events'] / cfg['snapshot_s']:,.0f} events/s)"
    )
    say()
    head = (
        f"{'variant':<38}{'median ev/s':>12}{'µs/event':>10}{'CPU µs/ev':>10}  per round (events/s)"
    )
    say(head)
    say("-" * len(head))
    for variant in (BASELINE, *ENGINE_VARIANTS):
        group = sorted((p for p in phases if p.variant == variant), key=lambda p: p.round)
        if not group:
            continue
        median = summ["median_events_per_s"][variant]
        rounds = " / ".join(f"{p.events_per_s:,.0f}" for p in group)
        cpu_us = statistics.median(p.cpu_seconds / p.events * 1e6 for p in group)
        say(f"{LABELS[variant]:<38}{median:>12,.0f}{1e6 / median:>10.1f}{cpu_us:>10.1f}  {rounds}")
    say()
    for variant in ENGINE_VARIANTS:
        if variant in summ["median_ratio"]:
            per_round = ", ".join(f"{r:.3f}" for r in summ["per_round_ratio"][variant])
            say(
                f"ratio {LABELS[variant]} / baseline: median {summ['median_ratio'][variant]:.3f} "
                f"(rounds: {per_round})" + ("   target >= 1.0" if variant == OURS else "")
            )
        if variant in summ["median_cpu_ratio"]:
            per_round = ", ".join(f"{r:.3f}" for r in summ["per_round_cpu_ratio"][variant])
            say(
                f"  same in CPU time (process_time): median "
                f"{summ['median_cpu_ratio'][variant]:.3f} (rounds: {per_round})"
            )
    say()
    for variant in ENGINE_VARIANTS:
        last = max((p for p in phases if p.variant == variant), key=lambda p: p.round, default=None)
        if last is None:
            continue
        actions = ", ".join(f"{k} {v:,}" for k, v in last.by_action.items()) or "none"
        say(
            f"{LABELS[variant]}: {last.events:,} outcomes, "
            f"{last.decisions:,} decisions ({actions}); "
            f"rejected {last.rejected}, duplicates {last.duplicates}, failures {last.failures}; "
            f"db {fmt_mib(last.db_bytes)}"
        )
    base = max((p for p in phases if p.variant == BASELINE), key=lambda p: p.round, default=None)
    if base is not None:
        firsts = ", ".join(f"{k} {v:,}" for k, v in base.by_action.items()) or "none"
        say(f"baseline: first rule fired per event (catch-all left out): {firsts}")
    say()
    growth = "; ".join(
        f"{LABELS[v]} {fmt_signed_mib(g)}" for v, g in mem["max_rss_growth_by_variant"].items()
    )
    say(
        f"memory: peak RSS (ru_maxrss) {fmt_mib(mem['peak_rss'])} at the end, "
        f"{fmt_mib(mem['peak_rss_after_workload'])} once the workload and snapshots were in memory"
    )
    say(f"        RSS growth during one pass (largest over rounds): {growth}")


# --- main ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_core.py",
        description="Raw durable-rules post() against blacklist-rules end to end, same events.",
    )
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--benign-share", type=float, default=DEFAULT_BENIGN_SHARE)
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help="rounds (default %(default)s)"
    )
    parser.add_argument(
        "--no-prefilter-off",
        action="store_true",
        help="skip the prefilter-off variant (it is the slowest)",
    )
    parser.add_argument(
        "--process",
        action="store_true",
        help="add `process()` per event outside a batch (a commit each: WAL, synchronous NORMAL)",
    )
    parser.add_argument(
        "--mix",
        choices=MIXES,
        default="default",
        help="the workload: default, or registration-heavy (issue 19: 40 %% registrations, "
        "20 %% verifications, 15 %% impersonation reports, 25 %% rumour flags)",
    )
    add_output_arguments(parser)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of benchmarking, run `ours` once under cProfile and print the top costs",
    )
    return parser


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def profile(lines: Sequence[bytes], workdir: Path, rows: int) -> None:
    profiler = cProfile.Profile()
    phase = run_engine(lines, workdir, 0, prefilter=True, profiler=profiler)
    print(
        f"profiled ours: {phase.events:,} events in {phase.seconds:.2f} s under cProfile "
        f"({phase.events_per_s:,.0f} events/s with profiling overhead)"
    )
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(rows)
    stats.sort_stats("tottime").print_stats(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.events < 1 or args.accounts < 1 or args.repeat < 1:
        print("bench_core.py: --events, --accounts and --repeat must be >= 1", file=sys.stderr)
        return 2

    host = machine()  # before the load we add to it
    _progress(f"generating {args.events:,} events for {args.accounts:,} accounts ...")
    start = time.perf_counter()
    lines = workload_lines(args.events, args.accounts, args.seed, args.benign_share, args.mix)
    generate_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="bench-core-", dir=args.tmpdir) as tmp:
        workdir = Path(tmp)
        if args.profile:
            profile(lines, workdir, args.profile_lines)
            return 0

        ruleset: CompiledRuleset = load_ruleset()
        start = time.perf_counter()
        snapshots = snapshots_of(lines, ruleset)
        snapshot_s = time.perf_counter() - start
        matcher = DurableMatcher.for_plan(ruleset, ruleset.name + "_raw")
        gc.collect()
        peak_after_workload = peak_rss_bytes()

        variants: list[tuple[str, Callable[[int], Phase]]] = [
            (BASELINE, lambda r: run_baseline(matcher, snapshots, r)),
            (OURS, lambda r: run_engine(lines, workdir, r, prefilter=True)),
        ]
        if not args.no_prefilter_off:
            variants.append(
                (PREFILTER_OFF, lambda r: run_engine(lines, workdir, r, prefilter=False))
            )
        if args.process:
            variants.append(
                (PROCESS, lambda r: run_engine(lines, workdir, r, prefilter=True, process=True))
            )
        phases: list[Phase] = []
        for round_ in range(args.repeat):
            shift = round_ % len(variants)
            for name, run in variants[shift:] + variants[:shift]:
                _progress(f"round {round_ + 1}/{args.repeat}: {LABELS[name]} ...")
                phase = run(round_)
                phases.append(phase)
                _progress(
                    f"  {phase.events_per_s:,.0f} events/s ({phase.seconds:.2f} s), "
                    f"RSS {fmt_signed_mib(phase.rss_after - phase.rss_before)}"
                )

    matched = next(p.matched for p in phases if p.variant == BASELINE)
    growth: dict[str, int] = {}
    for phase in phases:
        growth[phase.variant] = max(
            growth.get(phase.variant, 0), phase.rss_after - phase.rss_before
        )
    report: dict[str, Any] = {
        "config": {
            "events": args.events,
            "accounts": args.accounts,
            "seed": args.seed,
            "benign_share": args.benign_share,
            "mix": args.mix,
            "repeat": args.repeat,
            "generate_s": round(generate_s, 3),
            "snapshot_s": round(snapshot_s, 3),
            "command": "PYTHONPATH=src python bench/bench_core.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "machine": host,
        "ruleset": {
            "name": ruleset.name,
            "digest": ruleset.digest,
            "rules": len(ruleset.rules),
            "matched_events": matched,
            "matched_share": matched / args.events,
        },
        "summary": summarize(phases, args.repeat),
        "memory": {
            "peak_rss": peak_rss_bytes(),
            "peak_rss_after_workload": peak_after_workload,
            "max_rss_growth_by_variant": growth,
        },
        "phases": [phase.to_dict() for phase in phases],
    }
    return emit(report, args.json, lambda out: print_table(report, phases, out))


if __name__ == "__main__":
    sys.exit(main())
