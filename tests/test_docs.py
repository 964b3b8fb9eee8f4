"""Every code block of the documentation (docs/**/*.md, README.md, rules/README.md) runs and
prints what its page shows; the site builds with `mkdocs build --strict` (issue 17).

How a page's fenced blocks are read (fences at column 0; the info string is the language, then
optional attributes such as `title="…"`):

- ```` ```python ````: executed; the blocks of one page share a namespace and run in order. What a
  block prints must be the ```` ```output ```` block right after it (nothing, when none follows).
  With the attribute `process="fresh"` the block runs alone in a new interpreter instead (for
  what needs a process of its own: durable-rules belongs to the first thread that uses it, so
  an `AsyncEngine` block cannot run in the test process).
- ```` ```console ````: lines `$ COMMAND` and the output expected after each. Each command runs
  in bash, `blacklist-rules` being this checkout's command line, stdout and stderr together as
  a terminal shows them; it must exit 0, unless the command ends with a comment `# exit N`. The
  first word must be `blacklist-rules`, `cat`, `head`, `pytest` (this Python's), `export` or `wait`.
- any language with `title="PATH"` (a rule file, a case file, events): the block is written to
  PATH for the blocks after it, which must name it (the file itself or its folder).
- ```` ```text ````: shown, never run.

Sessions on a server (docs/postgresql.md, docs/workers.md): a block with the attribute
`postgres="VAR"` (or `nats="VAR"`; several names apart with spaces) makes, the first time the
page names VAR, a fresh uniquely-named PostgreSQL database (a JetStream stream name) whose URL
(name) the page's later commands and Python blocks find in `$VAR`, dropped (deleted, with its
decision stream) after the page; the page is marked `postgres` (`nats`). In console blocks,
`$ export NAME=VALUE` sets NAME for the page's later commands and Python blocks (VALUE as bash
expands it; an `export` of a VAR the test made is shown, not applied: a reader points it at
his own database), a command ending with `&` runs in the background and `$ wait` waits for
them, their output its output, one after the other in the order they started; a command whose
line ends with `\\` goes on on the next line.

Commands and Python blocks of a page run in order in one temporary folder that holds copies of
the repository's `examples/` and `rules/`, with no identity key in the environment (as a new
user has). Outputs are compared line by line, trailing blanks ignored, with one wildcard: `…`
inside a line stands for any text on that line (a digest, a time, a hash), and a line that is
`…` alone for any number of lines. Nothing else is normalised.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from blacklist_rules.model.identity import KEY_ENV

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted([*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "rules" / "README.md"])
ELLIPSIS = "…"
COMMANDS = ("blacklist-rules", "cat", "head", "pytest", "export", "wait")
SHIM = (
    f'blacklist-rules() {{ "{sys.executable}" -m blacklist_rules "$@"; }}\n'
    f'pytest() {{ "{sys.executable}" -m pytest "$@"; }}\n'
)
FENCE = re.compile(r"^(\s*)```(.*)$")
TITLE = re.compile(r'title="([^"]+)"')
EXIT = re.compile(r"#.*\bexit (\d+)\s*$")
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
EXPORT = re.compile(r"^export ([A-Za-z_]\w*)=")
SERVERS = ("postgres", "nats")
"""The block attributes that make a fresh database or stream (and the page's pytest marker)."""


@attrs.frozen
class Block:
    """One fenced block of a page: its language, attributes, text and first line."""

    lang: str
    attributes: str
    text: str
    line: int

    @property
    def fresh(self) -> bool:
        return 'process="fresh"' in self.attributes

    @property
    def title(self) -> str | None:
        found = TITLE.search(self.attributes)
        return found.group(1) if found else None

    def made(self, server: str) -> list[str]:
        """The variables this block names for fresh resources of `server` (`postgres="DB"`)."""
        found: dict[str, str] = dict(ATTRIBUTE.findall(self.attributes))
        return found.get(server, "").split()

    def where(self, page: Path) -> str:
        return f"{page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of a page, in order; an indented fence is an error (this reader
    would not see where it ends)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        fence = FENCE.match(line)
        if fence is None:
            if opened is not None:
                body.append(line)
            continue
        assert not fence.group(1), f"{page.relative_to(ROOT)}:{number}: fence not at column 0"
        if opened is None:
            opened, body = (number, fence.group(2).strip()), []
        else:
            assert not fence.group(2).strip(), f"{page.relative_to(ROOT)}:{number}: unclosed"
            lang, _, attributes = opened[1].partition(" ")
            text = "\n".join(body) + "\n" if body else ""
            found.append(Block(lang, attributes.strip(), text, opened[0]))
            opened = None
    assert opened is None, f"{page.relative_to(ROOT)}:{opened[0]}: fence never closed"
    return found


def matches(expected: str, actual: str) -> bool:
    """`actual` is `expected`, trailing blanks aside, `…` standing for any text."""
    pattern = ""
    for line in expected.splitlines():
        line = line.rstrip()
        if line == ELLIPSIS:
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += ".*?".join(re.escape(part) for part in line.split(ELLIPSIS)) + r"\n"
    text = "".join(line.rstrip() + "\n" for line in actual.splitlines())
    return re.fullmatch(pattern, text) is not None


def console_steps(block: Block) -> Iterator[tuple[str, int, str]]:
    """(command, expected exit code, expected output) for each `$` line of a console block."""
    command: str | None = None
    shown: list[str] = []
    for line in block.text.splitlines():
        if command is not None and not shown and command.endswith("\\"):
            command += "\n" + line  # the command goes on
        elif line.startswith("$ "):
            if command is not None:
                yield command, _exit(command), "".join(shown)
            command, shown = line[2:], []
        else:
            assert command is not None, f"console block line {block.line}: output before `$`"
            shown.append(line + "\n")
    if command is not None:
        yield command, _exit(command), "".join(shown)


def _exit(command: str) -> int:
    found = EXIT.search(command)
    return int(found.group(1)) if found else 0


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleaved as on a terminal
        "COLUMNS": "100",  # argparse's help is wrapped to this width
        "LC_ALL": "C.UTF-8",
        "NO_MKDOCS_2_WARNING": "1",  # mkdocs-material's banner about its successor
    }
    return env


@attrs.define
class Session:
    """What the blocks of one page share besides the folder: the variables its commands
    exported and those the test made for it (fresh databases, streams), what undoes the
    latter, and the commands running in the background."""

    folder: Path
    patch: pytest.MonkeyPatch
    env: dict[str, str] = attrs.field(factory=_environment)
    made: set[str] = attrs.field(factory=set)
    undo: list[Callable[[], None]] = attrs.field(factory=list)
    background: list[tuple[str, Path, subprocess.Popen[str]]] = attrs.field(factory=list)

    def set(self, name: str, value: str) -> None:
        """NAME=value for the page's later commands and Python blocks (in this process too)."""
        self.env[name] = value
        self.patch.setenv(name, value)

    def provide(self, block: Block) -> None:
        """The fresh databases and streams the block names, made the first time."""
        for name in block.made("postgres"):
            if name not in self.made:
                from .postgres import create_database, drop_database, url_of

                database = create_database()
                self.undo.append(functools.partial(drop_database, database))
                self.set(name, url_of(database))
                self.made.add(name)
        for name in block.made("nats"):
            if name not in self.made:
                stream = f"DOCS_{uuid.uuid4().hex[:12]}"
                self.undo.append(functools.partial(_delete_streams, stream))
                self.set(name, stream)
                self.made.add(name)

    def close(self) -> None:
        """Stop what still runs in the background; drop what the test made."""
        for _, _, process in self.background:
            process.kill()
            process.wait()
        for undo in reversed(self.undo):
            undo()


def _delete_streams(stream: str) -> None:
    from .broker import connect, decisions_stream

    with connect() as broker:
        broker.delete_stream(stream)
        broker.delete_stream(decisions_stream(stream))


def run_console(block: Block, page: Path, session: Session) -> None:
    for command, code, shown in console_steps(block):
        assert shlex.split(command, comments=True)[0] in COMMANDS, (block.where(page), command)
        said = f"{block.where(page)}: $ {command}\n"
        exported = EXPORT.match(command)
        if exported is not None:
            _export(command, exported.group(1), session)
            printed = ""
        elif command.strip() == "wait":
            printed = _wait(session)
        elif command.rstrip().endswith("&") and not command.rstrip().endswith("&&"):
            _start(command, page, block, session)
            printed = ""
        else:
            done = subprocess.run(
                ["bash", "-c", SHIM + command],
                cwd=session.folder,
                env=session.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                check=False,
            )
            printed = done.stdout
            assert done.returncode == code, f"exit {done.returncode}, not {code}\n{said}{printed}"
        assert matches(shown, printed), f"{said}--- printed:\n{printed}--- page:\n{shown}"


def _export(command: str, name: str, session: Session) -> None:
    """`export NAME=VALUE`: the value as bash expands it, for the rest of the page; a name
    the test made keeps the test's value (the page's is the reader's own server)."""
    if name in session.made:
        return
    done = subprocess.run(
        ["bash", "-c", f'{command}\nprintf %s "${name}"'],
        cwd=session.folder,
        env=session.env,
        capture_output=True,
        text=True,
        check=True,
    )
    session.set(name, done.stdout)


def _start(command: str, page: Path, block: Block, session: Session) -> None:
    """`COMMAND &`: started, its output in a file until `wait`."""
    log = Path(tempfile.mkstemp(dir=session.folder, prefix=".job-")[1])
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            ["bash", "-c", SHIM + command.rstrip().removesuffix("&") + "\nwait"],
            cwd=session.folder,
            env=session.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    session.background.append((f"{block.where(page)}: $ {command}", log, process))


def _wait(session: Session) -> str:
    """`wait`: every background command ends, exit 0; their output, in the order started."""
    printed = ""
    jobs, session.background = session.background, []
    for where, log, process in jobs:
        code = process.wait(timeout=600)
        said = log.read_text(encoding="utf-8")
        log.unlink()
        assert code == 0, f"{where}: exit {code}\n{said}"
        printed += said
    return printed


def run_python(
    block: Block, page: Path, session: Session, namespace: dict[str, object], shown: str
) -> None:
    if block.fresh:
        done = subprocess.run(
            [sys.executable, "-c", block.text],
            cwd=session.folder,
            env=session.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{block.where(page)}: exit {done.returncode}\n{done.stderr}"
        printed_text = done.stdout
    else:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block.text, block.where(page), "exec"), namespace)
        printed_text = printed.getvalue()
    said = f"{block.where(page)}\n--- printed:\n{printed_text}--- page:\n{shown}"
    assert matches(shown, printed_text), said


def write_file(block: Block, page: Path, folder: Path, rest: list[Block]) -> None:
    title = block.title
    assert title is not None
    path = Path(title)
    assert not path.is_absolute(), block.where(page)
    assert ".." not in path.parts, block.where(page)
    (folder / path).parent.mkdir(parents=True, exist_ok=True)
    (folder / path).write_text(block.text, encoding="utf-8")
    named = {title, str(path.parent) + "/", str(path.parent)} - {".", "./"}
    later = "".join(b.text for b in rest if b.lang in ("console", "python"))
    assert any(name in later for name in named), f"{block.where(page)}: {title} is never used"


def run_page(page: Path, folder: Path, patch: pytest.MonkeyPatch) -> None:
    """Every block of the page, in order, in `folder`."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    shutil.copytree(ROOT / "rules", folder / "rules")
    blocks = blocks_of(page)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    session = Session(folder, patch)
    try:
        for index, block in enumerate(blocks):
            session.provide(block)
            _run_block(page, blocks, index, session, namespace)
        assert not session.background, f"{page.relative_to(ROOT)}: `&` without `$ wait`"
    finally:
        session.close()


def _run_block(
    page: Path, blocks: list[Block], index: int, session: Session, namespace: dict[str, object]
) -> None:
    block = blocks[index]
    after = blocks[index + 1] if index + 1 < len(blocks) else None
    if block.title is not None:
        write_file(block, page, session.folder, blocks[index + 1 :])
    elif block.lang == "python":
        shown = after.text if after is not None and after.lang == "output" else ""
        run_python(block, page, session, namespace, shown)
    elif block.lang == "console":
        run_console(block, page, session)
    elif block.lang == "output":
        before = blocks[index - 1] if index else None
        assert before is not None, block.where(page)
        assert before.lang == "python", f"{block.where(page)}: output of no python block"
    else:
        assert block.lang == "text", (
            f"{block.where(page)}: a ```{block.lang} block is never run: write ```console "
            "with `$ ` lines, ```python, a file with title=, or ```text (docs/writing-docs.md)"
        )


def _page(page: Path) -> object:
    """The page as a test parameter, marked with the servers its blocks need."""
    blocks = blocks_of(page)
    marks = [
        getattr(pytest.mark, server) for server in SERVERS if any(b.made(server) for b in blocks)
    ]
    return pytest.param(page, marks=marks, id=str(page.relative_to(ROOT)))


@pytest.mark.parametrize("page", [_page(page) for page in PAGES])
def test_every_block_of_the_page_runs_as_shown(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's Python runs and prints its output blocks; its commands print what it shows
    and exit as it says; its files are used."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    run_page(page, tmp_path, monkeypatch)


def test_the_reader_sees_every_kind_of_block(tmp_path: Path) -> None:
    """The reader splits a console block into commands, their codes and outputs; the wildcard
    stands for text on a line or for whole lines, and for nothing else."""
    page = tmp_path / "page.md"
    page.write_text(
        "x\n```console\n$ blacklist-rules a # exit 2\nout\n…\n$ cat b\n```\n"
        '```yaml title="r/x.yaml"\nid: x\n```\n',
        encoding="utf-8",
    )
    console, rule = blocks_of(page)
    assert list(console_steps(console)) == [
        ("blacklist-rules a # exit 2", 2, "out\n…\n"),
        ("cat b", 0, ""),
    ]
    assert (rule.lang, rule.title, rule.text) == ("yaml", "r/x.yaml", "id: x\n")
    assert (console.made("postgres"), console.made("nats")) == ([], [])


def test_the_reader_sees_server_sessions(tmp_path: Path) -> None:
    """A block names the fresh databases and streams it needs by attribute; a line ending
    with a backslash goes on on the next; `&` and `export` are commands like the others."""
    page = tmp_path / "page.md"
    page.write_text(
        '```console postgres="DB OTHER" nats="S"\n$ export DB=postgresql://h/x\n'
        '$ blacklist-rules worker --db "$DB" \\\n    --until-idle &\n$ wait\nsummary\n```\n',
        encoding="utf-8",
    )
    (session,) = blocks_of(page)
    assert (session.made("postgres"), session.made("nats")) == (["DB", "OTHER"], ["S"])
    assert list(console_steps(session)) == [
        ("export DB=postgresql://h/x", 0, ""),
        ('blacklist-rules worker --db "$DB" \\\n    --until-idle &', 0, ""),
        ("wait", 0, "summary\n"),
    ]
    assert [EXPORT.match(c) is not None for c, _, _ in console_steps(session)] == [1, 0, 0]
    assert matches("a … c\n…\nend\n", "a bb c\nx\ny\nend\n")
    assert matches("a\n…\n", "a\n")
    assert not matches("a … c\n", "a b\nc\n")
    assert not matches("a\n", "a\nb\n")
    assert matches("a\n", "a  \n")


def test_the_cli_reference_is_the_parser() -> None:
    """docs/reference/cli.md is what `tests/cli_reference.py` renders from the parser today
    (after a change of the command line, run it to write the page again)."""
    from .cli_reference import PAGE, render

    assert PAGE.read_text(encoding="utf-8") == render(), "run: python tests/cli_reference.py"


def test_the_site_builds_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict` (warnings are errors: a broken link, a nav entry without its
    page, an API name mkdocstrings cannot find) succeeds."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "reference" / "api" / "index.html").is_file()


def test_the_api_reference_names_every_public_name() -> None:
    """docs/reference/api.md renders each name of `blacklist_rules.__all__` (but the version)
    and no name the package does not export."""
    import blacklist_rules

    page = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    rendered = re.findall(r"^::: blacklist_rules\.(\w+)$", page, re.M)
    assert sorted(rendered) == sorted(set(blacklist_rules.__all__) - {"__version__"})
