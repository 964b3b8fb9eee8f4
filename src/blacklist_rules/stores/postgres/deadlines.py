"""Deadlines: a rule's `unless` waiting for an event, pending, met, fired or void."""

from __future__ import annotations

from blacklist_rules.stores.records import Deadline

from .base import PostgresBase

_COLUMNS = "rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state"


class PostgresDeadlines(PostgresBase):
    """The `deadlines` table, read as `Deadline` records."""

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
        """False: the deadline was there already (it stays as it is)."""
        self._changed(account_id, decisions=False, deadlines=True)
        added = self._db.execute(
            "INSERT INTO deadlines VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (rule_id, anchor_id, account_id, anchor_event_id, start_us, due_us, state),
        )
        return added == 1

    def meet_deadlines(self, account_id: str, rule_ids: list[str], at_us: int) -> list[Deadline]:
        """An `unless` event at `at_us` meets the pending deadlines whose span holds it; the
        deadlines it met, as they now are, in (rule, anchor) order."""
        self._changed(account_id, decisions=False, deadlines=True)
        met = self._db.rows(
            Deadline,
            "UPDATE deadlines SET state = 'met' WHERE account_id = %(a)s AND state = 'pending' "
            "AND rule_id = ANY(%(rules)s) AND start_us <= %(at)s AND %(at)s < due_us "
            f"RETURNING {_COLUMNS}",
            {"a": account_id, "rules": rule_ids, "at": at_us},
        )
        return sorted(met, key=lambda d: (d.rule_id, d.anchor_id))

    def waiting_accounts(self) -> set[str]:
        """Accounts with a pending deadline."""
        rows = self._db.all("SELECT DISTINCT account_id FROM deadlines WHERE state = 'pending'")
        return {str(row[0]) for row in rows}

    def next_deadline(self) -> int | None:
        found = self._db.value("SELECT min(due_us) FROM deadlines WHERE state = 'pending'")
        return None if found is None else int(found)

    def due_deadlines(self, clock_us: int, account_id: str | None = None) -> list[Deadline]:
        """Pending deadlines at or before the clock, in time order (one account's, or all; of
        an account claimed ahead, `claim_accounts`, from memory)."""
        kept = self._deadlines.get(account_id) if account_id is not None else None
        if kept is not None and self._db.transaction is not None:
            return [d for d in kept if d.state == "pending" and d.due_us <= clock_us]
        return self._db.rows(
            Deadline,
            f"SELECT {_COLUMNS} FROM deadlines WHERE state = 'pending' AND due_us <= %s "
            "AND (%s::text IS NULL OR account_id = %s) ORDER BY due_us, rule_id, anchor_id",
            (clock_us, account_id, account_id),
        )

    def set_deadline_state(self, rule_id: str, anchor_id: str, state: str) -> Deadline | None:
        """The deadline as it now is; None: there is none."""
        found = self._db.rows(
            Deadline,
            "UPDATE deadlines SET state = %s WHERE rule_id = %s AND anchor_id = %s "
            f"RETURNING {_COLUMNS}",
            (state, rule_id, anchor_id),
        )
        if not found:
            return None
        self._changed(found[0].account_id, decisions=False, deadlines=True)
        return found[0]

    def prune_deadlines(self, up_to_us: int) -> int:
        self._changed(None, decisions=False, deadlines=True)
        return self._db.execute(
            "DELETE FROM deadlines WHERE state != 'pending' AND due_us <= %s", (up_to_us,)
        )

    def deadlines_of(self, account_id: str) -> list[Deadline]:
        """The account's deadlines in every state, by due time (of an account claimed ahead,
        `claim_accounts`, from memory)."""
        kept = self._deadlines.get(account_id)
        if kept is not None and self._db.transaction is not None:
            return list(kept)
        return self._db.rows(
            Deadline,
            f"SELECT {_COLUMNS} FROM deadlines WHERE account_id = %s "
            "ORDER BY due_us, rule_id, anchor_id",
            (account_id,),
        )

    def deadlines_from(self, at_us: int) -> list[Deadline]:
        """The deadlines not void, due after `at_us`."""
        return self._db.rows(
            Deadline,
            f"SELECT {_COLUMNS} FROM deadlines WHERE state != 'void' AND due_us > %s "
            "ORDER BY due_us, rule_id, anchor_id",
            (at_us,),
        )

    def pending_deadlines_of(self, accounts: set[str]) -> list[Deadline]:
        """The accounts' pending deadlines."""
        return self._db.rows(
            Deadline,
            f"SELECT {_COLUMNS} FROM deadlines WHERE state = 'pending' AND account_id = ANY(%s) "
            "ORDER BY rule_id, anchor_id",
            (sorted(accounts),),
        )
