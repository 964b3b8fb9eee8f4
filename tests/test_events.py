"""Event parsing: every malformed input becomes a located `EventError`, never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blacklist_rules import EventError, iter_jsonl, parse_event
from blacklist_rules.model import events

BASE = {
    "event_id": "e1",
    "type": "identity_verification",
    "account_id": "a",
    "occurred_at": "2026-05-01T09:00:00+08:00",
    "status": "failed",
}


def reject(data: Any) -> EventError:
    with pytest.raises(EventError) as info:
        parse_event(data)
    return info.value


@pytest.mark.parametrize(
    ("moment", "reason"),
    [
        ("2026-05-01T09:00:00", "RFC 3339 timestamp with an offset"),
        ("1767225600", "RFC 3339 timestamp with an offset"),
        (1767225600, "RFC 3339 timestamp with an offset"),
        ("yesterday", "RFC 3339 timestamp with an offset"),
        ("9999-12-31T23:59:59-23:59", "out of range once converted to UTC"),
        ("0001-01-01T00:00:00+14:00", "out of range once converted to UTC"),
        ("3001-01-01T00:00:00Z", "between 1970 and 2999"),
    ],
)
def test_occurred_at_must_be_rfc3339_with_an_offset_and_plausible(moment: Any, reason: str) -> None:
    """Naive times, numbers (quoted or not) and times beyond UTC's range are rejected."""
    error = reject({**BASE, "occurred_at": moment})
    assert error.path == "occurred_at"
    assert reason in error.reason


def test_every_event_type_parses_from_dict_and_json() -> None:
    """The six contract types, from a dict and from JSON text, give the same model."""
    samples: list[dict[str, Any]] = [
        {
            "type": "registration",
            "identity": {"phone": "13800138000"},
            "verification": {"status": "pending"},
        },
        {"type": "identity_verification", "status": "passed"},
        {"type": "impersonation_report", "reporter_id": "r", "confirmed": False},
        {
            "type": "rumor_flag",
            "content_id": "c",
            "verdict": "rumor",
            "source": "user_report",
            "reach": 3,
        },
        {"type": "review_decision", "reviewer_id": "v", "action": "lift", "reason": "ok"},
        {"type": "appeal_outcome", "decision_id": "d-1", "outcome": "upheld", "reviewer_id": "v"},
    ]
    for sample in samples:
        data: dict[str, Any] = {k: v for k, v in BASE.items() if k != "status"} | sample
        assert parse_event(data) == parse_event(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"type": "password_reset"}, "type", "does not match any of the expected tags"),
        ({"account_id": None}, "account_id", "string"),
        ({"status": "maybe"}, "status", "'passed' or 'failed'"),
        ({"event_id": "x" * 201}, "event_id", "at most 200 characters"),
        ({"reason": "r" * 101}, "reason", "at most 100 characters"),
    ],
)
def test_bad_fields_are_located(change: dict[str, Any], path: str, reason: str) -> None:
    """A wrong field names its path and says what was expected."""
    error = reject({**BASE, **change})
    assert error.path == path
    assert reason in error.reason


def test_strict_types_are_not_coerced() -> None:
    """`"yes"` is not a boolean and `"3"` is not a number, whatever pydantic's lax mode says."""
    report = {**BASE, "type": "impersonation_report", "reporter_id": "r"}
    assert reject({**report, "confirmed": "yes"}).path == "confirmed"
    flag = {
        **BASE,
        "type": "rumor_flag",
        "content_id": "c",
        "verdict": "rumor",
        "source": "user_report",
    }
    assert reject({**flag, "reach": "3"}).path == "reach"


def test_identity_values_never_appear_in_errors() -> None:
    """A bad registration names the field, never the value a person typed."""
    secret = "11010519491231002X" * 5
    error = reject({**BASE, "type": "registration", "identity": {"id_number": secret}})
    assert error.path == "identity.id_number"
    assert "11010519491231002X" not in str(error)


def test_jsonl_lines_keep_their_numbers_and_survive_garbage() -> None:
    """Blank lines are skipped without renumbering; a BOM, bad JSON and a huge line are handled."""
    good = json.dumps(BASE)
    lines = ["\ufeff" + good, "", "{not json", "[1, 2]", "x" * 70_000, good.replace("e1", "e2")]
    parsed = list(iter_jsonl(lines))
    assert [p.line for p in parsed] == [1, 3, 4, 5, 6]
    assert parsed[0].event is not None
    assert parsed[1].error is not None
    assert "malformed JSON" in parsed[1].error.reason
    assert parsed[2].error is not None
    assert "JSON object" in parsed[2].error.reason
    assert parsed[3].error is not None
    assert "longer than" in parsed[3].error.reason
    assert parsed[4].event is not None
    assert parsed[4].event.event_id == "e2"


_KEYS = st.sampled_from(["phone", "name", "id_number", "device_id", "identity", "note", "x"])
_EXTRA = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)


@given(
    kind=st.sampled_from(["registration", "identity_verification", "review_decision"]),
    extra=st.dictionaries(_KEYS | st.sampled_from(["identity_digest", "phone_kind"]), _EXTRA),
)
def test_stored_payload_drops_identity_names_as_a_walk_of_the_whole_event_would(
    kind: str, extra: dict[str, Any]
) -> None:
    """Only extra fields are walked for identity names (issue 19): the text is the one a walk
    of the whole dump gives, since no declared field, at any depth, has such a name."""
    declared: dict[str, dict[str, Any]] = {
        "registration": {
            "identity": {"phone": "13800138000"},
            "verification": {"status": "passed"},
        },
        "identity_verification": {"status": "passed"},
        "review_decision": {
            "reviewer_id": "v",
            "action": "lift",
            "reason": "r",
            "decision_id": "d",
        },
    }
    data = (
        {k: v for k, v in BASE.items() if k != "status"} | extra | {"type": kind} | declared[kind]
    )
    event = parse_event(data)
    if event.model_extra:  # else the declared fields alone, with no walk before or now
        dumped = event.model_dump(mode="json", exclude={"identity"}, exclude_none=True)
        walked = events._STORED.encode(events._without_identity(dumped))
        assert events.stored_payload(event) == walked
    names = {n for m in events.EVENT_MODELS.values() for n in m.model_fields} - {"identity"}
    names |= set(events.Verification.model_fields)
    assert not names & events._IDENTITY_KEYS
