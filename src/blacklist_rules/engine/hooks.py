"""What the engine tells the application, its logs and its metrics about each event, once the
batch holding it has committed: so a hook, a log line or a counter never reports a decision
that was rolled back. The unit of work queues each outcome; this module dispatches them.

Loggers (standard `logging`, no handler installed but the package's `NullHandler`):
`blacklist_rules.engine` (DEBUG an event, INFO a decision and a run's summary, WARNING a
rejected or failed event, ERROR a batch dropped because the store failed) and
`blacklist_rules.engine.hooks` (ERROR a hook that raised). Records carry their fields as
attributes (`extra=`): `event_id`, `account_id`, `line`, `outcome`, `duration` (seconds), and
for a decision `decision_id`, `rule_id`, `action`, `mode`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import attrs

from blacklist_rules.model.decisions import Decision

from .context import Outcome

_T = TypeVar("_T")

log = logging.getLogger("blacklist_rules.engine")
hook_log = logging.getLogger("blacklist_rules.engine.hooks")

DecisionHook = Callable[[Decision], object]
"""Called with each decision (enforced and shadow) once committed."""
OutcomeHook = Callable[[Outcome], object]
"""Called with each rejected or failed event's outcome once committed."""


class Observer(Protocol):
    """What metrics (or any other tally) hear: every committed outcome with the seconds it
    took (`clock`: a move of the clock, not an event), and failures that are no event's
    outcome (`kind`: `hook`, `store`)."""

    def outcome(self, outcome: Outcome, seconds: float, *, clock: bool) -> None: ...

    def failed(self, kind: str) -> None: ...


def kind_of(outcome: Outcome) -> str:
    """The outcome's one word: `failed`, `rejected`, `duplicate`, `decided` or `quiet`."""
    if outcome.failure is not None:
        return "failed"
    if outcome.rejection is not None:
        return "rejected"
    if outcome.duplicate:
        return "duplicate"
    return "decided" if outcome.decisions else "quiet"


@attrs.frozen
class Done:
    """An outcome waiting for its batch's commit, to be told to hooks, logs and metrics."""

    outcome: Outcome
    seconds: float
    """How long the engine took over it."""
    clock: bool = False
    """A move of the clock (`advance_to`), not an event."""


class Hooks:
    """The engine's listeners (`engine.hooks`), and whether an outcome is worth queueing at
    all (the hot path queues nothing when no one listens and DEBUG and INFO are off).

    Every hook is called on the engine's thread, after the commit of the batch that holds
    what it is told about, in processing order: never for a decision that is rolled back.
    Outside `batch()` / `run` that is before `process` returns; inside, at the batch's commit
    (`commit_every`, `flush`, the end of the block). A hook that raises is logged (ERROR,
    `blacklist_rules.engine.hooks`, with its traceback) and skipped: the other hooks and the
    engine go on. A hook may query the engine but not process, move the clock, flush or
    close it (`EngineError`)."""

    __slots__ = ("decision", "dispatching", "failure", "mute", "observers", "reject")

    def __init__(self) -> None:
        self.decision: list[DecisionHook] = []
        self.failure: list[OutcomeHook] = []
        self.reject: list[OutcomeHook] = []
        self.observers: list[Observer] = []
        self.dispatching = False
        """True while hooks run: the engine then refuses to process (`EngineError`)."""
        self.mute = False
        """Queue, tell and log nothing: the cascade's scratch world, whose decisions are
        hypothetical (`scratch`)."""

    def on_decision(self, hook: DecisionHook) -> DecisionHook:
        """Call `hook(decision)` for each decision, enforced or shadow, once committed
        (deadline decisions of `advance_to` included). Returns `hook` (a decorator)."""
        self.decision.append(hook)
        return hook

    def on_failure(self, hook: OutcomeHook) -> OutcomeHook:
        """Call `hook(outcome)` for each event (or clock move) whose evaluation failed, once
        the failure record is committed; `outcome.failure` says why."""
        self.failure.append(hook)
        return hook

    def on_reject(self, hook: OutcomeHook) -> OutcomeHook:
        """Call `hook(outcome)` for each rejected event, once its record is committed;
        `outcome.rejection` says why."""
        self.reject.append(hook)
        return hook

    def add_observer(self, observer: Observer) -> None:
        """Tell `observer` every committed outcome and every failure (metrics do)."""
        self.observers.append(observer)

    def remove(self, hook: object) -> None:
        """Stop calling `hook` (or observer), wherever it was added; unknown: nothing."""
        for hooks in (self.decision, self.failure, self.reject, self.observers):
            while hook in hooks:
                hooks.remove(hook)  # type: ignore[arg-type]

    def wanted(self, outcome: Outcome) -> bool:
        """Is the outcome worth queueing? Rejections and failures always are; a quiet event
        only when someone counts it or DEBUG is on."""
        if self.mute:
            return False
        if self.observers or outcome.rejection is not None or outcome.failure is not None:
            return True
        if outcome.decisions:
            return bool(self.decision) or log.isEnabledFor(logging.INFO)
        return log.isEnabledFor(logging.DEBUG)

    def dispatch(self, done: Sequence[Done]) -> None:
        """Tell everyone about outcomes just committed, in the order they were processed."""
        self.dispatching = True
        try:
            for item in done:
                outcome, seconds = item.outcome, item.seconds
                for observer in self.observers:
                    observer.outcome(outcome, seconds, clock=item.clock)
                _log_outcome(outcome, seconds, clock=item.clock)
                for decision in outcome.decisions:
                    _log_decision(decision, outcome, seconds)
                    for hook in self.decision:
                        self._call(hook, decision)
                if outcome.failure is not None:
                    for failure_hook in self.failure:
                        self._call(failure_hook, outcome)
                elif outcome.rejection is not None:
                    for reject_hook in self.reject:
                        self._call(reject_hook, outcome)
        finally:
            self.dispatching = False

    def failed(self, kind: str) -> None:
        for observer in self.observers:
            observer.failed(kind)

    def _call(self, hook: Callable[[_T], object], argument: _T) -> None:
        """A hook that raises is logged with its traceback and skipped; the other hooks and
        the engine go on (what it was told about is committed: raising cannot undo it)."""
        try:
            hook(argument)
        except Exception:
            hook_log.exception(
                "hook %s raised; skipped (what it was told about stays committed)",
                getattr(hook, "__qualname__", repr(hook)),
                extra=_fields(argument) if isinstance(argument, Decision | Outcome) else None,
            )
            self.failed("hook")


def _fields(about: Decision | Outcome) -> dict[str, object]:
    if isinstance(about, Decision):
        return {
            "account_id": about.account_id,
            "decision_id": about.decision_id,
            "rule_id": about.rule_id,
        }
    return {"event_id": about.event_id, "account_id": about.account_id, "line": about.line}


def _log_outcome(outcome: Outcome, seconds: float, *, clock: bool) -> None:
    kind = kind_of(outcome)
    fields = {
        "event_id": outcome.event_id,
        "account_id": outcome.account_id,
        "line": outcome.line,
        "outcome": kind,
        "duration": seconds,
    }
    what = "moving the clock" if clock else f"event {outcome.event_id}"
    if outcome.failure is not None:
        log.warning("%s failed, nothing decided: %s", what, outcome.failure, extra=fields)
    elif outcome.rejection is not None:
        log.warning("%s rejected: %s", what, outcome.rejection, extra=fields)
    elif log.isEnabledFor(logging.DEBUG):
        log.debug("%s: %s", what, kind, extra=fields)


def _log_decision(decision: Decision, outcome: Outcome, seconds: float) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "decision %s: %s %s by %s (%s)",
            decision.decision_id,
            decision.action,
            decision.account_id,
            decision.rule_id,
            decision.mode,
            extra={
                "event_id": outcome.event_id,
                "account_id": decision.account_id,
                "decision_id": decision.decision_id,
                "rule_id": decision.rule_id,
                "action": str(decision.action),
                "mode": str(decision.mode),
                "outcome": "decided",
                "duration": seconds,
            },
        )
