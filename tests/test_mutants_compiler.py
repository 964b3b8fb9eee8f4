"""What the compiler builds: streams, windows, deadlines, traces and durable-rules terms.

Written for the mutants of pack/compiler.py that the matching and history tests let through (see
bench/README.md, "Mutation testing"): labels are what explanations and notices print, streams
decide what history keeps and for how long, and the durable-rules terms are what matches.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from blacklist_rules import RuleLoadError, load_ruleset
from blacklist_rules.engine import default_rules_path
from blacklist_rules.errors import EvaluationError
from blacklist_rules.matching.durable import to_durable, translate
from blacklist_rules.model.decisions import ConditionTrace
from blacklist_rules.pack.compiler import (
    CompiledRuleset,
    compile_rules,
    condition_text,
    feature_key,
    to_guard,
    trace,
)
from blacklist_rules.pack.conditions import All, AnyOf, Compare, Not
from blacklist_rules.pack.loader import parse_rule_text

from .support import default_pack_with, write_rule

DSA = "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}"
DAY_US = 86_400 * 1_000_000


def _rule(rule_id: str, body: str, priority: int = 10) -> str:
    return (
        f"id: {rule_id}\nversion: 1\ndescription: d\nbasis: b\npriority: {priority}\n"
        f"{body}\nthen: {{action: freeze, reason: r}}\n{DSA}\n"
    )


def _window(count: int, within: str) -> str:
    return (
        "on: rumor_flag\nwhen: {verdict: malicious_rumor}\n"
        f"window: {{count: {count}, within: {within}}}"
    )


def _pack(tmp_path: Path, **rules: str) -> Path:
    folder = tmp_path / "pack"
    for name, text in rules.items():
        write_rule(folder, name, text)
    return folder


def test_the_default_packs_windows_are_labelled_as_explanations_show_them() -> None:
    """Each window says what it counts and over how long; each stream keeps its grouping."""
    ruleset = load_ruleset()
    labels = {rule.id: rule.window.label for rule in ruleset.rules if rule.window}
    assert labels == {
        "freeze-shared-id-number": "live accounts sharing id_number within 30d",
        "freeze-suspected-impersonation": "distinct reporter_id within 7d",
        "blacklist-repeated-malicious-rumours": "distinct content_id within 180d",
        "freeze-repeated-malicious-rumours": "distinct content_id within 180d",
    }
    shared = ruleset.rule("freeze-shared-id-number").window
    assert shared is not None
    stream = ruleset.streams[shared.stream]
    assert (stream.distinct, stream.by) == ("account_id", "id_number")
    reports = ruleset.rule("freeze-suspected-impersonation").window
    assert reports is not None
    assert (ruleset.streams[reports.stream].distinct, ruleset.streams[reports.stream].by) == (
        "reporter_id",
        None,
    )


def test_the_default_packs_deadline_is_labelled_by_its_anchor_rules() -> None:
    """A deadline after decisions names them, and it has no listener of its own."""
    deadline = load_ruleset().rule("cancel-unverified-after-freeze").deadline
    assert deadline is not None
    assert deadline.label == (
        "15d after decision of freeze-failed-verification, freeze-failed-registration-verification"
    )
    assert deadline.after_listener is None
    assert deadline.span_us == 15 * DAY_US


def test_a_deadline_after_an_event_listens_for_it(tmp_path: Path) -> None:
    """`after: {on: ...}`: a listener named after the rule feeds the anchor; the label says
    "event", and a span not in whole days is written in seconds."""
    body = (
        "deadline:\n  after: {on: rumor_flag, when: {verdict: malicious_rumor}}\n"
        "  within: 36h\n  unless: {on: identity_verification, when: {status: passed}}"
    )
    ruleset = load_ruleset(_pack(tmp_path, late=_rule("late", body)))
    deadline = ruleset.rule("late").deadline
    assert deadline is not None
    assert deadline.after_listener == "after:late"
    assert deadline.label == "129600s after event"
    listener_names = [listener.name for listener in ruleset.listeners["rumor_flag"]]
    assert listener_names == ["after:late"]
    assert "after:late" in translate(ruleset)


@pytest.mark.parametrize("order", ["long-first", "short-first"])
def test_windows_of_different_spans_on_one_stream_keep_the_longest(
    tmp_path: Path, order: str
) -> None:
    """Two windows over the same events, 30 and 2 days: one stream, kept 30 days (and the
    horizon too), whichever rule compiles first; each window keeps its own span."""
    first, second = (1, 2) if order == "long-first" else (2, 1)
    pack = _pack(
        tmp_path,
        long=_rule("long", _window(3, "30d"), priority=first),
        short=_rule("short", _window(2, "2d"), priority=second),
    )
    ruleset = load_ruleset(pack)
    long, short = ruleset.rule("long").window, ruleset.rule("short").window
    assert long is not None
    assert short is not None
    assert long.stream == short.stream
    assert list(ruleset.streams) == [long.stream]
    assert ruleset.streams[long.stream].span_us == 30 * DAY_US
    assert ruleset.horizon_us == 30 * DAY_US
    assert (long.span_us, short.span_us) == (30 * DAY_US, 2 * DAY_US)
    assert (long.label, short.label) == ("events within 30d", "events within 2d")


def test_a_window_by_identity_and_one_by_account_never_share_a_stream(tmp_path: Path) -> None:
    """Same events, one window counting accounts sharing a phone, one counting distinct
    accounts: two streams, only the first grouped by phone."""
    body = "on: registration\nwindow: {count: 2, within: 1d"
    pack = _pack(
        tmp_path,
        shared=_rule("shared", body + ", by: phone}"),
        plain=_rule("plain", body + ", distinct: account_id}"),
    )
    ruleset = load_ruleset(pack)
    shared, plain = ruleset.rule("shared").window, ruleset.rule("plain").window
    assert shared is not None
    assert plain is not None
    assert shared.stream != plain.stream
    assert ruleset.streams[shared.stream].by == "phone"
    assert ruleset.streams[plain.stream].by is None
    assert ruleset.streams[plain.stream].distinct == "account_id"
    assert shared.label == "live accounts sharing phone within 1d"
    assert plain.label == "distinct account_id within 1d"


def _compare(field: str, op: str, value: object) -> Compare:
    return Compare(field, op, value, ())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (_compare("x", "exists", True), {"$ex": {"x": 1}}),
        (_compare("x", "exists", False), {"$nex": {"x": 1}}),
        (Not(_compare("x", "exists", True), ()), {"$nex": {"x": 1}}),
        (Not(_compare("x", "exists", False), ()), {"$ex": {"x": 1}}),
    ],
)
def test_exists_compiles_to_durable_rules_presence_tests(
    condition: Compare | Not, expected: dict[str, object]
) -> None:
    """`exists: true` is `$ex`, `exists: false` is `$nex`, and `not` swaps them."""
    assert to_durable(condition) == expected


def test_a_pattern_compiles_to_its_feature_being_true() -> None:
    """`matches` tests the snapshot's boolean feature: true, or false under `not`."""
    test = _compare("content", "matches", "a+")
    assert to_durable(test) == {feature_key(test): True}
    assert to_durable(Not(test, ())) == {feature_key(test): False}


def test_a_trace_lists_every_comparison_with_what_the_event_had() -> None:
    """Under `not`, `all` and `any`: each comparison in order, the expected value (a list for
    a set), the value seen (None: absent) and the comparison's own result."""
    tree = All(
        (
            Not(_compare("verdict", "eq", "ok"), ()),
            AnyOf((_compare("source", "in", ("a", "b")), _compare("score", "gte", 3)), ()),
        ),
        (),
    )
    snapshot = {"verdict": "bad", "source": "a"}
    assert trace(tree, snapshot) == (
        ConditionTrace("verdict", "eq", "ok", "bad", False),
        ConditionTrace("source", "in", ["a", "b"], "a", True),
        ConditionTrace("score", "gte", 3, None, False),
    )
    assert trace(None, snapshot) == ()
    assert to_guard(tree)(snapshot)


@pytest.mark.parametrize(
    ("expected", "text"),
    [
        (True, "flag eq true"),
        (False, "flag eq false"),
        (("fact_check", "authority_notice"), "flag eq [fact_check, authority_notice]"),
        ([True, 3], "flag eq [true, 3]"),
        ("plain", "flag eq plain"),
        (7, "flag eq 7"),
    ],
)
def test_a_condition_is_written_back_as_a_rule_file_writes_it(expected: object, text: str) -> None:
    """Booleans in YAML's spelling, lists in brackets, everything else as itself."""
    assert condition_text("flag", "eq", expected) == text


# --- the compiled form, pinned ----------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "compiled_pack.json"
MATCHING = _rule(
    "report-pattern",
    "on: impersonation_report\n"
    "when:\n  any:\n    - reporter_id: {matches: 'bot-[0-9]+'}\n"
    "    - not: {reporter_id: {matches: 'trusted-.*'}}\n"
    "    - impersonated_name: {not_in: [c1, c2]}\n"
    "    - not: {impersonated_name: {eq: m}}",
    priority=5,
)
NON_ASCII = _rule(
    "freeze-named",
    "on: impersonation_report\nwhen: {impersonated_name: {eq: 冻结}}",
    priority=7,
)


LISTED = (
    "id: listed\nversion: 1\ndescription: d\nbasis: b\npriority: 8\n"
    "on: impersonation_report\nwhen: {confirmed: true}\n"
    f"then: {{action: blacklist, reason: r, listed_for: 1095d}}\n{DSA}\n"
)


def compiled_form(ruleset: CompiledRuleset) -> str:
    """Everything the compiler builds that is data, as stable JSON (guards are closures: their
    behaviour is tested elsewhere; here their rules' reprs stand for them)."""
    form = {
        "digest": ruleset.digest,
        "name": ruleset.name,
        "definition": translate(ruleset),
        "rules": [repr(rule) for rule in ruleset.rules],
        "dsa": {rule.id: rule.dsa for rule in ruleset.rules},
        "text": {rule.id: hashlib.sha256(rule.text.encode()).hexdigest() for rule in ruleset.rules},
        "by_type": {name: [r.id for r in group] for name, group in ruleset.by_type.items()},
        "features": {
            name: [[key, field, pattern.source] for key, field, pattern in found]
            for name, found in ruleset.features.items()
        },
        "listeners": {name: [repr(x) for x in group] for name, group in ruleset.listeners.items()},
        "streams": {key: repr(stream) for key, stream in ruleset.streams.items()},
        "windows": {key: [repr(x) for x in group] for key, group in ruleset.windows.items()},
        "horizon_us": ruleset.horizon_us,
    }
    return json.dumps(form, indent=1, ensure_ascii=False) + "\n"


def test_the_compiled_pack_is_pinned_to_its_compiler_version(tmp_path: Path) -> None:
    """The default pack (with notices: its digest) and the default pack plus a pattern rule,
    a non-ASCII one and a blacklist for a time compile to exactly `golden/compiled_pack.json`.
    A pack is named by its digest, which covers the rules and COMPILER_VERSION but not the
    compiled form: any change here must bump COMPILER_VERSION, or one name would stand for
    two definitions.
    Run with UPDATE_GOLDEN=1 after such a change, then review the diff."""
    default = load_ruleset(default_rules_path())
    folder = default_pack_with(tmp_path / "pack", pattern=MATCHING, named=NON_ASCII, listed=LISTED)
    form = compiled_form(load_ruleset(folder)).replace(str(folder), "<pack>")
    default_form = {"digest": default.digest, "notices": default.notices is not None}
    report = json.dumps(default_form) + "\n" + form

    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(report, encoding="utf-8")
    assert report == GOLDEN.read_text(encoding="utf-8")


def test_a_rule_without_a_condition_guards_every_event_in() -> None:
    """No `when`: the guard lets every event of the rule's types through (True, not falsy)."""
    assert to_guard(None)({}) is True
    assert to_guard(None)({"type": "rumor_flag"}) is True


def test_a_list_operator_given_a_scalar_says_what_it_was_given() -> None:
    """`in` with a scalar never passes the checks; if it reached the compiler, the error
    names the field, the operator and the value."""
    with pytest.raises(EvaluationError) as info:
        to_durable(Compare("reporter_id", "in", "r1", ("when",)))
    assert str(info.value) == "`reporter_id in` compares with a list, not 'r1'"


def test_a_pack_without_windows_or_deadlines_looks_back_nowhere(tmp_path: Path) -> None:
    """No window and no deadline: the horizon (how far behind the clock events still count)
    is 0, not 1 µs."""
    folder = _pack(tmp_path, plain=_rule("plain", "on: rumor_flag\nwhen: {verdict: rumor}"))
    assert load_ruleset(folder).horizon_us == 0


def test_a_window_without_on_is_refused_by_the_compiler_too() -> None:
    """The checks refuse a window without `on` first; the compiler, given such a rule
    unchecked, refuses it itself with a located E-WINDOW, not a crash."""
    text = (
        "id: w\nversion: 1\ndescription: d\nbasis: b\n"
        "deadline: {after: {decision: [x]}, within: 2d}\nwindow: {count: 2, within: 1d}\n"
        f"then: {{action: freeze, reason: r}}\n{DSA}\n"
    )
    rule, errors = parse_rule_text(text, "w.yaml")
    assert errors == []
    assert rule is not None
    with pytest.raises(RuleLoadError) as info:
        compile_rules([rule])
    assert [str(e) for e in info.value.errors] == [
        "w.yaml:1: E-WINDOW: a window needs the rule's `on`"
    ]


def test_in_with_one_value_tests_the_whole_value() -> None:
    """A scalar given to `in` is one member, not its characters."""
    guard = to_guard(Compare("reporter_id", "in", "r1", ()))
    assert guard({"reporter_id": "r1"}) is True
    assert guard({"reporter_id": "r"}) is False


@pytest.mark.parametrize(
    ("op", "expected"),
    [("lt", (True, False, False)), ("lte", (True, True, False)), ("gt", (False, False, True))],
)
def test_order_comparisons_below_at_and_above(op: str, expected: tuple[bool, ...]) -> None:
    """`reach <op> 5` on 4, 5 and 6."""
    guard = to_guard(Compare("reach", op, 5, ()))
    assert tuple(guard({"reach": reach}) for reach in (4, 5, 6)) == expected
