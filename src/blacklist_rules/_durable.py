"""The one adapter to durable-rules: a stateless matcher over snapshot facts.

Pitfalls handled here, each measured on durable-rules 2.0.28 (DESIGN §5):
- one `Host` per process, used from the thread that created it (concurrent `post` segfaults);
- ruleset names are unique per host and cannot be replaced: a pack is registered once under a
  name derived from its digest, and reused;
- no match raises `MessageNotHandledException`: every pack has a catch-all guarded by a field
  only snapshots have, so it never matches engine state;
- an exception in an action is swallowed into the returned state: actions only append a name,
  and the result is checked, failing closed;
- per-sid state is capped (1,024 sids) and heavy: every evaluation uses one sid, and its fact is
  retracted at once, so nothing accumulates;
- no `post_batch`, timers, correlation rules or persistence callbacks.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from durable import engine as _engine

from .compiler import CATCH_ALL
from .errors import EvaluationError

_SID = "0"


class _Host(_engine.Host):  # type: ignore[misc]
    """Actions are names appended to the list of the evaluation under way."""

    def __init__(self) -> None:
        self.fired: list[str] = []
        super().__init__()

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        fired = self.fired

        def action(_context: Any) -> None:
            fired.append(action_name)

        return action


_host: _Host | None = None
_owner: int | None = None
_registered: set[str] = set()
_counter = itertools.count(1)


def _get_host() -> _Host:
    global _host, _owner
    if _host is None:
        _host, _owner = _Host(), threading.get_ident()
    if threading.get_ident() != _owner:
        raise EvaluationError(
            "durable-rules is not thread-safe: use the engine from the thread that created it, "
            "or one process per partition of accounts"
        )
    return _host


_ERROR_CODES = {
    "113": "the condition is too complex for durable-rules (expression limit)",
}
_problems: dict[str, str | None] = {}


def rule_problem(rule: Mapping[str, Any]) -> str | None:
    """Why durable-rules refuses one compiled rule, or None. Some rules our checks accept fail
    only when durable-rules builds them, with an opaque code: find out at load, not at run."""
    text = json.dumps(rule, sort_keys=True)
    if text not in _problems:
        name = "probe_" + hashlib.sha256(text.encode()).hexdigest()[:16]
        try:
            _get_host().register_rulesets({name: {"p": copy.deepcopy(dict(rule))}})
            _problems[text] = None
        except EvaluationError:
            raise
        except Exception as exc:
            code = str(exc).rsplit(" ", 1)[-1]
            _problems[text] = _ERROR_CODES.get(code, str(exc))
    return _problems[text]


class DurableMatcher:
    """Matches snapshots against one registered ruleset; returns every rule that fired."""

    def __init__(self, name: str, definition: Mapping[str, Any]) -> None:
        host = _get_host()
        if name not in _registered:
            try:
                # register_rulesets mutates what it is given.
                host.register_rulesets({name: copy.deepcopy(dict(definition))})
            except Exception as exc:
                raise EvaluationError(f"durable-rules refused ruleset {name}: {exc}") from exc
            _registered.add(name)
        self.name = name

    def match(self, snapshot: Mapping[str, Any]) -> list[str]:
        """Rule names whose condition holds, in priority order; raises `EvaluationError`."""
        host = _get_host()
        fact = {**snapshot, "sid": _SID, "eval_id": next(_counter)}
        host.fired.clear()
        try:
            state = host.assert_fact(self.name, fact)
            host.retract_fact(self.name, fact)
        except Exception as exc:
            raise EvaluationError(f"durable-rules failed on {self.name}: {exc}") from exc
        if isinstance(state, Mapping) and "exception" in state:
            raise EvaluationError(f"a rule action failed: {state['exception']}")
        fired = list(host.fired)
        if CATCH_ALL not in fired:
            raise EvaluationError("durable-rules did not evaluate the snapshot (no catch-all)")
        # durable-rules expands `$or` into alternatives, each of which can fire: once is enough.
        return [name for name in dict.fromkeys(fired) if name != CATCH_ALL]

    def post(self, message: Mapping[str, Any]) -> str | None:
        """Raw `post()` of one event: the baseline the benchmark measures against."""
        host = _get_host()
        host.fired.clear()
        host.post(self.name, {**message, "sid": _SID, "eval_id": next(_counter)})
        return host.fired[0] if host.fired else None
