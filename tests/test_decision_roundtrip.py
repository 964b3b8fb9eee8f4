"""Every field of every `Decision` comes back equal from the db after the engine is reopened.

`decision_from_dict` is the inverse of `Decision.to_dict`; a field it forgets (a deadline
decision's `anchor`, say) is lost from every decision read back, silently. The fields are
iterated with `attrs.fields`, so a field added to `Decision` later is checked too, and the
decisions are chosen so every field takes a value other than its default at least once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from blacklist_rules import Engine
from blacklist_rules.model.decisions import Decision

from .support import SHADOW_REPORT_FREEZE, default_pack_with, event

DAY = timedelta(days=1)


def _events() -> list[dict[str, Any]]:
    """A freeze of 30 days (window, `expires_at`), a freeze until verified (`end_condition`)
    and the cancel its deadline takes 15 days later (`anchor`), a reviewer's blacklist, and a
    shadow freeze (`mode`)."""
    rumour = {"verdict": "malicious_rumor", "source": "fact_check"}
    return [
        event("rumor_flag", "rumours", 0 * DAY, "f1", content_id="c1", **rumour),
        event("rumor_flag", "rumours", 3 * DAY, "f2", content_id="c2", reach=7, **rumour),
        event("identity_verification", "unverified", 1 * DAY, "v1", status="failed"),
        event("impersonation_report", "reported", 2 * DAY, "i1", reporter_id="u1", confirmed=False),
        event(
            "review_decision",
            "reported",
            2 * DAY + timedelta(hours=1),
            "rv1",
            reviewer_id="mod-1",
            action="blacklist",
            reason="Confirmed by a reviewer.",
        ),
        event("registration", "later", 20 * DAY, "g1"),
    ]


def test_every_decision_field_survives_the_db(tmp_path: Path) -> None:
    """Decisions handed out by `run` equal, field by field, those read from the reopened db."""
    rules = default_pack_with(tmp_path / "rules", shadow=SHADOW_REPORT_FREEZE)
    db = tmp_path / "state.db"
    with Engine.from_path(rules, db, max_lead=None) as engine:
        handed = [d for outcome in engine.run(_events()) for d in outcome.decisions]
    with Engine.from_path(rules, db, max_lead=None) as engine:
        stored = {
            d.decision_id: d
            for account in sorted({d.account_id for d in handed})
            for d in engine.decisions(account)
        }
    assert sorted(stored) == sorted(d.decision_id for d in handed)
    for decision in handed:
        back = stored[decision.decision_id]
        for field in attrs.fields(Decision):
            name = field.name
            assert getattr(back, name) == getattr(decision, name), (decision.rule_id, name)
            assert type(getattr(back, name)) is type(getattr(decision, name)), name
        assert back == decision


def test_the_round_trip_covers_every_field_with_a_value(tmp_path: Path) -> None:
    """Each field of `Decision` has a non-default, non-empty value in at least one decision of
    the round trip above: a field read back wrong cannot hide behind its default."""
    rules = default_pack_with(tmp_path / "rules", shadow=SHADOW_REPORT_FREEZE)
    with Engine.from_path(rules, max_lead=None) as engine:
        handed = [d for outcome in engine.run(_events()) for d in outcome.decisions]
    unshown = []
    for field in attrs.fields(Decision):
        default = None if field.default is attrs.NOTHING else field.default
        values = [getattr(d, field.name) for d in handed]
        if not any(value not in (default, None, (), "") for value in values):
            unshown.append(field.name)
    assert unshown == []
    kinds = {(d.rule_id, d.mode, d.anchor is not None) for d in handed}
    assert ("cancel-unverified-after-freeze", "enforce", True) in kinds
    assert ("shadow-freeze-on-report", "shadow", False) in kinds
    assert any(c.seen is not None for d in handed for m in d.matched for c in m.conditions)
