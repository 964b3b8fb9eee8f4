"""`lint [RULES]`: every check of `validate`, and what it lets through: a changed rule that
kept its version (against an older pack, a git revision or a db), rules that can never decide,
notice placeholders and reason numbers that no longer fit (docs/lint.md)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from blacklist_rules import BlacklistRulesError, RuleFileError
from blacklist_rules.engine.loading import inspect_pack, recorded_priors
from blacklist_rules.pack.lint import PriorRule, lint_rules, read_prior, severity
from blacklist_rules.pack.loader import RULE_SUFFIXES, read_source, rule_files
from blacklist_rules.stores.factory import is_postgres, open_store

from ._common import MISSING, Commands, Exit, existing_db, print_json

FORMATS = ("text", "json")
SEVERITIES = ("error", "warning")


def add_parser(commands: Commands) -> None:
    lint = commands.add_parser(
        "lint",
        help="check rule files for what validate lets through",
        description="Runs every check of validate, then looks for what it lets through: a "
        "rule whose text changed but whose version did not (against an older pack folder, "
        "a git revision, or the rule texts a db recorded), rules that can never decide "
        "(overruled by a more severe rule on the same events and a weaker condition, or "
        "never above the status they see), notice placeholders left out or meaningless, "
        "and reason, description or notice text whose numbers are not the rules' thresholds. "
        "Each finding is a "
        "line file:line: code: message (hint); E-… codes are errors, W-… warnings. Exit 0 "
        "when nothing is found, 7 when something is (see --fail-on).",
    )
    lint.add_argument(
        "rules",
        nargs="?",
        default=None,
        metavar="RULES",
        help="the rule folder (default: the packaged default pack)",
    )
    against = lint.add_mutually_exclusive_group()
    against.add_argument(
        "--against",
        metavar="OLD_PACK_DIR",
        help="compare rule versions with an older copy of the pack (default: no comparison)",
    )
    against.add_argument(
        "--against-git",
        metavar="REV",
        help="compare rule versions with the pack's folder at a git revision, e.g. HEAD or "
        "origin/main (RULES must be in a git work tree; default: no comparison)",
    )
    against.add_argument(
        "--db",
        metavar="PATH",
        help="compare rule versions with every pack this db has run, a SQLite file or a "
        "postgresql:// URL, opened read-only (default: no comparison)",
    )
    lint.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: one finding a line; json: one JSON list of {file, line, code, severity, "
        "message, hint} (default: %(default)s)",
    )
    lint.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="warning",
        help="exit 7 for findings of this severity or worse; error ignores warnings "
        "(default: %(default)s)",
    )
    lint.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    pack = inspect_pack(args.rules)
    prior = _prior(args, pack.folder)
    findings = sorted(pack.errors + lint_rules(pack.rules, pack.notices, pack.folder, prior))
    if args.format == "json":
        print_json([_as_dict(finding) for finding in findings], sys.stdout)
    else:
        for finding in findings:
            print(finding)
    sys.stdout.flush()  # the findings before the count, where both go to one terminal
    counts = {kind: sum(severity(f.code) == kind for f in findings) for kind in SEVERITIES}
    print(
        f"{pack.folder}: {counts['error']} error(s), {counts['warning']} warning(s)",
        file=sys.stderr,
    )
    if any(finding.code == MISSING for finding in pack.errors):
        return Exit.USAGE  # no such rule folder: nothing was linted
    failing = SEVERITIES[: SEVERITIES.index(args.fail_on) + 1]
    return Exit.FINDINGS if any(counts[kind] for kind in failing) else Exit.OK


def _as_dict(finding: RuleFileError) -> dict[str, object]:
    """One finding as `--format json` writes it (docs/lint.md: the schema)."""
    return {
        "file": finding.file,
        "line": finding.line,
        "code": finding.code,
        "severity": severity(finding.code),
        "message": finding.message,
        "hint": finding.hint,
    }


def _prior(args: argparse.Namespace, folder: Path) -> list[PriorRule]:
    """The earlier rule texts the options name: none, an older folder, a git revision, a db."""
    if args.against is not None:
        return _folder_priors(Path(args.against))
    if args.against_git is not None:
        return _git_priors(folder, args.against_git)
    if args.db is not None:
        target = args.db if is_postgres(args.db) else existing_db(args.db)
        store = open_store(target, read_only=True, busy_timeout=args.busy_timeout)
        try:
            return recorded_priors(store, store.path)
        finally:
            store.close()
    return []


def _folder_priors(old: Path) -> list[PriorRule]:
    if not old.exists():
        raise BlacklistRulesError(f"no such pack to compare with: {old}")
    files = [old] if old.is_file() else rule_files(old)
    found = []
    for path in files:
        text = read_source(path)
        rule = None if isinstance(text, RuleFileError) else read_prior(str(path), text)
        if rule is not None:
            found.append(PriorRule(rule, str(old)))
    return found


def _git(where: Path, failed: str, *argv: str) -> str:
    """`git -C where ARGV`'s output; its failure a `BlacklistRulesError` (exit 2) that says
    what `failed`, then what git said."""
    try:
        done = subprocess.run(
            ["git", "-C", str(where), *argv], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise BlacklistRulesError("--against-git needs git, which is not installed") from exc
    if done.returncode != 0:
        told = " ".join(done.stderr.split()) or f"exit {done.returncode}"
        raise BlacklistRulesError(f"{failed} (git {argv[0]}: {told})")
    return done.stdout


def _git_priors(folder: Path, rev: str) -> list[PriorRule]:
    """The pack's rule files as they were at `rev` (`git show REV:path`), by id."""
    where = folder if folder.is_dir() else folder.parent
    if not where.is_dir():
        raise BlacklistRulesError(f"no such pack: {folder}")
    outside = f"{where} is not in a git work tree: --against-git needs one"
    if _git(where, outside, "rev-parse", "--is-inside-work-tree").strip() != "true":
        raise BlacklistRulesError(outside)
    unknown = f"git has no revision {rev!r} here"
    listed = _git(
        where, unknown, "ls-tree", "-r", "-z", "--name-only", "--full-name", rev, "--", "."
    )
    names = [
        name
        for name in listed.split("\0")
        if name.endswith(RULE_SUFFIXES) and not Path(name).name.startswith(".")
    ]
    if folder.is_file():
        names = [name for name in names if Path(name).name == folder.name]
    found = []
    for name in names:
        text = _git(where, f"cannot read {name} at {rev}", "show", f"{rev}:{name}")
        rule = read_prior(f"{rev}:{name}", text)
        if rule is not None:
            found.append(PriorRule(rule, f"git {rev}"))
    return found
