"""`lint`: what a loaded pack says that `validate` accepts but a reviewer must see: changed
rules that kept their version, rules that can never decide, notice placeholders and reason
numbers that no longer fit. Pure over the loaded specs; each finding is a `RuleFileError`
(file, line, code, message, hint), its severity told by its code (`E-…` errors, `W-…`
warnings). What each check proves is in its module's docstring (`versions`, `shadows`,
`wording`); docs/lint.md is the user's page."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from blacklist_rules.errors import RuleFileError
from blacklist_rules.pack.loader import RuleSource
from blacklist_rules.pack.notice_templates import NoticePack

from .shadows import never_above_findings, shadow_findings
from .versions import PriorRule, RuleText, read_prior, recorded_rule, version_findings
from .wording import reason_findings, rule_notice_findings, template_findings

__all__ = [
    "PriorRule",
    "RuleText",
    "Severity",
    "lint_rules",
    "read_prior",
    "recorded_rule",
    "severity",
]

Severity = Literal["error", "warning"]


def severity(code: str) -> Severity:
    """`error` for `E-…` codes (validate's, and a changed rule that kept its version),
    `warning` for `W-…` ones."""
    return "warning" if code.startswith("W-") else "error"


def lint_rules(
    rules: list[RuleSource],
    notices: NoticePack | None,
    folder: Path,
    prior: Iterable[PriorRule] = (),
) -> list[RuleFileError]:
    """Every lint finding of a pack's rules (and its templates under `folder/notices/`),
    against earlier texts of its rules when `prior` gives some; sorted by file and line."""
    findings = version_findings(rules, prior)
    findings += shadow_findings(rules)
    findings += never_above_findings(rules)
    findings += template_findings(notices, folder / "notices")
    findings += rule_notice_findings(rules)
    findings += reason_findings(rules)
    return sorted(findings)
