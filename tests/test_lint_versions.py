"""Rule versions against a git revision and against the rule texts a db recorded (issue 17,
item 5): `lint --against-git` in a real temporary repository, `lint --db` on a real SQLite
file and on PostgreSQL, and `run` (any engine that writes, on any store) refusing a pack
whose rule id and version the db holds with other text."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from blacklist_rules import Engine, RuleVersionError, SQLiteStore, load_ruleset
from blacklist_rules.cli import main
from blacklist_rules.stores import open_store
from blacklist_rules.stores.memory import MemoryStore

from .support import event
from .test_lint import SUSPECTED, edit, lint, pack_copy

ROOT = Path(__file__).resolve().parents[1]
FEW = [event("impersonation_report", "a", timedelta(0), "p1", reporter_id="r1", confirmed=True)]
"""One confirmed report: a blacklist decision, and the pack recorded."""


def git(repo: Path, *argv: str) -> str:
    """Run git in `repo` as a fixed author; its output."""
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose one commit holds the default pack under `policy/rules/`."""
    repo = tmp_path / "repo"
    pack_copy(repo / "policy" / "rules")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "the pack")
    return repo


def test_a_change_against_the_committed_pack_is_found(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Working tree against HEAD: an edited threshold that kept its version is E-VERSION
    naming the revision; bumped, it is clean; the comparison runs from any directory."""
    rules = repo / "policy" / "rules"
    assert lint(capsys, rules, "--against-git", "HEAD") == (0, [])
    edit(rules / SUSPECTED, "within: 7d", "within: 8d")
    edit(rules / SUSPECTED, "within 7 days", "within 8 days")
    code, found = lint(capsys, rules, "--against-git", "HEAD")
    assert (code, [f["code"] for f in found]) == (7, ["E-VERSION"])
    assert "in git HEAD (there " in str(found[0]["message"])
    edit(rules / SUSPECTED, "version: 1", "version: 2")
    assert lint(capsys, rules, "--against-git", "HEAD") == (0, [])
    git(repo, "commit", "-qam", "8 days")
    edit(rules / SUSPECTED, "version: 2", "version: 1")
    _, found = lint(capsys, rules, "--against-git", "HEAD~1")  # v1 said 7 days there
    assert [f["code"] for f in found] == ["E-VERSION"]
    _, found = lint(capsys, rules, "--against-git", "HEAD")  # v2 there
    assert [f["code"] for f in found] == ["W-VERSION-BACK"]


def test_a_moved_rule_file_is_matched_by_its_id(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files are matched by rule id, not path: a renamed and edited file is still compared."""
    rules = repo / "policy" / "rules"
    (rules / SUSPECTED).rename(rules / "suspected.yaml")
    edit(rules / "suspected.yaml", "count: 3", "count: 4")
    edit(rules / "suspected.yaml", "Three or more users", "Four or more users")
    edit(rules / "suspected.yaml", "Three or more different", "Four or more different")
    _code, found = lint(capsys, rules, "--against-git", "HEAD")
    assert [(f["code"], f["file"]) for f in found] == [("E-VERSION", str(rules / "suspected.yaml"))]


def test_outside_a_repository_or_at_an_unknown_revision_is_a_usage_error(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one clear line: no work tree, or git knows no such revision."""
    loose = pack_copy(tmp_path / "loose")
    assert main(["lint", str(loose), "--against-git", "HEAD"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {loose} is not in a git work tree: --against-git needs one")
    assert err.count("\n") == 1
    assert main(["lint", str(repo / "policy" / "rules"), "--against-git", "v9"]) == 2
    assert capsys.readouterr().err.startswith("error: git has no revision 'v9' here (git ")


# --- the db -------------------------------------------------------------------------------


def _changed(tmp_path: Path, *, layout_only: bool = False) -> Path:
    """The default pack with `freeze-suspected-impersonation` changed, version kept (or only
    its comments and layout changed)."""
    pack = pack_copy(tmp_path / "changed")
    if layout_only:
        edit(pack / SUSPECTED, "  count: 3\n", "  count:   3    # still three\n")
    else:
        edit(
            pack / SUSPECTED, "confirmed: false", "confirmed: false\n  reporter_id: {exists: true}"
        )
    return pack


def test_lint_against_a_sqlite_db_compares_with_every_pack_it_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real SQLite file that ran the default pack: the changed rule is E-VERSION naming
    the db and the pack's digest; a layout change is clean; a missing db is exit 2."""
    db = tmp_path / "x.db"
    with Engine.from_path(db=db) as engine:
        digest = engine.digest
        list(engine.run(FEW))
    code, found = lint(capsys, _changed(tmp_path), "--db", db)
    assert (code, [f["code"] for f in found]) == (7, ["E-VERSION"])
    assert f"in {db} (pack {digest[:12]})" in str(found[0]["message"])
    shutil.rmtree(tmp_path / "changed")
    assert lint(capsys, _changed(tmp_path, layout_only=True), "--db", db) == (0, [])
    assert main(["lint", "--db", str(tmp_path / "none.db")]) == 2


def test_run_refuses_a_restated_rule_version_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` into a db that ran the default pack, with the rule changed and its version kept:
    exit 8, one line naming the rule, both digests and the version to give it; the db is
    unchanged. With a layout-only change, or the version bumped, it runs."""
    db = tmp_path / "x.db"
    events = ROOT / "examples" / "events.jsonl"
    assert main(["run", str(events), "--db", str(db)]) == 0
    capsys.readouterr()
    before = db.read_bytes()
    changed = _changed(tmp_path)
    assert main(["run", str(events), "--db", str(db), "--rules", str(changed)]) == 8
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"error: {changed / SUSPECTED}: rule `freeze-suspected-impersonation`")
    assert "version 1 says something else in" in line
    assert "(there 9dbbe5db0694, here " in line
    assert line.endswith("(bump `version` to 2: a decision's rule_version names one text)")
    assert db.read_bytes() == before
    edit(changed / SUSPECTED, "version: 1", "version: 2")
    assert main(["run", str(events), "--db", str(db), "--rules", str(changed)]) == 0
    shutil.rmtree(changed)
    layout = _changed(tmp_path, layout_only=True)
    assert main(["run", str(events), "--db", str(db), "--rules", str(layout)]) == 0


def test_a_read_only_engine_may_read_a_db_with_other_texts(tmp_path: Path) -> None:
    """Queries never record a pack: a read-only engine over the changed pack opens."""
    db = tmp_path / "x.db"
    with Engine.from_path(db=db) as engine:
        list(engine.run(FEW))
    with Engine.from_path(_changed(tmp_path), db=db, read_only=True) as engine:
        assert engine.status("a") == "blacklisted"


def test_the_memory_store_refuses_too(tmp_path: Path) -> None:
    """The refusal is the engine's, over the store protocol: the in-memory store as well."""
    store = MemoryStore()
    with Engine(load_ruleset(), store) as engine:
        list(engine.run(FEW))
    with pytest.raises(RuleVersionError, match="freeze-suspected-impersonation"):
        Engine(load_ruleset(_changed(tmp_path)), store)


@pytest.mark.postgres
def test_postgres_lint_and_refusal(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the real PostgreSQL server: `lint --db URL` finds the restated rule, and an engine
    that would write the changed pack is refused; a bumped version runs."""
    from tests.postgres import empty_tables

    try:
        with Engine(load_ruleset(), open_store(postgres_url)) as engine:
            list(engine.run(FEW))
        changed = _changed(tmp_path)
        code, found = lint(capsys, changed, "--db", postgres_url)
        assert (code, [f["code"] for f in found]) == (7, ["E-VERSION"])
        store = open_store(postgres_url)
        try:
            with pytest.raises(RuleVersionError, match="bump `version` to 2"):
                Engine(load_ruleset(changed), store)
            edit(changed / SUSPECTED, "version: 1", "version: 2")
            Engine(load_ruleset(changed), store).close()
        finally:
            store.close()
    finally:
        empty_tables(postgres_url)


def test_sqlite_records_every_pack_in_the_order_first_used(tmp_path: Path) -> None:
    """`recorded_rules` holds the rules of both packs that ran, the first pack first."""
    db = tmp_path / "x.db"
    with Engine.from_path(db=db) as engine:
        first = engine.digest
        list(engine.run(FEW))
    changed = _changed(tmp_path)
    edit(changed / SUSPECTED, "version: 1", "version: 2")
    with Engine.from_path(changed, db=db) as engine:
        second = engine.digest
        list(engine.run([{**FEW[0], "event_id": "p2"}]))
    store = SQLiteStore(db, read_only=True)
    recorded = store.recorded_rules()
    store.close()
    size = len(load_ruleset(changed).rules)
    assert [r.ruleset_digest for r in recorded] == [first] * size + [second] * size
    versions = {(r.rule_id, r.version) for r in recorded if r.rule_id.startswith("freeze-sus")}
    assert versions == {
        ("freeze-suspected-impersonation", 1),
        ("freeze-suspected-impersonation", 2),
    }
