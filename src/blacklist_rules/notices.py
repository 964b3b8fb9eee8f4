"""Notices: what a user is told about a decision on their account, in each language of the pack.

A pack that sends notices has a folder `notices/` beside its rule files (`.txt`, so the loader
never takes them for rules): a template file per language (`en.txt`, `zh.txt`) holding the frame
of a notice and every sentence around the rule's own words, and `settings.txt` with the appeal
period. Each rule says in plain words, per language, its basis and what was found (`notice:` in
its file). All of it is plain text with `$name` placeholders, filled by `string.Template` in one
pass: a value is never read as a template, nothing is looked up by attribute or index, nothing
is evaluated. Unknown sections and placeholders are load errors, located `file:line`.

`render_notice` reads everything from the db: the decision, its rule as written in the pack
that decided and that pack's templates (both kept under the pack's digest, so a later edit of
the pack changes no old notice). Only the pack's own words, times, counts and the user's own
account and decision ids are filled in: never an event's free text (a reviewer's note, a
report), another account's id, a reporter's id or an identity value.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .decisions import CASCADE, HUMAN_REVIEW, decided_at
from .errors import NoticeError, RuleFileError
from .loader import RuleSource, parse_rule_text
from .spec import LANGUAGE_TAG, NoticeText, RuleSpec, parse_duration, suggest

if TYPE_CHECKING:  # only for annotations: this module reads a store, it does not build one
    from .stores.protocols import Store

FOLDER = "notices"
SETTINGS = "settings"
"""`notices/settings.txt`: the pack's notice settings; every other `notices/*.txt` is a language."""

_COMMON = frozenset({"account_id", "decision_id", "effective_at", "timezone"})
EVIDENCE = frozenset({"count", "first", "last", "anchor_at", "verification_reason"})
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


# --- rendering -----------------------------------------------------------------------------


@attrs.frozen
class Notice:
    """The notice of one decision in one language, ready to send."""

    decision_id: str
    account_id: str
    lang: str
    timezone: str
    action: str
    rule_id: str
    reversed: bool
    """The decision was reversed: the text says so, and offers no appeal."""
    appeal_by: datetime | None
    text: str
    ruleset_digest: str

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["appeal_by"] = self.appeal_by.isoformat() if self.appeal_by else None
        return data


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise NoticeError(
            f"unknown time zone {name!r}: name one of the IANA database (`Asia/Shanghai`, "
            "`UTC`); where the system has none, install the `tzdata` package"
        ) from exc


def _zone_label(zone: ZoneInfo, at: datetime) -> str:
    """`UTC`, `Asia/Shanghai (UTC+08:00)`, or the name alone for a zone whose offset changes
    over the year (its times in one notice may then lie on both sides of a change)."""
    if zone.key == "UTC":
        return "UTC"
    offsets = {datetime(at.year, month, 1, tzinfo=zone).strftime("%z") for month in (1, 7)}
    if len(offsets) > 1:
        return zone.key
    (offset,) = offsets
    return f"{zone.key} (UTC{offset[:3]}:{offset[3:]})"


def _event_time(payload: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(payload["occurred_at"]))


def _verification_reason(payloads: Sequence[Mapping[str, Any]]) -> str | None:
    """The reason code of the first verification among the evidence: a lookup key, never
    shown as such."""
    for payload in payloads:
        if payload["type"] == "identity_verification":
            reason = payload.get("reason")
        elif payload["type"] == "registration":
            reason = (payload.get("verification") or {}).get("reason")
        else:
            continue
        if isinstance(reason, str):
            return reason
    return None


def _rule_notice(store: Store, record: Mapping[str, Any], lang: str) -> tuple[RuleSpec, NoticeText]:
    """The deciding rule as written in the pack that decided, and its words in `lang`."""
    for rule in store.ruleset_rules(record["ruleset_digest"]):
        if rule["id"] == record["rule_id"]:
            source, errors = parse_rule_text(rule["text"], rule["file"])
            notice = source.spec.notice if source is not None else None
            if source is None or notice is None or lang not in notice:
                raise NoticeError(
                    f"rule {record['rule_id']} as kept for pack "
                    f"{record['ruleset_digest'][:12]} has no `{lang}` notice"
                    + (f" ({errors[0]})" if errors else "")
                )
            return source.spec, notice[lang]
    raise NoticeError(
        f"the db keeps no rule {record['rule_id']} for pack {record['ruleset_digest'][:12]}"
    )


def _templates(store: Store, record: Mapping[str, Any], lang: str) -> NoticePack:
    """The notice templates of the pack that decided, which must have `lang`."""
    digest = record["ruleset_digest"]
    files = store.notice_files(digest)
    if not files:
        raise NoticeError(
            f"decision {record['decision_id']} was taken by pack {digest[:12]}, which has no "
            f"notice templates (no `{FOLDER}/` folder, or a db written before notices)"
        )
    pack, errors = NoticePack.parse(files)
    if pack is None:
        raise NoticeError(f"the notice templates of pack {digest[:12]} do not load: {errors[0]}")
    if lang not in pack.languages:
        raise NoticeError(
            f"pack {digest[:12]} has no notices in {lang!r}; it has "
            f"{', '.join(sorted(pack.languages))}"
        )
    return pack


def render_notice(store: Store, decision_id: str, *, lang: str = "zh", tz: str = "UTC") -> Notice:
    """The notice of an enforced decision in `lang`, its times in the IANA zone `tz`.

    A reversed decision gets a notice that says so (and offers no appeal): the user may have
    been told of it already and must learn it no longer applies. A shadow decision never took
    effect, so it gets none (`NoticeError`), as does a decision of a pack without notices.
    """
    zone = _zone(tz)
    found = store.decision(decision_id)
    if found is None:
        raise NoticeError(f"no decision {decision_id}")
    record, reversed_by = found.record, found.reversed_by
    if record["mode"] != "enforce":
        raise NoticeError(
            f"decision {decision_id} is a shadow decision: it never took effect, so no notice "
            "is sent"
        )
    pack = _templates(store, record, lang)
    words = pack.languages[lang]
    effective = datetime.fromisoformat(record["effective_at"])

    def at(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    values = {
        "account_id": record["account_id"],
        "decision_id": decision_id,
        "effective_at": at(effective),
        "timezone": _zone_label(zone, effective),
        "rule_id": record["rule_id"],
        "rule_version": str(record["rule_version"]),
    }
    appeal_by = None
    if reversed_by is not None:
        reversal = store.event_payload(reversed_by)
        how = store.reversal_kind(decision_id)
        kind = "cascade" if how == CASCADE else "appeal" if how == "appeal_outcome" else "review"
        values |= {
            "action": words[f"action.{record['action']}"],
            "reversal": words[f"reversed.{kind}"],
            "reversed_at": at(_event_time(reversal) if reversal is not None else effective),
        }
        text = _fill(words["notice.reversed"], values)
    else:
        # Counted from when it was decided: the user cannot appeal before being told.
        appeal_by = datetime.fromisoformat(decided_at(record)) + pack.appeal_within
        values["appeal_by"] = at(appeal_by)
        text = _fill(words["notice"], _decision_values(store, record, lang, words, values, at))
    return Notice(
        decision_id=decision_id,
        account_id=record["account_id"],
        lang=lang,
        timezone=values["timezone"],
        action=record["action"],
        rule_id=record["rule_id"],
        reversed=reversed_by is not None,
        appeal_by=appeal_by,
        text=text.strip() + "\n",
        ruleset_digest=record["ruleset_digest"],
    )


def _fill(template: str, values: Mapping[str, str]) -> str:
    """One pass of `string.Template`: what is filled in is never read as a template."""
    return string.Template(template).substitute(values)


def _decision_values(
    store: Store,
    record: Mapping[str, Any],
    lang: str,
    words: Mapping[str, str],
    values: dict[str, str],
    at: Callable[[datetime], str],
) -> dict[str, str]:
    """`$decision`, `$basis` and `$evidence`, filled in, beside `values`."""
    spec = None
    if record["rule_id"] == HUMAN_REVIEW:
        basis, evidence = words["review.basis"], words["review.evidence"]
    else:
        spec, text = _rule_notice(store, record, lang)
        basis, evidence = text.basis, text.evidence
    values = values | _evidence_values(store, record, spec, words, at)
    sentence = f"decision.{record['action']}"
    effective = datetime.fromisoformat(record["effective_at"])
    if record["expires_at"]:
        sentence += ".until_time"
        values["expires_at"] = at(datetime.fromisoformat(record["expires_at"]))
    elif record.get("end_condition") == "verification_passed":
        sentence += ".until_verification"
    elif record["action"] == "blacklist" and spec is not None and spec.then.listed_for:
        sentence += ".listed_until"
        values["listed_until"] = at(effective + parse_duration(spec.then.listed_for))
    return values | {
        "basis": _fill(basis, values),
        "evidence": _fill(evidence, values),
        "decision": _fill(words[sentence], values),
    }


def _evidence_values(
    store: Store,
    record: Mapping[str, Any],
    spec: RuleSpec | None,
    words: Mapping[str, str],
    at: Callable[[datetime], str],
) -> dict[str, str]:
    """`$count`, `$first`, `$last`, `$anchor_at`, `$verification_reason` from the decision's
    evidence: only the account's own events count for times (a window grouped by an identity
    value holds other accounts' registrations; a re-registration's, the listing decision)."""
    account = record["account_id"]
    own = [
        payload
        for event_id in record["evidence"]
        if (payload := store.event_payload(event_id)) is not None
        and payload["account_id"] == account
    ]
    effective = datetime.fromisoformat(record["effective_at"])
    times = sorted(_event_time(payload) for payload in own) or [effective]
    count = len(own)
    if spec is not None and spec.window is not None:
        # The engine appends the window's count to the deciding rule's conditions.
        match = next((m for m in record["matched"] if m["rule_id"] == record["rule_id"]), None)
        if match is not None and match["conditions"]:
            seen = match["conditions"][-1]["seen"]
            count = seen if isinstance(seen, int) else count
    anchor_at = effective
    if record.get("anchor"):
        anchored = store.decision(record["anchor"])
        if anchored is not None:
            anchor_at = datetime.fromisoformat(anchored.record["effective_at"])
        elif (payload := store.event_payload(record["anchor"])) is not None:
            anchor_at = _event_time(payload)
    reason = _verification_reason(own)
    phrase = f"verification.{reason}" if reason is not None else ""
    return {
        "count": str(count),
        "first": at(times[0]),
        "last": at(times[-1]),
        "anchor_at": at(anchor_at),
        "verification_reason": words.get(phrase, words["verification.other"]),
    }
