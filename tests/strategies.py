"""Hypothesis strategies: contract events for a small set of accounts, and rule conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from blacklist_rules.model.chain import FIELDS
from blacklist_rules.model.decisions import (
    Action,
    ConditionTrace,
    Decision,
    DecisionRecord,
    Mode,
    ReEvaluation,
    RuleMatch,
    Status,
    StatusChange,
)
from blacklist_rules.stores.audit_crosscheck import (
    DEADLINE_COLUMNS,
    DECISION_COLUMNS,
    ENTRY_COLUMNS,
    EVENT_COLUMNS,
)

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


def timed(raw: list[dict[str, Any]], prefix: str = "h") -> list[dict[str, Any]]:
    """Give raw events ids and times from `day` and `hour` offsets (not in time order)."""
    events = []
    for index, item in enumerate(raw):
        data = dict(item)
        at = timedelta(days=data.pop("day"), hours=data.pop("hour"))
        data["event_id"] = f"{prefix}{index:04d}"
        data["occurred_at"] = (T0 + at).isoformat()
        events.append(data)
    return events


def _within(days: int) -> dict[str, Any]:
    return {
        "account_id": st.sampled_from(ACCOUNTS),
        "day": st.integers(0, days),
        "hour": st.integers(0, 23),
    }


# Window evidence for history properties: a few contents and reporters, so windows fill up.
history_rumor = st.fixed_dictionaries(
    {
        "type": st.just("rumor_flag"),
        "content_id": st.sampled_from(("c1", "c2", "c3", "c4")),
        "verdict": st.sampled_from(("malicious_rumor", "malicious_rumor", "rumor")),
        "source": st.sampled_from(("fact_check", "authority_notice", "user_report")),
        **_within(170),
    }
)
history_report = st.fixed_dictionaries(
    {
        "type": st.just("impersonation_report"),
        "reporter_id": st.sampled_from(("r1", "r2", "r3", "r4")),
        "confirmed": st.just(False),
        **_within(170),
    }
)
window_events = st.lists(st.one_of(history_rumor, history_report), max_size=30).map(timed)
"""Evidence for count and distinct windows, all within 170 days: never beyond the horizon."""


def long_events(days: int, min_size: int = 0) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Events of every kind (window evidence twice as likely) over `days` days, for pruning
    and restarts across long spans."""
    kinds = st.one_of(
        verification, registration, report, rumor, *(history_rumor, history_report) * 2
    )
    moments = st.tuples(kinds, st.integers(0, days), st.integers(0, 23))
    return st.lists(
        moments.map(lambda drawn: {**drawn[0], "day": drawn[1], "hour": drawn[2]}),
        min_size=min_size,
        max_size=60,
    ).map(timed)


# Notices: events whose every id and identity value is distinctive, so a property can search the
# rendered text for any of them. A blacklist needs a verified registration; the same identities
# across accounts make re-registrations.
NOTICE_ACCOUNTS = ("acct-q7x1", "acct-q7x2", "acct-q7x3")
NOTICE_REPORTERS = ("reporter-k4m1", "reporter-k4m2", "reporter-k4m3")
NOTICE_CONTENTS = ("content-z9p1", "content-z9p2", "content-z9p3")
NOTICE_REVIEWER = "reviewer-w3n8"
NOTICE_NOTE = "internal-note-v6t2"
NOTICE_IDENTITIES = (
    {"id_number": "360426199101010071", "phone": "13800138000"},
    {"id_number": "11010519491231002X", "phone": "13912345678"},
)
_on_notice_account = {"account_id": st.sampled_from(NOTICE_ACCOUNTS), "day": st.integers(0, 40)}
notice_event = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("identity_verification"),
            "status": st.sampled_from(("passed", "failed")),
            **_on_notice_account,
        },
        optional={"reason": st.sampled_from(REASONS)},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("registration"),
            "identity": st.sampled_from(NOTICE_IDENTITIES),
            "verification": st.fixed_dictionaries(
                {"status": st.sampled_from(("passed", "failed"))},
                optional={"reason": st.sampled_from(REASONS)},
            ),
            **_on_notice_account,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("impersonation_report"),
            "reporter_id": st.sampled_from(NOTICE_REPORTERS),
            "impersonated_account_id": st.sampled_from(NOTICE_ACCOUNTS),
            "confirmed": st.booleans(),
            **_on_notice_account,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("rumor_flag"),
            "content_id": st.sampled_from(NOTICE_CONTENTS),
            "verdict": st.just("malicious_rumor"),
            "source": st.sampled_from(("fact_check", "authority_notice")),
            **_on_notice_account,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("review_decision"),
            "reviewer_id": st.just(NOTICE_REVIEWER),
            "action": st.sampled_from(("lift", "freeze", "cancel", "blacklist")),
            "reason": st.just(NOTICE_NOTE),
            **_on_notice_account,
        }
    ),
)
notice_event_lists = st.lists(notice_event, min_size=1, max_size=25).map(numbered)
"""Events for three accounts with distinctive ids: every kind of decision, human ones too."""


@attrs.frozen
class Tampering:
    """One plain SQL edit of a db: `op` `update` (the cell `column` of the row at `row` takes
    the value of the row at `donor`, else NULL, else a changed value), `delete` (that row) or
    `insert` (a copy of that row under a new key). Rows are picked modulo the table's size
    (of `events`, among the evidence of decisions only)."""

    op: str
    table: str
    row: int
    column: str
    donor: int


TAMPERED_COLUMNS = {
    "decisions": DECISION_COLUMNS,
    "accounts": ("account_id", "status"),
    "blacklist": ENTRY_COLUMNS,
    "audit": ("seq", *FIELDS, "prev_hash", "hash"),
    "deadlines": DEADLINE_COLUMNS,
    "events": EVENT_COLUMNS,
}
"""Every column of every table that a decision, an export or a status depends on (of
`events`, the rows of evidence events)."""
TAMPERINGS = {"events": ("update", "update", "delete")}
"""The edits of each table that `verify` must find, when not all: an event inserted is the
evidence of nothing."""
tamperings = st.sampled_from(sorted(TAMPERED_COLUMNS)).flatmap(
    lambda table: st.builds(
        Tampering,
        op=st.sampled_from(TAMPERINGS.get(table, ("update", "update", "delete", "insert"))),
        table=st.just(table),
        row=st.integers(0, 10_000),
        column=st.sampled_from(TAMPERED_COLUMNS[table]),
        donor=st.integers(0, 10_000),
    )
)
"""Single-cell UPDATEs, row DELETEs and plausible INSERTs in the tables `verify` covers."""


# Appeals among events: each names a decision the engine took (by `pick`, among all of them,
# reversed and shadow ones too) or none it knows, so most are refused: an unknown decision, one
# already reversed, a shadow one, another account's (`elsewhere`).
APPEAL_IDENTITIES = {
    "a": "360426199101010071",
    "b": "11010519491231002X",
    "c": "360426199101010071",
}
"""a and c share an ID number: linked accounts, so a reversal reaches the other."""
appeal = st.fixed_dictionaries(
    {
        "type": st.just("appeal"),
        "how": st.sampled_from(("overturned", "upheld", "lift", "unknown", "elsewhere")),
        "pick": st.integers(0, 1000),
        **_common,
    }
)
appeal_steps = st.lists(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("registration"), **_common}),
        report,
        rumor,
        failed_verification,
        appeal,
        appeal,
    ),
    max_size=25,
).map(numbered)
"""Verified registrations (identities from `APPEAL_IDENTITIES`), evidence, and appeals."""

# --- regular expressions (RE2 syntax shared with Python's `re`) ------------------------------

REGEX_TEXT = "ab1 _\n-"
"""Characters the differential texts are made of: word, digit, space, newline, punctuation."""
_regex_atoms = st.sampled_from(
    [
        "a", "b", "1", " ", "-", "\\n", "\\.", ".", "[a-b]", "[^a]", "[a1_-]", "[^\\s]",
        "\\d", "\\D", "\\w", "\\W", "\\s", "\\S",
    ]
)  # fmt: skip
_regex_anchors = st.sampled_from(["^", "$", "\\b", "\\A"])
_regex_repeats = st.sampled_from(
    ["*", "+", "?", "*?", "+?", "??", "{2}", "{0,2}", "{1,}", "{1,3}?"]
)


def _regex_quantified(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(inner, _regex_repeats).map(lambda p: f"(?:{p[0]}){p[1]}")


regex_patterns = st.tuples(
    st.sampled_from(["", "", "(?i)", "(?s)", "(?m)"]),
    st.recursive(
        st.one_of(
            _regex_atoms,
            _regex_anchors,
            st.tuples(_regex_atoms, _regex_repeats).map("".join),
        ),
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map("".join),
            st.lists(inner, min_size=2, max_size=3).map("|".join),
            inner.map(lambda p: f"({p})"),
            _regex_quantified(inner),
        ),
        max_leaves=8,
    ),
).map("".join)
"""Patterns built from RE2 syntax that Python's `re` reads too: classes, escapes, anchors,
greedy and lazy repeats, groups, alternation and flags (no backreferences or lookaround)."""
regex_texts = st.text(alphabet=REGEX_TEXT, max_size=8)


# --- windows (test_window_cost) -------------------------------------------------------------
WINDOW_VALUES: tuple[object, ...] = (None, "x", "y", "z", 7)
"""Values of a distinct field in history rows: None is an event without the field."""


@st.composite
def history_rows(draw: st.DrawFn) -> list[tuple[int, str, object]]:
    """One stream's history for one group: (time µs, event id, value), unique ids, times on a
    small grid so that ties and events exactly a span apart are common."""
    size = draw(st.integers(1, 16))
    times = draw(st.lists(st.integers(0, 20), min_size=size, max_size=size))
    values = draw(st.lists(st.sampled_from(WINDOW_VALUES), min_size=size, max_size=size))
    return [(t, f"e{i}", v) for i, (t, v) in enumerate(zip(times, values, strict=True))]


@st.composite
def crowded_history_rows(draw: st.DrawFn) -> list[tuple[int, str, object]]:
    """Like `history_rows`, but more rows than a window's first page (16) holds, nearly all
    with one value and a few with others: a distinct count that the newest rows do not settle,
    and late events with many rows after them (test_mutants_windows)."""
    size = draw(st.integers(17, 60))
    times = draw(st.lists(st.integers(0, 30), min_size=size, max_size=size))
    common = draw(st.sampled_from(WINDOW_VALUES))
    rare = draw(
        st.dictionaries(st.integers(0, size - 1), st.sampled_from(WINDOW_VALUES), max_size=4)
    )
    values = [rare.get(i, common) for i in range(size)]
    return [(t, f"e{i:02}", v) for i, (t, v) in enumerate(zip(times, values, strict=True))]


flag = st.fixed_dictionaries(
    {
        "type": st.just("rumor_flag"),
        "account_id": st.sampled_from(("a", "b")),
        "hour": st.integers(0, 96),
        "content_id": st.sampled_from(("c1", "c2", "c3", "c4")),
        "verdict": st.sampled_from(("malicious_rumor", "malicious_rumor", "rumor")),
        "source": st.just("fact_check"),
    },
    optional={"reach": st.integers(1, 3)},
)
"""A rumour flag at an hour of four days (the windows of test_window_cost span 2 to 5)."""


def flag_sets() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Rumour flags of two accounts, numbered (event ids) in the order drawn."""
    return st.lists(flag, min_size=1, max_size=14).map(
        lambda raw: [{**e, "event_id": f"w{i:02}"} for i, e in enumerate(raw)]
    )


# A worker's partitions (`delivery.merge`): each a list of event times in order (days, with
# ties), and how many of each a fetch brings.
partition_days = st.lists(
    st.lists(st.integers(0, 20), max_size=8).map(sorted), min_size=1, max_size=4
)
fetch_sizes = st.lists(st.integers(1, 4), min_size=1, max_size=6)


def _past(kind: str, **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"type": st.just(kind), **fields, "account_id": st.sampled_from(("a", "b"))}
        | {"day": st.integers(0, 50), "hour": st.integers(0, 23)}
    )


def _past_timed(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`timed`, each event a minute apart from any other (no two at the same moment), with
    one registration per account at most (its first)."""
    events, registered = [], set()
    for index, item in enumerate(timed(raw, "p")):
        if item["type"] == "registration":
            if item["account_id"] in registered:
                continue
            registered.add(item["account_id"])
            item["verification"] = {"status": "passed"}
        moment = datetime.fromisoformat(item["occurred_at"]) + timedelta(minutes=index)
        item["occurred_at"] = moment.isoformat()
        if item["type"] == "rumor_flag":
            item["content_id"] = f"c-{item['event_id']}"
        events.append(item)
    return events


past_events = st.lists(
    st.one_of(
        _past("registration"),
        _past(
            "rumor_flag",
            verdict=st.sampled_from(("malicious_rumor", "malicious_rumor", "rumor")),
            source=st.just("fact_check"),
        ),
        _past("impersonation_report", reporter_id=st.just("r1"), confirmed=st.just(True)),
    ),
    max_size=12,
).map(_past_timed)
"""Events whose decisions rules reading the account's past (`prior:`, `account.status`,
`account.age`) depend on: two accounts, each registered at most once, within 51 days, no two
events at the same moment (issue 18: set semantics in time order)."""


# Late deadlines (`time_order.meet_late`): per account a freeze cause, passed verifications
# around its 15-day deadline, and one event of another account that moves the clock.
DEADLINE_OFFSETS = tuple(
    timedelta(days=days) + timedelta(microseconds=us)
    for days, us in ((-1, 0), (0, 0), (0, 1), (5, 0), (15, -1), (15, 0), (15, 1), (20, 0))
)
"""A passed verification's time from its account's freeze: before it, at it, 1µs after, inside
the deadline's span, at its edge (1µs before, at, 1µs after) and well after."""


@st.composite
def late_deadline_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The events of one or two accounts (a failed verification or a failed registration
    check, then 0 to 2 passed verifications) and a clock event of a third, in a drawn arrival
    order; event ids say what each is."""
    events: list[dict[str, Any]] = []
    for account in draw(st.sampled_from((("a",), ("a", "b")))):
        start = T0 + timedelta(hours=draw(st.integers(0, 72)))
        cause: dict[str, Any] = {"account_id": account, "occurred_at": start.isoformat()}
        if draw(st.booleans()):
            cause |= {"type": "identity_verification", "status": "failed"}
        else:
            cause |= {"type": "registration", "verification": {"status": "failed"}}
        events.append({"event_id": f"{account}-cause", **cause})
        offsets = draw(st.lists(st.sampled_from(DEADLINE_OFFSETS), max_size=2, unique=True))
        for index, offset in enumerate(offsets):
            events.append(
                {
                    "event_id": f"{account}-pass{index}",
                    "type": "identity_verification",
                    "account_id": account,
                    "occurred_at": (start + offset).isoformat(),
                    "status": "passed",
                }
            )
    clock = T0 + timedelta(days=draw(st.integers(1, 60)))
    events.append(
        {
            "event_id": "tick",
            "type": "registration",
            "account_id": "clock",
            "occurred_at": clock.isoformat(),
        }
    )
    return draw(st.permutations(events))


# Decisions as the engine hands them out, with any JSON-able values a condition may carry.
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    ),
    max_leaves=6,
)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
condition_traces = st.builds(
    ConditionTrace,
    field=st.text(max_size=8),
    op=st.sampled_from(["eq", "in", "gte", "passed", "matches"]),
    expected=_json_values,
    seen=_json_values,
    result=st.booleans(),
)
rule_matches = st.builds(
    RuleMatch,
    rule_id=st.text(max_size=8),
    rule_version=st.integers(0, 9),
    action=st.sampled_from(Action),
    mode=st.sampled_from(Mode),
    priority=st.integers(-5, 100),
    reason=st.text(max_size=12),
    conditions=st.lists(condition_traces, max_size=3).map(tuple),
)
decisions = st.builds(
    Decision,
    decision_id=st.text(max_size=8),
    account_id=st.text(max_size=8),
    action=st.sampled_from(Action),
    rule_id=st.text(max_size=8),
    rule_version=st.integers(0, 9),
    ruleset_digest=st.text(max_size=8),
    evidence=st.lists(st.text(max_size=6), max_size=3).map(tuple),
    reason=st.text(max_size=12),
    mode=st.sampled_from(Mode),
    effective_at=_times,
    expires_at=st.none() | _times,
    status_before=st.sampled_from(Status),
    status_after=st.sampled_from(Status),
    end_condition=st.none() | st.text(max_size=8),
    matched=st.lists(rule_matches, max_size=3).map(tuple),
    anchor=st.none() | st.text(max_size=8),
)
decision_records = st.builds(
    DecisionRecord,
    decisions,
    st.none()
    | st.builds(
        ReEvaluation,
        st.text(max_size=6),
        st.lists(st.text(max_size=6), max_size=2).map(tuple),
        st.text(max_size=6),
    ),
)
status_changes = st.builds(
    StatusChange,
    account_id=st.text(max_size=8),
    status_before=st.sampled_from(Status),
    status_after=st.sampled_from(Status),
    cause=st.text(max_size=12),
    at=_times,
    event_id=st.none() | st.text(max_size=8),
    decision_id=st.none() | st.text(max_size=8),
)
