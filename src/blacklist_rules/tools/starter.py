"""A team's own pack to start from: a copy of the default rule pack, its test cases and a short
README, written into one folder (`blacklist-rules init DIR`), so that `validate`, `test` and
`diff` work outside this repository.

The cases ship in the wheel beside the pack (`blacklist_rules/default_cases`, a copy of the
repository's `tests/cases/`, as `blacklist_rules/rules` is of `rules/`); in a source checkout
both are read where they are.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import attrs

from blacklist_rules.engine import default_rules_path
from blacklist_rules.errors import BlacklistRulesError

RULES = "rules"
CASES = "cases"
README = "README.md"

_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
"""Never copied: byte code, and hidden files an editor or a checkout leaves."""

STARTER_README = """\
# Rule pack

A copy of the blacklist-rules default rule pack and its test cases, to change and test as your
own.

- `rules/`: one rule per YAML file, and `rules/notices/`, the texts users are shown about a
  decision; `rules/README.md` describes the rule language.
- `cases/`: the test cases, events in and the expected decisions and statuses out.

From this folder:

```sh
blacklist-rules validate rules        # check the rule files, list what they do
blacklist-rules test rules cases      # run the cases: failures by name, then rule coverage
blacklist-rules diff --baseline OLD_RULES --candidate rules EVENTS.jsonl   # what a change does
blacklist-rules run EVENTS.jsonl --rules rules --db blacklist-rules.db
```

Bump a rule's `version` whenever its text changes: every decision records the rule's id and
version. To run the cases under pytest as well, name the folders in the pytest configuration:
`blacklist_rules_cases = ["cases"]` and `blacklist_rules_rules = "rules"`.
"""


@attrs.frozen
class Starter:
    """What `write_starter` wrote: the folder, its parts, and how many files."""

    folder: Path
    rules: Path
    cases: Path
    readme: Path
    files: int


def default_cases_path() -> Path:
    """The default pack's test cases: the packaged copy, or the repository's `tests/cases/` in
    a source checkout."""
    packaged = resources.files("blacklist_rules") / "default_cases"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "tests" / "cases"


def write_starter(folder: Path, *, force: bool = False) -> Starter:
    """Copy the default pack, its cases and a README into `folder` (made if missing). A folder
    that holds anything is refused unless `force`: then files of the same name are overwritten
    and the others are kept (an extra rule file stays in the pack)."""
    if folder.exists() and not folder.is_dir():
        raise BlacklistRulesError(f"{folder} is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise BlacklistRulesError(
            f"{folder} is not empty: nothing written (--force writes into it, overwriting "
            "files of the same name)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    starter = Starter(folder, folder / RULES, folder / CASES, folder / README, 0)
    copied = _copy(default_rules_path(), starter.rules) + _copy(default_cases_path(), starter.cases)
    starter.readme.write_text(STARTER_README, encoding="utf-8")
    return attrs.evolve(starter, files=copied + 1)


def _copy(source: Path, target: Path) -> int:
    """Copy a folder's tree; the number of files copied."""
    if not source.is_dir():
        raise BlacklistRulesError(f"the package is incomplete: no folder {source}")
    copied: list[str] = []
    shutil.copytree(
        source,
        target,
        ignore=_SKIPPED,
        dirs_exist_ok=True,
        copy_function=lambda src, dst: copied.append(shutil.copy2(src, dst)),
    )
    return len(copied)
