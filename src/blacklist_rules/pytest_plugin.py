"""Rule test cases as pytest tests: each case in a case file is one test item.

Opt-in: a project turns it on by naming its case folders in the ini option
`blacklist_rules_cases` (e.g. `blacklist_rules_cases = tests/cases`); the YAML files under them
are run against the packaged rule pack, or the folder named by `blacklist_rules_rules`. Without
that option the plugin collects nothing, so a project that installs the package for its API and
has YAML files of its own under `tests/cases/` is left alone (issue 17). An ini option rather
than `-p`: it says where the cases are in the one place the project already configures pytest,
and it needs no other step.

The module stays registered under the entry point `pytest11` (named as the module, so that
`-p blacklist_rules.pytest_plugin` beside autoloading is the same plugin) so that the ini option
is known (pytest's `--strict-config` refuses unknown ones); it is then loaded by every pytest
run of a project that has the package installed, so it imports nothing of the engine (nor
durable-rules' C extension) until a case file is collected: the case machinery is imported
inside the hooks that need it. With plugin autoloading off, `-p blacklist_rules.pytest_plugin`
loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import CaseLoadError, RuleFileError

if TYPE_CHECKING:
    from .pack.compiler import CompiledRuleset
    from .tools.cases import Case, CaseResult

CASE_SUFFIXES = (".yaml", ".yml")
"""`cases.CASE_SUFFIXES`, spelled here so that pytest's start-up does not import `cases` (and
the engine with it) to look at every file's name; a test keeps the two equal."""
_RULESET = pytest.StashKey["CompiledRuleset"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "blacklist_rules_cases",
        "folders of blacklist-rules test cases to collect, e.g. tests/cases "
        "(default: none, the plugin collects nothing)",
        type="paths",
        default=[],
    )
    parser.addini(
        "blacklist_rules_rules",
        "the rule folder the cases test (default: the packaged pack)",
        default="",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in CASE_SUFFIXES:
        return None
    # No folder named (the default): the project has not opted in, nothing is collected.
    folders = [Path(p).resolve() for p in parent.config.getini("blacklist_rules_cases")]
    if not any(folder in file_path.resolve().parents for folder in folders):
        return None
    return CaseFile.from_parent(parent, path=file_path)


def _ruleset(config: pytest.Config) -> CompiledRuleset:
    if _RULESET not in config.stash:
        from .engine import load_ruleset

        rules = str(config.getini("blacklist_rules_rules"))
        config.stash[_RULESET] = load_ruleset(config.rootpath / rules if rules else None)
    return config.stash[_RULESET]


class CaseFile(pytest.File):
    """A YAML file of cases."""

    def collect(self) -> Iterator[CaseItem]:
        from .tools.cases import parse_cases

        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problem = RuleFileError(str(self.path), 0, "E-READ", f"cannot read: {exc}")
            raise CaseLoadError([problem]) from None
        cases, errors = parse_cases(text, str(self.path))
        if errors:
            raise CaseLoadError(errors)
        for case in cases:
            yield CaseItem.from_parent(self, name=case.name, case=case)


class CaseFailedError(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.case.name)
        self.result = result


class CaseItem(pytest.Item):
    """One case: passes when the decisions and statuses are those it expects."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        from .tools.cases import run_case

        result = run_case(_ruleset(self.config), self.case)
        if not result.passed:
            raise CaseFailedError(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, CaseFailedError):
            return excinfo.value.result.describe()
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"case: {self.case.name}"
