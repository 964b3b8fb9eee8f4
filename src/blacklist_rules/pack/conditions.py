"""Rule conditions as data: a tree of `all`, `any`, `not` and comparisons `field: value` or
`field: {operator: value}`, parsed from a rule file's `when` with the path of each shape error
inside the file (the loader turns paths into `file:line`); did-you-mean hints for names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping

import attrs

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "matches", "exists")
COMBINATORS = ("all", "any", "not")
Scalar = str | bool | int
Path = tuple[str | int, ...]


@attrs.frozen
class Compare:
    """`field <op> value`; every operator but `exists` is false when the field is absent."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]
    path: Path = attrs.field(eq=False, repr=False)


@attrs.frozen
class All:
    items: tuple[Condition, ...]
    path: Path = attrs.field(eq=False, repr=False)


@attrs.frozen
class AnyOf:
    items: tuple[Condition, ...]
    path: Path = attrs.field(eq=False, repr=False)


@attrs.frozen
class Not:
    item: Condition
    path: Path = attrs.field(eq=False, repr=False)


Condition = Compare | All | AnyOf | Not


def comparisons(node: Condition | None) -> Iterator[Compare]:
    """Every comparison in a condition tree, in file order."""
    if isinstance(node, Compare):
        yield node
    elif isinstance(node, All | AnyOf):
        for item in node.items:
            yield from comparisons(item)
    elif isinstance(node, Not):
        yield from comparisons(node.item)


@attrs.frozen
class ShapeError:
    """A condition that is not of a known shape, at `path` inside the rule file."""

    path: Path
    code: str
    message: str
    hint: str | None = None


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | bool | int) and not isinstance(value, float)


def parse_condition(raw: object, path: Path, errors: list[ShapeError]) -> Condition | None:
    """Turn the raw `when` tree into condition nodes, appending every shape error found."""
    if not isinstance(raw, Mapping) or not raw:
        errors.append(ShapeError(path, "E-COND", "a condition must be a non-empty mapping"))
        return None
    if len(raw) == 1:
        ((key, value),) = raw.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                errors.append(ShapeError((*path, key), "E-COND", f"`{key}` takes a list"))
                return None
            items = [parse_condition(v, (*path, key, i), errors) for i, v in enumerate(value)]
            kept = tuple(item for item in items if item is not None)
            return All(kept, path) if key == "all" else AnyOf(kept, path)
        if key == "not":
            item = parse_condition(value, (*path, "not"), errors)
            return None if item is None else Not(item, path)
    # A mapping of `field: test` pairs: all must hold.
    tests: list[Condition] = []
    for key, value in raw.items():
        if not isinstance(key, str) or key in COMBINATORS:
            errors.append(
                ShapeError(
                    path,
                    "E-COND",
                    f"`{key}` must be alone in its mapping",
                    "write each combinator as its own list item",
                )
            )
            continue
        tests.extend(_parse_tests(key, value, (*path, key), errors))
    if len(tests) == 1:
        return tests[0]
    return All(tuple(tests), path)


def _parse_tests(field: str, value: object, path: Path, errors: list[ShapeError]) -> list[Compare]:
    if _is_scalar(value):
        return [Compare(field, "eq", value, path)]  # type: ignore[arg-type]
    if value is None:
        errors.append(
            ShapeError(
                path,
                "E-VALUE",
                f"`{field}` is given no value",
                "to test that a field is absent write `{exists: false}`",
            )
        )
        return []
    if isinstance(value, float):
        errors.append(
            ShapeError(path, "E-VALUE-TYPE", f"`{field}`: only whole numbers are compared")
        )
        return []
    if isinstance(value, list):
        errors.append(
            ShapeError(
                path,
                "E-COND",
                f"`{field}` is given a list",
                "to test membership write `{in: [...]}`",
            )
        )
        return []
    if not isinstance(value, Mapping) or not value:
        errors.append(
            ShapeError(path, "E-COND", f"`{field}` needs a value or `{{operator: value}}`")
        )
        return []
    tests = []
    for op, operand in value.items():
        found = _parse_operator(field, op, operand, (*path, op))
        if isinstance(found, ShapeError):
            errors.append(found)
        else:
            tests.append(found)
    return tests


def _parse_operator(field: str, op: object, operand: object, at: Path) -> Compare | ShapeError:
    """One `operator: operand` of a comparison, or what is wrong with it."""
    if op not in OPERATORS:
        return ShapeError(at, "E-OP", f"unknown operator `{op}`", suggest(str(op), OPERATORS))
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand or not all(map(_is_scalar, operand)):
            return ShapeError(at, "E-VALUE", f"`{op}` takes a non-empty list of values")
        if len(operand) > 500:
            return ShapeError(at, "E-VALUE", f"`{op}` takes at most 500 values")
        return Compare(field, str(op), tuple(operand), at)
    if op == "exists" and not isinstance(operand, bool):
        return ShapeError(at, "E-VALUE", "`exists` takes true or false")
    if not _is_scalar(operand):
        return ShapeError(at, "E-VALUE", f"`{op}` takes a single value")
    return Compare(field, str(op), operand, at)  # type: ignore[arg-type]


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """A did-you-mean hint for a misspelt name, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
