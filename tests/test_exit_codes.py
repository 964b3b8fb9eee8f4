"""The exit-code table of the docs (docs/reference/exit-codes.md) is the truth (issue 17):
every code it lists for a command is produced by some invocation of that command, and nothing
here produces a code it does not list. In-process through `cli.main` (argparse included), and
through a real pipe for 141."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from blacklist_rules import Engine, EvaluationError, default_rules_path
from blacklist_rules.cli import build_parser, main
from blacklist_rules.model.identity import KEY_ENV

from .support import TEST_KEY

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EVERY = "every command"


def _commands() -> list[str]:
    """Every command of the parser, `audit` by its actions."""
    parser = build_parser()
    (verbs,) = (a for a in parser._actions if a.dest == "command")
    names: list[str] = []
    for name, sub in verbs.choices.items():  # type: ignore[union-attr]
        actions = [a for a in sub._actions if a.dest == "audit_command"]
        names += [f"{name} {action}" for a in actions for action in a.choices] or [name]
    return names


def _documented() -> list[tuple[str, int]]:
    """(command, code) for every row of the docs' exit-code table."""
    page = (ROOT / "docs" / "reference" / "exit-codes.md").read_text(encoding="utf-8")
    section = page.split("\n\n")
    (table,) = (block for block in section if block.startswith("| code |"))
    pairs: list[tuple[str, int]] = []
    for row in table.splitlines()[2:]:
        code, _, given_by = (cell.strip() for cell in row.strip("|").split(" | "))
        named = re.findall(r"`([a-z][a-z ]*)`", given_by)
        pairs += [(command, int(code)) for command in (_commands() if given_by == EVERY else named)]
    return sorted(pairs)


@attrs.frozen
class World:
    """The files the invocations work on, made once."""

    db: Path  # the example events run into it
    decision: str
    account: str
    demo: Path  # examples/reregistration.jsonl: the identities of examples/identities.jsonl
    tampered: Path  # the db with an audit record changed
    corrupt: Path  # random bytes
    few: Path  # the first 200 example events
    broken: Path  # a rule folder with a file that does not load
    changed: Path  # the default pack without a blacklist rule
    case: Path  # one passing case: low coverage
    failing: Path  # one case that fails
    clean: Path  # an identity nobody blacklisted


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("exit-codes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, TEST_KEY)
        db, demo = folder / "x.db", folder / "demo.db"
        assert main(["run", str(EXAMPLES / "events.jsonl"), "--db", str(db)]) == 0
        assert main(["run", str(EXAMPLES / "reregistration.jsonl"), "--db", str(demo)]) == 0
        with Engine.from_path(db=db, read_only=True) as engine:
            first = next(engine.audit_records()).record
        tampered = folder / "tampered.db"
        shutil.copy(db, tampered)
        with sqlite3.connect(tampered) as connection:
            connection.execute("UPDATE audit SET record = replace(record, 'a', 'b') WHERE seq = 2")
        corrupt = folder / "corrupt.db"
        corrupt.write_bytes(bytes(range(256)) * 64)
        few = folder / "few.jsonl"
        lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
        few.write_text("\n".join(lines[:200]) + "\n", encoding="utf-8")
        broken = folder / "broken"
        broken.mkdir()
        (broken / "bad.yaml").write_text("id: bad\nversion: one\n", encoding="utf-8")
        changed = folder / "changed"
        shutil.copytree(default_rules_path(), changed)
        next(changed.rglob("blacklist-confirmed-impersonation.yaml")).unlink()
        case = """
            - name: {name}
              events:
                - {{event_id: p1, type: impersonation_report, account_id: a,
                    occurred_at: "2026-05-01T09:00:00+08:00", reporter_id: r1, confirmed: true}}
              expect: [{{account_id: a, action: {action}}}]
        """
        passing, failing = folder / "passing.yaml", folder / "failing.yaml"
        passing.write_text(case.format(name="blacklisted", action="blacklist"), encoding="utf-8")
        failing.write_text(case.format(name="wrongly cancelled", action="cancel"), encoding="utf-8")
        clean = folder / "clean.jsonl"
        clean.write_text('{"phone": "13000000001"}\n', encoding="utf-8")
        yield World(
            db,
            first["decision_id"],
            first["account_id"],
            demo,
            tampered,
            corrupt,
            few,
            broken,
            changed,
            passing,
            failing,
            clean,
        )


def cli(*argv: object) -> int:
    """`blacklist-rules ARGV` in this process: its exit code, argparse's usage errors too."""
    try:
        return main([str(arg) for arg in argv])
    except SystemExit as exc:
        return int(exc.code or 0)


Invocation = Callable[[World, Path, pytest.MonkeyPatch], int]


def _evaluation_fails(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    """A deadline that fails to evaluate while `run --until` moves the clock."""

    def boom(*args: object, **kwargs: object) -> object:
        raise EvaluationError("boom")

    patch.setattr(Engine, "advance_to", boom)
    return cli("run", w.few, "--db", tmp / "n.db", "--until", "2030-01-01T00:00:00Z", "--force")


def _stdout_closed(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    """`run` whose reader has gone before the first decision is written."""
    command = [sys.executable, "-m", "blacklist_rules", "run", str(EXAMPLES / "events.jsonl")]
    env = {KEY_ENV: TEST_KEY, "PYTHONPATH": str(ROOT / "src"), "PATH": ""}
    with subprocess.Popen(
        [*command, "--db", str(tmp / "p.db")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        process.stdout.close()
        return process.wait(timeout=300)


def _purged(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    copy = tmp / "copy.db"
    shutil.copy(w.db, copy)
    return cli("audit", "purge", "--db", copy)


def _no_cases_here(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    patch.chdir(tmp)
    return cli("test")


def _not_empty(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    (tmp / "mine.txt").write_text("", encoding="utf-8")
    return cli("init", tmp)


def _restated(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    """`run` into a db that ran the default pack, one rule changed but not its version."""
    copy, pack = tmp / "copy.db", tmp / "restated"
    shutil.copy(w.db, copy)
    shutil.copytree(default_rules_path(), pack)
    rule = next(pack.rglob("freeze-suspected-impersonation.yaml"))
    rule.write_text(rule.read_text(encoding="utf-8").replace("count: 3", "count: 2"), "utf-8")
    return cli("run", w.few, "--rules", pack, "--db", copy)


def _relayed(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    copy = tmp / "copy.db"
    shutil.copy(w.db, copy)
    return cli("relay", "--db", copy, "--to", tmp / "out.jsonl")


def _published_and_worked(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    """`publish` then `worker --until-idle` on a stream of this test's own (the real NATS)."""
    from .broker import SERVER, fresh_stream

    with fresh_stream() as stream:
        published = cli("publish", w.few, "--nats", SERVER, "--stream", stream)
        worked = cli(
            "worker", "--db", tmp / "w.db", "--nats", SERVER, "--stream", stream,
            "--partitions", "0", "--until-idle", "--poll", "0.2",
        )  # fmt: skip
    return max(published, worked)


def _worker_fails(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    """`worker --until-idle` whose rules fail to evaluate: every event is consumed, nothing is
    decided for the failed ones (the real NATS)."""
    from blacklist_rules.matching.durable import DurableMatcher

    from .broker import SERVER, fresh_stream

    def broken(self: object, snapshot: object) -> list[str]:
        raise EvaluationError("boom")

    patch.setattr(DurableMatcher, "match", broken)
    with fresh_stream() as stream:
        assert cli("publish", w.few, "--nats", SERVER, "--stream", stream) == 0
        return cli(
            "worker", "--db", tmp / "w.db", "--nats", SERVER, "--stream", stream,
            "--partitions", "0", "--until-idle", "--poll", "0.2",
        )  # fmt: skip


def _publish_refuses(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
    """`publish` of a file with a line that names no account (the real NATS)."""
    from .broker import SERVER, fresh_stream

    events = tmp / "no-account.jsonl"
    events.write_text('{"event_id": "e1", "type": "rumor_flag"}\n', encoding="utf-8")
    with fresh_stream() as stream:
        return cli("publish", events, "--nats", SERVER, "--stream", stream)


NO_BROKER = "nats://127.0.0.1:1"  # nothing listens there: the broker cannot be reached


def _argv(*argv: object) -> Invocation:
    """An invocation by its arguments alone; `{db}`-style fields are World attributes."""

    def invoke(w: World, tmp: Path, patch: pytest.MonkeyPatch) -> int:
        fields = {**attrs.asdict(w, recurse=False), "tmp": tmp}
        return cli(*(str(a).format(**fields) for a in argv))

    return invoke


AUDIT = ("show --account {account}", "verify", "head", "retention", "export")
SPECIAL: dict[tuple[str, int], Invocation] = {
    # 0: done
    ("init", 0): _argv("init", "{tmp}/pack"),
    ("validate", 0): _argv("validate"),
    ("run", 0): _argv("run", "{few}", "--db", "{tmp}/n.db"),
    ("status", 0): _argv("status", "{account}", "--db", "{db}"),
    ("check", 0): _argv("check", "{clean}", "--db", "{db}"),
    ("test", 0): _argv("test", ROOT / "rules", ROOT / "tests" / "cases"),
    ("explain", 0): _argv("explain", "{decision}", "--db", "{db}"),
    ("notice", 0): _argv("notice", "{decision}", "--db", "{db}"),
    ("diff", 0): _argv(
        "diff", "--baseline", ROOT / "rules", "--candidate", ROOT / "rules", "{few}"
    ),
    ("schema", 0): _argv("schema"),
    ("publish", 0): _published_and_worked,
    ("worker", 0): _published_and_worked,
    ("relay", 0): _relayed,
    ("audit purge", 0): _purged,
    **{
        (f"audit {action.split()[0]}", 0): _argv("audit", *action.split(), "--db", "{db}")
        for action in AUDIT
    },
    # 1: a check failed
    ("validate", 1): _argv("validate", "{broken}"),
    ("run", 1): _argv("run", EXAMPLES / "bad_events.jsonl", "--db", "{tmp}/n.db", "--strict"),
    ("test", 1): _argv("test", ROOT / "rules", "{failing}"),
    ("diff", 1): _argv("diff", "--baseline", ROOT / "rules", "--candidate", "{broken}", "{few}"),
    ("check", 1): _argv("check", EXAMPLES / "identities.jsonl", "--db", "{demo}"),
    ("publish", 1): _publish_refuses,
    **{
        (f"audit {action}", 1): _argv("audit", action, "--db", "{tampered}")
        for action in ("verify", "head", "export", "purge")
    },
    # 2: usage, unreadable input, refusal (the others: an unknown option, below)
    ("init", 2): _not_empty,
    ("run", 2): _argv("run", "{tmp}/none.jsonl", "--db", "{tmp}/n.db"),
    ("status", 2): _argv("status", "{account}", "--db", "{tmp}/none.db"),
    ("test", 2): _no_cases_here,
    ("audit retention", 2): _argv("audit", "retention", "--set", "179d", "--db", "{db}"),
    # 3, 5, 6, 141
    ("run", 3): _evaluation_fails,
    ("worker", 3): _worker_fails,
    ("test", 5): _argv("test", ROOT / "rules", "{case}", "--min-coverage", "100"),
    ("diff", 5): _argv(
        "diff",
        "--baseline",
        ROOT / "rules",
        "--candidate",
        "{changed}",
        EXAMPLES / "events.jsonl",
        "--fail-on-irreversible",
        "0",
    ),
    ("status", 6): _argv("status", "nobody", "--db", "{db}"),
    ("explain", 6): _argv("explain", "d-nope", "--db", "{db}"),
    ("notice", 6): _argv("notice", "d-nope", "--db", "{db}"),
    ("run", 141): _stdout_closed,
    # 4 for the broker's verbs: the NATS server cannot be reached
    ("publish", 4): _argv("publish", "{few}", "--nats", NO_BROKER, "--stream", "NONE"),
    ("worker", 4): _argv(
        "worker", "--db", "{tmp}/w.db", "--nats", NO_BROKER, "--stream", "NONE", "--partitions", "0"
    ),
    ("relay", 4): _argv("relay", "--db", "{db}", "--nats", NO_BROKER, "--to", "nats:none"),
    # 7, 8: lint found something; a rule version restated with other text
    ("lint", 0): _argv("lint"),
    ("lint", 7): _argv("lint", "{broken}"),
    ("run", 8): _restated,
}
"""How each documented code is produced, by command."""

CORRUPT = {
    "run": ("run", "{few}"),
    "status": ("status", "{account}"),
    "check": ("check", "{clean}"),
    "explain": ("explain", "{decision}"),
    "notice": ("notice", "{decision}"),
    "diff": ("diff", "--shadow"),
    "lint": ("lint",),
    **{
        f"audit {action}": ("audit", action)
        for action in ("show", "verify", "head", "purge", "retention", "export")
    },
}
"""Exit 4: the commands that open a db, given random bytes for one."""


def _invocation(command: str, code: int) -> Invocation | None:
    if (command, code) in SPECIAL:
        return SPECIAL[(command, code)]
    if code == 2:
        return _argv(*command.split(), "--no-such-option")
    if code == 4 and command in CORRUPT:
        extra = ("--account", "{account}") if command == "audit show" else ()
        return _argv(*CORRUPT[command], *extra, "--db", "{corrupt}")
    return None


@pytest.mark.parametrize(("command", "code"), _documented(), ids=lambda v: str(v))
def test_each_documented_exit_code_is_produced(
    command: str, code: int, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs say `command` exits `code` in some case: here is one."""
    invoke = _invocation(command, code)
    assert invoke is not None, f"no invocation here gives {command} exit {code}"
    assert invoke(world, tmp_path, monkeypatch) == code


def test_no_code_produced_here_is_undocumented() -> None:
    """Every (command, code) this file produces is in the docs' table, and the table names
    only commands the parser has."""
    documented = set(_documented())
    assert set(SPECIAL) <= documented
    assert {(command, 4) for command in CORRUPT} <= documented
    assert {command for command, _ in documented} <= set(_commands())


def test_the_exit_codes_of_the_table_are_the_cli_codes() -> None:
    """The table's codes are those `cli._common.Exit` names, no more, no fewer."""
    from blacklist_rules.cli._common import Exit

    assert {code for _, code in _documented()} == {int(code) for code in Exit}


def test_json_of_a_documented_refusal_is_not_written_on_stdout(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status` of an unknown account writes nothing on stdout, even with `--json`: a script
    reading the answer gets none rather than `active`."""
    assert cli("status", "nobody", "--db", world.db, "--json") == 6
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {world.db} has no event or decision of account nobody\n"
    assert json.dumps("active") not in out


def test_the_top_level_help_names_every_exit_code() -> None:
    """`blacklist-rules --help` ends with the codes, each one named."""
    from blacklist_rules.cli._common import Exit

    epilog = str(build_parser().epilog)
    for code in Exit:
        assert re.search(rf"(^|; ){int(code)} ", epilog.removeprefix("Exit codes: ")), code


@pytest.mark.parametrize(
    "argv",
    [
        ("validate", "{tmp}/none"),
        ("lint", "{tmp}/none"),
        ("test", "{tmp}/none"),
        ("run", "{few}", "--rules", "{tmp}/none", "--db", "{tmp}/n.db"),
        ("diff", "--baseline", "{tmp}/none", "--candidate", ROOT / "rules", "{few}"),
        ("diff", "--baseline", ROOT / "rules", "--candidate", "{tmp}/none.yaml", "{few}"),
    ],
    ids=lambda argv: " ".join(str(a) for a in argv[:3]),
)
def test_a_rule_path_that_does_not_exist_is_a_usage_error(
    argv: tuple[object, ...], world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule folder or file that does not exist is "a missing file" of the table: exit 2,
    in every command that reads a pack (not 1, a pack that fails its checks, nor 7)."""
    assert _argv(*argv)(world, tmp_path, monkeypatch) == 2


def test_a_pack_that_fails_beside_a_missing_path_is_still_a_failure() -> None:
    """Exit 2 only when every error is a missing path: a file that does not load is 1."""
    from blacklist_rules import RuleFileError
    from blacklist_rules.cli._common import only_missing

    missing = RuleFileError("none", 0, "E-PATH", "no such file or folder")
    broken = RuleFileError("bad.yaml", 2, "E-SCHEMA", "version: not an integer")
    assert only_missing([missing])
    assert not only_missing([missing, broken])
    assert not only_missing([broken])
    assert not only_missing([])
