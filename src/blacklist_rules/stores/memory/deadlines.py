"""In-memory deadlines by (rule, anchor)."""

from __future__ import annotations

from blacklist_rules.stores.records import Deadline

from .base import MemoryBase

_STATE = 6
"""Where a deadline row (`Deadline`'s fields, in order) keeps its state."""


class MemoryDeadlines(MemoryBase):
    """The `deadlines` table: rows as lists, the state last."""

    def _all(self) -> list[Deadline]:
        return [Deadline(*row) for row in self._t.deadlines.values()]

    def add_deadline(
        self,
        rule_id: str,
        anchor_id: str,
        account_id: str,
        anchor_event_id: str,
        start_us: int,
        due_us: int,
        state: str,
    ) -> bool:
        if (rule_id, anchor_id) in self._t.deadlines:
            return False
        row = [rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state]
        self._t.deadlines[(rule_id, anchor_id)] = row
        return True

    def meet_deadlines(self, account_id: str, rule_ids: list[str], at_us: int) -> list[Deadline]:
        met = []
        for row in self._t.deadlines.values():
            d = Deadline(*row)
            mine = d.account_id == account_id and d.rule_id in rule_ids
            if mine and d.state == "pending" and d.start_us <= at_us < d.due_us:
                row[_STATE] = "met"
                met.append(Deadline(*row))
        return sorted(met, key=lambda d: (d.rule_id, d.anchor_id))

    def waiting_accounts(self) -> set[str]:
        return {d.account_id for d in self._all() if d.state == "pending"}

    def next_deadline(self) -> int | None:
        return min((d.due_us for d in self._all() if d.state == "pending"), default=None)

    def due_deadlines(self, clock_us: int, account_id: str | None = None) -> list[Deadline]:
        due = [
            d
            for d in self._all()
            if d.state == "pending"
            and d.due_us <= clock_us
            and (account_id is None or d.account_id == account_id)
        ]
        return sorted(due, key=lambda d: (d.due_us, d.rule_id, d.anchor_id))

    def set_deadline_state(self, rule_id: str, anchor_id: str, state: str) -> Deadline | None:
        row = self._t.deadlines.get((rule_id, anchor_id))
        if row is None:
            return None
        row[_STATE] = state
        return Deadline(*row)

    def prune_deadlines(self, up_to_us: int) -> int:
        gone = [
            (d.rule_id, d.anchor_id)
            for d in self._all()
            if d.state != "pending" and d.due_us <= up_to_us
        ]
        for key in gone:
            del self._t.deadlines[key]
        return len(gone)

    def deadlines_of(self, account_id: str) -> list[Deadline]:
        found = [d for d in self._all() if d.account_id == account_id]
        return sorted(found, key=lambda d: (d.due_us, d.rule_id, d.anchor_id))

    def deadlines_from(self, at_us: int) -> list[Deadline]:
        return [d for d in self._all() if d.state != "void" and d.due_us > at_us]

    def pending_deadlines_of(self, accounts: set[str]) -> list[Deadline]:
        found = [d for d in self._all() if d.state == "pending" and d.account_id in accounts]
        return sorted(found, key=lambda d: d.account_id)
