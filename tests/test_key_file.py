"""The identity key file at its edges: every permission bit beyond the owner's is refused, and
a file that is not an ASCII key is our error, never a traceback.

The key turns ID numbers and phones into fingerprints: whoever reads it can test guesses
against the blacklist. Group bits matter as much as other bits (a shared `staff` group).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from blacklist_rules import IdentityKeyError
from blacklist_rules.model.identity import KEY_ENV, load_key

ROOT = Path(__file__).resolve().parents[1]
KEY = "k" * 64 + "\n"
FOREIGN_BITS = (0o001, 0o002, 0o004, 0o010, 0o020, 0o040)
"""Each group and other permission bit (execute, write, read)."""
COMBINATIONS = sorted(
    sum(bits)
    for n in range(2, len(FOREIGN_BITS) + 1)
    for bits in itertools.combinations(FOREIGN_BITS, n)
)


@pytest.fixture
def key_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A db path whose key file `<db>.key` exists, with no key in the environment."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    db = tmp_path / "state.db"
    Path(f"{db}.key").write_text(KEY, encoding="ascii")
    return db


@pytest.mark.parametrize("bits", FOREIGN_BITS, ids=oct)
@pytest.mark.parametrize("owner", [0o600, 0o400])
def test_each_group_or_other_bit_alone_is_refused(key_db: Path, owner: int, bits: int) -> None:
    """0600 or 0400 plus any single group/other bit (0o001 … 0o040) is refused: a mask of
    "other" bits alone would accept a group-readable 0640 file."""
    os.chmod(f"{key_db}.key", owner | bits)
    with pytest.raises(IdentityKeyError, match="readable by others"):
        load_key(key_db)


@pytest.mark.parametrize("bits", COMBINATIONS, ids=oct)
def test_every_combination_of_group_and_other_bits_is_refused(key_db: Path, bits: int) -> None:
    """Every combination of two or more group/other bits (57 modes) is refused too."""
    os.chmod(f"{key_db}.key", 0o600 | bits)
    with pytest.raises(IdentityKeyError, match="readable by others"):
        load_key(key_db)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(key_db: Path, mode: int) -> None:
    """0600 and 0400 (read-only for its owner) are accepted, and the key is the file's."""
    os.chmod(f"{key_db}.key", mode)
    key = load_key(key_db)
    assert key.secret == KEY.strip().encode()
    assert key.source == f"key file {key_db}.key"


@pytest.mark.parametrize("byte", [b"\x80", b"\xe9", b"\xff", "é".encode()])
def test_a_non_ascii_byte_in_the_key_file_is_our_error(key_db: Path, byte: bytes) -> None:
    """A key file with a byte that is not ASCII (a latin-1 or UTF-8 letter, a stray 0xFF) is an
    `IdentityKeyError` naming the byte's offset, not a `UnicodeDecodeError`."""
    path = Path(f"{key_db}.key")
    path.write_bytes(b"k" * 40 + byte + b"k" * 10 + b"\n")
    os.chmod(path, 0o600)
    with pytest.raises(IdentityKeyError, match="byte 40 is not ASCII") as info:
        load_key(key_db)
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_an_unreadable_key_path_is_our_error(key_db: Path) -> None:
    """A key path that is a folder (mode 0700) is an `IdentityKeyError`, not an `OSError`."""
    path = Path(f"{key_db}.key")
    path.unlink()
    path.mkdir(mode=0o700)
    with pytest.raises(IdentityKeyError, match="cannot be read"):
        load_key(key_db)


def test_the_cli_says_one_line_of_a_non_ascii_key_file(key_db: Path) -> None:
    """Through the real command line: `run` on a db whose key file holds a non-ASCII byte
    prints one error line and no traceback."""
    path = Path(f"{key_db}.key")
    path.write_bytes("clé-".encode() + b"k" * 40 + b"\n")
    os.chmod(path, 0o600)
    events = key_db.with_name("events.jsonl")
    events.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run(
        [sys.executable, "-m", "blacklist_rules", "run", "--db", str(key_db), str(events)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "is not ASCII" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
