"""What every part of the PostgreSQL store shares: the connection, its transactions, the
count of commits that tells another writer's from ours, and the `meta` table of settings."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs

from blacklist_rules.errors import StoreError
from blacklist_rules.model.history import HistoryRow
from blacklist_rules.stores.records import Deadline
from blacklist_rules.stores.sqlite.connection import Transaction

from .driver import PgConnection

HISTORY_AHEAD = 32
"""The most history rows of one stream and group that claims ahead read (`_history`)."""
_LOOK_AHEAD = (
    "SELECT 'e', event_id, payload, NULL::bigint, NULL::text, NULL::jsonb FROM events "
    "WHERE event_id = ANY(%(ids)b::text[]) UNION ALL "
    "SELECT DISTINCT 'a', account_id, NULL, NULL::bigint, NULL::text, NULL::jsonb FROM events "
    "WHERE account_id = ANY(%(accounts)b::text[]) UNION ALL "
    "SELECT CASE WHEN n > %(most)s THEN 'H' ELSE 'h' END, g, s, occurred_us, event_id, value "
    "FROM (SELECT p.s, p.g, r.*, count(*) OVER w AS n, row_number() OVER w AS i "
    "FROM unnest(%(streams)b::text[], %(groups)b::text[]) AS p(s, g) CROSS JOIN LATERAL "
    "(SELECT occurred_us, event_id, value FROM history WHERE stream = p.s AND account_id = p.g "
    "LIMIT %(most)s + 1) AS r WINDOW w AS (PARTITION BY p.s, p.g)) AS x "
    "WHERE n <= %(most)s OR i = 1 UNION ALL "
    "SELECT 'd', account_id, record, position, event_id, jsonb_build_array(ended_at, "
    "mode = 'enforce' AND ended_at IS NULL AND expires_at IS NOT NULL) FROM decisions "
    "WHERE account_id = ANY(%(accounts)b::text[]) AND reversed_by IS NULL UNION ALL "
    "SELECT 'l', account_id, NULL, due_us, NULL, "
    "jsonb_build_array(rule_id, anchor_id, anchor_event_id, start_us, state) FROM deadlines "
    "WHERE account_id = ANY(%(accounts)b::text[])"
)
"""Of a batch read ahead: the stored events among its ids (`e`, with their payloads), the
accounts that have any event stored (`a`), and the history rows of the (stream, group)
pairs asked (`h`, by `history`'s key: one index probe a pair, at most one row more than
`HISTORY_AHEAD` read), but one row (`H`) of a pair with more than `HISTORY_AHEAD`; and of
the accounts newly claimed, their decisions not reversed (`d`, with their positions, when
each ended and whether it is a standing freeze that expires) and their deadlines (`l`):
what `taken_of`, `deadlines_of`, `due_deadlines` and `expire` would read of each (issue 16
item 5: with two workers the shared clock runs ahead of each, so their events come late
and `time_order` reads these for most of them)."""


@attrs.frozen(slots=True)
class AheadDecision:
    """A decision read ahead (`_LOOK_AHEAD`), its record still text: parsed when read
    (`taken_of`), as most of them never are."""

    position: int
    record: str
    ended_at: str | None
    event_id: str


def _ahead_args(
    ids: list[str], accounts: list[str], pairs: list[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "ids": ids,
        "accounts": accounts,
        "streams": [stream for stream, _ in pairs],
        "groups": [group for _, group in pairs],
        "most": HISTORY_AHEAD,
    }


class PostgresBase:
    """The connection and its transactions; each concern of `PostgresStore` is a mixin over it
    (one connection, one transaction for all of them)."""

    path: str
    read_only: bool
    now: Callable[[], datetime]
    """The wall clock audit records are stamped with (and retention counts on)."""
    written_elsewhere: bool
    """Whether another writer committed between our last transaction and the one `begin()`
    opened, or while our last one was open: what memory mirrors of the db must then be read
    again."""
    shared: bool
    """Always: other processes may write the db at once (`claim` serialises them)."""
    _db: PgConnection
    _claimed: set[str]
    """The locks `claim` took in the open transaction (held until it ends)."""
    _digest: str | None
    _history_cut_us: int | None
    _seen: int | None
    """The commit count as of our last transaction (None: unknown, read everything again)."""
    _began_at: int | None
    """The commit count when the open transaction began."""
    _pending_audit: list[tuple[tuple[Any, ...], int | None]]
    """The open transaction's audit records not yet appended (`PostgresAudit`), with the
    number each asked for."""
    _audit_mark: int
    """How many of them were written before the event's savepoint."""
    _expected: dict[str, str | None]
    """Event ids of the batch read ahead (`claim_accounts`) in the open transaction: the
    payload stored under each, None where none was (then its row is held, not sent alone)."""
    _history: dict[tuple[str, str], list[HistoryRow]]
    """Per (stream, group) read ahead (`claim_accounts`) in the open transaction, its group
    claimed: the history rows stored then (at most `HISTORY_AHEAD`). With the group held,
    its other rows are all among those this transaction held (`PgConnection.written`), so
    `history_page` reads them from memory (a row forgotten takes the pair out)."""
    _fresh: set[str]
    """Accounts claimed ahead (`claim_accounts`) in the open transaction that had no event
    stored then: while none of theirs is written alone, their events are all among the rows
    this transaction held (`PgConnection.written`), so `account_events` reads them from
    memory (with the account's lock held, no other writer can log one)."""
    _taken: dict[str, list[AheadDecision]]
    """Per account claimed ahead (`claim_accounts`) in the open transaction: its decisions not
    reversed, in the order taken, as stored then. With its lock held, only this transaction
    changes them, and each write of one takes the account out (`_changed`), so `taken_of`
    of the account alone reads them from memory."""
    _lasting: set[str]
    """Accounts of `_taken` with no standing decision that expires: `expire` of one ends
    nothing, with no round trip."""
    _deadlines: dict[str, list[Deadline]]
    """Per account claimed ahead: its deadlines (every state, by due time), kept as `_taken`
    is, for `deadlines_of` and `due_deadlines`."""

    def begin(self) -> Transaction:
        """Open a write transaction: its owner commits or rolls it back (`with store.begin():`
        commits when the block ends normally). Transactions do not nest: a second `begin()`
        while one is open is a `StoreError`, so nobody commits another's writes."""
        transaction = self._db.begin()
        try:
            row = self._db.one(
                "SELECT (SELECT value FROM meta WHERE key = 'history_cut_us'), version FROM commits"
            )
            if row is None:  # (`commits` always holds its one row)
                raise StoreError(f"{self.path}: the table of commits is empty")
            cut, version = row[0], int(row[1])
        except BaseException:
            transaction.rollback()
            raise
        self._history_cut_us = int(cut) if cut else None
        self.written_elsewhere = version != self._seen
        self._seen = self._began_at = version
        self._claimed = set()
        self._expected = {}
        self._fresh = set()
        self._history = {}
        self._taken, self._deadlines, self._lasting = {}, {}, set()
        self._pending_audit, self._audit_mark = [], 0
        return transaction

    @contextmanager
    def _own_transaction(self) -> Iterator[None]:
        """A transaction of the store's own bookkeeping (joining or leaving the workers, an
        audit record alone), not one the caller's memory follows: another writer's commit
        that its `begin` finds stays news for the caller's next `begin` (`written_elsewhere`).
        Were it taken as seen, an engine would keep mirrors older than that commit: the last
        worker to leave once moved event time over a freeze another worker had committed
        meanwhile, its `next_due` unaware of it, and the freeze never ended."""
        news = True  # (a `begin` that failed tells nothing: read everything again)
        try:
            with self.begin():
                news = self.written_elsewhere
                yield
        finally:
            if news:
                self._seen = None

    def claim(self, account_id: str, identities: Iterable[tuple[str, str]] = ()) -> bool:
        """See `Transactional.claim`: a transaction-scoped advisory lock on a 64-bit hash of
        the account id (and of each identity value), taken once per transaction, released
        when it commits or rolls back. Advisory, not row locks: an account's first event has
        no row to lock, and a lock on an identity value must exist before its first row.
        Then the commit count: another writer's commit since we began (or last claimed)
        means our memory may be stale."""
        keys = [f"account:{account_id}", *(f"identity:{k}:{f}" for k, f in identities)]
        return self._claim_keys(keys)

    def claim_accounts(
        self,
        account_ids: Collection[str],
        event_ids: Collection[str] = (),
        identities: Collection[tuple[str, str]] = (),
        history: Collection[tuple[str, str]] = (),
    ) -> bool:
        """See `Claims.claim_accounts`: the same locks as `claim`, all in one round trip; then,
        in one more, which of the event ids are stored (`add_event` of those that are not
        holds its row for the next round trip), which of the accounts newly claimed have
        an event stored (those that have none are `_fresh`), and the stored rows of the
        history pairs whose group is held (`_history`)."""
        accounts = sorted({a for a in account_ids if f"account:{a}" not in self._claimed})
        keys = [f"account:{account}" for account in account_ids]
        moved = self._claim_keys([*keys, *(f"identity:{k}:{f}" for k, f in identities)])
        wanted = sorted(set(event_ids) - self._expected.keys())
        held = set(account_ids) | {f for _, f in identities}
        pairs = sorted({p for p in history if p[1] in held and p not in self._history})
        if wanted or accounts or pairs:
            self._transaction()
            found = self._db.all(_LOOK_AHEAD, _ahead_args(wanted, accounts, pairs))
            self._expected.update(dict.fromkeys(wanted))
            self._expected.update((str(row[1]), str(row[2])) for row in found if row[0] == "e")
            having = {str(row[1]) for row in found if row[0] == "a"}
            self._fresh.update(set(accounts) - having)
            self._history.update((pair, []) for pair in pairs)
            self._keep_ahead(accounts, found)
        return moved

    def _keep_ahead(self, accounts: list[str], found: list[tuple[Any, ...]]) -> None:
        """Keep the history rows, decisions and deadlines a look-ahead read (`_LOOK_AHEAD`)."""
        self._taken.update((account, []) for account in accounts)
        self._deadlines.update((account, []) for account in accounts)
        self._lasting.update(accounts)
        for kind, group, text, number, event_id, value in found:
            if kind == "h":
                self._history[(text, group)].append(HistoryRow(number, event_id, value))
            elif kind == "H":
                del self._history[(text, group)]
            elif kind == "d":
                ended, expires = value
                self._taken[group].append(AheadDecision(number, text, ended, str(event_id)))
                if expires:
                    self._lasting.discard(group)
            elif kind == "l":
                rule, anchor, anchor_event, start_us, state = value
                row = Deadline(rule, anchor, group, anchor_event, start_us, number, state)
                self._deadlines[group].append(row)
        for account in accounts:
            self._taken[account].sort(key=lambda d: d.position)
            self._deadlines[account].sort(key=lambda d: (d.due_us, d.rule_id, d.anchor_id))

    def _changed(self, account_id: str | None, *, decisions: bool, deadlines: bool) -> None:
        """This transaction wrote the account's decisions or deadlines (None: any account's):
        what was read of them ahead no longer holds."""
        if decisions and account_id is None:
            self._taken.clear()
            self._lasting.clear()
        elif decisions and account_id is not None:
            self._taken.pop(account_id, None)
            self._lasting.discard(account_id)
        if deadlines and account_id is None:
            self._deadlines.clear()
        elif deadlines and account_id is not None:
            self._deadlines.pop(account_id, None)

    def _claim_keys(self, keys: list[str]) -> bool:
        """Lock the keys not yet held, in one order (two claims of the same keys never
        deadlock) and one statement (`blacklist_claim`, which then reads the commit count).
        The keys go in binary (`%b`): a text array quotes every element with a regex, 1.5 ms
        a claim of 1,000 keys against 0.2 (process time), a claim of a batch that many."""
        wanted = sorted(key for key in keys if key not in self._claimed)
        if not wanted:
            return False
        self._transaction()
        version = int(self._db.value("SELECT blacklist_claim(%b::text[])", (wanted,)))
        self._claimed.update(wanted)
        if version == self._began_at:
            return False
        self._began_at = version
        return True

    def _count_commit(self) -> None:
        """Just before a commit: count it. The row stays locked until the commit, so every
        writer's count follows the one before; one that is not ours plus one means another
        writer committed while ours was open."""
        version = int(self._db.value("UPDATE commits SET version = version + 1 RETURNING version"))
        began = self._began_at
        self._seen = version if began is not None and version == began + 1 else None

    def _transaction(self) -> Transaction:
        """The open transaction, which savepoints need."""
        current = self._db.transaction
        if current is None:
            raise StoreError(f"{self.path}: a savepoint needs an open transaction")
        return current

    def savepoint(self) -> None:
        self._transaction().savepoint()
        self._audit_mark = len(self._pending_audit)

    def release_savepoint(self) -> None:
        self._transaction().release_savepoint()

    def rollback_to_savepoint(self) -> None:
        """Undo what the current event wrote (its audit records waiting in memory too); the
        savepoint stays open until released."""
        self._transaction().rollback_to_savepoint()
        del self._pending_audit[self._audit_mark :]

    def close(self) -> None:
        """Close the connection. A transaction still open is rolled back: closing commits
        nothing."""
        self._db.close()

    def meta(self, key: str) -> str | None:
        found = self._db.value("SELECT value FROM meta WHERE key = %s", (key,))
        return None if found is None else str(found)

    def set_meta(self, key: str, value: str) -> None:
        """Set a setting. The `clock` (event time, RFC 3339) only ever moves forward: with
        several writers the db's clock is the latest any of them stored, in one statement
        (the row stays locked to the commit, so no writer puts back an earlier one)."""
        if key == "clock":
            self._db.execute(
                "INSERT INTO meta VALUES ('clock', %s) ON CONFLICT (key) DO UPDATE SET value = "
                "CASE WHEN meta.value::timestamptz > excluded.value::timestamptz "
                "THEN meta.value ELSE excluded.value END",
                (value,),
            )
            return
        self._db.execute(
            "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = "
            "excluded.value",
            (key, value),
        )
