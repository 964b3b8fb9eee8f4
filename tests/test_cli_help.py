"""The command line explains itself (issue 17, item 7): every option has help text and shows its
default, every command a description, the identity key's variable is named where a key is
used; `audit` takes `--db` like the rest; a reviewer's decision is explained without an empty
heading; an unknown account is not `active`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine
from blacklist_rules.cli import build_parser, main
from blacklist_rules.model.identity import KEY_ENV

from .cli_reference import parsers
from .support import event

KEYED = ("run", "status", "check", "explain", "diff")
"""The commands that open a db through an engine, so need the identity key."""


NOT_OPTIONS = {"_HelpAction", "_VersionAction", "_SubParsersAction"}
"""argparse's own actions (by name: argparse is imported in the cli package only)."""


def _options() -> Iterator[tuple[str, Any]]:
    """Every option and positional argument of every parser."""
    for path, parser in parsers(build_parser()):
        for action in parser._actions:
            if type(action).__name__ not in NOT_OPTIONS:
                yield f"{' '.join(path)} {action.option_strings or action.dest}", action


def test_every_option_and_argument_has_help_that_shows_its_default() -> None:
    """No option without help; one with a default (not off, not absent) says it in its help."""
    missing = [name for name, action in _options() if not action.help]
    assert missing == []
    hidden = [
        name
        for name, action in _options()
        if action.default not in (None, False) and "default" not in str(action.help)
    ]
    assert hidden == []


def test_every_command_has_a_description() -> None:
    """`blacklist-rules COMMAND --help` says what the command does, `validate` included."""
    assert [path for path, parser in parsers(build_parser()) if not parser.description] == []


@pytest.mark.parametrize("command", KEYED)
def test_help_names_the_identity_key_variable_where_a_key_is_used(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands that need the identity key name `$BLACKLIST_RULES_IDENTITY_KEY`."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert f"${KEY_ENV}" in " ".join(capsys.readouterr().out.split())


@pytest.fixture
def reviewed(tmp_path: Path) -> tuple[Path, str]:
    """A db holding one reviewer's freeze, and its decision id."""
    db = tmp_path / "r.db"
    review = event(
        "review_decision",
        "a",
        timedelta(0),
        "r1",
        reviewer_id="rev-1",
        action="freeze",
        reason="payments under review",
    )
    with Engine.from_path(db=db) as engine:
        (decision,) = engine.process(review).decisions
    return db, decision.decision_id


def test_a_reviewers_decision_is_explained_without_an_empty_heading(
    reviewed: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No rule matched a person's decision: the output says so instead of a heading with
    nothing under it."""
    db, decision = reviewed
    assert main(["explain", decision, "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "conditions, as the event saw them:" not in lines
    assert any(line.startswith("taken by a person, not by a rule") for line in lines)
    headings = [i for i, line in enumerate(lines) if line.endswith(":") and not line[0].isspace()]
    for i in headings:  # every heading has something under it
        assert i + 1 < len(lines)
        assert lines[i + 1].startswith(" ")


def test_audit_takes_db_like_every_other_command(
    reviewed: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit … --db PATH`; the old positional PATH still works (the same output); two
    different dbs named are a usage error."""
    db, _ = reviewed
    assert main(["audit", "show", "--account", "a", "--db", str(db)]) == 0
    with_option = capsys.readouterr().out
    assert main(["audit", "show", "--account", "a", str(db)]) == 0
    assert capsys.readouterr().out == with_option != ""
    assert main(["audit", "verify", "--db", str(db), str(db)]) == 0
    assert main(["audit", "verify", "--db", str(db), "other.db"]) == 2
    assert "two dbs named" in capsys.readouterr().err


def test_the_positional_path_of_audit_is_marked_deprecated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`audit verify --help` shows `--db` and marks the positional PATH deprecated."""
    with pytest.raises(SystemExit):
        main(["audit", "verify", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--db DB the db, a SQLite file or a postgresql://user@host/dbname URL" in out
    assert "PATH deprecated, the same as --db PATH" in out


def test_status_of_an_unknown_account_is_not_active(
    reviewed: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An account the db never saw: exit 6, named on stderr, nothing on stdout; a known one
    answers as before."""
    db, _ = reviewed
    assert main(["status", "nobody", "--db", str(db)]) == 6
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {db} has no event or decision of account nobody\n")
    assert main(["status", "a", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("a: frozen\n")
