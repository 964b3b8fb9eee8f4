"""Notice templates, read and checked with the rule pack: what a user is told, in each language.

A pack that sends notices has a folder `notices/` beside its rule files (`.txt`, so the loader
never takes them for rules): a template file per language (`en.txt`, `zh.txt`) holding the frame
of a notice and every sentence around the rule's own words, and `settings.txt` with the appeal
period. Each rule says in plain words, per language, its basis and what was found (`notice:` in
its file). All of it is plain text with `$name` placeholders, filled by `string.Template` in one
pass: a value is never read as a template, nothing is looked up by attribute or index, nothing
is evaluated. Unknown sections and placeholders are load errors, located `file:line`.

This is the pack's side (loading, checking, the digest's content), which the compiler and the
engine read; filling a notice in for a decision is a report over the store (`reports/notices.py`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from blacklist_rules.errors import RuleFileError

from .conditions import suggest
from .loader import RuleSource
from .spec import LANGUAGE_TAG, parse_duration

FOLDER = "notices"
SETTINGS = "settings"
"""`notices/settings.txt`: the pack's notice settings; every other `notices/*.txt` is a language."""

_COMMON = frozenset({"account_id", "decision_id", "effective_at", "timezone"})
EVIDENCE = frozenset(
    {
        "count",
        "first",
        "last",
        "anchor_at",
        "verification_reason",
        "prior_count",
        "prior_first",
        "prior_last",
    }
)
"""Placeholders of a rule's `notice.<lang>.evidence` (and `[review.evidence]`), beside the
common ones (`$account_id`, `$decision_id`, `$effective_at`, `$timezone`)."""

SECTIONS: Mapping[str, frozenset[str]] = {
    "notice": _COMMON | {"decision", "basis", "evidence", "appeal_by", "rule_id", "rule_version"},
    "notice.reversed": _COMMON | {"action", "reversal", "reversed_at"},
    "decision.freeze": _COMMON,
    "decision.freeze.until_time": _COMMON | {"expires_at"},
    "decision.freeze.until_verification": _COMMON,
    "decision.cancel": _COMMON,
    "decision.blacklist": _COMMON,
    "decision.blacklist.listed_until": _COMMON | {"listed_until"},
    "action.freeze": frozenset(),
    "action.cancel": frozenset(),
    "action.blacklist": frozenset(),
    "reversed.review": frozenset(),
    "reversed.appeal": frozenset(),
    "reversed.cascade": frozenset(),
    "review.basis": _COMMON,
    "review.evidence": _COMMON | EVIDENCE,
    "verification.other": frozenset(),
}
"""Every section a language file must have, with the placeholders each may use."""
_PHRASE = re.compile(r"^verification\.[a-z][a-z0-9_]*$")
"""Optional sections: how a verification's `reason` code reads (`[verification.forged_document]`);
`[verification.other]` stands for any reason without one."""
SETTING_SECTIONS = ("appeal_within",)
_HEADER = re.compile(r"^\[([^\]]*)\]\s*$")


@attrs.frozen
class Section:
    """A section of a template file: its lines, each with its line number in the file."""

    name: str
    line: int
    lines: tuple[tuple[int, str], ...]

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.lines)


def _sections(text: str, file: str) -> tuple[dict[str, Section], list[RuleFileError]]:
    """`[name]` headers, each followed by its text; `#` lines are comments. Blank lines around a
    section's text are dropped."""
    found: dict[str, Section] = {}
    errors: list[RuleFileError] = []
    name: str | None = None
    start = 0
    body: list[tuple[int, str]] = []

    def close() -> None:
        while body and not body[-1][1].strip():
            body.pop()
        if name is None:
            return
        if name in found:
            errors.append(
                RuleFileError(
                    file,
                    start,
                    "E-NOTICE",
                    f"section [{name}] is given twice",
                    f"first at line {found[name].line}",
                )
            )
        elif not body:
            errors.append(RuleFileError(file, start, "E-NOTICE", f"section [{name}] is empty"))
        else:
            found[name] = Section(name, start, tuple(body))

    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header is not None:
            close()
            name, start, body = header.group(1).strip(), number, []
        elif line.startswith("#"):
            continue
        elif name is not None:
            if body or line.strip():
                body.append((number, line.rstrip()))
        elif line.strip():
            errors.append(
                RuleFileError(
                    file,
                    number,
                    "E-NOTICE",
                    "text before the first section",
                    "start each text with a `[section]` line; `#` starts a comment",
                )
            )
    close()
    return found, errors


def placeholder_problems(text: str, allowed: frozenset[str]) -> Iterator[tuple[int, str, str]]:
    """(line offset, message, hint) for each `$` that is not a known placeholder here."""
    for offset, line in enumerate(text.split("\n")):
        for match in string.Template.pattern.finditer(line):
            name = match.group("named") or match.group("braced")
            if match.group("invalid") is not None:
                yield (
                    offset,
                    f"`$` at column {match.start() + 1} starts no placeholder",
                    "write `$name` or `${name}`, or `$$` for a dollar sign",
                )
            elif name is not None and name not in allowed:
                known = [f"${n}" for n in sorted(allowed)]
                hint = suggest(f"${name}", known) or f"known here: {', '.join(known) or 'none'}"
                yield offset, f"unknown placeholder `${name}`", hint


@attrs.frozen
class NoticePack:
    """A pack's notice templates, checked: per language its sections, and the appeal period."""

    files: Mapping[str, str]
    """File text by name (`notices/en.txt`): what the db keeps under the pack's digest."""
    languages: Mapping[str, Mapping[str, str]]
    appeal_within: timedelta

    def content(self) -> dict[str, Any]:
        """What the pack's digest covers: the texts, not the comments or layout."""
        return {
            "languages": {lang: dict(sections) for lang, sections in self.languages.items()},
            "appeal_within": self.appeal_within.total_seconds(),
        }

    @classmethod
    def parse(
        cls, files: Mapping[str, str], shown: Mapping[str, str] | None = None
    ) -> tuple[NoticePack | None, list[RuleFileError]]:
        """Templates from their texts (by `notices/<name>.txt`); `shown` gives the path each
        error names (default: the name)."""
        errors: list[RuleFileError] = []
        languages: dict[str, dict[str, str]] = {}
        appeal_within: timedelta | None = None
        for name, text in sorted(files.items()):
            where = (shown or {}).get(name, name)
            stem = Path(name).stem
            sections, found = _sections(text, where)
            errors.extend(found)
            if stem == SETTINGS:
                appeal_within, found = _settings(sections, where)
                errors.extend(found)
            elif re.fullmatch(LANGUAGE_TAG, stem) is None:
                errors.append(
                    RuleFileError(
                        where,
                        0,
                        "E-NOTICE",
                        f"`{stem}` is not a language tag",
                        f"name a template file after its language (en.txt, zh.txt) or "
                        f"`{SETTINGS}.txt`",
                    )
                )
            else:
                errors.extend(_check_language(sections, where))
                languages[stem] = {key: section.text for key, section in sections.items()}
        if not languages:
            errors.append(
                RuleFileError(
                    f"{FOLDER}/", 0, "E-NOTICE", "no template file (`en.txt`, `zh.txt`, …)"
                )
            )
        if appeal_within is None and not any(Path(n).stem == SETTINGS for n in files):
            errors.append(
                RuleFileError(
                    f"{FOLDER}/",
                    0,
                    "E-NOTICE",
                    f"no `{SETTINGS}.txt`",
                    "it gives `[appeal_within]`, how long a user has to appeal",
                )
            )
        if errors or appeal_within is None:
            return None, errors
        return cls(dict(files), languages, appeal_within), []


def _settings(
    sections: Mapping[str, Section], file: str
) -> tuple[timedelta | None, list[RuleFileError]]:
    errors = [
        RuleFileError(
            file,
            section.line,
            "E-NOTICE",
            f"unknown setting [{name}]",
            suggest(name, SETTING_SECTIONS),
        )
        for name, section in sections.items()
        if name not in SETTING_SECTIONS
    ]
    section = sections.get("appeal_within")
    if section is None:
        errors.append(RuleFileError(file, 1, "E-NOTICE", "missing setting [appeal_within]"))
        return None, errors
    try:
        return parse_duration(section.text.strip()), errors
    except ValueError as exc:
        errors.append(RuleFileError(file, section.lines[0][0], "E-NOTICE", str(exc)))
        return None, errors


def _check_language(sections: Mapping[str, Section], file: str) -> Iterator[RuleFileError]:
    for name in SECTIONS:
        if name not in sections:
            yield RuleFileError(file, 1, "E-NOTICE", f"missing section [{name}]")
    for name, section in sections.items():
        if name in SECTIONS:
            allowed = SECTIONS[name]
        elif _PHRASE.match(name):
            allowed = frozenset()
        else:
            hint = suggest(name, SECTIONS)
            if hint is None and name.startswith("verification."):
                hint = "a verification reason is lower-case letters, digits and `_`"
            yield RuleFileError(file, section.line, "E-NOTICE", f"unknown section [{name}]", hint)
            continue
        for offset, message, hint in placeholder_problems(section.text, allowed):
            line = section.lines[offset][0]
            yield RuleFileError(file, line, "E-NOTICE", f"[{name}]: {message}", hint)


def read_notice_pack(location: Path) -> tuple[NoticePack | None, list[RuleFileError]]:
    """The templates of the pack at `location` (a folder), or None when it has no `notices/`."""
    folder = location / FOLDER
    if not location.is_dir() or not folder.is_dir():
        return None, []
    files: dict[str, str] = {}
    shown: dict[str, str] = {}
    errors: list[RuleFileError] = []
    for path in sorted(folder.glob("*.txt")):
        name = f"{FOLDER}/{path.name}"
        try:
            files[name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(RuleFileError(str(path), 0, "E-READ", f"cannot read: {exc}"))
            continue
        shown[name] = str(path)
    pack, found = NoticePack.parse(files, shown)
    errors.extend(
        attrs.evolve(e, file=str(folder) + "/") if e.file == f"{FOLDER}/" else e for e in found
    )
    return (None if errors else pack), errors


def check_rule_notices(rules: list[RuleSource], pack: NoticePack | None) -> list[RuleFileError]:
    """Each rule's `notice`: required when the pack sends notices, in exactly its languages,
    with known placeholders only."""
    errors: list[RuleFileError] = []
    languages = sorted(pack.languages) if pack is not None else []
    for rule in rules:
        notice = rule.spec.notice
        if notice is None:
            if pack is not None:
                errors.append(
                    rule.error(
                        (),
                        "E-MISSING",
                        "missing required key `notice`",
                        f"the pack sends notices ({', '.join(languages)}): say in plain words "
                        "what was found, after `then`",
                    )
                )
            continue
        for lang in languages:
            if lang not in notice:
                errors.append(
                    rule.error(
                        ("notice",),
                        "E-NOTICE",
                        f"the notice has no `{lang}` text",
                        f"the pack's notices are in {', '.join(languages)}",
                    )
                )
        for lang, text in notice.items():
            if pack is not None and lang not in pack.languages:
                hint = (
                    suggest(lang, languages) or f"the pack's notices are in {', '.join(languages)}"
                )
                errors.append(
                    rule.error(
                        ("notice", lang),
                        "E-NOTICE",
                        f"no template for language `{lang}` in {FOLDER}/",
                        hint,
                    )
                )
            for key, allowed in (("basis", _COMMON), ("evidence", _COMMON | EVIDENCE)):
                for _, message, hint in placeholder_problems(getattr(text, key), allowed):
                    errors.append(
                        rule.error(("notice", lang, key), "E-NOTICE", f"`{key}`: {message}", hint)
                    )
    return errors
