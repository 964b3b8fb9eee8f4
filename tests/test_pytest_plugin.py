"""The pytest plugin is opt-in (issue 17): installed, it collects nothing until a project names
its case folders in the ini option `blacklist_rules_cases`."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from blacklist_rules import load_cases

ROOT = Path(__file__).resolve().parents[1]

UNRELATED = """
database: {host: localhost, port: 5432}
features: [search, export]
"""
"""A project's own YAML under `tests/cases/` that is no case file (unknown keys)."""

PROBE = """
def test_the_projects_own_test():
    assert True
"""


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest run in `project` as a user's would be: plugins auto-loaded from what is
    installed, this checkout's sources first."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _project(tmp_path: Path) -> Path:
    """A project with a test of its own and an unrelated `tests/cases/config.yaml`."""
    (tmp_path / "tests" / "cases").mkdir(parents=True)
    (tmp_path / "tests" / "test_own.py").write_text(PROBE, encoding="utf-8")
    (tmp_path / "tests" / "cases" / "config.yaml").write_text(UNRELATED, encoding="utf-8")
    return tmp_path


def test_a_project_with_its_own_tests_cases_yaml_runs_cleanly(tmp_path: Path) -> None:
    """Without the ini option, the plugin leaves a project's YAML files alone: its own test
    runs, nothing else is collected, no `CaseLoadError`."""
    done = _pytest(_project(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "CaseLoadError" not in done.stdout + done.stderr


def test_naming_the_case_folder_in_the_ini_file_turns_collection_on(tmp_path: Path) -> None:
    """With `blacklist_rules_cases = tests/cases`, the same YAML file is read as case file (and
    refused, as it is none): the option is the switch."""
    project = _project(tmp_path)
    ini = "[pytest]\nblacklist_rules_cases = tests/cases\n"
    (project / "pytest.ini").write_text(ini, encoding="utf-8")
    done = _pytest(project)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "CaseLoadError" in done.stdout
    assert "config.yaml" in done.stdout


def test_this_repositorys_config_collects_every_case_of_the_default_pack() -> None:
    """The repository opts in (pyproject's `blacklist_rules_cases`): one test per case of
    `tests/cases/`."""
    done = _pytest(ROOT, "--collect-only", "tests/cases")
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if line.startswith("tests/cases/")]
    cases = load_cases([ROOT / "tests" / "cases"])
    assert len(collected) == len(cases) > 0


def test_the_ini_option_says_the_plugin_is_off_by_default() -> None:
    """`pytest --help` describes the option and its default, so the switch is discoverable."""
    done = _pytest(ROOT, "--help")
    text = " ".join(done.stdout.split())
    assert "blacklist_rules_cases" in text
    assert "default: none, the plugin collects nothing" in text


def test_the_entry_point_is_named_as_its_module() -> None:
    """pyproject's pytest11 entry point has its module's name: `-p blacklist_rules.pytest_plugin`
    with autoloading on then finds the entry point rather than registering the module a second
    time under another name, which pytest refuses ("Plugin already registered under a
    different name") and which stops the run before any test."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    entry_points = project["entry-points"]["pytest11"]
    assert entry_points == {"blacklist_rules.pytest_plugin": "blacklist_rules.pytest_plugin"}
