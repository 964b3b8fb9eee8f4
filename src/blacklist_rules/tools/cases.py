"""Rule test cases: events in, expected decisions and statuses out, with rule coverage.

A case file (YAML, default folder `tests/cases/`) holds one case (a mapping) or a list of them:

    - name: a confirmed impersonation is blacklisted
      events: [{event_id: e1, type: impersonation_report, ...}]
      expect: [{account_id: a, action: blacklist, rule_id: blacklist-confirmed-impersonation}]
      final_status: {a: blacklisted}

`expect` is the exact list of enforced decisions (in any order; `rule_id` optional),
`expect_shadow` the same for shadow decisions (unchecked when absent), `final_status` the
statuses after the events (and after `until`, when the clock is moved there). Each case runs
on a fresh in-memory engine. Coverage says, per rule, whether it decided, and per condition
whether it was seen true and seen false over all the cases' events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import attrs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from blacklist_rules.engine import Engine
from blacklist_rules.errors import CaseLoadError, EventError, RuleFileError
from blacklist_rules.model.decisions import Decision, Mode
from blacklist_rules.model.events import Event, Timestamp, parse_event
from blacklist_rules.model.identity import IdentityKey
from blacklist_rules.pack.compiler import CompiledRule, CompiledRuleset, condition_text, trace
from blacklist_rules.pack.conditions import suggest
from blacklist_rules.pack.loader import parse_yaml, pydantic_errors, read_source
from blacklist_rules.stores.sqlite import SQLiteStore

CASE_SUFFIXES = (".yaml", ".yml")
_KEY = IdentityKey(b"blacklist-rules test cases, not a secret", "test cases")
"""Cases run in memory: a fixed key keeps their decisions reproducible and logs nothing."""

Status = Literal["active", "frozen", "cancelled", "blacklisted"]


class Expected(BaseModel):
    """One decision a case expects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: Annotated[str, Field(min_length=1)]
    action: Literal["freeze", "cancel", "blacklist"]
    rule_id: str | None = None

    def matches(self, decision: Decision) -> bool:
        return (
            decision.account_id == self.account_id
            and decision.action == self.action
            and (self.rule_id is None or decision.rule_id == self.rule_id)
        )

    def __str__(self) -> str:
        return f"{self.account_id} {self.action}" + (f" by {self.rule_id}" if self.rule_id else "")


class CaseSpec(BaseModel):
    """One case as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    events: Annotated[list[dict[str, Any]], Field(min_length=1)]
    expect: list[Expected] | None = None
    expect_shadow: list[Expected] | None = None
    final_status: dict[str, Status] | None = None
    until: Timestamp | None = None
    """Move event time here after the events (deadlines pass, freezes end)."""

    @model_validator(mode="after")
    def _expects_something(self) -> CaseSpec:
        if self.expect is None and self.final_status is None and self.expect_shadow is None:
            raise ValueError("a case needs `expect`, `expect_shadow` or `final_status`")
        return self


@attrs.frozen
class Case:
    """A checked case with where it came from."""

    spec: CaseSpec
    file: str
    line: int
    events: tuple[Event, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _case_keys(loc: tuple[str | int, ...]) -> tuple[str, ...]:
    """Keys allowed at a place in a case, for did-you-mean."""
    model: type[BaseModel] = Expected if loc and loc[0] in ("expect", "expect_shadow") else CaseSpec
    return tuple(model.model_fields)


def parse_cases(text: str, source: str) -> tuple[list[Case], list[RuleFileError]]:
    """The cases in one file's text, or every error found in it (`file:line: code: message`):
    YAML, unknown or missing keys, events that do not validate, accounts that `expect` or
    `final_status` name but no event has."""
    data, line_of, errors = parse_yaml(text, source)
    if errors or line_of is None:
        return [], errors
    many = isinstance(data, list)
    items = data if many else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        message = "a case file holds a case (a mapping) or a list of cases"
        return [], [RuleFileError(source, 1, "E-CASE", message)]
    cases = []
    names: dict[str, int] = {}
    for index, item in enumerate(items):
        prefix: tuple[str | int, ...] = (index,) if many else ()

        def at(path: tuple[str | int, ...], prefix: tuple[str | int, ...] = prefix) -> int:
            return line_of((*prefix, *path))

        name = item.get("name")
        if isinstance(name, str) and name in names:
            errors.append(
                RuleFileError(
                    source,
                    at(("name",)),
                    "E-CASE",
                    f"case name `{name}` is used twice in this file (line {names[name]})",
                )
            )
        elif isinstance(name, str):
            names[name] = at(("name",))
        try:
            spec = CaseSpec.model_validate(item)
        except ValidationError as exc:
            errors.extend(pydantic_errors(exc, source, at, _case_keys))
            continue
        events, found = _case_events(spec, source, at)
        errors.extend(found)
        if not found:
            cases.append(Case(spec, source, at(()), tuple(events)))
    return cases, errors


def _case_events(
    spec: CaseSpec, source: str, at: Callable[[tuple[str | int, ...]], int]
) -> tuple[list[Event], list[RuleFileError]]:
    """A case's events, parsed, and what is wrong with them: events that do not validate,
    accounts `expect` or `final_status` name but no event has, an `until` before the last
    event (`at`: the line of a path inside the case)."""
    events, found = [], []
    for number, raw in enumerate(spec.events):
        try:
            events.append(parse_event(raw))
        except EventError as exc:
            path = ("events", number, *(exc.path.split(".") if exc.path else ()))
            found.append(RuleFileError(source, at(path), "E-EVENT", str(exc)))
    accounts = {event.account_id for event in events}
    named = [
        (("expect" if kind == "expect" else kind, n, "account_id"), e.account_id)
        for kind in ("expect", "expect_shadow")
        for n, e in enumerate(getattr(spec, kind) or ())
    ] + [(("final_status", account), account) for account in spec.final_status or {}]
    for path, account in named:
        if events and account not in accounts:
            found.append(
                RuleFileError(
                    source,
                    at(path),
                    "E-ACCOUNT",
                    f"case `{spec.name}`: no event has account `{account}`",
                    suggest(account, sorted(accounts)),
                )
            )
    last = max((event.occurred_at for event in events), default=None)
    if spec.until is not None and last is not None and spec.until < last:
        found.append(
            RuleFileError(
                source,
                at(("until",)),
                "E-CASE",
                f"case `{spec.name}`: `until` is before its last event (the clock never goes back)",
            )
        )
    return events, found


def case_files(locations: Iterable[Path]) -> list[Path]:
    """Case files in these files and folders (folders searched below), sorted."""
    found: list[Path] = []
    for location in locations:
        if location.is_dir():
            found.extend(
                p for p in location.rglob("*") if p.is_file() and p.suffix in CASE_SUFFIXES
            )
        else:
            found.append(location)
    return sorted(set(found))


def load_cases(locations: Iterable[Path]) -> list[Case]:
    """Every case in these files and folders; `CaseLoadError` with every error found."""
    cases: list[Case] = []
    errors: list[RuleFileError] = []
    files = case_files(locations)
    for path in files:
        text = read_source(path)
        if isinstance(text, RuleFileError):
            errors.append(text)
            continue
        found, problems = parse_cases(text, str(path))
        cases.extend(found)
        errors.extend(problems)
    if not files:
        errors.append(RuleFileError(", ".join(map(str, locations)), 0, "E-EMPTY", "no case files"))
    if errors:
        raise CaseLoadError(errors)
    return cases


# --- running ---------------------------------------------------------------------------------


@attrs.frozen
class CaseResult:
    """What a case expected and what happened; `problems` is empty when it passed."""

    case: Case
    decisions: tuple[Decision, ...]
    statuses: dict[str, str]
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """Where the case is, what went wrong, and everything that was decided."""
        lines = [f"{self.case.where}: case `{self.case.name}` failed:"]
        lines += [f"  {problem}" for problem in self.problems]
        lines.append("  decided:" if self.decisions else "  decided: nothing")
        lines += [
            f"    {d.account_id} {d.action} by {d.rule_id} ({d.mode})" for d in self.decisions
        ]
        return "\n".join(lines)


def _compare(expected: Sequence[Expected], actual: Sequence[Decision], what: str) -> list[str]:
    """Exact match in any order: each expectation takes one decision, none is left over. Those
    naming a rule choose first, so one without a rule never takes the decision a more precise
    one needs (within each group any match is as good as another)."""
    left = list(actual)
    missing = []
    for wanted in sorted(expected, key=lambda e: e.rule_id is None):
        hit = next((d for d in left if wanted.matches(d)), None)
        if hit is None:
            missing.append(wanted)
        else:
            left.remove(hit)
    problems = [f"expected {what} decision not taken: {wanted}" for wanted in missing]
    problems += [
        f"unexpected {what} decision: {d.account_id} {d.action} by {d.rule_id}" for d in left
    ]
    return problems


class Coverage:
    """Which rules decided and which condition outcomes were seen, over many cases."""

    def __init__(self, ruleset: CompiledRuleset) -> None:
        self.ruleset = ruleset
        self.fired: Counter[str] = Counter()
        self.seen: dict[tuple[str, int], set[bool]] = {}
        self.labels = {rule.id: _condition_labels(rule) for rule in ruleset.rules}
        """Per rule, the conditions tracked (their index is the key in `seen`)."""
        for rule_id, labels in self.labels.items():
            for index in range(len(labels)):
                self.seen[(rule_id, index)] = set()

    def observe(self, event: Event, snapshot: dict[str, Any]) -> None:
        """Every condition of every rule of the event's type, as the event saw it."""
        for rule in self.ruleset.by_type.get(event.type, ()):
            results: list[bool | None] = [t.result for t in trace(rule.condition, snapshot)]
            if rule.prior is not None:  # in the snapshot of every event of its types
                results.append(snapshot.get(rule.prior.key, 0) >= rule.prior.count)
            if rule.window is not None:  # seen only when the event fed the window
                count = snapshot.get(rule.window.key)
                results.append(None if count is None else count >= rule.window.count)
            for index, result in enumerate(results):
                if result is not None:
                    self.seen[(rule.id, index)].add(result)

    def record(self, decisions: Iterable[Decision]) -> None:
        """Rules that decided (a deadline rule's deadline was then seen passed)."""
        rules = {rule.id: rule for rule in self.ruleset.rules}
        for decision in decisions:
            rule = rules.get(decision.rule_id)
            if rule is None:  # a reviewer's decision
                continue
            self.fired[rule.id] += 1
            if rule.deadline is not None:
                self.seen[(rule.id, 0)].add(True)

    def record_deadlines(self, engine: Engine, accounts: Iterable[str]) -> None:
        """A deadline met in time was seen false."""
        for account in accounts:
            for deadline in engine.deadlines(account):
                if deadline.state == "met":
                    self.seen[(deadline.rule_id, 0)].add(False)

    def report(self) -> dict[str, Any]:
        """Coverage as one JSON-ready dict (what `test --json` prints): per rule, whether it
        fired, and the outcomes each condition was seen with."""
        rules = []
        covered = total = 0
        for rule in self.ruleset.rules:
            labels = self.labels[rule.id]
            seen = [self.seen[(rule.id, index)] for index in range(len(labels))]
            conditions = [
                {
                    "condition": labels[index],
                    "seen_true": True in outcomes,
                    "seen_false": False in outcomes,
                }
                for index, outcomes in enumerate(seen)
            ]
            fired = self.fired[rule.id]
            covered += (fired > 0) + sum(len(outcomes) for outcomes in seen)
            total += 1 + 2 * len(conditions)
            rules.append({"rule_id": rule.id, "fired": fired, "conditions": conditions})
        return {
            "percent": round(100 * covered / total, 1) if total else 100.0,
            "covered": covered,
            "total": total,
            "rules": rules,
        }


def _condition_labels(rule: CompiledRule) -> list[str]:
    """The conditions coverage tracks for a rule: each comparison of `when`, its window, or
    its deadline."""
    if rule.deadline is not None:
        return [f"deadline: {rule.deadline.label}"]
    labels = [condition_text(t.field, t.op, t.expected) for t in trace(rule.condition, {})]
    if rule.prior is not None:
        labels.append(f"prior: {rule.prior.count} {rule.prior.label}")
    if rule.window is not None:
        labels.append(f"window: {rule.window.count} {rule.window.label}")
    return labels


def run_case(ruleset: CompiledRuleset, case: Case, coverage: Coverage | None = None) -> CaseResult:
    """Run one case on a fresh in-memory engine and compare."""
    decisions: list[Decision] = []
    # In event time alone (`max_lead=None`): a case passes or fails the same on any day.
    with Engine(ruleset, SQLiteStore(), identity_key=_KEY, max_lead=None) as engine:
        if coverage is not None:
            engine.observe = coverage.observe
        problems = []
        for number, event in enumerate(case.events):
            outcome = engine.process(event)
            if outcome.rejection is not None:
                problems.append(f"event {number} was rejected: {outcome.rejection}")
            decisions.extend(outcome.decisions)
        if case.spec.until is not None:
            decisions.extend(engine.advance_to(case.spec.until).decisions)
        accounts = sorted({event.account_id for event in case.events})
        statuses = {account: str(engine.status(account)) for account in accounts}
        if coverage is not None:
            coverage.record(decisions)
            coverage.record_deadlines(engine, accounts)
    enforced = [d for d in decisions if d.mode == Mode.ENFORCE]
    shadow = [d for d in decisions if d.mode == Mode.SHADOW]
    if case.spec.expect is not None:
        problems += _compare(case.spec.expect, enforced, "enforced")
    if case.spec.expect_shadow is not None:
        problems += _compare(case.spec.expect_shadow, shadow, "shadow")
    for account, wanted in (case.spec.final_status or {}).items():
        if statuses[account] != wanted:
            problems.append(
                f"final status of {account}: expected {wanted}, got {statuses[account]}"
            )
    return CaseResult(case, tuple(decisions), statuses, tuple(problems))
