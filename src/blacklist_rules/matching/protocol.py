"""What the engine needs from a matcher, whatever evaluates the rules.

A matcher is built from a compiled plan (`compiler.CompiledRuleset`: its `matchables` are the
named tests, in priority order) and evaluates one flat snapshot at a time. It never keeps
state between snapshots: history and windows are the engine's, already in the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Matcher(Protocol):
    """Evaluates snapshots against one plan.

    `match` returns the names of the plan's tests that hold, in the plan's priority order, each
    once; no match is an empty list. Any failure to evaluate raises `EvaluationError`: a matcher
    never answers "nothing matched" when it could not tell (fail closed). After `close`, `match`
    raises `EvaluationError` too.
    """

    def match(self, snapshot: Mapping[str, Any]) -> list[str]:
        """Names of the tests that hold for the snapshot, in priority order."""
        ...

    def close(self) -> None:
        """Release what the matcher holds; closing twice is harmless."""
        ...
