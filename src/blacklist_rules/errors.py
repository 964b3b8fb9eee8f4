"""The one exception tree of blacklist-rules.

::

    BlacklistRulesError
    ├── RuleLoadError        rule files that do not load; carries every RuleFileError, sorted
    │   └── CaseLoadError    rule test case files that do not load (same errors, same form)
    ├── EventError           an event that does not validate; carries its field path and reason
    ├── EvaluationError      matching failed: the event is recorded as failed, never allowed
    ├── EngineError          an engine used against its model: written to from its hooks
    │   ├── EngineThreadError  used from another thread than the one that made it
    │   └── EngineClosedError  used after `close()` (an `Engine`, an `AsyncEngine`)
    ├── ClockError           a move of event time too far ahead of the wall clock, refused
    ├── IdentityKeyError     no usable identity key for a persistent db
    ├── ExportError          a statement of reasons cannot be made, or the trail does not verify
    ├── NoticeError          no notice for a decision: unknown, shadow, or a pack without notices
    ├── RuleVersionError     a rule id and version the db holds with other text: refused (exit 8)
    └── StoreError           the database cannot be used as asked: another schema version,
        │                    a write on a read-only open, a transaction begun inside another
        └── StoreUnavailableError  not now: locked past the busy timeout (SQLite's lock,
            │                      or another writer's writer lock), disk full,
            │                      read-only, damaged or not a database (CLI exit 4)
            └── StoreConflictError another writer's transaction and ours conflicted
                                   (a deadlock, a serialisation failure): ours was rolled
                                   back whole; the engine runs the event again

Every third-party error is mapped to one of these at the seam that calls the library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs


class BlacklistRulesError(Exception):
    """Root of every error this library raises on purpose."""


_UNPRINTABLE = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ud800-\\udfff]")


def one_line(text: str) -> str:
    """Text as it may stand in an error line: line breaks, control characters and lone
    surrogates (unprintable as UTF-8) escaped as Python writes them, `\\n`, `\\x00`."""
    return _UNPRINTABLE.sub(lambda match: ascii(match.group())[1:-1], text)


def _one_line_or_none(text: str | None) -> str | None:
    return None if text is None else one_line(text)


@attrs.frozen(order=True)
class RuleFileError:
    """One problem in one rule file, located so a reviewer can jump to it. Its text is kept on
    one printable line whatever the file held (a key `"a\\nb"` is shown as `a\\nb`)."""

    file: str = attrs.field(converter=one_line)
    line: int
    code: str
    message: str = attrs.field(converter=one_line)
    hint: str | None = attrs.field(default=None, order=False, converter=_one_line_or_none)

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}: {self.code}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class RuleLoadError(BlacklistRulesError):
    """Rule files failed to load; nothing was loaded."""

    what = "rule files"

    def __init__(self, errors: Iterable[RuleFileError]) -> None:
        self.errors = sorted(errors)
        count = len(self.errors)
        lines = "\n".join(str(error) for error in self.errors)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in {self.what}:\n{lines}")


class CaseLoadError(RuleLoadError):
    """Rule test case files failed to load; no case ran."""

    what = "test case files"


class EventError(BlacklistRulesError):
    """An event was rejected. `path` is the field path (`identity.phone`), or '' for the whole;
    `event_id` and `account_id` are the input's own, when it had usable ones."""

    def __init__(
        self,
        reason: str,
        *,
        path: str = "",
        event_id: str | None = None,
        account_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.event_id = event_id
        self.account_id = account_id
        super().__init__(f"{path}: {reason}" if path else reason)


class EvaluationError(BlacklistRulesError):
    """Rule evaluation failed for an event (or a move of the clock); it was recorded as failed
    and no decision was taken. `event_id`, `account_id` and `line` are the event's when known
    (set by the engine when it raises)."""

    def __init__(
        self,
        message: str,
        *,
        event_id: str | None = None,
        account_id: str | None = None,
        line: int | None = None,
    ) -> None:
        self.event_id = event_id
        self.account_id = account_id
        self.line = line
        super().__init__(message)


class EngineError(BlacklistRulesError):
    """An engine was used in a way its model forbids: processing, moving the clock, flushing or
    closing it from inside one of its own hooks. Nothing was done."""


class EngineClosedError(EngineError):
    """An engine (or an `AsyncEngine`) was used after `close()`: its store and matcher are
    closed. Nothing was done; open a new one (`Engine.from_path`) to go on. Closing again is
    allowed and does nothing."""

    def __init__(self, what: str = "this engine") -> None:
        super().__init__(
            f"{what} is closed: it processes, moves the clock and answers no more; "
            "open a new one to go on"
        )


class EngineThreadError(EngineError):
    """An engine was used from another thread than the one that made it, or made on another
    thread than the one durable-rules (one host per process) belongs to. An engine (its SQLite
    connection, the matcher, its mirrors) belongs to one thread: hand every call to it
    (`AsyncEngine` does), or run one process per partition. Nothing was done."""

    def __init__(self, owner: str, caller: str, what: str = "this engine") -> None:
        self.owner = owner
        self.caller = caller
        super().__init__(
            f"{what} belongs to thread {owner}; it was used from thread {caller}. Make and "
            "use a process's engines on one thread, or hand calls to it (AsyncEngine)"
        )


class ClockError(BlacklistRulesError):
    """A move of event time (`advance_to`, `run --until`) beyond the wall clock plus `max_lead`
    was refused; nothing moved."""


class StoreError(BlacklistRulesError):
    """The store cannot be used as asked."""


class StoreUnavailableError(StoreError):
    """The database cannot be used now, for a reason outside this library (another process
    holds its lock, or another writer its writer lock, the disk is full, the file is
    read-only, damaged or not a database).
    Nothing of the transaction it interrupted was committed: run again once the cause is gone.
    The CLI exits 4."""


class StoreConflictError(StoreUnavailableError):
    """Another writer's transaction and ours waited on each other (a deadlock) or could not
    both commit (a serialisation failure): the server rolled ours back whole. Nothing of it
    was committed; an engine on a shared store runs the event again (`Engine.process`)."""


class IdentityKeyError(BlacklistRulesError):
    """No usable identity key: fingerprints cannot be made or compared."""


class ExportError(BlacklistRulesError):
    """An export refused: the audit trail does not verify, or a stored decision cannot become a
    valid statement of reasons. Nothing is exported."""


class RuleVersionError(BlacklistRulesError):
    """A pack not run into a db that holds one of its rule ids and versions with other text:
    a decision's `rule_version` must name one rule text. One line per rule in `lines` (the
    rule, both digests of what it says, the version to give it); nothing was written."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = tuple(lines)
        super().__init__("\n".join(self.lines))


class NoticeError(BlacklistRulesError):
    """A decision's notice cannot be made as asked (unknown decision, language or time zone; a
    shadow decision; a pack that has no notices)."""
