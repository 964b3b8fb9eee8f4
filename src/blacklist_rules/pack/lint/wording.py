"""Words that no longer fit the rules: notice placeholders a text leaves out or that say
nothing for its rule, and a reason whose numbers are not the rule's thresholds.

What is reported:

- `W-NOTICE-UNUSED`: a template section that never uses a value it exists to carry
  (`[notice]` without `$decision`, `$basis`, `$evidence` or `$appeal_by`; `[notice.reversed]`
  without `$action`, `$reversal` or `$reversed_at`; `[decision.freeze.until_time]` without
  `$expires_at`; `[decision.blacklist.listed_until]` without `$listed_until`).
- `W-NOTICE-LANG`: a placeholder one language's text uses and another's, of the same section
  or of the same rule's `notice`, leaves out.
- `W-NOTICE-VAR`: a rule's notice uses `$anchor_at` without a deadline (it is then the time of
  the decision), or `$verification_reason` with no verification among its evidence (it then
  always reads as `[verification.other]`).
- `W-REASON-NUMBER`: `then.reason` names a span (`7 days`, `two weeks`) that is none of the
  rule's spans (window, deadline, freeze, listing) while the rule has some, or a count (`3`,
  `three`, `a third`) other than its window's `count`. Numbers written otherwise (`§4`,
  `5.2`, numbers of five digits and more, `one`) are not read.
- `W-TEXT-NUMBER`: the same in the rule's other words: its `description`, and its notice's
  `basis` and `evidence` in each language (numbers in English words or digits before an
  English unit or word, as above; other scripts are not read), against the rule's spans and
  counts (`window`, `prior`, deadline, freeze, listing) and those of the rules such a text
  may speak of: on one of its event types (what a further event leads to), and the deadlines
  it starts or that start it. A reason is read against its own rule's only.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from pathlib import Path

from blacklist_rules.errors import RuleFileError
from blacklist_rules.pack.loader import RuleSource
from blacklist_rules.pack.notice_templates import EVIDENCE, SECTIONS, NoticePack
from blacklist_rules.pack.spec import RuleSpec, parse_duration

NOTICE_UNUSED = "W-NOTICE-UNUSED"
NOTICE_LANG = "W-NOTICE-LANG"
NOTICE_VAR = "W-NOTICE-VAR"
REASON_NUMBER = "W-REASON-NUMBER"
TEXT_NUMBER = "W-TEXT-NUMBER"

OPTIONAL = frozenset(
    {"account_id", "decision_id", "effective_at", "timezone", "rule_id", "rule_version"}
)
"""Placeholders a section may leave out: the common ones, and the rule's id and version."""
EXPECTED: Mapping[str, frozenset[str]] = {
    name: allowed - OPTIONAL - EVIDENCE for name, allowed in SECTIONS.items()
}
"""Per template section, the values it is there to carry (empty for most)."""
VERIFIED_BY = frozenset({"identity_verification", "registration"})
"""The events whose verification reason `$verification_reason` reads."""


def used(text: str) -> frozenset[str]:
    """The placeholders a template text uses."""
    found = set()
    for match in string.Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name is not None:
            found.add(name)
    return frozenset(found)


def _header_line(text: str, section: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == f"[{section}]":
            return number
    return 1


def template_findings(notices: NoticePack | None, folder: Path) -> Iterator[RuleFileError]:
    """`W-NOTICE-UNUSED` and `W-NOTICE-LANG` in the pack's template files."""
    if notices is None:
        return
    texts = {Path(name).stem: text for name, text in notices.files.items()}
    languages = notices.languages
    for lang in sorted(languages):
        file, sections = str(folder / f"{lang}.txt"), languages[lang]
        for name in sorted(sections):
            line = _header_line(texts.get(lang, ""), name)
            names = used(sections[name])
            for missing in sorted(EXPECTED.get(name, frozenset()) - names):
                yield RuleFileError(
                    file,
                    line,
                    NOTICE_UNUSED,
                    f"[{name}] never uses `${missing}`",
                    "the notice would leave it out: place it in the text",
                )
            others = set().union(*(used(languages[o].get(name, "")) for o in languages))
            for missing in sorted(others - names):
                yield RuleFileError(
                    file,
                    line,
                    NOTICE_LANG,
                    f"[{name}] leaves out `${missing}`, which another language's uses",
                    "say the same in every language",
                )


def rule_notice_findings(rules: list[RuleSource]) -> Iterator[RuleFileError]:
    """`W-NOTICE-LANG` and `W-NOTICE-VAR` in each rule's `notice`."""
    types = {rule.spec.id: set(rule.spec.event_types) for rule in rules}
    for rule in rules:
        notice = rule.spec.notice
        if notice is None:
            continue
        seen = set(rule.spec.event_types)
        deadline = rule.spec.deadline
        if deadline is not None:
            seen |= set(deadline.after.on or ())
            seen |= {t for name in deadline.after.decision or () for t in types.get(name, ())}
        for key in ("basis", "evidence"):
            by_lang = {lang: used(getattr(text, key)) for lang, text in notice.items()}
            every = set().union(*by_lang.values())
            for lang, names in sorted(by_lang.items()):
                at = ("notice", lang, key)
                for missing in sorted(every - names):
                    yield rule.error(
                        at,
                        NOTICE_LANG,
                        f"`notice.{lang}.{key}` leaves out `${missing}`, which another "
                        "language's uses",
                        "say the same in every language",
                    )
                if "anchor_at" in names and deadline is None:
                    yield rule.error(
                        at,
                        NOTICE_VAR,
                        f"`notice.{lang}.{key}` uses `$anchor_at`, but the rule has no deadline",
                        "it is then the time of the decision: use `$effective_at`",
                    )
                if "verification_reason" in names and not seen & VERIFIED_BY:
                    yield rule.error(
                        at,
                        NOTICE_VAR,
                        f"`notice.{lang}.{key}` uses `$verification_reason`, but no "
                        "verification is among the rule's evidence",
                        "it would always read as [verification.other]: leave it out",
                    )


_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
_WORDS = {
    word: number
    for number, word in enumerate(
        [
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ],
        start=2,
    )
}
_ORDINALS = {
    word: number
    for number, word in enumerate(
        ["third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"], start=3
    )
}
_NUMBER = r"(?<![\w§.,/-])(\d{1,4}|" + "|".join(_WORDS) + r")(?![\w.,/%-]*\d)"
_SPAN = re.compile(_NUMBER + r"[ -](second|minute|hour|day|week)s?\b", re.IGNORECASE)
_A_SPAN = re.compile(r"\b(?:a|one)[ -](minute|hour|day|week)\b", re.IGNORECASE)
"""(`a second` is no span: "a second rumour" is a count)"""
_COUNT = re.compile(_NUMBER + r"(?=\s+[a-z])", re.IGNORECASE)
_ORDINAL = re.compile(r"\b(?:a|the)\s+(" + "|".join(_ORDINALS) + r")\b", re.IGNORECASE)


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _WORDS[word.lower()]


def _spans(spec_values: list[str | None]) -> set[int]:
    return {int(parse_duration(v).total_seconds()) for v in spec_values if v is not None}


def _mismatches(text: str, specs: list[RuleSpec]) -> list[tuple[str, str]]:
    """(what `text` says, what the rules say) for each span or count of the text that is
    none of the rules' (the first is the text's own rule, the others those it may speak of)."""
    spans = _spans(
        [
            value
            for spec in specs
            for value in (
                spec.window.within if spec.window else None,
                spec.prior.within if spec.prior else None,
                spec.deadline.within if spec.deadline else None,
                spec.then.duration,
                spec.then.listed_for,
            )
        ]
    )
    counts = sorted(
        {f"window.count: {spec.window.count}" for spec in specs if spec.window is not None}
        | {f"prior.count: {spec.prior.count}" for spec in specs if spec.prior is not None},
        key=lambda said: (int(said.rpartition(" ")[2]), said),
    )
    allowed = {int(said.rpartition(" ")[2]) for said in counts}
    has = " or ".join(f"`{said}`" for said in counts)
    said: list[tuple[str, str]] = []
    for match in _SPAN.finditer(text):
        seconds = _number(match.group(1)) * _UNITS[match.group(2).lower()]
        if spans and seconds not in spans:
            said.append((match.group(0), "no span of that length"))
    for match in _A_SPAN.finditer(text):
        if spans and _UNITS[match.group(1).lower()] not in spans:
            said.append((match.group(0), "no span of that length"))
    if counts:
        for match in _COUNT.finditer(_SPAN.sub(" ", text)):
            if _number(match.group(1)) not in allowed:
                said.append((match.group(1), has))
        for match in _ORDINAL.finditer(text):
            if _ORDINALS[match.group(1).lower()] not in allowed:
                said.append((match.group(0), has))
    return said


def _related(spec: RuleSpec, rules: list[RuleSource]) -> list[RuleSpec]:
    """The rules a rule's description and notice may speak of besides itself: those on one
    of its event types (what a further event leads to) and the deadlines it starts or that
    start it."""
    types = set(spec.event_types)
    anchors = set(spec.deadline.after.decision or ()) if spec.deadline else set()
    return [
        other.spec
        for other in rules
        if other.spec.id != spec.id
        and (
            types & set(other.spec.event_types)
            or other.spec.id in anchors
            or (other.spec.deadline and spec.id in (other.spec.deadline.after.decision or ()))
        )
    ]


def reason_findings(rules: list[RuleSource]) -> Iterator[RuleFileError]:
    """`W-REASON-NUMBER` for each number of a rule's reason that is none of its thresholds;
    `W-TEXT-NUMBER` for each of its description and notice texts that is none of its own
    nor of the rules they may speak of (`_related`)."""
    for rule in rules:
        spec = rule.spec
        for quoted, rule_says in _mismatches(spec.then.reason, [spec]):
            yield rule.error(
                ("then", "reason"),
                REASON_NUMBER,
                f"the reason says `{quoted}`, the rule has {rule_says}",
                "a decision quotes its reason: make it say what the rule does",
            )
        texts: list[tuple[tuple[str, ...], str]] = [(("description",), spec.description)]
        for lang, notice in sorted((spec.notice or {}).items()):
            texts += [
                (("notice", lang, key), getattr(notice, key)) for key in ("basis", "evidence")
            ]
        near = [spec, *_related(spec, rules)]
        for at, text in texts:
            for quoted, rule_says in _mismatches(text, near):
                yield rule.error(
                    at,
                    TEXT_NUMBER,
                    f"`{'.'.join(at)}` says `{quoted}`, where its rule and those it leads "
                    f"to have {rule_says}",
                    "a reader takes it for what the rules do: make it say so",
                )
