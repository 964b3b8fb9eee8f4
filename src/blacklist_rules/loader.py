"""Rule files → specs: the only module that reads YAML.

YAML is read with ruamel.yaml as YAML 1.2 (so a bare `on` key stays the string "on", where a
YAML 1.1 loader reads boolean true), with its safe round-trip constructor: no tags become Python
objects, no text is evaluated. Every node keeps its line, so each error names `file:line`.
All files are read and every error is collected before anything is returned: a broken pack
never half-loads.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import attrs
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.parser import ParserError
from ruamel.yaml.scanner import ScannerError

from .errors import RuleFileError, RuleLoadError
from .events import error_message
from .spec import (
    Condition,
    Filter,
    Path,
    RuleSpec,
    ShapeError,
    parse_condition,
    raw_filters,
    suggest,
)

RULE_SUFFIXES = (".yaml", ".yml")


@attrs.frozen
class RuleSource:
    """One parsed rule file: its spec, its filters and a way back to source lines."""

    file: str
    spec: RuleSpec
    filters: tuple[Filter, ...]
    """The rule's own `on`/`when` first (path `()`), then a deadline's `after` and `unless`."""
    line_of: Callable[[Path], int] = attrs.field(eq=False, repr=False)
    text: str = attrs.field(default="", eq=False, repr=False)

    @property
    def condition(self) -> Condition | None:
        """The rule's own `when`."""
        own = self.filter(())
        return own.condition if own is not None else None

    def filter(self, path: Path) -> Filter | None:
        return next((f for f in self.filters if f.path == path), None)

    def error(self, path: Path, code: str, message: str, hint: str | None = None) -> RuleFileError:
        return RuleFileError(self.file, self.line_of(path), code, message, hint)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")  # round-trip: line numbers; constructs no arbitrary objects
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    return yaml


def _line_finder(root: Any) -> Callable[[Path], int]:
    """Map a path inside the document to a 1-based line: the deepest node that has one."""

    def line_of(path: Path) -> int:
        node, line = root, getattr(getattr(root, "lc", None), "line", 0) + 1
        for part in path:
            lc = getattr(node, "lc", None)
            try:
                if isinstance(node, Mapping) and part in node:
                    line = lc.key(part)[0] + 1 if lc is not None else line
                    node = node[part]
                elif isinstance(node, Sequence) and isinstance(part, int) and part < len(node):
                    line = lc.item(part)[0] + 1 if lc is not None else line
                    node = node[part]
                else:
                    break
            except (KeyError, IndexError, TypeError):
                break
        return line

    return line_of


def _unsafe_nodes(node: Any, line: int, found: list[tuple[int, str, str]]) -> None:
    """Explicit tags and non-text keys: refused, since a rule file is plain data."""
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag is not None:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        found.append(
            (line, "E-YAML", f"explicit tag `{shown}` is not allowed: rules are plain data")
        )
        return
    lc = getattr(node, "lc", None)
    if isinstance(node, Mapping):
        for key, value in node.items():
            at = lc.key(key)[0] + 1 if lc is not None else line
            if not isinstance(key, str):
                found.append((at, "E-KEY", f"key `{key}` must be text"))
            _unsafe_nodes(value, at, found)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _unsafe_nodes(item, lc.item(index)[0] + 1 if lc is not None else line, found)


def _plain(node: Any) -> Any:
    """ruamel's commented containers and scalar subclasses as plain Python values."""
    if isinstance(node, Mapping):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, however wrapped (`X | None`, `list[X]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _keyed(annotation: Any) -> bool:
    """Does the annotation hold a mapping (`dict[str, X]`), whose keys are data, not fields?"""
    if typing.get_origin(annotation) is dict:
        return True
    return any(_keyed(arg) for arg in typing.get_args(annotation))


def _keys_at(loc: Path) -> tuple[str, ...]:
    """The keys allowed in the mapping at `loc` (for did-you-mean), from the spec models."""
    model: type[BaseModel] = RuleSpec
    keyed = False
    for part in loc:
        if isinstance(part, int) or keyed:  # an item of a list or a mapping: its model
            keyed = False
            continue
        field = model.model_fields.get(part)
        inner = next(_models_in(field.annotation), None) if field is not None else None
        if field is None or inner is None:
            return ()
        keyed = _keyed(field.annotation)
        model = inner
    return tuple(f.alias or name for name, f in model.model_fields.items())


def pydantic_errors(
    exc: ValidationError,
    source: str,
    line_of: Callable[[Path], int],
    keys_at: Callable[[Path], tuple[str, ...]] | None = None,
) -> list[RuleFileError]:
    """A model's validation errors as located file errors (`E-KEY` with did-you-mean from
    `keys_at`, rule-file keys by default; `E-MISSING`; `E-SPEC`)."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        loc: Path = tuple(err["loc"])
        where = ".".join(map(str, loc)) or "(file)"
        if err["type"] == "extra_forbidden":
            choices = (keys_at or _keys_at)(loc[:-1])
            errors.append(
                RuleFileError(
                    source,
                    line_of(loc),
                    "E-KEY",
                    f"unknown key `{where}`",
                    suggest(str(loc[-1]), choices),
                )
            )
        elif err["type"] == "missing":
            errors.append(
                RuleFileError(
                    source, line_of(loc[:-1]), "E-MISSING", f"missing required key `{where}`"
                )
            )
        else:
            errors.append(
                RuleFileError(
                    source,
                    line_of(loc),
                    "E-SPEC",
                    f"`{where}`: {error_message(err)}",
                )
            )
    return errors


def parse_yaml(
    text: str, source: str
) -> tuple[Any, Callable[[Path], int] | None, list[RuleFileError]]:
    """YAML 1.2 text as plain data, a way from paths inside it to lines, and the errors: bad
    YAML, explicit tags, keys that are not text. Rule files and test case files alike."""
    try:
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        # A scanner or parser error is best placed where the construct began (an unclosed
        # quote or bracket), with the place it was noticed; a constructor error where it is.
        began = isinstance(exc, ScannerError | ParserError) and exc.context_mark is not None
        mark = exc.context_mark if began else exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or "invalid YAML"
        if began and exc.context:
            noticed = exc.problem_mark.line + 1 if exc.problem_mark else line
            problem = f"{exc.context}: {problem} (line {noticed})"
        return None, None, [RuleFileError(source, line, "E-YAML", str(problem))]
    except YAMLError as exc:
        return None, None, [RuleFileError(source, 1, "E-YAML", str(exc))]
    unsafe: list[tuple[int, str, str]] = []
    _unsafe_nodes(root, 1, unsafe)
    if unsafe:
        return None, None, [RuleFileError(source, *problem) for problem in unsafe]
    return _plain(root), _line_finder(root), []


def parse_rule_text(text: str, source: str) -> tuple[RuleSource | None, list[RuleFileError]]:
    """Parse one rule file's text; returns the rule or the errors found in it."""
    data, line_of, errors = parse_yaml(text, source)
    if errors or line_of is None:
        return None, errors
    if not isinstance(data, Mapping):
        return None, [RuleFileError(source, 1, "E-YAML", "a rule file must be a YAML mapping")]
    try:
        spec = RuleSpec.model_validate(data)
    except ValidationError as exc:
        return None, pydantic_errors(exc, source, line_of)
    shape: list[ShapeError] = []
    filters = tuple(
        Filter(types, None if when is None else parse_condition(when, (*at, "when"), shape), at)
        for types, when, at in raw_filters(spec)
    )
    errors = [RuleFileError(source, line_of(e.path), e.code, e.message, e.hint) for e in shape]
    if errors:
        return None, errors
    return RuleSource(source, spec, filters, line_of, text), []


def rule_files(directory: FsPath) -> list[FsPath]:
    """Rule files below a folder, sorted, so load order never depends on the file system."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and path.suffix in RULE_SUFFIXES and not path.name.startswith(".")
    )


def read_rules(location: FsPath) -> tuple[list[RuleSource], list[RuleFileError]]:
    """Every rule under a folder (or one file), with every error found; raises nothing."""
    if not location.exists():
        return [], [RuleFileError(str(location), 0, "E-PATH", "no such file or folder")]
    files = [location] if location.is_file() else rule_files(location)
    if not files:
        return [], [
            RuleFileError(str(location), 0, "E-EMPTY", "no rule files (*.yaml, *.yml) found")
        ]
    rules: list[RuleSource] = []
    errors: list[RuleFileError] = []
    for path in files:
        shown = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(RuleFileError(shown, 0, "E-READ", f"cannot read: {exc}"))
            continue
        rule, found = parse_rule_text(text, shown)
        errors.extend(found)
        if rule is not None:
            rules.append(rule)
    return rules, errors


def load_rules(location: FsPath) -> list[RuleSource]:
    """Read rule files or raise `RuleLoadError` with every error found."""
    rules, errors = read_rules(location)
    if errors:
        raise RuleLoadError(errors)
    return rules
