"""Rule versions: a rule whose text changed must change its `version`, so that a decision's
`rule_version` names one rule text. Compared by what the rule says (`rule_digest`), never by
layout or comments; the earlier texts come from an older pack, a git revision or a db."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from blacklist_rules.errors import RuleFileError
from blacklist_rules.pack.compiler import CompiledRule, rule_digest
from blacklist_rules.pack.loader import RuleSource, parse_rule_text, parse_yaml

VERSION_CHANGED = "E-VERSION"
VERSION_BACK = "W-VERSION-BACK"
VERSION_UNPROVEN = "W-VERSION-UNPROVEN"


@attrs.frozen
class RuleText:
    """One rule as a pack has it: its id, version, file, text as written, and `rule_digest`
    (None when the text does not load with this code, so what it says cannot be told)."""

    rule_id: str
    version: int
    file: str
    text: str
    content: str | None

    @classmethod
    def of_source(cls, source: RuleSource) -> RuleText:
        spec = source.spec
        return cls(spec.id, spec.version, source.file, source.text, rule_digest(spec))

    @classmethod
    def of_compiled(cls, rule: CompiledRule) -> RuleText:
        return cls(rule.id, rule.version, rule.source, rule.text, rule.content or None)


@attrs.frozen
class PriorRule:
    """A rule as an earlier pack had it, and where that pack was (`origin`: an older folder,
    `git REV`, a db and the digest of the pack that ran into it)."""

    rule: RuleText
    origin: str


def read_prior(file: str, text: str) -> RuleText | None:
    """An earlier rule file's id, version and content; None when not even its `id` and
    `version` can be read (it names no rule to compare with)."""
    source, _ = parse_rule_text(text, file)
    if source is not None:
        return RuleText.of_source(source)
    data, _, _ = parse_yaml(text, file)
    if not isinstance(data, Mapping):
        return None
    rule_id, version = data.get("id"), data.get("version")
    if not isinstance(rule_id, str) or isinstance(version, bool) or not isinstance(version, int):
        return None
    return RuleText(rule_id, version, file, text, None)


def recorded_rule(rule_id: str, version: int, file: str, text: str) -> RuleText:
    """A rule as a db recorded it: what it says read from its text with this code."""
    source, _ = parse_rule_text(text, file)
    content = rule_digest(source.spec) if source is not None else None
    return RuleText(rule_id, version, file, text, content)


@attrs.frozen
class VersionClash:
    """A rule that stands under the same id and version with other content elsewhere, or
    whose version went back."""

    code: str
    current: RuleText
    prior: PriorRule
    next_version: int
    """The version to give it: one above every version known of the rule."""

    @property
    def message(self) -> str:
        rule, prior = self.current, self.prior
        if self.code == VERSION_BACK:
            return (
                f"rule `{rule.rule_id}` is version {rule.version}, below version "
                f"{prior.rule.version} in {prior.origin}"
            )
        theirs = prior.rule.content[:12] if prior.rule.content else "does not load"
        said = "says something else" if self.code == VERSION_CHANGED else "may say something else"
        return (
            f"rule `{rule.rule_id}` version {rule.version} {said} in {prior.origin} "
            f"(there {theirs}, here {(rule.content or '?')[:12]})"
        )

    @property
    def hint(self) -> str:
        if self.code == VERSION_BACK:
            return f"versions only go up: give it version {self.next_version}"
        return f"bump `version` to {self.next_version}: a decision's rule_version names one text"


def _differs(current: RuleText, prior: RuleText) -> str | None:
    """The clash code when `prior` has the same id and version but may say other things."""
    if prior.text == current.text or (prior.content and prior.content == current.content):
        return None
    return VERSION_CHANGED if prior.content is not None else VERSION_UNPROVEN


def version_clashes(current: Sequence[RuleText], prior: Iterable[PriorRule]) -> list[VersionClash]:
    """Every current rule that an earlier pack had under its id and version with other
    content (one clash per rule and origin), or only at higher versions (went back)."""
    by_id: dict[str, list[PriorRule]] = {}
    for earlier in prior:
        by_id.setdefault(earlier.rule.rule_id, []).append(earlier)
    clashes: list[VersionClash] = []
    for rule in current:
        known = by_id.get(rule.rule_id, [])
        if not known:
            continue
        top = max(rule.version, *(k.rule.version for k in known)) + 1
        same = [k for k in known if k.rule.version == rule.version]
        told: set[str] = set()  # one clash for each other content, whatever holds it
        for candidate in same:
            code = _differs(rule, candidate.rule)
            seen = candidate.rule.content or candidate.rule.text
            if code is not None and seen not in told:
                told.add(seen)
                clashes.append(VersionClash(code, rule, candidate, top))
        if not same:
            highest = max(known, key=lambda k: k.rule.version)
            if highest.rule.version > rule.version:
                clashes.append(VersionClash(VERSION_BACK, rule, highest, top))
    return clashes


def version_findings(
    sources: Sequence[RuleSource], prior: Iterable[PriorRule]
) -> list[RuleFileError]:
    """The clashes of a loaded pack against earlier rules, located at each `version:`."""
    by_file = {source.file: source for source in sources}
    current = [RuleText.of_source(source) for source in sources]
    return [
        by_file[clash.current.file].error(("version",), clash.code, clash.message, clash.hint)
        for clash in version_clashes(current, prior)
    ]
