"""`blacklist-rules lint` (issue 17, item 5): each check at its edge, the JSON output and its
schema, the exit codes, and the golden rendering of every kind of finding. The version
checks against git and a db are in test_lint_versions.py."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from blacklist_rules import default_rules_path
from blacklist_rules.cli import main
from blacklist_rules.pack.conditions import All, AnyOf, Compare, Condition, Not
from blacklist_rules.pack.lint.shadows import implies

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden" / "lint_findings.txt"
SUSPECTED = Path("impersonation") / "freeze-suspected-impersonation.yaml"
CONFIRMED = Path("impersonation") / "blacklist-confirmed-impersonation.yaml"
RUMOURS = Path("rumours") / "freeze-repeated-malicious-rumours.yaml"
DSA = "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: T}"


def pack_copy(folder: Path, *, notices: bool = True) -> Path:
    """A copy of the default pack (without its notice templates when `notices` is False)."""
    ignore = None if notices else shutil.ignore_patterns("notices")
    shutil.copytree(default_rules_path(), folder, ignore=ignore)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    """Replace text that must be there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def rule(folder: Path, name: str, body: str) -> None:
    """A rule file `name.yaml` with id `name`, version 1, the common keys, and `body`."""
    head = f"id: {name}\nversion: 1\ndescription: D.\nbasis: B.\n{DSA}\n"
    (folder / f"{name}.yaml").write_text(head + textwrap.dedent(body), encoding="utf-8")


def lint(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, list[dict[str, object]]]:
    """`blacklist-rules lint ARGV --format json`: the exit code and the findings."""
    code = main(["lint", *map(str, argv), "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def codes(findings: list[dict[str, object]]) -> list[str]:
    return [str(f["code"]) for f in findings]


# --- versions against an older folder -----------------------------------------------------


@pytest.fixture
def packs(tmp_path: Path) -> tuple[Path, Path]:
    """An old and a new copy of the default pack, the same for now."""
    return pack_copy(tmp_path / "old"), pack_copy(tmp_path / "new")


def test_a_changed_rule_that_kept_its_version_is_an_error(
    packs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A threshold changed, `version: 1` kept: E-VERSION at its `version:` line, both
    digests named, the next version in the hint; exit 7."""
    old, new = packs
    edit(new / SUSPECTED, "count: 3", "count: 4")
    edit(new / SUSPECTED, "Three or more users", "Four or more users")
    edit(new / SUSPECTED, "Three or more different", "Four or more different")
    code, found = lint(capsys, new, "--against", old)
    assert code == 7
    (finding,) = found
    assert finding["code"] == "E-VERSION"
    assert finding["severity"] == "error"
    assert finding["file"] == str(new / SUSPECTED)
    assert finding["line"] == 4
    assert f"version 1 says something else in {old}" in str(finding["message"])
    assert str(finding["hint"]).startswith("bump `version` to 2")


def test_a_changed_rule_with_a_new_version_is_clean(
    packs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same change with `version: 2`: nothing to say, exit 0."""
    old, new = packs
    edit(new / SUSPECTED, "count: 3", "count: 4")
    edit(new / SUSPECTED, "Three or more users", "Four or more users")
    edit(new / SUSPECTED, "Three or more different", "Four or more different")
    edit(new / SUSPECTED, "version: 1", "version: 2")
    assert lint(capsys, new, "--against", old) == (0, [])


def test_layout_and_comments_are_not_a_change(
    packs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Comments, indentation, key order and a folded reason re-wrapped say the same rule."""
    old, new = packs
    edit(new / SUSPECTED, "  count: 3\n", "  count:    3   # three people\n")
    edit(new / SUSPECTED, "priority: 40\nmode: enforce\n", "mode: enforce\n\n\npriority: 40\n")
    edit(new / SUSPECTED, "within 7 days; it is\n    frozen", "within 7 days;\n    it is frozen")
    assert lint(capsys, new, "--against", old) == (0, [])


def test_an_identical_pack_is_clean(
    packs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same files: no finding, exit 0, and `[]` as JSON."""
    old, new = packs
    assert lint(capsys, new, "--against", old) == (0, [])


def test_a_version_that_went_back_is_a_warning(
    packs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The old pack had version 2; the new one says 1: W-VERSION-BACK, hint version 3."""
    old, new = packs
    edit(old / SUSPECTED, "version: 1", "version: 2")
    code, found = lint(capsys, new, "--against", old)
    assert (code, codes(found)) == (7, ["W-VERSION-BACK"])
    assert "give it version 3" in str(found[0]["hint"])


def test_an_old_rule_that_no_longer_loads_is_unproven_not_equal(
    packs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The old text has a key this code refuses: its id and version are still read, and the
    changed text is reported as possibly different."""
    old, new = packs
    edit(old / SUSPECTED, "priority: 40", "priority: 40\nretired_key: 1")
    code, found = lint(capsys, new, "--against", old)
    assert (code, codes(found)) == (7, ["W-VERSION-UNPROVEN"])
    assert "may say something else" in str(found[0]["message"])


def test_a_missing_old_pack_is_a_usage_error(
    packs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--against` a folder that is not there: exit 2, one line."""
    _, new = packs
    assert main(["lint", str(new), "--against", str(new / "nowhere")]) == 2
    assert capsys.readouterr().err == f"error: no such pack to compare with: {new / 'nowhere'}\n"


# --- rules that can never decide ----------------------------------------------------------

RULE = "on: impersonation_report\nwhen: {when}\nthen: {{action: {action}, reason: R.}}\n"


@pytest.mark.parametrize(
    ("strong", "weak", "shadowed"),
    [
        ("{confirmed: true}", "{confirmed: true}", True),  # the same condition
        ("{confirmed: true}", "{confirmed: true, reporter_id: r1}", True),  # a subset of it
        ("{reporter_id: {in: [r1, r2]}}", "{reporter_id: r1}", True),  # a value in a list
        ("{confirmed: true}", "{any: [{confirmed: true}, {reporter_id: r1}]}", False),
        ("{confirmed: true, reporter_id: r1}", "{confirmed: true}", False),  # stronger
        ("{confirmed: true}", "{confirmed: false}", False),
    ],
)
def test_a_more_severe_rule_on_a_weaker_condition_shadows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], strong: str, weak: str, shadowed: bool
) -> None:
    """A freeze never decides when a blacklist on the same events holds whenever it does."""
    rule(tmp_path, "blacklist-it", RULE.format(when=strong, action="blacklist"))
    rule(tmp_path, "freeze-it", RULE.format(when=weak, action="freeze"))
    code, found = lint(capsys, tmp_path)
    assert codes(found) == (["W-SHADOWED"] if shadowed else [])
    assert code == (7 if shadowed else 0)
    if shadowed:
        assert found[0]["file"] == str(tmp_path / "freeze-it.yaml")
        assert "`freeze-it` (freeze) can never decide: `blacklist-it`" in str(found[0]["message"])


@pytest.mark.parametrize(
    ("first", "second", "shadowed"),
    [
        (("cancel", 10), ("cancel", 20), True),  # as severe, first by priority
        (("freeze", 10), ("freeze", 20), False),  # a frozen account takes another freeze
        (("freeze", 10), ("blacklist", 20), True),  # severity before priority
    ],
)
def test_equal_severity_shadows_except_freezes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    first: tuple[str, int],
    second: tuple[str, int],
    shadowed: bool,
) -> None:
    """Of two rules on one condition the first by severity, then priority, decides."""
    for name, (action, priority) in (("first", first), ("second", second)):
        body = RULE.format(when="{confirmed: true}", action=action) + f"priority: {priority}\n"
        rule(tmp_path, name, body)
    _, found = lint(capsys, tmp_path)
    assert codes(found) == (["W-SHADOWED"] if shadowed else [])


def test_other_event_types_modes_and_windows_do_not_shadow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A weaker rule also listening elsewhere, one in shadow mode, and one whose window the
    stronger rule's does not reach, can each decide."""
    rule(tmp_path, "blacklist-it", RULE.format(when="{confirmed: true}", action="blacklist"))
    rule(
        tmp_path,
        "freeze-wider",
        "on: [impersonation_report, rumor_flag]\nthen: {action: freeze, reason: R.}\n",
    )
    rule(
        tmp_path,
        "freeze-shadow",
        RULE.format(when="{confirmed: true}", action="freeze") + "mode: shadow\n",
    )
    window = "window: {{count: {n}, within: 7d}}\n"
    rule(
        tmp_path,
        "cancel-windowed",
        RULE.format(when="{confirmed: false}", action="cancel") + window.format(n=3),
    )
    rule(
        tmp_path,
        "freeze-windowed",
        RULE.format(when="{confirmed: false}", action="freeze") + window.format(n=2),
    )
    assert lint(capsys, tmp_path) == (0, [])
    edit(tmp_path / "cancel-windowed.yaml", "count: 3", "count: 2")
    _, found = lint(capsys, tmp_path)
    assert [(f["code"], Path(str(f["file"])).name) for f in found] == [
        ("W-SHADOWED", "freeze-windowed.yaml")
    ]


def test_a_deadline_after_a_decision_at_least_as_severe_never_decides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cancel 15 days after a blacklist: the account is blacklisted all along. After a
    freeze (which may end) it is not reported."""
    rule(tmp_path, "blacklist-it", RULE.format(when="{confirmed: true}", action="blacklist"))
    rule(tmp_path, "freeze-it", RULE.format(when="{confirmed: false}", action="freeze"))
    deadline = "deadline: {{after: {{decision: {anchor}}}, within: 15d}}\n"
    then = "then: {action: cancel, reason: R.}\n"
    rule(tmp_path, "cancel-later", deadline.format(anchor="blacklist-it") + then)
    rule(tmp_path, "cancel-after-freeze", deadline.format(anchor="freeze-it") + then)
    _, found = lint(capsys, tmp_path)
    assert [(f["code"], Path(str(f["file"])).name) for f in found] == [
        ("W-NEVER-ABOVE", "cancel-later.yaml")
    ]


def _c(field: str, op: str, value: object) -> Compare:
    return Compare(field, op, value, ())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (_c("n", "gte", 5), _c("n", "gt", 3), True),
        (_c("n", "gt", 3), _c("n", "gte", 4), True),  # whole numbers
        (_c("n", "gt", 3), _c("n", "gte", 5), False),
        (_c("n", "eq", 4), _c("n", "lt", 5), True),
        (_c("s", "eq", "x"), _c("s", "exists", True), True),
        (_c("s", "exists", True), _c("s", "eq", "x"), False),
        (_c("s", "eq", "x"), _c("s", "ne", "y"), True),
        (_c("b", "eq", True), _c("b", "ne", 1), False),  # True == 1: not provable
        (_c("s", "in", ("x", "y")), _c("s", "not_in", ("z",)), True),
        (_c("s", "not_in", ("x", "y")), _c("s", "not_in", ("x",)), True),
        (_c("s", "not_in", ("x",)), _c("s", "not_in", ("x", "y")), False),
        (Not(_c("s", "eq", "x"), ()), Not(_c("s", "eq", "x"), ()), True),
        (Not(_c("s", "eq", "x"), ()), Not(_c("s", "in", ("x", "y")), ()), False),  # unproven
        (AnyOf((_c("s", "eq", "x"), _c("s", "eq", "y")), ()), _c("s", "in", ("x", "y")), True),
        (All((_c("s", "eq", "x"), _c("n", "gt", 1)), ()), _c("n", "gt", 0), True),
        (None, _c("n", "gt", 0), False),
        (_c("n", "gt", 0), None, True),
    ],
)
def test_implication_is_claimed_only_when_provable(
    a: Condition | None, b: Condition | None, expected: bool
) -> None:
    """Whenever `a` holds `b` does: true only where the trees prove it."""
    assert implies(a, b) is expected


# --- notices and reasons ------------------------------------------------------------------


def test_a_template_that_drops_what_its_section_carries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[decision.freeze.until_time]` without `$expires_at` in English: W-NOTICE-UNUSED
    there, and W-NOTICE-LANG as Chinese still says it."""
    pack = pack_copy(tmp_path / "pack")
    edit(pack / "notices" / "en.txt", "until $expires_at. The freeze", "for a while. The freeze")
    _, found = lint(capsys, pack)
    assert [(f["code"], f["line"], f["file"]) for f in found] == [
        ("W-NOTICE-LANG", 46, str(pack / "notices" / "en.txt")),
        ("W-NOTICE-UNUSED", 46, str(pack / "notices" / "en.txt")),
    ]


def test_a_rule_notice_that_one_language_leaves_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Chinese evidence no longer says `$count`: W-NOTICE-LANG at its line; `$anchor_at`
    in a rule without a deadline: W-NOTICE-VAR."""
    pack = pack_copy(tmp_path / "pack")
    edit(pack / RUMOURS, "您发布的 $count 条内容", "您发布的内容")
    edit(pack / SUSPECTED, "Between $first and $last,", "Since $anchor_at,")
    edit(pack / SUSPECTED, "$first 至 $last 期间，", "自 $anchor_at 起，")  # noqa: RUF001
    _, found = lint(capsys, pack)
    assert [(f["code"], Path(str(f["file"])).name) for f in found] == [
        ("W-NOTICE-VAR", SUSPECTED.name),
        ("W-NOTICE-VAR", SUSPECTED.name),
        ("W-NOTICE-LANG", RUMOURS.name),
    ]


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("3 reports within 7 days.", ["`3`"]),
        ("Four or more reports within 7 days.", []),
        ("Four reports within 8 days.", ["`8 days`"]),
        ("Four reports within a week.", []),
        ("A third report within 7 days.", ["`A third`"]),
        ("Four reports; Terms of Service 5.2, policy §3, GB 11643 check.", []),
    ],
)
def test_reason_numbers_are_the_rules_thresholds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reason: str, said: list[str]
) -> None:
    """`count: 4` within 7 days: a reason that says another count or span is flagged; numbers
    that are no count (a clause, a section, a standard) are not read."""
    body = (
        "on: impersonation_report\nwindow: {count: 4, within: 7d}\n"
        f"then: {{action: freeze, reason: '{reason}'}}\n"
    )
    rule(tmp_path, "freeze-reported", body)
    _, found = lint(capsys, tmp_path)
    assert codes(found) == ["W-REASON-NUMBER"] * len(said)
    for finding, quoted in zip(found, said, strict=True):
        assert str(finding["message"]).startswith(f"the reason says {quoted}")


@pytest.mark.parametrize(
    ("description", "said"),
    [
        ("Four reports within 7 days.", []),
        ("Three reports within 7 days.", ["`Three`"]),
        ("Four reports within 2 weeks.", ["`2 weeks`"]),
        ("Four reports within a week; a fifth report blacklists.", []),  # the next rule's
        ("Four reports within a week; a sixth report blacklists.", ["`a sixth`"]),
        ("Four reports; 30 days later it is cancelled.", []),  # the deadline it starts
        ("Four reports; 31 days later it is cancelled.", ["`31 days`"]),
    ],
)
def test_numbers_in_a_description_are_the_thresholds_of_the_rule_or_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], description: str, said: list[str]
) -> None:
    """`W-TEXT-NUMBER`: a description (as notice texts) may speak of its rule's count and
    spans, and of those of the rules that follow it: one on the same events (a fifth report
    blacklists) and a deadline it starts (30 days); any other count or span is flagged, at
    the description's line."""
    body = (
        "on: impersonation_report\nwindow: {count: 4, within: 7d}\n"
        "then: {action: freeze, reason: Four reports within 7 days.}\n"
    )
    rule(tmp_path, "freeze-reported", body)
    edit(tmp_path / "freeze-reported.yaml", "description: D.", f"description: '{description}'")
    next_rule = "on: impersonation_report\nwindow: {count: 5, within: 7d}\n"
    rule(tmp_path, "blacklist-reported", next_rule + "then: {action: blacklist, reason: R.}\n")
    later = "deadline: {after: {decision: freeze-reported}, within: 30d}\n"
    rule(tmp_path, "cancel-later", later + "then: {action: cancel, reason: R.}\n")
    _, found = lint(capsys, tmp_path)
    assert [(f["code"], f["line"]) for f in found] == [("W-TEXT-NUMBER", 3)] * len(said)
    for finding, quoted in zip(found, said, strict=True):
        assert str(finding["message"]).startswith(f"`description` says {quoted}")


def test_numbers_in_notice_texts_are_read_in_each_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default pack's notices say their rules' numbers (nothing found); an English
    evidence text that says another span is flagged at its line; a Chinese one is not read."""
    pack = pack_copy(tmp_path / "pack")
    assert lint(capsys, pack) == (0, [])
    edit(pack / SUSPECTED, "reported that this account", "reported within 8 days that this account")
    edit(pack / SUSPECTED, "名不同用户举报", "名不同用户在8天内举报")
    code, found = lint(capsys, pack)
    assert code == 7
    (finding,) = found
    assert (finding["code"], Path(str(finding["file"])).name) == ("W-TEXT-NUMBER", SUSPECTED.name)
    assert finding["line"] == 34
    assert str(finding["message"]).startswith("`notice.en.evidence` says `8 days`")


DEADLINE = (
    "deadline: {after: {decision: freeze-it}, within: 15d}\nthen: {action: ACTION, reason: R.}\n"
)


@pytest.mark.parametrize(
    ("first", "second", "other", "shadowed"),
    [
        ("cancel", "cancel", "", "cancel-b"),  # the same: the first by id decides
        ("blacklist", "cancel", "", "cancel-b"),  # a more severe one first
        ("cancel", "blacklist", "", None),  # the milder first: both decide
        ("freeze", "freeze", "", None),  # a frozen account takes a second freeze
        ("cancel", "cancel", "within: 16d", None),  # another deadline
    ],
)
def test_a_deadline_rule_with_the_same_deadline_as_one_firing_first_never_decides(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    first: str,
    second: str,
    other: str,
    shadowed: str | None,
) -> None:
    """`W-SHADOWED` across deadline rules: the same `after`, `within` and `unless`, so due
    together; they fire by id, and the second finds the account at the first's status."""
    rule(tmp_path, "freeze-it", RULE.format(when="{confirmed: false}", action="freeze"))
    rule(tmp_path, "cancel-a", DEADLINE.replace("ACTION", first))
    second_rule = DEADLINE.replace("ACTION", second)
    rule(tmp_path, "cancel-b", second_rule.replace("within: 15d", other or "within: 15d"))
    _, found = lint(capsys, tmp_path)
    expected = [("W-SHADOWED", f"{shadowed}.yaml")] if shadowed else []
    assert [(f["code"], Path(str(f["file"])).name) for f in found] == expected


@pytest.mark.parametrize(
    ("b", "a", "first"),
    [("cancel-a", "cancel-b", True), ("cancel-b", "cancel-a", False), ("a-z", "az", False)],
)
def test_deadlines_fire_first_only_by_ids_every_collation_orders_alike(
    b: str, a: str, first: bool
) -> None:
    """`cancel-a` before `cancel-b` in any order; `a-z` before `az` by code point but not in a
    collation that passes over punctuation: not claimed."""
    from blacklist_rules.pack.lint.shadows import _fires_before

    assert _fires_before(b, a) is first


# --- validate's checks, output and exit codes ---------------------------------------------


def test_lint_reports_every_validate_error_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pack validate refuses: lint lists the same errors (with severity error), exit 7."""
    pack = pack_copy(tmp_path / "pack")
    edit(pack / SUSPECTED, "on: impersonation_report", "on: impersonation_reprt")
    assert main(["validate", str(pack)]) == 1
    validate_err = capsys.readouterr().err.splitlines()[:-1]
    assert main(["lint", str(pack)]) == 7
    out, err = capsys.readouterr()
    assert out.splitlines() == validate_err
    assert err == f"{pack}: 1 error(s), 0 warning(s)\n"


def test_the_json_output_is_a_list_of_findings_with_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format json`: one JSON list; each finding exactly file, line, code, severity,
    message, hint, of the documented types."""
    pack = pack_copy(tmp_path / "pack")
    edit(pack / SUSPECTED, "on: impersonation_report", "on: impersonation_reprt")
    edit(pack / RUMOURS, "您发布的 $count 条内容", "您发布的内容")
    _, found = lint(capsys, pack)
    assert len(found) == 2
    for finding in found:
        assert set(finding) == {"file", "line", "code", "severity", "message", "hint"}
        assert isinstance(finding["file"], str)
        assert isinstance(finding["line"], int)
        assert isinstance(finding["message"], str)
        assert finding["hint"] is None or isinstance(finding["hint"], str)
        expected = "warning" if str(finding["code"]).startswith("W-") else "error"
        assert finding["severity"] == expected
    assert {f["severity"] for f in found} == {"error", "warning"}


def test_fail_on_error_lets_warnings_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warnings only: exit 7 by default, 0 with `--fail-on error` (they are still printed)."""
    pack = pack_copy(tmp_path / "pack")
    edit(pack / RUMOURS, "您发布的 $count 条内容", "您发布的内容")
    assert main(["lint", str(pack)]) == 7
    assert main(["lint", str(pack), "--fail-on", "error"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert all(": W-NOTICE-LANG: " in line for line in out)


def test_the_default_pack_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    """The packaged pack has nothing to report: exit 0, nothing on stdout."""
    assert main(["lint"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith(": 0 error(s), 0 warning(s)\n")


def test_every_kind_of_finding_matches_the_golden_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One pack with each kind of finding, rendered as text, equals `golden/lint_findings.txt`
    (UPDATE_GOLDEN=1 rewrites it after a deliberate change; review the diff)."""
    old, pack = pack_copy(tmp_path / "old"), pack_copy(tmp_path / "pack")
    edit(pack / SUSPECTED, "count: 3", "count: 4")  # E-VERSION, W-REASON-, W-TEXT-NUMBER
    edit(pack / CONFIRMED, "confirmed: true", "confirmed: false")  # E-VERSION, W-SHADOWED
    edit(old / RUMOURS, "version: 1", "version: 2")  # W-VERSION-BACK
    edit(pack / RUMOURS, "Between $first and $last,", "Since $anchor_at,")  # W-NOTICE-VAR/LANG
    edit(pack / "notices" / "zh.txt", "$expires_at", "期满")  # W-NOTICE-UNUSED, -LANG
    deadline = "deadline: {after: {decision: blacklist-confirmed-impersonation}, within: 15d}\n"
    rule(pack, "cancel-later", deadline + "then: {action: cancel, reason: R.}\n")  # NEVER-ABOVE
    unverified = next(pack.rglob("cancel-unverified-after-freeze.yaml"))
    again = unverified.with_name("cancel-unverified-too.yaml")  # W-SHADOWED, deadline
    again.write_text(
        unverified.read_text(encoding="utf-8").replace(
            "id: cancel-unverified-after-freeze", "id: cancel-unverified-too"
        ),
        encoding="utf-8",
    )
    code = main(["lint", str(pack), "--against", str(old)])
    report = capsys.readouterr().out.replace(str(tmp_path), "").replace(os.sep, "/")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(report, encoding="utf-8")
    assert code == 7
    assert report == GOLDEN.read_text(encoding="utf-8")
