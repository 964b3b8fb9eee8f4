"""Loading a rule pack for the engine: load, check, compile, and the rules the matcher cannot
build."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from blacklist_rules.errors import RuleFileError, RuleLoadError
from blacklist_rules.matching.durable import build_problems
from blacklist_rules.pack.checks import check_rules
from blacklist_rules.pack.compiler import CompiledRuleset, compile_rules
from blacklist_rules.pack.fields import read_declared_fields
from blacklist_rules.pack.loader import RuleSource, read_rules
from blacklist_rules.pack.notice_templates import check_rule_notices, read_notice_pack


def default_rules_path() -> Path:
    """The packaged default rule pack (the repository's `rules/` in a source checkout)."""
    packaged = resources.files("blacklist_rules") / "rules"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "rules"


def load_ruleset(location: str | Path | None = None) -> CompiledRuleset:
    """Load, check and compile a rule pack; raises `RuleLoadError` with every error found."""
    folder = Path(location) if location is not None else default_rules_path()
    rules, errors = read_rules(folder)
    notices, found = read_notice_pack(folder)
    errors.extend(found)
    declared, found = read_declared_fields(folder)
    errors.extend(found)
    errors.extend(check_rules(rules, declared.catalog()))
    errors.extend(check_rule_notices(rules, notices))
    if errors:
        raise RuleLoadError(sorted(errors))
    ruleset = compile_rules(rules, notices, declared)
    errors = engine_problems(rules, ruleset)
    if errors:
        raise RuleLoadError(errors)
    return ruleset


def engine_problems(rules: list[RuleSource], ruleset: CompiledRuleset) -> list[RuleFileError]:
    """Rules that pass every check but that durable-rules cannot build (or not in time): the
    rule itself and the filters feeding its windows and deadlines."""
    hint = "split it into several rules, or simplify nested `not`/`any`"
    parts: list[tuple[RuleSource, str, tuple[str, ...]]] = []
    for source in rules:
        compiled = ruleset.rule(source.spec.id)
        if compiled.deadline is None:
            parts.append((source, compiled.id, ("when",)))
            continue
        deadline = compiled.deadline
        parts += [(source, f"stream:{key}", ("deadline", "unless")) for key in deadline.unless]
        if deadline.after_listener:
            parts.append((source, deadline.after_listener, ("deadline", "after")))
    problems = build_problems(ruleset, [name for _, name, _ in parts])
    return [
        source.error(at, "E-ENGINE", f"rule `{source.spec.id}`: {problems[name]}", hint)
        for source, name, at in parts
        if name in problems
    ]
