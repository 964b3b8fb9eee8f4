"""The `matches` operator's regular expressions: RE2 syntax, matched in time linear in the text.

Python's `re` backtracks: `(a|aa)+b`, `((a)+)+b` or `.*.*.*.*.*.*b` take tens of seconds on a
28-character field, and no syntactic guard catches every such pattern. RE2 (Google's engine,
the `google-re2` package) never backtracks, so any pattern it accepts matches any text in time
linear in the text. The price is RE2's syntax: no backreferences and no lookaround (a pattern
using them is refused at load, E-REGEX), `\\z` rather than `\\Z`, and `\\d`, `\\w`, `\\s`,
`\\b` match ASCII only.

durable-rules never sees a pattern: its own `$mt` is not used (see `compiler.feature_key`), so
this is the only regex engine a rule's text reaches.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import re2

MAX_PATTERN = 200
"""Longest pattern a rule may carry, in characters."""

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is an E-REGEX, not a line on stderr
_OPTIONS.never_capture = True  # only whether the whole text matches is asked


_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=")
_LOOKAROUND = re.compile(r"\(\?<?[=!]")


class PatternError(ValueError):
    """A pattern RE2 refuses: RE2's own message, and a hint when the cause is a known one."""

    def __init__(self, message: str, hint: str | None) -> None:
        super().__init__(message)
        self.hint = hint


def _hint(source: str) -> str | None:
    """What to write instead, for the Python-only features RE2 refuses by design."""
    if _BACKREFERENCE.search(source):
        return "backreferences are not RE2 syntax: patterns match in linear time, without them"
    if _LOOKAROUND.search(source):
        return "lookaround is not RE2 syntax: patterns match in linear time, without it"
    if "\\Z" in source:
        return "RE2 writes the end of text `\\z`"
    return None


@attrs.frozen
class Pattern:
    """A compiled `matches` pattern."""

    source: str
    _compiled: Any = attrs.field(eq=False, repr=False)  # a re2 regexp (untyped package)

    def fullmatch(self, text: str) -> bool:
        """Whether the pattern matches the whole of `text`.

        Lone surrogates (which JSON escapes can put in an event) are passed through as their
        UTF-8-like bytes rather than failing the encode.
        """
        raw = text.encode("utf-8", "surrogatepass")
        return self._compiled.fullmatch(raw) is not None


def compile_pattern(source: str) -> Pattern:
    """`source` compiled by RE2, or PatternError saying why RE2 refuses it."""
    try:
        compiled = re2.compile(source, _OPTIONS)
    except re2.error as exc:
        said = exc.args[0] if exc.args else "refused"
        message = said.decode() if isinstance(said, bytes) else str(said)
        raise PatternError(message, _hint(source)) from None
    return Pattern(source, compiled)
