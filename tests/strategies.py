"""Hypothesis strategies: contract events for a small set of accounts, and rule conditions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from .support import T0

ACCOUNTS = ("a", "b", "c")
REASONS = (
    "name_id_mismatch",
    "forged_document",
    "identity_of_another_person",
    "invalid_id_number",
    "expired_document",
)

# Building blocks without `event_id`: the list strategies number events in order.
_common = {"account_id": st.sampled_from(ACCOUNTS), "day": st.integers(0, 60)}

verification = st.fixed_dictionaries(
    {
        "type": st.just("identity_verification"),
        "status": st.sampled_from(("passed", "failed")),
        **_common,
    },
    optional={"reason": st.sampled_from(REASONS)},
)
failed_verification = st.fixed_dictionaries(
    {
        "type": st.just("identity_verification"),
        "status": st.just("failed"),
        "reason": st.sampled_from(REASONS),
        **_common,
    }
)
registration = st.fixed_dictionaries(
    {"type": st.just("registration"), **_common},
    optional={
        "verification": st.fixed_dictionaries(
            {"status": st.sampled_from(("passed", "failed", "pending"))},
            optional={"reason": st.sampled_from(REASONS)},
        )
    },
)
report = st.fixed_dictionaries(
    {
        "type": st.just("impersonation_report"),
        "reporter_id": st.sampled_from(("r1", "r2", "r3")),
        "confirmed": st.booleans(),
        **_common,
    }
)
rumor = st.fixed_dictionaries(
    {
        "type": st.just("rumor_flag"),
        "content_id": st.sampled_from(("c1", "c2")),
        "verdict": st.sampled_from(("malicious_rumor", "rumor", "not_rumor")),
        "source": st.sampled_from(("fact_check", "authority_notice", "user_report")),
        **_common,
    },
    optional={"reach": st.integers(0, 10_000)},
)
lift = st.fixed_dictionaries(
    {
        "type": st.just("review_decision"),
        "reviewer_id": st.just("rev"),
        "action": st.sampled_from(("lift", "freeze", "cancel", "blacklist")),
        "reason": st.just("review"),
        **_common,
    }
)

evidence_event = st.one_of(failed_verification, report, rumor)
"""Events that can only count against an account."""
any_event = st.one_of(verification, registration, report, rumor, lift)


def numbered(raw: list[dict[str, Any]], prefix: str = "e") -> list[dict[str, Any]]:
    """Give raw events ids and times (`day` offsets from T0, the index breaking ties)."""
    events = []
    for index, item in enumerate(raw):
        data = dict(item)
        day = data.pop("day")
        data["event_id"] = f"{prefix}{index:04d}"
        data["occurred_at"] = (T0 + timedelta(days=day, seconds=index)).isoformat()
        events.append(data)
    return events


event_lists = st.lists(any_event, max_size=25).map(numbered)
