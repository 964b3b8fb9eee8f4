"""Notices: every decision gets a notice in Chinese and English from the pack that decided, with
its basis, what was found and how to appeal; templates are checked at load; a notice never
names another person or an identity value."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from blacklist_rules import (
    Decision,
    Engine,
    IdentityKey,
    NoticeError,
    RuleLoadError,
    SQLiteStore,
    default_rules_path,
    iter_jsonl,
    load_ruleset,
    render_notice,
)
from blacklist_rules.model.decisions import HUMAN_REVIEW

from .strategies import (
    NOTICE_ACCOUNTS,
    NOTICE_CONTENTS,
    NOTICE_IDENTITIES,
    NOTICE_NOTE,
    NOTICE_REPORTERS,
    NOTICE_REVIEWER,
    notice_event_lists,
)
from .support import TEST_KEY, default_pack_with
from .test_cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden" / "notices"
SHANGHAI = "Asia/Shanghai"
RUMOUR = {"verdict": "malicious_rumor", "source": "fact_check"}

# The frame's headings, per language: the decision comes first, then these, in this order.
HEADINGS = {
    "en": ("Why: ", "What we found: ", "How to appeal: "),
    "zh": ("处理依据：", "认定事实：", "申诉方式："),  # noqa: RUF001 (Chinese punctuation)
}
DECIDED = {
    "en": {"freeze": "frozen", "cancel": "cancelled", "blacklist": "blacklisted"},
    "zh": {"freeze": "冻结", "cancel": "注销", "blacklist": "列入黑名单"},
}
REVERSED = {"en": "was reversed", "zh": "已撤销"}


@pytest.fixture(scope="module")
def example() -> Iterator[tuple[SQLiteStore, list[Decision]]]:
    """The example's events run into a db; its store and every decision."""
    key = IdentityKey(TEST_KEY.encode(), "test")  # (module scope: before the test's own key)
    with Engine(load_ruleset(), SQLiteStore(), identity_key=key) as engine:
        decisions = [
            d
            for outcome in engine.run(iter_jsonl(EXAMPLES / "events.jsonl"))
            for d in outcome.decisions
        ]
        yield engine.store, decisions


def by_rule(decisions: list[Decision], rule_id: str) -> Decision:
    return next(d for d in decisions if d.rule_id == rule_id)


def rule_basis(rule_id: str, lang: str) -> str:
    """The rule's `notice.<lang>.basis` as the pack writes it (a reviewer's: `[review.basis]`)."""
    if rule_id == HUMAN_REVIEW:
        template = (default_rules_path() / "notices" / f"{lang}.txt").read_text(encoding="utf-8")
        return template.split("[review.basis]\n", 1)[1].split("\n", 1)[0]
    (rule,) = [r for r in load_ruleset().rules if r.id == rule_id]
    spec = re.search(rf"\n  {lang}:\n    basis: (>\n)?(.*?)\n    evidence", rule.text, re.S)
    assert spec is not None
    return " ".join(spec.group(2).split())


# --- every decision, both languages ------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_example_decision_gets_a_complete_notice(
    example: tuple[SQLiteStore, list[Decision]], lang: str
) -> None:
    """Each of the example's 21 decisions: the decision, the rule's basis, what was found and
    the appeal with its decision id, in that order; a reversed one says so and offers no
    appeal. Every placeholder is filled in."""
    store, decisions = example
    assert len(decisions) == 21
    seen = set()
    for decision in decisions:
        notice = render_notice(store, decision.decision_id, lang=lang, tz=SHANGHAI)
        text = notice.text
        assert "$" not in text
        assert decision.account_id in text.splitlines()[0]
        if notice.reversed:
            assert REVERSED[lang] in text
            assert HEADINGS[lang][2] not in text
            assert decision.decision_id in text
            continue
        places = [text.index(heading) for heading in HEADINGS[lang]]
        assert places == sorted(places)
        assert text.index(DECIDED[lang][decision.action]) < places[0]
        assert rule_basis(decision.rule_id, lang) in text
        found = text[places[1] : places[2]].strip()
        assert len(found) > len(HEADINGS[lang][1]) + 10
        appeal = text[places[2] :].split("\n\n")[0]
        assert decision.decision_id in appeal
        assert notice.appeal_by is not None
        assert notice.appeal_by.astimezone().strftime("%Y") in appeal
        seen.add(decision.rule_id)
    # Every rule of the pack that decided in the example, a reviewer's decision among them.
    assert len(seen) == 9
    assert HUMAN_REVIEW in seen


def test_an_overturned_appeal_gives_a_notice_that_the_decision_was_reversed(
    example: tuple[SQLiteStore, list[Decision]],
) -> None:
    """The example's overturned cancel: its notice says when and how it was reversed."""
    store, decisions = example
    (reversed_id,) = [
        d.decision_id for d in decisions if render_notice(store, d.decision_id, lang="en").reversed
    ]
    english = render_notice(store, reversed_id, lang="en", tz=SHANGHAI)
    chinese = render_notice(store, reversed_id, lang="zh", tz=SHANGHAI)
    assert (
        "On 2026-02-18 09:42 we accepted your appeal and overturned this decision" in english.text
    )
    assert "2026-02-18 09:42，您的申诉成立，我们已撤销该决定" in chinese.text  # noqa: RUF001
    assert english.appeal_by is None


# --- golden files ---------------------------------------------------------------------------

GOLDEN_CASES = [
    ("freeze-repeated-malicious-rumours", "zh", SHANGHAI),
    ("freeze-repeated-malicious-rumours", "en", SHANGHAI),
    ("freeze-failed-verification", "en", SHANGHAI),
    ("cancel-unverified-after-freeze", "zh", "UTC"),
    ("blacklist-repeated-malicious-rumours", "en", "UTC"),
    (HUMAN_REVIEW, "zh", SHANGHAI),
    ("cancel-proven-fake-identity", "zh", SHANGHAI),
]


@pytest.mark.parametrize(("rule_id", "lang", "tz"), GOLDEN_CASES)
def test_rendered_notice_matches_golden_file(
    example: tuple[SQLiteStore, list[Decision]], rule_id: str, lang: str, tz: str
) -> None:
    """A few notices exactly as users read them (`cancel-proven-fake-identity`: the one whose
    appeal was overturned). Run with UPDATE_GOLDEN=1 to rewrite them, then review the diff."""
    store, decisions = example
    decision = by_rule(decisions, rule_id)
    if rule_id == "cancel-proven-fake-identity":
        decision = next(
            d
            for d in decisions
            if d.rule_id == rule_id and render_notice(store, d.decision_id, lang=lang).reversed
        )
    text = render_notice(store, decision.decision_id, lang=lang, tz=tz).text
    path = GOLDEN / f"{rule_id}.{lang}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


# --- wording of each kind of decision ---------------------------------------------------------


def test_a_returning_identity_is_named_without_the_account_it_matched() -> None:
    """A re-registration's notice says the identity matches a blacklisted one; the blacklisted
    account, its decision and the identity values appear nowhere."""
    with Engine.from_path() as engine:
        decisions = [
            d
            for outcome in engine.run(iter_jsonl(EXAMPLES / "reregistration.jsonl"))
            for d in outcome.decisions
        ]
        listing = by_rule(decisions, "blacklist-confirmed-impersonation")
        again = by_rule(decisions, "blacklist-returning-identity")
        assert listing.decision_id in again.evidence
        for lang, words in (("en", "matched an identity on our blacklist"), ("zh", "与黑名单中")):
            text = render_notice(engine.store, again.decision_id, lang=lang, tz=SHANGHAI).text
            assert words in text
            for secret in ("acct-li\n", "acct-li ", listing.decision_id, "acct-zhou", "0071"):
                assert secret not in text


def test_freezes_say_how_they_end(make_event: Any) -> None:
    """A freeze for a time gives its end in the zone asked for; until a verification passes,
    how to lift it; a reviewer's freeze, that a reviewer lifts it."""
    with Engine.from_path() as engine:
        engine.process(make_event("rumor_flag", "a", days=0, content_id="p1", **RUMOUR))
        (timed,) = engine.process(
            make_event("rumor_flag", "a", days=1, content_id="p2", **RUMOUR)
        ).decisions
        (verify,) = engine.process(
            make_event("identity_verification", "b", days=1, status="failed")
        ).decisions
        (review,) = engine.process(
            make_event(
                "review_decision", "c", days=1, reviewer_id="rev", action="freeze", reason="x"
            )
        ).decisions
        texts = {
            d.rule_id: render_notice(engine.store, d.decision_id, lang="en", tz=SHANGHAI).text
            for d in (timed, verify, review)
        }
    assert "from 2026-03-02 16:00 until 2026-04-01 16:00" in texts[timed.rule_id]
    assert "as soon as a verification of your identity passes" in texts[verify.rule_id]
    assert "the identity information you provided could not be confirmed" in texts[verify.rule_id]
    assert "until a reviewer lifts the freeze" in texts[HUMAN_REVIEW]
    assert "x\n" not in texts[HUMAN_REVIEW]
    assert "rev " not in texts[HUMAN_REVIEW]


def test_a_blacklist_listed_for_a_time_says_until_when(tmp_path: Path, make_event: Any) -> None:
    """`listed_for` in the rule: the notice gives the day the identity leaves the blacklist."""
    pack = default_pack_with(tmp_path / "pack")
    path = pack / "impersonation" / "blacklist-confirmed-impersonation.yaml"
    path.write_text(
        path.read_text().replace(
            "  action: blacklist\n", "  action: blacklist\n  listed_for: 365d\n"
        )
    )
    with Engine.from_path(pack) as engine:
        (decision,) = engine.process(
            make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
        ).decisions
        text = render_notice(engine.store, decision.decision_id, lang="zh").text
    assert "在 2027-03-01 08:00 之前" in text


def test_engine_notice_still_renders_but_is_deprecated(make_event: Any) -> None:
    """`Engine.notice` (the engine imports no report) warns and gives what `render_notice`
    over the engine's store gives."""
    with Engine.from_path() as engine:
        (decision,) = engine.process(
            make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
        ).decisions
        with pytest.warns(DeprecationWarning, match="render_notice"):
            old = engine.notice(decision.decision_id, lang="en", tz=SHANGHAI)
        assert old == render_notice(engine.store, decision.decision_id, lang="en", tz=SHANGHAI)


def test_a_lift_by_a_reviewer_is_told_as_such(make_event: Any) -> None:
    """A reviewer's lift of a decision: its notice says a reviewer lifted it, and when."""
    with Engine.from_path() as engine:
        (decision,) = engine.process(
            make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
        ).decisions
        engine.process(
            make_event(
                "review_decision",
                "a",
                days=2,
                reviewer_id="rev",
                action="lift",
                decision_id=decision.decision_id,
                reason="mistaken identity",
            )
        )
        notice = render_notice(engine.store, decision.decision_id, lang="en")
    assert notice.reversed
    assert "On 2026-03-03 08:00 a reviewer lifted this decision" in notice.text
    assert "mistaken identity" not in notice.text


def test_no_notice_for_a_shadow_decision_an_unknown_one_or_an_unknown_language_or_zone(
    tmp_path: Path, make_event: Any
) -> None:
    """Refusals name the problem: shadow decisions never took effect; a language the pack has
    not; a zone that does not exist; a decision the db has not."""
    with Engine.from_path() as engine:
        for n, account in enumerate(("a", "b", "c")):
            registered = make_event(
                "registration", account, days=n, identity={"id_number": "360426199101010071"}
            )
            outcome = engine.process(registered)
        (shadow,) = outcome.decisions
        assert shadow.mode == "shadow"
        (enforced,) = engine.process(
            make_event("impersonation_report", "d", reporter_id="r", confirmed=True)
        ).decisions
        with pytest.raises(NoticeError, match="shadow decision: it never took effect"):
            render_notice(engine.store, shadow.decision_id)
        with pytest.raises(NoticeError, match="has no notices in 'fr'; it has en, zh"):
            render_notice(engine.store, enforced.decision_id, lang="fr")
        with pytest.raises(NoticeError, match="unknown time zone 'Asia/Shanghia'"):
            render_notice(engine.store, enforced.decision_id, tz="Asia/Shanghia")
        with pytest.raises(NoticeError, match="no decision d-nope"):
            render_notice(engine.store, "d-nope")


def test_a_pack_without_notices_loads_and_its_decisions_get_none(
    tmp_path: Path, make_event: Any
) -> None:
    """Notices are the pack's choice: without `notices/` it loads as before, and a notice is
    refused, naming the pack."""
    pack = default_pack_with(tmp_path / "pack")
    shutil.rmtree(pack / "notices")
    with Engine.from_path(pack) as engine:
        (decision,) = engine.process(
            make_event("impersonation_report", "a", reporter_id="r", confirmed=True)
        ).decisions
        with pytest.raises(NoticeError, match=f"pack {engine.digest[:12]}, which has no notice"):
            render_notice(engine.store, decision.decision_id)


# --- an old decision keeps its notice -------------------------------------------------------


def test_an_old_decisions_notice_is_unchanged_after_the_pack_is_edited(
    tmp_path: Path, make_event: Any
) -> None:
    """The rule's notice and the templates are kept under the digest of the pack that decided:
    an edit of either changes the digest and the notices of later decisions only."""
    db = tmp_path / "state.db"
    confirmed = {"reporter_id": "r", "confirmed": True}
    with Engine.from_path(db=db) as engine:
        (old,) = engine.process(make_event("impersonation_report", "a", **confirmed)).decisions
        before = render_notice(engine.store, old.decision_id, lang="en").text
    pack = default_pack_with(tmp_path / "pack")
    rule = pack / "impersonation" / "blacklist-confirmed-impersonation.yaml"
    edited = rule.read_text().replace("a reviewer confirmed a report", "we learned")
    rule.write_text(edited.replace("version: 1", "version: 2"))  # (a db refuses it unbumped)
    template = pack / "notices" / "en.txt"
    template.write_text(template.read_text().replace("How to appeal:", "Appeals:"))
    with Engine.from_path(pack, db=db) as engine:
        assert engine.digest != old.ruleset_digest
        (new,) = engine.process(make_event("impersonation_report", "b", **confirmed)).decisions
        assert render_notice(engine.store, old.decision_id, lang="en").text == before
        after = render_notice(engine.store, new.decision_id, lang="en").text
    assert "a reviewer confirmed a report" in before
    assert "How to appeal:" in before
    assert "we learned" in after
    assert "Appeals:" in after


def test_comments_in_templates_do_not_change_the_digest(tmp_path: Path) -> None:
    """The digest covers the templates' texts, not their comments or layout."""
    pack = default_pack_with(tmp_path / "pack")
    template = pack / "notices" / "zh.txt"
    template.write_text("# 又一行注释\n" + template.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_ruleset(pack).digest == load_ruleset().digest
    template.write_text(template.read_text(encoding="utf-8").replace("申诉方式", "如何申诉"))
    assert load_ruleset(pack).digest != load_ruleset().digest


# --- load errors ------------------------------------------------------------------------------

NOTICED_RULE = """\
id: freeze-on-report
version: 1
description: Any confirmed report freezes.
basis: Test basis.
on: impersonation_report
when:
  confirmed: true
then:
  action: freeze
  reason: Reported.
notice:
  en:
    basis: Test basis.
    evidence: On $frist someone reported you; $$5 and ${count} are fine.
  zh:
    basis: 测试依据。
    evidence: 于 $first 被举报 $count 次。
priority: 10
"""
DSA = "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}\n"
"""Appended (last, so the lines above keep their numbers): every rule declares its category."""


def pack_errors(pack: Path) -> list[str]:
    """Every load error of a pack, as `str()`, with the pack's folder shown as `pack`."""
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(pack)
    return [str(e).replace(str(pack), "pack") for e in info.value.errors]


def noticed_pack(tmp_path: Path, rule: str) -> Path:
    """The default pack, its notices included, and one more rule file."""
    pack = default_pack_with(tmp_path / "pack")
    (pack / "extra.yaml").write_text(rule + DSA, encoding="utf-8")
    return pack


def test_an_unknown_placeholder_is_an_error_at_its_line_with_a_did_you_mean(
    tmp_path: Path,
) -> None:
    """`$frist` in line 14 of the rule: located, with the name it likely meant."""
    assert pack_errors(noticed_pack(tmp_path, NOTICED_RULE)) == [
        "pack/extra.yaml:14: E-NOTICE: `evidence`: unknown placeholder `$frist` "
        "(did you mean `$first`?)"
    ]


def test_a_missing_or_extra_language_and_a_missing_notice_are_errors(tmp_path: Path) -> None:
    """A notice without `zh` (the pack has en and zh), one with `fr` (no template for it), and
    a rule without any notice in a pack that sends them."""
    without_zh = NOTICED_RULE.replace("$frist", "$first").split("  zh:\n")[0] + "priority: 10\n"
    with_fr = NOTICED_RULE.replace("$frist", "$first").replace("  zh:", "  fr:")
    without = NOTICED_RULE.split("notice:\n")[0] + "priority: 10\n"
    pack = noticed_pack(tmp_path, without_zh)
    (pack / "fr.yaml").write_text(with_fr.replace("freeze-on-report", "fr-rule") + DSA)
    (pack / "none.yaml").write_text(without.replace("freeze-on-report", "no-notice") + DSA)
    assert pack_errors(pack) == [
        "pack/extra.yaml:11: E-NOTICE: the notice has no `zh` text "
        "(the pack's notices are in en, zh)",
        "pack/fr.yaml:11: E-NOTICE: the notice has no `zh` text (the pack's notices are in en, zh)",
        "pack/fr.yaml:15: E-NOTICE: no template for language `fr` in notices/ "
        "(the pack's notices are in en, zh)",
        "pack/none.yaml:1: E-MISSING: missing required key `notice` (the pack sends notices "
        "(en, zh): say in plain words what was found, after `then`)",
    ]


def test_a_misspelt_notice_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    """`evidance` under `notice.en`: an unknown key, with the key it likely meant."""
    rule = NOTICED_RULE.replace("$frist", "$first").replace("    evidence: On", "    evidance: On")
    errors = pack_errors(noticed_pack(tmp_path, rule))
    assert errors == [
        "pack/extra.yaml:12: E-MISSING: missing required key `notice.en.evidence`",
        "pack/extra.yaml:14: E-KEY: unknown key `notice.en.evidance` (did you mean `evidence`?)",
    ]


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of `path` that is `text`."""
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


STRAY = "Decision number $$1: $decision_id, $5. Times in this notice are in $timezone."
CANCEL = "We have cancelled it as of $efective_at. It can no longer be used."


def test_template_errors_are_located_in_the_template_file(tmp_path: Path) -> None:
    """An unknown placeholder, a placeholder not offered in its section, a stray `$`, an
    unknown section (did-you-mean), a missing one: each at its line of `notices/en.txt`."""
    pack = default_pack_with(tmp_path / "pack")
    path = pack / "notices" / "en.txt"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "cancelled your account as of $effective_at", "cancelled it as of $efective_at"
    )
    text = text.replace("[action.freeze]\nfreeze", "[action.freeze]\nfreeze until $expires_at")
    text = text.replace("[reversed.review]\n", "[reversed.reveiw]\n")
    text = text.replace("Decision number: $decision_id.", "Decision number $$1: $decision_id, $5.")
    path.write_text(text, encoding="utf-8")
    shown = "pack/notices/en.txt"
    assert pack_errors(pack) == [
        f"{shown}:1: E-NOTICE: missing section [reversed.review]",
        f"{shown}:{line_of(path, STRAY)}: E-NOTICE: [notice]: `$` at column 36 starts no "
        "placeholder "
        "(write `$name` or `${name}`, or `$$` for a dollar sign)",
        f"{shown}:{line_of(path, CANCEL)}: E-NOTICE: [decision.cancel]: "
        "unknown placeholder `$efective_at` "
        "(did you mean `$effective_at`?)",
        f"{shown}:{line_of(path, 'freeze until $expires_at')}: E-NOTICE: [action.freeze]: "
        "unknown placeholder `$expires_at` (known here: none)",
        f"{shown}:{line_of(path, '[reversed.reveiw]')}: E-NOTICE: unknown section "
        "[reversed.reveiw] (did you mean `reversed.review`?)",
    ]


def test_settings_and_file_names_are_checked(tmp_path: Path) -> None:
    """A wrong appeal period, a template file named after no language, no settings file."""
    pack = default_pack_with(tmp_path / "pack")
    settings_file = pack / "notices" / "settings.txt"
    settings_file.write_text(settings_file.read_text().replace("180d", "6 months"))
    (pack / "notices" / "english.txt").write_text("[notice]\nHello.\n")
    errors = pack_errors(pack)
    assert errors[0].startswith("pack/notices/english.txt:0: E-NOTICE: `english` is not a language")
    assert errors[1].startswith(
        f"pack/notices/settings.txt:{line_of(settings_file, '6 months')}: E-NOTICE: invalid "
        "duration '6 months'"
    )
    settings_file.unlink()
    (pack / "notices" / "english.txt").unlink()
    assert pack_errors(pack) == [
        "pack/notices/:0: E-NOTICE: no `settings.txt` (it gives `[appeal_within]`, how long a "
        "user has to appeal)"
    ]


# --- never another person's data --------------------------------------------------------------

NOTICE_RULESET = load_ruleset()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notice_event_lists)
def test_no_notice_names_another_person_or_an_identity_value(
    events: list[dict[str, Any]],
) -> None:
    """Over generated events of every kind, no notice in either language holds another
    account's id or decision id, a reporter's or reviewer's id, a reviewer's note, a content
    id or an identity value (as sent or normalised); each holds its own decision id."""
    with Engine(NOTICE_RULESET, SQLiteStore()) as engine:
        decisions = [
            d for outcome in engine.run(events) for d in outcome.decisions if d.mode == "enforce"
        ]
        forbidden_everywhere = [
            *NOTICE_REPORTERS,
            *NOTICE_CONTENTS,
            NOTICE_REVIEWER,
            NOTICE_NOTE,
            *(value for identity in NOTICE_IDENTITIES for value in identity.values()),
            "+86138",
            "+86139",
            "11010519491231002",
        ]
        for decision in decisions:
            others = [a for a in NOTICE_ACCOUNTS if a != decision.account_id]
            other_decisions = [
                d.decision_id for d in decisions if d.account_id != decision.account_id
            ]
            for lang in ("en", "zh"):
                text = render_notice(engine.store, decision.decision_id, lang=lang).text
                assert decision.decision_id in text
                for secret in (*forbidden_everywhere, *others, *other_decisions):
                    assert secret not in text, (secret, decision.rule_id, text)


# --- the command line and the README ---------------------------------------------------------


def test_notice_verb_end_to_end(tmp_path: Path) -> None:
    """`run`, then `notice` in both languages and as JSON, from the db alone; a decision the db
    has not, and a db that does not exist, exit 2 with the reason."""
    ran = cli("run", str(EXAMPLES / "reregistration.jsonl"), "--db", "demo.db", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    decisions = [json.loads(line) for line in ran.stdout.splitlines()]
    returning = next(d for d in decisions if d["rule_id"] == "blacklist-returning-identity")
    ident = returning["decision_id"]
    zh = cli("notice", ident, "--db", "demo.db", "--tz", SHANGHAI, cwd=tmp_path)
    assert zh.returncode == 0, zh.stderr
    assert zh.stdout.startswith(f"关于您的账号 {returning['account_id']} 的处理通知\n")
    assert f"注明决定编号 {ident}" in zh.stdout
    en = cli("notice", ident, "--db", "demo.db", "--lang", "en", "--json", cwd=tmp_path)
    assert en.returncode == 0, en.stderr
    data = json.loads(en.stdout)
    assert data["lang"] == "en"
    assert data["timezone"] == "UTC"
    assert not data["reversed"]
    assert data["ruleset_digest"] == returning["ruleset_digest"]
    assert "2026-05-10 12:15" in data["text"]  # 20:15 in Shanghai is 12:15 UTC
    missing = cli("notice", "d-0000", "--db", "demo.db", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (6, "error: demo.db has no decision d-0000\n")
    validated = cli("validate", cwd=tmp_path)
    assert "  notices in en, zh, appeals within 180 days\n" in validated.stdout
    nodb = cli("notice", ident, "--db", "other.db", cwd=tmp_path)
    assert nodb.returncode == 2
    assert "no such db: other.db" in nodb.stderr
