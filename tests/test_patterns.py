"""`matches` patterns are RE2: linear-time on hostile text, refused at load where RE2 has no
counterpart (backreferences, lookaround), and the same as Python's `re` over the syntax both read.

The classic `(a+)+b` was refused by the old syntactic guard (a repeated group that repeats);
the six other pathological patterns below passed it and then took 30-60 s each on a
28-character field under Python's backtracking `re`.
No timing threshold is asserted: a hang would time the suite out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings

from blacklist_rules import Engine, RuleLoadError, SQLiteStore, load_ruleset
from blacklist_rules.matching.durable import DurableMatcher
from blacklist_rules.model.patterns import compile_pattern
from blacklist_rules.pack.compiler import CompiledRuleset

from .strategies import regex_patterns, regex_texts

DSA = {
    "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "ground": "incompatible",
    "reference": "Test.",
}
"""The `dsa` block every rule file needs."""

# (pattern, a 28-character field that makes Python's `re` backtrack for tens of seconds)
PATHOLOGICAL = [
    pytest.param(r"(a+)+b", "a" * 28, id="classic"),
    pytest.param(r"((a)+)+b", "a" * 28, id="nested-group"),
    pytest.param(r"((a+))+b", "a" * 28, id="doubled-group"),
    pytest.param(r"(a|a)+b", "a" * 28, id="same-alternatives"),
    pytest.param(r"(a|aa)+b", "a" * 28, id="overlapping-alternatives"),
    pytest.param(r"(.|\s)+b", " " * 28, id="overlapping-classes"),
    pytest.param(r".*.*.*.*.*.*b", "a" * 28, id="six-stars"),
]


def pack(tmp_path: Path, pattern: str) -> Path:
    """A pack of one rule: freeze when `impersonated_name` matches `pattern`."""
    folder = tmp_path / "rules"
    folder.mkdir()
    rule = {
        "id": "hostile",
        "version": 1,
        "description": "A pattern under test.",
        "basis": "Test.",
        "dsa": DSA,
        "on": "impersonation_report",
        "when": {"impersonated_name": {"matches": pattern}},
        "then": {"action": "freeze", "reason": "Matched."},
    }
    (folder / "r.yaml").write_text(json.dumps(rule, indent=1), encoding="utf-8")
    return folder


def fired(ruleset: CompiledRuleset, name: str) -> tuple[bool, bool]:
    """Whether the rule fires on a report naming `name`: by the guard, and by durable-rules."""
    snapshot: dict[str, Any] = {"type": "impersonation_report", "impersonated_name": name}
    guarded = ruleset.rules[0].guard(snapshot)
    matcher = DurableMatcher.for_plan(ruleset)
    durable = matcher.match(ruleset.snapshot(dict(snapshot), "impersonation_report"))
    return guarded, durable == ["hostile"]


@pytest.mark.parametrize(("pattern", "hostile"), PATHOLOGICAL)
def test_a_pathological_pattern_loads_and_matches_hostile_text(
    tmp_path: Path, pattern: str, hostile: str
) -> None:
    """Each pattern that backtracked for tens of seconds loads, and both the guard and the
    snapshot feature durable-rules reads answer at once: no on the hostile field, yes once a
    `b` ends it, and no on 2,000 characters of it."""
    ruleset = load_ruleset(pack(tmp_path, pattern))

    assert fired(ruleset, hostile) == (False, False)
    assert fired(ruleset, hostile + "b") == (True, True)
    assert fired(ruleset, hostile * 72) == (False, False)


@pytest.mark.parametrize(("pattern", "hostile"), PATHOLOGICAL)
def test_the_engine_decides_on_a_hostile_field(tmp_path: Path, pattern: str, hostile: str) -> None:
    """End to end: a report whose name is the hostile field is processed, and decided no."""
    ruleset = load_ruleset(pack(tmp_path, pattern))
    report = {
        "event_id": "e1",
        "type": "impersonation_report",
        "account_id": "acct",
        "occurred_at": "2026-01-01T00:00:00Z",
        "reporter_id": "r1",
        "confirmed": True,
        "impersonated_name": hostile,
    }
    with Engine(ruleset, SQLiteStore(), max_lead=None) as engine:
        outcome = engine.process(report)
        later = engine.process({**report, "event_id": "e2", "impersonated_name": hostile + "b"})

    assert outcome.decisions == ()
    assert [d.rule_id for d in later.decisions] == ["hostile"]


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        pytest.param(r"(a)\1", "backreferences are not RE2 syntax", id="backreference"),
        pytest.param(r"(?P<x>a)(?P=x)", "backreferences are not RE2 syntax", id="named-backref"),
        pytest.param(r"a(?=b)b", "lookaround is not RE2 syntax", id="lookahead"),
        pytest.param(r"a(?!c)b", "lookaround is not RE2 syntax", id="negative-lookahead"),
        pytest.param(r"(?<=a)b", "lookaround is not RE2 syntax", id="lookbehind"),
        pytest.param(r"(?<!a)b", "lookaround is not RE2 syntax", id="negative-lookbehind"),
        pytest.param(r"ab\Z", "RE2 writes the end of text `\\z`", id="python-end-of-text"),
    ],
)
def test_python_only_syntax_is_refused_at_load_with_its_location(
    tmp_path: Path, pattern: str, hint: str
) -> None:
    """Backreferences and lookaround have no linear-time match: RE2 refuses them, and the
    loader reports `file:line: E-REGEX: message (hint)` at the pattern's line."""
    folder = pack(tmp_path, pattern)
    lines = (folder / "r.yaml").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if '"matches"' in text)

    with pytest.raises(RuleLoadError) as info:
        load_ruleset(folder)

    (error,) = info.value.errors
    assert (error.line, error.code) == (line, "E-REGEX")
    assert str(error).startswith(f"{folder / 'r.yaml'}:{line}: E-REGEX: invalid pattern ")
    assert f" ({hint}" in str(error)
    assert str(error).endswith(")")


@settings(max_examples=300, deadline=None)
@given(regex_patterns, regex_texts)
def test_re2_agrees_with_python_re_on_the_syntax_both_read(pattern: str, text: str) -> None:
    """Over classes, escapes, anchors, greedy and lazy repeats, groups, alternation and flags,
    on ASCII text with newlines, RE2's full match is Python's: moving a pack to RE2 changes
    no decision. (`$` before a final newline is the one difference: see the next test.)"""
    assume(not (text.endswith("\n") and "$" in pattern))

    assert compile_pattern(pattern).fullmatch(text) == (re.fullmatch(pattern, text) is not None)


@pytest.mark.parametrize(
    ("pattern", "text", "python"),
    [
        pytest.param("a$\n", "a\n", True, id="dollar-before-final-newline"),
        pytest.param("\\d", "\u0663", True, id="unicode-digit"),
        pytest.param("\\w", "\u00e9", True, id="unicode-word"),
        pytest.param("\\B", "", False, id="non-boundary-on-empty-text"),
    ],
)
def test_where_re2_differs_from_python_as_the_readme_says(
    pattern: str, text: str, python: bool
) -> None:
    """The differences the README lists: `$` is the end of text only (without `(?m)`), and
    `\\d`, `\\w` are ASCII; `\\B` holds on empty text."""
    assert (re.fullmatch(pattern, text) is not None) is python
    assert compile_pattern(pattern).fullmatch(text) is not python


def test_lone_surrogates_in_a_field_are_matched_not_raised() -> None:
    """An event field may carry a lone surrogate (a JSON escape); matching it neither raises
    nor matches a plain letter."""
    assert compile_pattern("x.y").fullmatch("x\ud800y")
    assert not compile_pattern("xay").fullmatch("x\ud800y")
