"""A decision serialised once, and as ever: the hand-written `to_dict`s give what
`attrs.asdict` gave, and a decision's audit record written from its row's text is byte for
byte the compact JSON of its dict (the audit chain hashes that text, and `audit verify`
re-reads rows written by every version)."""

from __future__ import annotations

import json
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from blacklist_rules.model.decisions import Decision, DecisionRecord, StatusChange
from blacklist_rules.stores.audit_crosscheck import VOUCHES
from blacklist_rules.stores.records import Serialised, decision_text, serialised
from blacklist_rules.stores.sqlite.schema import dumps

from .strategies import decision_records, decisions, status_changes


def _compact(value: Any) -> str:
    """Compact JSON as the stores wrote every record before `Serialised` existed."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _asdict_decision(decision: Decision) -> dict[str, Any]:
    """`Decision.to_dict` as it was written with `attrs.asdict` (the reference)."""
    data = attrs.asdict(decision, recurse=True)
    data["effective_at"] = decision.effective_at.isoformat()
    data["expires_at"] = decision.expires_at.isoformat() if decision.expires_at else None
    data["evidence"] = list(decision.evidence)
    data["matched"] = [
        {**attrs.asdict(m), "conditions": [attrs.asdict(c) for c in m.conditions]}
        for m in decision.matched
    ]
    return data


def _types(value: Any) -> Any:
    """The value's shape with every type in it: `==` alone takes a tuple for a list's
    unequal but 1 for True equal."""
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return (type(value), [_types(item) for item in value])
    return (type(value), value)


@given(decisions)
def test_decision_to_dict_is_what_asdict_gave(decision: Decision) -> None:
    """Field by field, key order and every value's type as `attrs.asdict` wrote them
    (collections inside a condition's values become lists, enums stay enums)."""
    mine, reference = decision.to_dict(), _asdict_decision(decision)
    assert list(mine) == list(reference)
    assert _types(mine) == _types(reference)
    assert _compact(mine) == _compact(reference)


@given(status_changes)
def test_status_change_to_dict_is_what_asdict_gave(change: StatusChange) -> None:
    """`StatusChange.to_dict` written out equals `attrs.asdict` with `at` in RFC 3339."""
    reference = {**attrs.asdict(change), "at": change.at.isoformat()}
    mine = change.to_dict()
    assert list(mine) == list(reference)
    assert _types(mine) == _types(reference)


@given(decision_records)
def test_a_records_text_is_its_dict_as_compact_json(record: DecisionRecord) -> None:
    """The stored text, written once per record, is the compact JSON of `to_dict()`."""
    assert decision_text(record) == record.text == _compact(record.to_dict())
    assert DecisionRecord.from_dict(json.loads(record.text)).text == record.text


_vouches = st.fixed_dictionaries(
    {
        "evidence": st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)).map(list)),
        "deadlines": st.lists(st.dictionaries(st.text(max_size=4), st.integers(), max_size=3)),
    }
)


@given(decision_records, _vouches)
def test_an_audit_record_from_the_rows_text_is_its_dict_as_compact_json(
    record: DecisionRecord, said: dict[str, Any]
) -> None:
    """The row's text with `VOUCHES` written in before its closing brace is byte for byte
    the compact JSON of the audit record's dict, which the stores' `dumps` writes."""
    base = record.to_dict()
    data = {**base, VOUCHES: said}
    written = serialised(record, base, data)
    assert isinstance(written, Serialised)
    assert written == data
    assert dumps(written) == written.text == _compact(data)
    assert dumps(serialised(record, base, base)) == _compact(base)


@given(decision_records)
def test_a_record_not_made_from_the_rows_dict_is_serialised_afresh(
    record: DecisionRecord,
) -> None:
    """A dict whose values are not the row's own (a copy changed, keys reordered) keeps no
    text of the row's: `dumps` writes it whole."""
    base = record.to_dict()
    changed = {**base, "reason": base["reason"] + "!"}
    assert type(serialised(record, base, changed)) is dict
    reordered = dict(reversed(list(base.items())))
    assert type(serialised(record, base, reordered)) is dict
    assert dumps(serialised(record, base, changed)) == _compact(changed)
