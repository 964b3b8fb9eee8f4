"""Statements of reasons for the EU DSA Transparency Database, built from stored decisions.

One statement per enforced decision ever taken: a decision later ended, lifted or overturned
was still applied, so it is still reported (DSA art. 17, 24(5)). Everything comes from the db:
the decision record, the `dsa` block of the rule as it was in the pack that decided (kept under
the pack's digest), the evidence events as stored. The db holds no identity value, and neither
does a statement: no account id, reporter or reviewer id, only the decision's own id as `puid`.

Every statement is checked against the database's field rules (`problems`) before any is
handed out: an export is whole and valid, or refused with `ExportError`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs

from blacklist_rules.errors import ExportError
from blacklist_rules.model.decisions import HUMAN_REVIEW, Action, Decision, DecisionRecord
from blacklist_rules.model.events import from_micros
from blacklist_rules.model.transparency import (
    ACCOUNT_SUSPENDED,
    ACCOUNT_TERMINATED,
    APPLICATION_DATES,
    AUTOMATED_FULLY,
    AUTOMATED_PARTIALLY,
    CATEGORIES,
    CONTENT_DATES,
    CONTENT_TYPE_OTHER,
    CONTENT_TYPES,
    DECISION_GROUND_ILLEGAL,
    DECISION_GROUND_INCOMPATIBLE,
    EEA_COUNTRIES,
    KEYWORD_OTHER,
    KEYWORDS,
    LATEST_END_DATE,
    MAX_LENGTH,
    NOT_AUTOMATED,
    PUID_PATTERN,
    SOURCE_TYPES,
    YES_NO,
)
from blacklist_rules.pack.lists import LISTED
from blacklist_rules.pack.prior import PRIOR_LABEL
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.sqlite import SQLiteStore

ACCOUNT_CONTENT = "User account (registration and identity information)"
"""`content_type_other` when a rule leaves `content_type` at its default: the account itself."""
HUMAN_DEFAULT: Mapping[str, Any] = {
    "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "keywords": [],
    "keyword_other": None,
    "ground": "incompatible",
    "reference": "Terms of service, applied by a human reviewer",
    "reference_url": None,
    "also_illegal": False,
    "source": "SOURCE_VOLUNTARY",
    "content_type": [CONTENT_TYPE_OTHER],
    "automated": None,
}
"""A reviewer's decision on an account no rule decided about, without a `category` field."""
_ACCOUNT_RESTRICTION = {
    Action.FREEZE: ACCOUNT_SUSPENDED,
    Action.CANCEL: ACCOUNT_TERMINATED,
    Action.BLACKLIST: ACCOUNT_TERMINATED,
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def dsa_statements(db: Store | str | Path, *, verify: bool = True) -> list[dict[str, Any]]:
    """The statements of reasons of every enforced decision in the db (a store of any kind,
    or the path of a SQLite file, opened read-only), in decision order.

    Raises `ExportError` when the audit chain does not verify (unless `verify=False`: the
    caller has checked and chosen to go on) or when a decision cannot become a valid statement.
    """
    store = SQLiteStore(_existing(Path(db)), read_only=True) if isinstance(db, str | Path) else db
    try:
        if verify:
            verdict = store.verify_audit()
            if not verdict.ok:
                raise ExportError(
                    f"the audit trail does not verify ({verdict}): its decisions cannot be "
                    "relied on; nothing exported"
                )
        return list(_Builder(store).statements())
    finally:
        if store is not db:
            store.close()


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ExportError(f"no such db: {path}")
    return path


class _Builder:
    """Reads what the statements need once: the packs' `dsa` blocks, first-seen dates."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.packs: dict[str, dict[str, Mapping[str, Any]]] = {}
        self.seen = store.first_seen()

    def statements(self) -> list[dict[str, Any]]:
        """Every statement, each checked; a reviewer's decision inherits from the latest rule
        decision on its account (decisions come in time order)."""
        made: list[dict[str, Any]] = []
        last_rule: dict[str, Mapping[str, Any]] = {}
        for record in (stored.record for stored in self.store.enforced_decisions()):
            decision = record.decision
            if decision.rule_id == HUMAN_REVIEW:
                statement = self.human(record, last_rule.get(decision.account_id))
            else:
                dsa = self.dsa_of(decision)
                last_rule[decision.account_id] = dsa
                statement = self.build(record, dsa, automated=dsa["automated"])
            found = problems(statement)
            if found:
                raise ExportError(
                    f"decision {decision.decision_id} makes no valid statement of reasons: "
                    + "; ".join(found)
                )
            made.append(statement)
        return made

    def dsa_of(self, decision: Decision) -> Mapping[str, Any]:
        digest, rule_id = decision.ruleset_digest, decision.rule_id
        if digest not in self.packs:
            self.packs[digest] = {
                rule.id: rule.dsa
                for rule in self.store.ruleset_rules(digest)
                if rule.dsa is not None
            }
        dsa = self.packs[digest].get(rule_id)
        if dsa is None:
            raise ExportError(
                f"decision {decision.decision_id}: rule `{rule_id}` of pack {digest[:12]} "
                "declares no `dsa` block (a pack older than DSA categories), so the decision "
                "has no category; nothing exported"
            )
        return dsa

    def human(self, record: DecisionRecord, inherited: Mapping[str, Any] | None) -> dict[str, Any]:
        """A reviewer's decision: the review event's `category` (and `category_specification`)
        when it has one, else the `dsa` block of the latest rule decision on the account (what
        the reviewer acted on), else `HUMAN_DEFAULT`."""
        event = self.store.event_payload(record.decision.evidence[0]) or {}
        if event.get("category"):
            dsa = {
                **HUMAN_DEFAULT,
                "category": event["category"],
                "keywords": list(event.get("category_specification") or ()),
            }
            if KEYWORD_OTHER in dsa["keywords"]:
                limit = MAX_LENGTH["category_specification_other"]
                dsa["keyword_other"] = record.decision.reason.strip()[:limit]
        else:
            dsa = {**(inherited or HUMAN_DEFAULT)}
        detected = inherited is not None and inherited["automated"] == "fully"
        return self.build(record, dsa, automated=None, detected=detected)

    def build(
        self,
        record: DecisionRecord,
        dsa: Mapping[str, Any],
        *,
        automated: str | None,
        detected: bool | None = None,
    ) -> dict[str, Any]:
        """`automated`: the rule's `fully` / `partially`, None for a person's decision;
        `detected`: found by automated means (by default: when fully automated)."""
        if detected is None:
            detected = automated == "fully"
        decision = record.decision
        action = decision.action
        applied = _day(record.decided_at)  # (a re-evaluation applies from when it was decided)
        statement: dict[str, Any] = {"decision_account": _ACCOUNT_RESTRICTION[action]}
        if action == Action.FREEZE:
            expires = decision.expires_at
            # (a re-evaluated freeze whose time was already over when decided ends that day)
            end = max(_day(expires.isoformat()), applied) if expires else None
            statement["end_date_account_restriction"] = end
        explanation = decision.reason.strip()
        if dsa["ground"] == "illegal":
            statement |= {
                "decision_ground": DECISION_GROUND_ILLEGAL,
                "illegal_content_legal_ground": dsa["reference"],
                "illegal_content_explanation": explanation,
            }
        else:
            statement |= {
                "decision_ground": DECISION_GROUND_INCOMPATIBLE,
                "incompatible_content_ground": dsa["reference"],
                "incompatible_content_explanation": explanation,
                "incompatible_content_illegal": "Yes" if dsa["also_illegal"] else "No",
            }
        if dsa.get("reference_url"):
            statement["decision_ground_reference_url"] = dsa["reference_url"]
        statement["category"] = dsa["category"]
        if dsa["keywords"]:
            statement["category_specification"] = list(dsa["keywords"])
        if dsa.get("keyword_other"):
            statement["category_specification_other"] = dsa["keyword_other"]
        statement["content_type"] = list(dsa["content_type"])
        if CONTENT_TYPE_OTHER in dsa["content_type"]:
            statement["content_type_other"] = ACCOUNT_CONTENT
        statement |= {
            "content_date": self.content_date(decision.account_id, applied),
            "application_date": applied,
            "territorial_scope": list(EEA_COUNTRIES),
            "decision_facts": self.facts(decision, automated),
            "source_type": dsa["source"],
            "automated_detection": "Yes" if detected else "No",
            "automated_decision": {
                "fully": AUTOMATED_FULLY,
                "partially": AUTOMATED_PARTIALLY,
                None: NOT_AUTOMATED,
            }[automated],
            "puid": decision.decision_id,
        }
        return statement

    def content_date(self, account_id: str, applied: str) -> str:
        """When the platform started hosting the account: its registration, else its first
        stored event (never after the decision)."""
        seen = self.seen.get(account_id)
        if seen is None:
            return applied
        micros = seen.registered_us if seen.registered_us is not None else seen.first_us
        return min(from_micros(micros).date().isoformat(), applied)

    def escalation(self, decision: Decision) -> list[str]:
        """What a `prior:` test counted: its label and threshold, and the earlier decisions
        among the evidence (their actions and effective dates)."""
        tests = sorted(
            {
                (condition.field, condition.expected)
                for match in decision.matched
                for condition in match.conditions
                if PRIOR_LABEL.match(condition.field) and condition.result
            }
        )
        if not tests:
            return []
        earlier = [
            stored.decision
            for item in decision.evidence
            if (stored := self.store.decision(item)) is not None
        ]
        actions = Counter(str(d.action) for d in earlier)
        days = sorted(_day(d.effective_at.isoformat()) for d in earlier)
        said = "; ".join(f"{label}, at least {count}" for label, count in tests)
        found = ", ".join(_counted(n, action) for action, n in sorted(actions.items()))
        span = ""
        if days:
            span = f" on {days[0]}" if days[0] == days[-1] else f" from {days[0]} to {days[-1]}"
        return [f"Escalation ({said}): earlier decisions counted: {found or 'none'}{span}."]

    def facts(self, decision: Decision, automated: str | None) -> str:
        """The facts and circumstances, from the decision and its evidence as stored: event
        types and dates, rule ids; no identifier of a person."""
        reason = decision.reason.strip()
        parts = [reason if reason.endswith((".", "!", "?", "。")) else reason + "."]
        if automated is None:
            parts.append("Decided by a human reviewer.")
        else:
            matched = [m.rule_id for m in decision.matched]
            others = [rule for rule in matched if rule != decision.rule_id]
            how = "applied automatically"
            if automated == "partially":
                how += " to a finding a person confirmed"
            parts.append(
                f"Rule {decision.rule_id} v{decision.rule_version} {how}"
                + (f"; rules also matched: {', '.join(others)}." if others else ".")
            )
            if decision.anchor:
                parts.append(
                    "Taken when the rule's deadline passed with no qualifying event, counted "
                    f"from decision {decision.anchor}."
                )
        parts += self.escalation(decision) + _exemptions(decision)
        kinds: Counter[str] = Counter()
        days: list[str] = []
        for event_id in decision.evidence:
            payload = self.store.event_payload(event_id)
            if payload is None:
                kinds["earlier decision"] += 1
                continue
            kinds[str(payload.get("type", "event"))] += 1
            days.append(_day(str(payload["occurred_at"])))
        if kinds:
            listed = ", ".join(
                _counted(n, kind.replace("_", " ")) for kind, n in sorted(kinds.items())
            )
            span = ""
            if days:
                first, last = min(days), max(days)
                span = f" on {first}" if first == last else f" from {first} to {last}"
            parts.append(f"Evidence: {listed}{span}.")
        text = " ".join(parts)
        limit = MAX_LENGTH["decision_facts"]
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _exemptions(decision: Decision) -> list[str]:
    """The exemption lists the rules checked (`unless_listed`): the account was on none."""
    names = sorted(
        {
            condition.field.removeprefix(LISTED)
            for match in decision.matched
            for condition in match.conditions
            if condition.field.startswith(LISTED) and condition.result
        }
    )
    return [f"The account was on none of the exemption lists {', '.join(names)}."] if names else []


def _counted(count: int, noun: str) -> str:
    """`1 rumor flag`, `3 rumor flags`: every noun counted in the facts (an event type, `earlier
    decision`, `event`) makes its plural with a plain -s."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _day(moment: str) -> str:
    """The UTC date of a stored time, as the database writes dates."""
    return datetime.fromisoformat(moment).astimezone(UTC).date().isoformat()


@attrs.define
class _Checks:
    """The field rules `problems` applies to one statement, each adding what is wrong."""

    statement: Mapping[str, Any]
    found: list[str] = attrs.Factory(list)

    def one_of(self, field: str, allowed: tuple[str, ...], required: bool = True) -> None:
        value = self.statement.get(field)
        if value is None:
            if required:
                self.found.append(f"{field} is required")
        elif value not in allowed:
            self.found.append(f"{field} {value!r} is not an allowed value")

    def many_of(self, field: str, allowed: tuple[str, ...], required: bool = False) -> None:
        values = self.statement.get(field)
        if values is None:
            if required:
                self.found.append(f"{field} is required")
        elif not isinstance(values, list) or not values:
            self.found.append(f"{field} must be a non-empty list")
        else:
            self.found.extend(
                f"{field}: {v!r} is not an allowed value" for v in values if v not in allowed
            )

    def text(self, field: str, required: bool) -> None:
        value = self.statement.get(field)
        if value is None or value == "":
            if required:
                self.found.append(f"{field} is required")
        elif not isinstance(value, str) or len(value) > MAX_LENGTH[field]:
            self.found.append(f"{field} is longer than {MAX_LENGTH[field]} characters")

    def day(self, field: str, bounds: tuple[date, date] | None, required: bool) -> date | None:
        value = self.statement.get(field)
        if value is None:
            if required:
                self.found.append(f"{field} is required")
            return None
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            self.found.append(f"{field} is not YYYY-MM-DD")
            return None
        parsed = date.fromisoformat(value)
        if bounds is not None and not bounds[0] <= parsed <= bounds[1]:
            self.found.append(f"{field} {value} is outside {bounds[0]} … {bounds[1]}")
        return parsed

    def grounds(self) -> None:
        """The decision's ground, and the fields that go with it (and only those)."""
        statement = self.statement
        self.one_of("decision_account", (ACCOUNT_SUSPENDED, ACCOUNT_TERMINATED))
        self.one_of("decision_ground", (DECISION_GROUND_ILLEGAL, DECISION_GROUND_INCOMPATIBLE))
        illegal = statement.get("decision_ground") == DECISION_GROUND_ILLEGAL
        self.text("illegal_content_legal_ground", illegal)
        self.text("illegal_content_explanation", illegal)
        self.text("incompatible_content_ground", not illegal)
        self.text("incompatible_content_explanation", not illegal)
        self.one_of("incompatible_content_illegal", YES_NO, required=not illegal)
        for field in (
            "illegal_content_legal_ground",
            "illegal_content_explanation",
            "incompatible_content_ground",
            "incompatible_content_explanation",
            "incompatible_content_illegal",
        ):
            if field in statement and field.startswith("illegal") != illegal:
                self.found.append(f"{field} does not go with {statement.get('decision_ground')}")
        self.text("decision_ground_reference_url", False)


def problems(statement: Mapping[str, Any]) -> list[str]:
    """What the Transparency Database would refuse in a statement (empty: nothing).

    The rules of its `StatementStoreRequest`, for the fields this export writes: required
    fields, allowed values, conditional fields, lengths, date formats and bounds, `puid`.
    """
    check = _Checks(statement)
    check.grounds()
    check.one_of("category", CATEGORIES)
    check.many_of("category_specification", KEYWORDS)
    other_keyword = KEYWORD_OTHER in (statement.get("category_specification") or ())
    check.text("category_specification_other", other_keyword)
    check.many_of("content_type", CONTENT_TYPES, required=True)
    check.text("content_type_other", CONTENT_TYPE_OTHER in (statement.get("content_type") or ()))
    check.many_of("territorial_scope", EEA_COUNTRIES)
    check.day("content_date", CONTENT_DATES, True)
    applied = check.day("application_date", APPLICATION_DATES, True)
    end = check.day("end_date_account_restriction", None, False)
    if end is not None and (end > LATEST_END_DATE or (applied is not None and end < applied)):
        late = "end_date_account_restriction is before the application date or after 2038"
        check.found.append(late)
    check.text("decision_facts", True)
    check.one_of("source_type", SOURCE_TYPES)
    check.one_of("automated_detection", YES_NO)
    check.one_of("automated_decision", (AUTOMATED_FULLY, AUTOMATED_PARTIALLY, NOT_AUTOMATED))
    check.text("puid", True)
    if not re.fullmatch(PUID_PATTERN, str(statement.get("puid", ""))):
        check.found.append("puid may hold only a-z, A-Z, 0-9, - and _")
    return check.found
