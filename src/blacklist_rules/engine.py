"""The engine: event → validate → match → decide → record → outcome (DESIGN §4).

One `Engine` holds one compiled rule pack and one store. Time is event time: the clock is the
latest `occurred_at` seen, and a freeze whose end the clock passes ends in the outcome of the
event that moved it. A rule that fails to evaluate never means "allow": the failure is
recorded and `EvaluationError` is raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from ._durable import DurableMatcher, rule_problem
from .checks import check_rules
from .compiler import (
    MAX_ALTERNATIVES,
    CompiledRule,
    CompiledRuleset,
    alternatives,
    compile_rules,
    trace,
)
from .decisions import (
    HUMAN_REVIEW,
    Action,
    Decision,
    Mode,
    RuleMatch,
    Status,
    StatusChange,
    decision_from_dict,
    decision_id,
)
from .errors import EvaluationError, EventError, RuleFileError, RuleLoadError
from .events import (
    AppealOutcome,
    Event,
    IdentityVerification,
    ParsedLine,
    Registration,
    ReviewDecision,
    flatten,
    from_micros,
    parse_event,
    parse_time,
    stored_payload,
    stored_text,
    to_micros,
    utc_text,
)
from .loader import RuleSource, read_rules
from .store import SQLiteStore

VERIFICATION_PASSED = "verification_passed"
_TYPES_WITH_EFFECTS = frozenset(
    {"identity_verification", "registration", "review_decision", "appeal_outcome"}
)
"""Event types that can change state by themselves (end a freeze, decide, reverse)."""


def default_rules_path() -> Path:
    """The packaged default rule pack (the repository's `rules/` in a source checkout)."""
    packaged = resources.files("blacklist_rules") / "rules"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "rules"


def load_ruleset(location: str | Path | None = None) -> CompiledRuleset:
    """Load, check and compile a rule pack; raises `RuleLoadError` with every error found."""
    rules, errors = read_rules(Path(location) if location is not None else default_rules_path())
    errors.extend(check_rules(rules))
    if errors:
        raise RuleLoadError(errors)
    ruleset = compile_rules(rules)
    errors = engine_problems(rules, ruleset)
    if errors:
        raise RuleLoadError(errors)
    return ruleset


def engine_problems(rules: list[RuleSource], ruleset: CompiledRuleset) -> list[RuleFileError]:
    """Rules that pass every check but that durable-rules cannot build (or not in time)."""
    errors = []
    hint = "split it into several rules, or simplify nested `not`/`any`"
    for source in rules:
        rule = ruleset.definition[source.spec.id]
        count = alternatives(rule["all"][0]["m"])
        if count > MAX_ALTERNATIVES:
            problem: str | None = (
                f"the condition expands to {count} alternatives (at most {MAX_ALTERNATIVES})"
            )
        else:
            problem = rule_problem(rule)
        if problem is not None:
            errors.append(
                source.error(("when",), "E-ENGINE", f"rule `{source.spec.id}`: {problem}", hint)
            )
    return errors


@attrs.frozen
class Outcome:
    """What one event did. `decisions` holds enforced and shadow decisions alike."""

    event_id: str | None
    account_id: str | None
    decisions: tuple[Decision, ...] = ()
    status_changes: tuple[StatusChange, ...] = ()
    status: Status | None = None
    duplicate: bool = False
    rejection: EventError | None = None
    failure: EvaluationError | None = None
    line: int | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None and self.failure is None and not self.duplicate


class Engine:
    """Applies a compiled rule pack to account events, keeping state in a store."""

    def __init__(
        self,
        ruleset: CompiledRuleset,
        store: SQLiteStore,
        *,
        prefilter: bool = True,
        commit_every: int = 1000,
    ) -> None:
        self.ruleset = ruleset
        self.store = store
        self.prefilter = prefilter
        self.commit_every = commit_every
        self._matcher = DurableMatcher(ruleset.name, ruleset.definition)
        self._batch_depth = 0
        self._pending = 0
        clock = store.meta("clock")
        self._clock: datetime | None = datetime.fromisoformat(clock) if clock else None
        self._next_expiry = _parse_time(store.next_expiry())
        # Only accounts that are not active are kept in memory: few, and read on every event.
        self._statuses = {account: Status(status) for account, status in store.flagged()}
        self._changes: list[StatusChange] = []
        self._remembered = False
        self._closed = False
        self._current: Event | None = None
        self._inserted = False  # the current event's row was written
        self._saved = False  # a savepoint guards the current event's further writes

    @classmethod
    def from_path(
        cls,
        rules: str | Path | None = None,
        db: str | Path | None = None,
        *,
        prefilter: bool = True,
    ) -> Engine:
        """An engine over a rule folder (default: the packaged pack) and a db (default: memory)."""
        return cls(
            load_ruleset(rules),
            SQLiteStore(db if db is not None else ":memory:"),
            prefilter=prefilter,
        )

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def digest(self) -> str:
        return self.ruleset.digest

    @property
    def clock(self) -> datetime | None:
        """Event time: the latest `occurred_at` processed."""
        return self._clock

    def flush(self) -> None:
        """Commit what the engine holds; `process` does this itself outside `batch()`."""
        if self._closed:
            return
        if self._clock is not None:
            self.store.set_meta("clock", self._clock.isoformat())
        self.store.commit()
        self._pending = 0

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """On an exception, what was not committed is dropped: those events run again next
        time (their outcomes may then be delivered twice: at least once, never lost)."""
        if kind is not None and not self._closed:
            self.store.rollback()
            self._closed = True  # nothing more is written, not even the clock
            self.store.close()
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commit every `commit_every` events instead of every event: the fast path for runs.

        The last batch is committed when the block ends normally. When it ends with an exception,
        or a `run` is abandoned, it is left to `close()` (commit) or `__exit__` with an
        exception (drop): outcomes never delivered are then never committed.
        """
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            self._batch_depth -= 1
            raise
        self._batch_depth -= 1
        if self._batch_depth == 0:
            self.flush()

    # --- queries ------------------------------------------------------------------------
    def status(self, account_id: str) -> Status:
        return self._statuses.get(account_id, Status.ACTIVE)

    def standing(self, account_id: str) -> list[Decision]:
        """The enforced decisions behind the account's status."""
        clock = utc_text(self._clock) if self._clock else None
        return [decision_from_dict(d) for d in self.store.standing(account_id, clock)]

    def decisions(self, account_id: str) -> list[Decision]:
        """Every decision ever taken on the account, enforced and shadow, oldest first."""
        return [decision_from_dict(d) for d in self.store.decisions_of(account_id)]

    def audit_records(self, account_id: str | None = None) -> Iterator[dict[str, Any]]:
        return self.store.audit_records(account_id)

    # --- processing ---------------------------------------------------------------------
    def advance_to(self, moment: datetime | str) -> tuple[StatusChange, ...]:
        """Move event time forward without an event (say, at the end of a day's log), ending
        every freeze whose time is up. The clock never goes back: an earlier time does nothing.
        """
        when = parse_time(moment)
        self._begin()
        self._changes = []
        self._advance(when, None)
        self._after_write()
        return tuple(self._changes)

    def run(self, items: Iterable[object], *, source: str | None = None) -> Iterator[Outcome]:
        """Process many events (models, dicts, JSON lines or `ParsedLine`s), batching commits.

        Rejected and failed events come back as outcomes; the run goes on.
        """
        with self.batch():
            for item in items:
                try:
                    if isinstance(item, ParsedLine):
                        event = item.event if item.event else item.error
                        yield self._guarded(event, item.line, source, item.text)
                    else:
                        yield self._guarded(item, None, source, None)
                except EvaluationError as exc:
                    yield Outcome(
                        None,
                        None,
                        failure=exc,
                        line=item.line if isinstance(item, ParsedLine) else None,
                    )

    def process(
        self, event: object, *, line: int | None = None, source: str | None = None
    ) -> Outcome:
        """Process one event. A malformed one is recorded and returned as a rejection."""
        return self._guarded(event, line, source, None)

    def _guarded(
        self, event: object, line: int | None, source: str | None, received: str | None
    ) -> Outcome:
        """One event, all or nothing: on a failure only this event is undone, the failure is
        recorded and `EvaluationError` raised. In a batch, the commit comes before the next
        event, once the caller has had the outcomes, so none is committed undelivered."""
        self._begin()
        if not self._remembered:
            rules = [_rule_record(rule) for rule in self.ruleset.rules]
            self.store.remember_ruleset(self.ruleset.digest, rules)
            self._remembered = True
        self._current, self._inserted, self._saved, clock = None, False, False, self._clock
        try:
            outcome = self._process(event, line, source, received)
        except EventError as exc:  # refused for what it asks (an unknown decision, …)
            self._undo_event(clock)
            outcome = self._reject(exc, line, source, self._current_account())
        except Exception as exc:
            self._undo_event(clock)
            self._record_failure(exc, line, source)
            self._after_write()
            if isinstance(exc, EvaluationError):
                raise
            raise EvaluationError(f"processing failed, nothing decided: {exc!r}") from exc
        if self._saved:
            self.store.release_savepoint()
        self._after_write()
        return outcome

    def _undo_event(self, clock: datetime | None) -> None:
        """Undo what the event wrote (its savepoint if it took one, and its row); what memory
        holds beside the db follows it back (this is rare: reloading is fine)."""
        if self._saved:
            self.store.rollback_to_savepoint()
            self.store.release_savepoint()
            self._saved = False
        if self._inserted and self._current is not None:
            self.store.forget_event(self._current.event_id)
        self._clock, self._next_expiry = clock, _parse_time(self.store.next_expiry())
        self._statuses = {account: Status(status) for account, status in self.store.flagged()}

    def _current_account(self) -> str | None:
        return self._current.account_id if self._current is not None else None

    def _record_failure(self, exc: Exception, line: int | None, source: str | None) -> None:
        event = self._current
        self.store.audit(
            "evaluation_failed",
            {
                "event_id": event.event_id if event else None,
                "line": line,
                "source": source,
                "error": str(exc) if isinstance(exc, EvaluationError) else repr(exc),
                "ruleset_digest": self.digest,
            },
            account_id=event.account_id if event else None,
            event_id=event.event_id if event else None,
            occurred_at=utc_text(event.occurred_at) if event else None,
        )

    def _begin(self) -> None:
        """Open the transaction, first committing a full batch whose outcomes were handed out."""
        if self._pending >= self.commit_every:
            self.flush()
        self.store.begin()

    def _after_write(self) -> None:
        self._pending += 1
        if self._batch_depth == 0:
            self.flush()

    def _process(
        self, raw: object, line: int | None, source: str | None, received: str | None
    ) -> Outcome:
        try:
            if isinstance(raw, EventError):
                raise raw
            event = parse_event(raw)
        except EventError as exc:
            return self._reject(exc, line, source)
        self._current = event
        text = stored_text(event, received)
        micros = to_micros(event.occurred_at)
        known = self.store.add_event(event.event_id, event.account_id, event.type, micros, text)
        if known is not None and _same_event(known, text, event):
            return Outcome(
                event.event_id,
                event.account_id,
                duplicate=True,
                line=line,
                status=self.status(event.account_id),
            )
        if known is not None:
            return self._reject(
                EventError(
                    "event_id was already used by a different event",
                    path="event_id",
                    event_id=event.event_id,
                ),
                line,
                source,
                event.account_id,
            )
        self._inserted = True
        matches = self._match(event)
        self._changes = []
        quiet = not matches and event.type not in _TYPES_WITH_EFFECTS
        if quiet and (self._next_expiry is None or self._next_expiry > event.occurred_at):
            # The common case: nothing matched, nothing changes, no freeze ends: one write.
            if self._clock is None or event.occurred_at > self._clock:
                self._clock = event.occurred_at
            return Outcome(
                event.event_id, event.account_id, status=self.status(event.account_id), line=line
            )
        # More than one write may follow: under a savepoint, so a failure undoes them all.
        self.store.savepoint()
        self._saved = True
        self._advance(event.occurred_at, event.event_id)
        if quiet:
            return Outcome(
                event.event_id,
                event.account_id,
                status_changes=tuple(self._changes),
                status=self.status(event.account_id),
                line=line,
            )
        human = self._apply_event(event)  # may refuse the event: EventError, see _guarded
        decisions = list(human)
        # One decision per event and account: a reviewer's decision is the event's decision.
        for mode in (Mode.SHADOW,) if human else (Mode.ENFORCE, Mode.SHADOW):
            chosen = self._decide(event, [m for m in matches if m.mode == mode])
            if chosen is not None:
                decisions.append(chosen)
        for decision in decisions:
            self._record(decision, event.event_id)
            if decision.end_condition == VERIFICATION_PASSED and decision.mode == Mode.ENFORCE:
                self._end_if_already_verified(decision, event.event_id)
        if any(d.expires_at for d in decisions):
            self._advance(event.occurred_at, event.event_id)  # a freeze already over ends now
        return Outcome(
            event.event_id,
            event.account_id,
            tuple(decisions),
            tuple(self._changes),
            self.status(event.account_id),
            line=line,
        )

    def _reject(
        self, error: EventError, line: int | None, source: str | None, account_id: str | None = None
    ) -> Outcome:
        """Record why an event was refused; its identity values never reach the record."""
        record = {
            "line": line,
            "source": source,
            "event_id": error.event_id,
            "account_id": account_id,
            "path": error.path,
            "reason": error.reason,
        }
        self.store.audit("rejected_event", record, account_id=account_id, event_id=error.event_id)
        return Outcome(error.event_id, account_id, rejection=error, line=line)

    # --- matching -----------------------------------------------------------------------
    def _match(self, event: Event) -> list[RuleMatch]:
        """Rules that hold for the event: the guard picks them, durable-rules must agree."""
        candidates = self.ruleset.by_type.get(event.type, ())
        snapshot = flatten(event)
        guarded = [rule for rule in candidates if rule.guard(snapshot)]
        if not guarded and self.prefilter:
            return []
        fired = self._matcher.match(self.ruleset.snapshot(snapshot, event.type))
        if sorted(fired) != sorted(rule.id for rule in guarded):
            raise EvaluationError(
                f"rule engines disagree on event {event.event_id}: durable-rules fired "
                f"{sorted(fired)}, the guard {sorted(r.id for r in guarded)}"
            )
        return [_match_of(rule, snapshot) for rule in guarded]

    # --- deciding -----------------------------------------------------------------------
    def _decide(self, event: Event, matches: list[RuleMatch]) -> Decision | None:
        """The most severe match wins, if it is above the status: automation never lowers."""
        if not matches:
            return None
        matches = sorted(matches, key=_precedence)
        best = matches[0]
        before = self.status(event.account_id)
        if best.action.status.severity <= before.severity:
            return None
        rule = self.ruleset.rule(best.rule_id)
        enforce = best.mode == Mode.ENFORCE
        return Decision(
            decision_id=decision_id(event.event_id, event.account_id, best.mode),
            account_id=event.account_id,
            action=best.action,
            rule_id=best.rule_id,
            rule_version=best.rule_version,
            ruleset_digest=self.digest,
            evidence=(event.event_id,),
            reason=best.reason,
            mode=best.mode,
            effective_at=event.occurred_at,
            expires_at=event.occurred_at + rule.duration if rule.duration else None,
            status_before=before,
            status_after=best.action.status if enforce else before,
            end_condition=rule.until if best.action == Action.FREEZE else None,
            matched=tuple(matches),
        )

    def _apply_event(self, event: Event) -> list[Decision]:
        """Effects of the event itself: passed verifications, human reviews, appeals."""
        if isinstance(event, IdentityVerification | Registration):
            passed = (
                event.status
                if isinstance(event, IdentityVerification)
                else event.verification.status
                if event.verification
                else None
            )
            if passed == "passed" and event.account_id in self._statuses:
                ended = self.store.end_decisions(
                    event.account_id, VERIFICATION_PASSED, utc_text(event.occurred_at)
                )
                if ended:
                    self._recompute(
                        event.account_id,
                        f"verification passed: {', '.join(ended)}",
                        event.occurred_at,
                        event.event_id,
                    )
            return []
        if isinstance(event, ReviewDecision):
            return self._review(event)
        if isinstance(event, AppealOutcome):
            self._appeal(event)
        return []

    def _review(self, event: ReviewDecision) -> list[Decision]:
        if event.action != "lift":
            action = Action(event.action)
            before = self.status(event.account_id)
            after = max(before, action.status, key=lambda s: s.severity)
            return [
                Decision(
                    decision_id=decision_id(event.event_id, event.account_id, Mode.ENFORCE),
                    account_id=event.account_id,
                    action=action,
                    rule_id=HUMAN_REVIEW,
                    rule_version=0,
                    ruleset_digest=self.digest,
                    evidence=(event.event_id,),
                    reason=event.reason,
                    mode=Mode.ENFORCE,
                    effective_at=event.occurred_at,
                    expires_at=None,
                    status_before=before,
                    status_after=after,
                )
            ]
        if event.decision_id is not None:
            self._reverse(self._standing_decision(event, event.decision_id), event)
        else:
            # Every decision standing when the reviewer lifted (not those taken after a late
            # lift), reversed together: one status change, from the status to what remains.
            clock = utc_text(self._clock) if self._clock else None
            lifted = self.store.standing(event.account_id, clock, utc_text(event.occurred_at))
            for record in lifted:
                self._mark_reversed(record, event)
            if lifted:
                reversed_ids = ", ".join(record["decision_id"] for record in lifted)
                self._recompute(
                    event.account_id,
                    f"review_decision lifted {reversed_ids}",
                    event.occurred_at,
                    event.event_id,
                )
        return []

    def _standing_decision(
        self, event: ReviewDecision | AppealOutcome, wanted: str
    ) -> dict[str, Any]:
        found = self.store.decision(wanted)
        if found is None or found[0]["account_id"] != event.account_id:
            raise EventError(
                f"no decision {wanted} on account {event.account_id}",
                path="decision_id",
                event_id=event.event_id,
            )
        record, _ended_at, reversed_by = found
        if reversed_by is not None:
            raise EventError(
                f"decision {wanted} was already reversed by {reversed_by}",
                path="decision_id",
                event_id=event.event_id,
            )
        if record["mode"] != Mode.ENFORCE:
            raise EventError(
                f"decision {wanted} is a shadow decision: it never took effect",
                path="decision_id",
                event_id=event.event_id,
            )
        return record

    def _appeal(self, event: AppealOutcome) -> None:
        record = self._standing_decision(event, event.decision_id)
        if event.outcome == "overturned":
            self._reverse(record, event)
        else:
            self.store.audit(
                "appeal_upheld",
                {
                    "decision_id": event.decision_id,
                    "event_id": event.event_id,
                    "reviewer_id": event.reviewer_id,
                    "reason": event.reason,
                },
                account_id=event.account_id,
                event_id=event.event_id,
                decision_id=event.decision_id,
                occurred_at=utc_text(event.occurred_at),
            )

    def _reverse(self, record: dict[str, Any], event: ReviewDecision | AppealOutcome) -> None:
        self._mark_reversed(record, event)
        self._recompute(
            event.account_id,
            f"{event.type} reversed {record['decision_id']}",
            event.occurred_at,
            event.event_id,
        )

    def _mark_reversed(self, record: dict[str, Any], event: ReviewDecision | AppealOutcome) -> None:
        self.store.reverse_decision(record["decision_id"], event.event_id)
        self.store.audit(
            "reversal",
            {
                "decision_id": record["decision_id"],
                "by_event": event.event_id,
                "by": event.type,
                "reviewer_id": event.reviewer_id,
                "reason": event.reason,
            },
            account_id=event.account_id,
            event_id=event.event_id,
            decision_id=record["decision_id"],
            occurred_at=utc_text(event.occurred_at),
        )

    def _end_if_already_verified(self, decision: Decision, event_id: str) -> None:
        """A freeze decided on a late event ends at once if a verification passed after it:
        in time order that check would have ended it, so arrival order changes nothing."""
        since = to_micros(decision.effective_at)
        passed = self.store.passed_verification_after(decision.account_id, since)
        if passed is None:
            return
        passed_id, passed_us = passed
        at = from_micros(passed_us)
        self.store.end_decision(decision.decision_id, utc_text(at))
        self._recompute(
            decision.account_id,
            f"verification passed: {decision.decision_id} (by {passed_id}, which came earlier)",
            at,
            event_id,
        )

    # --- recording ----------------------------------------------------------------------
    def _record(self, decision: Decision, event_id: str) -> None:
        record = decision.to_dict()
        expires = utc_text(decision.expires_at) if decision.expires_at else None
        self.store.add_decision(record, event_id, utc_text(decision.effective_at), expires)
        self.store.audit(
            "decision",
            record,
            account_id=decision.account_id,
            event_id=event_id,
            decision_id=decision.decision_id,
            occurred_at=utc_text(decision.effective_at),
        )
        if decision.expires_at is not None and (
            self._next_expiry is None or decision.expires_at < self._next_expiry
        ):
            self._next_expiry = decision.expires_at
        if decision.mode == Mode.ENFORCE and decision.status_after != decision.status_before:
            self._set_status(
                decision.account_id,
                decision.status_before,
                decision.status_after,
                f"decision {decision.decision_id}",
                decision.effective_at,
                event_id,
                decision.decision_id,
            )

    def _set_status(
        self,
        account_id: str,
        before: Status,
        after: Status,
        cause: str,
        at: datetime,
        event_id: str | None,
        decision: str | None = None,
    ) -> None:
        self.store.set_status(account_id, after)
        if after == Status.ACTIVE:
            self._statuses.pop(account_id, None)
        else:
            self._statuses[account_id] = after
        change = StatusChange(account_id, before, after, cause, at, event_id, decision)
        self.store.audit(
            "status_change",
            change.to_dict(),
            account_id=account_id,
            event_id=event_id,
            decision_id=decision,
            occurred_at=utc_text(at),
        )
        self._changes.append(change)

    def _recompute(self, account_id: str, cause: str, at: datetime, event_id: str | None) -> None:
        """Status from the decisions still standing; `active` when none stands."""
        clock = utc_text(self._clock) if self._clock else None
        standing = self.store.standing(account_id, clock)
        after = max(
            (Action(d["action"]).status for d in standing),
            key=lambda s: s.severity,
            default=Status.ACTIVE,
        )
        before = self.status(account_id)
        if after != before:
            self._set_status(account_id, before, after, cause, at, event_id)

    def _advance(self, moment: datetime, event_id: str | None) -> None:
        """Move the clock to `moment` (never back) and end every freeze whose time is up."""
        if self._clock is None or moment > self._clock:
            self._clock = moment
        if self._next_expiry is None or self._next_expiry > self._clock:
            return
        for account_id, ended, expires_at in self.store.expire(utc_text(self._clock)):
            self._recompute(
                account_id, f"freeze {ended} ended", datetime.fromisoformat(expires_at), event_id
            )
        self._next_expiry = _parse_time(self.store.next_expiry())


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _same_event(stored: str, text: str, event: Event) -> bool:
    """A resend of the stored event, however its JSON was formatted?"""
    return stored == text or stored_payload(parse_event(stored)) == stored_payload(event)


def _precedence(match: RuleMatch) -> tuple[int, int, str]:
    """Most severe first; then the lower priority number; then the rule id, for determinism."""
    return (-match.action.severity, match.priority, match.rule_id)


def _match_of(rule: CompiledRule, snapshot: dict[str, Any]) -> RuleMatch:
    return RuleMatch(
        rule.id,
        rule.version,
        rule.action,
        rule.mode,
        rule.priority,
        rule.reason,
        trace(rule.condition, snapshot),
    )


def _rule_record(rule: CompiledRule) -> dict[str, Any]:
    """What the store keeps of each rule under the pack's digest: the file as written."""
    return {"id": rule.id, "version": rule.version, "file": rule.source, "text": rule.text}
