"""Loading a rule pack for the engine: load, check, compile, and the rules the matcher cannot
build; and the refusal of a pack whose rule ids and versions a db holds with other text."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import attrs

from blacklist_rules.errors import RuleFileError, RuleLoadError, RuleVersionError
from blacklist_rules.matching.durable import build_problems
from blacklist_rules.pack.checks import check_rules
from blacklist_rules.pack.compiler import CompiledRuleset, compile_rules
from blacklist_rules.pack.fields import read_declared_fields
from blacklist_rules.pack.lint import PriorRule, RuleText, recorded_rule
from blacklist_rules.pack.lint.versions import version_clashes
from blacklist_rules.pack.loader import RuleSource, read_rules
from blacklist_rules.pack.notice_templates import NoticePack, check_rule_notices, read_notice_pack
from blacklist_rules.stores.protocols import Settings


def default_rules_path() -> Path:
    """The packaged default rule pack (the repository's `rules/` in a source checkout)."""
    packaged = resources.files("blacklist_rules") / "rules"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "rules"


@attrs.frozen
class InspectedPack:
    """A pack as far as it loads: the rules and templates that parsed, every error `validate`
    reports, and the compiled pack when there is none."""

    folder: Path
    rules: list[RuleSource]
    notices: NoticePack | None
    errors: list[RuleFileError]
    ruleset: CompiledRuleset | None


def inspect_pack(location: str | Path | None = None) -> InspectedPack:
    """Load, check and compile a rule pack, collecting every error instead of raising."""
    folder = Path(location) if location is not None else default_rules_path()
    rules, errors = read_rules(folder)
    notices, found = read_notice_pack(folder)
    errors.extend(found)
    declared, found = read_declared_fields(folder)
    errors.extend(found)
    errors.extend(check_rules(rules, declared.catalog()))
    errors.extend(check_rule_notices(rules, notices))
    ruleset = None
    if not errors:
        ruleset = compile_rules(rules, notices, declared)
        errors = engine_problems(rules, ruleset)
    return InspectedPack(folder, rules, notices, sorted(errors), None if errors else ruleset)


def load_ruleset(location: str | Path | None = None) -> CompiledRuleset:
    """Load, check and compile a rule pack; raises `RuleLoadError` with every error found."""
    pack = inspect_pack(location)
    if pack.ruleset is None:
        raise RuleLoadError(pack.errors)
    return pack.ruleset


def recorded_priors(
    store: Settings, where: str, restating: Sequence[RuleText] | None = None
) -> list[PriorRule]:
    """The rules of every pack the db has used, as earlier texts to compare with; with
    `restating`, only those under one of its ids and versions with other text (the others
    are not parsed: a db that ran many packs costs nothing more to open)."""
    texts = None if restating is None else {(r.rule_id, r.version): r.text for r in restating}
    return [
        PriorRule(
            recorded_rule(rule.rule_id, rule.version, rule.file, rule.text),
            f"{where} (pack {rule.ruleset_digest[:12]})",
        )
        for rule in store.recorded_rules()
        if texts is None or texts.get((rule.rule_id, rule.version), rule.text) != rule.text
    ]


def refuse_restated(ruleset: CompiledRuleset, store: Settings, where: str = "the db") -> None:
    """Raise `RuleVersionError` when the db holds a rule id and version of the pack with other
    content (layout and comments aside): one line per rule, naming it, what each side says
    (`rule_digest`, 12 characters) and the version to give it. Versions that went back are
    `lint`'s concern, not a refusal."""
    current = [RuleText.of_compiled(rule) for rule in ruleset.rules]
    clashes = [
        clash
        for clash in version_clashes(current, recorded_priors(store, where, current))
        if clash.current.version == clash.prior.rule.version
    ]
    if clashes:
        raise RuleVersionError(
            f"{clash.current.file}: {clash.message}: refused, nothing was run ({clash.hint})"
            for clash in clashes
        )


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
