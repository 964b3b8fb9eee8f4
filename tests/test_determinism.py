"""Cross-process determinism: the same events give the same bytes, whatever the hash seed.

Python randomises `str` hashing per process (PYTHONHASHSEED), so anything that iterates a set
or relies on `hash()` can order decisions, evidence or audit records differently from one run
to the next, and a replay would not reproduce the trail it is checked against. Two real
`blacklist-rules run` processes under different seeds must print byte-identical stdout and
stderr, and write identical audit trails and state.

The one thing allowed to differ is the wall clock: every audit record carries `recorded_at`
(when it was written, as a log must), and the chain's hashes cover it, so `hash`, `prev_hash`
and the head differ too; `rulesets.first_used_at` and `streams.filled_at` are wall-clock
times as well. The test shows the hashes differ *only* because of `recorded_at`: run A's
records re-hashed with run B's `recorded_at` give run B's hashes exactly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules.model.chain import FIELDS, GENESIS, record_hash
from blacklist_rules.model.identity import KEY_ENV

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "examples" / "events.jsonl"
SEEDS = ("0", "271828")
WALL_CLOCK_ONLY = {"rulesets", "streams", "meta"}
"""Tables holding wall-clock times (or the audit head, a hash over them): compared apart."""


def _cli(*args: str, cwd: Path, seed: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONHASHSEED": seed}
    env[KEY_ENV] = "determinism-test-key-" + "0123456789abcdef" * 2
    return subprocess.run(
        [sys.executable, "-m", "blacklist_rules", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """`run` over the example log, then `audit export`, once per seed, each in its own folder."""
    done = []
    for seed in SEEDS:
        folder = tmp_path_factory.mktemp(f"seed-{seed}")
        run = _cli("run", str(EVENTS), cwd=folder, seed=seed)
        assert run.returncode == 0, run.stderr
        export = _cli("audit", "export", "--format", "jsonl", cwd=folder, seed=seed)
        assert export.returncode == 0, export.stderr
        done.append({"run": run, "export": export, "db": folder / "blacklist-rules.db"})
    return done


def test_stdout_and_stderr_are_byte_identical(runs: list[dict[str, Any]]) -> None:
    """The decisions printed, and the summary, are the same bytes under both seeds."""
    first, second = (r["run"] for r in runs)
    assert first.stdout  # decisions were printed: the comparison is not of two empty outputs
    assert first.stdout == second.stdout
    assert first.stderr == second.stderr


def test_audit_exports_differ_only_in_recorded_at(runs: list[dict[str, Any]]) -> None:
    """`audit export --format jsonl`: the same records in the same order, every field equal
    but the wall-clock `recorded_at`."""
    first, second = ([json.loads(line) for line in r["export"].stdout.splitlines()] for r in runs)
    assert len(first) > 10
    assert {record["kind"] for record in first} >= {"decision", "status_change", "reversal"}
    for a, b in zip(first, second, strict=True):
        assert {**a, "recorded_at": None} == {**b, "recorded_at": None}


def _audit_rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    connection.close()
    return [dict(row) for row in rows]


def test_the_chains_differ_only_by_the_wall_clock(runs: list[dict[str, Any]]) -> None:
    """The audit tables are equal column by column but `recorded_at`, `prev_hash` and `hash`;
    re-hashing the first run's records with the second run's `recorded_at` gives the second
    run's hashes, record by record: nothing else feeds the difference."""
    first, second = (_audit_rows(r["db"]) for r in runs)
    assert len(first) == len(second)
    varying = {"recorded_at", "prev_hash", "hash"}
    previous = GENESIS
    for a, b in zip(first, second, strict=True):
        assert {k: v for k, v in a.items() if k not in varying} == {
            k: v for k, v in b.items() if k not in varying
        }
        values = [b["recorded_at"] if name == "recorded_at" else a[name] for name in FIELDS]
        assert b["prev_hash"] == previous
        previous = record_hash(values, previous)
        assert b["hash"] == previous


def test_state_tables_are_identical(runs: list[dict[str, Any]]) -> None:
    """Every table of state (decisions, accounts, blacklist, deadlines, history, identities,
    events, …) holds the same rows in the same order under both seeds; the meta table differs
    only by the audit head's hash."""
    tables = []
    for r in runs:
        with sqlite3.connect(r["db"]) as connection:
            names = [
                row[0]
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            content = {
                name: connection.execute(f"SELECT * FROM {name}").fetchall()
                for name in names
                if name not in WALL_CLOCK_ONLY | {"audit"}
            }
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        connection.close()
        tables.append((names, content, meta))
    (names_a, content_a, meta_a), (names_b, content_b, meta_b) = tables
    assert names_a == names_b
    assert content_a["decisions"]
    assert content_a == content_b
    assert {**meta_a, "audit_head": None} == {**meta_b, "audit_head": None}
    assert meta_a["audit_head"].split(":")[0] == meta_b["audit_head"].split(":")[0]
