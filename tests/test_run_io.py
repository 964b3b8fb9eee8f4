"""`run`'s input and reporting (issue 17): `-` reads events from stdin; `--quiet` keeps stderr
to what needs acting on; `--summary-json` writes the summary as one JSON object; a progress bar
shows on a terminal only. End to end through `python -m blacklist_rules` and real SQLite files."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from blacklist_rules import Engine, EvaluationError
from blacklist_rules.cli import main

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "examples" / "events.jsonl"
BAD = ROOT / "examples" / "bad_events.jsonl"


def cli(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The command line in a subprocess, events on stdin when given."""
    done = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        input=stdin,
        capture_output=True,
        check=False,
        timeout=300,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def test_run_dash_reads_the_events_from_stdin(tmp_path: Path) -> None:
    """The same events on stdin decide the same as from the file, and rejected lines are
    named `<stdin>:LINE`."""
    from_file = cli("run", str(EVENTS), "--db", "a.db", cwd=tmp_path)
    piped = cli("run", "-", "--db", "b.db", cwd=tmp_path, stdin=EVENTS.read_bytes())
    assert piped.returncode == from_file.returncode == 0, piped.stderr
    assert piped.stdout == from_file.stdout != ""
    assert piped.stderr == from_file.stderr.replace(str(EVENTS), "<stdin>")
    bad = cli("run", "-", "--db", "c.db", cwd=tmp_path, stdin=BAD.read_bytes())
    assert "<stdin>:2: rejected: malformed JSON" in bad.stderr


def test_quiet_leaves_stderr_to_what_needs_acting_on(tmp_path: Path) -> None:
    """`--quiet`: no reversal, rejection or summary lines, the exit code unchanged; the
    identity key's creation is still said (it must be backed up)."""
    quiet = cli("run", str(EVENTS), "--db", "q.db", "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0
    assert quiet.stdout != ""
    assert quiet.stderr == ""
    strict = cli("run", str(BAD), "--db", "q.db", "--quiet", "--strict", cwd=tmp_path)
    assert (strict.returncode, strict.stderr) == (1, "")
    env = {k: v for k, v in os.environ.items() if k != "BLACKLIST_RULES_IDENTITY_KEY"}
    fresh = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", "run", str(EVENTS), "--db", "k.db", "--quiet"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stderr.startswith("created the identity key file")


def test_quiet_still_reports_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure to evaluate is shown even with `--quiet` (exit 3 needs its reason)."""

    def boom(*args: object, **kwargs: object) -> object:
        raise EvaluationError("boom")

    monkeypatch.setattr(Engine, "advance_to", boom)
    db = str(tmp_path / "f.db")
    args = ["run", str(BAD), "--db", db, "--quiet", "--until", "2030-01-01T00:00:00Z", "--force"]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err == f"{BAD}: FAILED moving the clock (nothing moved): boom\n"


def test_summary_json_says_what_the_text_summary_says(tmp_path: Path) -> None:
    """`--summary-json FILE`: events by outcome, decisions by action and mode, reversals, the
    pack's digest, the clock and the exit code, as one JSON object."""
    done = cli("run", str(BAD), "--db", "s.db", "--summary-json", "sum.json", cwd=tmp_path)
    summary = json.loads((tmp_path / "sum.json").read_text(encoding="utf-8"))
    events = summary["events"]
    assert (
        f"processed {events['processed']} events: {events['accepted']} accepted, "
        f"{events['duplicates']} duplicates (ignored), {events['rejected']} rejected, "
        f"{events['failed']} failed"
    ) in done.stderr
    assert events["rejected"] == 7
    assert summary["exit_code"] == done.returncode == 0
    assert summary["source"] == str(BAD)
    with Engine.from_path(db=tmp_path / "s.db", read_only=True) as engine:
        assert summary["ruleset_digest"] == engine.digest
        assert summary["clock"] == (engine.clock.isoformat() if engine.clock else None)

    again = cli("run", str(EVENTS), "--db", "s.db", "--summary-json", "sum.json", cwd=tmp_path)
    summary = json.loads((tmp_path / "sum.json").read_text(encoding="utf-8"))
    shown = ", ".join(f"{d['count']} {d['action']} ({d['mode']})" for d in summary["decisions"])
    assert f"decisions: {shown}\n" in again.stderr
    assert summary["reversals"] == {"by_person": 1, "by_cascade": 0}
    assert [d["action"] for d in summary["decisions"]] == ["blacklist", "cancel", "freeze"]


def _on_a_terminal(tmp_path: Path, *args: str) -> str:
    """`run` with stderr on a pseudo-terminal: what the terminal received."""
    master, slave = os.openpty()
    size = struct.pack("HHHH", 24, 120, 0, 0)  # rows, columns: a new pty has none, and a bar
    fcntl.ioctl(slave, termios.TIOCSWINSZ, size)  # on a terminal 0 columns wide is empty
    with subprocess.Popen(
        [sys.executable, "-m", "blacklist_rules", "run", *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.DEVNULL,
        stderr=slave,
    ) as process:
        os.close(slave)
        received = bytearray()
        while True:  # read as it comes, so the terminal never fills up
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            received += chunk
        assert process.wait(timeout=300) == 0
    os.close(master)
    return received.decode("utf-8", "replace")


def test_a_progress_bar_shows_on_a_terminal_only(tmp_path: Path) -> None:
    """On a terminal: the count, rate and percent of the file's events; the summary lines
    still there. Off a terminal (every other test) and with `--quiet`: no bar."""
    shown = _on_a_terminal(tmp_path, str(EVENTS), "--db", "t.db")
    assert "1200/1200" in shown
    assert "events/s" in shown
    assert "100%" in shown
    assert "processed 1200 events: 1200 accepted" in shown
    quiet = _on_a_terminal(tmp_path, str(EVENTS), "--db", "u.db", "--quiet")
    assert quiet == ""
