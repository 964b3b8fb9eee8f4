"""The HTML report of `diff` in a real headless browser, Debian's chromium: the page loads from a
file:// URL with no console message (no script error, no blocked fetch), its script pages the
changed accounts, and its screenshot is not blank. .ci/run installs chromium when it is absent;
only where it cannot be installed does this skip, saying so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from blacklist_rules import Engine, iter_jsonl, load_ruleset, render_html, replay_diff, shadow_diff
from blacklist_rules.tools.diff_html import render_shadow_html

from .support import SHADOW_REPORT_FREEZE, default_pack_with, event

HOSTILE = '<img src="https://example.invalid/x.png" onerror="alert(1)">'
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
)


def _chromium() -> str | None:
    """$BLACKLIST_RULES_CHROMIUM, else Debian's /usr/bin/chromium, else one on the PATH."""
    named = os.environ.get("BLACKLIST_RULES_CHROMIUM")
    if named:
        return named
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _chromium()
    if found is None:
        pytest.skip(
            "chromium is not installed here and could not be: `apt-get install -y chromium` "
            "(.ci/run installs it when it is absent)"
        )
    return found


def browse(chromium: str, page: Path, work: Path, *action: str) -> tuple[str, str]:
    """Load `page` from its file:// URL in a fresh profile; (stdout, console lines)."""
    profile = work / f"profile-{len(list(work.glob('profile-*')))}"
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    console = "\n".join(line for line in done.stderr.splitlines() if ":CONSOLE" in line)
    return done.stdout, console


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report with 71 changed accounts (two pages of 50), one of them with a reversal, one
    named as markup: unescaped, its image would be fetched against the policy, a console
    line."""
    work = tmp_path_factory.mktemp("browser")
    pack = default_pack_with(work / "pack")
    for rule_id in ("freeze-failed-verification", "cancel-unverified-after-freeze"):
        next(pack.rglob(f"{rule_id}.yaml")).unlink()
    events: list[dict[str, Any]] = [
        event(
            "identity_verification",
            f"acct-{n:03d}",
            timedelta(days=n % 9, hours=n % 24),
            f"v{n}",
            status="failed",
            reason="name_id_mismatch",
        )
        for n in range(70)
    ]
    events.append(
        event(
            "identity_verification",
            HOSTILE,
            timedelta(days=2),
            "v-hostile",
            status="failed",
            reason="name_id_mismatch",
        )
    )
    events.append(
        event(
            "review_decision",
            "acct-000",
            timedelta(days=10),
            "lift-1",
            reviewer_id="r",
            action="lift",
            reason="ok",
        )
    )
    report = replay_diff(
        load_ruleset(),
        load_ruleset(pack),
        iter_jsonl([json.dumps(e) for e in events]),
        work,
    )
    path = work / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


def test_the_report_loads_without_console_messages_and_is_not_blank(
    chromium: str, report_page: Path, tmp_path: Path
) -> None:
    """A screenshot of the page: chromium logs no console message (a script error, a fetch
    the page's policy blocked), and the picture has more than one colour."""
    shot = tmp_path / "report.png"
    _, console = browse(
        chromium, report_page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000"
    )
    assert console == ""
    with Image.open(shot) as image:
        stat = ImageStat.Stat(image.convert("L"))
        assert image.size == (1280, 2000)
    assert stat.var[0] > 0


def test_the_script_pages_the_changed_accounts(
    chromium: str, report_page: Path, tmp_path: Path
) -> None:
    """The DOM after load: the controls are shown, the first 50 of 71 accounts visible (the
    one reviewed back to active among them), the other 21 hidden, and the count says so; the
    account named as markup is text; nothing logged."""
    dom, console = browse(chromium, report_page, tmp_path, "--dump-dom")
    assert console == ""
    assert '<div id="controls">' in dom
    assert '<span id="shown">1\u201350 of 71 accounts (71 changed in all)</span>' in dom
    assert dom.count('<tr data-transition="frozen → active" hidden="">') == 21
    assert dom.count('<tr data-transition="frozen → active">') == 49
    assert "reversed by review_decision" in dom
    assert "<img" not in dom
    assert "&lt;img src=" in dom


def test_the_console_check_sees_a_script_error(chromium: str, tmp_path: Path) -> None:
    """The check above is not blind: a page whose script throws, and one fetching from
    outside against its policy, each leave a console line."""
    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("kaput")</script>')
    _, console = browse(chromium, broken, tmp_path, "--dump-dom")
    assert "Uncaught Error: kaput" in console
    fetching = tmp_path / "fetching.html"
    fetching.write_text(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        '<img src="http://example.invalid/x.png">'
    )
    _, console = browse(chromium, fetching, tmp_path, "--dump-dom")
    assert "Content Security Policy" in console


def test_a_report_where_nothing_changes_loads_cleanly(chromium: str, tmp_path: Path) -> None:
    """The default pack against itself on the example events: no account to list, no
    controls, and the script finds nothing to page without an error."""
    examples = Path(__file__).resolve().parents[1] / "examples" / "events.jsonl"
    ruleset = load_ruleset()
    page = tmp_path / "same.html"
    page.write_text(render_html(replay_diff(ruleset, ruleset, iter_jsonl(examples), tmp_path)))
    dom, console = browse(chromium, page, tmp_path, "--dump-dom")
    assert console == ""
    assert "No account ends differently." in dom
    assert 'id="controls"' not in dom


def test_the_shadow_report_loads_cleanly_and_pages_its_accounts(
    chromium: str, tmp_path: Path
) -> None:
    """`diff --shadow`'s page (a shadow freeze on any unconfirmed report, over the example
    events): no console message, a screenshot that is not blank, the controls shown and every
    changed account in the table, 50 a page."""
    examples = Path(__file__).resolve().parents[1] / "examples" / "events.jsonl"
    pack = default_pack_with(tmp_path / "pack", shadow=SHADOW_REPORT_FREEZE)
    with Engine.from_path(pack, db=tmp_path / "s.db") as engine:
        for _ in engine.run(iter_jsonl(examples)):
            pass
        report = shadow_diff(engine)
    page = tmp_path / "shadow.html"
    page.write_text(render_shadow_html(report, tool_version="test"), encoding="utf-8")
    shot = tmp_path / "shadow.png"
    _, console = browse(chromium, page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert console == ""
    with Image.open(shot) as image:
        assert ImageStat.Stat(image.convert("L")).var[0] > 0
    dom, console = browse(chromium, page, tmp_path, "--dump-dom")
    assert console == ""
    changed = report["accounts_changed"]
    assert changed > 0
    assert '<div id="controls">' in dom
    shown = min(changed, 50)
    assert (
        f'<span id="shown">1\u2013{shown} of {changed} accounts ({changed} changed in all)' in dom
    )
    assert dom.count('<tr data-transition="active → frozen"') == changed
