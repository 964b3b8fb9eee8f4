"""The public surface: `__all__` is sorted, complete and importable."""

from __future__ import annotations

import blacklist_rules


def test_all_is_sorted_and_every_name_exists() -> None:
    """Every name in `__all__` exists, and the list is sorted."""
    assert blacklist_rules.__all__ == sorted(blacklist_rules.__all__)
    for name in blacklist_rules.__all__:
        assert hasattr(blacklist_rules, name), name


def test_the_design_contract_names_are_exported() -> None:
    """The minimum API of the design: Engine, outcomes, decisions, statuses, errors."""
    for name in (
        "Engine",
        "Outcome",
        "Decision",
        "Action",
        "Status",
        "BlacklistRulesError",
        "RuleLoadError",
        "EventError",
        "EvaluationError",
    ):
        assert name in blacklist_rules.__all__
