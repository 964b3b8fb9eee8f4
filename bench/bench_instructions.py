"""Instructions per event (issue 19): raw durable-rules `post()` against `Engine.run` and
`process()`, counted by valgrind's callgrind, which repeats to the instruction where wall
and CPU time on a shared machine do not. The default window (5,000 events after 100) holds
about the stream's share of registrations; the older one (1,000 after 500) held a fifth of it.

    PYTHONPATH=src python bench/bench_instructions.py                      # both mixes, all
    PYTHONPATH=src python bench/bench_instructions.py --only post run --mix default
    PYTHONPATH=src python bench/bench_instructions.py --only help          # `--help` alone
    PYTHONPATH=src python bench/bench_instructions.py --json out.json

Each count is a fresh process of this script (`--child`) under `valgrind --tool=callgrind`
(its main thread only: durable-rules' threads wake on the wall clock),
`PYTHONHASHSEED=0`. A variant is run twice over the same JSON lines: once for the warm-up
events alone, once for the warm-up and the measured events; the difference divided by the
measured events is the cost of one event once imports, rule compilation, the db's creation
and the first calls' caches are paid (both runs pay those alike, and close the engine).

- **post**: `DurableMatcher.post(snapshot)` on snapshots made before either count differs
  (as `bench_core.py`'s baseline: no parsing, validation or storage);
- **run**: `Engine.run(iter_jsonl(lines))` into a SQLite file, commits in batches;
- **process**: `Engine.process(line)` per event outside a batch, a commit each;
- **help**: `blacklist-rules --help`, the whole process (not per event).

Beside each engine variant: SQL statements per measured event (SQLite's trace callback, in a
run without valgrind). The ratio raw ÷ ours is post's instructions per event over ours: the
speed of ours as a share of raw durable-rules, 1.0 meaning as fast.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_core import emit, workload_lines

VARIANTS = ("post", "run", "process", "help")
PER_EVENT = ("post", "run", "process")
MIX_NAMES = ("default", "registration-heavy")
TOTALS = re.compile(rb"^(?:totals|summary):\s+(\d+)", re.MULTILINE)
HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


# --- the child: one variant over a prefix of the lines -------------------------------------


def _child(variant: str, path: Path, warmup: int, measure: int, statements: bool) -> int:
    """Run `variant` over `warmup` then `measure` lines of `path`; with `statements`, print
    how many SQL statements the measured lines ran."""
    every = path.read_bytes().splitlines()
    if variant == "post":
        _post(every, warmup + measure)
        return 0
    first, rest = every[:warmup], every[warmup : warmup + measure]
    from blacklist_rules.engine import Engine
    from blacklist_rules.model.events import iter_jsonl
    from blacklist_rules.stores.sqlite import SQLiteStore

    with tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp:
        engine = Engine.from_path(None, db=Path(tmp) / "x.db", create_key=True, max_lead=None)
        seen: list[str] = []

        def feed(part: Sequence[bytes]) -> None:
            if variant == "process":
                for line in part:
                    engine.process(line, failures="outcome")
            else:
                for _ in engine.run(iter_jsonl(part), failures="outcome"):
                    pass

        feed(first)
        store = engine.store
        if statements and isinstance(store, SQLiteStore):
            store.connection.trace(seen.append)
        feed(rest)
        engine.close()
    if statements:
        print(json.dumps({"statements": len(seen)}))
    return 0


def _post(every: Sequence[bytes], count: int) -> None:
    """Snapshots of every line of the file (so both counts make the same), then `count`
    posts."""
    from bench_core import snapshots_of

    from blacklist_rules.engine import load_ruleset
    from blacklist_rules.matching.durable import DurableMatcher

    ruleset = load_ruleset()
    matcher = DurableMatcher.for_plan(ruleset, ruleset.name + "_raw")
    for snapshot in snapshots_of(every, ruleset)[:count]:
        matcher.post(snapshot)


# --- the parent: counts under callgrind ----------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


def instructions(command: Sequence[str], out: Path) -> int:
    """Instructions the command's main thread ran, counted by callgrind (`out`: where
    callgrind writes, a file per thread, removed after)."""
    # The main thread alone: durable-rules' own threads wake on the wall clock, so what they
    # count moves with the machine's load (±10 % of a per-event figure, measured).
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            *command,
        ],
        check=True,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    main = out.with_name(f"{out.name}-01")
    found = TOTALS.search(main.read_bytes())
    for each in out.parent.glob(f"{out.name}-*"):
        each.unlink()
    if found is None:
        raise SystemExit(f"bench_instructions.py: no totals in callgrind's output of {command}")
    return int(found.group(1))


def _child_command(variant: str, path: Path, warmup: int, measure: int) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        variant,
        "--file",
        str(path),
        "--warmup",
        str(warmup),
        "--measure",
        str(measure),
    ]


def statements_per_event(variant: str, path: Path, warmup: int, measure: int) -> float:
    command = [*_child_command(variant, path, warmup, measure), "--statements"]
    done = subprocess.run(command, check=True, env=_env(), capture_output=True, text=True)
    return int(json.loads(done.stdout.splitlines()[-1])["statements"]) / measure


def measure_variant(
    variant: str,
    path: Path,
    warmup: int,
    measure: int,
    workdir: Path,
    stem: str,
    pool: Executor,
) -> dict[str, Any]:
    """The variant's two counts (run side by side in `pool`) and its statements."""
    base_job, total_job = (
        pool.submit(
            instructions, _child_command(variant, path, warmup, n), workdir / f"{stem}-{n}.out"
        )
        for n in (0, measure)
    )
    base, total = base_job.result(), total_job.result()
    result: dict[str, Any] = {
        "instructions_per_event": round((total - base) / measure),
        "instructions_warmup_only": base,
    }
    if variant != "post":
        result["statements_per_event"] = round(
            statements_per_event(variant, path, warmup, measure), 3
        )
    return result


def measure_help(workdir: Path) -> dict[str, Any]:
    command = [sys.executable, "-c", "from blacklist_rules.cli import main; main(['--help'])"]
    return {"instructions": instructions(command, workdir / "help.out")}


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure_all(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "config": {
            "events": args.events,
            "warmup": args.warmup,
            "accounts": args.accounts or (args.events + args.warmup) // 10,
            "seed": args.seed,
            "command": "PYTHONPATH=src python bench/bench_instructions.py " + " ".join(args.argv),
        },
        "mixes": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp,
        ThreadPoolExecutor(args.jobs) as pool,
    ):
        workdir = Path(tmp)
        if "help" in args.only:
            _progress("help ...")
            report["help"] = measure_help(workdir)
        for mix in args.mix if any(v in PER_EVENT for v in args.only) else ():
            path = workdir / f"{mix}.jsonl"
            lines = workload_lines(
                args.events + args.warmup, report["config"]["accounts"], args.seed, 0.95, mix
            )
            path.write_bytes(b"\n".join(lines) + b"\n")
            found: dict[str, Any] = {}
            for variant in (v for v in PER_EVENT if v in args.only):
                _progress(f"{mix}: {variant} ...")
                found[variant] = measure_variant(
                    variant, path, args.warmup, args.events, workdir, f"{mix}-{variant}", pool
                )
            raw = found.get("post", {}).get("instructions_per_event")
            for variant in ("run", "process"):
                if raw and variant in found:
                    ours = found[variant]["instructions_per_event"]
                    found[variant]["ratio_raw_over_ours"] = round(raw / ours, 3)
            report["mixes"][mix] = found
    return report


def show(report: dict[str, Any], out: Any) -> None:
    cfg = report["config"]
    print(
        f"instructions per event (callgrind): {cfg['events']:,} measured events after "
        f"{cfg['warmup']:,} warm-up events, {cfg['accounts']:,} accounts, seed {cfg['seed']}",
        file=out,
    )
    head = f"{'mix':<20}{'variant':<10}{'instr/event':>13}{'raw ÷ ours':>12}{'SQL/event':>11}"
    print(head, file=out)
    print("-" * len(head), file=out)
    for mix, found in report["mixes"].items():
        for variant, row in found.items():
            ratio = row.get("ratio_raw_over_ours")
            sql = row.get("statements_per_event")
            print(
                f"{mix:<20}{variant:<10}{row['instructions_per_event']:>13,}"
                f"{'' if ratio is None else f'{ratio:.3f}':>12}"
                f"{'' if sql is None else f'{sql:.3f}':>11}",
                file=out,
            )
    if "help" in report:
        print(f"blacklist-rules --help: {report['help']['instructions']:,} instructions", file=out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_instructions.py",
        description="Instructions per event under callgrind: raw post() against the engine.",
    )
    # 5,000 events after 100: the generator front-loads registrations, so a window of 1,000
    # after 500 held 1.9 % of them against 10 % over a whole stream, and flattered the engine.
    parser.add_argument("--events", type=int, default=5000, help="measured events")
    parser.add_argument("--warmup", type=int, default=100, help="events before the count")
    parser.add_argument(
        "--accounts", type=int, default=0, help="default mix: accounts (default: events / 10)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--jobs", type=int, default=2, help="callgrind runs side by side (default %(default)s)"
    )
    parser.add_argument("--mix", nargs="+", choices=MIX_NAMES, default=list(MIX_NAMES))
    parser.add_argument("--only", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="JSON to PATH, or alone on stdout"
    )
    parser.add_argument("--child", choices=PER_EVENT, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--statements", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.child:
        return _child(args.child, args.file, args.warmup, args.measure, args.statements)
    if args.events < 1 or args.warmup < 0:
        print("bench_instructions.py: --events must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    report = measure_all(args)
    return emit(report, args.json, lambda out: show(report, out))


if __name__ == "__main__":
    sys.exit(main())
