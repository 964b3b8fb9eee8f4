"""DSA statements of reasons (`audit export --format dsa`): every statement exported from a real
SQLite db passes the EU Transparency Database's field rules, written out here independently of
the library, and says what each kind of decision is.

The rules are those of the database's `StatementStoreRequest` (github.com/digital-services-act/
transparency-database, app/Http/Requests/StatementStoreRequest.php, and the enums of
app/Models/Statement.php), read at commit 69e80a0 (June 2026).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from blacklist_rules import (
    Engine,
    ExportError,
    RuleLoadError,
    default_rules_path,
    dsa_statements,
    iter_jsonl,
    load_ruleset,
)

from .strategies import event_lists
from .support import event
from .test_cli import cli

ROOT = Path(__file__).resolve().parents[1]

# --- the Transparency Database's rules, as its API states them --------------------------------

CATEGORIES = {
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
}
KEYWORDS = {
    "KEYWORD_ADULT_SEXUAL_MATERIAL",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
    "KEYWORD_ANIMAL_HARM",
    "KEYWORD_BIOMETRIC_DATA_BREACH",
    "KEYWORD_BULLYING_AGAINST_GIRLS",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
    "KEYWORD_COORDINATED_HARM",
    "KEYWORD_COPYRIGHT_INFRINGEMENT",
    "KEYWORD_CYBER_BULLYING_INTIMIDATION",
    "KEYWORD_CYBER_HARASSMENT",
    "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
    "KEYWORD_CYBER_INCITEMENT",
    "KEYWORD_CYBER_STALKING",
    "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
    "KEYWORD_DATA_FALSIFICATION",
    "KEYWORD_DEFAMATION",
    "KEYWORD_DESIGN_INFRINGEMENT",
    "KEYWORD_DISCRIMINATION",
    "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
    "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
    "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
    "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
    "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
    "KEYWORD_HATE_SPEECH",
    "KEYWORD_HIDDEN_ADVERTISEMENT",
    "KEYWORD_HUMAN_EXPLOITATION",
    "KEYWORD_HUMAN_TRAFFICKING",
    "KEYWORD_ILLEGAL_ORGANIZATIONS",
    "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
    "KEYWORD_INAUTHENTIC_ACCOUNTS",
    "KEYWORD_INAUTHENTIC_LISTINGS",
    "KEYWORD_INAUTHENTIC_USER_REVIEWS",
    "KEYWORD_INCITEMENT_AGAINST_WOMEN",
    "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
    "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
    "KEYWORD_LANGUAGE_REQUIREMENTS",
    "KEYWORD_MISINFORMATION_DISINFORMATION",
    "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
    "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
    "KEYWORD_MISSING_PROCESSING_GROUND",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
    "KEYWORD_NONCOMPLIANCE_PRICING",
    "KEYWORD_NUDITY",
    "KEYWORD_PATENT_INFRINGEMENT",
    "KEYWORD_PHISHING",
    "KEYWORD_PROHIBITED_PRODUCTS",
    "KEYWORD_PYRAMID_SCHEMES",
    "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
    "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
    "KEYWORD_RISK_PUBLIC_HEALTH",
    "KEYWORD_SELF_MUTILATION",
    "KEYWORD_STALKING",
    "KEYWORD_SUICIDE",
    "KEYWORD_TERRORIST_CONTENT",
    "KEYWORD_TRADE_SECRET_INFRINGEMENT",
    "KEYWORD_TRADEMARK_INFRINGEMENT",
    "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
    "KEYWORD_UNLAWFUL_SALE_ANIMALS",
    "KEYWORD_UNSAFE_CHALLENGES",
    "KEYWORD_UNSAFE_PRODUCTS",
    "KEYWORD_VIOLATION_EU_LAW",
    "KEYWORD_VIOLATION_NATIONAL_LAW",
    "KEYWORD_OTHER",
}
CONTENT_TYPES = {
    "CONTENT_TYPE_APP",
    "CONTENT_TYPE_AUDIO",
    "CONTENT_TYPE_IMAGE",
    "CONTENT_TYPE_PRODUCT",
    "CONTENT_TYPE_SYNTHETIC_MEDIA",
    "CONTENT_TYPE_TEXT",
    "CONTENT_TYPE_VIDEO",
    "CONTENT_TYPE_OTHER",
}
SOURCE_TYPES = {
    "SOURCE_ARTICLE_16",
    "SOURCE_TRUSTED_FLAGGER",
    "SOURCE_TYPE_OTHER_NOTIFICATION",
    "SOURCE_VOLUNTARY",
}
COUNTRIES = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
}  # fmt: skip
ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
KNOWN_FIELDS = {
    "decision_account", "end_date_account_restriction", "account_type", "decision_ground",
    "decision_ground_reference_url", "illegal_content_legal_ground", "illegal_content_explanation",
    "incompatible_content_ground", "incompatible_content_explanation",
    "incompatible_content_illegal", "category", "category_addition", "category_specification",
    "category_specification_other", "content_type", "content_type_other", "territorial_scope",
    "content_language", "content_date", "application_date", "decision_facts", "source_type",
    "source_identity", "automated_detection", "automated_decision", "puid",
}  # fmt: skip


def _date(value: object, low: date | None, high: date) -> date:
    assert isinstance(value, str), value
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), value
    day = date.fromisoformat(value)
    assert (low or day) <= day <= high, value
    return day


def _text(statement: Mapping[str, Any], field: str, limit: int) -> None:
    value = statement[field]
    assert isinstance(value, str), (field, value)
    assert value.strip(), field
    assert len(value) <= limit, (field, len(value))


def assert_valid_statement(s: Mapping[str, Any]) -> None:
    """One statement against the database's rules, field by field."""
    assert set(s) <= KNOWN_FIELDS, set(s) - KNOWN_FIELDS
    # A restriction: here always one on the account (required without the other three).
    assert s["decision_account"] in {"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"}
    # decision_ground and its conditional fields: required_if / exclude_unless.
    assert s["decision_ground"] in {ILLEGAL, INCOMPATIBLE}
    illegal = {"illegal_content_legal_ground": 500, "illegal_content_explanation": 2000}
    incompatible = {"incompatible_content_ground": 500, "incompatible_content_explanation": 2000}
    required, excluded = (
        (illegal, incompatible) if s["decision_ground"] == ILLEGAL else (incompatible, illegal)
    )
    for field, limit in required.items():
        _text(s, field, limit)
    assert not set(excluded) & set(s)
    if s["decision_ground"] == INCOMPATIBLE:
        assert s["incompatible_content_illegal"] in {"Yes", "No"}  # we always say which
    else:
        assert "incompatible_content_illegal" not in s
    if "decision_ground_reference_url" in s:
        url = s["decision_ground_reference_url"]
        assert re.fullmatch(r"https?://\S+", url)
        assert len(url) <= 500
    # category (required), category_specification (array of keywords), its `other`.
    assert s["category"] in CATEGORIES
    keywords = s.get("category_specification")
    if keywords is not None:
        assert isinstance(keywords, list)
        assert keywords
        assert set(keywords) <= KEYWORDS
    if "KEYWORD_OTHER" in (keywords or ()):
        _text(s, "category_specification_other", 500)
    # content_type: a required non-empty array; `other` requires its text.
    assert isinstance(s["content_type"], list)
    assert s["content_type"]
    assert set(s["content_type"]) <= CONTENT_TYPES
    if "CONTENT_TYPE_OTHER" in s["content_type"]:
        _text(s, "content_type_other", 500)
    else:
        assert "content_type_other" not in s
    assert set(s.get("territorial_scope") or ()) <= COUNTRIES
    # Dates: YYYY-MM-DD within the database's bounds; an end not before the start.
    _date(s["content_date"], date(2000, 1, 1), date(2038, 1, 1))
    applied = _date(s["application_date"], date(2020, 1, 1), date(2038, 1, 1))
    if s.get("end_date_account_restriction") is not None:
        assert _date(s["end_date_account_restriction"], applied, date(2038, 1, 1)) >= applied
    _text(s, "decision_facts", 5000)
    assert s["source_type"] in SOURCE_TYPES
    assert s["automated_detection"] in {"Yes", "No"}
    assert s["automated_decision"] in {
        "AUTOMATED_DECISION_FULLY",
        "AUTOMATED_DECISION_PARTIALLY",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    }
    assert isinstance(s["puid"], str)
    assert len(s["puid"]) <= 500
    assert re.fullmatch(r"[a-zA-Z0-9\-_]+", s["puid"])


# --- a real db: the example events, and reviews, a lift and an expired freeze -------------------

RUMOUR = {"verdict": "malicious_rumor", "source": "fact_check"}
EXTRA = [
    event("rumor_flag", "dsa-rumour", timedelta(days=0), "x1", content_id="p1", **RUMOUR),
    event("rumor_flag", "dsa-rumour", timedelta(days=1), "x2", content_id="p2", **RUMOUR),
    event("identity_verification", "dsa-reviewed", timedelta(days=2), "x3", status="failed"),
    event(
        "review_decision",
        "dsa-reviewed",
        timedelta(days=3),
        "x4",
        reviewer_id="rev-1",
        action="cancel",
        reason="The documents were checked by hand: the identity is not the holder's.",
    ),
    event(
        "review_decision",
        "dsa-categorised",
        timedelta(days=4),
        "x5",
        reviewer_id="rev-2",
        action="blacklist",
        reason="Repeated defamatory posts about a named person.",
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        category_specification=["KEYWORD_DEFAMATION"],
    ),
    *(
        event(
            "impersonation_report",
            "dsa-lifted",
            timedelta(days=5 + n),
            f"x{6 + n}",
            reporter_id=f"u{n}",
            confirmed=False,
        )
        for n in range(3)
    ),
    event(
        "review_decision",
        "dsa-lifted",
        timedelta(days=9),
        "x9",
        reviewer_id="rev-1",
        action="lift",
        reason="The reports were a coordinated prank.",
    ),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example events, then `EXTRA`, then event time moved past the rumour freeze's end."""
    path = tmp_path_factory.mktemp("dsa") / "dsa.db"
    with Engine.from_path(db=path, create_key=True) as engine:  # (before the test's own key)
        for _ in engine.run(iter_jsonl(ROOT / "examples" / "events.jsonl")):
            pass
        list(engine.run(EXTRA))
        engine.advance_to("2026-06-01T00:00:00Z")
    return path


@pytest.fixture(scope="module")
def statements(db: Path) -> list[dict[str, Any]]:
    return dsa_statements(db)


def decided(db: Path) -> dict[str, tuple[str, str, str | None, str | None]]:
    """Per enforced decision id: (account, rule, ended at, reversed by), from SQLite itself."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT decision_id, account_id, rule_id, ended_at, reversed_by FROM decisions "
            "WHERE mode = 'enforce'"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def by_account(db: Path, statements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    accounts = {decision: row[0] for decision, row in decided(db).items()}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        grouped.setdefault(accounts[statement["puid"]], []).append(statement)
    return grouped


def rule_of(db: Path, statement: Mapping[str, Any]) -> str:
    return decided(db)[statement["puid"]][1]


def test_every_enforced_decision_is_one_valid_statement(
    db: Path, statements: list[dict[str, Any]]
) -> None:
    """One statement per enforced decision (ended and reversed ones too), each passing every
    field rule, with a puid that is the decision id."""
    assert len(statements) == len(decided(db)) > 20
    assert sorted(s["puid"] for s in statements) == sorted(decided(db))
    for statement in statements:
        assert_valid_statement(statement)


def test_superseded_decisions_are_still_statements(
    db: Path, statements: list[dict[str, Any]]
) -> None:
    """A decision overturned on appeal, one a reviewer lifted, and freezes that ended (by time
    or a passed verification) were applied: each is reported."""
    rows = decided(db)
    puids = {s["puid"] for s in statements}
    assert "d-f8bd7e4646823bf7da85ba1f" in puids  # overturned in examples/events.jsonl
    reversed_ = [d for d, row in rows.items() if row[3] is not None]
    ended = [d for d, row in rows.items() if row[2] is not None]
    assert len(reversed_) >= 2
    assert set(reversed_) <= puids
    assert ended
    assert set(ended) <= puids
    lifted = by_account(db, statements)["dsa-lifted"]
    assert [s["decision_account"] for s in lifted] == ["DECISION_ACCOUNT_SUSPENDED"]


def test_a_freeze_is_a_suspension_with_its_end(db: Path, statements: list[dict[str, Any]]) -> None:
    """A 30-day freeze ends 30 days after it applies (the freeze has since expired); a freeze
    until a verification passes has no fixed end (null: indefinite)."""
    (rumour,) = by_account(db, statements)["dsa-rumour"]
    assert rumour["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert rumour["application_date"] == "2026-03-02"
    assert rumour["end_date_account_restriction"] == "2026-04-01"
    until_verified = [s for s in statements if rule_of(db, s) == "freeze-failed-verification"]
    assert until_verified
    for statement in until_verified:
        assert statement["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
        assert statement["end_date_account_restriction"] is None


def test_cancel_and_blacklist_are_terminations(db: Path, statements: list[dict[str, Any]]) -> None:
    """Every cancel and blacklist terminates the account, with no end date."""
    actions = dict.fromkeys(("cancel", "blacklist"), 0)
    with sqlite3.connect(db) as connection:
        action_of = dict(connection.execute("SELECT decision_id, action FROM decisions"))
    for statement in statements:
        action = action_of[statement["puid"]]
        expected = (
            "DECISION_ACCOUNT_SUSPENDED" if action == "freeze" else "DECISION_ACCOUNT_TERMINATED"
        )
        assert statement["decision_account"] == expected
        if action != "freeze":
            actions[action] += 1
            assert "end_date_account_restriction" not in statement
    assert all(actions.values())


@pytest.mark.parametrize(
    ("rules", "category", "keyword"),
    [
        pytest.param(
            {"blacklist-confirmed-impersonation", "freeze-suspected-impersonation"},
            "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
            id="impersonation",
        ),
        pytest.param(
            {
                "freeze-failed-verification",
                "cancel-proven-fake-identity",
                "cancel-proven-fake-registration",
                "cancel-unverified-after-freeze",
            },
            "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            "KEYWORD_INAUTHENTIC_ACCOUNTS",
            id="fake-identity",
        ),
        pytest.param(
            {"freeze-repeated-malicious-rumours", "blacklist-repeated-malicious-rumours"},
            "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
            "KEYWORD_MISINFORMATION_DISINFORMATION",
            id="rumours",
        ),
    ],
)
def test_each_policy_row_has_its_category(
    db: Path, statements: list[dict[str, Any]], rules: set[str], category: str, keyword: str
) -> None:
    """The category and keyword the rule file declares, on every decision of its rules."""
    mine = [s for s in statements if rule_of(db, s) in rules]
    assert {rule_of(db, s) for s in mine} == rules  # each rule decided at least once
    for statement in mine:
        assert (statement["category"], statement["category_specification"]) == (
            category,
            [keyword],
        )
        assert statement["decision_ground"] == INCOMPATIBLE


def test_rule_decisions_are_automated_and_a_confirmed_report_partially(
    db: Path, statements: list[dict[str, Any]]
) -> None:
    """A rule decides alone (fully automated, detected automatically), except on a reviewer's
    confirmation of a report (partially, and a person found it)."""
    for statement in statements:
        rule = rule_of(db, statement)
        if rule == "human-review":
            continue
        if rule == "blacklist-confirmed-impersonation":
            expected = ("AUTOMATED_DECISION_PARTIALLY", "No")
        else:
            expected = ("AUTOMATED_DECISION_FULLY", "Yes")
        assert (statement["automated_decision"], statement["automated_detection"]) == expected


def test_human_decisions_are_not_automated_and_take_a_stated_category(
    db: Path, statements: list[dict[str, Any]]
) -> None:
    """A reviewer's freeze/cancel/blacklist: not automated. Its category is the review
    event's `category`, else that of the rule decision the reviewer acted on, else "other
    violation of the terms and conditions"."""
    humans = [s for s in statements if rule_of(db, s) == "human-review"]
    assert len(humans) == 4
    assert {s["automated_decision"] for s in humans} == {"AUTOMATED_DECISION_NOT_AUTOMATED"}
    grouped = by_account(db, statements)
    (given_,) = grouped["dsa-categorised"]
    assert given_["category"] == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert given_["category_specification"] == ["KEYWORD_DEFAMATION"]
    assert given_["automated_detection"] == "No"
    assert given_["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    freeze, cancel = grouped["dsa-reviewed"]
    assert cancel["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert (cancel["category"], cancel["category_specification"]) == (
        freeze["category"],
        ["KEYWORD_INAUTHENTIC_ACCOUNTS"],
    )
    assert cancel["automated_detection"] == "Yes"  # the rule's freeze found it
    assert cancel["incompatible_content_explanation"].startswith("The documents were checked")
    alone = [s for s in grouped["acct-000062"] if rule_of(db, s) == "human-review"]
    assert [s["category"] for s in alone] == ["STATEMENT_CATEGORY_OTHER_VIOLATION_TC"] * 2
    assert "category_specification" not in alone[0]


def test_statements_hold_no_identifier_of_a_person(
    db: Path, statements: list[dict[str, Any]]
) -> None:
    """No account, reporter, reviewer or event id, and no fingerprint, reaches a statement:
    the puid (the decision id) is the only link back."""
    text = json.dumps(statements)
    assert not re.search(r"acct-|dsa-(rumour|reviewed|lifted)|rev-\d|ev-\d|\bu\d\b", text)
    with sqlite3.connect(db) as connection:
        prints = [row[0] for row in connection.execute("SELECT fingerprint FROM blacklist")]
    assert prints
    assert not any(str(p) in text for p in prints)


def test_a_decision_keeps_the_category_of_the_pack_that_took_it(tmp_path: Path) -> None:
    """The category comes from the pack's rules as stored under its digest: a later pack that
    re-categorises the rule changes new statements only."""
    pack = shutil.copytree(default_rules_path(), tmp_path / "old")
    path = pack / "rumours" / "freeze-repeated-malicious-rumours.yaml"
    text = path.read_text(encoding="utf-8")
    old = "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS"
    text = text.replace("version: 1", "version: 2")  # (one text per version in a db)
    path.write_text(text.replace(old, "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"), "utf-8")
    db = tmp_path / "packs.db"
    days = timedelta(days=1)
    with Engine.from_path(pack, db=db) as engine:
        engine.process(event("rumor_flag", "a", 0 * days, "a1", content_id="p1", **RUMOUR))
        engine.process(event("rumor_flag", "a", 1 * days, "a2", content_id="p2", **RUMOUR))
    with Engine.from_path(db=db) as engine:
        engine.process(event("rumor_flag", "b", 2 * days, "b1", content_id="p3", **RUMOUR))
        engine.process(event("rumor_flag", "b", 3 * days, "b2", content_id="p4", **RUMOUR))
    first, second = dsa_statements(db)
    assert first["category"] == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert second["category"] == old


def test_a_pack_without_categories_is_refused_by_name(tmp_path: Path) -> None:
    """A decision of a pack stored before rules had a `dsa` block has no category to report:
    the export is refused and names the decision and rule, never guesses."""
    db = tmp_path / "old.db"
    with Engine.from_path(db=db) as engine:
        (decision,) = engine.process(
            event("identity_verification", "a", timedelta(0), "e1", status="failed")
        ).decisions
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE rulesets SET rules = (SELECT json_group_array(json_remove(value, '$.dsa')) "
            "FROM json_each(rules))"
        )
    with pytest.raises(ExportError, match=f"{decision.decision_id}: rule `freeze-failed-verif"):
        dsa_statements(db)


# --- rule files: the `dsa` block is required and checked ----------------------------------------

RULE = """\
id: r1
version: 1
description: A rule.
basis: Terms of Service 4.1.
dsa:
  category: {category}
  keywords: [{keyword}]
  ground: incompatible
  reference: Terms of Service 4.1.
on: identity_verification
then:
  action: freeze
  reason: Failed.
"""


def load_errors(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "r1.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(tmp_path)
    return [str(error).replace(f"{tmp_path}/", "") for error in info.value.errors]


def test_a_rule_without_a_dsa_block_does_not_load(tmp_path: Path) -> None:
    lines = RULE.format(category="x", keyword="y").splitlines(keepends=True)
    text = "".join(lines[:4] + lines[9:])  # without lines 5-9, the `dsa` block
    assert load_errors(tmp_path, text) == ["r1.yaml:1: E-MISSING: missing required key `dsa`"]


def test_an_unknown_category_is_named_at_its_line_with_a_suggestion(tmp_path: Path) -> None:
    text = RULE.format(
        category="STATEMENT_CATEGORY_SCAM_AND_FRAUD", keyword="KEYWORD_IMPERSONATION"
    )
    assert load_errors(tmp_path, text) == [
        "r1.yaml:6: E-DSA: unknown DSA category `STATEMENT_CATEGORY_SCAM_AND_FRAUD` "
        "(did you mean `STATEMENT_CATEGORY_SCAMS_AND_FRAUD`?)",
        "r1.yaml:7: E-DSA: unknown DSA keyword `KEYWORD_IMPERSONATION` "
        "(did you mean `KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING`?)",
    ]


def test_a_wrong_ground_is_a_spec_error(tmp_path: Path) -> None:
    text = RULE.format(
        category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD", keyword="KEYWORD_INAUTHENTIC_ACCOUNTS"
    ).replace("ground: incompatible", "ground: illegal_content")
    assert load_errors(tmp_path, text) == [
        "r1.yaml:8: E-SPEC: `dsa.ground`: Input should be 'incompatible' or 'illegal'"
    ]


def test_a_review_with_an_unknown_category_is_rejected(engine: Engine) -> None:
    """A reviewer's category is checked when the event arrives, where it can still be fixed."""
    outcome = engine.process(
        event(
            "review_decision",
            "a",
            timedelta(0),
            "r1",
            reviewer_id="rev",
            action="cancel",
            reason="r",
            category="STATEMENT_CATEGORY_SCAMS_AND_FRUAD",
        )
    )
    assert outcome.rejection is not None
    assert outcome.rejection.path == "category"
    assert "did you mean STATEMENT_CATEGORY_SCAMS_AND_FRAUD?" in outcome.rejection.reason
    assert outcome.decisions == ()


def test_the_facts_count_their_evidence_in_english(engine: Engine) -> None:
    """The facts count the evidence by type, singular for one and plural past it: `1
    impersonation report`, `2 rumor flags`, `3 rumor flags` (never `3 rumor flag`)."""
    engine.process(
        event("impersonation_report", "a", timedelta(0), "i1", reporter_id="r", confirmed=True)
    )
    for day in (1, 10, 20):
        engine.process(
            event(
                "rumor_flag",
                "b",
                timedelta(days=day),
                f"s{day}",
                content_id=f"c{day}",
                verdict="malicious_rumor",
                source="fact_check",
            )
        )
    facts = {s["puid"]: s["decision_facts"] for s in dsa_statements(engine.store)}
    counted = sorted(
        (len(d.evidence), facts[d.decision_id].split("Evidence: ")[1])
        for account in ("a", "b")
        for d in engine.decisions(account)
    )
    assert [count for count, _said in counted] == [1, 2, 3]
    assert [said.split(" on ")[0].split(" from ")[0] for _count, said in counted] == [
        "1 impersonation report",
        "2 rumor flags",
        "3 rumor flags",
    ]


# --- the command line: a real db file, a broken chain -----------------------------------------


def tampered(db: Path, tmp_path: Path) -> Path:
    """A copy of the db with one character of audit record #5 changed."""
    copy = tmp_path / "tampered.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE audit SET record = replace(record, 'e', 'E') WHERE seq = 5")
    return copy


def test_cli_exports_one_statement_a_line(
    db: Path, statements: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = cli("audit", "export", "--format", "dsa", str(db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == statements
    written = cli(
        "audit", "export", "--format", "dsa", "--output", "sor.jsonl", str(db), cwd=tmp_path
    )
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "sor.jsonl").read_text(encoding="utf-8") == result.stdout
    assert f"wrote {len(statements)} statements of reasons" in written.stderr


@pytest.mark.parametrize("fmt", ["dsa", "jsonl"])
def test_cli_refuses_a_trail_that_does_not_verify_unless_forced(
    db: Path, tmp_path: Path, fmt: str
) -> None:
    """Refused with exit 1, nothing on stdout and the first broken record named; `--force`
    exports and warns."""
    copy = tampered(db, tmp_path)
    refused = cli("audit", "export", "--format", fmt, str(copy), cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "does not verify: chain broken at record #5: its content was changed" in refused.stderr
    assert "--force" in refused.stderr
    forced = cli("audit", "export", "--format", fmt, "--force", str(copy), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.count("\n") > 20
    assert "warning:" in forced.stderr
    assert "chain broken at record #5" in forced.stderr
    with pytest.raises(ExportError, match="chain broken at record #5"):
        dsa_statements(copy)


def test_the_documented_export_makes_valid_statements(tmp_path: Path) -> None:
    """The DSA page's export (docs/reference/dsa.md; test_docs checks what it prints), run
    through the CLI: each of the 21 statements it writes passes the database's field rules."""
    page = (ROOT / "docs" / "reference" / "dsa.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```console\n(.*?)```", page, re.S) if "--format dsa" in b]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ blacklist-rules")]
    for command in commands:
        args = command.split(">")[0].split()
        result = cli(*args[1:], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert "wrote 21 statements of reasons to statements.jsonl" in result.stderr
    lines = (tmp_path / "statements.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 21
    for line in lines:
        assert_valid_statement(json.loads(line))


# --- a property: any stored decision makes a valid statement ------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_lists)
def test_any_enforced_decision_makes_a_valid_statement(events: list[dict[str, Any]]) -> None:
    """Random events of a few accounts (reviews, lifts, late events): every enforced decision
    yields exactly one statement, and each passes the field rules."""
    with Engine.from_path(max_lead=None) as engine:  # the clock moved to the year's end
        list(engine.run(events))
        list(engine.run([]))
        engine.advance_to("2026-12-31T00:00:00Z")
        statements = dsa_statements(engine.store)
        enforced = [d for a in "abc" for d in engine.decisions(a) if d.mode == "enforce"]
    assert sorted(s["puid"] for s in statements) == sorted(d.decision_id for d in enforced)
    for statement in statements:
        assert_valid_statement(statement)
