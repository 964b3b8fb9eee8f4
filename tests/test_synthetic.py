"""The synthetic traffic generator: deterministic, contract-shaped, ordered, streaming."""

from __future__ import annotations

import collections
import doctest
import importlib.util
import itertools
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import blacklist_rules.testing
from blacklist_rules.model.decisions import decision_id
from blacklist_rules.model.identity import check_id_number
from blacklist_rules.testing import generate_events, write_jsonl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EVENT_TYPES = {
    "registration",
    "identity_verification",
    "impersonation_report",
    "rumor_flag",
    "review_decision",
    "appeal_outcome",
}
PROVEN_FAKE = {"forged_document", "identity_of_another_person", "invalid_id_number"}

# DESIGN §2, per type: required fields, optional fields, and the allowed values of enum fields.
COMMON = {"event_id", "type", "account_id", "occurred_at"}
CONTRACT: dict[str, tuple[set[str], set[str]]] = {
    "registration": ({"identity"}, {"verification"}),
    "identity_verification": ({"status"}, {"reason"}),
    "impersonation_report": (
        {"reporter_id", "confirmed"},
        {"impersonated_name", "impersonated_account_id"},
    ),
    "rumor_flag": ({"content_id", "verdict", "source"}, {"reach"}),
    "review_decision": ({"reviewer_id", "action", "reason"}, {"decision_id"}),
    "appeal_outcome": ({"decision_id", "outcome", "reviewer_id"}, {"reason"}),
}
ENUMS: dict[str, set[str]] = {
    "status": {"passed", "failed"},
    "verdict": {"malicious_rumor", "rumor", "not_rumor"},
    "source": {"fact_check", "authority_notice", "user_report"},
    "action": {"freeze", "cancel", "blacklist", "lift"},
    "outcome": {"upheld", "overturned"},
}


def events(n: int = 5000, accounts: int = 500, seed: int = 0) -> list[dict[str, Any]]:
    return list(generate_events(n, n_accounts=accounts, seed=seed))


def id_number_is_valid(number: str, today: date) -> bool:
    """GB 11643 as the engine will check it (python-stdnum: check character, a real birth date
    in a county that existed then) and a birth date not after `today`."""
    return check_id_number(number, today) is not None


def load_example_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_events", EXAMPLES / "generate_events.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_seed_gives_the_same_events() -> None:
    """Determinism: a replay of a seed is the same list, event for event."""
    assert events(3000, 300, seed=11) == events(3000, 300, seed=11)


def test_different_seeds_give_different_events() -> None:
    """The seed drives every draw: two seeds share neither identities nor the event sequence."""
    first, second = events(3000, 300, seed=1), events(3000, 300, seed=2)
    assert first != second
    assert first[0]["identity"] != second[0]["identity"]


def test_global_random_state_is_neither_used_nor_disturbed() -> None:
    """Only ``random.Random(seed)`` is drawn: reseeding the global generator changes nothing."""
    random.seed(1)
    first = events(1000, 100, seed=3)
    state = random.getstate()
    random.seed(2)
    assert events(1000, 100, seed=3) == first
    random.seed(1)
    assert random.getstate() == state


def test_event_ids_are_unique() -> None:
    """Every event id appears once, in the documented ``ev-NNNNNNNNN`` form."""
    ids = [e["event_id"] for e in events(20_000, 2_000)]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("ev-") and len(i) == 12 for i in ids)


def test_timestamps_are_non_decreasing_and_carry_an_offset() -> None:
    """``occurred_at`` is RFC 3339 with ``+08:00`` and never goes back, across all accounts."""
    stamps = [e["occurred_at"] for e in events(20_000, 2_000)]
    moments = [datetime.fromisoformat(s) for s in stamps]
    assert all(s.endswith("+08:00") for s in stamps)
    assert all(m.utcoffset() == timedelta(hours=8) for m in moments)
    assert all(a <= b for a, b in itertools.pairwise(moments))


def test_the_stream_starts_at_start_in_china_standard_time() -> None:
    """``start`` is the first registration's instant, written in +08:00 whatever its offset."""
    start = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5)))
    first = next(generate_events(10, n_accounts=5, start=start))
    assert first["occurred_at"] == "2026-03-02T01:30:00+08:00"
    assert datetime.fromisoformat(first["occurred_at"]) == start


def test_every_event_type_appears_in_5000_events() -> None:
    """5,000 events are enough to show each type, each failure reason and each review action."""
    sample = events(5000, 500)
    assert {e["type"] for e in sample} == EVENT_TYPES
    reasons = {e.get("reason") for e in sample if e["type"] == "identity_verification"}
    assert reasons >= PROVEN_FAKE | {"name_id_mismatch"}
    assert {True, False} <= {e["confirmed"] for e in sample if "confirmed" in e}


def test_events_follow_the_contract() -> None:
    """Required fields present, nothing unknown, enum fields in range, JSON round-trips."""
    for event in events(10_000, 1_000):
        required, optional = CONTRACT[event["type"]]
        assert COMMON | required <= event.keys() <= COMMON | required | optional, event
        for field, allowed in ENUMS.items():
            if field in event:
                assert event[field] in allowed, event
        if event["type"] == "registration":
            assert set(event["identity"]) == {"id_number", "name", "phone", "device_id"}
            assert event.get("verification", {"status": "pending"}) == {"status": "pending"}
        if event["type"] == "impersonation_report":
            assert isinstance(event["confirmed"], bool)
        assert json.loads(json.dumps(event)) == event


def test_each_accounts_first_event_is_its_registration() -> None:
    """No account has an event before it registers, and each registers exactly once."""
    seen: set[str] = set()
    registrations = collections.Counter[str]()
    for event in events(20_000, 2_000):
        if event["account_id"] not in seen:
            assert event["type"] == "registration", event
            seen.add(event["account_id"])
        registrations[event["account_id"]] += event["type"] == "registration"
    assert set(registrations.values()) == {1}


def test_registrations_carry_valid_id_numbers_unless_the_scenario_says_otherwise() -> None:
    """Benign ID numbers pass GB 11643, or the engine would freeze every account; only accounts
    failing with ``invalid_id_number`` present a bad one."""
    sample = events(20_000, 2_000)
    invalid = {
        e["account_id"]
        for e in sample
        if e["type"] == "identity_verification" and e.get("reason") == "invalid_id_number"
    }
    # The failure follows its registration within 3 days; skip registrations the cut may orphan.
    horizon = datetime.fromisoformat(sample[-1]["occurred_at"]) - timedelta(days=3)
    checked = 0
    for event in sample:
        if event["type"] != "registration":
            continue
        if datetime.fromisoformat(event["occurred_at"]) > horizon:
            break
        valid = id_number_is_valid(event["identity"]["id_number"], date(2026, 1, 1))
        assert valid != (event["account_id"] in invalid), event
        checked += 1
    assert invalid
    assert checked > 1_000


def test_appeals_name_the_decision_of_a_forged_document_failure() -> None:
    """Each appeal names ``decision_id(failure, account, "enforce")`` of an earlier
    ``forged_document`` failure of the same account, so the engine can find the decision."""
    forged: dict[str, str] = {}
    appeals = 0
    for event in events(20_000, 2_000):
        if event["type"] == "identity_verification" and event.get("reason") == "forged_document":
            forged[decision_id(event["event_id"], event["account_id"], "enforce")] = event[
                "account_id"
            ]
        elif event["type"] == "appeal_outcome":
            assert forged.get(event["decision_id"]) == event["account_id"], event
            appeals += 1
    assert appeals >= 5


def test_decision_id_is_deterministic_and_distinguishes_its_inputs() -> None:
    """Same inputs, same id; a different event, account or mode, another id."""
    base = decision_id("ev-1", "acct-1", "enforce")
    assert base == decision_id("ev-1", "acct-1", "enforce")
    assert base.startswith("d-")
    assert len(base) == 26
    others = {
        decision_id("ev-2", "acct-1", "enforce"),
        decision_id("ev-1", "acct-2", "enforce"),
        decision_id("ev-1", "acct-1", "shadow"),
    }
    assert base not in others
    assert len(others) == 3


def test_suspicious_share_follows_benign_share() -> None:
    """``benign_share=1`` gives no suspicious scenario; a lower share gives more of them."""
    calm = list(generate_events(5000, n_accounts=500, seed=4, benign_share=1.0))
    assert not [e for e in calm if e["type"] in {"review_decision", "appeal_outcome"}]
    assert not [e for e in calm if e.get("status") == "failed" or e.get("confirmed") is True]

    def failures(share: float) -> int:
        stream = generate_events(5000, n_accounts=500, seed=4, benign_share=share)
        return sum(e.get("status") == "failed" for e in stream)

    assert failures(0.5) > 2 * failures(0.9) > 0


def test_generator_streams_lazily() -> None:
    """A generator, not a list: asking for a trillion events returns at once."""
    stream = generate_events(10**12, n_accounts=100_000, seed=9)
    assert isinstance(stream, Iterator)
    first = list(itertools.islice(stream, 1000))
    assert first[0]["type"] == "registration"
    assert len(first) == 1000


def test_streams_200k_events_for_20k_accounts_quickly() -> None:
    """200,000 events for 20,000 accounts, consumed one by one, well within a CI time budget
    (about 2.5 s here, over 50k events/s)."""
    started = time.perf_counter()
    stream = generate_events(200_000, n_accounts=20_000, seed=5)
    count = registrations = 0
    for event in itertools.islice(stream, 200_000):
        count += 1
        registrations += event["type"] == "registration"
    elapsed = time.perf_counter() - started
    assert count == 200_000
    assert registrations == 20_000
    assert elapsed < 30, f"{elapsed:.1f} s"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_events": -1, "n_accounts": 1}, "n_events must be >= 0"),
        ({"n_events": 1, "n_accounts": 0}, "n_accounts must be >= 1"),
        ({"n_events": 1, "n_accounts": 1, "benign_share": 1.5}, "benign_share must be within"),
        ({"n_events": 1, "n_accounts": 1, "start": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_arguments_fail_at_the_call(kwargs: dict[str, Any], message: str) -> None:
    """Bad arguments raise ``ValueError`` when called, not later when first iterated."""
    with pytest.raises(ValueError, match=message):
        generate_events(**kwargs)


def test_write_jsonl_writes_one_compact_object_a_line(tmp_path: Path) -> None:
    """Compact separators, names kept as UTF-8 (not ``\\u`` escapes), count returned."""
    sample = events(200, 20)
    path = tmp_path / "events.jsonl"
    assert write_jsonl(iter(sample), path) == 200
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == sample
    assert ", " not in lines[0]
    assert sample[0]["identity"]["name"] in lines[0]
    assert write_jsonl([], tmp_path / "empty.jsonl") == 0


def test_example_events_file_matches_the_example_script(tmp_path: Path) -> None:
    """``examples/events.jsonl`` is exactly what ``examples/generate_events.py`` writes now."""
    out = tmp_path / "events.jsonl"
    assert load_example_script().main(["--out", str(out)]) == 0
    assert out.read_bytes() == (EXAMPLES / "events.jsonl").read_bytes()


def test_example_events_show_every_scenario() -> None:
    """The 1,200-event example has enough of each scenario to be worth reading and replaying."""
    lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
    sample = [json.loads(line) for line in lines]
    kinds = collections.Counter[str]()
    mismatched: set[str] = set()
    for e in sample:
        if e["type"] == "identity_verification" and e["status"] == "failed":
            kinds[e["reason"]] += 1
            if e["reason"] == "name_id_mismatch":
                mismatched.add(e["account_id"])
        elif e["type"] == "identity_verification" and e["account_id"] in mismatched:
            kinds["mismatch later passed"] += 1
            mismatched.discard(e["account_id"])
        elif e["type"] == "impersonation_report" and e["confirmed"]:
            kinds["confirmed impersonation"] += 1
        elif e["type"] == "rumor_flag" and e["verdict"] == "malicious_rumor":
            kinds["malicious rumour" if e["source"] != "user_report" else "user claim"] += 1
        else:
            kinds[e["type"]] += 1
    assert len(sample) == 1200
    assert kinds["name_id_mismatch"] >= 5
    assert kinds["mismatch later passed"] >= 1
    assert sum(kinds[reason] for reason in PROVEN_FAKE) >= 3
    assert kinds["confirmed impersonation"] >= 2
    assert kinds["malicious rumour"] >= 3
    assert kinds["review_decision"] >= 2
    assert kinds["appeal_outcome"] >= 1


def test_utc_default_start_gives_eight_oclock_local() -> None:
    """The default start, 2026-01-01T00:00Z, is 08:00 in the +08:00 timestamps."""
    first = next(generate_events(1, n_accounts=1))
    assert first["occurred_at"] == "2026-01-01T08:00:00+08:00"
    assert datetime.fromisoformat(first["occurred_at"]) == datetime(2026, 1, 1, tzinfo=UTC)


def test_the_testing_module_docstring_example_runs() -> None:
    """`blacklist_rules.testing` is public for users' tests: its documented example holds."""
    failed, attempted = doctest.testmod(blacklist_rules.testing)
    assert (failed, attempted) == (0, 3)
