"""Start-up cost: `import blacklist_rules` and the pytest plugin every pytest run loads import
neither the engine nor durable-rules' C extension until something needs them (issue 15)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import blacklist_rules
from blacklist_rules import cli, pytest_plugin
from blacklist_rules.cli import _common
from blacklist_rules.tools import cases

SRC = Path(blacklist_rules.__file__).resolve().parents[1]
HEAVY = ("durable", "durable_rules_engine", "blacklist_rules.engine", "blacklist_rules.tools.cases")
"""Modules a start-up must not load: durable-rules (its C extension is `durable_rules_engine`),
and the engine with the case runner that imports it."""


def _env() -> dict[str, str]:
    """This checkout's sources first; no other pytest plugin than the one named."""
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    return os.environ | {"PYTHONPATH": path, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def _loaded_after(statement: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after `statement`."""
    listing = f"json.dumps([m for m in {HEAVY!r} if m in sys.modules])"
    probe = f"{statement}\nimport json, sys\nprint({listing})"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=_env(), check=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_importing_the_package_loads_neither_the_engine_nor_durable() -> None:
    """`import blacklist_rules` (PEP 562 lazy names) loads no heavy module; using `Engine` does."""
    assert _loaded_after("import blacklist_rules") == []
    assert set(_loaded_after("from blacklist_rules import Engine")) >= {
        "durable",
        "blacklist_rules.engine",
    }


def test_importing_the_pytest_plugin_loads_neither_the_engine_nor_durable() -> None:
    """The plugin pytest loads at every start-up imports the case machinery only when used."""
    assert _loaded_after("import blacklist_rules.pytest_plugin") == []


def _pytest(project: Path) -> subprocess.CompletedProcess[str]:
    """A plain pytest run in `project` with our plugin, as a user's project would load it."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "blacklist_rules.pytest_plugin"]
    command += ["-p", "no:cacheprovider", str(project)]
    return subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=project)


PROBE = f"""
import sys


def test_nothing_heavy_is_loaded():
    assert [m for m in {HEAVY!r} if m in sys.modules] == []
"""


def test_a_pytest_run_without_case_files_never_loads_the_engine(tmp_path: Path) -> None:
    """A project's pytest run (start-up, collection of YAML files outside the case folders, the
    tests) with the plugin loaded never imports the engine nor durable-rules."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_probe.py").write_text(PROBE, encoding="utf-8")
    (tmp_path / "config.yaml").write_text("not: a case\n", encoding="utf-8")
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_case_file_is_still_collected_and_run(tmp_path: Path) -> None:
    """With a case file under `tests/cases/`, named by the ini option, the plugin imports what
    it needs and runs it."""
    (tmp_path / "tests" / "cases").mkdir(parents=True)
    ini = "[pytest]\nblacklist_rules_cases = tests/cases\n"
    (tmp_path / "pytest.ini").write_text(ini, encoding="utf-8")
    case = """
        - name: a confirmed impersonation is blacklisted
          events:
            - {event_id: p1, type: impersonation_report, account_id: a,
               occurred_at: "2026-05-01T09:00:00+08:00", reporter_id: r1, confirmed: true}
          expect: [{account_id: a, action: blacklist}]
          final_status: {a: blacklisted}
    """
    path = tmp_path / "tests" / "cases" / "one.yaml"
    path.write_text(textwrap.dedent(case), encoding="utf-8")
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_lazy_names_are_the_public_names() -> None:
    """Every name of `__all__` but `__version__` is imported lazily, from a module that has it,
    and `dir()` lists them all."""
    exports = blacklist_rules._EXPORTS
    assert set(exports) == set(blacklist_rules.__all__) - {"__version__"}
    for name, module in exports.items():
        origin = importlib.import_module(f"blacklist_rules.{module}")
        assert getattr(blacklist_rules, name) is getattr(origin, name), name
    assert set(blacklist_rules.__all__) <= set(dir(blacklist_rules))


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not export raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="has no attribute 'Engin'"):
        getattr(blacklist_rules, "Engin")  # noqa: B009 (the name mypy would refuse)


def test_the_plugin_and_the_case_runner_agree_on_case_file_suffixes() -> None:
    """The plugin's copy of the case files' suffixes (kept so start-up imports nothing) is the
    case runner's."""
    assert pytest_plugin.CASE_SUFFIXES == cases.CASE_SUFFIXES


CLI_HEAVY = (*HEAVY, "psycopg", "blacklist_rules.stores", "tqdm", "phonenumbers", "pydantic")
"""What `blacklist-rules --help` must not load (issue 19: it loaded 524 modules)."""


def _loaded_by_cli(argv: list[str], heavy: tuple[str, ...] = CLI_HEAVY) -> list[str]:
    """The modules of `heavy` a fresh interpreter has loaded after `main(argv)` (its output
    dropped; `--help` exits)."""
    probe = f"""
import contextlib, io, json, sys
from blacklist_rules.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=_env(), check=True
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_the_cli_help_loads_no_verb_module_nor_anything_heavy() -> None:
    """`blacklist-rules --help` imports no verb's module: not the engine, durable-rules,
    psycopg, the stores, pydantic, phonenumbers nor tqdm (issue 19)."""
    verbs = tuple(f"blacklist_rules.cli.{verb.module}" for verb in cli.VERBS)
    assert _loaded_by_cli(["--help"], (*CLI_HEAVY, *verbs)) == []


@pytest.mark.parametrize("verb", ["validate", "schema", "init"])
def test_a_verbs_help_loads_neither_the_engine_nor_durable(verb: str) -> None:
    """These verbs' `--help` builds their own parser only: no engine, durable-rules nor
    psycopg (running `validate` does import the engine: `load_ruleset` checks the pack
    against durable-rules)."""
    loaded = _loaded_by_cli([verb, "--help"], ("durable", "psycopg", "blacklist_rules.engine"))
    assert loaded == []


def test_the_lazy_parser_lists_what_the_eager_one_does() -> None:
    """The verbs' table gives each verb its module's own help text, in `--help`'s order, and
    the constants the CLI keeps apart from their modules equal theirs."""
    from blacklist_rules.model.identity import KEY_ENV
    from blacklist_rules.stores.sqlite.connection import BUSY_TIMEOUT

    eager = cli.build_parser()
    lazy = cli.build_parser(eager=False)

    def listed(parser: Any) -> list[tuple[str, str | None]]:
        verbs = next(a for a in parser._actions if type(a).__name__ == "_SubParsersAction")
        return [(a.dest, a.help) for a in verbs._choices_actions]

    assert listed(lazy) == listed(eager)
    assert lazy.format_help() == eager.format_help()
    assert (cli.BUSY_TIMEOUT, _common.KEY_ENV) == (BUSY_TIMEOUT, KEY_ENV)


def test_a_lazily_built_verb_parses_as_the_eager_one() -> None:
    """A verb chosen through the lazy parser gets the arguments, defaults and log options
    its module's parser gives."""
    argv = ["--busy-timeout", "2", "run", "events.jsonl", "--db", "x.db", "--log-level", "info"]
    eager = vars(cli.build_parser().parse_args(argv))
    lazy = vars(cli.build_parser(eager=False).parse_args(argv))
    assert lazy == eager
    assert lazy["log_level"] == "INFO"
