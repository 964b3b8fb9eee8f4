"""`test [RULES] [CASES…]`: run rule test cases; failures by name, then rule coverage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from blacklist_rules import CaseResult, Coverage, load_cases, load_ruleset, run_case

from ._common import Commands, Exit, _percent, print_json

DEFAULT_CASES = "tests/cases"


def add_parser(commands: Commands) -> None:
    test = commands.add_parser(
        "test",
        help="run rule test cases; report failures by name, then rule coverage",
        description="Run the YAML test cases (default: tests/cases/) against a rule folder "
        "(default: the packaged pack). A coverage line per rule says whether it fired; T/F per "
        "condition whether it was seen true / false.",
    )
    test.add_argument(
        "rules",
        nargs="?",
        default=None,
        metavar="RULES",
        help="the rule folder (default: the packaged default pack)",
    )
    test.add_argument(
        "cases",
        nargs="*",
        metavar="CASES",
        help=f"case files or folders (default: {DEFAULT_CASES}/)",
    )
    test.add_argument(
        "--min-coverage",
        type=_percent,
        metavar="N",
        help="exit 5 below N percent coverage (default: no minimum)",
    )
    test.add_argument("--json", action="store_true", help="one JSON report instead of text")
    test.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Run rule test cases, report failures by name, then coverage; exit 1 on any failure,
    else 5 on coverage under `--min-coverage`."""
    if not args.cases and not Path(DEFAULT_CASES).is_dir():
        print(
            f"error: no {DEFAULT_CASES}/ here: name the case files or folders, or write a copy "
            "of the default pack and its cases with `blacklist-rules init DIR`",
            file=sys.stderr,
        )
        return Exit.USAGE
    ruleset = load_ruleset(args.rules)
    cases = load_cases([Path(p) for p in args.cases or [DEFAULT_CASES]])
    coverage = Coverage(ruleset)
    results = [run_case(ruleset, case, coverage) for case in cases]
    failed = [result for result in results if not result.passed]
    report = coverage.report()
    low = args.min_coverage is not None and report["percent"] < args.min_coverage
    if args.json:
        print_json(
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
        return _verdict(failed, low)
    for result in failed:
        print(result.describe())
    print(f"{len(results)} cases: {len(results) - len(failed)} passed, {len(failed)} failed")
    _show_coverage(report)
    if low:
        print(f"coverage {report['percent']}% is below --min-coverage {args.min_coverage}")
    return _verdict(failed, low)


def _verdict(failed: list[CaseResult], low: bool) -> Exit:
    """A failing case first (the rules are wrong), then coverage under the gate."""
    return Exit.FAILED if failed else Exit.THRESHOLD if low else Exit.OK


def _show_coverage(report: dict[str, Any]) -> None:
    print(f"coverage {report['percent']}% ({report['covered']} of {report['total']}):")
    for rule in report["rules"]:
        print(f"  {'fired' if rule['fired'] else 'NEVER FIRED':12} {rule['rule_id']}")
        for condition in rule["conditions"]:
            marks = ("T" if condition["seen_true"] else "-") + (
                "F" if condition["seen_false"] else "-"
            )
            print(f"      {marks}  {condition['condition']}")
