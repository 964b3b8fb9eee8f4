"""Rule files: the default pack loads, and every broken file is reported at its exact line.

Everything goes through the public `load_ruleset`, which raises one `RuleLoadError` carrying every
`RuleFileError` found, sorted by file and line. Each error case below is a whole rule file, so the
expected line number can be counted by eye.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # jsonschema ships no type information
import pytest
from ruamel.yaml import YAML

from blacklist_rules import (
    RuleFileError,
    RuleLoadError,
    load_ruleset,
    parse_duration,
    rule_json_schema,
)
from blacklist_rules.cli import main

TESTS = Path(__file__).resolve().parent
RULES = TESTS.parent / "rules"
BROKEN = TESTS / "rulepacks" / "broken"
GOLDEN = TESTS / "golden" / "rule_errors.txt"
DEFAULT_RULE_FILES = sorted(RULES.rglob("*.yaml"))


def write_rule(folder: Path, text: str, name: str = "rule.yaml") -> Path:
    """Write one rule file (dedented, so line 1 is the first line of `text`) and return it."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_errors(location: Path) -> list[RuleFileError]:
    """The errors of a pack that must not load."""
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(location)
    return info.value.errors


def relative_report(errors: list[RuleFileError], pack: Path, shown_as: str) -> str:
    """Every error as `str()`, one a line, with the pack's path shown as `shown_as`."""
    text = "\n".join(map(str, errors))
    return text.replace(str(pack), shown_as).replace(os.sep, "/")


def yaml_data(path: Path) -> Any:
    """A rule file as plain data, read as YAML 1.2 independently of the loader under test."""
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    return yaml.load(path.read_text(encoding="utf-8"))


# --- the default pack ------------------------------------------------------------------------


def test_default_pack_loads() -> None:
    """Every file of `rules/` becomes one compiled rule, each with a unique id."""
    ruleset = load_ruleset(RULES)

    assert DEFAULT_RULE_FILES
    assert sorted(Path(rule.source) for rule in ruleset.rules) == DEFAULT_RULE_FILES
    assert len({rule.id for rule in ruleset.rules}) == len(DEFAULT_RULE_FILES)


def test_digest_is_stable_across_loads() -> None:
    """Loading the same pack twice gives the same SHA-256 digest."""
    first = load_ruleset(RULES).digest
    second = load_ruleset(RULES).digest

    assert first == second
    assert re.fullmatch(r"[0-9a-f]{64}", first)


def test_digest_does_not_depend_on_location(tmp_path: Path) -> None:
    """The digest names the content: a copy of the pack elsewhere has the same digest."""
    copy = shutil.copytree(RULES, tmp_path / "rules")

    assert load_ruleset(copy).digest == load_ruleset(RULES).digest


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("version: 1", "version: 2", id="version"),
        pytest.param("action: blacklist", "action: cancel", id="action"),
        pytest.param("confirmed: true", "confirmed: false", id="condition"),
    ],
)
def test_digest_changes_when_a_rule_changes(tmp_path: Path, old: str, new: str) -> None:
    """Editing one rule of a copied pack changes the digest."""
    copy = shutil.copytree(RULES, tmp_path / "rules")
    before = load_ruleset(copy).digest
    path = copy / "impersonation" / "blacklist-confirmed-impersonation.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")

    assert load_ruleset(copy).digest != before


# --- YAML 1.2: `on`, `yes` and friends are strings --------------------------------------------


def test_bare_on_key_is_the_string_on(tmp_path: Path) -> None:
    """A bare `on:` key is the string "on" (YAML 1.2), so the rule listens to its event type."""
    write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        then:
          action: freeze
          reason: Always.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    (rule,) = load_ruleset(tmp_path).rules

    assert rule.event_types == ("identity_verification",)


def test_default_pack_on_keys_are_event_types() -> None:
    """Each default rule listens to exactly the event types its file's `on` key names; a
    deadline rule (no `on`) to the passing of time."""
    loaded = {rule.id: rule.event_types for rule in load_ruleset(RULES).rules}
    for path in DEFAULT_RULE_FILES:
        data = yaml_data(path)
        on = data.get("on", ["deadline"])
        on = on if isinstance(on, list) else [on]
        assert loaded[data["id"]] == tuple(on), path


def test_on_yes_is_the_unknown_event_type_yes(tmp_path: Path) -> None:
    """`on: yes` is the string "yes" in YAML 1.2, not true: an unknown event type."""
    path = write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: yes
        then:
          action: freeze
          reason: Always.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    (error,) = load_errors(tmp_path)

    assert (error.file, error.line, error.code) == (str(path), 5, "E-EVENT-TYPE")
    assert error.message == "unknown event type `yes`"


def test_bare_yes_value_is_text_not_true(tmp_path: Path) -> None:
    """`confirmed: yes` compares a boolean with the text "yes": a value-type error."""
    write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: impersonation_report
        when:
          confirmed: yes
        then:
          action: blacklist
          reason: Confirmed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    (error,) = load_errors(tmp_path)

    assert (error.line, error.code) == (7, "E-VALUE-TYPE")
    assert "'yes'" in error.message


# --- each error kind, at its line ------------------------------------------------------------

ERROR_CASES = [
    pytest.param(
        """\
        id: r1
        version: 1
        description: Broken indentation.
          basis: misplaced
        on: identity_verification
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        4,
        "E-YAML",
        "mapping values are not allowed",
        None,
        id="yaml-syntax",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        version: 2
        on: identity_verification
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        5,
        "E-YAML",
        'duplicate key "version"',
        None,
        id="yaml-duplicate-key",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          status: failed
          status: passed
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-YAML",
        'duplicate key "status"',
        None,
        id="yaml-duplicate-key-nested",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        basis: Test.
        on: identity_verification
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        1,
        "E-MISSING",
        "missing required key `description`",
        None,
        id="missing-description",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        on: identity_verification
        then:
          action: freeze
          reason: Failed.
        """,
        1,
        "E-MISSING",
        "missing required key `basis`",
        None,
        id="missing-basis",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        then:
          action: freeze
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        6,
        "E-MISSING",
        "missing required key `then.reason`",
        None,
        id="missing-then-reason",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        then:
          action: freeze
          reasn: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-KEY",
        "unknown key `then.reasn`",
        "did you mean `reason`?",
        id="unknown-then-key",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        then:
          action: ban
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        7,
        "E-SPEC",
        "`then.action`",
        None,
        id="unknown-action",
    ),
    pytest.param(
        """\
        id: r1
        version: 0
        description: A rule.
        basis: Test.
        on: identity_verification
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        2,
        "E-SPEC",
        "`version`",
        None,
        id="version-below-one",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verificaton
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        5,
        "E-EVENT-TYPE",
        "unknown event type `identity_verificaton`",
        "did you mean `identity_verification`?",
        id="unknown-event-type",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on:
          - registration
          - registraton
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        7,
        "E-EVENT-TYPE",
        "unknown event type `registraton`",
        "did you mean `registration`?",
        id="unknown-event-type-in-list",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          staus: failed
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        7,
        "E-FIELD",
        "`identity_verification` events have no field `staus`",
        "did you mean `status`?",
        id="unknown-field",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: [identity_verification, registration]
        when:
          status: failed
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        7,
        "E-FIELD",
        "`registration` events have no field `status`",
        None,
        id="field-on-one-event-type-only",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: rumor_flag
        when:
          reach:
            gtee: 10
        then:
          action: freeze
          reason: Wide reach.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-OP",
        "unknown operator `gtee`",
        "did you mean `gte`?",
        id="unknown-operator",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: impersonation_report
        when:
          confirmed: "yes"
        then:
          action: blacklist
          reason: Confirmed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        7,
        "E-VALUE-TYPE",
        "`confirmed` is true or false, not 'yes'",
        None,
        id="quoted-boolean",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: rumor_flag
        when:
          reach:
            gt: "10"
        then:
          action: freeze
          reason: Wide reach.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-VALUE-TYPE",
        "`reach` is a whole number, not '10'",
        None,
        id="quoted-number",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          status: faild
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        7,
        "E-VALUE",
        "`status` is never 'faild'",
        "did you mean `failed`?",
        id="enum-value",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          status:
            in: [failed, faild]
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-VALUE",
        "`status` is never 'faild'",
        "did you mean `failed`?",
        id="enum-value-in-list",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: impersonation_report
        when:
          confirmed:
            gt: 1
        then:
          action: blacklist
          reason: Confirmed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-OP-KIND",
        "`gt` does not apply to `confirmed` (bool)",
        "use one of: eq, exists, ne",
        id="operator-not-for-kind",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          reason:
            matches: '(forg)\\1ed'
        then:
          action: cancel
          reason: Forged.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-REGEX",
        "invalid pattern '(forg)\\\\1ed': invalid escape sequence: \\1",
        "backreferences are not RE2 syntax",
        id="regex-backreference",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          reason:
            matches: "(ab"
        then:
          action: cancel
          reason: Broken.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        8,
        "E-REGEX",
        "invalid pattern '(ab'",
        None,
        id="regex-invalid",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          status: failed
        then:
          action: cancel
          duration: 30d
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        10,
        "E-THEN",
        "`duration` applies to freeze only, not cancel",
        None,
        id="duration-on-cancel",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          status: failed
        then:
          action: blacklist
          until: verification_passed
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        10,
        "E-THEN",
        "`until` applies to freeze only, not blacklist",
        None,
        id="until-on-blacklist",
    ),
    *(
        pytest.param(
            f"""\
            id: r1
            version: 1
            description: A rule.
            basis: Test.
            on: identity_verification
            when:
              status: failed
            then:
              action: freeze
              duration: {duration}
              reason: Failed.
            dsa: {{category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC,
                  ground: incompatible, reference: t}}
            """,
            10,
            "E-SPEC",
            "`then.duration`",
            None,
            id=f"duration-{duration}",
        )
        for duration in ("30x", "0d", "-1d", "30", "1.5d")
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          reason: [forged_document, invalid_id_number]
        then:
          action: cancel
          reason: Forged.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        7,
        "E-COND",
        "`reason` is given a list",
        "`{in: [...]}`",
        id="list-as-value",
    ),
    pytest.param(
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        when:
          all:
            - status: failed
          reason: forged_document
        then:
          action: cancel
          reason: Forged.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
        6,
        "E-COND",
        "`all` must be alone in its mapping",
        "its own list item",
        id="combinator-not-alone",
    ),
    pytest.param(
        """\
        - id: r1
        - id: r2
        """,
        1,
        "E-YAML",
        "a rule file must be a YAML mapping",
        None,
        id="yaml-list-not-mapping",
    ),
    pytest.param(
        "",
        1,
        "E-YAML",
        "a rule file must be a YAML mapping",
        None,
        id="empty-file",
    ),
]


@pytest.mark.parametrize(("text", "line", "code", "message", "hint"), ERROR_CASES)
def test_error_kind_is_reported_at_its_line(
    tmp_path: Path, text: str, line: int, code: str, message: str, hint: str | None
) -> None:
    """One broken rule file gives an error of the expected code, at the expected line.

    `message` and `hint` are parts of the error's message and hint; a `None` hint is not checked.
    """
    path = write_rule(tmp_path, text)

    errors = load_errors(tmp_path)

    matching = [error for error in errors if error.code == code and message in error.message]
    assert len(matching) == 1, errors
    (error,) = matching
    assert (error.file, error.line) == (str(path), line)
    if hint is not None:
        assert error.hint is not None
        assert hint in error.hint


def test_misspelt_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    """`descripton` is an unknown key (with a did-you-mean), and `description` is then missing."""
    path = write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        descripton: A rule.
        basis: Test.
        on: identity_verification
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    errors = load_errors(tmp_path)

    assert [str(error) for error in errors] == [
        f"{path}:1: E-MISSING: missing required key `description`",
        f"{path}:3: E-KEY: unknown key `descripton` (did you mean `description`?)",
    ]


def test_rule_file_error_str_is_file_line_code_message_hint() -> None:
    """`str()` of an error is `file:line: code: message (hint)`, without `()` when no hint."""
    with_hint = RuleFileError("r.yaml", 7, "E-FIELD", "no field `staus`", "did you mean `status`?")
    without = RuleFileError("r.yaml", 1, "E-MISSING", "missing required key `basis`")

    assert str(with_hint) == "r.yaml:7: E-FIELD: no field `staus` (did you mean `status`?)"
    assert str(without) == "r.yaml:1: E-MISSING: missing required key `basis`"


VALID_RULE = """\
id: same-id
version: 1
description: A rule.
basis: Test.
on: identity_verification
when:
  status: failed
then:
  action: freeze
  reason: Failed.
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    """Two files with one id: the second (in path order) is reported, the hint names the first."""
    first = write_rule(tmp_path, VALID_RULE, "a/first.yaml")
    second = write_rule(tmp_path, "# the same rule again\n" + VALID_RULE, "b/second.yaml")

    (error,) = load_errors(tmp_path)

    assert (error.file, error.line, error.code) == (str(second), 2, "E-DUP-ID")
    assert error.message == "rule id `same-id` is already used"
    assert error.hint == f"first used in {first}:1"


def test_empty_folder(tmp_path: Path) -> None:
    """A folder without rule files is an error, not an empty ruleset."""
    (tmp_path / "notes.txt").write_text("not a rule", encoding="utf-8")

    (error,) = load_errors(tmp_path)

    assert (error.file, error.code) == (str(tmp_path), "E-EMPTY")


def test_missing_folder(tmp_path: Path) -> None:
    """A path that does not exist is an error naming it."""
    missing = tmp_path / "nowhere"

    (error,) = load_errors(missing)

    assert (error.file, error.code) == (str(missing), "E-PATH")


# --- a broken pack: every error at once ------------------------------------------------------


def test_broken_pack_reports_every_error_sorted() -> None:
    """Several files with several errors each come back together in one error, sorted."""
    with pytest.raises(RuleLoadError) as info:
        load_ruleset(BROKEN)
    errors = info.value.errors

    per_file: dict[str, int] = {}
    for error in errors:
        per_file[error.file] = per_file.get(error.file, 0) + 1
    assert len(per_file) >= 8
    assert sum(1 for count in per_file.values() if count >= 3) >= 3
    assert [(e.file, e.line) for e in errors] == sorted((e.file, e.line) for e in errors)
    assert str(info.value).startswith(f"{len(errors)} errors in rule files:\n")
    # The one valid file is not reported on its own, but nothing was loaded either.
    assert str(BROKEN / "identity" / "good.yaml") not in per_file


def test_broken_pack_matches_golden_file() -> None:
    """The rendered errors of `rulepacks/broken/` equal `golden/rule_errors.txt`.

    Run with UPDATE_GOLDEN=1 to rewrite the golden file after a deliberate change, then review
    the diff.
    """
    errors = load_errors(BROKEN)
    report = relative_report(errors, BROKEN, "broken") + "\n"

    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(report, encoding="utf-8")
    assert str(TESTS) not in report
    assert report == GOLDEN.read_text(encoding="utf-8")


# --- YAML safety -----------------------------------------------------------------------------

TAGGED_RULE = """\
id: r1
version: 1
description: {description}
basis: Test.
on: {on}
when:
  reason: {reason}
then:
  action: freeze
  reason: Tagged.
dsa: {{category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: Test.}}
"""


def tagged_rule(
    description: str = "A rule.",
    on: str = "identity_verification",
    reason: str = "forged_document",
) -> str:
    """A rule file with `description` (line 3), `on` (line 5) or `reason` (line 7) replaced."""
    return TAGGED_RULE.format(description=description, on=on, reason=reason)


def _payloads(marker: Path) -> dict[str, str]:
    """Tagged values that would create `marker` if a loader ever built Python objects."""
    shell = json.dumps(f"touch {marker}")  # a JSON string is a YAML double-quoted scalar
    code = json.dumps(f"open({str(marker)!r}, 'w').close()")
    return {
        "os.system": f"!!python/object/apply:os.system [{shell}]",
        "subprocess.call": f"!!python/object/apply:subprocess.call [[sh, -c, {shell}]]",
        "exec": f"!!python/object/apply:builtins.exec [{code}]",
    }


@pytest.mark.parametrize("place", ["description", "on", "reason"])
@pytest.mark.parametrize("payload", ["os.system", "subprocess.call", "exec"])
def test_python_tags_never_run_anything(tmp_path: Path, place: str, payload: str) -> None:
    """A Python tag never constructs an object or runs a command, wherever it stands."""
    marker = tmp_path / "pwned"
    write_rule(tmp_path / "pack", tagged_rule(**{place: _payloads(marker)[payload]}))

    with contextlib.suppress(RuleLoadError):
        load_ruleset(tmp_path / "pack")

    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(
            tagged_rule(description='!!python/object/apply:os.system ["echo pwned"]'),
            3,
            id="tag-on-text",
        ),
        pytest.param(
            tagged_rule(reason='!!python/object/apply:os.system ["echo pwned"]'),
            7,
            id="tag-on-condition-value",
        ),
        pytest.param(
            tagged_rule(on="!!python/object/apply:os.system [identity_verification]"),
            5,
            id="tag-on-event-type-list",
        ),
        pytest.param(
            tagged_rule(reason="!!python/object:os.PathLike {eq: forged_document}"),
            7,
            id="tag-on-condition-mapping",
        ),
    ],
)
def test_python_tags_fail_to_load(tmp_path: Path, text: str, line: int) -> None:
    """A file with a Python tag as a value does not load, and an error is at the tag's line."""
    write_rule(tmp_path, text)

    errors = load_errors(tmp_path)

    assert line in [error.line for error in errors]


# --- the published JSON Schema ---------------------------------------------------------------


def test_published_schema_is_generated_from_the_spec() -> None:
    """`rules/rule.schema.json` is exactly `rule_json_schema()`: the two never drift."""
    published = json.loads((RULES / "rule.schema.json").read_text(encoding="utf-8"))

    assert published == rule_json_schema()


def test_published_schema_is_a_valid_json_schema() -> None:
    """The schema itself is valid Draft 2020-12."""
    jsonschema.Draft202012Validator.check_schema(rule_json_schema())


@pytest.mark.parametrize("path", DEFAULT_RULE_FILES, ids=lambda path: path.name)
def test_default_rule_files_validate_against_schema(path: Path) -> None:
    """Every file of the default pack is valid against the published schema."""
    validator = jsonschema.Draft202012Validator(rule_json_schema())

    errors = [error.message for error in validator.iter_errors(yaml_data(path))]

    assert errors == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("description:", "descripton:", id="unknown-key"),
        pytest.param("action: blacklist", "action: ban", id="unknown-action"),
        pytest.param("confirmed: true", "confirmed: {gtee: 1}", id="unknown-operator"),
        pytest.param("confirmed: true", "confirmed: [true, false]", id="list-as-value"),
        pytest.param("confirmed: true", "all: {confirmed: true}", id="all-not-a-list"),
    ],
)
def test_schema_rejects_what_the_loader_rejects(tmp_path: Path, old: str, new: str) -> None:
    """Shape errors the loader refuses are refused by the schema too."""
    source = RULES / "impersonation" / "blacklist-confirmed-impersonation.yaml"
    path = write_rule(tmp_path, source.read_text(encoding="utf-8").replace(old, new, 1))
    validator = jsonschema.Draft202012Validator(rule_json_schema())

    assert not validator.is_valid(yaml_data(path))
    assert load_errors(tmp_path)


# --- the command line ------------------------------------------------------------------------


def test_cli_validate_default_pack(capsys: pytest.CaptureFixture[str]) -> None:
    """`validate rules/` exits 0 and lists every rule with the digest."""
    code = main(["validate", str(RULES)])

    out, err = capsys.readouterr()
    assert code == 0
    assert load_ruleset(RULES).digest in out
    for rule in load_ruleset(RULES).rules:
        assert rule.id in out
    assert err == ""


def test_cli_validate_broken_pack(capsys: pytest.CaptureFixture[str]) -> None:
    """`validate` on the broken pack exits 1 and prints every error as `file:line: ...`."""
    expected = [str(error) for error in load_errors(BROKEN)]

    code = main(["validate", str(BROKEN)])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    *lines, summary = err.splitlines()
    assert lines == expected
    assert all(re.match(r"^\S+\.ya?ml:\d+: E-[A-Z-]+: ", line) for line in lines)
    assert summary == f"{len(expected)} error(s); nothing was loaded"


# --- known bugs: these fail today ------------------------------------------------------------


def test_empty_event_type_list_is_an_error(tmp_path: Path) -> None:
    """A rule must listen to at least one event type."""
    write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: []
        then:
          action: freeze
          reason: Never.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    (error,) = load_errors(tmp_path)

    assert error.line == 5


def test_unclosed_quote_points_at_its_opening_line(tmp_path: Path) -> None:
    """An unterminated quoted string is reported where it starts, not at the end of the file."""
    write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: "A rule.
        basis: Test.
        on: identity_verification
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    (error,) = load_errors(tmp_path)

    assert (error.code, error.line) == ("E-YAML", 3)


def test_non_string_key_is_reported_at_its_line(tmp_path: Path) -> None:
    """A key YAML 1.2 reads as a boolean (`true:`) is an unknown key at its own line."""
    write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        true: identity_verification
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    errors = load_errors(tmp_path)

    assert ("E-KEY", 5) in [(error.code, error.line) for error in errors]


def test_invalid_duration_says_how_to_write_one(tmp_path: Path) -> None:
    """An invalid duration explains the format instead of quoting a regular expression."""
    write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on: identity_verification
        then:
          action: freeze
          duration: 30x
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    (error,) = load_errors(tmp_path)

    assert "positive whole number" in f"{error.message} {error.hint}"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("3000000d", "is longer than 100 years (36525d)"),
        ("1000000h", "is longer than 100 years (36525d)"),
        ("9" * 40 + "w", "is longer than 100 years (36525d)"),
        ("1000000s", "has more than 6 digits: write it in a larger unit"),
        ("52596000m", "has more than 6 digits: write it in a larger unit"),  # 100 years
    ],
)
def test_a_duration_with_too_many_digits_says_what_is_wrong(text: str, said: str) -> None:
    """A well-formed number of more than 6 digits is not told to be a positive whole number:
    it is longer than 100 years, or (in seconds or minutes) to be written in a larger unit."""
    with pytest.raises(ValueError, match=r"^duration '\w+' ") as refused:
        parse_duration(text)
    assert said in str(refused.value)
    assert "positive whole number" not in str(refused.value)


def test_bad_item_of_event_type_list_is_reported_at_its_line(tmp_path: Path) -> None:
    """A number among the event types is one error, at the item's line, named `on.1`."""
    write_rule(
        tmp_path,
        """\
        id: r1
        version: 1
        description: A rule.
        basis: Test.
        on:
          - registration
          - 5
        then:
          action: freeze
          reason: Failed.
        dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
        """,
    )

    (error,) = load_errors(tmp_path)

    assert (error.line, error.message.split(":")[0]) == (7, "`on.1`")


def test_an_overlong_pattern_is_refused(tmp_path: Path) -> None:
    """Patterns are capped at 200 characters, reported at the pattern's line."""
    path = tmp_path / "rule.yaml"
    path.write_text(
        "id: r1\nversion: 1\ndescription: A rule.\nbasis: Test.\non: identity_verification\n"
        f"when:\n  reason:\n    matches: {'a' * 201}\nthen: {{action: cancel, reason: R.}}\n"
        "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC,"
        " ground: incompatible, reference: t}\n"
    )
    (error,) = load_errors(tmp_path)
    assert (error.code, error.line) == ("E-REGEX", 8)
    assert "longer than 200 characters" in error.message


def test_reasons_are_trimmed_of_the_newline_a_folded_block_ends_with() -> None:
    """`reason: >` ends in a newline in YAML; decisions and `status` lines must not."""
    ruleset = load_ruleset(RULES)
    folded = [rule for rule in ruleset.rules if rule.id == "freeze-suspected-impersonation"]
    assert folded  # its reason is a folded block
    for rule in ruleset.rules:
        assert rule.reason == rule.reason.strip(), rule.id
