"""The architecture as a test (DESIGN §4, ARCHITECTURE.md): size limits and the import direction
between layers, each with an explicit list of today's exceptions that may only shrink."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import blacklist_rules

PACKAGE = Path(blacklist_rules.__file__).resolve().parent
ROOT = PACKAGE.parents[1]

MODULE_LINES, CLASS_LINES, FUNCTION_LINES = 600, 400, 60
"""The limits: lines of a module, of a class, of a function (its `def` line to its last line)."""

OVERSIZED: dict[str, int] = {}
"""Items over a limit, by `path` (a module) or `path::qualified.name`, with their size in lines."""

# The layers, lowest first. A module may import from its own layer and those below it. Modules
# are placed by their top-level name under `blacklist_rules/`, so a subpackage (`cli/`,
# `matching/`, `stores/`) sits in one layer with everything in it.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("errors", frozenset({"errors"})),
    ("model", frozenset({"model"})),
    ("pack", frozenset({"pack"})),
    ("matching", frozenset({"matching"})),
    ("store", frozenset({"stores"})),
    ("engine", frozenset({"engine", "windows"})),
    ("tools", frozenset({"delivery", "reports", "testing", "tools"})),
    ("entry points", frozenset({"__main__", "cli", "pytest_plugin"})),
)
FACADE = "__init__"
"""The package's public surface names every layer's public names (lazily): it is no layer."""

UPWARD: dict[tuple[str, str], str] = {}
"""Imports against the layer order allowed today, by (importing, imported) top-level name."""


@attrs.frozen
class Sized:
    """A module, class or function of src/ and its length in lines."""

    key: str
    lines: int
    limit: int


@attrs.frozen
class Import:
    """One import inside the package: who imports, what (top-level names), and where."""

    importer: str
    imported: str
    where: str


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _measure() -> Iterator[Sized]:
    for path, tree in _sources():
        name = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        yield Sized(name, lines, MODULE_LINES)
        yield from _definitions(tree, f"{name}::")


def _definitions(node: ast.AST, prefix: str) -> Iterator[Sized]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            limit = CLASS_LINES if isinstance(child, ast.ClassDef) else FUNCTION_LINES
            assert child.end_lineno is not None
            yield Sized(f"{prefix}{child.name}", child.end_lineno - child.lineno + 1, limit)
            yield from _definitions(child, f"{prefix}{child.name}.")
        else:
            yield from _definitions(child, prefix)


def _top(path: Path) -> str:
    """The top-level name under the package of a source file: `engine`, `cli` for `cli/x.py`."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _targets(node: ast.ImportFrom | ast.Import, path: Path) -> Iterator[str]:
    """The top-level names under the package an import statement reaches."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            if parts[0] == PACKAGE.name and len(parts) > 1:
                yield parts[1]
        return
    if node.level:
        package = path.parent.relative_to(PACKAGE.parent).parts
        base = ".".join(package[: len(package) - node.level + 1])
    else:
        base = ""
    full = ".".join(p for p in (base, node.module or "") if p).split(".")
    if full[0] != PACKAGE.name:
        return
    if len(full) > 1:
        yield full[1]
        return
    for alias in node.names:  # `from blacklist_rules import X`: X's own module
        if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file():
            yield alias.name
        elif alias.name in blacklist_rules._EXPORTS:
            yield blacklist_rules._EXPORTS[alias.name].split(".")[0]


def _imports() -> Iterator[Import]:
    """Every import in src/, at module level, in functions and under TYPE_CHECKING alike."""
    for path, tree in _sources():
        importer = _top(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for imported in _targets(node, path):
                    where = f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno}"
                    yield Import(importer, imported, where)


def _layer(name: str) -> int:
    for rank, (_, names) in enumerate(LAYERS):
        if name in names:
            return rank
    raise AssertionError(f"`{name}` is in no layer: place it in LAYERS and in ARCHITECTURE.md")


def test_no_module_class_or_function_is_over_its_limit() -> None:
    """Modules up to 600 lines, classes 400, functions 60; today's offenders only as listed,
    never larger, and each entry lowered as its item shrinks (a ratchet)."""
    problems = []
    seen = set()
    for item in _measure():
        allowed = OVERSIZED.get(item.key)
        if allowed is not None:
            seen.add(item.key)
            if item.lines != allowed:
                verb = "grew" if item.lines > allowed else "shrank"
                fix = "split it" if item.lines > allowed else "lower its entry in OVERSIZED"
                if item.lines <= item.limit:
                    verb, fix = "fits", "remove its entry from OVERSIZED"
                problems.append(f"{item.key} {verb}: {allowed} -> {item.lines} lines: {fix}")
        elif item.lines > item.limit:
            problems.append(f"{item.key}: {item.lines} lines, over the limit of {item.limit}")
    problems += [
        f"{key}: no longer exists: remove it from OVERSIZED" for key in OVERSIZED.keys() - seen
    ]
    assert problems == []


def test_every_module_is_in_a_layer() -> None:
    """A new module (or subpackage) is placed in the layer table before it is imported."""
    names = {_top(path) for path, _ in _sources()} - {FACADE}
    unplaced = sorted(name for name in names if not any(name in n for _, n in LAYERS))
    assert unplaced == []


def test_imports_go_down_the_layers() -> None:
    """A module imports only from its own layer and those below, except the listed upward
    imports; every listed one still happens, so the list stays tight."""
    upward: dict[tuple[str, str], list[str]] = {}
    for found in _imports():
        if found.importer == FACADE:
            continue
        if _layer(found.imported) > _layer(found.importer):
            upward.setdefault((found.importer, found.imported), []).append(found.where)
    unexpected = {f"{a} -> {b}": where for (a, b), where in upward.items() if (a, b) not in UPWARD}
    assert unexpected == {}
    assert sorted(UPWARD.keys() - upward.keys()) == [], "no longer happens: remove from UPWARD"


def test_the_layer_checker_sees_every_kind_of_import() -> None:
    """Relative, absolute, package-level and nested-package imports all resolve to a top name."""

    def targets(source: str, at: str) -> list[str]:
        path = PACKAGE / at
        (node,) = ast.parse(source).body
        assert isinstance(node, ast.Import | ast.ImportFrom)
        return list(_targets(node, path))

    assert targets("from .store import SQLiteStore", "engine.py") == ["store"]
    assert targets("from ..store import SQLiteStore", "cli/run.py") == ["store"]
    assert targets("from . import run", "cli/__init__.py") == ["cli"]
    assert targets("import blacklist_rules.engine", "cli.py") == ["engine"]
    assert targets("from blacklist_rules.reports.notices import Notice", "cli.py") == ["reports"]
    assert targets("from . import Engine, __version__", "cli.py") == ["engine"]
    assert targets("from . import reports", "cli.py") == ["reports"]
    assert targets("import json", "cli.py") == []


def _ruff_ignores() -> dict[str, list[str]]:
    """pyproject's per-file ignores of the size rules (C901, PLR0915), by file."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    ignores = config["tool"]["ruff"]["lint"]["per-file-ignores"]
    sizes = {"C901", "PLR0915"}
    return {
        file: sorted(sizes & set(codes)) for file, codes in ignores.items() if sizes & set(codes)
    }


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is a dev dependency")
def test_every_size_rule_ignore_is_still_needed() -> None:
    """Each per-file ignore of C901 / PLR0915 in pyproject still silences something: a file
    split below the limits loses its entry, so the list only shrinks."""
    ignores = _ruff_ignores()
    command = [sys.executable, "-m", "ruff", "check", "--select", "C901,PLR0915"]
    command += ["--config", "lint.per-file-ignores = {}", "--output-format", "json", "--exit-zero"]
    done = subprocess.run(
        [*command, *ignores], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found: dict[str, set[str]] = {}
    for diagnostic in json.loads(done.stdout):
        file = Path(diagnostic["filename"]).resolve().relative_to(ROOT).as_posix()
        found.setdefault(file, set()).add(diagnostic["code"])
    unneeded = {
        file: [code for code in codes if code not in found.get(file, set())]
        for file, codes in ignores.items()
    }
    assert {file: codes for file, codes in unneeded.items() if codes} == {}


CONNECTIONS = frozenset({"_conn", "_db", "_raw"})
"""A store's connection and the sqlite3 one inside it: only a store implementation (`stores/`)
and `connection` hold them, each its own (`self._db`). A test or a bench that must ask SQLite
itself (a PRAGMA, a query plan) takes `SQLiteStore.connection`."""
TOOLS = frozenset({"cases", "diff_html", "dsa", "explain", "notices", "replay", "reports", "tools"})
"""Tools and reports: over the engine's and the store protocols' public names only."""
BELOW_TOOLS = frozenset({"engine", "stores"})


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _reached(tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """(line, attribute, the expression it is read on) of every private attribute read."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            yield node.lineno, node.attr, ast.unparse(node.value)


def _all_python() -> Iterator[Path]:
    """src/, tests/, bench/ and examples/: every module the quality bar checks."""
    for folder in ("src", "tests", "bench", "examples"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def _connection_reaches(path: Path, tree: ast.AST) -> list[str]:
    """Where a module reaches a connection it does not own."""
    owner = path.is_relative_to(PACKAGE) and (
        _top(path) == "stores" or path == PACKAGE / "stores/sqlite/connection.py"
    )
    return [
        f"{path.relative_to(ROOT).as_posix()}:{line}: {on}.{name}"
        for line, name, on in _reached(tree)
        if name in CONNECTIONS and not (owner and on == "self")
    ]


def _tool_reaches(path: Path, tree: ast.AST) -> list[str]:
    """Where a tool module imports a private name from the engine or the stores, or reads a
    private attribute of anything but itself."""
    where = path.relative_to(PACKAGE).as_posix()
    found = [
        f"{where}:{line}: {on}.{name}"
        for line, name, on in _reached(tree)
        if on not in ("self", "cls")
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and BELOW_TOOLS & set(_targets(node, path)):
            found += [
                f"{where}:{node.lineno}: imports {alias.name}"
                for alias in node.names
                if _private(alias.name)
            ]
    return found


def test_only_the_stores_touch_a_connection() -> None:
    """No module outside `stores/` (and `connection`) reads a store's `_db` or a
    connection's `_conn` / `_raw`, in src/, tests/, bench/ or examples/; inside, each only its
    own: one store seeds another through the protocols (`export_for`, `load_seed`)."""
    found = []
    for path in _all_python():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found += _connection_reaches(path, tree)
    assert found == []


def test_tools_use_the_public_names_of_the_engine_and_the_stores() -> None:
    """replay, dsa, cases, explain, notices and diff_html (and what `tools/` or `reports/`
    will hold) import no private name from the engine or the stores and read no private
    attribute of another object: they run over the public APIs (issue 15)."""
    found = []
    for path, tree in _sources():
        if _top(path) in TOOLS:
            found += _tool_reaches(path, tree)
    assert found == []


def test_the_private_name_checks_see_what_they_forbid() -> None:
    """The two checks above catch an attribute on another object, a private import from
    the engine, and a store's connection read from outside; `self._db` in a store is fine."""
    store, tool = PACKAGE / "stores" / "sqlite" / "x.py", PACKAGE / "tools/replay.py"
    source = "from ..engine import Engine, _entry\nx = engine._matcher\ny = source._db\n"
    assert _tool_reaches(tool, ast.parse(source)) == [
        "tools/replay.py:2: engine._matcher",
        "tools/replay.py:3: source._db",
        "tools/replay.py:1: imports _entry",
    ]
    assert _connection_reaches(store, ast.parse("a = self._db\nb = other._db\n")) == [
        "src/blacklist_rules/stores/sqlite/x.py:2: other._db"
    ]
    assert _connection_reaches(tool, ast.parse("a = self._db\n")) == [
        "src/blacklist_rules/tools/replay.py:1: self._db"
    ]
