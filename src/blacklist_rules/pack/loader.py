"""Rule files → specs: the only module that reads YAML.

YAML is read with ruamel.yaml as YAML 1.2 (so a bare `on` key stays the string "on", where a
YAML 1.1 loader reads boolean true), with its safe round-trip constructor: no tags become Python
objects, no text is evaluated. Every node keeps its line, so each error names `file:line`.
All files are read and every error is collected before anything is returned: a broken pack
never half-loads.

A rule file is untrusted input, so the parse is bounded before anything grows with it: a file
over `MAX_FILE_BYTES` is not read, and `_BoundedComposer` refuses, while composing and before any
expansion, more than `MAX_NODES` nodes, nesting deeper than `MAX_DEPTH`, aliases expanding to
more than `MAX_ALIAS_NODES` nodes, and integers of more than `MAX_INT_DIGITS` digits. Each limit
is a located error.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import attrs
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, ScalarEvent
from ruamel.yaml.parser import ParserError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import ScannerError

from blacklist_rules.errors import RuleFileError, RuleLoadError
from blacklist_rules.model.events import error_message

from .conditions import Condition, Path, ShapeError, parse_condition, suggest
from .spec import Filter, RuleSpec, raw_filters

RULE_SUFFIXES = (".yaml", ".yml")
FIELDS_FILE = "fields.yaml"
"""The file at a pack's root declaring extra event fields (`pack.fields`): never a rule."""

MAX_FILE_BYTES = 1024 * 1024
"""A rule or case file larger than this (1 MiB) is refused before it is parsed."""
MAX_DEPTH = 64
"""Nesting deeper than this (mappings and lists, aliases expanded) is refused: the parse and
every walk over the data recurse, and Python's stack is about a thousand frames."""
MAX_NODES = 20_000
"""Nodes (scalars, mappings, lists; aliases expanded) in one file: ruamel's pure-Python parse
costs about 0.1 ms a node, so 1 MiB of short keys would take a minute and more."""
MAX_ALIAS_NODES = 10_000
"""Aliases may repeat at most this many nodes in all (a "billion laughs" file is refused)."""
MAX_INT_DIGITS = 20
"""Integers are whole numbers of at most this many digits (every int64 fits)."""

_TAG = "tag:yaml.org,2002:"
_SURROGATE = re.compile("[\ud800-\udfff]")


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


class LimitError(YAMLError):
    """A bound of the parse was exceeded at `line` (`code` says which): the parse stops."""

    def __init__(self, code: str, message: str, line: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.error = (code, message, hint)
        self.line = line

    def located(self, source: str) -> RuleFileError:
        return RuleFileError(source, self.line, *self.error)


Problem = tuple[int, str, str, str | None]
"""A located problem found while composing: line, code, message, hint."""


@attrs.frozen
class _Shape:
    """An anchored node once every alias inside it is expanded: what repeating it costs."""

    size: int
    height: int  # levels of mappings and lists, itself included


class _BoundedComposer(Composer):
    """ruamel's composer, checking the bounds as each node is made, before anything is
    constructed or walked: nesting depth and alias expansion stop the parse (`LimitError`).
    Scalars the constructor would choke on (explicit tags, lone surrogates, integers too long,
    numbers and dates that do not convert) become problems, collected, and are kept as text."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False  # YAML allows it (the later anchor counts): no noise
        self.problems: list[Problem] = []
        self._shapes: dict[int, _Shape] = {}
        self._expanded = 0  # nodes so far, aliases expanded
        self._repeated = 0  # of which repeated by aliases
        self._deepest = 0  # deepest level so far, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            return self._alias(parent, index, event)
        level = self.depth + (0 if isinstance(event, ScalarEvent) else 1)  # of mappings/lists
        if level > MAX_DEPTH:
            raise _too_deep(event.start_mark.line + 1)
        outer, self._deepest = self._deepest, level
        before = self._expanded
        self._count(1, event)  # as it begins: the error names the node that crossed the bound
        node = super().compose_node(parent, index)
        if node.anchor is not None:
            self._shapes[id(node)] = _Shape(self._expanded - before, self._deepest - self.depth)
        self._deepest = max(outer, self._deepest)
        return node

    def _alias(self, parent: Any, index: Any, event: Any) -> Any:
        node = super().compose_node(parent, index)
        shape = self._shapes.get(id(node))
        if shape is None:
            message = f"alias `*{event.anchor}` stands inside its own anchor: endless data"
            raise LimitError("E-YAML-ALIAS", message, event.start_mark.line + 1)
        self._repeated += shape.size
        if self._repeated > MAX_ALIAS_NODES:
            message = f"aliases repeat more than {MAX_ALIAS_NODES:,} nodes in all"
            hint = "write the repeated parts out, or repeat less"
            raise LimitError("E-YAML-ALIAS", message, event.start_mark.line + 1, hint)
        if self.depth + shape.height > MAX_DEPTH:
            raise _too_deep(event.start_mark.line + 1)
        self._count(shape.size, event)
        self._deepest = max(self._deepest, self.depth + shape.height)
        return node

    def _count(self, nodes: int, event: Any) -> None:
        self._expanded += nodes
        if self._expanded > MAX_NODES:
            message = f"more than {MAX_NODES:,} values, mappings and lists in one file"
            line = event.start_mark.line + 1
            raise LimitError("E-YAML-SIZE", message, line, "split it into several files")

    def compose_scalar_node(self, anchor: Any) -> Any:
        explicit = _explicit_tag(self.parser.peek_event())
        node = super().compose_scalar_node(anchor)
        problem = explicit or self._scalar_problem(node)
        if problem is not None:
            self.problems.append((node.start_mark.line + 1, *problem))
        if problem is not None or node.tag not in _SCALAR_TAGS:
            node.tag = self.resolver.DEFAULT_SCALAR_TAG  # text: nothing to convert
        return node

    def compose_sequence_node(self, anchor: Any) -> Any:
        return self._collection(anchor, super().compose_sequence_node, "DEFAULT_SEQUENCE_TAG")

    def compose_mapping_node(self, anchor: Any) -> Any:
        return self._collection(anchor, super().compose_mapping_node, "DEFAULT_MAPPING_TAG")

    def _collection(self, anchor: Any, compose: Callable[[Any], Any], default: str) -> Any:
        event = self.parser.peek_event()
        explicit = _explicit_tag(event)
        if explicit is not None:
            self.problems.append((event.start_mark.line + 1, *explicit))
        node = compose(anchor)
        if explicit is not None:
            node.tag = getattr(self.resolver, default)  # a plain list or mapping
        return node

    def _scalar_problem(self, node: Any) -> tuple[str, str, str | None] | None:
        """Why a scalar cannot stand, or None: a lone surrogate, an integer too long, a number
        or date that does not convert (ruamel raises bare ValueError or IndexError then)."""
        value, kind = node.value, str(node.tag).removeprefix(_TAG)
        surrogate = _SURROGATE.search(value)
        if surrogate is not None:
            message = f"{ascii(surrogate.group())[1:-1]} is half a UTF-16 pair, not a character"
            return "E-YAML", message, "write the character itself"
        if kind == "int" and len(digits := value.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
            message = f"an integer of {len(digits):,} digits (at most {MAX_INT_DIGITS})"
            return "E-YAML-INT", message, _QUOTE
        if kind in ("int", "float", "timestamp"):
            try:
                self.loader.constructor.construct_non_recursive_object(node)
            except IndexError:  # `0x_`: ruamel indexes the digits it did not find
                return "E-YAML", f"`{value}` is not a valid {kind}: no digits", _QUOTE
            except (YAMLError, ValueError, OverflowError) as exc:
                reason = getattr(exc, "problem", None) or exc
                return "E-YAML", f"`{value}` is not a valid {kind}: {reason}", _QUOTE
        return None


_QUOTE = "quote it if it is text"
_SCALAR_TAGS = frozenset(
    _TAG + kind for kind in ("str", "int", "float", "bool", "null", "timestamp", "merge")
)
"""The scalars a plain YAML 1.2 file may resolve to; any other (`=`) is read as text."""


def _too_deep(line: int) -> LimitError:
    message = f"nested more than {MAX_DEPTH} levels deep"
    return LimitError("E-YAML-DEPTH", message, line, "flatten it")


def _explicit_tag(event: Any) -> tuple[str, str, str | None] | None:
    """An explicit tag on a node is refused: rules are plain data (`!` alone is no tag)."""
    tag = getattr(event, "ctag", None)
    if tag is None or str(tag) == "!":
        return None
    shown = str(tag).replace(_TAG, "!!")
    return "E-YAML", f"explicit tag `{shown}` is not allowed: rules are plain data", None


_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _line_at(text: str, position: int) -> int:
    """The 1-based line of a character offset, counting line breaks as YAML does."""
    return len(_BREAK.findall(text, 0, position)) + 1


_FLOW = re.compile(
    # a quoted scalar where one may begin (its end optional, so the scan stays linear);
    # a comment; a bracket
    r"""(?:^|(?<=[\[{,])|(?<=[:?-][ \t]))[ \t]*(?:"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?)"""
    r"|(?<!\S)#[^\n]*"
    r"|[\[{\]}]",
    re.MULTILINE,
)


def _check_flow_depth(text: str) -> None:
    """`[`/`{` nested deeper than `MAX_DEPTH` are refused at the line where it happens, before
    parsing, since ruamel's scanner costs time quadratic in the open flow levels (2 s for
    20,000 `[` on one line) long before the composer sees the depth."""
    depth = 0
    for match in _FLOW.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(_line_at(text, match.start()))
        elif char in "]}":
            depth = max(depth - 1, 0)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")  # round-trip: line numbers; constructs no arbitrary objects
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    yaml.Composer = _BoundedComposer
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


def _key_problems(node: Any, line: int, found: list[Problem]) -> None:
    """Keys that are not text (a list, a number): refused, since a key names a field.
    (Tags were refused while composing.)"""
    lc = getattr(node, "lc", None)
    if isinstance(node, Mapping):
        for key, value in node.items():
            at = lc.key(key)[0] + 1 if lc is not None else line
            if not isinstance(key, str):
                found.append((at, "E-KEY", f"key `{key}` must be text", None))
            _key_problems(value, at, found)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _key_problems(item, lc.item(index)[0] + 1 if lc is not None else line, found)


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
    YAML, a bound exceeded, explicit tags, keys that are not text. Rule files and test case
    files alike."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return None, None, [_too_big(source)]
    yaml = _yaml()
    try:
        _check_flow_depth(text)
        root = yaml.load(text)
    except LimitError as exc:
        return None, None, [exc.located(source)]
    except MarkedYAMLError as exc:
        return None, None, [_yaml_error(exc, source)]
    except ReaderError as exc:
        line = _line_at(text, exc.position) if isinstance(exc.position, int) else 1
        message = f"character U+{exc.character:04X} is not allowed in YAML"
        return None, None, [RuleFileError(source, line, "E-YAML", message, "remove it")]
    except YAMLError as exc:
        return None, None, [RuleFileError(source, 1, "E-YAML", str(exc))]
    problems: list[Problem] = list(yaml.composer.problems)
    _key_problems(root, 1, problems)
    if problems:
        return None, None, [RuleFileError(source, *problem) for problem in problems]
    return _plain(root), _line_finder(root), []


def _yaml_error(exc: MarkedYAMLError, source: str) -> RuleFileError:
    """A scanner or parser error is best placed where the construct began (an unclosed quote
    or bracket), with the place it was noticed; a constructor error where it is."""
    began = isinstance(exc, ScannerError | ParserError) and exc.context_mark is not None
    mark = exc.context_mark if began else exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    problem = exc.problem or "invalid YAML"
    if began and exc.context:
        noticed = exc.problem_mark.line + 1 if exc.problem_mark else line
        problem = f"{exc.context}: {problem} (line {noticed})"
    return RuleFileError(source, line, "E-YAML", str(problem))


def _too_big(source: str) -> RuleFileError:
    message = f"the file is over {MAX_FILE_BYTES:,} bytes (1 MiB): not read"
    return RuleFileError(source, 1, "E-YAML-SIZE", message, "split it into several files")


def read_source(path: FsPath) -> str | RuleFileError:
    """A rule or case file's text (line ends made `\\n`, as text mode does), or why not: it
    cannot be read, it is over `MAX_FILE_BYTES` (read no further), or it is not UTF-8 (at the
    line of the first bad byte)."""
    shown = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return RuleFileError(shown, 0, "E-READ", f"cannot read: {exc}")
    if len(data) > MAX_FILE_BYTES:
        return _too_big(shown)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line = _line_at(before, len(before))
        message = f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        return RuleFileError(shown, line, "E-READ", message, "save the file as UTF-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
        if path.is_file()
        and path.suffix in RULE_SUFFIXES
        and not path.name.startswith(".")
        and path != directory / FIELDS_FILE
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
        text = read_source(path)
        if isinstance(text, RuleFileError):
            errors.append(text)
            continue
        rule, found = parse_rule_text(text, str(path))
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
