"""Every code block of the documentation (docs/**/*.md, README.md, rules/README.md) runs and
prints what its page shows; the site builds with `mkdocs build --strict` (issue 17).

How a page's fenced blocks are read (fences at column 0; the info string is the language, then
optional attributes such as `title="…"`):

- ```` ```python ````: executed; the blocks of one page share a namespace and run in order. What a
  block prints must be the ```` ```output ```` block right after it (nothing, when none follows).
- ```` ```console ````: lines `$ COMMAND` and the output expected after each. Each command runs
  in bash, `blacklist-rules` being this checkout's command line, stdout and stderr together as
  a terminal shows them; it must exit 0, unless the command ends with a comment `# exit N`. The
  first word must be `blacklist-rules`, `cat`, `head` or `pytest` (this Python's).
- any language with `title="PATH"` (a rule file, a case file, events): the block is written to
  PATH for the blocks after it, which must name it (the file itself or its folder).
- ```` ```text ````: shown, never run.

Commands and Python blocks of a page run in order in one temporary folder that holds copies of
the repository's `examples/` and `rules/`, with no identity key in the environment (as a new
user has). Outputs are compared line by line, trailing blanks ignored, with one wildcard: `…`
inside a line stands for any text on that line (a digest, a time, a hash), and a line that is
`…` alone for any number of lines. Nothing else is normalised.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from blacklist_rules.model.identity import KEY_ENV

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted([*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "rules" / "README.md"])
ELLIPSIS = "…"
COMMANDS = ("blacklist-rules", "cat", "head", "pytest")
SHIM = (
    f'blacklist-rules() {{ "{sys.executable}" -m blacklist_rules "$@"; }}\n'
    f'pytest() {{ "{sys.executable}" -m pytest "$@"; }}\n'
)
FENCE = re.compile(r"^(\s*)```(.*)$")
TITLE = re.compile(r'title="([^"]+)"')
EXIT = re.compile(r"#.*\bexit (\d+)\s*$")


@attrs.frozen
class Block:
    """One fenced block of a page: its language, attributes, text and first line."""

    lang: str
    attributes: str
    text: str
    line: int

    @property
    def title(self) -> str | None:
        found = TITLE.search(self.attributes)
        return found.group(1) if found else None

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
        if line.startswith("$ "):
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


def run_console(block: Block, page: Path, folder: Path) -> None:
    for command, code, shown in console_steps(block):
        assert shlex.split(command, comments=True)[0] in COMMANDS, (block.where(page), command)
        done = subprocess.run(
            ["bash", "-c", SHIM + command],
            cwd=folder,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            check=False,
        )
        said = f"{block.where(page)}: $ {command}\n--- printed:\n{done.stdout}--- page:\n{shown}"
        assert done.returncode == code, f"exit {done.returncode}, not {code}\n{said}"
        assert matches(shown, done.stdout), said


def run_python(block: Block, page: Path, namespace: dict[str, object], shown: str) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block.text, block.where(page), "exec"), namespace)
    said = f"{block.where(page)}\n--- printed:\n{printed.getvalue()}--- page:\n{shown}"
    assert matches(shown, printed.getvalue()), said


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


def run_page(page: Path, folder: Path) -> None:
    """Every block of the page, in order, in `folder`."""
    shutil.copytree(ROOT / "examples", folder / "examples")
    shutil.copytree(ROOT / "rules", folder / "rules")
    blocks = blocks_of(page)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for index, block in enumerate(blocks):
        after = blocks[index + 1] if index + 1 < len(blocks) else None
        if block.title is not None:
            write_file(block, page, folder, blocks[index + 1 :])
        elif block.lang == "python":
            shown = after.text if after is not None and after.lang == "output" else ""
            run_python(block, page, namespace, shown)
        elif block.lang == "console":
            run_console(block, page, folder)
        elif block.lang == "output":
            before = blocks[index - 1] if index else None
            assert before is not None, block.where(page)
            assert before.lang == "python", f"{block.where(page)}: output of no python block"
        else:
            assert block.lang == "text", (
                f"{block.where(page)}: a ```{block.lang} block is never run: write ```console "
                "with `$ ` lines, ```python, a file with title=, or ```text (docs/writing-docs.md)"
            )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_block_of_the_page_runs_as_shown(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's Python runs and prints its output blocks; its commands print what it shows
    and exit as it says; its files are used."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    run_page(page, tmp_path)


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
