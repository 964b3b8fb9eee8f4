"""Hostile events (issue 13 item 4, issue 14 items 2, 6, 7, 8): every malformed input is a
recorded rejection with its field path, the run goes on, and nothing changes; each crash
class `bench/fuzz_events.py` found is a test here."""

from __future__ import annotations

import io
import json
import math
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist_rules import Engine, EventError, iter_jsonl, parse_event
from blacklist_rules.model.bounds import INT_LIMIT, MAX_DEPTH, MAX_EVENT_BYTES
from blacklist_rules.model.events import RumorFlag

from .support import default_pack_with, event, sqlite_connection

ROOT = Path(__file__).resolve().parents[1]
REACH_EQ = """
id: reach-exactly-100
version: 1
description: A rumour flag with a reach of exactly 100.
basis: Test basis.
on: rumor_flag
when:
  reach: {eq: 100}
then:
  action: freeze
  duration: 1d
  reason: Reach 100.
priority: 90
mode: enforce
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: t}
"""


def rumor(event_id: str = "e1", **fields: Any) -> dict[str, Any]:
    """A valid rumour flag (no rule of the default pack acts on one alone)."""
    base = {"content_id": "c1", "verdict": "rumor", "source": "user_report"}
    return event("rumor_flag", "acct-1", timedelta(0), event_id, **{**base, **fields})


def line(data: dict[str, Any], extra: str = "") -> str:
    """JSON text of `data`, with `extra` (raw JSON text: `"key": value`) spliced in last."""
    text = json.dumps(data)
    return text[:-1] + (", " + extra if extra else "") + "}"


def nested(depth: int) -> str:
    """JSON text of arrays nested `depth` deep."""
    return "[" * depth + "]" * depth


def rows(engine: Engine) -> dict[str, list[Any]]:
    """Every table but the audit trail (and its head) and the rejection digests: what a
    rejected input must leave as it was."""
    db = sqlite_connection(engine.store)
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found = {
        name: db.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()
        for name in names
        if name not in ("audit", "rejections")
    }
    found["meta"] = [row for row in found["meta"] if row[0] != "audit_head"]
    return found


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a SQLite file that has seen one event (its rule pack recorded)."""
    with Engine.from_path(db=tmp_path / "state.db") as engine:
        engine.process(rumor("warm-up"))
        yield engine


def rejected(engine: Engine, data: object) -> EventError:
    """Process `data`; it must come back rejected, with nothing changed and a record kept."""
    before, clock = rows(engine), engine.clock
    records = len(list(engine.audit_records()))
    outcome = engine.process(data)
    assert outcome.rejection is not None, "accepted"
    assert (rows(engine), engine.clock) == (before, clock)
    assert len(list(engine.audit_records())) == records + 1
    return outcome.rejection


# --- nesting ----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH, 990, 5000, 30_000])
def test_a_deeply_nested_line_is_a_rejection_and_the_run_goes_on(
    tmp_path: Path, depth: int
) -> None:
    """A short line nested ≥ 990 deep crashed `run` with RecursionError and the lines around
    it were never committed; now it is rejected and both neighbours are accepted."""
    path = tmp_path / "events.jsonl"
    bad = line(rumor("e2"), f'"x": {nested(depth)}')
    path.write_text("\n".join([json.dumps(rumor("e1")), bad, json.dumps(rumor("e3"))]) + "\n")
    with Engine.from_path(db=tmp_path / "s.db") as engine:
        outcomes = list(engine.run(iter_jsonl(path)))
    assert [o.rejection is None for o in outcomes] == [True, False, True]
    assert "nesting deeper than 32 levels" in str(outcomes[1].rejection)
    assert all(o.failure is None for o in outcomes)
    with Engine.from_path(db=tmp_path / "s.db") as engine:
        assert [o.duplicate for o in engine.run(iter_jsonl(path))] == [True, False, True]


@pytest.mark.parametrize(
    ("depth", "accepted"), [(MAX_DEPTH - 2, True), (MAX_DEPTH - 1, True), (MAX_DEPTH, False)]
)
def test_nesting_bound_at_its_edge(engine: Engine, depth: int, accepted: bool) -> None:
    """The event object is level 1, its extra field's arrays the levels below: 32 levels in
    all are accepted, 33 rejected, as JSON text and as a dict alike."""
    text = line(rumor(f"n{depth}"), f'"x": {nested(depth)}')
    data = {**rumor(f"d{depth}"), "x": json.loads(nested(depth))}
    for item in (text, data):
        outcome = engine.process(item)
        assert (outcome.rejection is None) == accepted, outcome.rejection


def test_a_deep_or_cyclic_dict_is_a_rejection(engine: Engine) -> None:
    """A dict nested 5,000 deep raised RecursionError out of `Engine.process`; a cyclic one
    would loop: both are rejected at the nesting bound, with their path."""
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    assert "nesting deeper" in rejected(engine, {**rumor("e1"), "x": deep}).reason
    error = rejected(engine, {**rumor("e2"), "x": cyclic})
    assert error.path.startswith("x.self.self")


# --- integers, numbers, text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (INT_LIMIT - 1, True),
        (INT_LIMIT, False),
        (-(INT_LIMIT - 1), True),
        (-INT_LIMIT, False),
        (10**4299, False),
    ],
    ids=["2^63-1", "2^63", "-(2^63-1)", "-2^63", "4300-digits"],
)
def test_integers_are_bounded_at_64_bits_in_every_form(
    engine: Engine, value: int, accepted: bool
) -> None:
    """|n| < 2^63 is accepted, |n| ≥ 2^63 rejected with its path: in an extra field and in
    `reach` (declared), as JSON text and as a dict."""
    for field in ("x", "reach"):
        if field == "reach" and value < 0:
            continue
        for form in ("text", "dict"):
            event_id = f"{field}-{form}-{value % 1000}-{value < 0}"
            data = {**rumor(event_id), field: value}
            item = line(rumor(event_id), f'"{field}": {value}') if form == "text" else data
            outcome = engine.process(item)
            assert (outcome.rejection is None) == accepted, (field, form, outcome.rejection)
            if not accepted:
                assert outcome.rejection is not None
                assert outcome.rejection.path == field


def test_a_number_of_4301_digits_in_a_line_is_a_rejection(engine: Engine) -> None:
    """4,301 digits raised ValueError out of `int()` (Python's conversion limit), a crash of
    `run`; now a rejection naming the field."""
    error = rejected(engine, line(rumor("e1"), '"x": ' + "9" * 4301))
    assert error.path == "x"
    assert "2^63" in error.reason


def test_reach_beyond_64_bits_against_an_eq_rule_is_a_rejection(tmp_path: Path) -> None:
    """`reach` of 2^64 against an `eq` rule failed evaluation on every retry (durable-rules
    compares 64-bit integers); now it is a rejection, and 100 still matches."""
    pack = default_pack_with(tmp_path / "pack", reach=REACH_EQ)
    with Engine.from_path(pack) as engine:
        outcome = engine.process(rumor("big", reach=2**64))
        assert outcome.rejection is not None
        assert outcome.rejection.path == "reach"
        assert outcome.failure is None
        (decision,) = engine.process(rumor("hundred", reach=100)).decisions
        assert decision.rule_id == "reach-exactly-100"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_rejected(engine: Engine, literal: str) -> None:
    """NaN and infinities are not JSON (Python's parser reads them): rejected with the path,
    in text and in dicts."""
    assert rejected(engine, line(rumor("t"), f'"x": {literal}')).path == "x"
    assert rejected(engine, {**rumor("d"), "x": float(literal)}).path == "x"


@pytest.mark.parametrize(
    "value",
    [{1, 2}, b"bytes", object(), "\ud83d", {1: "an int key"}, {"k": math.nan}],
    ids=["set", "bytes", "object", "lone-surrogate", "int-key", "nested-nan"],
)
def test_values_json_cannot_hold_are_rejected_not_failed(engine: Engine, value: object) -> None:
    """A set, bytes, an object, a lone surrogate or an int key in a dict event ended as an
    `EvaluationError` (the stored JSON could not be written): now a rejection."""
    error = rejected(engine, {**rumor("e1"), "x": value})
    assert error.path.startswith("x")


def test_a_lone_surrogate_escape_in_a_line_is_rejected(engine: Engine) -> None:
    """`"\\ud83d"` is valid JSON syntax but no text: rejected, located."""
    error = rejected(engine, line(rumor("e1"), '"x": "\\ud83d"'))
    assert error.path == "x"


# --- size -----------------------------------------------------------------------------------


def test_a_dict_event_is_bounded_like_a_line(engine: Engine) -> None:
    """A 10 MB extra field in a dict event was stored; it is rejected as a line of that size
    would be, and a 60 KB one is accepted."""
    assert "larger than" in rejected(engine, {**rumor("big"), "x": "a" * 10_000_000}).reason
    assert "larger than" in rejected(engine, {**rumor("many"), "x": list(range(1_000_000))}).reason
    assert engine.process({**rumor("fits"), "x": "a" * 60_000}).rejection is None


@pytest.mark.parametrize(
    ("size", "accepted"), [(MAX_EVENT_BYTES, True), (MAX_EVENT_BYTES + 1, False)]
)
def test_a_line_of_exactly_the_limit_is_accepted(tmp_path: Path, size: int, accepted: bool) -> None:
    """The limit is on the line's bytes, not counting its line end: 65,536 accepted, one
    more rejected."""
    head = line(rumor("e1"), '"x": "')
    text = head + "a" * (size - len(head) - 2) + '"}'
    assert len(text) == size
    path = tmp_path / "e.jsonl"
    path.write_text(text + "\r\n")
    (parsed,) = iter_jsonl(path)
    assert (parsed.error is None) == accepted, parsed.error


class Counted(io.BytesIO):
    """A binary file that remembers the longest piece it handed out."""

    longest = 0

    def readline(self, size: int | None = -1, /) -> bytes:
        piece = super().readline(-1 if size is None else size)
        self.longest = max(self.longest, len(piece))
        return piece

    def __next__(self) -> bytes:
        piece = super().__next__()
        self.longest = max(self.longest, len(piece))
        return piece


def test_a_long_line_is_never_read_whole(tmp_path: Path) -> None:
    """A 200 MB line was read whole (1 GB RSS) before its rejection: now lines are read in
    bounded pieces (here 8 MB, and no piece over 1 MiB), the line is rejected with its size,
    and the next line keeps its number."""
    long = b'{"x": "' + b"a" * (8 << 20) + b'"}\n'
    handle = Counted(long + json.dumps(rumor("e2")).encode() + b"\n")
    first, second = iter_jsonl(handle)
    assert "longer than 65536 bytes" in str(first.error)
    assert (second.line, second.error) == (2, None)
    assert handle.longest <= 1 << 20


# --- duplicate keys, wrong types ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (line(rumor("e1"), '"verdict": "malicious_rumor"'), ""),
        (line(rumor("e1"), '"verdict" : "malicious_rumor"'), ""),
        (line(rumor("e1"), '"x": {"a": 1, "a": 2}'), "x"),
        (
            '{"event_id": "v", "type": "identity_verification", "account_id": "a", '
            '"occurred_at": "2026-03-01T08:00:00+00:00", "status": "failed", "status": "passed"}',
            "",
        ),
    ],
    ids=["top", "spaced-colon", "nested", "status"],
)
def test_duplicate_keys_are_rejected(engine: Engine, text: str, path: str) -> None:
    """`"status":"failed","status":"passed"` was accepted, the last value winning (no
    freeze), while the evidence kept both: a key given twice is a rejection."""
    error = rejected(engine, text)
    assert (error.path, "twice" in error.reason) == (path, True)


def test_a_key_like_text_inside_a_string_is_no_duplicate(engine: Engine) -> None:
    """`\\":` inside a string value looks like one more key to the fast count; the exact
    parser finds none given twice: accepted."""
    text = line(rumor("e1"), '"note": "he said \\"verdict\\": no", "n2": "\\"x\\" : 1"')
    assert engine.process(text).rejection is None


def test_a_model_built_without_validation_is_validated(engine: Engine) -> None:
    """`model_construct` with wrong types got neither a decision nor an error; now the model
    is validated like a dict, and rejected with its paths."""
    model = RumorFlag.model_construct(
        event_id=5,
        account_id="acct-1",
        occurred_at="soon",
        type="rumor_flag",
        content_id="c",
        verdict="bad",
        source="user_report",
    )
    error = rejected(engine, model)
    assert error.path == "event_id"
    assert "occurred_at" in error.reason
    assert "verdict" in error.reason


def test_a_valid_model_is_still_accepted(engine: Engine) -> None:
    """A model built normally passes validation again unchanged."""
    model = parse_event(rumor("m1", reach=7))
    outcome = engine.process(model)
    assert (outcome.rejection, outcome.event_id) == (None, "m1")


# --- the property, and the harness ------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["\ud83d", "13800138000", "11010519491231002x"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(["x", "reach", "event_id", "account_id", "occurred_at", "verdict"]),
    value=json_values,
    as_text=st.booleans(),
)
def test_no_hostile_value_crashes_or_changes_state_when_rejected(
    engine: Engine, field: str, value: Any, as_text: bool
) -> None:
    """Any JSON-like value in any field, as a dict or as JSON text: an outcome (never an
    exception or a failure); when rejected, the store and the clock are as they were."""
    data = {**rumor(), field: value}
    try:
        item: object = json.dumps(data) if as_text else data
    except ValueError:  # no JSON text for NaN keys or the like: the dict alone
        item = data
    before, clock = rows(engine), engine.clock
    outcome = engine.process(item)
    assert outcome.failure is None
    if outcome.rejection is not None:
        assert (rows(engine), engine.clock) == (before, clock)


def test_the_fuzz_harness_runs_clean(tmp_path: Path) -> None:
    """`bench/fuzz_events.py` on a small budget: inputs tried, no crash, exit 0."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fuzz_events.py"),
            "--inputs",
            "150",
            "--seed",
            "7",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "crashes: 0" in result.stdout


def test_a_rejection_is_recorded_once_with_its_path(tmp_path: Path) -> None:
    """The audit trail keeps the path and reason of a hostile line (never its text)."""
    path = tmp_path / "e.jsonl"
    path.write_text(line(rumor("e1"), '"x": ' + "9" * 5000) + "\n")
    with Engine.from_path(db=tmp_path / "s.db") as engine:
        list(engine.run(iter_jsonl(path)))
        (record,) = [r for r in engine.audit_records() if r.kind == "rejected_event"]
    assert (record.record["path"], record.record["line"]) == ("x", 1)
    assert (
        "9" * 30
        not in sqlite3.connect(tmp_path / "s.db")
        .execute("SELECT * FROM audit")
        .fetchall()
        .__repr__()
    )
