"""The durable-rules adapter: the pitfalls of DESIGN §5 are handled, and failures fail closed."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from blacklist_rules import Engine, EvaluationError, load_ruleset
from blacklist_rules.matching.durable import DurableMatcher, _get_host


def test_more_accounts_than_the_sid_cap_are_all_decided() -> None:
    """durable-rules caps a ruleset at 1,024 sids; 1,500 accounts must still all be decided."""
    with Engine.from_path() as engine, engine.batch():
        for number in range(1500):
            engine.process(
                {
                    "event_id": f"e{number}",
                    "type": "impersonation_report",
                    "account_id": f"acct-{number}",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "reporter_id": "r",
                    "confirmed": True,
                }
            )
        assert {engine.status(f"acct-{n}") for n in range(1500)} == {"blacklisted"}


def test_registering_the_same_pack_twice_reuses_it() -> None:
    """A ruleset name is registered once per process; a second engine reuses it."""
    ruleset = load_ruleset()
    first = DurableMatcher.for_plan(ruleset)
    second = DurableMatcher.for_plan(ruleset)
    snapshot = {"type": "impersonation_report", "confirmed": True}
    assert first.match(snapshot) == second.match(snapshot) == ["blacklist-confirmed-impersonation"]


def test_no_match_is_an_empty_list_not_an_exception() -> None:
    """The catch-all turns durable-rules' MessageNotHandledException into an empty result."""
    ruleset = load_ruleset()
    matcher = DurableMatcher.for_plan(ruleset)
    assert matcher.match({"type": "rumor_flag", "verdict": "not_rumor"}) == []


def test_an_exception_swallowed_by_durable_rules_fails_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """durable-rules returns an action's exception in its state; the adapter raises instead."""
    ruleset = load_ruleset()
    matcher = DurableMatcher.for_plan(ruleset)

    def swallowed(name: str, fact: dict[str, Any]) -> dict[str, Any]:
        return {"sid": "0", "exception": "action failed"}

    monkeypatch.setattr(_get_host(), "assert_fact", swallowed)
    with pytest.raises(EvaluationError, match="action failed"):
        matcher.match({"type": "impersonation_report", "confirmed": True})


def test_a_missing_catch_all_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """If durable-rules returns without evaluating the snapshot, that is an error, not a no."""
    ruleset = load_ruleset()
    matcher = DurableMatcher.for_plan(ruleset)
    monkeypatch.setattr(_get_host(), "assert_fact", lambda name, fact: {"sid": "0"})
    monkeypatch.setattr(_get_host(), "retract_fact", lambda name, fact: {"sid": "0"})
    with pytest.raises(EvaluationError, match="did not evaluate"):
        matcher.match({"type": "impersonation_report", "confirmed": True})


def test_use_from_another_thread_is_refused() -> None:
    """durable-rules segfaults under concurrent use: other threads get a clear error."""
    ruleset = load_ruleset()
    matcher = DurableMatcher.for_plan(ruleset)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            matcher.match({"type": "impersonation_report", "confirmed": True})
        except EvaluationError as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert "not thread-safe" in str(errors[0])


def test_the_host_starts_no_background_threads() -> None:
    """The stock host's dispatcher and timer threads would call into the C engine beside
    the posting thread: ours starts none, however many rulesets are registered."""
    before = {thread.ident for thread in threading.enumerate()}
    matcher = DurableMatcher.for_plan(load_ruleset())
    assert matcher.match({"type": "impersonation_report", "confirmed": True})
    threading.Event().wait(0.3)  # longer than the stock host's 0.1 s first tick and 0.2 s re-arm
    new = [t for t in threading.enumerate() if t.ident not in before]
    assert not [t for t in new if isinstance(t, threading.Timer)]
