"""Mutation testing of the core modules with mutmut 3: how many one-token changes the tests catch.

    pip install 'mutmut==3.8.1'       # or: pip install -e '.[dev]' (the dev extra has it)
    python bench/mutation.py                       # every target, one after the other
    python bench/mutation.py history chain         # some targets
    python bench/mutation.py --list                # the targets, their tests, nothing run
    python bench/mutation.py --report-only history # the figures of the last run, nothing run

Each target mutates one module (or, for `retention`, four methods of the SQLite store's
retention mixin: mutmut mutates whole files, and the audit purge beside them is not what this
measures, so only the mutants of those methods are run) against a few test files, chosen so a
target runs in minutes; the targets are listed in bench/mutation_targets.py. Each runs in its
own folder `.mutation/<target>/` (git ignores it): a copy of src/, tests/, rules/ and
examples/ with a pyproject.toml carrying the target's `[tool.mutmut]` table, so the project's
own pytest configuration is used unchanged and targets never share mutmut's caches.

Printed per target: mutants, killed (a test failed, or it timed out), survived (no test
failed; mutmut's "no tests" counts here too: no selected test even runs the code), the
survivors listed below as equivalent, and the kill rate of the non-equivalent ones. Then every
survivor not known to be equivalent, with its diff (`--quiet`: only the name). Not a CI gate:
a run takes a long while; the figure is kept current in bench/README.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutation_targets import TARGETS, Target  # (bench/ is on the path: run as a script)

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
MUTMUT = "3.8.1"
"""The version the figures in bench/README.md were measured with."""
_COPIED = ("src", "tests", "rules", "examples")
_KILLED = {"killed", "timeout", "caught by type check", "segfault"}
_SURVIVED = {"survived", "no tests"}


def _pyproject(target: Target, tests: Sequence[str]) -> str:
    """The project's pyproject.toml with the target's `[tool.mutmut]` table added."""
    own = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = {
        "source_paths": ["src"],
        "only_mutate": [target.module],
        "also_copy": ["rules", "examples"],
        "pytest_add_cli_args_test_selection": list(tests),
        # A fixed Hypothesis seed: a mutant is killed or not the same way on every run.
        "pytest_add_cli_args": ["-q", "-p", "no:cacheprovider", "--hypothesis-seed=0"],
        "use_git_change_detection": False,
        # A mutant is a timeout past 6 x (its tests' time + 10 s) of CPU, not mutmut's 30 x
        # (its tests' time + 1 s): a mutant that makes durable-rules build forever costs a
        # minute or two, not ten; the 10 s cover a worker's pytest start (with 1 s, mutants
        # of fast functions timed out on a busy machine before their tests ran).
        "timeout_multiplier": 3.0,
        "timeout_constant": 10.0,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return own + "\n[tool.mutmut]\n" + "\n".join(lines) + "\n"


def _prepare(name: str, target: Target, fresh: bool) -> Path:
    """The target's folder: a fresh copy of the sources, tests and configuration."""
    work = WORK / name
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for folder in _COPIED:
        shutil.rmtree(work / folder, ignore_errors=True)
        shutil.copytree(
            ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__", "*.db*")
        )
    tests = [test for test in target.tests if test.startswith("-") or (ROOT / test).exists()]
    (work / "pyproject.toml").write_text(_pyproject(target, tests), encoding="utf-8")
    return work


def _statuses(work: Path) -> dict[str, str]:
    """Every mutant of the last run and its mutmut status, read from mutmut's .meta files."""
    from mutmut.stats import status_by_exit_code  # (mutmut is a dev tool, not a dependency)

    found: dict[str, str] = {}
    for meta in (work / "mutants").rglob("*.meta"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        for mutant, code in data.get("exit_code_by_key", {}).items():
            found[mutant] = status_by_exit_code[code]
    return found


@dataclass(frozen=True)
class Figures:
    target: str
    mutants: int
    killed: int
    survived: list[str]
    equivalent: list[str]
    not_run: int

    @property
    def rate(self) -> float:
        """Killed share of the mutants not known to be equivalent (not run ones left out)."""
        counted = self.killed + len(self.survived) - len(self.equivalent)
        return 100.0 * self.killed / counted if counted else 100.0


def _figures(name: str, target: Target, statuses: dict[str, str]) -> Figures:
    chosen = {
        mutant: status
        for mutant, status in statuses.items()
        if not target.names or any(fnmatch.fnmatchcase(mutant, glob) for glob in target.names)
    }
    survived = sorted(m for m, status in chosen.items() if status in _SURVIVED)
    return Figures(
        target=name,
        mutants=len(chosen),
        killed=sum(status in _KILLED for status in chosen.values()),
        survived=survived,
        equivalent=[m for m in survived if m in target.equivalent],
        not_run=sum(status not in _KILLED | _SURVIVED for status in chosen.values()),
    )


def _mutmut(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "mutmut", *args]
    return subprocess.run(command, cwd=work, env=env, text=True, capture_output=True, check=False)


def _run(name: str, target: Target, children: int, fresh: bool) -> float:
    work = _prepare(name, target, fresh)
    started = time.monotonic()
    done = _mutmut(work, "run", "--max-children", str(children), *target.names)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutmut failed on {name} (exit {done.returncode})")
    return elapsed


def _print(
    figures: Figures, target: Target, work: Path, quiet: bool, elapsed: float | None
) -> None:
    took = f", {elapsed / 60:.1f} min" if elapsed is not None else ""
    print(
        f"{figures.target:<10} mutants {figures.mutants:4}  killed {figures.killed:4}  "
        f"survived {len(figures.survived):3}  equivalent {len(figures.equivalent):3}  "
        f"not run {figures.not_run:3}  kill rate {figures.rate:5.1f} %{took}"
    )
    for mutant in figures.survived:
        why = target.equivalent.get(mutant)
        if why is not None:
            print(f"    equivalent  {mutant}: {why}")
            continue
        print(f"    SURVIVED    {mutant}")
        if not quiet:
            diff = _mutmut(work, "show", mutant).stdout
            print("".join(f"        {line}\n" for line in diff.splitlines()[1:]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument("--list", action="store_true", help="show the targets and stop")
    parser.add_argument("--report-only", action="store_true", help="figures of the last run")
    parser.add_argument("--keep", action="store_true", help="reuse mutmut's results so far")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--quiet", action="store_true", help="survivors' names, no diffs")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target {unknown[0]}: choose from {', '.join(TARGETS)}")
    if args.list:
        for name in names:
            target = TARGETS[name]
            print(f"{name:<10} {target.module}  {' '.join(target.names)}")
            print(f"{'':<10} tests: {' '.join(target.tests)}")
        return 0
    total = Figures("all", 0, 0, [], [], 0)
    for name in names:
        target = TARGETS[name]
        elapsed = None
        if not args.report_only:
            elapsed = _run(name, target, args.children, fresh=not args.keep)
        work = WORK / name
        figures = _figures(name, target, _statuses(work))
        _print(figures, target, work, args.quiet, elapsed)
        total = Figures(
            "all",
            total.mutants + figures.mutants,
            total.killed + figures.killed,
            total.survived + figures.survived,
            total.equivalent + figures.equivalent,
            total.not_run + figures.not_run,
        )
    if len(names) > 1:
        print(
            f"overall: {total.mutants} mutants, {total.killed} killed, {len(total.survived)} "
            f"survived ({len(total.equivalent)} equivalent): kill rate {total.rate:.1f} % "
            "of the non-equivalent"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
