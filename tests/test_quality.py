"""The project's own checks run with its tests: ruff, the formatter, mypy strict, the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
    ],
    ids=["ruff", "ruff-format", "mypy-strict"],
)
def test_tooling_is_clean(command: list[str]) -> None:
    """ruff (lint and format) and mypy --strict (config in pyproject.toml) find nothing."""
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wheel_ships_the_default_rule_pack(tmp_path: Path) -> None:
    """A plain `pip install .` must carry `rules/`: the wheel holds every rule file and schema."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("blacklist_rules-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "blacklist_rules/rules/" + str(path.relative_to(ROOT / "rules"))
        for path in (ROOT / "rules").rglob("*")
        if path.is_file()
    }
    assert expected
    assert expected <= names
    assert "blacklist_rules/py.typed" in names
