"""History benchmark: memory per tracked account and events/s, history-aware against stateless.

    PYTHONPATH=src python bench/bench_history.py                     # 100k accounts, 3 rounds
    PYTHONPATH=src python bench/bench_history.py --quick             # 10k accounts, smoke check
    PYTHONPATH=src python bench/bench_history.py --json results.json # table, plus JSON to a file
    PYTHONPATH=src python bench/bench_history.py --json              # JSON on stdout, no table
    PYTHONPATH=src python bench/bench_history.py --accounts 20000 --split  # windows / deadlines
    PYTHONPATH=src python bench/bench_history.py --accounts 10000 --profile

The workload (`blacklist_rules.testing.generate_events`, 10 events per account by default, the
density of `bench_core.py`) is generated once and written to a JSONL file; every measurement then
runs in a **fresh subprocess** that reads the lines into memory (not timed), builds its engine
(not timed) and times `Engine.run(iter_jsonl(lines))` into a new SQLite file, as `bench_core.py`
times its "ours" row. Two variants, the same events (`--split` adds the pack without its
deadline rules and the pack without its window rules):

- **stateless**: only the default pack's history-free rules (the files without `window:` or
  `deadline:`), copied into a temporary folder: the core benchmark's end-to-end pipeline.
- **history**: the whole default pack: windows over event time, the deadline rule, the
  `history` and `deadlines` tables.

Rounds rotate the order of the variants; the ratio history / stateless is reported per round
and as a median. Memory is the RSS growth of the subprocess over the timed pass (VmRSS after minus
before, from /proc/self/status), divided by the accounts that have history (rows in `history`
or `deadlines`) and by all accounts; a fresh process per measurement keeps earlier passes out.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_core import (
    Pass,
    add_output_arguments,
    db_bytes,
    emit,
    fmt_mib,
    fmt_signed_mib,
    machine,
    remove_db,
    timed_run,
    workload_lines,
)
from workload import DEFAULT_BENIGN_SHARE, DEFAULT_SEED

from blacklist_rules.engine import Engine, default_rules_path, load_ruleset
from blacklist_rules.pack.compiler import CompiledRuleset
from blacklist_rules.pack.loader import read_rules

DEFAULT_ACCOUNTS = 100_000
DEFAULT_EVENTS_PER_ACCOUNT = 10
DEFAULT_REPEAT = 3
QUICK_ACCOUNTS = 10_000

STATELESS = "stateless"
HISTORY = "history"
WINDOWS = "windows"
DEADLINES = "deadlines"
VARIANTS = (STATELESS, HISTORY)
SPLIT = (WINDOWS, DEADLINES)
"""With `--split`: the pack without its deadline rules, and without its window rules."""
LABELS = {
    STATELESS: "stateless: history-free rules only",
    HISTORY: "history: whole default pack",
    WINDOWS: "split: no deadline rules",
    DEADLINES: "split: no window rules",
}
THROUGHPUT_TARGET = 0.8
"""History-aware events/s at least this share of the stateless rate."""
MEMORY_TARGET = 2048
"""At most this many bytes of RSS growth per tracked account."""


@dataclass
class Phase(Pass):
    """A pass in its own process. `rss_before` is VmRSS once the lines were in memory and the
    engine built, just before the clock; `rss_after` as the last commit returned."""

    peak_during: int
    """VmHWM at the end, its mark reset just before the clock (0 where it cannot be reset)."""
    py_blocks_growth: int
    """`sys.getallocatedblocks()` after minus before: Python objects left alive by the pass."""
    decisions_by_rule: dict[str, int] = field(default_factory=dict)
    decisions_by_action: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    duplicates: int = 0
    failures: int = 0
    db_bytes: int = 0
    accounts_in_db: int = 0
    history_rows: dict[str, int] = field(default_factory=dict)
    """Rows of the `history` table per stream key after the run."""
    history_events: int = 0
    """Distinct events that entered some stream."""
    history_accounts: int = 0
    deadline_states: dict[str, int] = field(default_factory=dict)
    tracked_accounts: int = 0
    """Accounts with a row in `history` or `deadlines`."""


# --- measurement helpers ------------------------------------------------------------------


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process in bytes, from /proc/self/status (empty without /proc)."""
    found: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) * 1024  # reported in kB
    except OSError:
        pass
    return found


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def copy_rules(target: Path, variant: str, source: Path | None = None) -> list[str]:
    """Copy into `target` the rule files of the default pack that `variant` runs with:
    `stateless` keeps those with neither `window:` nor `deadline:`, `windows` drops those with
    `deadline:`, `deadlines` drops those with `window:`. The ids of the rules copied."""
    folder = source if source is not None else default_rules_path()
    rules, errors = read_rules(folder)
    if errors:
        raise SystemExit(f"bench_history.py: the rule pack does not load: {errors[0]}")
    kept = []
    for rule in rules:
        has_window, has_deadline = rule.spec.window is not None, rule.spec.deadline is not None
        if (has_window and variant in (STATELESS, DEADLINES)) or (
            has_deadline and variant in (STATELESS, WINDOWS)
        ):
            continue
        path = Path(rule.file)
        destination = target / path.relative_to(folder)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        kept.append(rule.spec.id)
    return sorted(kept)


def store_figures(db: Path) -> dict[str, Any]:
    """What the history-related tables hold after a run (read with a separate connection)."""
    con = sqlite3.connect(db)
    try:
        history = dict(con.execute("SELECT stream, count(*) FROM history GROUP BY stream"))
        states = dict(con.execute("SELECT state, count(*) FROM deadlines GROUP BY state"))
        (history_events,) = con.execute("SELECT count(DISTINCT event_id) FROM history").fetchone()
        (history_accounts,) = con.execute(
            "SELECT count(DISTINCT account_id) FROM history"
        ).fetchone()
        (tracked,) = con.execute(
            "SELECT count(*) FROM (SELECT account_id FROM history "
            "UNION SELECT account_id FROM deadlines)"
        ).fetchone()
        (accounts,) = con.execute("SELECT count(DISTINCT account_id) FROM events").fetchone()
    finally:
        con.close()
    return {
        "history_rows": {str(k): int(v) for k, v in sorted(history.items())},
        "deadline_states": {str(k): int(v) for k, v in sorted(states.items())},
        "history_events": int(history_events),
        "history_accounts": int(history_accounts),
        "tracked_accounts": int(tracked),
        "accounts_in_db": int(accounts),
    }


# --- one measurement (runs in a fresh subprocess) ------------------------------------------


def read_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]


def run_variant(
    variant: str,
    rules: Path | None,
    lines: Sequence[bytes],
    db: Path,
    round_: int,
    profiler: cProfile.Profile | None = None,
) -> Phase:
    """Time `Engine.run` over the JSON lines into a fresh SQLite file, to the last commit."""
    engine = Engine.from_path(rules, db=db, create_key=True, max_lead=None)
    gc.collect()
    peak_reset = reset_peak_rss()
    before = proc_status().get("VmRSS", 0)
    blocks = sys.getallocatedblocks()
    tally, seconds = timed_run(engine, lines, profiler)
    status = proc_status()
    blocks = sys.getallocatedblocks() - blocks
    engine.close()
    phase = Phase(
        variant,
        round_,
        tally.events,
        seconds,
        before,
        status.get("VmRSS", 0),
        status.get("VmHWM", 0) if peak_reset else 0,
        blocks,
        decisions_by_rule=dict(sorted(tally.by_rule.items())),
        decisions_by_action=dict(sorted(tally.by_action.items())),
        rejected=tally.rejected,
        duplicates=tally.duplicates,
        failures=tally.failures,
        db_bytes=db_bytes(db),
        **store_figures(db),
    )
    remove_db(db)
    return phase


def child(args: argparse.Namespace) -> int:
    """The subprocess side: one measurement, its figures as JSON on stdout."""
    lines = read_lines(args.lines)
    phase = run_variant(args.child, args.rules, lines, args.db, args.round)
    json.dump(phase.to_dict(), sys.stdout)
    return 0


def measure(
    variant: str, round_: int, workdir: Path, lines_path: Path, rules: Path | None
) -> Phase:
    """Run one measurement in a fresh interpreter (same PYTHONPATH) and read its figures."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        variant,
        "--lines",
        str(lines_path),
        "--db",
        str(workdir / f"{variant}-{round_}.db"),
        "--round",
        str(round_),
    ]
    if rules is not None:
        command += ["--rules", str(rules)]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=True, text=True)
    data = json.loads(done.stdout)
    for derived in ("events_per_s", "us_per_event", "rss_growth"):
        data.pop(derived)
    return Phase(**data)


# --- reporting ----------------------------------------------------------------------------


def summarize(phases: list[Phase], rounds: int, accounts: int) -> dict[str, Any]:
    variants = [v for v in (*VARIANTS, *SPLIT) if any(p.variant == v for p in phases)]
    by_variant = {
        v: sorted((p for p in phases if p.variant == v), key=lambda p: p.round) for v in variants
    }
    medians = {
        v: statistics.median(p.events_per_s for p in group) for v, group in by_variant.items()
    }
    ratios = {
        v: [
            p.events_per_s / s.events_per_s
            for p, s in zip(by_variant[v], by_variant[STATELESS], strict=True)
        ]
        for v in variants
        if v != STATELESS
    }
    median_ratio = statistics.median(ratios[HISTORY])
    growth = {v: max(p.rss_growth for p in group) for v, group in by_variant.items()}
    tracked = by_variant[HISTORY][-1].tracked_accounts
    per_tracked = growth[HISTORY] / tracked if tracked else float("inf")
    return {
        "rounds": rounds,
        "median_events_per_s": {k: round(v, 1) for k, v in medians.items()},
        "per_round_ratio": {k: [round(r, 4) for r in v] for k, v in ratios.items()},
        "median_ratio": {k: round(statistics.median(v), 4) for k, v in ratios.items()},
        "ratio_of_medians": round(medians[HISTORY] / medians[STATELESS], 4),
        "throughput_target": THROUGHPUT_TARGET,
        "throughput_target_met": median_ratio >= THROUGHPUT_TARGET,
        "memory": {
            "rss_growth_per_round": {
                v: [p.rss_growth for p in group] for v, group in by_variant.items()
            },
            "max_rss_growth": growth,
            "peak_growth_per_round": {
                v: [p.peak_during - p.rss_before if p.peak_during else None for p in group]
                for v, group in by_variant.items()
            },
            "tracked_accounts": tracked,
            "accounts": accounts,
            "rss_growth_per_tracked_account": round(per_tracked, 1),
            "rss_growth_per_account": {v: round(g / accounts, 1) for v, g in growth.items()},
            "history_minus_stateless_per_tracked_account": round(
                (growth[HISTORY] - growth[STATELESS]) / tracked, 1
            )
            if tracked
            else None,
            "db_bytes": {v: group[-1].db_bytes for v, group in by_variant.items()},
            "db_bytes_per_account": {
                v: round(group[-1].db_bytes / accounts, 1) for v, group in by_variant.items()
            },
            "target_bytes_per_tracked_account": MEMORY_TARGET,
            "target_met": per_tracked <= MEMORY_TARGET,
        },
    }


def stream_labels(ruleset: CompiledRuleset) -> dict[str, str]:
    """Per stream key: the event types it takes and the rules that read it."""
    labels = {}
    for key, stream in ruleset.streams.items():
        readers = [
            rule.id
            for rule in ruleset.rules
            if (rule.window is not None and rule.window.stream == key)
            or (rule.deadline is not None and key in rule.deadline.unless)
        ]
        what = "/".join(stream.listener.types)
        how = f" distinct {stream.distinct}" if stream.distinct else ""
        labels[key] = f"{what}{how} -> {', '.join(readers)}"
    return labels


def print_table(report: dict[str, Any], phases: list[Phase], out: Any) -> None:
    cfg, mach, summ, packs = report["config"], report["machine"], report["summary"], report["packs"]
    mem, work, code = summ["memory"], report["workload"], report["code"]
    variants = list(summ["median_events_per_s"])

    def say(text: str = "") -> None:
        print(text, file=out)

    say(
        f"blacklist-rules history benchmark: {cfg['events']:,} events, {cfg['accounts']:,} "
        f"accounts ({cfg['events'] / cfg['accounts']:.0f} per account), seed {cfg['seed']}, "
        f"benign share {cfg['benign_share']}, {cfg['repeat']} round(s), "
        "one fresh process per measurement"
    )
    say(
        f"machine: {mach['cpus']} CPUs ({mach['cpu_model']}), Python {mach['python']}, "
        f"durable-rules {mach['durable_rules']}, pydantic {mach['pydantic']}, "
        f"SQLite {mach['sqlite']}, load average at start {mach['load_average_at_start']}"
    )
    say(f"code: commit {code['commit']}, src/ and rules/ {code['src_and_rules']}")
    say(
        "packs: "
        + "; ".join(f"{v} {p['rules']} rules ({p['name']})" for v, p in packs.items())
        + f"; horizon {report['horizon_days']:g} days"
    )
    types = ", ".join(f"{k} {v:,}" for k, v in work["types"].items())
    say(
        f"workload: {work['accounts_with_events']:,} accounts with events, "
        f"event time {work['first']} .. {work['last']} ({work['span_days']:.0f} days); {types}"
    )
    say(f"not timed: workload generated in {cfg['generate_s']:.1f} s")
    say()
    head = f"{'variant':<38}{'median ev/s':>12}{'µs/event':>10}  per round (events/s)"
    say(head)
    say("-" * len(head))
    for variant in variants:
        group = sorted((p for p in phases if p.variant == variant), key=lambda p: p.round)
        median = summ["median_events_per_s"][variant]
        rounds = " / ".join(f"{p.events_per_s:,.0f}" for p in group)
        say(f"{LABELS[variant]:<38}{median:>12,.0f}{1e6 / median:>10.1f}  {rounds}")
    say()
    for variant, ratios in summ["per_round_ratio"].items():
        per_round = ", ".join(f"{r:.3f}" for r in ratios)
        target = ""
        if variant == HISTORY:
            verdict = "met" if summ["throughput_target_met"] else "MISSED"
            target = f"; target >= {THROUGHPUT_TARGET}: {verdict}"
        say(
            f"ratio {variant} / stateless: median {summ['median_ratio'][variant]:.3f} "
            f"(rounds: {per_round}){target}"
        )
    say()
    last = {v: max((p for p in phases if p.variant == v), key=lambda p: p.round) for v in variants}
    for variant in variants:
        phase = last[variant]
        actions = ", ".join(f"{k} {v:,}" for k, v in phase.decisions_by_action.items()) or "none"
        say(
            f"{LABELS[variant]}: {phase.events:,} outcomes, "
            f"{sum(phase.decisions_by_action.values()):,} decisions ({actions}); "
            f"rejected {phase.rejected}, duplicates {phase.duplicates}, "
            f"failures {phase.failures}"
        )
    hist = last[HISTORY]
    say()
    say(
        f"history path ({LABELS[HISTORY]}): {hist.history_events:,} events entered a stream "
        f"({hist.history_events / cfg['events'] * 100:.1f} % of events; "
        f"{sum(hist.history_rows.values()):,} history rows left after the run), "
        f"{hist.history_accounts:,} accounts with history rows"
    )
    for key, label in report["streams"].items():
        say(f"  {key}: {hist.history_rows.get(key, 0):>9,} rows  {label}")
    states = ", ".join(f"{k} {v:,}" for k, v in hist.deadline_states.items()) or "none"
    say(f"  deadlines started: {sum(hist.deadline_states.values()):,} ({states})")
    for kind in ("window", "deadline"):
        counts = {r: hist.decisions_by_rule.get(r, 0) for r in report["rule_kinds"][kind]}
        listed = ", ".join(f"{r} {n:,}" for r, n in counts.items())
        say(f"  {kind} decisions: {sum(counts.values()):,} ({listed})")
    if work["span_days"] <= report["horizon_days"]:
        say("  (the workload spans less than the horizon: nothing was old enough to be pruned)")
    say()
    tracked = mem["tracked_accounts"]
    growth = mem["max_rss_growth"]
    say(
        f"memory: RSS growth over the timed pass, largest over rounds; {tracked:,} tracked "
        f"accounts (with history or deadline rows) of {mem['accounts']:,}"
    )
    for variant in variants:
        rounds = " / ".join(fmt_signed_mib(g) for g in mem["rss_growth_per_round"][variant])
        peaks = " / ".join(
            fmt_signed_mib(g) if g is not None else "?"
            for g in mem["peak_growth_per_round"][variant]
        )
        say(
            f"  {LABELS[variant]:<36}{fmt_signed_mib(growth[variant]):>11}  "
            f"{mem['rss_growth_per_account'][variant]:>7,.0f} B/account  "
            f"(rounds {rounds}; peak {peaks})"
        )
    verdict = "met" if mem["target_met"] else "MISSED"
    say(
        f"  per tracked account, history: {mem['rss_growth_per_tracked_account']:,.0f} B "
        f"(history minus stateless: {mem['history_minus_stateless_per_tracked_account']:,.0f} B); "
        f"target <= {MEMORY_TARGET} B: {verdict}"
    )
    py_blocks = ", ".join(f"{v} {last[v].py_blocks_growth:+,}" for v in variants)
    say(f"  Python objects left alive by the pass (allocated blocks): {py_blocks}")
    say(
        "db after close: "
        + "; ".join(
            f"{v} {fmt_mib(mem['db_bytes'][v])} ({mem['db_bytes_per_account'][v]:,.0f} B/account)"
            for v in variants
        )
    )


# --- main ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_history.py",
        description="History-aware engine against the stateless core, same events, "
        "one fresh process per measurement.",
    )
    parser.add_argument("--accounts", type=int, default=None, help="default 100,000")
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help=f"default {DEFAULT_EVENTS_PER_ACCOUNT} per account",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--benign-share", type=float, default=DEFAULT_BENIGN_SHARE)
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help="rounds (default %(default)s)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke check: {QUICK_ACCOUNTS:,} accounts unless --accounts says otherwise",
    )
    add_output_arguments(parser)
    parser.add_argument(
        "--split",
        action="store_true",
        help="also time the pack without its deadline rules and without its window rules",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const=HISTORY,
        choices=(*VARIANTS, *SPLIT),
        help="instead of benchmarking, run one variant (default history) once under cProfile",
    )
    # The subprocess side of one measurement.
    parser.add_argument("--child", choices=(*VARIANTS, *SPLIT), help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rules", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def profile(
    variant: str, rules: Path | None, lines: Sequence[bytes], workdir: Path, rows: int
) -> None:
    profiler = cProfile.Profile()
    phase = run_variant(variant, rules, lines, workdir / "profile.db", 0, profiler)
    print(
        f"profiled {LABELS[variant]}: {phase.events:,} events in {phase.seconds:.2f} s under "
        f"cProfile ({phase.events_per_s:,.0f} events/s with profiling overhead), "
        f"RSS {fmt_signed_mib(phase.rss_growth)}, {phase.history_events:,} history events"
    )
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(rows)
    stats.sort_stats("tottime").print_stats(rows)


def describe_workload(lines: Sequence[bytes]) -> dict[str, Any]:
    types: Counter[str] = Counter()
    accounts = set()
    for line in lines:
        event = json.loads(line)
        types[event["type"]] += 1
        accounts.add(event["account_id"])
    first = json.loads(lines[0])["occurred_at"]
    last = json.loads(lines[-1])["occurred_at"]
    span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
    return {
        "types": dict(types.most_common()),
        "accounts_with_events": len(accounts),
        "first": first,
        "last": last,
        "span_days": round(span.total_seconds() / 86_400, 2),
    }


def code_version() -> dict[str, str]:
    """The commit checked out, and whether src/ or rules/ differ from it."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return "?"
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "src", "rules")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "src_and_rules": "?" if changed == "?" else "modified" if changed else "as committed",
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        return child(args)
    accounts = args.accounts or (QUICK_ACCOUNTS if args.quick else DEFAULT_ACCOUNTS)
    events = args.events or DEFAULT_EVENTS_PER_ACCOUNT * accounts
    if events < 1 or accounts < 1 or args.repeat < 1:
        print("bench_history.py: --events, --accounts and --repeat must be >= 1", file=sys.stderr)
        return 2

    host, code = machine(), code_version()  # before the load we add to it
    _progress(f"generating {events:,} events for {accounts:,} accounts ...")
    start = time.perf_counter()
    lines = workload_lines(events, accounts, args.seed, args.benign_share)
    generate_s = time.perf_counter() - start

    variants = (*VARIANTS, *SPLIT) if args.split else VARIANTS
    with tempfile.TemporaryDirectory(prefix="bench-history-", dir=args.tmpdir) as tmp:
        workdir = Path(tmp)
        # The whole pack runs from the packaged folder; the others from copies of part of it.
        folders: dict[str, Path | None] = {HISTORY: None}
        kept: dict[str, list[str]] = {}
        for variant in (STATELESS, *SPLIT):
            folders[variant] = workdir / f"rules-{variant}"
            kept[variant] = copy_rules(workdir / f"rules-{variant}", variant)
        if args.profile:
            profile(args.profile, folders[args.profile], lines, workdir, args.profile_lines)
            return 0
        lines_path = workdir / "events.jsonl"
        lines_path.write_bytes(b"\n".join(lines) + b"\n")
        workload = describe_workload(lines)
        del lines
        gc.collect()
        packs = {v: load_ruleset(folders[v]) for v in variants}

        phases: list[Phase] = []
        for round_ in range(args.repeat):
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                _progress(f"round {round_ + 1}/{args.repeat}: {LABELS[variant]} ...")
                phase = measure(variant, round_, workdir, lines_path, folders[variant])
                phases.append(phase)
                _progress(
                    f"  {phase.events_per_s:,.0f} events/s ({phase.seconds:.2f} s), "
                    f"RSS {fmt_signed_mib(phase.rss_growth)}"
                )

    history_pack = packs[HISTORY]
    report: dict[str, Any] = {
        "config": {
            "events": events,
            "accounts": accounts,
            "seed": args.seed,
            "benign_share": args.benign_share,
            "repeat": args.repeat,
            "split": args.split,
            "generate_s": round(generate_s, 3),
            "command": "PYTHONPATH=src python bench/bench_history.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "machine": host,
        "code": code,
        "packs": {
            v: {"name": p.name, "digest": p.digest, "rules": len(p.rules)} for v, p in packs.items()
        },
        "rules_kept": {v: ids for v, ids in kept.items() if v in variants},
        "rule_kinds": {
            "window": [r.id for r in history_pack.rules if r.window is not None],
            "deadline": [r.id for r in history_pack.rules if r.deadline is not None],
        },
        "horizon_days": history_pack.horizon_us / 86_400e6,
        "streams": stream_labels(history_pack),
        "workload": workload,
        "summary": summarize(phases, args.repeat, workload["accounts_with_events"]),
        "phases": [phase.to_dict() for phase in phases],
    }
    return emit(report, args.json, lambda out: print_table(report, phases, out))


if __name__ == "__main__":
    sys.exit(main())
