"""Replay diff between rule versions: nothing for identical packs, exactly the affected
accounts otherwise, the irreversible gate, the three formats."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from blacklist_rules import Engine, iter_jsonl, load_ruleset, replay_diff, shadow_diff
from blacklist_rules.cli import main
from blacklist_rules.testing import generate_events, write_jsonl

from .strategies import event_lists
from .support import SHADOW_REPORT_FREEZE, default_pack_with, event

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "events.jsonl"
REMOVED = "blacklist-confirmed-impersonation"
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("diff") / "events.jsonl"
    write_jsonl(generate_events(6000, n_accounts=600, seed=3), path)
    return path


def without_rule(folder: Path, rule_id: str) -> Path:
    pack = default_pack_with(folder)
    next(pack.rglob(f"{rule_id}.yaml")).unlink()
    return pack


def plain_run(pack: Path | None, events: Path) -> dict[str, tuple[str, Counter[Any]]]:
    """Each account's final status and decisions, from one ordinary run: the reference."""
    seen: dict[str, Counter[Any]] = {}
    with Engine.from_path(pack) as engine:
        for outcome in engine.run(iter_jsonl(events)):
            for d in outcome.decisions:
                seen.setdefault(d.account_id, Counter())[
                    (d.rule_id, str(d.action), str(d.mode))
                ] += 1
        return {a: (str(engine.status(a)), c) for a, c in seen.items()}


def test_identical_rule_sets_differ_in_nothing(tmp_path: Path, workload: Path) -> None:
    ruleset = load_ruleset()
    report = replay_diff(ruleset, ruleset, iter_jsonl(workload), tmp_path)
    assert report["accounts_decided"] > 50
    assert (report["accounts_changed"], report["transitions"]) == (0, [])
    assert report["irreversible"]["changed"] == 0
    assert all(rule["baseline"] == rule["candidate"] for rule in report["rules"])


def test_removing_a_rule_reports_exactly_the_accounts_it_changes(
    tmp_path: Path, workload: Path
) -> None:
    """The diff's accounts are those two independent plain runs end differently for."""
    pack = without_rule(tmp_path / "pack", REMOVED)
    report = replay_diff(load_ruleset(), load_ruleset(pack), iter_jsonl(workload), tmp_path)
    before, after = plain_run(None, workload), plain_run(pack, workload)
    empty: tuple[str, Counter[Any]] = ("active", Counter())
    expected = {a for a in set(before) | set(after) if before.get(a, empty) != after.get(a, empty)}
    reported = {a for t in report["transitions"] for a in t["account_ids"]}
    assert reported == expected
    assert expected  # the workload has confirmed impersonations
    (removed,) = [r for r in report["rules"] if r["rule_id"] == REMOVED]
    assert removed["candidate"] == 0 < removed["baseline"]
    blacklisted = next(t for t in report["transitions"] if t["from"] == "blacklisted")
    sample = blacklisted["samples"][0]
    assert any(d["rule_id"] == REMOVED and d["evidence"] for d in sample["baseline"])


def test_the_cli_gates_on_irreversible_changes_and_writes_three_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two of twelve irreversible outcomes change (16.67 %): `--fail-on-irreversible 10`
    fails (exit 5: 1 is a pack that does not load), 20 passes; JSON and a self-contained HTML
    page say the same."""
    pack = without_rule(tmp_path / "pack", REMOVED)
    args = ["diff", "--baseline", str(ROOT / "rules"), "--candidate", str(pack), str(EXAMPLES)]
    assert main([*args, "--fail-on-irreversible", "10"]) == 5
    out = capsys.readouterr()
    assert "2 of 15 accounts decided about end differently" in out.out
    assert "blacklisted → active: 2" in out.out
    assert "16.67 % of irreversible outcomes change" in out.err
    assert main([*args, "--fail-on-irreversible", "20", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["irreversible"] == {
        "baseline": 12,
        "candidate": 10,
        "changed": 2,
        "percent": 16.67,
    }
    assert main([*args, "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "blacklisted → active" in page  # test_diff_report.py: the page at its edges


def test_shadow_decisions_are_compared_with_the_enforced_outcomes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shadow rule freezing on any unconfirmed report: every account it would freeze that is
    active now is `active → frozen`; accounts already frozen or worse do not change; no
    irreversible outcome is added by a freeze."""
    pack = default_pack_with(tmp_path / "pack", shadow=SHADOW_REPORT_FREEZE)
    db = tmp_path / "s.db"
    with Engine.from_path(pack, db=db) as engine:
        for _ in engine.run(iter_jsonl(EXAMPLES)):
            pass
        shadowed = {
            d.decision.account_id
            for d in engine.store.shadow_decisions()
            if d.decision.action == "freeze"
        }
        active = {a for a in shadowed if engine.status(a) == "active"}
        report = shadow_diff(engine)
    assert active
    (transition,) = report["transitions"]
    assert (transition["from"], transition["to"]) == ("active", "frozen")
    assert set(transition["account_ids"]) == active
    assert report["irreversible"]["added"] == 0
    assert main(["diff", "--shadow", "--db", str(db), "--rules", str(pack)]) == 0
    assert f"enforced, they would change {len(active):,}" in capsys.readouterr().out


def test_the_shadow_report_renders_as_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`diff --shadow --format html`: one self-contained page naming every account the shadow
    rule would change (not only samples), the db, the pack of its decisions, and a chart of
    the enforced decisions against the same with the shadow ones; its JSON carries the same
    accounts and the days behind the chart."""
    pack = default_pack_with(tmp_path / "pack", shadow=SHADOW_REPORT_FREEZE)
    db = tmp_path / "s.db"
    with Engine.from_path(pack, db=db) as engine:
        for _ in engine.run(iter_jsonl(EXAMPLES)):
            pass
        digest = engine.digest
    args = ["diff", "--shadow", "--db", str(db), "--rules", str(pack)]
    assert main([*args, "--format", "json", "--samples", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    (transition,) = report["transitions"]
    assert len(transition["samples"]) == 1 < transition["accounts"]
    changed = [a["account_id"] for a in report["accounts"]]
    assert changed == sorted(transition["account_ids"])
    assert {a["shadow"][0]["rule_id"] for a in report["accounts"]} == {"shadow-freeze-on-report"}
    days = report["per_day"]
    assert sum(d["severity"]["candidate"] - d["severity"]["baseline"] for d in days) >= len(changed)
    assert main([*args, "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert "<svg" in page
    assert "shadow rules enforced" in page
    assert all(f"<code>{account}</code>" in page for account in changed)
    assert str(db) in page
    assert digest in page
    assert 'active</span> → <span class="s-frozen">frozen' in page


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_lists)
def test_a_pack_against_itself_differs_in_nothing_on_any_events(
    tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]
) -> None:
    """Any events, the same pack on both sides: no account changes, no irreversible share."""
    ruleset = load_ruleset()
    lines = [json.dumps(event) for event in events]
    report = replay_diff(ruleset, ruleset, iter_jsonl(lines), tmp_path_factory.mktemp("self"))
    assert (report["accounts_changed"], report["irreversible"]["changed"]) == (0, 0)
    assert report["events"] == len(events)


def test_shadow_freezes_that_would_have_ended_or_been_lifted_do_not_count(
    tmp_path: Path,
) -> None:
    """A 1-day shadow freeze whose day is over, and one a reviewer's lift came after: neither
    would stand now, so neither account changes."""
    timed_shadow = SHADOW_REPORT_FREEZE.replace(
        "  action: freeze\n", "  action: freeze\n  duration: 1d\n"
    )
    for rule, lift in ((timed_shadow, False), (SHADOW_REPORT_FREEZE, True)):
        pack = default_pack_with(tmp_path / f"pack-{lift}", shadow=rule)
        with Engine.from_path(pack) as engine:
            engine.process(
                event("impersonation_report", "x", 0 * DAY, "p1", reporter_id="r", confirmed=False)
            )
            if lift:
                engine.process(
                    event(
                        "review_decision",
                        "x",
                        DAY,
                        "l1",
                        reviewer_id="v",
                        action="lift",
                        reason="ok",
                    )
                )
            engine.process(event("identity_verification", "y", 3 * DAY, "v1", status="passed"))
            assert len(engine.store.shadow_decisions()) == 1
            assert shadow_diff(engine)["accounts_changed"] == 0


def test_diff_counts_what_the_engines_refuse_as_run_does(tmp_path: Path) -> None:
    """Lines refused by both versions (bad JSON, a clashing event id) count as rejected, as
    in `run`."""
    bad = ROOT / "examples" / "bad_events.jsonl"
    ruleset = load_ruleset()
    report = replay_diff(ruleset, ruleset, iter_jsonl(bad), tmp_path)
    with Engine.from_path() as engine:
        rejected = sum(1 for o in engine.run(iter_jsonl(bad)) if o.rejection is not None)
    assert (report["rejected"], report["refused_by_one_version"]) == (rejected, 0)


def test_diff_into_a_missing_workdir_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--workdir` naming no folder ended in a FileNotFoundError traceback: now one line and
    exit 2, before any replay."""
    missing = tmp_path / "no-such-folder"
    code = main(
        [
            "diff",
            "--baseline",
            str(ROOT / "rules"),
            "--candidate",
            str(ROOT / "rules"),
            "--workdir",
            str(missing),
            str(EXAMPLES),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err == f"error: --workdir is not a folder: {missing}\n"
    assert not missing.exists()
