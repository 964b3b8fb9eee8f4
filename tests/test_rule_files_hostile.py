"""Hostile rule files: every one is a located `file:line: code: message` error, never a hang or
a traceback (issues 13 and 14).

The bounds are checked while the YAML is composed, before anything is expanded or walked, so a
test proves a bound by the error at its edge: one step inside loads, one step outside is refused
at the line where it was crossed. No test measures time; the inputs that used to hang or
overflow the stack are refused after reading a few nodes.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import CaseLoadError, RuleFileError, RuleLoadError, load_ruleset
from blacklist_rules.cli import main
from blacklist_rules.pack import loader
from blacklist_rules.pack.loader import parse_yaml
from blacklist_rules.tools.cases import load_cases

TESTS = Path(__file__).resolve().parent
RULES = TESTS.parent / "rules"
FREEZE = RULES / "rumours" / "freeze-repeated-malicious-rumours.yaml"
"""A rule that loads alone (no deadline naming other rules, no notices folder needed)."""
DEADLINE = RULES / "identity" / "cancel-unverified-after-freeze.yaml"

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
MAX_INT_DIGITS = 20
"""The documented limits (rules/README.md), written out so a test fails if they move."""

ERROR_LINE = re.compile(r"^[^:\n]+:\d+: [A-Z][A-Z0-9-]*: [^\n]+$")


def errors_of(folder: Path) -> list[RuleFileError]:
    """The errors of a pack that must not load, each checked to be one well-formed line."""
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(folder)
    for error in info.value.errors:
        assert ERROR_LINE.match(str(error)), str(error)
        str(error).encode("utf-8")  # printable: no lone surrogate
    return info.value.errors


def pack_with(tmp_path: Path, text: str | bytes, name: str = "rule.yaml") -> Path:
    """A pack of one file holding `text` (bytes are written as they are)."""
    folder = tmp_path / "pack"
    folder.mkdir(exist_ok=True)
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    (folder / name).write_bytes(data)
    return folder


def yaml_errors(text: str) -> list[tuple[int, str]]:
    """(line, code) of each error `parse_yaml` finds in `text`."""
    _data, _lines, errors = parse_yaml(text, "f.yaml")
    return [(error.line, error.code) for error in errors]


def freeze_rule(old: str, new: str) -> str:
    """The shipped freeze rule with one piece of text replaced (it must be there once)."""
    text = FREEZE.read_text(encoding="utf-8")
    assert text.count(old) == 1
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of `text` that contains `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_documented_limits_are_the_loaders() -> None:
    """The limits the README states are the ones the loader applies."""
    assert (loader.MAX_FILE_BYTES, loader.MAX_NODES) == (MAX_FILE_BYTES, MAX_NODES)
    assert loader.MAX_DEPTH == MAX_DEPTH
    assert (loader.MAX_ALIAS_NODES, loader.MAX_INT_DIGITS) == (MAX_ALIAS_NODES, MAX_INT_DIGITS)


# --- aliases ---------------------------------------------------------------------------------


def laughs(levels: int, width: int = 10) -> list[str]:
    """Lines `l0: &l0 [lol, …]`, `l1: &l1 [*l0, …]`, …: level n repeats width**n nodes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return lines


def test_billion_laughs_file_is_refused_where_the_budget_runs_out(tmp_path: Path) -> None:
    """Nine levels of ten aliases (10**9 nodes once expanded): refused at line 4, where the
    aliases first repeat more than 10,000 nodes (110 + 1,110 + 11,110), not expanded."""
    errors = errors_of(pack_with(tmp_path, "\n".join(laughs(9)) + "\n"))

    assert [(e.line, e.code) for e in errors] == [(4, "E-YAML-ALIAS")]
    assert "10,000 nodes" in errors[0].message


def test_billion_laughs_inside_one_rule_is_refused_at_its_line(tmp_path: Path) -> None:
    """The same inside a real rule (its `reason` a list of anchored lists): refused at the
    line of `reason`, before the spec sees anything."""
    nested = ", ".join(line.split(": ", 1)[1] for line in laughs(9))
    text = freeze_rule("  reason: Two pieces", f"  reason: [{nested}]\n  x: Two pieces")

    errors = errors_of(pack_with(tmp_path, text))

    assert [(e.line, e.code) for e in errors] == [(line_of(text, "reason:"), "E-YAML-ALIAS")]


def alias_budget(repeated: int) -> str:
    """A document whose aliases repeat exactly `repeated` nodes: `*a` repeats a list of 99
    items (100 nodes), `*one` a single scalar."""
    hundreds, ones = divmod(repeated, 100)
    return (
        f"a: &a [{', '.join(['x'] * 99)}]\n"
        "one: &one y\n"
        f"b: [{', '.join(['*a'] * hundreds + ['*one'] * ones)}]\n"
    )


def test_aliases_may_repeat_exactly_the_budget() -> None:
    """Aliases repeating exactly 10,000 nodes are read (and expanded) as written."""
    data, _lines, errors = parse_yaml(alias_budget(MAX_ALIAS_NODES), "f.yaml")

    assert errors == []
    assert len(data["b"]) == 100
    assert data["b"][0] == ["x"] * 99


@pytest.mark.parametrize("over", [1, 100])
def test_aliases_one_node_over_the_budget_are_refused(over: int) -> None:
    """One node more than the budget (or a whole list more) is refused at its line."""
    assert yaml_errors(alias_budget(MAX_ALIAS_NODES + over)) == [(3, "E-YAML-ALIAS")]


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    """`&a [*a]` would be endless data: refused at the alias's line, not followed."""
    assert yaml_errors("x: 1\ny: &a\n  - z\n  - *a\n") == [(4, "E-YAML-ALIAS")]


@pytest.mark.parametrize(("around", "refused"), [(3, False), (4, True)])
def test_depth_counts_what_an_alias_brings(around: int, refused: bool) -> None:
    """An alias to lists nested 60 deep inside `around` lists of a mapping: 1 + around + 60
    levels of mappings and lists; 64 are read, 65 refused at the alias's line."""
    text = f"a: &a {'[' * 60}x{']' * 60}\nb: {'[' * around}*a{']' * around}\n"

    assert yaml_errors(text) == ([(2, "E-YAML-DEPTH")] if refused else [])


# --- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "refused"), [(63, False), (64, False), (65, True)])
def test_flow_nesting_at_the_depth_limit(depth: int, refused: bool) -> None:
    """Flow lists nested 64 deep (a scalar inside) are read; 65 are refused at their line."""
    text = f"# nested\n\n{'[' * depth}1{']' * depth}\n"

    errors = yaml_errors(text)

    assert errors == ([(3, "E-YAML-DEPTH")] if refused else [])


@pytest.mark.parametrize(("depth", "refused"), [(63, False), (64, False), (65, True)])
def test_block_nesting_at_the_depth_limit(depth: int, refused: bool) -> None:
    """Block mappings nested 64 deep are read; the 65th level is refused at its line."""
    text = "".join(" " * level + f"k{level}:\n" for level in range(depth))
    text += " " * depth + "leaf\n"

    assert yaml_errors(text) == ([(depth, "E-YAML-DEPTH")] if refused else [])


@pytest.mark.parametrize(
    ("value", "line"),
    [
        pytest.param("[" * 20_000 + "]" * 20_000, 3, id="flow-20000"),
        pytest.param("{a: " * 5_000 + "x" + "}" * 5_000, 3, id="flow-mappings-5000"),
        pytest.param("\n" + "  - " + "- " * 3_000 + "x", 3 + 1, id="block-compact-3000"),
    ],
)
def test_deep_nesting_in_a_rule_is_a_located_error(tmp_path: Path, value: str, line: int) -> None:
    """Nesting thousands deep (which overflowed Python's stack) is an error at its line."""
    text = f"schema: 1\nid: deep\nversion: {value}\n"

    errors = errors_of(pack_with(tmp_path, text))

    assert [(e.line, e.code) for e in errors] == [(line, "E-YAML-DEPTH")]


@pytest.mark.parametrize("depth", [600, 1_000])
def test_block_nesting_hundreds_deep_is_a_located_error(tmp_path: Path, depth: int) -> None:
    """Block mappings 600 and 1,000 deep: refused at the line of level 65."""
    nested = "".join(" " * (level + 1) + f"k{level}:\n" for level in range(depth))
    text = freeze_rule("priority: 50\n", f"priority: 50\nextra:\n{nested}")

    errors = errors_of(pack_with(tmp_path, text))

    assert [(e.line, e.code) for e in errors] == [(line_of(text, "extra:") + 64, "E-YAML-DEPTH")]


def test_brackets_in_quotes_and_comments_do_not_count_as_nesting() -> None:
    """Only real flow brackets count: a hundred `[` in a quoted text or a comment are text."""
    text = f"a: \"{'[' * 100}\"\nb: '{'{' * 100}'  # {'[' * 100}\nc: [x]\n"

    data, _lines, errors = parse_yaml(text, "f.yaml")

    assert errors == []
    assert data == {"a": "[" * 100, "b": "{" * 100, "c": ["x"]}


@pytest.mark.parametrize(("items", "refused"), [(98, False), (99, False), (100, True)])
def test_nodes_in_a_file_are_bounded(
    monkeypatch: pytest.MonkeyPatch, items: int, refused: bool
) -> None:
    """A file holds at most MAX_NODES nodes (here 100, so the test stays small: 20,000 short
    keys took 4 s to parse): a list of 99 items and itself is read, one more item refused at
    its line, before the rest of the file is parsed."""
    monkeypatch.setattr(loader, "MAX_NODES", 100)
    text = "[\n" + "".join(f"  {n},\n" for n in range(items)) + "]\n"

    assert yaml_errors(text) == ([(items + 1, "E-YAML-SIZE")] if refused else [])


def test_nodes_repeated_by_aliases_count_towards_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nodes an alias repeats count as if written: 4 written + 10 + 9 x 10 repeated = 104."""
    monkeypatch.setattr(loader, "MAX_NODES", 100)
    text = f"a: &a [{', '.join(['x'] * 9)}]\nb: [{', '.join(['*a'] * 9)}]\n"

    assert yaml_errors(text) == [(2, "E-YAML-SIZE")]
    assert yaml_errors(text.replace("*a]", "x]")) == []


# --- scalars ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "refused"),
    [
        ("9" * MAX_INT_DIGITS, False),
        ("-" + "9" * MAX_INT_DIGITS, False),
        ("9_999_999_999_999_999_999", False),
        ("9" * (MAX_INT_DIGITS + 1), True),
        ("-" + "9" * (MAX_INT_DIGITS + 1), True),
        ("9" * 5_000, True),
    ],
)
def test_integers_of_more_than_twenty_digits_are_refused(number: str, refused: bool) -> None:
    """20 digits (sign and `_` not counted) are read as an integer; 21 are refused at the line."""
    data, _lines, errors = parse_yaml(f"a: 1\nb: {number}\n", "f.yaml")

    assert [(e.line, e.code) for e in errors] == ([(2, "E-YAML-INT")] if refused else [])
    if not refused:
        assert data["b"] == int(number)


def test_a_five_thousand_digit_version_is_a_located_error(tmp_path: Path) -> None:
    """`version: 999…` of 5,000 digits (past Python's 4,300-digit int limit) is E-YAML-INT
    at line 4, not a ValueError."""
    errors = errors_of(pack_with(tmp_path, freeze_rule("version: 1", "version: " + "9" * 5000)))

    assert [(e.line, e.code) for e in errors] == [(4, "E-YAML-INT")]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        pytest.param("0x_", "no digits", id="hex-without-digits"),
        pytest.param("0o_", "no digits", id="octal-without-digits"),
        pytest.param("+_", "no digits", id="sign-without-digits"),
        pytest.param("2024-02-30", "day is out of range", id="no-such-day"),
        pytest.param("2024-01-01 25:00:00", "hour must be", id="no-such-hour"),
    ],
)
def test_scalars_that_do_not_convert_are_located_errors(value: str, said: str) -> None:
    """Plain scalars that YAML reads as a number or date but that do not convert (ruamel
    raised a bare IndexError or ValueError) are errors at their line."""
    _data, _lines, errors = parse_yaml(f"a: 1\nb: {value}\n", "f.yaml")

    assert [(e.line, e.code) for e in errors] == [(2, "E-YAML")]
    assert said in errors[0].message


@pytest.mark.parametrize("tagged", ["!!int abc", '!!binary "aGk="', "!!set {a}", "!!float 1"])
def test_every_explicit_tag_is_refused(tagged: str) -> None:
    """Tags the old check missed (on bytes, sets) or that crashed (`!!int abc`) are refused
    at their line like any other tag."""
    _data, _lines, errors = parse_yaml(f"a: 1\nb: {tagged}\n", "f.yaml")

    assert [(e.line, e.code) for e in errors] == [(2, "E-YAML")]
    assert "explicit tag" in errors[0].message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("  reason: Two", '  reason: "\\ud83d" # Two', id="value"),
        pytest.param("  verdict: malicious_rumor", '  "\\ud83d": malicious_rumor', id="key"),
        pytest.param("id: freeze", 'id: "\\udc00"\nx: freeze', id="low-half"),
    ],
)
def test_a_lone_surrogate_escape_is_a_located_error(tmp_path: Path, old: str, new: str) -> None:
    """A `"\\ud83d"` escape is half a character: refused at its line, and the error prints."""
    text = freeze_rule(old, new)

    errors = errors_of(pack_with(tmp_path, text))

    assert [(e.line, e.code) for e in errors] == [(line_of(text, "\\ud"), "E-YAML")]
    assert "\\ud" in str(errors[0])


def test_cli_validate_prints_a_lone_surrogate_key_as_an_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`validate` on a file with a `"\\ud83d"` key writes one error line to a strict UTF-8
    stderr (the message once held the raw surrogate, which stderr cannot encode)."""
    text = freeze_rule("  verdict: malicious_rumor", '  "\\ud83d": malicious_rumor')
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stderr", stderr)

    status = main(["validate", str(pack_with(tmp_path, text))])

    stderr.flush()
    written = stderr.buffer.getvalue().decode("utf-8")
    assert status == 1  # rule files that do not load
    assert re.search(r"rule\.yaml:19: E-YAML: \\ud83d is half a UTF-16 pair", written)


@pytest.mark.parametrize("key", ["decision", "on"])
def test_a_null_deadline_anchor_is_a_located_error(tmp_path: Path, key: str) -> None:
    """`decision: ~` (or `on: ~`) under `after` is an error at its line, not a TypeError."""
    text = DEADLINE.read_text(encoding="utf-8")
    text = text.replace(
        "    decision: [freeze-failed-verification, freeze-failed-registration-verification]",
        f"    {key}: ~",
    )

    errors = errors_of(pack_with(tmp_path, text))

    assert errors
    assert {e.line for e in errors} <= {line_of(text, "after:"), line_of(text, f"{key}: ~")}


def test_a_null_event_type_list_is_a_located_error(tmp_path: Path) -> None:
    """A rule's own `on: ~` is E-MISSING at its line, not a TypeError (found by
    bench/fuzz_rules.py after `after.on: ~` was fixed: the same pydantic pattern)."""
    text = freeze_rule("on: rumor_flag", "on: ~")

    errors = errors_of(pack_with(tmp_path, text))

    assert [e.code for e in errors] == ["E-MISSING"]
    assert {e.line for e in errors} == {line_of(text, "on: ~")}


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        pytest.param("a{1001}", "invalid repetition size", id="overflow"),
        pytest.param("(?u)(?a)", "invalid perl operator", id="flags"),
    ],
)
def test_patterns_that_re_refused_with_other_errors_are_located(
    tmp_path: Path, pattern: str, said: str
) -> None:
    """Patterns `re.compile` refused with OverflowError or ValueError (found by
    bench/fuzz_rules.py), or their RE2 counterparts: each is E-REGEX at the pattern's line, not
    a traceback."""
    old = "  source:\n    in: [fact_check, authority_notice]"
    text = freeze_rule(old, f"  content_id: {{matches: '{pattern}'}}")

    errors = errors_of(pack_with(tmp_path, text))

    assert [(e.line, e.code) for e in errors] == [(line_of(text, "matches"), "E-REGEX")]
    assert said in errors[0].message


# --- bytes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x13", "\x7f", "\ufffe"])
def test_a_forbidden_character_is_reported_at_its_line(tmp_path: Path, char: str) -> None:
    """A NUL (or another character YAML forbids) on line 19 is reported at line 19, on one
    line (it was line 1, with the reader's position on a second line)."""
    text = freeze_rule("  verdict: malicious_rumor", f"  verdict: malicious{char}_rumor")

    errors = errors_of(pack_with(tmp_path, text))

    assert [(e.line, e.code) for e in errors] == [(19, "E-YAML")]
    assert f"U+{ord(char):04X}" in errors[0].message


def test_a_byte_that_is_not_utf8_is_reported_at_its_line(tmp_path: Path) -> None:
    """A byte that is not UTF-8 on line 19 is E-READ at line 19 (it was line 0)."""
    data = freeze_rule("  verdict: malicious_rumor", "  verdict: malicious\x00_rumor").encode()

    errors = errors_of(pack_with(tmp_path, data.replace(b"\x00", b"\xff")))

    assert [(e.line, e.code) for e in errors] == [(19, "E-READ")]


def test_a_line_break_inside_a_name_stays_on_one_error_line(tmp_path: Path) -> None:
    """An event type `"a\\nb"` is shown escaped: every error is one `file:line:` line."""
    errors = errors_of(pack_with(tmp_path, freeze_rule("on: rumor_flag", 'on: "a\\nb"')))

    assert [e.code for e in errors] == ["E-EVENT-TYPE"]
    assert "`a\\nb`" in str(errors[0])


# --- size ------------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """The freeze rule padded with a comment to exactly `size` bytes."""
    data = FREEZE.read_bytes() + b"# "
    return data + b"x" * (size - len(data) - 1) + b"\n"


def test_a_rule_file_of_exactly_the_size_limit_is_read(tmp_path: Path) -> None:
    """A rule file of exactly 1 MiB is read whole (parsing it is not the point here)."""
    path = pack_with(tmp_path, padded(MAX_FILE_BYTES)) / "rule.yaml"

    text = loader.read_source(path)

    assert isinstance(text, str)
    assert len(text.encode("utf-8")) == MAX_FILE_BYTES


def test_a_rule_file_one_byte_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    """One byte more is refused at line 1, before parsing."""
    errors = errors_of(pack_with(tmp_path, padded(MAX_FILE_BYTES + 1)))

    assert [(e.line, e.code) for e in errors] == [(1, "E-YAML-SIZE")]


def test_a_huge_sparse_rule_file_is_refused_by_its_size(tmp_path: Path) -> None:
    """A 4 GiB file (sparse: all NUL) is refused for its size, read no further than 1 MiB:
    not a parse of gigabytes ending in "NUL at line 1"."""
    folder = pack_with(tmp_path, b"")
    with (folder / "rule.yaml").open("r+b") as handle:
        handle.truncate(4 * 1024**3)

    errors = errors_of(folder)

    assert [(e.line, e.code) for e in errors] == [(1, "E-YAML-SIZE")]


def test_a_case_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    """Rule test case files have the same limit."""
    path = tmp_path / "cases.yaml"
    path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")

    with pytest.raises(CaseLoadError) as info:
        load_cases([path])

    assert [(e.line, e.code) for e in info.value.errors] == [(1, "E-YAML-SIZE")]


def test_text_over_the_size_limit_is_refused_by_the_parser() -> None:
    """Text handed to the parser directly (a rule read back from a db) has the limit too."""
    assert yaml_errors("a: 1\n# " + "x" * MAX_FILE_BYTES) == [(1, "E-YAML-SIZE")]


# --- random mutations ------------------------------------------------------------------------

ODD = [
    "~", "[", "]", "{", "}", "&a ", "*a", "<<: *a", "? ", "- ", ": ", "#", "'", '"', "\t", "\r",
    "\n", ",", "|", "!!int ", "!foo ", '"\\ud83d"', "\x00", "\x85", "\u2028", "\ufeff", "0x_",
    "2024-02-30", "9" * 30, "[" * 70, "{a: " * 70, "  ", "\n  - ", "null", "true", "1.5",
]  # fmt: skip


@st.composite
def mutated_rule(draw: st.DrawFn) -> bytes:
    """The freeze rule with a few random edits: tokens inserted, lines dropped or doubled,
    bytes replaced."""
    text = FREEZE.read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["insert", "drop", "double", "replace"]))
        if how == "insert":
            text = text[:at] + draw(st.sampled_from(ODD)) + text[at:]
        elif how in ("drop", "double"):
            n = draw(st.integers(0, len(lines) - 1))
            lines[n : n + 1] = [] if how == "drop" else [lines[n], lines[n]]
            text = "\n".join(lines)
        else:
            text = text[:at] + draw(st.characters(codec="utf-8")) + text[at + 1 :]
    return text.encode("utf-8", "surrogatepass")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated_rule())
def test_random_mutations_load_or_are_located_errors(tmp_path: Path, data: bytes) -> None:
    """A randomly mutated rule file loads, or raises RuleLoadError of well-formed lines:
    never another exception."""
    folder = pack_with(tmp_path, data)

    try:
        load_ruleset(folder)
    except RuleLoadError as exc:
        for error in exc.errors:
            assert ERROR_LINE.match(str(error)), str(error)
            str(error).encode("utf-8")
