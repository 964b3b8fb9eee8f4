"""Delivery before commit: whatever `run` and `Engine.run` hand out reaches its destination
before the batch that decided it commits, so a kill never leaves a committed decision that
was never delivered (at least once: what was delivered but not committed comes again)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from blacklist_rules import Engine, iter_jsonl
from blacklist_rules.testing import generate_events, write_jsonl

from .test_cli import ROOT

CONSUMER = """\
import sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    for line in sys.stdin:
        if line.endswith("\\n"):  # a line cut by the kill is not a delivery
            out.write(line)
            out.flush()
"""
"""The far end of `run | consumer`: appends each whole line to a file, flushed at once."""


def _committed(db: Path) -> set[str]:
    """The decision ids committed in the db, read by another connection (read-only)."""
    if not db.exists():
        return set()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        try:
            return {row[0] for row in connection.execute("SELECT decision_id FROM decisions")}
        except sqlite3.OperationalError:  # the schema is not there yet
            return set()


def _delivered(path: Path) -> set[str]:
    if not path.exists():
        return set()
    lines = path.read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["decision_id"] for line in lines}


def test_engine_run_calls_before_commit_before_each_commit(tmp_path: Path) -> None:
    """A caller that buffers what `Engine.run` yields (as stdout does, here up to 4
    decisions) and empties the buffer in `before_commit`: at every step, every decision
    another connection sees committed has reached the destination."""
    events = tmp_path / "events.jsonl"
    write_jsonl(generate_events(1500, n_accounts=100, seed=3, benign_share=0.0), events)
    db = tmp_path / "x.db"
    buffer: list[str] = []
    delivered: set[str] = set()

    def deliver() -> None:
        delivered.update(buffer)
        buffer.clear()

    steps = 0
    with Engine.from_path(db=db, create_key=True) as engine:
        engine.commit_every = 7
        engine.before_commit = deliver
        for outcome in engine.run(iter_jsonl(events)):
            buffer.extend(decision.decision_id for decision in outcome.decisions)
            if len(buffer) >= 4:
                deliver()
            missing = _committed(db) - delivered
            assert not missing, f"committed, never delivered: {sorted(missing)}"
            steps += 1
    assert _committed(db) == delivered
    assert len(delivered) > 50  # enough batches to matter
    assert steps == 1500


def _kill_at_random_point(
    events: Path, db: Path, out: Path, consumer: Path, rng: random.Random
) -> bool:
    """One trial: start `run EVENTS --db DB | consumer OUT`, SIGKILL `run` once a random
    number of further decisions is committed (or after a random time), let the consumer
    drain the pipe. True when the kill landed while `run` was still running."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("PYTHONUNBUFFERED", None)  # stdout into a pipe is block-buffered, as for users
    command = [sys.executable, "-m", "blacklist_rules", "run", str(events), "--db", str(db)]
    command += ["--commit-every", str(rng.choice([3, 10, 25]))]
    before = len(_committed(db))
    wanted = before + rng.randint(1, 40)
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert run.stdout is not None
    sink = subprocess.Popen([sys.executable, str(consumer), str(out)], stdin=run.stdout)
    run.stdout.close()  # the consumer alone holds the pipe: it sees the end when `run` dies
    deadline = time.monotonic() + 60
    while run.poll() is None and time.monotonic() < deadline:
        if len(_committed(db)) >= wanted:
            time.sleep(rng.uniform(0, 0.05))
            break
        time.sleep(0.01)
    alive = run.poll() is None
    if alive:
        run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    sink.wait(timeout=60)
    return alive


def test_killed_run_into_a_pipe_never_loses_a_committed_decision(tmp_path: Path) -> None:
    """`run EVENTS --db DB | consumer`, `run` SIGKILLed at seeded random points, 6 times on
    the same db and output (each rerun goes on where the last commit left off): every
    decision committed in the db was delivered to the consumer at least once."""
    events = tmp_path / "events.jsonl"
    write_jsonl(generate_events(4000, n_accounts=300, seed=3, benign_share=0.0), events)
    consumer = tmp_path / "consumer.py"
    consumer.write_text(CONSUMER, encoding="utf-8")
    db, out = tmp_path / "x.db", tmp_path / "delivered.jsonl"
    rng = random.Random(13)
    kills = 0
    for _ in range(6):
        kills += _kill_at_random_point(events, db, out, consumer, rng)
        missing = _committed(db) - _delivered(out)
        assert not missing, f"committed, never delivered: {sorted(missing)}"
    assert kills >= 3  # the kills landed mid-run, not after it
    assert _committed(db)
