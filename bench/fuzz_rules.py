"""Fuzz the rule-file and case-file loaders with seeded mutations of the shipped files.

    PYTHONPATH=src python bench/fuzz_rules.py --seconds 60            # one minute, seed 1
    PYTHONPATH=src python bench/fuzz_rules.py --inputs 2000 --seed 7  # a fixed number of inputs
    PYTHONPATH=src python bench/fuzz_rules.py --replay crashes/       # rerun saved reproducers
    PYTHONPATH=src python bench/fuzz_rules.py --pathological --seconds 60  # that class alone

Each input is one file of `rules/` (or of `tests/cases/`) with one to three mutations stacked:
byte flips, line deletions, duplications and swaps, indents moved, deep flow and block nesting,
anchors and aliases (billion laughs included), huge integers, unicode oddities (lone surrogate
escapes, NUL, BOM, line and paragraph separators, bytes that are not UTF-8), tags, and values of
another type, and regular expressions of a pathological shape (`(a|aa)+b`, `.*.*.*.*.*.*b`...).
The file replaces its original in a copy of the whole pack, which is then loaded with
`load_ruleset` (or `load_cases`), so every check and the compiler see it; a pack that loads has
every rule's guard and `matches` feature run on string fields holding hostile text.

An input passes when it loads, or raises `RuleLoadError` whose every error line matches
`file:line: CODE: message`. Anything else is a crash: another exception, a malformed error line,
or a hang (no answer within `--timeout` seconds, by SIGALRM). Each crash is printed once per
class (exception type and the innermost frame of our code, or the malformed line's code) and its
input is saved to `--crashes` (default `fuzz-crashes/`) for a regression test. Exit status 1 when
anything crashed. The run is deterministic for a seed and an input count; `--seconds` is not.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from blacklist_rules import CaseLoadError, RuleLoadError, load_ruleset
from blacklist_rules.model.events import FIELDS as EVENT_FIELDS
from blacklist_rules.pack.compiler import CompiledRuleset
from blacklist_rules.tools.cases import load_cases

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
CASES = ROOT / "tests" / "cases"
ERROR_LINE = re.compile(r"^[^:]+:\d+: [A-Z][A-Z0-9-]*: .+")

Mutation = Callable[[random.Random, bytes], bytes]

TOKENS = [
    b"~",
    b"null",
    b"[",
    b"]",
    b"{",
    b"}",
    b"&a ",
    b"*a",
    b"*zz",
    b"<<: *a",
    b"? ",
    b"- ",
    b": ",
    b"#",
    b"'",
    b'"',
    b"\t",
    b"\r",
    b"\n",
    b",",
    b"|",
    b">",
    b"---",
    b"...",
    b"%YAML 1.1",
    b"!!int ",
    b"!!python/object/apply:os.system ",
    b"!foo ",
    b"!!binary ",
    b"!!set ",
    b'"\\ud83d"',
    b'"\\udfff x"',
    b'"\\U0001F600"',
    b'"\\x00"',
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    "\u2028".encode(),
    "\u2029".encode(),
    "\x85".encode(),
    "\u202e".encode(),
    "é".encode(),
    "\u0301".encode(),
    b"9" * 5000,
    b"0x_",
    b"0b_",
    b"+_",
    b"2024-02-30",
    b"2024-01-01 25:00:00",
    b"1e999999",
    b".nan",
    b"-.inf",
    b"=",
    b"true",
    b"yes",
    b"on",
]
VALUES = [
    b"~",
    b"[]",
    b"{}",
    b"true",
    b"1",
    b"-1",
    b"0",
    b"1.5",
    b'""',
    b'"x"',
    b"[a, b]",
    b"{a: 1}",
    b"[[]]",
    b"9" * 30,
    b"-" + b"9" * 19,
    b"2026-01-01",
    b"'\\ud83d'",
    b'"\\ud83d"',
    b'"a\\nb"',
]


def _flip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]


def _insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(TOKENS) + data[at:]


def _lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    at, other = rng.randrange(len(lines)), rng.randrange(len(lines))
    how = rng.randrange(4)
    if how == 0:
        del lines[at]
    elif how == 1:
        lines.insert(at, lines[other])
    elif how == 2:
        lines[at], lines[other] = lines[other], lines[at]
    else:
        moved = b" " * rng.choice([1, 2, 4]) + lines[at]
        lines[at] = moved if rng.random() < 0.6 else lines[at][1:]
    return b"\n".join(lines)


def _value_at(rng: random.Random, data: bytes) -> tuple[int, int] | None:
    """The span of a random `key: value` value (to the line end), if any."""
    spans = [m.span(1) for m in re.finditer(rb": ([^\n]+)", data)]
    return rng.choice(spans) if spans else None


def _swap(rng: random.Random, data: bytes) -> bytes:
    span = _value_at(rng, data)
    if span is None:
        return data
    return data[: span[0]] + rng.choice(VALUES) + data[span[1] :]


def _nest(rng: random.Random, data: bytes) -> bytes:
    span = _value_at(rng, data)
    if span is None:
        return data
    depth = rng.choice([10, 63, 64, 65, 100, 600, 1000, 3000, 20000])
    if rng.random() < 0.5:
        opening, closing = rng.choice([(b"[", b"]"), (b"{a: ", b"}"), (b"[{x: ", b"}]")])
        value = opening * depth + b"x" + closing * depth
    else:  # compact block nesting on one line: `- - - x`
        value = b"\n" + b"  - " * 1 + b"- " * depth + b"x"
    return data[: span[0]] + value + data[span[1] :]


def _block_nest(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice([63, 64, 65, 600, 1000])
    nested = b"".join(b" " * level + b"k%d:\n" % level for level in range(depth))
    return data + b"\nextra:\n" + b"".join(b" " + line + b"\n" for line in nested.split(b"\n"))


def _aliases(rng: random.Random, data: bytes) -> bytes:
    levels, width = rng.choice([(2, 10), (4, 10), (9, 10), (3, 22), (30, 2)])
    lines = [b"l0: &l0 [" + b", ".join([b"lol"] * width) + b"]"]
    for n in range(1, levels):
        lines.append(b"l%d: &l%d [" % (n, n) + b", ".join([b"*l%d" % (n - 1)] * width) + b"]")
    if rng.random() < 0.3:
        lines.append(b"loop: &loop [*loop]")
    block = b"\n".join(lines) + b"\n"
    if rng.random() < 0.5:  # inside one rule: the anchors under a key, used by `when`
        block = b"x-anchors:\n" + b"".join(b"  " + line + b"\n" for line in lines)
    return block + data


def _huge_int(rng: random.Random, data: bytes) -> bytes:
    digits = rng.choice([19, 20, 21, 4300, 4301, 5000, 100_000])
    number = (b"-" if rng.random() < 0.2 else b"") + b"9" * digits
    found = list(re.finditer(rb"(?<=: )\d+", data))
    if not found:
        return data + b"\nversion: " + number + b"\n"
    match = rng.choice(found)
    return data[: match.start()] + number + data[match.end() :]


def _unicode(rng: random.Random, data: bytes) -> bytes:
    span = _value_at(rng, data)
    odd = rng.choice(['"\\ud83d"', '"x\\udc00y"', "\u202etxet", "a\u0000b", "\ufeffx", "\u2028x"])
    if span is None:
        return data + odd.encode("utf-8", "surrogatepass")
    return data[: span[0]] + odd.encode("utf-8", "surrogatepass") + data[span[1] :]


FIELDS = [
    "verdict", "source", "content_id", "reporter_id", "confirmed", "status", "reason", "reach",
    "verification.status", "identity.blacklisted", "identity.id_number", "nope", "a.b.c", "",
]  # fmt: skip
OPS = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "matches", "exists", "gtee", ""]
PATTERNS = [
    "a{1,99999999999}", "(?u)(?a)", "(a+)+b", "((a)+)+b", "(a|aa)+b", "[", "\\\\", "(?P<x>a)(?P=x)",
    "(?<=a+)b", "a{99999}", "\\N{NOPE}", "(?i)forged_.*", "^\\d{6}$", "x" * 201, "\\x00",
]  # fmt: skip
LEAVES = [
    "malicious_rumor", "fact_check", "true", "false", "1", "-1", "99999999999999999999", "1.5",
    "~", "[]", "{}", "[a, b]", '""', "'x'", "2026-01-01", '"\\ud83d"',
]  # fmt: skip


def condition(rng: random.Random, depth: int = 0) -> str:
    """A random condition tree in flow style: combinators, fields, operators, odd values."""
    roll = rng.random()
    if depth < 6 and roll < 0.3:
        op = rng.choice(["all", "any", "not", "nay"])
        if op == "not":
            return f"{{not: {condition(rng, depth + 1)}}}"
        items = ", ".join(condition(rng, depth + 1) for _ in range(rng.randrange(0, 4)))
        return f"{{{op}: [{items}]}}"
    name = rng.choice(FIELDS)
    if roll < 0.55:
        return f"{{{name or '~'}: {rng.choice(LEAVES)}}}"
    op = rng.choice(OPS)
    if op == "matches":
        value = '"' + rng.choice(PATTERNS).replace('"', '\\"') + '"'
    elif op in ("in", "not_in") and rng.random() < 0.7:
        value = "[" + ", ".join(rng.choice(LEAVES) for _ in range(rng.choice([0, 1, 3, 501]))) + "]"
    else:
        value = rng.choice(LEAVES)
    return f"{{{name or '~'}: {{{op or '~'}: {value}}}}}"


def _condition(rng: random.Random, data: bytes) -> bytes:
    """The rule's `when` (or a deadline's) replaced by a random condition."""
    found = list(re.finditer(rb"(?m)^( *)when:.*(?:\n\1 .*)*", data))
    new = condition(rng).encode("utf-8", "surrogatepass")
    if not found:
        return data + b"\nwhen: " + new + b"\n"
    match = rng.choice(found)
    return data[: match.start()] + match.group(1) + b"when: " + new + data[match.end() :]


SETTINGS = {
    b"within": [b"0d", b"1s", b"36525d", b"36526d", b"999999999999d", b"1.5d", b"-1d", b"1D"],
    b"count": [b"0", b"1", b"10000", b"10001", b"-1", b"true", b"1.0", b'"2"'],
    b"priority": [b"-1", b"0", b"10000", b"10001"],
    b"action": [b"freeze", b"cancel", b"blacklist", b"delete", b"~"],
    b"duration": [b"30d", b"0d", b"~", b"[30d]"],
    b"mode": [b"shadow", b"enforce", b"off"],
    b"distinct": [b"content_id", b"nope", b"identity.id_number", b"~"],
    b"by": [b"id_number", b"phone", b"device_id", b"email"],
    b"schema": [b"1", b"2", b"0", b"~"],
    b"on": [b"registration", b"[]", b"[rumor_flag, rumor_flag]", b"nope", b"~"],
}


def _setting(rng: random.Random, data: bytes) -> bytes:
    """A known key given one of its edge values (or a wrong one)."""
    key = rng.choice(list(SETTINGS))
    found = list(re.finditer(rb"(?m)^( *)" + key + rb": [^\n]*", data))
    if not found:
        return data
    match = rng.choice(found)
    value = rng.choice(SETTINGS[key])
    return data[: match.start()] + match.group(1) + key + b": " + value + data[match.end() :]


# The pathological-pattern class: shapes that make a backtracking engine take exponential (or
# high-polynomial) time on a short run of `x`, each written with one of several `x`s. They load
# (RE2 reads them all) and are then matched against HOSTILE text in every string field, within
# the per-input timeout: a hang is a crash.
SHAPES = [
    "({x}+)+b", "(({x})+)+b", "(({x}+))+b", "({x}|{x})+b", "({x}|{x}{x})+b", "({x}*)*b",
    "({x}|\\s)+b", "{x}*{x}*{x}*{x}*{x}*{x}*b", "(?:{x}?){{28}}{x}{{28}}", "({x}+|{x}{x})+b",
]  # fmt: skip
REPEATED = ["a", ".", "\\w", "[a-z]", "\\S", "[^!]", "(?:a)", "(?i:A)"]
HOSTILE = ["a" * 28, "a" * 28 + "!", " " * 28 + "!", "a" * 2000]
_ON = re.compile(rb"(?m)^on: *([a-z_]+) *$")


def pathological_pattern(rng: random.Random) -> str:
    return rng.choice(SHAPES).format(x=rng.choice(REPEATED))


def _pathological(rng: random.Random, data: bytes) -> bytes:
    """The rule's `when` replaced by a pathological pattern on one of its string fields."""
    found = _ON.search(data)
    fields = EVENT_FIELDS.get(found.group(1).decode(), {}) if found else {}
    strings = sorted(name for name, kind in fields.items() if kind.kind == "str")
    if not strings:
        return data
    pattern = pathological_pattern(rng)
    when = f"{{{rng.choice(strings)}: {{matches: '{pattern}'}}}}".encode()
    match = re.search(rb"(?m)^when:.*(?:\n .*)*", data)
    if match is None:
        return data + b"\nwhen: " + when + b"\n"
    return data[: match.start()] + b"when: " + when + data[match.end() :]


def exercise(ruleset: CompiledRuleset) -> None:
    """Every rule's guard and every `matches` feature, on string fields holding HOSTILE text."""
    for event_type, fields in EVENT_FIELDS.items():
        strings = [name for name, kind in fields.items() if kind.kind == "str"]
        for text in HOSTILE:
            snapshot: dict[str, object] = {"type": event_type, **dict.fromkeys(strings, text)}
            ruleset.snapshot(dict(snapshot), event_type)
            for rule in ruleset.by_type.get(event_type, ()):
                rule.guard(snapshot)


MUTATIONS: list[Mutation] = [
    _condition, _condition, _setting, _setting, _pathological,
    _flip, _flip, _insert, _insert, _insert, _lines, _lines, _lines, _swap, _swap, _swap,
    _nest, _block_nest, _aliases, _huge_int, _unicode,
]  # fmt: skip


def mutate(rng: random.Random, data: bytes, only: Mutation | None = None) -> bytes:
    """One to three mutations, stacked (or just `only`)."""
    if only is not None:
        return only(rng, data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        data = rng.choice(MUTATIONS)(rng, data)
    return data


class Hang(Exception):  # noqa: N818  # the name says what happened
    """No answer within the per-input time limit."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


@dataclass
class Target:
    """A pack copied to a scratch folder, one of whose files each input replaces."""

    kind: str  # "rules" or "cases"
    folder: Path
    files: list[Path]

    def load(self) -> None:
        if self.kind == "rules":
            exercise(load_ruleset(self.folder))
        else:
            load_cases([self.folder])


@dataclass
class Tally:
    tried: int = 0
    loaded: int = 0
    refused: int = 0
    crashes: Counter[str] = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)


def crash_class(exc: BaseException) -> str:
    """Exception type and the innermost frame in our package (or the innermost at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "blacklist_rules" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__}@{where}"


def well_formed(line: str) -> bool:
    """One line, `file:line: CODE: message`, printable as UTF-8."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\n" not in line and ERROR_LINE.match(line) is not None


def bad_line_class(code: str, message: str) -> str:
    """A malformed error line's class: its code and message, quoted parts and numbers elided."""
    first = message.split("\n")[0]
    shape = re.sub(r'"[^"]*(?:"|$)|`[^`]*(?:`|$)|\'[^\']*\'|#x[0-9a-fA-F]+|\d+', "_", first)
    return f"bad-line:{code}:{shape[:60]!a}"


def check(target: Target, timeout: float) -> tuple[str, str | None]:
    """Load the target; ("loaded" | "refused" | "crash", the crash class and detail)."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        target.load()
    except (RuleLoadError, CaseLoadError) as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        bad = next((e for e in exc.errors if not well_formed(str(e))), None)
        if bad is not None:
            return "crash", f"{bad_line_class(bad.code, bad.message)}\n{str(bad)!a}"
        return "refused", None
    except Hang:
        return "crash", "hang"
    except BaseException as exc:  # anything else is what we hunt
        signal.setitimer(signal.ITIMER_REAL, 0)
        if isinstance(exc, KeyboardInterrupt):
            raise
        detail = "".join(traceback.format_exception(exc, limit=-4))
        return "crash", f"{crash_class(exc)}\n{detail}"
    signal.setitimer(signal.ITIMER_REAL, 0)
    return "loaded", None


def prepare(kind: str, scratch: Path) -> Target:
    source = RULES if kind == "rules" else CASES
    folder = shutil.copytree(source, scratch / kind)
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml"))
    return Target(kind, folder, files)


def inputs(
    rng: random.Random, targets: list[Target], only: Mutation | None = None
) -> Iterator[tuple[Target, Path, bytes]]:
    while True:
        target = targets[0] if only is not None or rng.random() < 0.8 else targets[1]
        path = rng.choice(target.files)
        yield target, path, mutate(rng, path.read_bytes(), only)


def record(tally: Tally, verdict: str, detail: str | None, data: bytes, saved: Path) -> None:
    """Count the verdict; the first input of each crash class is printed and saved as `saved`
    (its name prefixed with the class's number and name)."""
    tally.tried += 1
    if verdict == "loaded":
        tally.loaded += 1
        return
    if verdict == "refused":
        tally.refused += 1
        return
    key = (detail or "?").split("\n", 1)[0]
    tally.crashes[key] += 1
    if key not in tally.first:
        tally.first[key] = detail or ""
        slug = re.sub(r"[^A-Za-z0-9.@]+", "_", key)[:80]
        path = saved.with_name(f"{len(tally.first):03d}-{slug}--{saved.name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"CRASH {key}\n  input saved to {path}\n{detail}", file=sys.stderr)


def attempt(target: Target, path: Path, data: bytes, timeout: float) -> tuple[str, str | None]:
    """Load the target with `data` in place of `path`, which is then restored."""
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        return check(target, timeout)
    finally:
        path.write_bytes(original)


def run(args: argparse.Namespace) -> Tally:
    rng = random.Random(args.seed)
    tally = Tally()
    deadline = time.monotonic() + args.seconds if args.seconds else None
    with tempfile.TemporaryDirectory() as scratch:
        targets = [prepare("rules", Path(scratch)), prepare("cases", Path(scratch))]
        only = _pathological if args.pathological else None
        for target, path, data in inputs(rng, targets, only):
            if args.inputs and tally.tried >= args.inputs:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            verdict, detail = attempt(target, path, data, args.timeout)
            record(tally, verdict, detail, data, args.crashes / target.kind / path.name)
    return tally


def replay(folder: Path, timeout: float) -> Tally:
    """Rerun saved reproducers (`KIND/NNN-CLASS--FILE`): each replaces FILE in a fresh copy
    of the pack of that kind."""
    tally = Tally()
    with tempfile.TemporaryDirectory() as scratch:
        for kind in ("rules", "cases"):
            target = prepare(kind, Path(scratch))
            for saved in sorted((folder / kind).glob("*--*")):
                name = saved.name.rsplit("--", 1)[1]
                path = next(p for p in target.files if p.name == name)
                data = saved.read_bytes()
                verdict, detail = attempt(target, path, data, timeout)
                print(f"{kind}/{saved.name}: {verdict} {(detail or '').split(chr(10))[0]}")
                record(tally, verdict, detail, data, folder / "again" / kind / name)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0, help="time budget (default 60)")
    parser.add_argument("--inputs", type=int, default=0, help="input budget instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="per input, seconds")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--replay", type=Path, help="rerun the reproducers in this folder")
    parser.add_argument(
        "--pathological", action="store_true", help="only the pathological-pattern class"
    )
    parser.add_argument(
        "--memory", type=int, default=2048, help="address-space limit, MiB (0: none)"
    )
    args = parser.parse_args()
    if args.memory:  # an expansion that eats memory is a MemoryError (a crash), not the OOM killer
        limit = args.memory * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if not args.seconds and not args.inputs:
        args.seconds = 60
    signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    tally = replay(args.replay, args.timeout) if args.replay else run(args)
    elapsed = time.monotonic() - started
    print(
        f"inputs tried: {tally.tried}, loaded: {tally.loaded}, refused with located errors: "
        f"{tally.refused}, crashes: {sum(tally.crashes.values())} in {len(tally.crashes)} "
        f"classes; {elapsed:.0f} s, seed {args.seed}"
    )
    for key, count in tally.crashes.most_common():
        print(f"  {count:6d}  {key}")
    return 1 if tally.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
