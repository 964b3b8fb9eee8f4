"""`diff`: replay events through two rule versions (or weigh the db's shadow decisions) and
report what changes; gate on the share of irreversible outcomes that change."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from blacklist_rules import (
    __version__,
    iter_jsonl,
    load_ruleset,
    render_html,
    replay_diff,
    shadow_diff,
)
from blacklist_rules.tools.diff_html import (
    DigestingReader,
    make_provenance,
    missing_dependency,
    render_shadow_html,
)

from ._common import (
    KEY_HELP,
    Commands,
    Exit,
    _percent,
    db_option,
    print_json,
    progress,
    reader,
    rules_option,
)


def add_parser(commands: Commands) -> None:
    diff = commands.add_parser(
        "diff",
        help="replay events through two rule versions and report what changes",
        description="Replays EVENTS.jsonl through the baseline and the candidate rule folders "
        "side by side (two temporary dbs) and reports the accounts that end differently, by "
        "transition, decisions per rule, samples with evidence, and the share of irreversible "
        "outcomes (enforced cancel, blacklist) that change. --format html writes one "
        "self-contained page (docs/diff-report.md). A progress bar shows on a terminal. "
        "Exit 1 when a pack does not load, 2 when --format html lacks the report extra, 5 when "
        "the share is above --fail-on-irreversible.",
        epilog="With --shadow: " + KEY_HELP,
    )
    diff.add_argument(
        "events", nargs="?", metavar="EVENTS.jsonl", help="the events to replay, one a line"
    )
    diff.add_argument("--baseline", metavar="DIR", help="the rule folder in force today")
    diff.add_argument("--candidate", metavar="DIR", help="the rule folder proposed")
    diff.add_argument(
        "--shadow",
        action="store_true",
        help="instead: the shadow decisions in --db against its enforced outcomes",
    )
    db_option(diff, "with --shadow: the db to read")
    rules_option(diff)
    diff.add_argument(
        "--format",
        choices=["text", "json", "html"],
        default="text",
        help="the report's form; json and html carry the provenance (packs, rule-text diff, "
        "input digest, version, time); html: one self-contained page with a chart, every changed "
        "account (needs the 'report' extra: matplotlib) (default: %(default)s)",
    )
    diff.add_argument(
        "--samples",
        type=int,
        default=3,
        help="sample accounts shown per transition in text and json; json and html also list "
        "every changed account (default: %(default)s)",
    )
    diff.add_argument(
        "--fail-on-irreversible",
        type=_percent,
        metavar="PCT",
        help="exit 5 when more than PCT percent of cancel/blacklist outcomes change "
        "(default: no gate)",
    )
    diff.add_argument("--workdir", type=Path, help="where the replay's dbs go (default: temp)")
    diff.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Replay the events through two rule versions; report what changes; gate on the share of
    irreversible outcomes that change."""
    if args.shadow:
        return _shadow(args)
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
    if args.format == "html" and (missing := missing_dependency()) is not None:
        print(f"error: {missing}", file=sys.stderr)
        return Exit.USAGE
    baseline, candidate = load_ruleset(args.baseline), load_ruleset(args.candidate)
    bar = progress(events)
    with (
        tempfile.TemporaryDirectory(prefix="blacklist-rules-diff-", dir=args.workdir) as work,
        events.open("rb") as handle,
    ):
        read = DigestingReader(handle)
        report = replay_diff(
            baseline,
            candidate,
            iter_jsonl(read),
            Path(work),
            samples=args.samples,
            advanced=bar.update,
        )
    bar.close()
    report["provenance"] = make_provenance(
        (str(Path(args.baseline).resolve()), baseline),
        (str(Path(args.candidate).resolve()), candidate),
        read.input_file(str(events.resolve())),
        tool_version=__version__,
    ).to_dict()
    if args.format == "json":
        print_json(report, sys.stdout)
    elif args.format == "html":
        sys.stdout.write(render_html(report))
    else:
        _show_diff(report)
    return _gate(report["irreversible"]["percent"], args.fail_on_irreversible)


def _gate(share: float, most: float | None) -> Exit:
    """Exit 5 when more than `most` percent of irreversible outcomes change (1 is a pack that
    does not load: a CI job tells the two apart)."""
    if most is not None and share > most:
        print(
            f"{share} % of irreversible outcomes change: more than --fail-on-irreversible {most}",
            file=sys.stderr,
        )
        return Exit.THRESHOLD
    return Exit.OK


def _shadow(args: argparse.Namespace) -> int:
    """The db's shadow decisions against its enforced outcomes."""
    if args.format == "html" and (missing := missing_dependency()) is not None:
        print(f"error: {missing}", file=sys.stderr)
        return Exit.USAGE
    with reader(args) as engine:
        report = shadow_diff(engine, samples=args.samples)
    if args.format == "json":
        print_json(report, sys.stdout)
    elif args.format == "html":
        sys.stdout.write(render_shadow_html(report, tool_version=__version__))
    else:
        _show_shadow(report)
    return _gate(report["irreversible"]["percent"], args.fail_on_irreversible)


def _show_shadow(report: dict[str, Any]) -> None:
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
