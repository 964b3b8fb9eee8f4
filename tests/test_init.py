"""`blacklist-rules init DIR` (issue 17): a copy of the default pack, its cases and a README,
from which `validate` and `test` work anywhere; the cases ship in the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from blacklist_rules import (
    BlacklistRulesError,
    default_cases_path,
    default_rules_path,
    load_cases,
    write_starter,
)
from blacklist_rules.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout by its build backend (hatchling), as pip would."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_init_copies_the_pack_its_cases_and_a_readme(tmp_path: Path) -> None:
    """Every file of the pack (rules, notices, schema, README) and every case file, and a
    README; the counts printed are what was written."""
    target = tmp_path / "pack"
    starter = write_starter(target)
    assert _files(starter.rules) == _files(default_rules_path())
    assert _files(starter.cases) == _files(default_cases_path())
    assert "blacklist-rules test rules cases" in starter.readme.read_text(encoding="utf-8")
    assert starter.files == len(_files(target))


def test_the_cases_in_a_source_checkout_are_the_repositorys() -> None:
    """Run from the checkout, the packaged cases are `tests/cases/` itself (no stale copy)."""
    assert default_cases_path() == ROOT / "tests" / "cases"


def test_a_folder_that_holds_anything_is_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is written into a non-empty folder (exit 2); `--force` overwrites the files of
    the pack and keeps the others."""
    target = tmp_path / "pack"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["init", str(target)]) == 2
    assert "is not empty: nothing written" in capsys.readouterr().err
    assert _files(target) == {"notes.txt"}

    assert main(["init", str(target), "--force"]) == 0
    assert f"next: blacklist-rules test {target / 'rules'} {target / 'cases'}" in (
        capsys.readouterr().out
    )
    assert (target / "notes.txt").read_text(encoding="utf-8") == "mine"
    changed = target / "README.md"
    changed.write_text("edited", encoding="utf-8")
    assert main(["init", str(target), "--force"]) == 0
    assert changed.read_text(encoding="utf-8") != "edited"


def test_a_file_is_no_folder_to_write_into(tmp_path: Path) -> None:
    """`init` on an existing file is refused even with `force`."""
    target = tmp_path / "file"
    target.write_text("", encoding="utf-8")
    with pytest.raises(BlacklistRulesError, match="is not a folder"):
        write_starter(target, force=True)


def test_the_wheel_carries_the_pack_and_its_cases(wheel: Path) -> None:
    """The wheel holds every case file beside the pack (`default_cases`), and every file of
    the pack."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for case in _files(ROOT / "tests" / "cases"):
        assert f"blacklist_rules/default_cases/{case}" in names
    for rule in _files(ROOT / "rules"):
        assert f"blacklist_rules/rules/{rule}" in names


def test_init_then_test_passes_from_a_folder_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    """From the installed wheel (unpacked, first on the path), in a folder far from the
    checkout: `init DIR`, then `validate` and `test` of DIR pass, run from elsewhere and from
    DIR itself as its README says."""
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    env = {**os.environ, "PYTHONPATH": str(installed)}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def cli(*args: str, cwd: Path = work) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "blacklist_rules", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    done = cli("init", "mypack")
    assert done.returncode == 0, done.stderr
    pack = work / "mypack"
    cases = len(load_cases([pack / "cases"]))
    outside = cli("test", str(pack / "rules"), str(pack / "cases"), cwd=tmp_path)
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert f"{cases} cases: {cases} passed, 0 failed" in outside.stdout
    assert "coverage 100.0%" in outside.stdout
    inside = cli("test", "rules", "cases", "--min-coverage", "100", cwd=pack)
    assert inside.returncode == 0, inside.stdout + inside.stderr
    validated = cli("validate", "rules", cwd=pack)
    assert validated.returncode == 0, validated.stderr
    assert "rules: 13 rules OK" in validated.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import blacklist_rules; print(blacklist_rules.__file__)"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(installed))  # the wheel's code ran, not the checkout's


def test_test_without_cases_here_points_to_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`test` with no case named, in a folder without `tests/cases/`, is a usage error that
    says how to get cases (exit 2), not a read error of a folder the user never named."""
    monkeypatch.chdir(tmp_path)
    assert main(["test"]) == 2
    assert "blacklist-rules init DIR" in capsys.readouterr().err
