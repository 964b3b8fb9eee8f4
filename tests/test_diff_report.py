"""The HTML report of `diff` at its edges: the data behind the chart (severity, every day of
the axis, UTC), every changed account listed, reversals, provenance, distinct ids, a page that
fetches nothing, and a clear error without the `report` extra (issue 17, finding 4)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import __version__, iter_jsonl, load_ruleset, render_html, replay_diff
from blacklist_rules.cli import main
from blacklist_rules.model.decisions import decision_id
from blacklist_rules.tools.diff_html import (
    DigestingReader,
    InputFile,
    Series,
    make_provenance,
    missing_dependency,
    rule_changes,
)
from blacklist_rules.tools.diff_html.chart import render_chart
from blacklist_rules.tools.diff_html.page import SCRIPT
from blacklist_rules.tools.replay import per_day

from .support import T0, default_pack_with, event

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "events.jsonl"
DAY = timedelta(days=1)
FREEZE_RULE = "freeze-failed-verification"


def failed(account: str, at: datetime | timedelta, event_id: str) -> dict[str, Any]:
    return event(
        "identity_verification", account, at, event_id, status="failed", reason="name_id_mismatch"
    )


def unfrozen(folder: Path) -> Path:
    """The default pack without the freeze on a failed verification (and the cancel 15 days
    after it, which names it)."""
    pack = default_pack_with(folder)
    for rule_id in (FREEZE_RULE, "cancel-unverified-after-freeze"):
        next(pack.rglob(f"{rule_id}.yaml")).unlink()
    return pack


def stricter(folder: Path) -> Path:
    """The default pack with both 3-in-a-window thresholds lowered to 2, versions unchanged."""
    pack = default_pack_with(folder)
    for name in ("blacklist-repeated-malicious-rumours", "freeze-suspected-impersonation"):
        path = next(pack.rglob(f"{name}.yaml"))
        path.write_text(path.read_text(encoding="utf-8").replace("count: 3", "count: 2"))
    return pack


def replay(pack: Path, events: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    lines = [json.dumps(e) for e in events]
    work.mkdir(exist_ok=True)
    return replay_diff(load_ruleset(), load_ruleset(pack), iter_jsonl(lines), work)


def decision(action: str, at: str, mode: str = "enforce") -> dict[str, Any]:
    return {"action": action, "mode": mode, "effective_at": at}


def test_days_without_decisions_are_on_the_axis_and_days_are_utc() -> None:
    """A decision on 1 March and one on 5 March: five days, three of them empty. A decision at
    01:00 on 2 March in +08:00 is on 1 March in UTC; a shadow decision counts on no day."""
    decided = {
        "baseline": {
            "a": [
                decision("freeze", "2026-03-02T01:00:00+08:00"),
                decision("blacklist", "2026-03-05T12:00:00+00:00"),
                decision("cancel", "2026-03-09T00:00:00+00:00", mode="shadow"),
            ]
        },
        "candidate": {"a": [decision("cancel", "2026-03-03T10:00:00+00:00")]},
    }
    rows = per_day(decided)
    assert [row["date"] for row in rows] == [f"2026-03-0{d}" for d in range(1, 6)]
    assert [(row["baseline"], row["candidate"]) for row in rows] == [
        (1, 0),
        (0, 0),
        (0, 1),
        (0, 0),
        (1, 0),
    ]
    assert rows[0]["actions"]["baseline"] == {"freeze": 1, "cancel": 0, "blacklist": 0}
    assert [row["severity"]["baseline"] for row in rows] == [1, 0, 0, 0, 3]
    assert per_day({"baseline": {}, "candidate": {}}) == []
    (one,) = per_day(
        {"baseline": {"a": [decision("freeze", "2026-03-01T00:00:00Z")]}, "candidate": {}}
    )
    assert (one["date"], one["baseline"], one["candidate"]) == ("2026-03-01", 1, 0)


def test_a_stricter_candidate_plots_higher_though_it_takes_fewer_decisions() -> None:
    """The issue's misleading case: the baseline freezes twice, the candidate blacklists once.
    By count the candidate is lower (1 < 2); by severity it is higher (3 > 2), and the running
    severity the chart draws says so on every day after."""
    decided = {
        "baseline": {
            "a": [
                decision("freeze", "2026-03-01T10:00:00Z"),
                decision("freeze", "2026-03-01T11:00:00Z"),
            ]
        },
        "candidate": {"a": [decision("blacklist", "2026-03-01T10:00:00Z")]},
    }
    decided["baseline"]["b"] = [decision("cancel", "2026-03-03T10:00:00Z")]
    decided["candidate"]["b"] = [decision("cancel", "2026-03-03T10:00:00Z")]
    series = Series.from_per_day(per_day(decided))
    assert series.days == (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3))
    assert (series.decisions("baseline"), series.decisions("candidate")) == ((2, 0, 1), (1, 0, 1))
    assert (series.severity("baseline"), series.severity("candidate")) == ((2, 0, 2), (3, 0, 2))
    assert series.cumulative_severity("baseline") == (2, 2, 4)
    assert series.cumulative_severity("candidate") == (3, 3, 5)
    empty = Series.from_per_day([])
    assert (empty.days, empty.decisions("baseline"), empty.cumulative_severity("candidate")) == (
        (),
        (),
        (),
    )


@pytest.mark.parametrize(
    ("days", "span", "bars"), [(1, 1, 1), (120, 1, 120), (121, 2, 61), (730, 7, 105)]
)
def test_long_replays_count_spans_of_days_and_keep_every_decision(
    days: int, span: int, bars: int
) -> None:
    """Up to 120 days, a bar a day; past that, spans of equal length from the first day (a
    bar per day of two years would be thinner than a pixel): the totals stay the same, and
    the running severity the chart draws stays per day."""
    first = date(2026, 1, 1)
    rows = [
        {
            "date": (first + timedelta(days=n)).isoformat(),
            "actions": {
                "baseline": {"freeze": n % 3, "cancel": 1, "blacklist": 0},
                "candidate": {"freeze": 0, "cancel": 0, "blacklist": n % 2},
            },
        }
        for n in range(days)
    ]
    series = Series.from_per_day(rows)
    binned = series.binned()
    assert (binned.span, len(binned.days)) == (span, bars)
    assert binned.days[0] == first
    assert all((b - a).days == span for a, b in zip(binned.days, binned.days[1:], strict=False))
    for side in ("baseline", "candidate"):
        assert sum(binned.severity(side)) == sum(series.severity(side))
        assert sum(binned.decisions(side)) == sum(series.decisions(side))
    assert len(series.cumulative_severity("baseline")) == days


def test_every_changed_account_is_listed_past_the_samples_and_the_page_size(
    tmp_path: Path,
) -> None:
    """120 accounts frozen by the baseline only: the report and the page list all 120 (3
    samples per transition in text, 50 a page with script), every one on its own row."""
    events = [failed(f"acct-{n:03d}", (n % 4) * DAY, f"v{n}") for n in range(120)]
    report = replay(unfrozen(tmp_path / "pack"), events, tmp_path / "w")
    assert report["accounts_changed"] == 120
    assert [a["account_id"] for a in report["accounts"]] == [f"acct-{n:03d}" for n in range(120)]
    assert {(a["from"], a["to"]) for a in report["accounts"]} == {("frozen", "active")}
    (transition,) = report["transitions"]
    assert (transition["accounts"], len(transition["samples"])) == (120, 3)
    page = render_html(report)
    rows = re.findall(r'<tr data-transition="frozen → active"><td><code>(acct-\d+)</code>', page)
    assert rows == [f"acct-{n:03d}" for n in range(120)]


def test_a_reversed_decision_is_shown_with_its_reversal(tmp_path: Path) -> None:
    """A freeze overturned on appeal and one a reviewer lifted: each carries what reversed it,
    the event and its time; the candidate, which never froze, refuses the appeal (counted
    apart); the page says `reversed by`."""
    events = [
        failed("ann", 0 * DAY, "v1"),
        failed("bob", 0 * DAY, "v2"),
        event(
            "appeal_outcome",
            "ann",
            DAY,
            "ap1",
            decision_id=decision_id("v1", "ann", "enforce"),
            outcome="overturned",
            reviewer_id="r1",
        ),
        event(
            "review_decision", "bob", 2 * DAY, "rv1", reviewer_id="r2", action="lift", reason="ok"
        ),
    ]
    report = replay(unfrozen(tmp_path / "pack"), events, tmp_path / "w")
    listed = {a["account_id"]: a for a in report["accounts"]}
    assert set(listed) == {"ann", "bob"}
    (ann,) = listed["ann"]["baseline"]
    assert ann["reversal"] == {
        "by": "appeal_outcome",
        "by_event": "ap1",
        "at": (T0 + DAY).isoformat(),
    }
    (bob,) = listed["bob"]["baseline"]
    assert (bob["reversal"]["by"], bob["reversal"]["by_event"]) == ("review_decision", "rv1")
    assert (listed["ann"]["from"], listed["ann"]["candidate"]) == ("active", [])
    assert report["refused_by_one_version"] == 1
    page = render_html(report)
    assert "reversed by appeal_outcome (event <code>ap1</code>)" in page
    assert "reversed by review_decision (event <code>rv1</code>)" in page


def test_one_event_s_decisions_in_two_versions_have_distinct_ids(tmp_path: Path) -> None:
    """On the example events a stricter candidate blacklists where the baseline froze, on the
    same event: the engine gives both one id; the report qualifies each by its side, so no id
    is shown twice, and keeps the engine's apart."""
    report = replay_diff(
        load_ruleset(),
        load_ruleset(stricter(tmp_path / "pack")),
        iter_jsonl(EXAMPLES),
        tmp_path,
    )
    shown = [
        d
        for account in report["accounts"]
        for side in ("baseline", "candidate")
        for d in account[side]
    ]
    ids = [d["decision_id"] for d in shown]
    assert len(ids) == len(set(ids)) > 2
    (acct,) = [a for a in report["accounts"] if a["account_id"] == "acct-000006"]
    (before,), (after,) = acct["baseline"], acct["candidate"]
    assert (before["action"], after["action"]) == ("freeze", "blacklist")
    assert before["engine_decision_id"] == after["engine_decision_id"]
    assert before["decision_id"] == f"baseline:{before['engine_decision_id']}"
    assert after["decision_id"] == f"candidate:{after['engine_decision_id']}"
    page = render_html(report)
    assert all(page.count(f"<code>{i}</code>") == 1 for i in ids)


def test_rule_changes_name_each_changed_added_and_removed_file(tmp_path: Path) -> None:
    """A lowered threshold is a `changed` rule with its unified diff and both versions; a
    deleted file is `removed`, a new one `added`; a pack against itself changes nothing."""
    pack = stricter(tmp_path / "pack")
    next(pack.rglob("cancel-proven-fake-registration.yaml")).unlink()
    new = next(pack.rglob("freeze-failed-verification.yaml"))
    new.with_name("freeze-failed-again.yaml").write_text(
        new.read_text(encoding="utf-8").replace(
            "id: freeze-failed-verification", "id: freeze-failed-again"
        )
    )
    changes = {c.name: c for c in rule_changes(load_ruleset(), load_ruleset(pack))}
    assert {name: c.change for name, c in changes.items()} == {
        "blacklist-repeated-malicious-rumours": "changed",
        "freeze-suspected-impersonation": "changed",
        "cancel-proven-fake-registration": "removed",
        "freeze-failed-again": "added",
    }
    threshold = changes["blacklist-repeated-malicious-rumours"]
    assert (threshold.baseline_version, threshold.candidate_version) == (1, 1)
    assert "\n-  count: 3\n+  count: 2\n" in threshold.diff
    assert threshold.diff.startswith("--- baseline: ")
    assert (
        changes["freeze-failed-again"].baseline_version,
        changes["freeze-failed-again"].candidate_version,
    ) == (None, 1)
    assert "+++ candidate: (none)" in changes["cancel-proven-fake-registration"].diff
    assert rule_changes(load_ruleset(), load_ruleset()) == ()


@pytest.mark.parametrize(
    "content",
    [b"", b"{}", b"\xef\xbb\xbf{}\r\n\r\n{}", b"x" * 70_000 + b"\n{}\n"],
    ids=["empty", "no-newline", "bom-crlf-blank", "line-past-the-limit"],
)
def test_the_input_digest_is_of_every_byte_replayed(tmp_path: Path, content: bytes) -> None:
    """Empty, without a final newline, with a byte-order mark, CRLF and blank lines, a line
    longer than the reader keeps: the digest and size are the file's."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(content)
    with path.open("rb") as handle:
        reader = DigestingReader(handle)
        list(iter_jsonl(reader))
        seen = reader.input_file(str(path))
    assert (seen.sha256, seen.size) == (hashlib.sha256(content).hexdigest(), len(content))


def test_the_cli_records_the_provenance_of_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """json and html carry the tool's version, the time (UTC, seconds), the input's path and
    digest, both packs' folders and digests and the rule-text diff; text stays as it was."""
    pack = stricter(tmp_path / "pack")
    args = ["diff", "--baseline", str(ROOT / "rules"), "--candidate", str(pack), str(EXAMPLES)]
    before = datetime.now(UTC).replace(microsecond=0)
    assert main([*args, "--format", "json"]) == 0
    made = json.loads(capsys.readouterr().out)["provenance"]
    at = datetime.fromisoformat(made["generated_at"])
    assert at.utcoffset() == timedelta(0)
    assert before <= at <= datetime.now(UTC)
    assert made["tool_version"] == __version__
    assert made["input"] == {
        "path": str(EXAMPLES),
        "sha256": hashlib.sha256(EXAMPLES.read_bytes()).hexdigest(),
        "size": EXAMPLES.stat().st_size,
    }
    assert made["baseline"] == {
        "folder": str(ROOT / "rules"),
        "digest": load_ruleset(ROOT / "rules").digest,
        "rules": len(load_ruleset(ROOT / "rules").rules),
    }
    assert made["candidate"]["digest"] == load_ruleset(pack).digest
    assert [c["name"] for c in made["changes"]] == [
        "blacklist-repeated-malicious-rumours",
        "freeze-suspected-impersonation",
    ]
    assert main([*args, "--format", "html"]) == 0
    page = capsys.readouterr().out
    for shown in (made["input"]["sha256"], made["baseline"]["digest"], made["candidate"]["digest"]):
        assert shown in page
    assert '<span class="add">+  count: 2</span>' in page
    assert main(args) == 0
    assert "provenance" not in capsys.readouterr().out


def test_provenance_times_are_utc() -> None:
    """A time given in another offset is recorded in UTC, to the second."""
    ruleset = load_ruleset()
    at = datetime(2026, 3, 1, 9, 30, 15, 999, tzinfo=UTC).astimezone()
    made = make_provenance(
        ("a", ruleset),
        ("b", ruleset),
        InputFile("x", hashlib.sha256(b"").hexdigest(), 0),
        tool_version="9",
        now=at,
    )
    assert made.to_dict()["generated_at"] == "2026-03-01T09:30:15+00:00"
    assert made.changes == ()


def test_the_page_fetches_nothing_and_allows_only_its_own_script(tmp_path: Path) -> None:
    """No `src`, `href` or `url(` leaves the page; its policy forbids fetching anything and
    allows exactly its one inline script, by digest; the chart is inline SVG with labelled
    axes."""
    events = [failed("ann", 0 * DAY, "v1"), failed("bob", 3 * DAY, "v2")]
    page = render_html(replay(unfrozen(tmp_path / "pack"), events, tmp_path / "w"))
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page)
    assert links
    assert [link for link in links if not link.startswith("#")] == []
    assert "url(" not in page.replace("url(#", "")
    assert "@import" not in page
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'" in page
    )
    assert page.count("<script") == 1
    assert f"<script>{SCRIPT}</script>" in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    for label in ("enforced decisions per day", "day (UTC)", "cumulative severity"):
        assert label in svg


def test_without_the_report_extra_html_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """matplotlib missing: `--format html` exits 2 before replaying, naming the extra;
    text and json still work."""
    assert missing_dependency() is None
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    args = [
        "diff",
        "--baseline",
        str(ROOT / "rules"),
        "--candidate",
        str(ROOT / "rules"),
        str(EXAMPLES),
    ]
    assert main([*args, "--format", "html"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        "error: the HTML report draws its chart with matplotlib, which is not installed: "
        "pip install 'blacklist-rules[report]'\n"
    )
    assert main([*args, "--format", "json"]) == 0


TEXT = re.compile(r"<text ([^>]*)>([^<]*)</text>")
STYLE = re.compile(r"font-size: ([\d.]+)px;.*?(?:text-anchor: (\w+))?$")


def horizontal_labels(svg: str) -> list[tuple[float, str, float, str]]:
    """(font size, anchor, x, text) of every label of matplotlib's SVG that is not rotated."""
    found = []
    for attributes, text in TEXT.findall(svg):
        if "rotate(-90" in attributes:
            continue
        style = STYLE.search(re.search(r'style="([^"]*)"', attributes).group(1))  # type: ignore[union-attr]
        x = re.search(r' x="([\d.-]+)"', attributes)
        assert style is not None, attributes
        assert x is not None, attributes
        found.append((float(style.group(1)), style.group(2) or "start", float(x.group(1)), text))
    return found


@pytest.mark.parametrize("days", [1, 2, 45, 730])
def test_no_label_of_the_chart_runs_past_its_edge(days: int) -> None:
    """The issue's clipped last date: every horizontal label of the SVG (ticks, the dates'
    offset, the legend), at a generous 0.65 em a character, lies inside the picture, whether
    the replay spans one day or two years; both axes are labelled."""
    first = date(2026, 1, 1)
    rows = [
        {
            "date": (first + timedelta(days=n)).isoformat(),
            "actions": {
                "baseline": {"freeze": 1, "cancel": n % 2, "blacklist": 0},
                "candidate": {"freeze": 0, "cancel": 1, "blacklist": n % 3},
            },
        }
        for n in range(days)
    ]
    svg = render_chart(Series.from_per_day(rows))
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    labels = horizontal_labels(svg)
    assert len(labels) > 10
    for size, anchor, x, text in labels:
        extent = len(text) * size * 0.65
        left = x - {"middle": extent / 2, "end": extent}.get(anchor, 0)
        assert left >= 0, (text, left)
        assert left + extent <= width, (text, left + extent, width)
    for label in ("enforced decisions per", "day (UTC)", "cumulative severity"):
        assert label in svg


def test_a_replay_that_decides_nothing_makes_a_page_without_a_chart(tmp_path: Path) -> None:
    """Only registrations pending verification: no decision, no day, no changed account; the
    page says so instead of drawing an empty chart, and lists no rules."""
    events = [
        event("registration", "ann", 0 * DAY, "r1", verification={"status": "pending"}),
    ]
    report = replay(unfrozen(tmp_path / "pack"), events, tmp_path / "w")
    assert (report["per_day"], report["accounts"], report["rules"]) == ([], [], [])
    page = render_html(report)
    assert "No enforced decisions in either version." in page
    assert "No account ends differently." in page
    assert "No decisions in either version." in page
    assert "<svg" not in page
    assert "No input file, version or time recorded" in page
