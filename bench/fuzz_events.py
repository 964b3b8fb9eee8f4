"""Fuzz the event boundary: hostile dicts, models and JSON lines against a real SQLite engine.

    PYTHONPATH=src python bench/fuzz_events.py --seconds 120 [--seed 1] [--out DIR]
    PYTHONPATH=src python bench/fuzz_events.py --inputs 20000

A seeded generator (the same seed gives the same inputs) mutates valid events of every type
with hostile values (huge and 64-bit-edge integers, deep nesting, NaN, long and broken text,
non-JSON Python objects, identity values, wrong types in `model_construct`) and their JSON text
(duplicate keys, deep brackets, long numbers, lone surrogates, flipped bytes, over-long lines).
Inputs go to `Engine.process` one by one and, as JSONL batches, through
`Engine.run(iter_jsonl(...))`, under a rule pack that adds a `reach: {eq: 100}` rule to the
default one.

A crash is any exception out of the engine, an `EvaluationError` (a failure: a malformed input
must be a rejection), an input that took longer than `--alarm` seconds, or a rejected input
after which the store (every table but the audit trail and the rejection digests) or the clock
differs, or an accepted event stored with one of the generator's ID numbers or phones raw in
its account id or an extra field. Each crash is saved to `--out` as a reproducer (seed, index,
input, traceback). Exit 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from blacklist_rules import Engine, EvaluationError, SQLiteStore, default_rules_path, iter_jsonl
from blacklist_rules.model.events import EVENT_MODELS

REACH_RULE = """
id: fuzz-reach-equals
version: 1
description: A rumour flag with a reach of exactly 100 (an `eq` test on an integer).
basis: Fuzzing.
on: rumor_flag
when:
  reach: {eq: 100}
then:
  action: freeze
  duration: 1d
  reason: Reach 100.
priority: 90
mode: shadow
dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC, ground: incompatible, reference: fuzz}
"""
T0 = datetime(2026, 3, 1, tzinfo=UTC)
IDENTITY_VALUES = ("11010519491231002x", "+86 138 0013 8000", "13800138000", "110105 19491231 002X")
RAW_FORMS = ("13800138000", "138 0013 8000", "11010519491231002", "110105 19491231 002")
"""What must never be stored of `IDENTITY_VALUES` (their digits, in any writing sent)."""
IGNORED_TABLES = {"audit", "rejections", "sqlite_sequence"}
"""A rejection writes its audit record and its digest there; nothing else may change."""


def shown(item: object) -> str:
    """repr, unless the input defeats it (deep nesting, a 5,000-digit integer)."""
    try:
        return repr(item)[:1_000_000]
    except (ValueError, RecursionError) as exc:
        return f"({type(item).__name__} whose repr fails: {exc!r:.80})"


class HangError(Exception):
    """An input took longer than the alarm."""


def valid_event(rng: random.Random, index: int) -> dict[str, Any]:
    """One valid event of a random type, on one of a few accounts."""
    kind = rng.choice(sorted(EVENT_MODELS))
    base: dict[str, Any] = {
        "event_id": f"fz-{index}",
        "type": kind,
        "account_id": f"acct-{rng.randrange(5)}",
        "occurred_at": (T0 + timedelta(hours=rng.randrange(24 * 200))).isoformat(),
    }
    fields: dict[str, dict[str, Any]] = {
        "registration": {"identity": {"id_number": rng.choice((*IDENTITY_VALUES[:1], "x"))}},
        "identity_verification": {"status": rng.choice(["passed", "failed"])},
        "impersonation_report": {"reporter_id": "r1", "confirmed": rng.random() < 0.5},
        "rumor_flag": {
            "content_id": f"c{rng.randrange(4)}",
            "verdict": "malicious_rumor",
            "source": "fact_check",
            "reach": rng.choice([100, 2**63 - 1, 0]),
        },
        "review_decision": {"reviewer_id": "rv", "action": "freeze", "reason": "r"},
        "appeal_outcome": {"decision_id": "d-x", "outcome": "upheld", "reviewer_id": "rv"},
        "list_update": {"list": "official", "op": rng.choice(["add", "remove"]), "reason": "r"},
    }
    return {**base, **fields[kind]}


def nested(rng: random.Random, depth: int) -> Any:
    value: Any = rng.choice([[], {}, 1, "x"])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def hostile_value(rng: random.Random) -> Any:
    """A value no event field expects, or one at an edge."""
    big = 2 ** rng.choice([62, 63, 64, 100]) - rng.choice([0, 1])
    makers: list[Callable[[], Any]] = [
        lambda: big * rng.choice([1, -1]),
        lambda: 10 ** rng.choice([18, 19, 400, 4300, 4301, 6000]),
        lambda: rng.choice([math.nan, math.inf, -math.inf, 1e308, -0.0]),
        lambda: nested(rng, rng.choice([5, 31, 32, 33, 200, 990, 3000])),
        lambda: "a" * rng.choice([100, 2001, 70_000, 1_000_000]),
        lambda: rng.choice(["\ud83d", "\x00", "\u202e", "", " ", "é" * 30]),
        lambda: rng.choice([b"bytes", {1, 2}, object(), (1, 2), T0, {1: "int key"}]),
        lambda: rng.choice([None, True, False, [], {}]),
        lambda: list(range(rng.choice([10, 40_000]))),
        lambda: rng.choice(IDENTITY_VALUES),
    ]
    return rng.choice(makers)()


def mutated_dict(rng: random.Random, index: int) -> dict[str, Any]:
    event = valid_event(rng, index)
    for _ in range(rng.choice([1, 1, 2])):
        name = rng.choice([*event, "extra", "identity", "evidence"])
        action = rng.random()
        if action < 0.15 and name in event:
            del event[name]
        elif name == "identity" and event.get("type") == "registration":
            event["identity"] = {rng.choice(["phone", "id_number", "bogus"]): hostile_value(rng)}
        else:
            event[name] = hostile_value(rng)
    return event


def constructed(rng: random.Random, index: int) -> Any:
    """A model built with `model_construct`: no validation, possibly wrong types."""
    event = mutated_dict(rng, index)
    kind = event.get("type")
    model = EVENT_MODELS.get(kind if isinstance(kind, str) else "", EVENT_MODELS["rumor_flag"])
    return model.model_construct(**{str(k): v for k, v in event.items()})


def jsonable(rng: random.Random, index: int) -> dict[str, Any]:
    event = valid_event(rng, index)
    if rng.random() < 0.5:
        event[rng.choice([*event, "extra"])] = rng.choice(
            [2**63, -(2**63), 2**63 - 1, 10**30, "x" * 3000, None, [1, [2]], "\u0000"]
        )
    return event


def text_line(rng: random.Random, index: int) -> bytes:
    """JSON text of an event, then broken the way hostile senders break it."""
    text = json.dumps(jsonable(rng, index), ensure_ascii=rng.random() < 0.5)
    cut = text.rindex("}")
    splices = [
        lambda: (
            text[:cut]
            + ', "x": '
            + "[" * (d := rng.choice([31, 32, 33, 254, 990, 5000]))
            + "]" * d
            + "}"
        ),
        lambda: text[:cut] + ', "x": ' + "9" * rng.choice([18, 19, 20, 4300, 4301, 6000]) + "}",
        lambda: (
            text[:cut] + ', "x": ' + rng.choice(["NaN", "Infinity", "-Infinity", "1e400"]) + "}"
        ),
        lambda: text[:cut] + ', "type": "registration"}',
        lambda: text[:cut] + ', "event_id": "other"}',
        lambda: text[:cut] + ', "x": "\\ud83d"}',
        lambda: text[:cut] + ', "x": "' + "a" * rng.choice([60_000, 66_000, 300_000]) + '"}',
        lambda: text[: rng.randrange(len(text))],
        lambda: rng.choice(["[]", "1", '"x"', "null", "{}", "{" * 100_000]),
        lambda: text.replace('":', '" :', 1),
    ]
    line = rng.choice(splices)() if rng.random() < 0.8 else text
    data = bytearray(line.encode("utf-8", "surrogatepass"))
    if rng.random() < 0.1 and data:
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data).replace(b"\n", b" ")


def state(engine: Engine) -> str:
    """A digest of what the db holds beside its audit trail, and the clock."""
    assert isinstance(engine.store, SQLiteStore)
    db = engine.store.connection  # every table, as SQLite holds it
    digest = hashlib.sha256(str(engine.clock).encode())
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in sorted(set(tables) - IGNORED_TABLES):
        for row in db.execute(f"SELECT * FROM {table} ORDER BY 1"):
            if table != "meta" or row[0] != "audit_head":  # the audit trail's head
                digest.update(repr(row).encode())
    return digest.hexdigest()


class Fuzzer:
    """Feeds inputs, classifies what comes back, keeps counts and reproducers."""

    def __init__(self, rules: Path, work: Path, out: Path, alarm: float, seed: int) -> None:
        self.rules, self.work, self.out, self.alarm, self.seed = rules, work, out, alarm, seed
        self.counts: Counter[str] = Counter()
        self.crashes: Counter[str] = Counter()
        self.engines = 0
        self.engine = self._fresh()

    def _fresh(self) -> Engine:
        self.engines += 1
        engine = Engine.from_path(
            self.rules, db=self.work / f"fuzz-{self.engines}.db", create_key=True
        )
        # The first write records the rule pack, whatever the input: done before any is judged.
        engine.process(valid_event(random.Random(0), 0))
        return engine

    def _crash(self, kind: str, index: int, target: str, item: object, detail: str) -> None:
        self.crashes[kind] += 1
        if self.crashes[kind] <= 3:  # a few reproducers of each class
            name = "".join(c if c.isalnum() else "-" for c in kind)[:60]
            text = item if isinstance(item, bytes) else shown(item).encode("utf-8", "replace")
            path = self.out / f"{name}-{index}.txt"
            head = (
                f"seed {self.seed} index {index} target {target}\n{kind}\n{detail}\n--- input ---\n"
            )
            path.write_bytes(head.encode() + text[:1_000_000])
        self.engine.close()
        self.engine = self._fresh()  # the engine may be in any state now

    def process(self, index: int, item: object) -> None:
        before = state(self.engine)
        signal.setitimer(signal.ITIMER_REAL, self.alarm)
        try:
            outcome = self.engine.process(item)
        except HangError:
            self._crash("hang", index, "process", item, "")
            return
        except EvaluationError as exc:
            self._crash(
                f"EvaluationError {shown(exc.__cause__):.60}", index, "process", item, str(exc)
            )
            return
        except Exception as exc:
            self._crash(type(exc).__name__, index, "process", item, traceback.format_exc())
            return
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self._judge(index, "process", item, outcome, before)

    def run(self, index: int, lines: list[bytes]) -> None:
        before = state(self.engine)
        lines_in = iter_jsonl(io.BytesIO(b"\n".join(lines) + b"\n"))
        outcomes = self.engine.run(lines_in, failures="outcome")
        position = 0
        signal.setitimer(signal.ITIMER_REAL, self.alarm * len(lines))
        try:
            for position, outcome in enumerate(outcomes):
                if not self._judge(index, "run", lines[position], outcome, before):
                    break  # a crash replaced the engine
                before = state(self.engine)
        except HangError:
            self._crash("hang (run)", index, "run", lines[position], "")
        except Exception as exc:
            self._crash(f"{type(exc).__name__} (run)", index, "run", lines, traceback.format_exc())
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _stored_raw(self, event_id: str | None) -> bool:
        """Does the stored event hold one of the generator's identity values raw, in its
        account id or an extra field? (Declared text fields, such as a reviewer's `reason`,
        are stored as given: not what is checked.)"""
        found = self.engine.store.event_rows([event_id] if event_id else [])
        if not found:
            return False
        account_id = found[0].account_id
        payload = json.loads(found[0].payload)
        declared = EVENT_MODELS[payload["type"]].model_fields
        extra = {name: value for name, value in payload.items() if name not in declared}
        stored = account_id + json.dumps(extra, ensure_ascii=False)
        return any(raw in stored for raw in RAW_FORMS)

    def _judge(self, index: int, target: str, item: object, outcome: Any, before: str) -> bool:
        """Count the outcome; False when it was a crash (the engine was replaced)."""
        self.counts[f"{target} inputs"] += 1
        if outcome.failure is not None:
            self._crash(f"failure ({target})", index, target, item, str(outcome.failure))
            return False
        if outcome.rejection is None:
            self.counts[f"{target} accepted or duplicate"] += 1
            if self._stored_raw(outcome.event_id):
                self._crash(f"identity value stored raw ({target})", index, target, item, "")
                return False
            return True
        self.counts[f"{target} rejected"] += 1
        if state(self.engine) != before:
            self._crash(f"rejected but changed state ({target})", index, target, item, "")
            return False
        return True


def inputs(rng: random.Random) -> Iterator[tuple[str, Any]]:
    index = 0
    while True:
        index += 1
        roll = rng.random()
        if roll < 0.35:
            yield "process", mutated_dict(rng, index)
        elif roll < 0.45:
            yield "process", constructed(rng, index)
        elif roll < 0.75:
            yield "process", text_line(rng, index)
        else:
            yield "run", [text_line(rng, index * 100 + k) for k in range(rng.randint(1, 8))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    parser.add_argument("--inputs", type=int, default=None, help="stop after this many inputs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alarm", type=float, default=10.0, help="seconds an input may take")
    parser.add_argument("--out", type=Path, default=None, help="reproducers (default: a temp dir)")
    args = parser.parse_args(argv)

    def ring(signum: int, frame: object) -> None:
        raise HangError

    signal.signal(signal.SIGALRM, ring)
    sys.set_int_max_str_digits(4300)  # the interpreter's default, whatever the environment says
    out = args.out or Path(tempfile.mkdtemp(prefix="fuzz-events-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        # the default pack without its notice templates (the added rule has none)
        shutil.copytree(default_rules_path(), rules, ignore=shutil.ignore_patterns("notices"))
        (rules / "fuzz-reach-equals.yaml").write_text(REACH_RULE, encoding="utf-8")
        fuzzer = Fuzzer(rules, Path(tmp), out, args.alarm, args.seed)
        started, tried = time.monotonic(), 0
        for index, (target, item) in enumerate(inputs(rng), start=1):
            if time.monotonic() - started > args.seconds or (args.inputs and tried >= args.inputs):
                break
            if target == "process":
                fuzzer.process(index, item)
                tried += 1
            else:
                fuzzer.run(index, item)
                tried += len(item)
            if index % 500 == 0:  # keep the db small: state digests read every row
                fuzzer.engine.close()
                fuzzer.engine = fuzzer._fresh()
        fuzzer.engine.close()
    elapsed = time.monotonic() - started
    print(f"seed {args.seed}: {tried:,} inputs in {elapsed:.0f} s ({tried / elapsed:,.0f}/s)")
    for name, count in sorted(fuzzer.counts.items()):
        print(f"  {name}: {count:,}")
    print(f"crashes: {sum(fuzzer.crashes.values()):,}")
    for kind, count in fuzzer.crashes.most_common():
        print(f"  {count:>7,}  {kind}")
    if fuzzer.crashes:
        print(f"reproducers in {out}")
    return 1 if fuzzer.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
