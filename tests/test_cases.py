"""Rule test cases: the default pack's own cases, failures by name, coverage, bad case files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from blacklist_rules import CaseLoadError, Coverage, load_cases, load_ruleset, run_case
from blacklist_rules.cli import main

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"

CONFIRMED = """
- name: {name}
  events:
    - {{event_id: p1, type: impersonation_report, account_id: a,
        occurred_at: "2026-05-01T09:00:00+08:00", reporter_id: r1, confirmed: true}}
  expect:
    - {{account_id: a, action: {action}}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_the_default_packs_cases_pass_and_cover_every_rule() -> None:
    """Every rule of the default pack fires in some case, and every condition is seen both
    true and false."""
    ruleset = load_ruleset()
    coverage = Coverage(ruleset)
    results = [run_case(ruleset, case, coverage) for case in load_cases([CASES])]
    assert [r.case.name for r in results if not r.passed] == []
    report = coverage.report()
    assert {rule["rule_id"] for rule in report["rules"] if rule["fired"]} == {
        rule.id for rule in ruleset.rules
    }
    assert report["percent"] == 100.0


def test_a_wrong_case_fails_with_its_name_and_what_was_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`test` prints the failing case by name with expected against actual, exits 1."""
    cases = write(
        tmp_path, "wrong.yaml", CONFIRMED.format(name="wrongly expects a freeze", action="freeze")
    )
    assert main(["test", str(ROOT / "rules"), str(cases)]) == 1
    out = capsys.readouterr().out
    assert "case `wrongly expects a freeze` failed" in out
    assert "expected enforced decision not taken: a freeze" in out
    assert "unexpected enforced decision: a blacklist by blacklist-confirmed-impersonation" in out
    assert "1 cases: 0 passed, 1 failed" in out


def test_coverage_below_the_minimum_fails_and_json_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One rule exercised of eleven: the run passes, `--min-coverage 50` fails it (exit 5, a
    gate not met, not 1, a failing case); the JSON report holds the same coverage."""
    cases = write(tmp_path, "one.yaml", CONFIRMED.format(name="confirmed", action="blacklist"))
    assert main(["test", str(ROOT / "rules"), str(cases)]) == 0
    assert "NEVER FIRED  freeze-failed-verification" in capsys.readouterr().out
    assert main(["test", str(ROOT / "rules"), str(cases), "--min-coverage", "50"]) == 5
    assert main(["test", str(ROOT / "rules"), str(cases), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (report["passed"], report["failed"]) == (1, 0)
    assert report["coverage"]["percent"] < 50
    fired = [rule["rule_id"] for rule in report["coverage"]["rules"] if rule["fired"]]
    assert fired == ["blacklist-confirmed-impersonation"]


def test_bad_case_files_fail_at_load_with_file_and_line(tmp_path: Path) -> None:
    """An unknown key (with a did-you-mean), an event that does not validate (its field), an
    account no event has: every error, `file:line: code: message`, none of the cases run."""
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        - name: a typo
          events:
            - {event_id: e1, type: impersonation_report, account_id: a,
               occurred_at: "2026-05-01T09:00:00+08:00", reporter_id: r, confirmed: true}
          expekt: []
        - name: a bad event
          events:
            - {event_id: e1, type: rumor_flag, account_id: a,
               occurred_at: "2026-05-01T09:00:00+08:00", content_id: c, verdict: lies,
               source: fact_check}
          expect: []
        - name: an unknown account
          events:
            - {event_id: e1, type: impersonation_report, account_id: acct-1,
               occurred_at: "2026-05-01T09:00:00+08:00", reporter_id: r, confirmed: true}
          expect:
            - {account_id: acct-2, action: blacklist}
        """,
    )
    with pytest.raises(CaseLoadError) as caught:
        load_cases([path])
    lines = [str(error) for error in caught.value.errors]
    assert lines[0] == f"{path}:5: E-KEY: unknown key `expekt` (did you mean `expect`?)"
    assert lines[1].startswith(f"{path}:9: E-EVENT: verdict: Input should be")
    assert lines[2] == (
        f"{path}:17: E-ACCOUNT: case `an unknown account`: no event has account `acct-2` "
        "(did you mean `acct-1`?)"
    )


def test_cases_run_under_pytest_and_a_failure_names_the_case(tmp_path: Path) -> None:
    """The package's pytest plugin collects `tests/cases/*.yaml` in the user's own project once
    it opts in: one test per case; a failing one is reported with its name and what was
    decided."""
    folder = tmp_path / "tests" / "cases"
    ini = "[pytest]\nblacklist_rules_cases = tests/cases\n"
    (tmp_path / "pytest.ini").write_text(ini, encoding="utf-8")
    write(
        folder, "good.yaml", CONFIRMED.format(name="confirmed is blacklisted", action="blacklist")
    )
    write(folder, "bad.yaml", CONFIRMED.format(name="expects a cancel", action="cancel"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cases"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "case `expects a cancel`" in run.stdout
    assert "expected enforced decision not taken: a cancel" in run.stdout


def test_expectations_naming_a_rule_choose_first(tmp_path: Path) -> None:
    """Two freezes of one account, expected as `{freeze}` and `{freeze, rule_id: X}` in either
    order: the case passes (one without a rule never takes the decision X needs)."""
    events = """
      events:
        - {event_id: v1, type: identity_verification, account_id: a,
           occurred_at: "2026-05-01T09:00:00+08:00", status: failed, reason: name_id_mismatch}
        - {event_id: p1, type: impersonation_report, account_id: a,
           occurred_at: "2026-05-01T10:00:00+08:00", reporter_id: r1, confirmed: false}
        - {event_id: p2, type: impersonation_report, account_id: a,
           occurred_at: "2026-05-01T11:00:00+08:00", reporter_id: r2, confirmed: false}
        - {event_id: p3, type: impersonation_report, account_id: a,
           occurred_at: "2026-05-01T12:00:00+08:00", reporter_id: r3, confirmed: false}
    """
    loose, precise = (
        "{account_id: a, action: freeze}",
        ("{account_id: a, action: freeze, rule_id: freeze-failed-verification}"),
    )
    for first, second in ((loose, precise), (precise, loose)):
        path = write(
            tmp_path,
            "greedy.yaml",
            f"name: two freezes\n{textwrap.dedent(events)}expect:\n  - {first}\n  - {second}\n",
        )
        (case,) = load_cases([path])
        assert run_case(load_ruleset(), case).problems == ()


def test_until_and_names_are_checked_at_load(tmp_path: Path) -> None:
    """`until` that is no time, or before the last event; a name used twice: `file:line`."""
    event_line = (
        "    - {event_id: e1, type: impersonation_report, account_id: a, "
        'occurred_at: "2026-05-01T09:00:00+08:00", reporter_id: r, confirmed: true}\n'
    )
    text = (
        f"- name: n\n  events:\n{event_line}  expect: []\n  until: next week\n"
        f"- name: n\n  events:\n{event_line}  expect: []\n  until: '2026-04-01T00:00:00Z'\n"
    )
    path = write(tmp_path, "until.yaml", text)
    with pytest.raises(CaseLoadError) as caught:
        load_cases([path])
    lines = [str(error) for error in caught.value.errors]
    assert lines[0].startswith(f"{path}:5: E-SPEC: `until`: must be an RFC 3339 timestamp")
    assert lines[1] == f"{path}:6: E-CASE: case name `n` is used twice in this file (line 1)"
    assert lines[2].startswith(f"{path}:10: E-CASE: case `n`: `until` is before its last event")
