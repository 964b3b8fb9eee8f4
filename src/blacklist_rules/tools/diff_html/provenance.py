"""Where a diff report comes from, so a reader can check it: both packs (folder, digest, the
unified diff of every rule file and notice template whose text differs), the input file with
the SHA-256 of exactly the bytes replayed, the tool's version and when the report was made."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

import attrs

from blacklist_rules.pack.compiler import CompiledRuleset


@attrs.frozen
class InputFile:
    """The events replayed: the file's path and the digest and size of what was read."""

    path: str
    sha256: str
    size: int


class DigestingReader:
    """A binary file handed to `iter_jsonl` line by line (`readline`, as it reads files),
    digesting every byte it passes on: the digest is of what was replayed, not of the file
    read again later."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self._size = 0

    def readline(self, size: int = -1, /) -> bytes:
        raw = self._handle.readline(size)
        self._digest.update(raw)
        self._size += len(raw)
        return raw

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def input_file(self, path: str) -> InputFile:
        """What was read so far, named `path`."""
        return InputFile(path, self._digest.hexdigest(), self._size)


@attrs.frozen
class PackSide:
    """One of the two packs: the folder it was loaded from, its digest, how many rules."""

    folder: str
    digest: str
    rules: int


@attrs.frozen
class RuleChange:
    """A rule file (by rule id) or a notice template (by file name) whose text differs."""

    name: str
    change: str
    """`changed`, `added` (only in the candidate) or `removed` (only in the baseline)."""
    baseline_version: int | None
    candidate_version: int | None
    diff: str
    """A unified diff, baseline to candidate."""


@attrs.frozen
class Provenance:
    tool_version: str
    generated_at: datetime
    input: InputFile
    baseline: PackSide
    candidate: PackSide
    changes: tuple[RuleChange, ...]

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["generated_at"] = self.generated_at.astimezone(UTC).isoformat()
        return data


def make_provenance(
    baseline: tuple[str, CompiledRuleset],
    candidate: tuple[str, CompiledRuleset],
    events: InputFile,
    *,
    tool_version: str,
    now: datetime | None = None,
) -> Provenance:
    """The provenance of a replay of `events` through two packs, each (folder, ruleset)."""
    return Provenance(
        tool_version=tool_version,
        generated_at=(now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0),
        input=events,
        baseline=PackSide(baseline[0], baseline[1].digest, len(baseline[1].rules)),
        candidate=PackSide(candidate[0], candidate[1].digest, len(candidate[1].rules)),
        changes=rule_changes(baseline[1], candidate[1]),
    )


def rule_changes(baseline: CompiledRuleset, candidate: CompiledRuleset) -> tuple[RuleChange, ...]:
    """Every rule (by id) and notice template (by file) whose text differs, sorted by name,
    with its unified diff; a comment counts, as the text is what a reviewer approves."""
    before = {rule.id: rule for rule in baseline.rules}
    after = {rule.id: rule for rule in candidate.rules}
    changes = []
    for rule_id in sorted(before.keys() | after.keys()):
        old, new = before.get(rule_id), after.get(rule_id)
        change = _change(
            rule_id,
            (old.source, old.text) if old else None,
            (new.source, new.text) if new else None,
        )
        if change is not None:
            changes.append(
                attrs.evolve(
                    change,
                    baseline_version=old.version if old else None,
                    candidate_version=new.version if new else None,
                )
            )
    changes += _notice_changes(
        baseline.notices.files if baseline.notices else {},
        candidate.notices.files if candidate.notices else {},
    )
    return tuple(changes)


def _notice_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[RuleChange]:
    found = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        change = _change(
            name,
            (name, old) if old is not None else None,
            (name, new) if new is not None else None,
        )
        if change is not None:
            found.append(change)
    return found


def _change(
    name: str, old: tuple[str, str] | None, new: tuple[str, str] | None
) -> RuleChange | None:
    """The change between two (file, text) pairs, None when the texts are the same."""
    if old is not None and new is not None and old[1] == new[1]:
        return None
    kind = "changed" if old and new else "added" if new else "removed"
    lines = difflib.unified_diff(
        old[1].splitlines() if old else [],
        new[1].splitlines() if new else [],
        fromfile=f"baseline: {old[0]}" if old else "baseline: (none)",
        tofile=f"candidate: {new[0]}" if new else "candidate: (none)",
        lineterm="",
    )
    return RuleChange(name, kind, None, None, "\n".join(lines) + "\n")
