"""End to end through the real command line (`python -m blacklist_rules`) and a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from blacklist_rules.model.identity import KEY_ENV
from blacklist_rules.testing import generate_events, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def cli(
    *args: str, cwd: Path, without_key: bool = False, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, as a user would (`without_key`: with no identity key in
    the environment, as on a fresh machine)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if without_key:
        env.pop(KEY_ENV)
    return subprocess.run(
        [sys.executable, "-m", "blacklist_rules", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_run_prints_decisions_and_summary_and_is_idempotent(tmp_path: Path) -> None:
    """`run` over the example writes decisions as JSON lines; a second run adds nothing."""
    first = cli("run", str(EXAMPLES / "events.jsonl"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    decisions = [json.loads(line) for line in first.stdout.splitlines()]
    assert decisions
    assert {d["action"] for d in decisions} == {"freeze", "cancel", "blacklist"}
    for decision in decisions:
        assert decision["ruleset_digest"]
        assert decision["evidence"]
        if decision["rule_id"] != "human-review":  # reviewers' decisions match no rule
            assert decision["matched"][0]["conditions"]
    assert "processed 1200 events: 1200 accepted" in first.stderr
    assert (tmp_path / "blacklist-rules.db").is_file()  # the default --db

    second = cli("run", str(EXAMPLES / "events.jsonl"), cwd=tmp_path)
    assert second.returncode == 0
    assert second.stdout == ""
    assert "1200 duplicates" in second.stderr
    assert "decisions: none" in second.stderr


def test_rejected_lines_are_reported_recorded_and_strict_fails(tmp_path: Path) -> None:
    """Bad lines get `file:line: rejected: path: reason`; the run goes on; --strict exits 1; a
    second run over the same file reports them again but records nothing new."""
    result = cli(
        "run", str(EXAMPLES / "bad_events.jsonl"), "--db", "bad.db", "--strict", cwd=tmp_path
    )
    assert result.returncode == 1
    rejected = [line for line in result.stderr.splitlines() if ": rejected: " in line]
    assert len(rejected) == 7
    assert any(
        ":5: rejected: occurred_at: must be an RFC 3339 timestamp with an offset" in r
        for r in rejected
    )
    assert "2 accepted" in result.stderr
    export = cli("audit", "export", "--format", "jsonl", "bad.db", cwd=tmp_path)
    kinds = [json.loads(line)["kind"] for line in export.stdout.splitlines()]
    assert kinds.count("rejected_event") == 7
    again = cli("run", str(EXAMPLES / "bad_events.jsonl"), "--db", "bad.db", cwd=tmp_path)
    assert again.stderr.count(": rejected: ") == 7  # reported again, recorded once
    export = cli("audit", "export", "--format", "jsonl", "bad.db", cwd=tmp_path)
    assert len(export.stdout.splitlines()) == len(kinds)
    lenient = cli("run", str(EXAMPLES / "bad_events.jsonl"), "--db", "other.db", cwd=tmp_path)
    assert lenient.returncode == 0


def test_status_and_audit_show_explain_an_account(tmp_path: Path) -> None:
    """After a run, `status` shows the decision behind the status and `audit show` its records."""
    run = cli("run", str(EXAMPLES / "events.jsonl"), "--db", "x.db", cwd=tmp_path)
    blacklist = next(
        json.loads(line)
        for line in run.stdout.splitlines()
        if json.loads(line)["action"] == "blacklist"
    )
    account = blacklist["account_id"]
    status = cli("status", account, "--db", "x.db", "--json", cwd=tmp_path)
    data = json.loads(status.stdout)
    assert data["status"] == "blacklisted"
    assert blacklist["decision_id"] in [d["decision_id"] for d in data["standing"]]
    text = cli("status", account, "--db", "x.db", cwd=tmp_path)
    assert text.stdout.startswith(f"{account}: blacklisted")
    shown = cli("audit", "show", "--account", account, "x.db", cwd=tmp_path)
    assert "decision" in shown.stdout
    assert "status_change" in shown.stdout


def test_an_event_rejected_for_its_fields_is_shown_under_the_account_it_names(
    tmp_path: Path,
) -> None:
    """A rumor flag without its type's fields and a registration with an over-long ID number
    are rejected, and recorded under the `account_id` they gave, so `audit show --account`
    lists them; the ID number is in no record. An input whose `account_id` is not usable (a
    number) is recorded under no account."""
    id_number = "4" * 65
    lines = [
        {
            "event_id": "e1",
            "type": "rumor_flag",
            "account_id": "acct-r",
            "occurred_at": "2026-01-02T09:00:00+08:00",
        },
        {
            "event_id": "e2",
            "type": "registration",
            "account_id": "acct-r",
            "occurred_at": "2026-01-02T09:05:00+08:00",
            "identity": {"id_number": id_number},
        },
        {
            "event_id": "e3",
            "type": "rumor_flag",
            "account_id": 7,
            "occurred_at": "2026-01-02T09:10:00+08:00",
        },
    ]
    events = tmp_path / "rejected.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    run = cli("run", str(events), "--db", "r.db", cwd=tmp_path)
    assert run.stderr.count(": rejected: ") == len(lines)

    shown = cli("audit", "show", "--account", "acct-r", "--json", "r.db", cwd=tmp_path)
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["kind"], r["event_id"]) for r in records] == [
        ("rejected_event", "e1"),
        ("rejected_event", "e2"),
    ]
    assert [r["record"]["account_id"] for r in records] == ["acct-r", "acct-r"]
    assert [r["record"]["path"] for r in records] == ["content_id", "identity.id_number"]
    everything = cli("audit", "export", "r.db", cwd=tmp_path).stdout
    (unnamed,) = [json.loads(x) for x in everything.splitlines() if '"e3"' in x]
    assert (unnamed["account_id"], unnamed["record"]["account_id"]) == (None, None)
    assert id_number not in everything


def test_validate_reports_file_and_line(tmp_path: Path) -> None:
    """`validate` exits 0 on the default pack and 1 with `file:line:` on a broken rule."""
    ok = cli("validate", str(ROOT / "rules"), cwd=tmp_path)
    assert ok.returncode == 0
    assert "13 rules OK" in ok.stdout
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "r.yaml").write_text(
        "id: r\nversion: 1\ndescription: d\nbasis: b\non: identity_verification\n"
        "when:\n  staus: failed\nthen: {action: freeze, reason: r}\n"
        "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC,"
        " ground: incompatible, reference: t}\n"
    )
    bad = cli("validate", str(broken), cwd=tmp_path)
    assert bad.returncode == 1
    assert f"{broken / 'r.yaml'}:7: E-FIELD:" in bad.stderr
    assert "did you mean `status`?" in bad.stderr


def test_missing_inputs_are_clear_errors(tmp_path: Path) -> None:
    """A missing events file or db is a one-line error with exit 2, not a traceback."""
    missing = cli("run", "nope.jsonl", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no such events file" in missing.stderr
    no_db = cli("status", "a", "--db", "absent.db", cwd=tmp_path)
    assert no_db.returncode == 2
    assert "no such db" in no_db.stderr
    assert "Traceback" not in no_db.stderr + missing.stderr


def test_schema_prints_the_published_json_schema(tmp_path: Path) -> None:
    """`schema` prints exactly `rules/rule.schema.json`."""
    result = cli("schema", cwd=tmp_path)
    assert json.loads(result.stdout) == json.loads(
        (ROOT / "rules" / "rule.schema.json").read_text()
    )


def test_a_reader_that_stops_early_loses_no_decision(tmp_path: Path) -> None:
    """`run … | head -1`: exit 141 without a traceback; the next run re-delivers every
    decision that was not committed, so none is lost (at least once)."""
    events = tmp_path / "many.jsonl"
    write_jsonl(generate_events(20_000, n_accounts=2_000, seed=3), events)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "blacklist_rules", "run", str(events), "--db", "p.db"]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = json.loads(process.stdout.readline())
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=300) == 141
    assert "Traceback" not in stderr
    assert "standard output was closed" in stderr

    def decided(db: str) -> set[str]:
        export = cli("audit", "export", db, cwd=tmp_path).stdout.splitlines()
        return {
            json.loads(line)["decision_id"]
            for line in export
            if json.loads(line)["kind"] == "decision"
        }

    committed_before = decided("p.db")  # what was committed is what was written before it
    full = cli("run", str(events), "--db", "all.db", cwd=tmp_path)
    everything = {json.loads(line)["decision_id"] for line in full.stdout.splitlines()}
    again = cli("run", str(events), "--db", "p.db", cwd=tmp_path)
    redelivered = {json.loads(line)["decision_id"] for line in again.stdout.splitlines()}
    assert len(everything) > 60
    assert first["decision_id"] in everything
    assert redelivered == everything - committed_before  # nothing lost, nothing doubled
    assert decided("p.db") == everything


def test_run_until_ends_the_freezes_whose_time_is_up(tmp_path: Path) -> None:
    """`run --until TIME` advances event time after the events and reports what ended; a TIME
    before the clock says it moves nothing."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "id: freeze-report\nversion: 1\ndescription: d\nbasis: b\non: impersonation_report\n"
        "when: {confirmed: false}\nthen: {action: freeze, duration: 2d, reason: r}\n"
        "dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC,"
        " ground: incompatible, reference: t}\n"
    )
    events = tmp_path / "e.jsonl"
    events.write_text(
        json.dumps(
            {
                "event_id": "e1",
                "type": "impersonation_report",
                "account_id": "a",
                "occurred_at": "2026-01-01T00:00:00Z",
                "reporter_id": "r",
                "confirmed": False,
            }
        )
        + "\n"
    )
    result = cli(
        "run",
        str(events),
        "--rules",
        str(rules),
        "--db",
        "u.db",
        "--until",
        "2026-01-05T00:00:00Z",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "1 status change(s)" in result.stderr
    assert "a: frozen → active" in result.stderr
    status = cli("status", "a", "--db", "u.db", "--rules", str(rules), cwd=tmp_path)
    assert status.stdout.startswith("a: active")
    back = ("--db", "u.db", "--rules", str(rules), "--until", "2026-01-02T00:00:00Z")
    again = cli("run", str(events), *back, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "clock already at 2026-01-05T00:00:00+00:00: --until 2026-01-02T00:00:00+00:00" in (
        again.stderr
    )
    assert "clock advanced" not in again.stderr
    bad = cli("run", str(events), "--db", "v.db", "--until", "soon", cwd=tmp_path)
    assert bad.returncode == 2
    assert "RFC 3339" in bad.stderr
    assert not (tmp_path / "v.db").exists()


def test_history_rules_and_deadlines_through_the_cli(tmp_path: Path) -> None:
    """Two rumours freeze through `run`; `status` shows the pending cancel deadline of a failed
    verification; `run --until` past it prints the cancel on stdout; a rerun adds nothing."""
    rumour = {"type": "rumor_flag", "verdict": "malicious_rumor", "source": "authority_notice"}
    lines = [
        {**rumour, "event_id": "f1", "account_id": "acct-r", "content_id": "p1"},
        {**rumour, "event_id": "f2", "account_id": "acct-r", "content_id": "p2"},
        {"type": "identity_verification", "event_id": "v1", "account_id": "acct-v"},
    ]
    times = ["2026-05-01T09:00:00+08:00", "2026-07-01T09:00:00+08:00", "2026-07-02T00:00:00Z"]
    for line, at in zip(lines, times, strict=True):
        line["occurred_at"] = at
    lines[2]["status"] = "failed"
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    first = cli("run", str(events), "--db", "h.db", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    decided = [(d["account_id"], d["rule_id"]) for d in map(json.loads, first.stdout.splitlines())]
    assert decided == [
        ("acct-r", "freeze-repeated-malicious-rumours"),
        ("acct-v", "freeze-failed-verification"),
    ]
    waiting = cli("status", "acct-v", "--db", "h.db", cwd=tmp_path)
    assert "acct-v: frozen" in waiting.stdout
    assert "deadline cancel-unverified-after-freeze due 2026-07-17T00:00:00+00:00" in waiting.stdout

    later = cli("run", str(events), "--db", "h.db", "--until", "2026-07-20T00:00:00Z", cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    (cancel,) = map(json.loads, later.stdout.splitlines())
    assert (cancel["account_id"], cancel["rule_id"], cancel["effective_at"]) == (
        "acct-v",
        "cancel-unverified-after-freeze",
        "2026-07-17T00:00:00+00:00",
    )
    assert "1 deadline decision(s)" in later.stderr
    done = json.loads(cli("status", "acct-v", "--db", "h.db", "--json", cwd=tmp_path).stdout)
    assert (done["status"], done["pending_deadlines"]) == ("cancelled", [])

    again = cli("run", str(events), "--db", "h.db", "--until", "2026-07-20T00:00:00Z", cwd=tmp_path)
    assert again.stdout == ""


def test_a_blacklisted_person_cannot_register_again_end_to_end(tmp_path: Path) -> None:
    """Through the CLI with no key configured: `run` creates the key file (and says so), a
    blacklisted person's new accounts are blacklisted, `check` answers before registration,
    `status` shows the entries, and no raw identity value is in any file or output."""

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return cli(*args, cwd=tmp_path, without_key=True, stdin=stdin)

    events = EXAMPLES / "reregistration.jsonl"
    first = run("run", str(events))
    assert first.returncode == 0, first.stderr
    assert "created the identity key file blacklist-rules.db.key (mode 0600)" in first.stderr
    decided = {
        d["account_id"]: (d["action"], d["rule_id"])
        for d in map(json.loads, first.stdout.splitlines())
    }
    assert decided == {
        "acct-li": ("blacklist", "blacklist-confirmed-impersonation"),
        "acct-li-2": ("blacklist", "blacklist-returning-identity"),
        "acct-li-3": ("blacklist", "blacklist-returning-identity"),
        "acct-zhao": ("cancel", "cancel-proven-fake-registration"),
    }
    again = run("run", str(events))
    assert (again.returncode, again.stdout) == (0, "")
    assert "created" not in again.stderr

    checked = run("check", str(EXAMPLES / "identities.jsonl"))
    assert checked.returncode == 1, checked.stderr
    answers = [json.loads(line) for line in checked.stdout.splitlines()]
    assert [a["blacklisted"] for a in answers] == [True, True, False]
    assert answers[0]["entry"]["account_id"] == "acct-li"
    clean = run("check", stdin='{"id_number": "31010419900101002X"}\n')
    assert (clean.returncode, json.loads(clean.stdout)["blacklisted"]) == (0, False)
    typo = run("check", stdin='{"idnumber": "360426199101010071"}\nnot json\n')
    assert typo.returncode == 2
    assert "unknown identity field 'idnumber'" in typo.stderr
    assert "-:2: malformed JSON" in typo.stderr

    status = run("status", "acct-li")
    assert "on the blacklist: its id_number" in status.stdout
    assert "on the blacklist: its phone" in status.stdout
    entries = json.loads(run("status", "acct-li", "--json").stdout)["blacklist_entries"]
    assert sorted(e["kind"] for e in entries) == ["id_number", "phone"]
    exported = run("audit", "export", "--format", "jsonl")
    assert exported.returncode == 0

    outputs = "".join(
        p.stdout + p.stderr for p in (first, again, checked, clean, typo, status, exported)
    )
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if not p.name.endswith(".key"))
    raw = [
        value
        for line in events.read_text(encoding="utf-8").splitlines()
        for value in json.loads(line).get("identity", {}).values()
    ]
    raw += ["13800138000", "+8613800138000", "360426199101010071", "31010419900101002X"]
    for value in raw:
        assert value not in outputs, value
        assert value.encode() not in files, value

    (tmp_path / "blacklist-rules.db.key").unlink()
    refused = run("status", "acct-li")
    assert refused.returncode == 2
    assert "no identity key for blacklist-rules.db" in refused.stderr
