"""The matching seam: durable-rules imported and its dialect written in one module only, and
every matcher keeps the `Matcher` contract (DESIGN §4-§5)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blacklist_rules import EvaluationError, load_ruleset
from blacklist_rules.matching import durable
from blacklist_rules.matching.protocol import Matcher
from blacklist_rules.pack.compiler import CompiledRuleset

from .support import write_rule

SRC = Path(__file__).resolve().parents[1] / "src" / "blacklist_rules"
SEAM = SRC / "matching" / "durable.py"
DIALECT = frozenset(
    {"$and", "$or", "$ex", "$nex", "$neq", "$lt", "$lte", "$gt", "$gte", "$mt", durable.CATCH_ALL}
)
"""Operator names of durable-rules' dialect, and our catch-all's name."""
FROZEN = frozenset({"_KEY_SPELLING", "_key_term", "stream_key_form"})
"""pack/compiler.py's stream-key form: the dialect's text frozen as a hash input (history rows are
stored under stream keys), never given to a matcher."""


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        if path != SEAM:
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_only_the_durable_matcher_imports_durable_rules() -> None:
    """No module of src/ but matching/durable.py imports `durable` (or a submodule of it)."""
    importers = [
        str(path.relative_to(SRC))
        for path, tree in _modules()
        if any(name == "durable" or name.startswith("durable.") for name in _imported(tree))
    ]
    assert importers == []


def _dialect_in(path: Path, tree: ast.Module) -> set[str]:
    body = tree.body
    if path == SRC / "pack/compiler.py":
        body = [node for node in body if getattr(node, "name", None) not in FROZEN]
        body = [node for node in body if not _assigns(node, FROZEN)]
    found = set()
    for node in body:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Constant) and inner.value in DIALECT:
                found.add(str(inner.value))
    return found


def _assigns(node: ast.stmt, names: frozenset[str]) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else []
    return any(isinstance(target, ast.Name) and target.id in names for target in targets)


def test_the_dialect_is_written_in_the_durable_matcher_only() -> None:
    """No string of durable-rules' dialect (`$gt`, `$ex`, the catch-all, ...) appears in src/
    outside matching/durable.py, but for the frozen stream-key form."""
    found = {str(path.relative_to(SRC)): _dialect_in(path, tree) for path, tree in _modules()}
    assert {path: tokens for path, tokens in found.items() if tokens} == {}


# --- the Matcher contract, for every implementation --------------------------------------------
DSA = "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}"
MATCHERS: list[Callable[[CompiledRuleset], Matcher]] = [durable.DurableMatcher.for_plan]


def _pack(tmp_path: Path) -> CompiledRuleset:
    """Three rules that all hold for a confirmed report; ids sort against their priorities."""
    for rule_id, priority in (("zeta", 1), ("beta", 2), ("alpha", 2), ("omega", 3)):
        write_rule(
            tmp_path / "pack",
            rule_id,
            f"id: {rule_id}\nversion: 1\ndescription: d\nbasis: b\npriority: {priority}\n"
            "on: impersonation_report\n"
            f"when: {{confirmed: {'false' if rule_id == 'omega' else 'true'}}}\n"
            f"then: {{action: freeze, reason: r, duration: 1d}}\n{DSA}\n",
        )
    return load_ruleset(tmp_path / "pack")


CONFIRMED = {"type": "impersonation_report", "confirmed": True}


@pytest.mark.parametrize("build", MATCHERS)
def test_a_matcher_answers_in_priority_order(
    tmp_path: Path, build: Callable[[CompiledRuleset], Matcher]
) -> None:
    """Every test that holds, each once, in the plan's order: priority, then id."""
    plan = _pack(tmp_path)
    assert [test.name for test in plan.matchables] == ["zeta", "alpha", "beta", "omega"]
    assert build(plan).match(CONFIRMED) == ["zeta", "alpha", "beta"]
    assert build(plan).match({**CONFIRMED, "confirmed": False}) == ["omega"]


@pytest.mark.parametrize("build", MATCHERS)
def test_no_match_is_an_empty_list(
    tmp_path: Path, build: Callable[[CompiledRuleset], Matcher]
) -> None:
    """A snapshot no test holds for (another type, or no field at all) gives [], not an error."""
    matcher = build(_pack(tmp_path))
    assert matcher.match({"type": "rumor_flag", "confirmed": True}) == []
    assert matcher.match({"type": "impersonation_report"}) == []


@pytest.mark.parametrize("build", MATCHERS)
def test_a_crash_is_an_evaluation_error_never_a_silent_allow(
    tmp_path: Path, build: Callable[[CompiledRuleset], Matcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evaluator failing underneath raises `EvaluationError`; it never answers []."""
    matcher = build(_pack(tmp_path))

    def crash(*_args: object) -> None:
        raise RuntimeError("evaluator crashed")

    monkeypatch.setattr(durable._get_host(), "assert_fact", crash)
    with pytest.raises(EvaluationError, match="evaluator crashed"):
        matcher.match(CONFIRMED)


@pytest.mark.parametrize("build", MATCHERS)
def test_a_closed_matcher_refuses_to_answer(
    tmp_path: Path, build: Callable[[CompiledRuleset], Matcher]
) -> None:
    """After `close` (twice is harmless) `match` raises; another matcher of the plan still
    answers."""
    plan = _pack(tmp_path)
    closed, other = build(plan), build(plan)
    closed.close()
    closed.close()
    with pytest.raises(EvaluationError, match="closed"):
        closed.match(CONFIRMED)
    assert other.match(CONFIRMED) == ["zeta", "alpha", "beta"]
