"""End to end through the real command line on the real PostgreSQL server: `--db
postgresql://…` on every verb that takes a db gives what the same verbs give on a SQLite file
for the same events, the identity key never comes from beside a URL, and no message shows the
URL's password."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from blacklist_rules.model.identity import KEY_ENV
from tests.postgres import execute, fresh_database
from tests.test_cli import EXAMPLES, cli

pytestmark = pytest.mark.postgres

EVENTS = str(EXAMPLES / "events.jsonl")
SECRET = "not-a-real-secret"


@pytest.fixture
def url() -> Iterator[str]:
    """A database of its own, named by a URL that carries a password (the server's trust
    authentication ignores it): no output may show it."""
    with fresh_database() as plain:
        parts = urlsplit(plain)
        user = parts.username or "postgres"
        netloc = f"{user}:{SECRET}@{parts.hostname}:{parts.port or 5432}"
        yield parts._replace(netloc=netloc).geturl()


def _trail(stdout: str) -> list[dict[str, Any]]:
    """Audit records but for what the wall clock and the chain over it make differ."""
    records = [json.loads(line) for line in stdout.splitlines()]
    return [
        {k: v for k, v in r.items() if k not in ("recorded_at", "prev_hash", "hash")}
        for r in records
    ]


def _session(db: str, cwd: Path) -> dict[str, Any]:
    """run → status of every account decided on → audit verify → audit export (jsonl, dsa)
    → explain and notice of the first decision, all on one db."""
    ran = cli("run", EVENTS, "--db", db, cwd=cwd)
    assert ran.returncode == 0, ran.stderr
    decisions = [json.loads(line) for line in ran.stdout.splitlines()]
    accounts = sorted({d["account_id"] for d in decisions})
    statuses = {}
    for account in accounts:
        status = cli("status", account, "--db", db, "--json", cwd=cwd)
        assert status.returncode == 0, status.stderr
        statuses[account] = json.loads(status.stdout)
        assert statuses[account].pop("watermark", None) is None  # (no worker runs now)
    verified = cli("audit", "verify", "--db", db, cwd=cwd)
    exported = cli("audit", "export", "--db", db, cwd=cwd)
    dsa = cli("audit", "export", "--format", "dsa", "--db", db, cwd=cwd)
    first = decisions[0]["decision_id"]
    explained = cli("explain", first, "--db", db, cwd=cwd)
    notice = cli("notice", first, "--db", db, cwd=cwd)
    again = cli("run", EVENTS, "--db", db, cwd=cwd)
    outputs = (verified, exported, dsa, explained, notice, again)
    for done in outputs:
        assert done.returncode == 0, done.stderr
        assert SECRET not in done.stdout + done.stderr
    return {
        "decisions": ran.stdout,
        "summary": ran.stderr,
        "statuses": statuses,
        "verified": verified.stdout.split(", head")[0],
        "trail": _trail(exported.stdout),
        "dsa": [{**json.loads(line), "application_date": None} for line in dsa.stdout.splitlines()],
        "explained": explained.stdout,
        "notice": notice.stdout,
        "again": again.stdout,
    }


def test_a_postgres_db_gives_what_a_sqlite_file_gives_through_the_cli(
    url: str, tmp_path: Path
) -> None:
    """The example's events through `run`, then `status`, `audit verify`, `audit export`
    (jsonl and dsa), `explain`, `notice` and a second `run`: the same output on PostgreSQL
    as on SQLite, but the wall-clock stamps of the audit records."""
    postgres = _session(url, tmp_path)
    sqlite = _session(str(tmp_path / "x.db"), tmp_path)
    assert postgres["decisions"]
    assert postgres["verified"].startswith("chain intact:")
    assert postgres["again"] == ""
    assert postgres == sqlite


def test_audit_verify_on_postgres_finds_a_changed_record(url: str, tmp_path: Path) -> None:
    """A record changed behind the store's back: `audit verify --db URL` exits 1, and `audit
    export` refuses (exit 1) without `--force`."""
    assert cli("run", EVENTS, "--db", url, cwd=tmp_path).returncode == 0
    execute(
        url.replace(f":{SECRET}", ""),
        "UPDATE audit SET record = replace(record, 'freeze', 'thaw') WHERE seq = 3",
    )
    verified = cli("audit", "verify", "--db", url, cwd=tmp_path)
    assert verified.returncode == 1
    assert cli("audit", "export", "--db", url, cwd=tmp_path).returncode == 1
    assert SECRET not in verified.stdout + verified.stderr


def test_a_url_needs_the_key_from_the_environment_or_a_key_file(url: str, tmp_path: Path) -> None:
    """No key in the environment and no `--key-file`: one line on stderr saying what to set,
    exit 2, nothing written. `--key-file FILE` on a new db creates the file (mode 0600), and
    the verbs that read the db then open it with the same file."""
    refused = cli("run", EVENTS, "--db", url, cwd=tmp_path, without_key=True)
    assert refused.returncode == 2
    assert refused.stdout == ""
    message = refused.stderr.strip()
    assert "\n" not in message
    assert f"set ${KEY_ENV} or name a key file (--key-file FILE)" in message
    assert SECRET not in message
    key = tmp_path / "pg.key"
    made = cli("run", EVENTS, "--db", url, "--key-file", str(key), cwd=tmp_path, without_key=True)
    assert made.returncode == 0, made.stderr
    assert key.stat().st_mode & 0o777 == 0o600
    decided = json.loads(made.stdout.splitlines()[0])["account_id"]
    status = cli(
        "status", decided, "--db", url, "--key-file", str(key), cwd=tmp_path, without_key=True
    )
    assert status.returncode == 0, status.stderr
    unkeyed = cli("status", decided, "--db", url, cwd=tmp_path, without_key=True)
    assert unkeyed.returncode == 2
    assert SECRET not in unkeyed.stderr


def test_an_unknown_account_on_postgres_exits_6_without_the_password(
    url: str, tmp_path: Path
) -> None:
    """`status` of an account the db never saw: exit 6, naming the db by host and name."""
    assert cli("run", EVENTS, "--db", url, cwd=tmp_path).returncode == 0
    unknown = cli("status", "nobody", "--db", url, cwd=tmp_path)
    assert unknown.returncode == 6
    assert "postgresql://postgres@127.0.0.1" in unknown.stderr
    assert SECRET not in unknown.stderr
