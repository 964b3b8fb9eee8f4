"""Contract: a decision's stored text survives its typed record byte for byte. The audit chain
and the decision digests cover that text, so reading a row into a `DecisionRecord` and writing
it again (`decision_text`) must give the very same bytes, for every kind of decision."""

from __future__ import annotations

from pathlib import Path

from blacklist_rules import Engine, IdentityKey, load_ruleset
from blacklist_rules.stores.memory import MemoryStore
from blacklist_rules.stores.protocols import Store
from blacklist_rules.stores.records import decision_record, decision_text
from blacklist_rules.stores.sqlite import SQLiteStore
from tests.support import SHADOW_REPORT_FREEZE, TEST_KEY, default_pack_with
from tests.test_cascade import DAY, LI, overturn, registered, strike
from tests.test_decision_roundtrip import _events


def _texts(store: Store) -> list[str]:
    """Every decision's record as the store holds it, read past the store's own reader."""
    if isinstance(store, MemoryStore):
        return [row.record for row in store._t.decisions.values()]
    if isinstance(store, SQLiteStore):
        return [str(row[0]) for row in store.connection.execute("SELECT record FROM decisions")]
    from tests.postgres import column

    return [str(text) for text in column(store.path, "SELECT record FROM decisions")]


def test_every_kind_of_decision_reads_back_to_the_same_bytes(store: Store, tmp_path: Path) -> None:
    """The default pack with a shadow rule decides a freeze with an expiry, a freeze until
    verified, the cancel its deadline takes (anchored), a reviewer's blacklist and a shadow
    freeze; three strikes and an overturned freeze give a blacklist, its reversal by the
    cascade and the freeze the cascade brings back (`re_evaluated`). Each stored text goes
    through `decision_record` and `decision_text` unchanged, and the store's own reader
    gives the same record."""
    pack = load_ruleset(default_pack_with(tmp_path / "rules", shadow=SHADOW_REPORT_FREEZE))
    key = IdentityKey(TEST_KEY.encode(), "test")
    with Engine(pack, store, identity_key=key, max_lead=None) as engine:
        taken = [d for outcome in engine.run(_events()) for d in outcome.decisions]
        engine.process(registered("zhang", 0 * DAY, "reg", LI))
        engine.process(strike("zhang", 1 * DAY, "s1", "c1"))
        (freeze,) = engine.process(strike("zhang", 10 * DAY, "s2", "c2")).decisions
        engine.process(strike("zhang", 20 * DAY, "s3", "c3"))
        (again,) = engine.process(overturn("zhang", 25 * DAY, "ap1", freeze.decision_id)).decisions
        texts = _texts(store)
        records = [decision_record(text) for text in texts]
        assert [decision_text(record) for record in records] == texts
        for record in records:
            found = store.decision(record.decision.decision_id)
            assert found is not None
            assert found.record == record
        assert store.reversal_kind(freeze.decision_id) == "appeal_outcome"
    kinds = {(r.decision.action, r.decision.mode, r.decision.rule_id) for r in records}
    assert {action for action, _mode, _rule in kinds} == {"freeze", "cancel", "blacklist"}
    assert any(mode == "shadow" for _action, mode, _rule in kinds)
    assert any(rule == "human-review" for _action, _mode, rule in kinds)
    assert any(r.decision.expires_at is not None for r in records)
    assert any(r.decision.anchor is not None for r in records)
    assert any(r.decision.end_condition is not None for r in records)
    assert any(r.re_evaluated is not None for r in records)
    assert {d.decision_id for d in taken} <= {r.decision.decision_id for r in records}
    assert again.decision_id in {r.decision.decision_id for r in records}
