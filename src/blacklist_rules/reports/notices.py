"""Notices: a decision's notice for its user, filled in from the db (a report over the store).

`render_notice` reads everything from the db: the decision, its rule as written in the pack
that decided and that pack's templates (both kept under the pack's digest, so a later edit of
the pack changes no old notice; `pack/notice_templates.py` reads and checks them with the pack).
Only the pack's own words, times, counts and the user's own account and decision ids are filled
in: never an event's free text (a reviewer's note, a report), another account's id, a
reporter's id or an identity value.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from blacklist_rules.errors import NoticeError
from blacklist_rules.model.decisions import (
    CASCADE,
    HUMAN_REVIEW,
    Decision,
    DecisionRecord,
    Mode,
)
from blacklist_rules.pack.loader import parse_rule_text
from blacklist_rules.pack.notice_templates import FOLDER, NoticePack
from blacklist_rules.pack.spec import NoticeText, RuleSpec, parse_duration

if TYPE_CHECKING:  # only for annotations: this module reads a store, it does not build one
    from blacklist_rules.stores.protocols import Store


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
        """As a JSON-ready dict (what `notice --json` prints)."""
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


def _rule_notice(store: Store, decision: Decision, lang: str) -> tuple[RuleSpec, NoticeText]:
    """The deciding rule as written in the pack that decided, and its words in `lang`."""
    for rule in store.ruleset_rules(decision.ruleset_digest):
        if rule.id == decision.rule_id:
            source, errors = parse_rule_text(rule.text, rule.file)
            notice = source.spec.notice if source is not None else None
            if source is None or notice is None or lang not in notice:
                raise NoticeError(
                    f"rule {decision.rule_id} as kept for pack "
                    f"{decision.ruleset_digest[:12]} has no `{lang}` notice"
                    + (f" ({errors[0]})" if errors else "")
                )
            return source.spec, notice[lang]
    raise NoticeError(
        f"the db keeps no rule {decision.rule_id} for pack {decision.ruleset_digest[:12]}"
    )


def _templates(store: Store, decision: Decision, lang: str) -> NoticePack:
    """The notice templates of the pack that decided, which must have `lang`."""
    digest = decision.ruleset_digest
    files = store.notice_files(digest)
    if not files:
        raise NoticeError(
            f"decision {decision.decision_id} was taken by pack {digest[:12]}, which has no "
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


def _enforced(store: Store, decision_id: str) -> tuple[DecisionRecord, str | None]:
    """The decision's record and what reversed it, if anything; only for an enforced decision."""
    found = store.decision(decision_id)
    if found is None:
        raise NoticeError(f"no decision {decision_id}")
    record, reversed_by = found.record, found.reversed_by
    if record.decision.mode != Mode.ENFORCE:
        raise NoticeError(
            f"decision {decision_id} is a shadow decision: it never took effect, so no notice "
            "is sent"
        )
    return record, reversed_by


def render_notice(store: Store, decision_id: str, *, lang: str = "zh", tz: str = "UTC") -> Notice:
    """The notice of an enforced decision in `lang`, its times in the IANA zone `tz`.

    A reversed decision gets a notice that says so (and offers no appeal): the user may have
    been told of it already and must learn it no longer applies. A shadow decision never took
    effect, so it gets none (`NoticeError`), as does a decision of a pack without notices.
    """
    zone = _zone(tz)
    record, reversed_by = _enforced(store, decision_id)
    decision = record.decision
    pack = _templates(store, decision, lang)
    words = pack.languages[lang]
    effective = decision.effective_at

    def at(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    values = {
        "account_id": decision.account_id,
        "decision_id": decision_id,
        "effective_at": at(effective),
        "timezone": _zone_label(zone, effective),
        "rule_id": decision.rule_id,
        "rule_version": str(decision.rule_version),
    }
    appeal_by = None
    if reversed_by is not None:
        reversal = store.event_payload(reversed_by)
        how = store.reversal_kind(decision_id)
        kind = "cascade" if how == CASCADE else "appeal" if how == "appeal_outcome" else "review"
        values |= {
            "action": words[f"action.{decision.action}"],
            "reversal": words[f"reversed.{kind}"],
            "reversed_at": at(_event_time(reversal) if reversal is not None else effective),
        }
        text = _fill(words["notice.reversed"], values)
    else:
        # Counted from when it was decided: the user cannot appeal before being told.
        appeal_by = datetime.fromisoformat(record.decided_at) + pack.appeal_within
        values["appeal_by"] = at(appeal_by)
        text = _fill(words["notice"], _decision_values(store, decision, lang, words, values, at))
    return Notice(
        decision_id=decision_id,
        account_id=decision.account_id,
        lang=lang,
        timezone=values["timezone"],
        action=str(decision.action),
        rule_id=decision.rule_id,
        reversed=reversed_by is not None,
        appeal_by=appeal_by,
        text=text.strip() + "\n",
        ruleset_digest=decision.ruleset_digest,
    )


def _fill(template: str, values: Mapping[str, str]) -> str:
    """One pass of `string.Template`: what is filled in is never read as a template."""
    return string.Template(template).substitute(values)


def _decision_values(
    store: Store,
    decision: Decision,
    lang: str,
    words: Mapping[str, str],
    values: dict[str, str],
    at: Callable[[datetime], str],
) -> dict[str, str]:
    """`$decision`, `$basis` and `$evidence`, filled in, beside `values`."""
    spec = None
    if decision.rule_id == HUMAN_REVIEW:
        basis, evidence = words["review.basis"], words["review.evidence"]
    else:
        spec, text = _rule_notice(store, decision, lang)
        basis, evidence = text.basis, text.evidence
    values = values | _evidence_values(store, decision, spec, words, at)
    sentence = f"decision.{decision.action}"
    effective = decision.effective_at
    if decision.expires_at is not None:
        sentence += ".until_time"
        values["expires_at"] = at(decision.expires_at)
    elif decision.end_condition == "verification_passed":
        sentence += ".until_verification"
    elif decision.action == "blacklist" and spec is not None and spec.then.listed_for:
        sentence += ".listed_until"
        values["listed_until"] = at(effective + parse_duration(spec.then.listed_for))
    return values | {
        "basis": _fill(basis, values),
        "evidence": _fill(evidence, values),
        "decision": _fill(words[sentence], values),
    }


def _evidence_values(
    store: Store,
    decision: Decision,
    spec: RuleSpec | None,
    words: Mapping[str, str],
    at: Callable[[datetime], str],
) -> dict[str, str]:
    """`$count`, `$first`, `$last`, `$anchor_at`, `$verification_reason` from the decision's
    evidence: only the account's own events count for times (a window grouped by an identity
    value holds other accounts' registrations; a re-registration's, the listing decision)."""
    account = decision.account_id
    own = [
        payload
        for event_id in decision.evidence
        if (payload := store.event_payload(event_id)) is not None
        and payload["account_id"] == account
    ]
    effective = decision.effective_at
    times = sorted(_event_time(payload) for payload in own) or [effective]
    count = len(own)
    if spec is not None and spec.window is not None:
        # The engine appends the window's count to the deciding rule's conditions.
        match = next((m for m in decision.matched if m.rule_id == decision.rule_id), None)
        if match is not None and match.conditions:
            seen = match.conditions[-1].seen
            count = seen if isinstance(seen, int) else count
    anchor_at = effective
    if decision.anchor:
        anchored = store.decision(decision.anchor)
        if anchored is not None:
            anchor_at = anchored.decision.effective_at
        elif (payload := store.event_payload(decision.anchor)) is not None:
            anchor_at = _event_time(payload)
    reason = _verification_reason(own)
    phrase = f"verification.{reason}" if reason is not None else ""
    earlier = sorted(  # the earlier decisions a `prior:` test counted (the account's own)
        stored.decision.effective_at
        for item in decision.evidence
        if (stored := store.decision(item)) is not None and stored.decision.account_id == account
    )
    return {
        "prior_count": str(len(earlier)),
        "prior_first": at(earlier[0] if earlier else effective),
        "prior_last": at(earlier[-1] if earlier else effective),
        "count": str(count),
        "first": at(times[0]),
        "last": at(times[-1]),
        "anchor_at": at(anchor_at),
        "verification_reason": words.get(phrase, words["verification.other"]),
    }
