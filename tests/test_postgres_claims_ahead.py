"""Identity values claimed ahead on PostgreSQL (issue 16 item 5), on the real server: a batch's
first claim holds the identity values of its registrations with its accounts (each
registration fingerprinted ahead, once), so no registration claims alone. What must hold:
the identity values go in the batch's one claim; the decisions are SQLite's; a registration
fingerprinted ahead whose identity is not the one that comes is fingerprinted again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blacklist_rules import Engine
from blacklist_rules.engine import registry
from blacklist_rules.engine.context import EventContext
from blacklist_rules.engine.loading import load_ruleset
from blacklist_rules.model import events
from blacklist_rules.model.events import Registration, parse_event
from blacklist_rules.stores import open_store
from blacklist_rules.stores.postgres.driver import PgConnection
from blacklist_rules.testing import generate_events

pytestmark = pytest.mark.postgres

BATCH = 50


def _engine(db: str) -> Engine[Any]:
    engine = Engine(load_ruleset(), open_store(db), max_lead=None)
    engine.commit_every = BATCH
    return engine


def _decided(engine: Engine[Any], lines: list[str]) -> list[tuple[str, str, str]]:
    accounts = sorted({str(json.loads(line)["account_id"]) for line in lines})
    return sorted(
        (d.account_id, str(d.action), d.rule_id) for a in accounts for d in engine.decisions(a)
    )


def test_a_batch_claims_its_registrations_identity_values_in_its_first_claim(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 events of 40 accounts in batches of 50: the `blacklist_claim`s that take identity
    values are the batches' first (with accounts) and the blacklist's catch-up of one listed
    value (alone): fewer than the batches here, where before each registration with
    identity values took one (main: 42 such claims); the decisions are those of one SQLite
    engine over the same lines."""
    lines = [json.dumps(e) for e in generate_events(200, n_accounts=40, seed=5)]
    registrations = sum(json.loads(line)["type"] == "registration" for line in lines)
    assert registrations >= 20  # (what the claims would be one by one)
    claims: list[list[str]] = []
    value = PgConnection.value

    def noting(self: PgConnection, query: str, args: Any = None) -> Any:
        if "blacklist_claim" in query:
            claims.append(list(args[0]))
        return value(self, query, args)

    monkeypatch.setattr(PgConnection, "value", noting)
    engine = _engine(url)
    with engine:
        list(engine.run(lines))
        batches = [lines[i : i + BATCH] for i in range(0, len(lines), BATCH)]
        with_values = [c for c in claims if any(key.startswith("identity:") for key in c)]
        assert len(with_values) <= len(batches)
        singles = [c for c in with_values if not any(k.startswith("account:") for k in c)]
        assert all(len(c) == 1 for c in singles)  # (a listed value's catch-up, alone)
        with Engine(load_ruleset(), open_store(str(tmp_path / "one.db")), max_lead=None) as sqlite:
            list(sqlite.run(lines))
            assert _decided(engine, lines) == _decided(sqlite, lines)


def test_a_registration_fingerprinted_ahead_under_another_identity_is_fingerprinted_again(
    url: str,
) -> None:
    """Registration r1 fingerprinted ahead with one phone, then r1 with another phone comes
    (the same id): `identify` fingerprints the one that came, not what was worked out
    ahead; with the same identity, it takes what was worked out (the same record)."""
    first = {
        "event_id": "r1",
        "type": "registration",
        "account_id": "acct-1",
        "occurred_at": "2026-01-05T10:00:00+00:00",
        "identity": {"phone": "+86 138 0013 8000"},
    }
    other = {**first, "identity": {"phone": "+86 139 0013 9000"}}
    with _engine(url) as engine:
        core = engine._core
        ahead_event, came = parse_event(first), parse_event(other)
        assert isinstance(ahead_event, Registration)
        assert isinstance(came, Registration)
        registry.print_ahead(core, ahead_event)
        kept = core.printed["r1"]
        ctx = EventContext()
        registry.identify(core, ctx, came)
        assert ctx.prints is not None
        assert kept.prints.phone is not None
        assert ctx.prints.phone not in (None, kept.prints.phone)
        assert "r1" not in core.printed  # (taken, not kept for another)
        registry.print_ahead(core, ahead_event)
        kept = core.printed["r1"]
        again = EventContext()
        registry.identify(core, again, ahead_event)
        assert again.prints is kept.prints


def test_a_registration_parsed_ahead_is_not_parsed_again_when_it_comes(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: a batch of JSON texts (as a worker runs them) parses each text once, a
    registration's when it is claimed ahead (its fingerprints made from it), the others'
    when they come, where before a registration was parsed twice; the decisions are those
    of one SQLite engine over the same lines."""
    lines = [json.dumps(e) for e in generate_events(200, n_accounts=40, seed=7)]
    parsed: list[str | bytes] = []  # texts parsed
    parse_text = events._parse_text

    def counting(text: str | bytes) -> Any:
        parsed.append(text)
        return parse_text(text)

    monkeypatch.setattr(events, "_parse_text", counting)
    with _engine(url) as engine:
        outcomes = list(engine.run(lines))
        given = set(lines)  # (not the stored texts a replay reads)
        assert sorted(text for text in parsed if text in given) == sorted(lines)  # each once
        assert all(outcome.ok for outcome in outcomes)
        with Engine(load_ruleset(), open_store(str(tmp_path / "one.db")), max_lead=None) as sqlite:
            list(sqlite.run(lines))
            assert _decided(engine, lines) == _decided(sqlite, lines)
